"""What a sweep may do to its results folder: which files are its own, the lock, --fresh.

A user's files are sacred. A sweep writes only its artefacts (``config.toml``,
``runs.csv``, ``summary.csv``, ``metadata.json``, ``plots/<figure>.png``,
``models/<run id>.npz``) and its store (``runs.sqlite`` and its journal, ``runs.lock``);
the store records every file a sweep wrote, and ``--fresh`` removes those and nothing
else. Before anything is written the folder is checked:

- a file at one of the sweep's artefact paths that the store did not record is taken
  as the sweep's own only if its content looks like that artefact (a PNG for a figure,
  the runs table's header for ``runs.csv``, …); otherwise the sweep is refused, since
  it would overwrite the file;
- a non-empty folder without a store is refused unless every file in it is one of the
  sweep's artefacts (so the ``results/quickstart/`` a fresh clone ships keeps working);
- ``plots/`` and ``models/`` must be real folders: never a symlink out of the folder.

Two sweeps on one folder would corrupt each other's runs, so a sweep holds an advisory
lock (``flock``) on ``runs.lock`` while it runs; the kernel releases it when the process
dies, even by SIGKILL, so a stale lock never blocks the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from approx.core.errors import ApproxError
from approx.experiment.config import Config, parse_config
from approx.experiment.specs import ConfigError

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "STORE_FILES",
    "FolderError",
    "check",
    "check_layout",
    "lock",
    "remove",
]

DB_NAME = "runs.sqlite"
LOCK_NAME = "runs.lock"
#: the store and its sqlite side files: the store's own, never listed in it
STORE_FILES = frozenset(
    [DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", LOCK_NAME]
)
_DIRS = ("plots", "models")
_RUN_ID = re.compile(r"models/([^./]+)\.([^./]+)\.d([0-9]+)\.r([0-9]+)\.npz\Z")
_PNG = b"\x89PNG\r\n\x1a\n"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")


class FolderError(ApproxError, ValueError):
    """A results folder the sweep may not use as asked; the message says what to do."""


def _is_artefact(rel: str, config: Config) -> bool:
    """Whether ``rel`` (posix, relative to the folder) is a path this sweep writes."""
    if rel in ("config.toml", "runs.csv", "summary.csv", "metadata.json"):
        return True
    if rel.startswith("plots/"):
        names = config.task.figure_names(t.name for t in config.targets)
        return rel[len("plots/") :] in names
    match = _RUN_ID.match(rel)
    if match is None:
        return False
    target, method, width, replicate = match.groups()
    widths = {m.name: config.widths_of(m) for m in config.methods}
    return (
        target in {t.name for t in config.targets}
        and method in widths
        and int(width) in widths[method]
        and int(replicate) < config.replicates
    )


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as file:
        return file.read(n)


def _looks_ours(path: Path, rel: str, config: Config) -> bool:
    """Whether the file at artefact path ``rel`` has the content a sweep writes there."""
    try:
        if rel.endswith(".png"):
            return _head(path, 8) == _PNG
        if rel.endswith(".npz"):
            return _head(path, 4) in _ZIP
        if rel == "runs.csv":
            return _head(path, 64).startswith((b"run_id,target,method,",
                                               b"run_id,dataset,method,"))
        if rel == "summary.csv":
            return _head(path, 64).startswith((b"target,method,", b"dataset,method,"))
        if rel == "metadata.json":
            data = json.loads(_head(path, 1 << 20))
            return isinstance(data, dict) and "config_digest" in data
        # config.toml: the snapshot of this very config, so rewriting it changes nothing
        return parse_config(path.read_text(encoding="utf-8")).digest() == config.digest()
    except (OSError, ValueError, ConfigError, UnicodeDecodeError):
        return False


def _entries(folder: Path) -> Iterable[tuple[str, Path]]:
    """Every file and symlink under ``folder`` (posix relative path, path); links not followed."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in (*filenames, *links):
            path = here / name
            yield path.relative_to(folder).as_posix(), path


def check_layout(folder: Path) -> None:
    """Refuse a folder that is a file, or whose ``plots/`` or ``models/`` is not a folder.

    Raises
    ------
    FolderError
        One line naming the path in the way.
    """
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder} is a file, not a folder; choose another --out")
    for name in _DIRS:
        sub = folder / name
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            raise FolderError(
                f"{sub} is not a folder of its own (a symlink or a file) and the sweep writes "
                "there; move it away or choose another --out"
            )


def check(folder: Path, config: Config, recorded: set[str], *, has_store: bool) -> list[str]:
    """Check that running ``config`` into ``folder`` overwrites nothing of someone else's.

    Parameters
    ----------
    folder : Path
        The results folder (need not exist).
    config : Config
        The sweep about to run.
    recorded : set of str
        Paths (relative, posix) the store records as written by a sweep.
    has_store : bool
        Whether the folder holds a sweep store.

    Returns
    -------
    list of str
        Artefacts found in the folder that the store does not record yet but whose
        content shows they are the sweep's (to be recorded as such).

    Raises
    ------
    FolderError
        One line naming the file in the way and what to do.
    """
    if not folder.exists():
        return []
    check_layout(folder)
    adopt = []
    for rel, path in _entries(folder):
        if rel in STORE_FILES or rel in recorded:
            continue
        if _is_artefact(rel, config):
            if path.is_symlink() or not _looks_ours(path, rel, config):
                raise FolderError(
                    f"{path} was not written by a sweep and the sweep would overwrite it; "
                    "move it away or choose another --out"
                )
            adopt.append(rel)
        elif not has_store:
            raise FolderError(
                f"{folder} is not empty and holds no sweep store ({DB_NAME}), e.g. {path}; "
                "choose a new or empty folder with --out (nothing was written)"
            )
    return adopt


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path``'s parent, symlinks resolved, lies inside ``folder``."""
    return path.parent.resolve().is_relative_to(folder.resolve())


def remove(folder: Path, recorded: Iterable[str]) -> int:
    """Delete the recorded files (never through a symlink out of ``folder``); return the count.

    ``plots/`` and ``models/`` are removed too if that leaves them empty.
    """
    removed = 0
    for rel in recorded:
        path = folder / rel
        if (path.is_file() or path.is_symlink()) and _inside(path, folder):
            path.unlink()  # a symlink itself is removed, never what it points to
            removed += 1
    for name in _DIRS:
        sub = folder / name
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()
    return removed


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


def lock(folder: Path) -> int:
    """Take the folder's lock; return its file descriptor (closing it releases the lock).

    Raises
    ------
    FolderError
        If another process holds the lock: one line naming it.
    """
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderError(
            f"{folder} is in use by {_holder(path)} (another run-experiment); wait for it "
            "to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
