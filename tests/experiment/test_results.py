"""Reading a results folder: load_results and load_model, during and after a sweep;
runs.csv rewritten while a sweep runs."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import approx
from approx.experiment import Store, StoreError, parse_config, run_sweep
from approx.experiment import runner as runner_module
from approx.experiment.results import load_model, load_results
from approx.experiment.runner import Throttle
from approx.experiment.store import DB_NAME, SCHEMA_VERSION, run_columns
from approx.models import construct
from approx.problems import targets

CHEAP = """
name = "cheap"
widths = [4, 8, 16]

[[targets]]
name = "sin2pi"

[[targets]]
name = "runge"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
knots = "uniform"
"""


class _Watcher:
    """A reporter that, after each recorded run, reads the folder as a notebook would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: list[int] = []
        self.csv_rows: list[int | None] = []
        self.refusals: list[str] = []

    def note(self, message: str) -> None:
        pass

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, result: object) -> None:
        self.seen.append(len(load_results(self.folder)))
        csv = self.folder / "runs.csv"
        self.csv_rows.append(len(pd.read_csv(csv)) if csv.exists() else None)
        try:
            Store.read(self.folder).close()
        except StoreError as e:
            self.refusals.append(str(e))


def test_load_results_is_the_table_of_runs_csv(fake_methods, fake_config, tmp_path):
    table = run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    loaded = load_results(tmp_path)
    pd.testing.assert_frame_equal(loaded, table)
    assert loaded.to_csv(index=False) == (tmp_path / "runs.csv").read_text(encoding="utf-8")
    assert approx.load_results is load_results and approx.load_model is load_model


def test_load_results_reads_while_the_sweep_holds_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "CSV_EVERY", 1e9)  # runs.csv only at the end
    folder = tmp_path / "out"
    watcher = _Watcher(folder)
    run_sweep(parse_config(CHEAP), folder, jobs=1, reporter=watcher)
    assert watcher.seen == list(range(1, 7))  # each run visible as soon as recorded
    assert watcher.csv_rows == [None] * 6
    # the locked path refuses meanwhile: load_results does not need the lock
    assert len(watcher.refusals) == 6 and all("in use by process" in r
                                              for r in watcher.refusals)


def test_runs_csv_is_rewritten_during_the_sweep_when_due(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "CSV_EVERY", 0.0)  # due at every run
    folder = tmp_path / "out"
    watcher = _Watcher(folder)
    table = run_sweep(parse_config(CHEAP), folder, jobs=1, reporter=watcher)
    assert watcher.csv_rows == list(range(1, 7))
    assert pd.read_csv(folder / "runs.csv")["run_id"].tolist() == table["run_id"].tolist()
    with Store.read(folder) as store:  # recorded as the sweep's: --fresh may remove it
        assert "runs.csv" in store.written()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_throttle_is_due_once_per_interval_of_its_clock():
    now = [100.0]
    throttle = Throttle(10.0, clock=lambda: now[0])
    due = []
    for t in (100.0, 105.0, 109.999, 110.0, 110.0, 115.0, 119.9, 121.0, 200.0, 200.5):
        now[0] = t
        due.append(throttle.due())
    # counted from creation, then from each due call (not from a fixed grid)
    assert due == [False, False, False, True, False, False, False, True, True, False]


def test_load_model_round_trip(tmp_path):
    folder = tmp_path / "out"
    table = run_sweep(parse_config(CHEAP), folder, jobs=1)
    for row in table.itertuples():
        target = targets.get(row.target)
        model = load_model(folder, row.run_id)
        # an independent rebuild of the same construction gives the same outputs, bit for bit
        rebuilt = construct.relu_interpolant(target, row.width, knots="uniform")
        x = np.linspace(*target.domain, 1001)
        np.testing.assert_array_equal(model(x), rebuilt(x))
        assert model.n_params == row.n_params
        # and the error the run recorded is the loaded model's error at its point
        at = np.array([row.max_error_at])
        err = abs(float(target(at)[0] - model(at)[0]))
        assert err == pytest.approx(row.max_error, rel=1e-9, abs=1e-15)
    first = load_model(folder, table.iloc[0])  # a row of load_results works as well
    assert np.array_equal(first(np.array([0.3])), load_model(folder, table["run_id"][0])(
        np.array([0.3])))


