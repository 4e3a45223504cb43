"""A results folder others can write to: nothing in a name's place is ever written through.

For every name a sweep writes (its store, lock, artefacts, figures, models and their
temporaries) a symbolic link to a user's file, a dangling one, a hard link to a user's
file, a FIFO and a folder are put in its place, in a new folder and in a finished one;
the sweep (or ``--replot``) must refuse in one line naming it, or go on without
touching it, and leave every file outside ``--out`` as it was. ``--fresh`` must remove
only files it can prove the sweep wrote, whatever the store's ``files`` table says.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from approx.cli import app
from approx.experiment import Store, StoreError, parse_config, plot_folder, run_sweep
from approx.experiment import plots as plots_module
from approx.experiment.safe_files import SafeFolder

CHEAP = """
name = "cheap"
widths = [4, 8]

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""
MODEL = "models/sin2pi.uniform.d4.r0.npz"
#: every name the sweep writes (or may write: the journal, the snapshot, a figure
#: without data) but its temporaries
NAMES = [
    "runs.lock", "runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm", "runs.sqlite-journal",
    "config.toml", "config.snapshot.toml", "runs.csv", "summary.csv", "metadata.json",
    "report.html", "plots/convergence.png", "plots/convergence.svg", "plots/gap.png",
    "plots/fits_sin2pi.png",
    "plots/training_sin2pi.png", MODEL,
]
PRECIOUS = b"the user's own file\n"


def _symlink(path: Path, user: Path) -> None:
    path.symlink_to(user / "precious.txt")


def _dangling(path: Path, user: Path) -> None:
    path.symlink_to(user / "absent.txt")


def _loop(path: Path, user: Path) -> None:
    path.symlink_to(path.name)  # a link to itself: "too many levels of symbolic links"


def _hardlink(path: Path, user: Path) -> None:
    os.link(user / "precious.txt", path)


