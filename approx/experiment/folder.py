"""What a sweep may do to its results folder: which files are its own, the lock, --fresh.

A user's files are sacred. A sweep writes only its artefacts (``config.toml`` or, when
the folder holds a ``config.toml`` of the user's, ``config.snapshot.toml``;
``runs.csv``, ``summary.csv``, ``metadata.json``, ``report.html``, ``optimum.csv`` (in a
sweep with an ``optimal-pwl`` method), ``plots/<figure>.png`` (or ``.pdf``, ``.svg``: each
figure in the sweep's formats),
``models/<run id>.npz``, and a temporary of a unique name for each) and its store
(``runs.sqlite`` and its journal, ``runs.lock``); every write goes through
:class:`~approx.experiment.safe_files.SafeFolder`, so nothing is written through a
link. The store records every file a sweep wrote with its content's hash, and
``--fresh`` removes those files whose content still has that hash, and nothing else.
Before anything is written the folder is checked:

- a file at one of the sweep's artefact paths that the store did not record is taken
  as the sweep's own only if its content looks like that artefact (a PNG, PDF or SVG
  for a figure by its suffix, the report's first line for ``report.html``,
  the runs table's header for ``runs.csv``, …); otherwise the sweep is refused, since
  it would overwrite the file; a ``config.toml`` is never overwritten unless the sweep
  wrote it (a user's copy of the config is kept, the snapshot goes beside it);
- a non-empty folder without a store is refused unless every file in it is one of the
  sweep's artefacts (so a copy of a ``gallery/`` folder, tables and figures alone, works);
- anything but a regular file with one link where the sweep writes (a symbolic link, a
  hard link, a FIFO, a folder, …) is refused in one line naming it; ``plots/`` and
  ``models/`` must be real folders, never a symlink out of the folder.

Two sweeps on one folder would corrupt each other's runs, so a sweep holds an advisory
lock (``flock``) on ``runs.lock`` while it runs; the kernel releases it when the process
dies, even by SIGKILL, so a stale lock never blocks the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from approx.experiment import bracket
from approx.experiment.config import Config, parse_config
from approx.experiment.figstyle import FORMATS, MAGIC
from approx.experiment.safe_files import (
    SUBFOLDERS,
    FolderError,
    Identity,
    SafeFolder,
    describe,
    is_temporary,
    temporary_of,
)
from approx.experiment.specs import ConfigError

__all__ = [
    "CONFIG_NAME",
    "DB_NAME",
    "LOCK_NAME",
    "REPORT_MARK",
    "REPORT_NAME",
    "SNAPSHOT_NAME",
    "SQLITE_FILES",
    "STORE_FILES",
    "FolderError",
    "check",
    "check_layout",
    "is_artefact",
    "lock",
    "plan_removal",
    "removable",
]

DB_NAME = "runs.sqlite"
LOCK_NAME = "runs.lock"
CONFIG_NAME = "config.toml"
#: the config snapshot's name when the folder holds a config.toml of the user's
SNAPSHOT_NAME = "config.snapshot.toml"
#: the sqlite files of the store
SQLITE_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal")
#: the store and its sqlite side files: the store's own, never listed in it
STORE_FILES = frozenset([*SQLITE_FILES, LOCK_NAME])
#: the report's name, and its first bytes (:mod:`approx.experiment.report`)
REPORT_NAME = "report.html"
REPORT_MARK = b"<!DOCTYPE html>\n<!-- approx sweep report -->"
_TOP = (CONFIG_NAME, SNAPSHOT_NAME, "runs.csv", "summary.csv", "metadata.json", REPORT_NAME)
_RUN_ID = re.compile(r"models/([^./]+)\.([^./]+)\.d([0-9]+)\.r([0-9]+)\.npz\Z")
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_LOCK_TEXT = re.compile(rb"(?:[0-9]{1,12}\n)?\Z")


def is_artefact(rel: str, config: Config) -> bool:
    """Whether ``rel`` (posix, relative to the folder) is a path this sweep writes."""
    if rel in _TOP:
        return True
    if rel == bracket.FILE:  # the optimum's brackets, in a sweep that computes them
        return bracket.has_optimum([m.kind for m in config.methods])
    if rel.startswith("plots/"):
        # a figure in any of the formats (the task names its PNG)
        stem, dot, suffix = rel[len("plots/") :].rpartition(".")
        names = config.task.figure_names(t.name for t in config.targets)
        return bool(dot) and suffix in FORMATS and f"{stem}.png" in names
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


def looks_ours(root: SafeFolder, rel: str, config: Config, columns: frozenset[str]) -> bool:
    """Whether the file at artefact path ``rel`` has the content a sweep writes there
    (a config file only if it is byte for byte the config's text; ``runs.csv`` only if
    each of its columns is one of ``columns``, the runs table's, or ``param_*``,
    ``info_*``: a table with a column of the user's is theirs).

    Raises
    ------
    FolderError
        If anything but a regular single-link file is there.
    """
    try:
        head = root.read(rel, 1 << 20 if rel.endswith((".json", ".csv")) else 64)
        if head is None:
            return False
        if rel.startswith("plots/"):
            return head.startswith(MAGIC[rel.rpartition(".")[2]])
        if rel == REPORT_NAME:
            return head.startswith(REPORT_MARK)
        if rel.endswith(".npz"):
            return head[:4] in _ZIP
        if rel == "runs.csv":
            names = head.split(b"\n", 1)[0].decode("utf-8").rstrip("\r").split(",")
            return names[:3] in (["run_id", "target", "method"], ["run_id", "dataset", "method"]
                                 ) and all(n in columns or n.startswith(("param_", "info_"))
                                           for n in names)
        if rel == "summary.csv":
            return head.startswith((b"target,method,", b"dataset,method,"))
        if rel == bracket.FILE:
            return head.startswith(bracket.OPTIMUM_HEADER.encode())
        if rel == "metadata.json":
            data = json.loads(head)
            return isinstance(data, dict) and "config_digest" in data
        return root.read(rel) == config.text.encode("utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, FolderError):
            raise
        return False


def _same_config(root: SafeFolder, config: Config) -> bool:
    """Whether the folder's ``config.toml`` is a copy of ``config`` (same digest)."""
    try:
        text = root.read(CONFIG_NAME)
        return text is not None and parse_config(text.decode("utf-8")).digest() == config.digest()
    except (ValueError, ConfigError, UnicodeDecodeError) as e:
        if isinstance(e, FolderError):
            raise
        return False


def _entries(folder: Path) -> Iterable[str]:
    """Every name under ``folder`` but ``plots/`` and ``models/`` themselves (posix
    relative path): files, links (never followed) and folders, so that a folder at a
    name the sweep writes is seen too."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in (*filenames, *dirnames):
            rel = (here / name).relative_to(folder).as_posix()
            if rel not in SUBFOLDERS:
                yield rel


def check_layout(folder: Path) -> None:
    """Refuse a folder that is a file or a link, or whose ``plots/`` or ``models/`` is not
    a folder.

    Raises
    ------
    FolderError
        One line naming the path in the way.
    """
    if folder.is_symlink():
        if not folder.exists():  # a loop, or a missing target
            raise FolderError(f"{folder} is a symbolic link that leads nowhere; choose "
                              "another --out")
        raise FolderError(f"{folder} is a symbolic link; give the folder it points to "
                          "as --out, or choose another --out")
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder} is a file, not a folder; choose another --out")
    for name in SUBFOLDERS:
        sub = folder / name
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            raise FolderError(
                f"{sub} is not a folder of its own (a symlink or a file) and the sweep writes "
                "there; move it away or choose another --out"
            )


def check(root: SafeFolder, config: Config, recorded: set[str], *,
          has_store: bool, columns: frozenset[str]) -> list[str]:
    """Check that running ``config`` into ``root`` overwrites nothing of someone else's.

    Parameters
    ----------
    root : SafeFolder
        The results folder, opened.
    config : Config
        The sweep about to run.
    recorded : set of str
        Paths (relative, posix) the store records as written by a sweep.
    has_store : bool
        Whether the folder holds a sweep store.
    columns : frozenset of str
        The runs table's columns (:func:`looks_ours`).

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
    check_layout(root.path)
    adopt = []
    for rel in _entries(root.path):
        if rel in STORE_FILES or is_artefact(rel, config):
            root.regular(rel)  # the sweep writes there: nothing but a file of its own
        elif (root.path / rel).is_dir() and not (root.path / rel).is_symlink():
            continue  # a folder of the user's, where the sweep writes nothing
        if rel in STORE_FILES or rel in recorded:
            continue
        if rel == CONFIG_NAME and _same_config(root, config):
            continue  # a copy of the config: kept as it is (the snapshot goes beside it)
        if is_artefact(rel, config):
            if not looks_ours(root, rel, config, columns):
                raise FolderError(
                    f"{root.path / rel} was not written by a sweep and the sweep would "
                    "overwrite it; move it away or choose another --out"
                )
            adopt.append(rel)
        elif not has_store:
            raise FolderError(
                f"{root.path} is not empty and holds no sweep store ({DB_NAME}), e.g. "
                f"{root.path / rel}; choose a new or empty folder with --out (nothing was "
                "written)"
            )
    return adopt


def removable(rel: str, configs: Sequence[Config]) -> bool:
    """Whether ``rel`` is a name a sweep of one of ``configs`` writes (or a temporary of
    one)."""
    name = temporary_of(rel) or rel
    try:
        return any(is_artefact(name, c) for c in configs)
    except (ValueError, TypeError):
        return False


def plan_removal(root: SafeFolder, recorded: Mapping[str, Identity | None],
                 configs: Sequence[Config], columns: frozenset[str]
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """Which recorded files ``--fresh`` may remove: those it can prove the sweep wrote.

    A file is proven the sweep's if it is a regular file with one link at a name a
    sweep of ``configs`` writes, whose content has the hash recorded when it was
    written (for a file recorded before hashes were, whose content looks like the
    artefact; a temporary of the sweep's by its name alone).

    Returns
    -------
    remove : list of str
        The files to remove.
    left : list of (str, str)
        The recorded files left alone, and why.
    """
    remove: list[str] = []
    left: list[tuple[str, str]] = []
    for rel, known in sorted(recorded.items()):
        if not removable(rel, configs):
            left.append((rel, "not a name a sweep writes"))
            continue
        st = root.lstat(rel)
        if st is None:
            continue
        if (what := describe(st)) is not None:
            left.append((rel, what))
        elif is_temporary(rel) or _proven(root, rel, known, configs, columns):
            remove.append(rel)
        else:
            left.append((rel, "changed since the sweep wrote it"))
    return remove, left


def _proven(root: SafeFolder, rel: str, known: Identity | None,
            configs: Sequence[Config], columns: frozenset[str]) -> bool:
    if known is None:  # recorded before hashes were
        return any(looks_ours(root, rel, c, columns) for c in configs)
    now = root.identity(rel)
    return now is not None and (now.sha256, now.size) == (known.sha256, known.size)


def _holder(root: SafeFolder) -> str:
    try:
        pid = (root.read(LOCK_NAME, 64) or b"").decode("ascii").strip()
    except (OSError, ValueError):
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


def _open_lock(root: SafeFolder) -> tuple[int, bool]:
    """Open ``runs.lock``: created exclusively, or an existing regular single-link file
    (never a link, never blocking on a FIFO); and whether it was created."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(LOCK_NAME, flags | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=root.fd), True
    except FileExistsError:
        pass
    root.regular(LOCK_NAME)
    try:
        fd = os.open(LOCK_NAME, flags | os.O_NONBLOCK, dir_fd=root.fd)
    except OSError:
        root.regular(LOCK_NAME)  # swapped for something else meanwhile: say what
        raise
    if (what := describe(os.fstat(fd))) is not None:
        os.close(fd)
        raise root.refuse(LOCK_NAME, what)
    return fd, False


def lock(folder: Path | SafeFolder) -> int:
    """Take the folder's lock; return its file descriptor (closing it releases the lock).

    Raises
    ------
    FolderError
        If another process holds the lock (one line naming it), or ``runs.lock`` is not
        a lock file of a sweep's (a link, a FIFO, a file with other content, …).
    """
    root = folder if isinstance(folder, SafeFolder) else SafeFolder.open(folder, create=False)
    try:
        fd, created = _open_lock(root)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderError(
                f"{root.path} is in use by {_holder(root)} (another run-experiment); wait for "
                "it to finish or choose another --out"
            ) from None
        if not created and _LOCK_TEXT.match(os.pread(fd, 64, 0)) is None:
            os.close(fd)
            raise FolderError(
                f"{root.path / LOCK_NAME} is not a sweep's lock file (it holds something "
                "else) and the sweep would overwrite it; move it away or choose another --out"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd
    finally:
        if root is not folder:
            root.close()