def test_load_model_of_a_trained_run_gives_its_measured_error(fake_methods, fake_config,
                                                              tmp_path):
    table = run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    bump = parse_config(fake_config).targets[1].build()
    for row in table.itertuples():
        model = load_model(tmp_path, row.run_id)
        target = targets.get("sin2pi") if row.target == "sin2pi" else bump
        at = np.array([row.max_error_at])
        assert abs(float(target(at)[0] - model(at)[0])) == pytest.approx(
            row.max_error, rel=1e-9, abs=1e-15)


def test_load_model_errors_are_one_line(fake_methods, tmp_path):
    text = """
name = "broken"
widths = [3, 4, 5]

[[targets]]
name = "sin2pi"

[[methods]]
name = "b"
kind = "fake-broken"
fail_at = 4
"""
    table = run_sweep(parse_config(text), tmp_path, jobs=1)
    assert table.set_index("width")["status"].to_dict() == {3: "ok", 4: "error", 5: "diverged"}
    cases = {
        "sin2pi.b.d9.r0": r"has no run 'sin2pi\.b\.d9\.r0'; did you mean 'sin2pi\.b\.d[0-9]\.r0'",
        "sin2pi.b.d4.r0": r"run 'sin2pi\.b\.d4\.r0' of .* has no saved model \(its status is "
                          r"error\)",
    }
    for run, message in cases.items():
        with pytest.raises(StoreError, match=message) as caught:
            load_model(tmp_path, run)
        assert "\n" not in str(caught.value)
    assert load_model(tmp_path, "sin2pi.b.d5.r0").n_params > 0  # diverged, but saved
    (tmp_path / "models" / "sin2pi.b.d3.r0.npz").unlink()
    with pytest.raises(StoreError, match=r"sin2pi\.b\.d3\.r0.*has gone; rerun the sweep"):
        load_model(tmp_path, "sin2pi.b.d3.r0")
    (tmp_path / "models" / "sin2pi.b.d3.r0.npz").symlink_to(tmp_path / "runs.csv")
    with pytest.raises(StoreError, match="symbolic link"):
        load_model(tmp_path, "sin2pi.b.d3.r0")
    (tmp_path / "models" / "sin2pi.b.d5.r0.npz").write_bytes(b"not a zip")
    with pytest.raises(StoreError, match=r"sin2pi\.b\.d5\.r0\.npz is not a readable model"):
        load_model(tmp_path, "sin2pi.b.d5.r0")


def test_load_results_refuses_what_is_no_results_folder(tmp_path):
    with pytest.raises(StoreError, match="not a results folder: it does not exist"):
        load_results(tmp_path / "nowhere")
    with pytest.raises(StoreError, match=r"not a results folder: it has no runs\.sqlite"):
        load_results(tmp_path)
    (tmp_path / DB_NAME).write_bytes(b"garbage" * 100)
    with pytest.raises(StoreError, match="is not a readable store"):
        load_results(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]  # nothing created


def test_a_store_without_a_sweep_yet_says_so(tmp_path):
    sqlite3.connect(tmp_path / DB_NAME).close()  # created, not yet migrated
    with pytest.raises(StoreError, match="holds no sweep yet"):
        load_results(tmp_path)


