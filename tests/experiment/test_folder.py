"""The results folder: a user's files are never touched, one writer at a time, schema versions."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from approx.experiment import Store, StoreError, parse_config, plot_folder, run_sweep
from approx.experiment.metadata import git_commit
from approx.experiment.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, TIMING_COLUMNS

CHEAP = """
name = "cheap"
widths = [4, 8]

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (symlinks as their target path) with its content."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            files[path.relative_to(root).as_posix()] = os.readlink(path).encode()
        elif path.is_file():
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


@pytest.fixture
def users_folder(tmp_path: Path) -> Path:
    """A folder of someone's own files, at the very names a sweep writes."""
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "plots").mkdir()
    (folder / "models").mkdir()
    (folder / "notes" / "todo.txt").write_text("buy milk")
    (folder / "plots" / "figure1.png").write_bytes(b"\x89PNG\r\n\x1a\nmine")
    (folder / "models" / "my_model.pkl").write_bytes(b"pickle")
    (folder / "config.toml").write_text("# my own config\n")
    (folder / "runs.csv").write_text("a,b\n1,2\n")
    return folder


def test_a_folder_of_ones_own_is_refused_and_left_as_it_was(users_folder):
    before = _snapshot(users_folder)
    for fresh in (False, True):
        with pytest.raises(StoreError, match=r"not written by a sweep|holds no sweep store"):
            run_sweep(parse_config(CHEAP), users_folder, jobs=1, fresh=fresh)
    assert _snapshot(users_folder) == before


def test_artefact_names_with_foreign_content_are_never_overwritten(tmp_path):
    folder = tmp_path / "out"
    run_sweep(parse_config(CHEAP), folder, jobs=1)  # the store, no figures yet
    mine = folder / "plots" / "convergence.png"
    mine.parent.mkdir()
    mine.write_text("my own notes")  # a user's file where the sweep would write
    with pytest.raises(StoreError, match=r"convergence\.png was not written by a sweep"):
        run_sweep(parse_config(CHEAP), folder, jobs=1)
    assert mine.read_text() == "my own notes"
    with pytest.raises(StoreError, match=r"convergence\.png was not written by a sweep"):
        plot_folder(folder)  # --replot neither
    assert mine.read_text() == "my own notes"


def test_fresh_removes_only_what_a_sweep_wrote(tmp_path):
    folder = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.npz").write_bytes(b"keep")
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    plot_folder(folder)
    # the user's additions: a note, a figure of their own, a symlink out of the folder
    (folder / "notes.txt").write_text("mine")
    (folder / "plots" / "figure1.png").write_bytes(b"mine")
    (folder / "models" / "link.npz").symlink_to(outside / "precious.npz")
    theirs = {
        k: v
        for k, v in _snapshot(folder).items()
        if k in ("notes.txt", "plots/figure1.png", "models/link.npz")
    }
    changed = parse_config(CHEAP.replace("[4, 8]", "[4, 16]"))
    table = run_sweep(changed, folder, jobs=1, fresh=True)
    after = _snapshot(folder)
    assert {k: after[k] for k in theirs} == theirs
    assert (outside / "precious.npz").read_bytes() == b"keep"
    assert not (folder / "models" / "sin2pi.uniform.d8.r0.npz").exists()  # the sweep's: gone
    assert sorted(table["width"]) == [4, 16]


def test_fresh_never_follows_a_symlinked_folder_out(tmp_path):
    folder = tmp_path / "out"
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    plot_folder(folder)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(folder / "plots", elsewhere)
    (folder / "plots").symlink_to(elsewhere)
    before = _snapshot(elsewhere)
    kept = _snapshot(folder / "models")
    with pytest.raises(StoreError, match="plots is not a folder of its own"):
        run_sweep(parse_config(CHEAP), folder, jobs=1, fresh=True)
    assert _snapshot(elsewhere) == before
    assert _snapshot(folder / "models") == kept and (folder / DB_NAME).is_file()  # refused first