def _fifo(path: Path, user: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path, user: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_bytes(PRECIOUS)


KINDS: dict[str, Callable[[Path, Path], None]] = {
    "symlink": _symlink, "dangling": _dangling, "loop": _loop, "hardlink": _hardlink,
    "fifo": _fifo, "folder": _folder,
}


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A FIFO opened for reading or writing would block forever: fail instead."""

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError("blocked (on a FIFO?)")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep's folder (runs and figures), copied by the tests that resume it."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "cheap.toml"
    config.write_text(CHEAP)
    result = CliRunner().invoke(app, [str(config), "--out", str(root / "out"), "-q", "-j", "1"])
    assert result.exit_code == 0, result.output
    return root / "out"


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[str, bytes]]:
    """Everything under ``root`` but ``skip``: each entry's kind and content (or target)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            entries[str(path)] = ("link", os.readlink(path).encode())
        elif stat.S_ISREG(st.st_mode):
            entries[str(path)] = ("file", path.read_bytes())
        else:
            entries[str(path)] = (stat.filemode(st.st_mode)[0], b"")
    return entries


def _setup(tmp_path: Path, finished: Path | None) -> tuple[Path, Path, Path]:
    """The user's folder (outside --out), the config, and --out (a copy of ``finished``,
    or absent)."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "precious.txt").write_bytes(PRECIOUS)
    config = tmp_path / "cheap.toml"
    config.write_text(CHEAP)
    out = tmp_path / "out"
    if finished is not None:
        shutil.copytree(finished, out, symlinks=True)
    return user, config, out


def _plant(out: Path, name: str, kind: str, user: Path) -> Path:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    KINDS[kind](path, user)
    return path


def _invoke(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, [*args, "-q", "-j", "1"] if "--replot" not in args
                                else [*args, "-q"])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert all(line.startswith(("error: ", "note: ")) for line in lines), result.output
    return result.exit_code, lines


def _check_untouched(tmp_path: Path, out: Path, before: dict, planted: Path,
                     kind: str) -> None:
    """Nothing outside --out changed, and the planted entry is still what it was."""
    assert _snapshot(tmp_path, out) == before, "a file outside --out changed"
    assert (tmp_path / "user" / "precious.txt").read_bytes() == PRECIOUS
    assert not (tmp_path / "user" / "absent.txt").exists()
    st = planted.lstat()
    expected = {"symlink": stat.S_ISLNK, "dangling": stat.S_ISLNK, "loop": stat.S_ISLNK,
                "hardlink": stat.S_ISREG,
                "fifo": stat.S_ISFIFO, "folder": stat.S_ISDIR}[kind]
    assert expected(st.st_mode), f"{planted} was replaced"
    if kind == "folder":
        assert (planted / "inside.txt").read_bytes() == PRECIOUS


def _refused_naming(code: int, lines: list[str], planted: Path) -> None:
    assert code == 2 and len(lines) == 1, lines
    assert str(planted) in lines[0], lines
    assert "File exists" not in lines[0] and "Too many levels" not in lines[0], lines


def test_an_out_that_is_a_link_is_refused(tmp_path, finished):
    config = _setup(tmp_path, None)[1]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(finished, elsewhere, symlinks=True)
    (tmp_path / "out").symlink_to(elsewhere)
    before = _snapshot(elsewhere, tmp_path / "none")
    out = str(tmp_path / "out")
    for args in ([str(config), "--out", out], ["--replot", out]):
        code, lines = _invoke(args)
        assert code == 2 and len(lines) == 1 and "is a symbolic link" in lines[0], lines
    assert _snapshot(elsewhere, tmp_path / "none") == before


CASES = [(name, kind, scene) for scene in ("new", "finished") for name in NAMES
         for kind in KINDS]


@pytest.mark.parametrize(("name", "kind", "scene"), CASES,
                         ids=[f"{s}-{n}-{k}" for n, k, s in CASES])
def test_a_name_the_sweep_writes_is_never_written_through(name, kind, scene, tmp_path,
                                                          finished):
    user, config, out = _setup(tmp_path, finished if scene == "finished" else None)
    planted = _plant(out, name, kind, user)
    before = _snapshot(tmp_path, out)
    code, lines = _invoke([str(config), "--out", str(out)])
    _refused_naming(code, lines, planted)
    _check_untouched(tmp_path, out, before, planted, kind)


REPLOT = ["runs.lock", "runs.sqlite", "runs.sqlite-wal", "plots/convergence.png"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", REPLOT)
def test_replot_never_writes_through_a_name_either(name, kind, tmp_path, finished):
    user, _, out = _setup(tmp_path, finished)
    planted = _plant(out, name, kind, user)
    before = _snapshot(tmp_path, out)
    code, lines = _invoke(["--replot", str(out)])
    _refused_naming(code, lines, planted)
    _check_untouched(tmp_path, out, before, planted, kind)


@pytest.fixture
def predictable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporaries at names known in advance (the worst case: someone guessed them)."""

    def temporary(self: SafeFolder, relative: str) -> str:
        head, _, name = relative.rpartition("/")
        return f"{head}/" * bool(head) + f".{name}.{'0' * 16}.tmp"

    monkeypatch.setattr(SafeFolder, "temporary", temporary)
    # one figure is enough to reach its temporary (and the others take seconds)
    figures = plots_module.FIGURES["approximation"]
    monkeypatch.setitem(plots_module.FIGURES, "approximation",
                        lambda *a: (figures(*a)[0][:1], []))


def _started(out: Path) -> None:
    """A store with no runs yet, whose config.toml the sweep of CHEAP rewrites (a comment
    more: the same config)."""
    Store.open(out, parse_config(CHEAP + "# first\n")).close()


def _temporary(name: str) -> str:
    head, _, base = name.rpartition("/")
    return f"{head}/" * bool(head) + f".{base}.{'0' * 16}.tmp"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("name", "scene", "args"), [
    ("config.toml", "store", []),
    ("metadata.json", "store", []),
    ("runs.csv", "finished", []),
    ("summary.csv", "finished", []),
    ("plots/convergence.png", "finished", ["--replot"]),
])
def test_a_temporary_is_never_written_through(name, scene, args, kind, tmp_path, finished,
                                              predictable):
    user, config, out = _setup(tmp_path, finished if scene == "finished" else None)
    if scene == "store":
        _started(out)
    planted = _plant(out, _temporary(name), kind, user)
    before = _snapshot(tmp_path, out)
    code, lines = _invoke([*args, str(out)] if args else [str(config), "--out", str(out)])
    if name.startswith("plots/"):  # a figure is skipped, saying why; the sweep goes on
        assert code == 0 and len(lines) == 1 and str(planted) in lines[0], lines
        assert lines[0].startswith("note: skipped plots/convergence.png")
    else:
        _refused_naming(code, lines, planted)
    _check_untouched(tmp_path, out, before, planted, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_models_temporary_fails_that_run_only(kind, tmp_path, predictable):
    user, _, out = _setup(tmp_path, None)
    _started(out)
    planted = _plant(out, _temporary(MODEL), kind, user)
    before = _snapshot(tmp_path, out)
    table = run_sweep(parse_config(CHEAP), out, jobs=1)
    failed = table[table["status"] != "ok"]
    assert list(failed["run_id"]) == ["sin2pi.uniform.d4.r0"]
    assert str(planted) in failed["message"].iloc[0]
    assert (out / "models" / "sin2pi.uniform.d8.r0.npz").is_file()
    _check_untouched(tmp_path, out, before, planted, kind)


def test_a_killed_sweeps_temporary_is_removed_on_resume(tmp_path, finished):
    out = _setup(tmp_path, finished)[2]
    partial = ".runs.csv.0123456789abcdef.tmp"
    (out / partial).write_bytes(b"half a table")
    with sqlite3.connect(out / "runs.sqlite") as db:  # recorded before it was created
        db.execute("INSERT INTO files (path) VALUES (?)", (partial,))
    db.close()
    run_sweep(parse_config(CHEAP), out, jobs=1)
    assert not (out / partial).exists()
    with Store.read(out) as store:
        assert partial not in store.written()


# --fresh ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(out: Path, rows: list[tuple[str, str | None, int | None]]) -> None:
    with sqlite3.connect(out / "runs.sqlite") as db:
        db.executemany("INSERT OR REPLACE INTO files (path, sha256, size) VALUES (?, ?, ?)",
                       rows)
    db.close()


@pytest.mark.parametrize(("hashed", "fresh"), [(True, True), (False, True), (True, False)],
                         ids=["hashes", "recorded-before-hashes", "resumed"])
def test_a_crafted_files_table_makes_fresh_remove_nothing_of_the_users(hashed, fresh,
                                                                       tmp_path, finished):
    user, config, out = _setup(tmp_path, finished)
    if fresh:
        config.write_text(CHEAP.replace("[4, 8]", "[4, 16]"))
    mine = {
        "notes.txt": b"my notes",
        "plots/figure1.png": b"\x89PNG\r\n\x1a\nmy figure",
        "models/mine.npz": b"PK\x03\x04my model",
        "models/sin2pi.uniform.d2.r0.npz": b"PK\x03\x04a model of mine at a run's name",
        ".notes.txt.0123456789abcdef.tmp": b"looks like a temporary",
        "runs.csv.bak": b"my backup",
    }
    for rel, data in mine.items():
        (out / rel).write_bytes(data)
    outside = [("../user/precious.txt", PRECIOUS), (str(user / "precious.txt"), PRECIOUS),
               ("plots/../../user/precious.txt", PRECIOUS)]
    _record(out, [(rel, hashlib.sha256(data).hexdigest() if hashed else None,
                   len(data) if hashed else None) for rel, data in [*mine.items(), *outside]])
    before = _snapshot(tmp_path, out)
    code, lines = _invoke([str(config), "--out", str(out), *["--fresh"] * fresh])
    assert code == 0, lines
    for rel, data in mine.items():
        assert (out / rel).read_bytes() == data, rel
    assert _snapshot(tmp_path, out) == before
    if fresh:
        assert any("--fresh left" in line and "notes.txt" in line for line in lines), lines
        assert not (out / "models" / "sin2pi.uniform.d8.r0.npz").exists()  # the sweep's


def test_fresh_leaves_a_changed_file_alone_and_names_it(tmp_path, finished):
    _, config, out = _setup(tmp_path, finished)
    old_model = out / "models" / "sin2pi.uniform.d8.r0.npz"
    edited = old_model.read_bytes() + b"an edit"
    old_model.write_bytes(edited)
    config.write_text(CHEAP.replace("[4, 8]", "[4, 16]"))
    code, lines = _invoke([str(config), "--out", str(out), "--fresh"])
    assert code == 0
    assert old_model.read_bytes() == edited
    assert [line for line in lines if "--fresh left" in line] == [
        f"note: --fresh left {old_model} (changed since the sweep wrote it) alone"
    ]
    assert not (out / "models" / "sin2pi.uniform.d4.r0.npz").exists() or (
        out / "models" / "sin2pi.uniform.d4.r0.npz").is_file()  # refitted by the new sweep


def test_fresh_refuses_before_removing_anything_if_a_changed_file_is_in_the_way(
        tmp_path, finished):
    _, config, out = _setup(tmp_path, finished)
    figure = out / "plots" / "convergence.png"
    figure.write_bytes(figure.read_bytes() + b"retouched")
    before = _snapshot(tmp_path / "out", tmp_path / "none")
    code, lines = _invoke([str(config), "--out", str(out), "--fresh"])
    _refused_naming(code, lines, figure)
    assert "cannot prove" in lines[0]
    assert _snapshot(tmp_path / "out", tmp_path / "none") == before  # nothing removed


def test_a_store_from_before_identities_migrates_and_fresh_still_works(
    tmp_path, finished, undo_provenance
):
    """A schema-5 store (files without identities): resumed, its files are recognised by
    their content; --fresh removes those that look like the sweep's, and only those."""
    from approx.experiment.store import SCHEMA_VERSION

    _, config, out = _setup(tmp_path, finished)
    with sqlite3.connect(out / "runs.sqlite") as db:
        undo_provenance(db)
        for column in ("sha256", "size", "inode", "mtime_ns"):
            db.execute(f"ALTER TABLE files DROP COLUMN {column}")
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")  # (schema 7)
        db.execute("PRAGMA user_version = 5")
    db.close()
    (out / "plots" / "gap.png").write_bytes(b"my own gap figure, not a PNG")
    with pytest.raises(StoreError, match=r"gap\.png was not written by a sweep"):
        run_sweep(parse_config(CHEAP), out, jobs=1)  # resumed: never overwritten
    (out / "plots" / "gap.png").unlink()
    run_sweep(parse_config(CHEAP), out, jobs=1)
    with Store.read(out) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = dict(store.db.execute("SELECT path, sha256 FROM files").fetchall())
    assert rows["runs.csv"] == _sha256(out / "runs.csv")
    assert rows[MODEL] == _sha256(out / MODEL)  # recognised, now with its identity
    code, _ = _invoke([str(config), "--out", str(out), "--fresh"])
    assert code == 0


# the user's config and tables --------------------------------------------------------


def test_a_users_config_in_out_is_kept_and_the_snapshot_goes_beside_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    annotated = '# my annotations\ndescription = "kept"\ntime_limit = 60\n' + CHEAP
    (out / "config.toml").write_text(annotated)
    config = tmp_path / "cheap.toml"
    config.write_text(CHEAP)
    code, lines = _invoke([str(config), "--out", str(out)])
    assert code == 0, lines
    assert (out / "config.toml").read_text() == annotated
    assert (out / "config.snapshot.toml").read_text() == CHEAP
    assert lines == [f"note: kept {out / 'config.toml'} (not the sweep's); the config "
                     f"snapshot is {out / 'config.snapshot.toml'}"]
    code, _ = _invoke([str(config), "--out", str(out), "--fresh"])  # never removed either
    assert code == 0 and (out / "config.toml").read_text() == annotated


def test_the_config_itself_in_out_is_left_as_it_is(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = out / "config.toml"
    config.write_text(CHEAP)
    code, lines = _invoke([str(config), "--out", str(out)])
    assert code == 0 and lines == []
    assert config.read_text() == CHEAP and not (out / "config.snapshot.toml").exists()
    with Store.read(out) as store:
        assert "config.toml" not in store.written()  # the user's: --fresh leaves it


def test_a_table_edited_after_the_sweep_is_not_overwritten(tmp_path, finished):
    _, config, out = _setup(tmp_path, finished)
    runs = out / "runs.csv"
    lines_before = runs.read_text().splitlines()
    edited = "\n".join([lines_before[0] + ",my_notes"] + [f"{row},x" for row in lines_before[1:]])
    runs.write_text(edited)
    code, lines = _invoke([str(config), "--out", str(out)])
    assert code == 2 and len(lines) == 1 and "changed since the sweep wrote it" in lines[0]
    assert runs.read_text() == edited
    with pytest.raises(StoreError, match="changed since"):
        plot_folder(out)


def test_a_runs_table_with_a_column_of_the_users_is_theirs(tmp_path, finished):
    out = tmp_path / "out"
    out.mkdir()
    ours = (finished / "runs.csv").read_text().splitlines()
    theirs = "\n".join([ours[0] + ",my_notes", *(f"{row},checked" for row in ours[1:])]) + "\n"
    (out / "runs.csv").write_text(theirs)
    with pytest.raises(StoreError, match=r"runs\.csv was not written by a sweep"):
        run_sweep(parse_config(CHEAP), out, jobs=1)
    assert (out / "runs.csv").read_text() == theirs
    (out / "runs.csv").write_text("\n".join(ours) + "\n")  # the sweep's own: taken back
    run_sweep(parse_config(CHEAP), out, jobs=1)


def test_the_shipped_tables_are_recognised_as_a_sweeps(tmp_path):
    from approx.experiment.folder import looks_ours
    from approx.experiment.store import run_columns

    gallery = Path(__file__).resolve().parents[2] / "gallery"
    config = parse_config(CHEAP)
    with SafeFolder.open(gallery / "sawtooth", create=False) as root:
        assert looks_ours(root, "runs.csv", config, run_columns())
        assert looks_ours(root, "summary.csv", config, run_columns())


def test_a_file_system_without_hard_links_still_never_replaces_a_name(tmp_path, monkeypatch):
    import errno

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "out"
    run_sweep(parse_config(CHEAP), out, jobs=1)
    assert (out / MODEL).is_file() and (out / "runs.csv").is_file()
    with SafeFolder.open(out, create=False) as root:
        (out / "summary.new").write_bytes(PRECIOUS)
        with pytest.raises(ValueError, match=r"summary\.new is a file the sweep did not create"):
            root.write("summary.new", ".summary.new.0000000000000000.tmp",
                       lambda file: file.write(b"x"), replace=False)
    assert (out / "summary.new").read_bytes() == PRECIOUS
    assert not (out / ".summary.new.0000000000000000.tmp").exists()


def test_every_file_a_sweep_leaves_is_on_the_folder_checks_list(finished):
    """A new kind of file a sweep writes must join the artefacts (and this file's NAMES)."""
    from approx.experiment.folder import STORE_FILES, is_artefact

    config = parse_config(CHEAP)
    left = sorted(p.relative_to(finished).as_posix() for p in finished.rglob("*")
                  if not p.is_dir())
    assert left and all(rel in STORE_FILES or is_artefact(rel, config) for rel in left), left
    assert set(left) <= set(NAMES) | {"models/sin2pi.uniform.d8.r0.npz"}