def test_an_older_store_is_read_without_being_changed(tmp_path, undo_provenance):
    folder = tmp_path / "out"
    first = run_sweep(parse_config(CHEAP), folder, jobs=1)
    with sqlite3.connect(folder / DB_NAME) as db:
        undo_provenance(db)
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")
        db.execute("ALTER TABLE runs DROP COLUMN target_scale")
        for column in ("sha256", "size", "inode", "mtime_ns"):
            db.execute(f"ALTER TABLE files DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 4")
    loaded = load_results(folder)  # migrated in memory: step 5 computes the scales
    assert loaded["target_scale"].tolist() == first["target_scale"].tolist()
    assert loaded["tight_reason"].tolist() == first["tight_reason"].tolist()
    with sqlite3.connect(f"file:{folder / DB_NAME}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    assert "target_scale" not in columns
    assert SCHEMA_VERSION > 4


def test_a_view_refuses_to_write(tmp_path):
    folder = tmp_path / "out"
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    with Store.view(folder) as store, pytest.raises(StoreError, match="opened read-only"):
        store.write_text("runs.csv", "x")


LIVE = """
name = "live"
seed = 1
replicates = 200
widths = [32]

[[targets]]
name = "tanh10"

[[methods]]
name = "rff"
kind = "random-features"
features = "fourier"
n_samples = 512
"""


@pytest.mark.slow
def test_load_results_while_a_sweep_runs_in_another_process(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text(LIVE, encoding="utf-8")
    folder = tmp_path / "out"
    command = [sys.executable, "-m", "approx", str(config), "--out", str(folder), "--quiet",
               "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    counts: list[int] = []
    try:
        deadline = time.monotonic() + 18
        while time.monotonic() < deadline and proc.poll() is None:
            if (folder / DB_NAME).exists():
                try:
                    counts.append(len(load_results(folder)))
                except StoreError as e:  # the store exists but the sweep has not begun
                    assert "holds no sweep yet" in str(e)
            seen = [c for c in counts if c]
            if seen and seen[-1] > seen[0]:
                break  # rows seen, and more since: the reads never held the sweep up
            time.sleep(0.05)
        alive = proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert alive, f"the sweep ended before rows were seen: {proc.stderr.read()!r}"
    seen = [c for c in counts if c]
    assert seen and seen[-1] > seen[0], counts
    assert counts == sorted(counts)
    rows = load_results(folder)  # and after the kill: every recorded run, whole
    assert len(rows) >= counts[-1] and (rows["status"] == "ok").all()
    assert rows["max_error"].notna().all()
    assert not os.path.exists(folder / "runs.csv") or len(pd.read_csv(folder / "runs.csv")) < 200


def _documented_columns() -> set[str]:
    """The column names in the first cell of each row of the README's runs.csv table."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Columns of runs.csv", 1)[1].split("\n#", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split(" | ", 1)[0]))
    return names


def test_every_runs_csv_column_is_documented_in_the_readme():
    documented = _documented_columns()
    stored = run_columns() - {"params", "info"}  # (JSON: the param_* and info_* columns)
    assert stored <= documented, sorted(stored - documented)
    committed = Path(__file__).parents[2] / "gallery" / "sawtooth" / "runs.csv"
    infos = {c for c in pd.read_csv(committed, nrows=0).columns if c.startswith("info_")}
    assert infos and infos <= documented, sorted(infos - documented)
    assert "param_<name>" in documented
    # and the check can fail: a column nobody documented is found
    assert "made_up" not in documented


def test_reading_a_finished_folder_writes_nothing(tmp_path: Path) -> None:
    """load_results on a closed store creates no file (not even SQLite's -wal/-shm) and
    changes none."""
    folder = tmp_path / "done"
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert not (folder / "runs.sqlite-wal").exists()
    approx.load_results(folder)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before


def test_a_closed_store_is_read_as_immutable_only_while_no_sweep_holds_the_folder(tmp_path):
    """Without the lock's holder in the kernel's table the store is closed and read as
    immutable (no side files appear); while a process holds the lock (a sweep creating
    the store), the reader goes through SQLite's locks (a plain mode=ro reader)."""
    import fcntl

    from approx.experiment.store import open_read_only

    folder = tmp_path / "done"
    run_sweep(parse_config(CHEAP), folder, jobs=1)
    db = open_read_only(folder / DB_NAME)
    db.execute("SELECT COUNT(*) FROM runs").fetchone()
    db.close()
    assert not (folder / "runs.sqlite-wal").exists()
    with open(folder / "runs.lock", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        db = open_read_only(folder / DB_NAME)
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 6
        plain = (folder / "runs.sqlite-shm").exists()
        db.close()
    assert plain  # the plain reader made SQLite's shared-memory file