def test_the_shipped_quickstart_folder_is_accepted(tmp_path):
    """A copy of gallery/quickstart holds summary.csv and two plots, no store."""
    shipped = Path(__file__).resolve().parents[2] / "gallery" / "quickstart"
    folder = tmp_path / "quickstart"
    for name in ("summary.csv", "plots/convergence.png", "plots/gap.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped / name, folder / name)
    config = parse_config(CHEAP.replace('"cheap"', '"quickstart"'))
    run_sweep(config, folder, jobs=1)
    with Store.read(folder) as store:
        written = store.written()
    assert {"summary.csv", "plots/convergence.png", "runs.csv"} <= written


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "out"
    with Store.open(folder, parse_config(CHEAP)):
        with pytest.raises(StoreError, match=rf"in use by process {os.getpid()}"):
            run_sweep(parse_config(CHEAP), folder, jobs=1)
    run_sweep(parse_config(CHEAP), folder, jobs=1)  # released on close


def test_a_lock_left_by_a_killed_process_blocks_nothing(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    code = (
        "import sys, time; from approx.experiment import folder as f; "
        "f.lock(__import__('pathlib').Path(sys.argv[1])); print('locked', flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=f"in use by process {proc.pid}"):
            run_sweep(parse_config(CHEAP), folder, jobs=1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert (folder / "runs.lock").exists()  # the file stays; the kernel dropped the lock
    assert len(run_sweep(parse_config(CHEAP), folder, jobs=1)) == 2


def test_an_older_store_is_migrated_on_open(tmp_path, undo_provenance):
    folder = tmp_path / "out"
    first = run_sweep(parse_config(CHEAP), folder, jobs=1)
    # back to the store of before versioning: version 0, no files table, no enclosure
    with sqlite3.connect(folder / DB_NAME) as db:
        undo_provenance(db)
        db.execute("DROP TABLE files")
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")
        db.execute("ALTER TABLE runs DROP COLUMN max_error_upper")
        db.execute("ALTER TABLE runs DROP COLUMN max_error_tight")
        db.execute("ALTER TABLE runs DROP COLUMN accuracy")
        db.execute("ALTER TABLE runs DROP COLUMN test_loss")
        db.execute("ALTER TABLE runs DROP COLUMN target_scale")
        db.execute("PRAGMA user_version = 0")
    again = run_sweep(parse_config(CHEAP), folder, jobs=1)
    # runs recorded before the enclosure existed keep it unknown: never invented
    assert again["max_error_upper"].isna().all() and again["max_error_tight"].isna().all()
    assert again["tight_reason"].isna().all()
    assert again["degenerate"].isna().all()  # judged from the enclosure: unknown too
    drop = [*TIMING_COLUMNS, "max_error_upper", "max_error_tight", "tight_reason", "degenerate",
            "engine"]  # (unknown for the older runs)
    pd.testing.assert_frame_equal(first.drop(columns=drop), again.drop(columns=drop))
    with Store.read(folder) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # the migration adopts the models the runs table names
        assert {f"models/{r}.npz" for r in first["run_id"]} <= store.written()


def test_a_new_column_is_one_migration_step(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    from approx.experiment import store as store_module

    step = "ALTER TABLE runs ADD COLUMN example REAL"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    table = run_sweep(parse_config(CHEAP), folder, jobs=1)
    assert "example" in table.columns and table["example"].isna().all()
    monkeypatch.undo()
    with pytest.raises(StoreError, match=rf"newer approx \(store schema {SCHEMA_VERSION + 1}"):
        run_sweep(parse_config(CHEAP), folder, jobs=1)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"SQLite format 3\x00" + b"\x07" * 90])
def test_a_damaged_store_is_refused_in_one_line(tmp_path, content):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / DB_NAME).write_bytes(content)
    if content:
        with pytest.raises(StoreError, match=r"not a readable store.*move it away"):
            run_sweep(parse_config(CHEAP), folder, jobs=1)
        assert (folder / DB_NAME).read_bytes() == content
    else:  # an empty file is an empty sqlite database: a new store
        assert len(run_sweep(parse_config(CHEAP), folder, jobs=1)) == 2


def test_someone_elses_database_is_not_taken_over(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with sqlite3.connect(folder / DB_NAME) as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    with pytest.raises(StoreError, match="not a sweep store"):
        run_sweep(parse_config(CHEAP), folder, jobs=1)


def _hostile_repo(folder: Path) -> Path:
    """A git repository whose config runs a command whenever git looks at its index."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    proof = folder / "pwned"
    subprocess.run(
        ["git", "-C", str(folder), "config", "core.fsmonitor", f"touch {proof}; false"], check=True
    )
    return proof


def test_git_is_never_run_in_the_configs_folder(tmp_path):
    repo = tmp_path / "repo"
    proof = _hostile_repo(repo)
    config_path = repo / "cheap.toml"
    config_path.write_text(CHEAP)
    from approx.experiment import load_config

    run_sweep(load_config(config_path), tmp_path / "out", jobs=1)
    assert not proof.exists()
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():  # the package's own checkout, not the config's folder
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert metadata["invocations"][-1]["package_commit"] == head


def test_git_runs_no_monitor_even_in_the_packages_own_checkout(tmp_path):
    repo = tmp_path / "checkout"
    proof = _hostile_repo(repo)
    (repo / "f.txt").write_text("x")
    subprocess.run(
        ["git", "-C", str(repo), "-c", "core.fsmonitor=false", "add", "f.txt"], check=True
    )
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "core.fsmonitor=false",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ],
        check=True,
    )
    described = git_commit(repo)
    assert not proof.exists()
    assert described is not None and len(described["commit"]) == 40
    assert git_commit(tmp_path) is None  # not a checkout: never climbs into a parent one


def test_unwritable_or_odd_folders_give_one_line(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        run_sweep(parse_config(CHEAP), a_file, jobs=1)
    with pytest.raises(StoreError, match=r"cannot use .* as the results folder"):
        run_sweep(parse_config(CHEAP), tmp_path / ("n" * 300), jobs=1)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        with pytest.raises(StoreError, match="cannot use"):
            run_sweep(parse_config(CHEAP), locked / "out", jobs=1)
