"""The results folder's store of record: an sqlite file with a schema version.

``results/<name>/`` holds

- ``runs.sqlite``: the store of record. A run is one row of ``runs`` (plus its loss
  history in ``histories``), written in one transaction, so a sweep killed at any
  instant, ``kill -9`` included, never loses or duplicates a finished run; ``files``
  lists every file a sweep wrote with its identity (SHA-256, size, inode, mtime), and
  each temporary before it is created: what ``--fresh`` and a resume may remove;
  ``invocations`` holds one row per invocation that wrote the store (append-only: command
  line, effective settings, times, commit, versions, engines, executor, jobs, host;
  :mod:`approx.experiment.provenance`), and each run names the one that computed it;
- ``config.toml``: the config snapshot (also kept in the store's ``meta`` table), or
  ``config.snapshot.toml`` when the folder holds a ``config.toml`` the sweep did not
  write (kept as it is);
- ``runs.csv`` and ``summary.csv``: tidy exports of the store;
- ``metadata.json``: a summary of the store: the config's name, digest and root seed,
  the folder's status, counts by status, and every invocation that filled it
  (:mod:`approx.experiment.metadata`);
- ``models/<run id>.npz``: each fitted model, readable by :func:`approx.models.load_model`;
- ``plots/``: the figures (:mod:`approx.experiment.plots`).

The schema is versioned (sqlite's ``user_version``): a new store is built by running
every step of :data:`MIGRATIONS` in order, and an older store by running the steps it
lacks, each in one transaction. A new column is one more step
(``"ALTER TABLE runs ADD COLUMN accuracy REAL"``); a step that must compute what older
rows lack is a function of the connection; a store newer than the code is refused.
Only the process that ran a sweep writes its store and ``models/``: workers, local or
remote, return their results, and the store records them as they are (it computes
nothing of a run's).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from approx.core.errors import ApproxError
from approx.core.status import RunStatus
from approx.experiment import bracket, equal_params
from approx.experiment import folder as folders
from approx.experiment.changes import describe_change
from approx.experiment.config import Config, parse_config
from approx.experiment.figstyle import DEFAULT_DPI
from approx.experiment.folder import CONFIG_NAME, DB_NAME, SNAPSHOT_NAME, SQLITE_FILES, FolderError
from approx.experiment.measure import Result, constant_error, target_scale
from approx.experiment.metadata import describe, now
from approx.experiment.provenance import changes, run_engine
from approx.experiment.safe_files import Identity, SafeFolder, is_temporary
from approx.experiment.specs import ConfigError, TargetSpec
from approx.experiment.tasks import TASKS

__all__ = [
    "DB_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TIMING_COLUMNS",
    "Store",
    "StoreError",
    "lock_holder",
    "open_read_only",
    "run_columns",
    "run_counts",
]

#: columns that differ between otherwise identical sweeps (times, and which invocation
#: and host computed a run: a resumed sweep's runs come from two invocations)
TIMING_COLUMNS = ("fit_seconds", "eval_seconds", "finished_at", "invocation", "host")



def _record_target_scale(db: sqlite3.Connection) -> None:
    """4 → 5: each run records its target's scale (it was computed on every read).

    Rows of an older store get it here, once, from the targets of the stored config
    (its canonical form: the entries as validated when the runs were made).
    """
    db.execute("ALTER TABLE runs ADD COLUMN target_scale REAL")
    row = db.execute("SELECT value FROM meta WHERE key = 'config_canonical'").fetchone()
    entries = json.loads(row[0]).get("targets", []) if row is not None else []
    for entry in entries:  # (a classification sweep has datasets: nothing to fill)
        domain = entry["domain"] and (float(entry["domain"][0]), float(entry["domain"][1]))
        spec = TargetSpec(entry["name"], entry["expr"], domain)
        db.execute(
            "UPDATE runs SET target_scale = ? WHERE target = ?", (target_scale(spec), spec.name)
        )


def _record_tight_reason(db: sqlite3.Connection) -> None:
    """6 → 7: each run says why its enclosure is not tight (``tight_reason``).

    ``max_error_tight`` now follows one rule, ``upper − value ≤ 1e-9 · value``
    (:mod:`approx.analysis.errors`); it used to accept a gap of a few rounding units of
    max |f| plus the size of the model's terms. Older rows are judged again from their
    two numbers: a tight one that meets the rule gets ``""``, one that does not becomes
    not tight, ``"rounding"`` (that tolerance was the float evaluation's rounding); why
    an older row was not tight is not known (NULL).
    """
    db.execute("ALTER TABLE runs ADD COLUMN tight_reason TEXT")
    meets = "max_error_upper - max_error <= 1e-9 * max_error"
    db.execute(f"UPDATE runs SET tight_reason = '' WHERE max_error_tight = 1 AND {meets}")
    db.execute(
        "UPDATE runs SET max_error_tight = 0, tight_reason = 'rounding' "
        f"WHERE max_error_tight = 1 AND NOT ({meets})"
    )


_INVOCATIONS = """
    CREATE TABLE invocations (
        id              INTEGER PRIMARY KEY,
        argv            TEXT NOT NULL,
        settings        TEXT NOT NULL,
        started_at      TEXT NOT NULL,
        ended_at        TEXT,
        status          TEXT NOT NULL,
        reason          TEXT,
        package_commit  TEXT,
        package_dirty   INTEGER,
        package_version TEXT,
        versions        TEXT NOT NULL,
        engine          TEXT NOT NULL,
        executor        TEXT NOT NULL,
        jobs            INTEGER,
        host            TEXT NOT NULL,
        platform        TEXT NOT NULL,
        computed        INTEGER NOT NULL DEFAULT 0
    )
"""


def _record_provenance(db: sqlite3.Connection) -> None:
    """7 → 8: the ``invocations`` table (append-only, one row per invocation), and per
    run ``invocation`` (the id of the one that computed it), ``host`` and ``engine`` (of
    the process that computed it) and ``degenerate``.

    Older rows have no invocation, host or engine (NULL: not known, never guessed from
    ``metadata.json``, which described the last invocation only); ``degenerate`` is
    judged from their stored certified bound against the best constant's error of the
    stored config's targets (as a new run is: :func:`measure.constant_error`).
    """
    db.execute(_INVOCATIONS)
    for column in ("invocation INTEGER", "host TEXT", "engine TEXT", "degenerate INTEGER"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    row = db.execute("SELECT value FROM meta WHERE key = 'config_canonical'").fetchone()
    entries = json.loads(row[0]).get("targets", []) if row is not None else []
    for entry in entries:  # (a classification sweep has datasets: nothing to judge)
        domain = entry["domain"] and (float(entry["domain"][0]), float(entry["domain"][1]))
        constant = constant_error(TargetSpec(entry["name"], entry["expr"], domain))
        if np.isfinite(constant):
            db.execute(
                "UPDATE runs SET degenerate = (max_error_upper >= ?) WHERE target = ? AND "
                "status = 'ok' AND max_error_upper <= 1.7976931348623157e308",
                (constant, entry["name"]),
            )


#: step i takes a store from version i to i + 1 (SQL, or a function of the connection
#: for a step that computes); append, never edit
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 0 → 1: the first store (folders from before versioning hold exactly these tables)
    """
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runs (
        run_id       TEXT PRIMARY KEY,
        target       TEXT NOT NULL,
        method       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        width        INTEGER NOT NULL,
        replicate    INTEGER NOT NULL,
        seed         INTEGER NOT NULL,
        params       TEXT NOT NULL,
        n_params     INTEGER,
        max_error    REAL,
        max_error_at REAL,
        l2_error     REAL,
        fit_seconds  REAL,
        eval_seconds REAL,
        status       TEXT NOT NULL,
        message      TEXT NOT NULL,
        info         TEXT NOT NULL,
        model_file   TEXT,
        finished_at  TEXT NOT NULL,
        UNIQUE (target, method, width, replicate)
    );
    CREATE TABLE IF NOT EXISTS histories (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
        loss   BLOB NOT NULL
    );
    """,
    # 1 → 2: the files sweeps wrote, so --fresh removes those and nothing else
    """
    CREATE TABLE files (path TEXT PRIMARY KEY);
    INSERT OR IGNORE INTO files (path) SELECT model_file FROM runs WHERE model_file IS NOT NULL;
    """,
    # 2 → 3: the certified enclosure of the max error (NULL: recorded before it existed)
    """
    ALTER TABLE runs ADD COLUMN max_error_upper REAL;
    ALTER TABLE runs ADD COLUMN max_error_tight INTEGER;
    """,
    # 3 → 4: the classification task's held-out accuracy and mean cross-entropy
    """
    ALTER TABLE runs ADD COLUMN accuracy REAL;
    ALTER TABLE runs ADD COLUMN test_loss REAL;
    """,
    # 4 → 5: the target's scale, recorded with the run by the worker
    _record_target_scale,
    # 5 → 6: each written file's identity, so that --fresh removes only what it can prove
    # the sweep wrote (NULL: recorded before; recognised by its content instead)
    """
    ALTER TABLE files ADD COLUMN sha256 TEXT;
    ALTER TABLE files ADD COLUMN size INTEGER;
    ALTER TABLE files ADD COLUMN inode INTEGER;
    ALTER TABLE files ADD COLUMN mtime_ns INTEGER;
    """,
    # 6 → 7: why a run's enclosure is not tight (and the tight flag by the one rule)
    _record_tight_reason,
    # 7 → 8: every invocation that filled the folder, and per run the one that computed
    # it, the host and fused engine of the process that did, whether the fit is degenerate
    _record_provenance,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: stored as JSON text, exported as ``param_*`` and ``info_*`` columns
_JSON_COLUMNS = ("params", "info")
#: tables (and their automatic indexes) of a store from before versioning
_FIRST_TABLES = frozenset(
    {"meta", "runs", "histories", "sqlite_autoindex_meta_1", "sqlite_autoindex_runs_1",
     "sqlite_autoindex_runs_2", "sqlite_autoindex_histories_1"}
)


class StoreError(ApproxError, ValueError):
    """A results folder that cannot be used as asked; the message says what to do."""


class Store:
    """A results folder and its sqlite store of record, locked while open.

    Open it with :meth:`open` (to run a sweep) or :meth:`read` (to re-plot), or with
    :meth:`view` to read it without the lock, even while a sweep writes it; use it as a
    context manager so the connection, the folder and the lock are released. Every
    file it writes goes through :class:`~approx.experiment.safe_files.SafeFolder` and is
    recorded with its identity (:meth:`save`); ``notes`` collects one line per thing
    the user should know (a config kept, a file ``--fresh`` left alone).
    """

    def __init__(self, root: SafeFolder, connection: sqlite3.Connection, lock: int | None
                 ) -> None:
        self.root = root
        self.folder = root.path
        self.db = connection
        self._lock = lock
        self._columns = [row[1] for row in self.db.execute("PRAGMA table_info(runs)")]
        self.notes: list[str] = []
        #: the id of the invocation writing this store (None: reading, or not begun)
        self.invocation: int | None = None
        self._config: Config | None = None

    @classmethod
    def _connect(cls, root: SafeFolder, lock: int) -> Self:
        path = root.path / DB_NAME
        try:
            db = _open_sqlite(root)
            try:
                version = _schema_version(db, path)
            except StoreError:
                db.close()
                raise
            # WAL with synchronous=NORMAL: each commit is atomic and survives the process
            # being killed; only an OS crash could drop the last commits (never corrupt)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            _check_sqlite_files(root, db)
            for step in range(version, SCHEMA_VERSION):
                _migrate(db, step)
        except sqlite3.DatabaseError as e:
            links = [n for n in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm")
                     if (root.path / n).is_symlink()]
            if links:  # the store is fine: a link sits where sqlite writes
                raise StoreError(
                    f"{root.path / links[0]} is a symbolic link; a sweep never writes through "
                    "one: remove the link, or choose another --out") from None
            raise StoreError(
                f"{path} is not a readable store ({e}); move it away (and the folder's "
                "models/ and plots/) to start over, or choose another --out"
            ) from None
        return cls(root, db, lock)

    @classmethod
    def _locked(cls, folder: Path, config: Config | None) -> tuple[SafeFolder, int, bool]:
        """Open the folder (creating it if a ``config`` is to run there), check it if it
        holds no store yet, and take its lock; the folder, the lock, the store's existence."""
        folders.check_layout(folder)
        if config is None and not folder.is_dir():
            raise StoreError(f"{folder} is not a results folder: it has no {DB_NAME}")
        root = SafeFolder.open(folder, create=config is not None)
        try:
            has_store = root.regular(DB_NAME) is not None
            if config is not None and not has_store:
                # refuse someone else's folder before writing anything into it (even the lock)
                folders.check(root, config, set(), has_store=False, columns=run_columns())
            elif config is None and not has_store:
                raise StoreError(f"{folder} is not a results folder: it has no {DB_NAME}")
            lock = folders.lock(root)
        except BaseException:
            root.close()
            raise
        return root, lock, root.regular(DB_NAME) is not None

    @classmethod
    def _guarded(cls, folder: Path, config: Config | None) -> tuple[SafeFolder, int, bool]:
        try:
            return cls._locked(folder, config)
        except FolderError as e:
            raise StoreError(str(e)) from None
        except OSError as e:
            raise StoreError(_unusable(folder, e)) from None

    @classmethod
    def open(cls, folder: Path, config: Config, *, fresh: bool = False) -> Self:
        """Open ``folder`` for running ``config``, creating it if needed.

        Raises
        ------
        StoreError
            If the folder is in use, holds files the sweep did not write where it would
            write (or anything but a regular file, a link say, at such a name), holds runs
            of a config with another digest (and ``fresh`` is false), or cannot be
            written; the message is one line saying what to do.
        """
        folder = Path(folder)
        root, lock, has_store = cls._guarded(folder, config)
        store = None
        notes: list[str] = []
        try:
            store = cls._connect(root, lock) if has_store else None
            if store is not None and fresh:
                notes = store._discard(config)
                store = None
            if store is None:
                store = cls._connect(root, lock)
            store.notes += notes
            store._prepare(config)
        except BaseException as e:
            if store is not None:
                store.db.close()
            os.close(lock)
            root.close()
            if isinstance(e, FolderError):
                raise StoreError(str(e)) from None
            if isinstance(e, OSError):
                raise StoreError(_unusable(folder, e)) from None
            raise
        return store

    def _discard(self, config: Config) -> list[str]:
        """``--fresh``: remove the files this store proves a sweep wrote, then the store;
        one line per recorded file left alone. Closes the connection.

        Raises
        ------
        StoreError
            Before removing anything, if a file left alone (or another's) is where the
            new sweep writes.
        """
        configs = [config]
        try:
            configs.append(self.config())
        except StoreError:  # no config stored, or one that no longer validates
            pass
        recorded = self._identities()
        remove, left = folders.plan_removal(self.root, recorded, configs, run_columns())
        in_the_way = [rel for rel, _ in left if folders.is_artefact(rel, config)]
        if in_the_way:
            raise StoreError(
                f"--fresh cannot prove {self.folder / in_the_way[0]} is the sweep's and the "
                "new sweep would write there; move it away or choose another --out"
            )
        folders.check(self.root, config, set(recorded), has_store=True,  # refuse first
                      columns=run_columns())
        self.db.close()
        for rel in remove:
            self.root.remove(rel)
        self.root.remove_empty_subfolders()
        for name in SQLITE_FILES:
            if self.root.regular(name) is not None:
                self.root.remove(name)
        return [f"--fresh left {self.folder / rel} ({why}) alone" for rel, why in left]

    def _prepare(self, config: Config) -> None:
        """Check the folder's contents and config, record adopted files, write the snapshot."""
        meta = self.meta()
        n_runs = self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if n_runs and meta.get("config_digest") != config.digest():
            change = describe_change(meta.get("config_canonical"), meta.get("config_text"),
                                     config)
            raise StoreError(
                f"{self.folder} holds {n_runs} runs of another config ({change}); rerun "
                "with --fresh to discard them, or choose another folder with --out"
            )
        self._remove_temporaries(config)
        self.adopt(config)
        with self.db:
            self.db.execute("BEGIN")
            self._set_meta(
                config_digest=config.digest(),
                config_canonical=json.dumps(config.canonical(), sort_keys=True),
                config_text=config.text,
                config_source=config.source,
            )
        self.root.make_subfolder("models")
        self._write_config(config)

    def _remove_temporaries(self, config: Config) -> None:
        """Remove the temporaries of a sweep killed while writing them (regular files of
        the names recorded before they were created, beside the sweep's artefacts), and
        forget them."""
        partial = [rel for rel in self.written() if is_temporary(rel)]
        for rel in partial:
            try:
                if folders.removable(rel, [config]) and self.root.regular(rel) is not None:
                    self.root.remove(rel)
            except FolderError:  # something else took the name: left alone
                pass
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in partial])

    def _write_config(self, config: Config) -> None:
        """Write the config snapshot to ``config.toml``, unless a ``config.toml`` the sweep
        did not write is there: that one is kept, and unless it is the very text, the
        snapshot goes to ``config.snapshot.toml`` (said in a note)."""
        text = config.text.encode("utf-8")
        if self._replaceable(CONFIG_NAME):
            if self.root.read(CONFIG_NAME) != text:
                self.save(CONFIG_NAME, lambda file: file.write(text))
            return
        if self.root.read(CONFIG_NAME) != text:
            self.save(SNAPSHOT_NAME, lambda file: file.write(text))
            self.notes.append(
                f"kept {self.folder / CONFIG_NAME} (not the sweep's); the config snapshot is "
                f"{self.folder / SNAPSHOT_NAME}"
            )

    def adopt(self, config: Config) -> None:
        """Check that the folder holds nothing of someone else's where ``config`` writes.

        Unrecorded files at the sweep's artefact paths whose content shows they are the
        sweep's are recorded as such, with their identity (as are files recorded before
        identities were); a recorded file (not a model, nor ``config.toml``) whose
        content changed since the sweep wrote it is someone's now.

        Raises
        ------
        StoreError
            If a file at an artefact path was not written by a sweep (one line).
        """
        try:
            recorded = self._identities()
            adopt = folders.check(self.root, config, set(recorded), has_store=True,
                                  columns=run_columns())
            for rel, known in recorded.items():
                if known is None and not is_temporary(rel) and folders.is_artefact(rel, config):
                    if folders.looks_ours(self.root, rel, config, run_columns()):
                        adopt.append(rel)
                    elif (rel not in (CONFIG_NAME, SNAPSHOT_NAME)
                          and self.root.lstat(rel) is not None):
                        raise FolderError(
                            f"{self.folder / rel} was not written by a sweep and the sweep "
                            "would overwrite it; move it away or choose another --out"
                        )
                elif (known is not None and rel not in (CONFIG_NAME, SNAPSHOT_NAME)
                      and not rel.startswith("models/") and folders.is_artefact(rel, config)
                      and not self._replaceable(rel)):
                    raise FolderError(
                        f"{self.folder / rel} changed since the sweep wrote it and the sweep "
                        "would overwrite it; move it away or choose another --out"
                    )
        except FolderError as e:
            raise StoreError(str(e)) from None
        self._record({rel: self.root.identity(rel) for rel in adopt})

    @classmethod
    def read(cls, folder: str | Path) -> Self:
        """Open an existing results folder for reading (e.g. to re-plot), taking its lock;
        :meth:`view` reads it without the lock, even while a sweep runs.

        Raises
        ------
        StoreError
            If ``folder`` holds no store, is in use, or its store is unreadable.
        """
        root, lock, _ = cls._guarded(Path(folder), None)
        try:
            return cls._connect(root, lock)
        except BaseException as e:
            os.close(lock)
            root.close()
            if isinstance(e, FolderError):
                raise StoreError(str(e)) from None
            raise

    @classmethod
    def view(cls, folder: str | Path) -> Self:
        """Open an existing results folder read-only, without taking its lock.

        Usable while a sweep writes the folder: the store is opened with SQLite's
        ``mode=ro`` (and ``nofollow``), and a reader of its write-ahead log never waits
        for the writer nor holds it up; each query sees the runs committed before it
        began. An older store is migrated in memory (its file is left as it is). What
        the view may not do (save a file, record a run) raises :class:`StoreError`.

        Raises
        ------
        StoreError
            If ``folder`` holds no store, its store is unreadable or newer than this
            code, or a link is where the store's files go (one line).
        """
        folder = Path(folder)
        try:
            folders.check_layout(folder)
            root = SafeFolder.open(folder, create=False)
        except FolderError as e:
            raise StoreError(str(e)) from None
        except FileNotFoundError:
            raise StoreError(f"{folder} is not a results folder: it does not exist") from None
        except OSError as e:
            raise StoreError(_unusable(folder, e)) from None
        try:
            if root.regular(DB_NAME) is None:
                raise StoreError(f"{folder} is not a results folder: it has no {DB_NAME}")
            return cls(root, _open_read_only(root), None)
        except BaseException as e:
            root.close()
            if isinstance(e, FolderError):
                raise StoreError(str(e)) from None
            if isinstance(e, sqlite3.DatabaseError):
                raise StoreError(f"{folder / DB_NAME} is not a readable store ({e})") from None
            raise

    def _writable(self) -> None:
        """Refuse to write through a read-only :meth:`view`."""
        if self._lock is None:
            raise StoreError(f"{self.folder} was opened read-only (Store.view); open it with "
                             "Store.open or Store.read to write")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and the folder, and release the folder's lock."""
        self.db.close()
        if self._lock is not None:
            os.close(self._lock)
        self.root.close()

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **values: str) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items()
        )

    def figure_settings(self) -> tuple[tuple[str, ...], int]:
        """The formats and resolution the folder's figures were last drawn in (PNG at
        :data:`~approx.experiment.figstyle.DEFAULT_DPI` for a folder that records none)."""
        meta = self.meta()
        formats = tuple(f for f in meta.get("figure_formats", "png").split(",") if f)
        return formats or ("png",), int(meta.get("figure_dpi", DEFAULT_DPI))

    def set_figure_settings(self, formats: Sequence[str], dpi: int | None) -> None:
        """Record the formats and resolution the figures are drawn in (None: the
        default), for the next ``--replot``."""
        self._writable()
        with self.db:
            self._set_meta(figure_formats=",".join(formats),
                           figure_dpi=str(DEFAULT_DPI if dpi is None else dpi))

    def config(self) -> Config:
        """The config the stored runs came from, re-read from the store's snapshot.

        Raises
        ------
        StoreError
            If the store holds no config (it never started a sweep).
        """
        meta = self.meta()
        if "config_text" not in meta:
            raise StoreError(f"{self.folder / DB_NAME} holds no sweep yet; run one first")
        try:
            return parse_config(meta["config_text"], str(self.folder / "config.toml"))
        except ConfigError as e:  # written by a version that accepted more
            raise StoreError(f"the stored config no longer validates: {e}") from None

    def written(self) -> set[str]:
        """Paths (relative to the folder) of every file a sweep wrote here."""
        return {row[0] for row in self.db.execute("SELECT path FROM files")}

    def _identities(self) -> dict[str, Identity | None]:
        """Every recorded file's identity (None: recorded before identities, or a
        temporary)."""
        rows = self.db.execute("SELECT path, sha256, size, inode, mtime_ns FROM files")
        return {path: None if digest is None else Identity(digest, size, inode, mtime)
                for path, digest, size, inode, mtime in rows}

    def _record(self, files: dict[str, Identity | None], forget: tuple[str, ...] = (),
                also: Callable[[], object] | None = None) -> None:
        """Record files with their identities (None: a temporary about to be created) and
        forget others, in one transaction (with ``also``'s statements, if given)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO files (path, sha256, size, inode, mtime_ns) "
                "VALUES (?, ?, ?, ?, ?)",
                [(rel, *((i.sha256, i.size, i.inode, i.mtime_ns) if i else (None,) * 4))
                 for rel, i in files.items()],
            )
            self.db.executemany("DELETE FROM files WHERE path = ?", [(r,) for r in forget])
            if also is not None:
                also()

    def _replaceable(self, relative: str) -> bool:
        """Whether the sweep may write ``relative``: nothing is there, or the regular
        single-link file there is the one the store recorded (same inode, size and mtime,
        or else the same content).

        Raises
        ------
        FolderError
            If anything but a regular single-link file is there (one line).
        """
        st = self.root.regular(relative)
        if st is None:
            return True
        row = self.db.execute(
            "SELECT sha256, size, inode, mtime_ns FROM files WHERE path = ?", (relative,)
        ).fetchone()
        if row is None or row[0] is None:
            return False
        if (st.st_size, st.st_ino, st.st_mtime_ns) == tuple(row[1:]):
            return True
        now = self.root.identity(relative)
        return now is not None and (now.sha256, now.size) == (row[0], row[1])

    def save(self, relative: str, fill: Callable[[BinaryIO], object],
             also: Callable[[], object] | None = None) -> Path:
        """Write ``relative`` through an exclusively created temporary (its name recorded
        first, so a killed sweep's is removed on resume) and record it; return its path.

        ``fill`` writes the content to a binary file. Nothing is written over a file the
        sweep cannot show it wrote, nor through anything but a regular single-link file.
        ``also``, if given, runs in the transaction that records the file (what belongs
        with it, such as its run's row: one commit for both).

        Raises
        ------
        FolderError
            If something else is at ``relative`` (one line naming it).
        """
        self._writable()
        if not self._replaceable(relative):
            raise FolderError(
                f"{self.folder / relative} is not a file the sweep wrote (or it changed since) "
                "and the sweep would overwrite it; move it away or choose another --out"
            )
        exists = self.root.lstat(relative) is not None
        temporary = self.root.temporary(relative)
        self._record({temporary: None})
        try:
            made = self.root.write(relative, temporary, fill, replace=exists)
        except BaseException:  # the temporary is gone (or was never the sweep's)
            self._record({}, forget=(temporary,))
            raise
        try:
            self._record({relative: made}, forget=(temporary,), also=also)
        except BaseException:
            if also is None:
                raise
            # what belongs with the file failed: the file is the sweep's all the same
            # (else a resumed sweep could not replace it)
            self._record({relative: made}, forget=(temporary,))
            raise
        return self.folder / relative

    def write_text(self, relative: str, text: str) -> None:
        """Write a text artefact atomically (:meth:`save`)."""
        data = text.encode("utf-8")
        self.save(relative, lambda file: file.write(data))

    def recorded(self) -> dict[str, tuple[RunStatus, str | None]]:
        """Status and model file of every recorded run, by run id."""
        rows = self.db.execute("SELECT run_id, status, model_file FROM runs")
        return {run_id: (RunStatus(status), model) for run_id, status, model in rows}

    def _save_model(self, result: Result) -> bool:
        """Write the result's model to ``models/<run id>.npz`` and record the run with it,
        in one transaction; False if it has no model or it could not be saved (a failure
        is the run's: its status and message say so)."""
        if result.arrays is None:
            return False
        relative = f"models/{result.run.run_id}.npz"
        arrays = result.arrays
        result.model_file = relative
        try:
            self.save(relative, lambda file: np.savez(file, **arrays),
                      also=lambda: self._insert(result))
            return True
        except (OSError, FolderError) as e:  # transient: retried when the sweep is resumed
            result.status, result.message = RunStatus.ERROR, f"cannot save the model: {e}"
            result.model_file = None
            return False

    def record(self, result: Result) -> None:
        """Save the run's model, and insert (or replace) the run and its loss history in
        the transaction that records the model file (one commit per run)."""
        self._writable()
        if self._save_model(result):
            return
        with self.db:
            self.db.execute("BEGIN")
            self._insert(result)

    def _insert(self, result: Result) -> None:
        """The statements that record a run and its loss history (in a transaction)."""
        run = result.run
        row = {
            "run_id": run.run_id,
            "target": run.target.name,
            "method": run.method.name,
            "kind": run.method.kind,
            "width": run.width,
            "replicate": run.replicate,
            "seed": run.seed,
            "params": json.dumps(run.method.kwargs, sort_keys=True),
            "info": json.dumps(result.info, sort_keys=True),
            "finished_at": now(),
            "invocation": self.invocation,
        }
        # every other column is the Result field of that name: a new column is a new
        # migration step and a new field, nothing here
        names = {f.name for f in fields(result)}
        row.update({c: getattr(result, c) for c in self._columns if c in names and c not in row})
        self.db.execute("DELETE FROM histories WHERE run_id = ?", (run.run_id,))
        self.db.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(row)}) "
            f"VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        self.db.execute("UPDATE invocations SET computed = computed + 1 WHERE id = ?",
                        (self.invocation,))
        if result.history is not None:
            self.db.execute(
                "INSERT INTO histories (run_id, loss) VALUES (?, ?)",
                (run.run_id, result.history.astype("<f8").tobytes()),
            )

    def histories(self) -> dict[str, NDArray[np.float64]]:
        """Loss history per run id, for the runs that have one."""
        rows = self.db.execute("SELECT run_id, loss FROM histories")
        # a damaged blob (not whole float64s, or not bytes) is no history: left out
        return {run_id: np.frombuffer(blob, dtype="<f8") for run_id, blob in rows
                if isinstance(blob, bytes) and len(blob) % 8 == 0}

    def table(self, config: Config) -> pd.DataFrame:
        """The recorded runs of ``config``, one tidy row each, in the config's order.

        A classification sweep's table names its datasets ``dataset`` (not ``target``),
        has ``accuracy`` and ``test_loss`` instead of the error columns, and leaves the
        width empty for a method without width.

        Columns are the store's, in its order; method parameters become ``param_<name>``
        columns and the methods' extra facts ``info_<name>`` columns. ``max_error`` is
        attained (a lower bound of the sup), ``max_error_upper`` a rigorous upper bound
        (empty for runs recorded before it existed), ``max_error_tight`` whether the two
        meet the rule ``upper − value ≤ 1e-9 · value``, ``tight_reason`` why not
        (``"rounding"``, ``"work cap"``, ``"no enclosure"``, ``"non-finite"``; empty when
        tight, and for older runs not tight, unknown); ``target_scale`` estimates max |f|
        (the reference for rate floors; recorded by the worker with each run);
        ``degenerate`` whether an ok run's certified ε is not below the best constant's
        (:attr:`~approx.experiment.measure.Result.degenerate`; empty for a failed run);
        ``invocation`` the id of the invocation that computed the run (a row of
        :meth:`invocations`), ``host`` and ``engine`` the host and fused engine of the
        process that did (all three empty for runs recorded before schema 8).
        A sweep listing an ``optimal-pwl`` method gains ``optimum_lower``,
        ``optimum_upper`` and ``gap_to_optimum`` (:mod:`approx.experiment.bracket`).
        """
        raw = pd.read_sql_query("SELECT * FROM runs", self.db)
        for flag in ("max_error_tight", "degenerate"):
            raw[flag] = raw[flag].map(lambda v: None if pd.isna(v) else bool(v)).astype(object)
        raw["invocation"] = raw["invocation"].astype("Int64")  # empty: before provenance
        params = self._decoded(raw, "params", _param_order(config))
        info = self._decoded(raw, "info", None)
        others = {c for task in TASKS.values() if task is not config.task for c in task.columns}
        columns = [c for c in self._columns if c not in _JSON_COLUMNS and c not in others]
        table = pd.concat(
            [raw[columns], params.add_prefix("param_"), info.add_prefix("info_")], axis=1
        )
        if "target_scale" in table:  # recorded last, shown beside the errors
            table.insert(table.columns.get_loc("l2_error") + 1, "target_scale",
                         table.pop("target_scale"))
        if "tight_reason" in table:  # recorded last, shown beside the flag it explains
            table.insert(table.columns.get_loc("max_error_tight") + 1, "tight_reason",
                         table.pop("tight_reason"))
        if "degenerate" in table:  # recorded last, shown beside the errors' flags
            table.insert(table.columns.get_loc("tight_reason") + 1, "degenerate",
                         table.pop("degenerate"))
        table = _in_config_order(table, config)
        if (config.task.name == "approximation" and not config.budgets
                and bracket.has_optimum(
                [m.kind for m in config.methods])):
            table = bracket.with_optimum(table)
        if equal_params.applies(config):  # a budget sweep with the one-hidden-layer optimum
            table = equal_params.with_shallow_optimum(table, config)
        if config.task.widthless:  # recorded at width 0: in the table it has none
            table["width"] = table["width"].astype("Int64").mask(table["width"] == 0)
        return table.rename(columns={"target": config.task.subject})

    def _decoded(self, raw: pd.DataFrame, column: str, order: list[str] | None
                 ) -> pd.DataFrame:
        """The JSON objects of ``column``, one column per key: in ``order`` (then any
        other keys sorted), or sorted; the same whatever order the runs were recorded in.

        Raises
        ------
        StoreError
            If a value is not a JSON object (a damaged store), naming the run.
        """
        rows = []
        for run_id, text in zip(raw["run_id"], raw[column], strict=True):
            try:
                value = json.loads(text)
            except (TypeError, ValueError):
                value = None
            if not isinstance(value, dict):
                raise StoreError(
                    f"{self.folder / DB_NAME} is damaged: the {column} of run {run_id!r} is "
                    "not a JSON object; move the folder away and rerun the sweep"
                )
            rows.append(value)
        frame = pd.DataFrame(rows, index=raw.index)
        first = [c for c in order or [] if c in frame.columns]
        return frame[first + sorted(c for c in frame.columns if c not in first)]

    def abort(self, reason: str) -> None:
        """Mark this invocation, and so ``metadata.json``, as stopped (the sweep ended
        early: ``reason``)."""
        if self.invocation is None:
            return  # never begun: nothing claims it is running
        try:
            self._end("stopped", reason)
            self._write_metadata(None)
        except (OSError, sqlite3.Error):  # e.g. the full disk that stopped the sweep
            pass

    def begin(self, config: Config, invocation: dict[str, Any]) -> None:
        """Record an invocation that is starting (a record of
        :func:`approx.experiment.provenance.invocation`), attribute the runs recorded from
        now on to it, and write ``metadata.json``. An earlier invocation still marked
        running was killed (this one holds the lock): it becomes stopped, end unknown."""
        self._config = config
        with self.db:
            self.db.execute("BEGIN")
            # one still "running" ended without a word (killed): it holds the lock no more
            self.db.execute(
                "UPDATE invocations SET status = 'stopped', reason = 'ended without "
                "finishing (killed?); its end time is not known' WHERE status = 'running'"
            )
            cursor = self.db.execute(
                "INSERT INTO invocations (argv, settings, started_at, status, package_commit, "
                "package_dirty, package_version, versions, engine, executor, jobs, host, "
                "platform) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (json.dumps(invocation["argv"]), json.dumps(invocation["settings"], sort_keys=True),
                 invocation["started_at"], invocation["package_commit"],
                 invocation["package_dirty"], invocation["package_version"],
                 json.dumps(invocation["versions"], sort_keys=True),
                 json.dumps(invocation["engine"], sort_keys=True), invocation["executor"],
                 invocation["jobs"], invocation["host"], invocation["platform"]),
            )
        self.invocation = cursor.lastrowid
        self._write_metadata(None)

    def provenance_changes(self, keep: set[str], current: dict[str, Any]) -> str | None:
        """One line if runs in ``keep`` were computed by another commit or fused engine
        than ``current`` (an invocation record) would use; else None."""
        rows = self.db.execute(
            "SELECT r.run_id, r.params, r.width, r.engine, i.package_commit, "
            "i.package_version FROM runs r LEFT JOIN invocations i ON r.invocation = i.id"
        )
        task = self._config.task.name if self._config else "approximation"
        earlier = [(commit, version, engine, run_engine(json.loads(params), width, task))
                   for run_id, params, width, engine, commit, version in rows
                   if run_id in keep]
        return changes(current, earlier)

    def invocations(self) -> list[dict[str, Any]]:
        """Every invocation, oldest first, with ``runs``: the table's rows it computed."""
        self.db.row_factory = sqlite3.Row
        try:
            rows = self.db.execute(
                "SELECT i.*, (SELECT COUNT(*) FROM runs r WHERE r.invocation = i.id) AS runs "
                "FROM invocations i ORDER BY i.id"
            ).fetchall()
        finally:
            self.db.row_factory = None
        out = []
        for row in rows:
            item = dict(row)
            for key in ("argv", "settings", "versions", "engine"):
                item[key] = json.loads(item[key])
            if item["package_dirty"] is not None:
                item["package_dirty"] = bool(item["package_dirty"])
            out.append(item)
        return out

    def _end(self, status: str, reason: str | None = None) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("UPDATE invocations SET ended_at = ?, status = ?, reason = ? "
                            "WHERE id = ?", (now(), status, reason, self.invocation))

    def write_runs(self, table: pd.DataFrame) -> None:
        """Write ``runs.csv`` (atomically: a reader sees the old table or the new one)."""
        self.write_text("runs.csv", table.to_csv(index=False))

    def export(self, table: pd.DataFrame, summary: pd.DataFrame) -> None:
        """Write ``runs.csv``, ``summary.csv``, ``optimum.csv`` (when the table has the
        optimum's bracket) and the finished ``metadata.json``."""
        self.write_runs(table)
        self.write_text("summary.csv", summary.to_csv(index=False))
        if "optimum_lower" in table:
            self.write_text(bracket.FILE, bracket.brackets(table).to_csv(index=False))
        runs = run_counts(table)
        if self.invocation is not None:
            self._end("complete")
        self._write_metadata(runs)

    def _write_metadata(self, runs: dict[str, int] | None) -> None:
        """Write ``metadata.json``: the config, every invocation, ``runs`` (the counts)."""
        config = self._config or self.config()
        unknown = self.db.execute(
            "SELECT COUNT(*) FROM runs WHERE invocation IS NULL").fetchone()[0]
        metadata = describe(config, self.invocations(), runs, without_provenance=unknown)
        self.write_text("metadata.json", json.dumps(metadata, indent=2) + "\n")


def run_counts(table: pd.DataFrame) -> dict[str, int]:
    """``total``, the runs by status and (approximation) how many are ``degenerate``."""
    counts = table["status"].value_counts().sort_index()
    runs = {"total": len(table), **{k: int(v) for k, v in counts.items()}}
    if "degenerate" in table:
        runs["degenerate"] = int(table["degenerate"].eq(True).sum())
    return runs


def _param_order(config: Config) -> list[str]:
    """Method parameter names as the config's methods declare them (first seen first)."""
    names: dict[str, None] = {}
    for method in config.methods:
        names.update(dict.fromkeys(config.kind(method).params.names))
    return list(names)


def _in_config_order(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The rows in the config's order: subject, method (as in the file), width, replicate."""
    target_rank = {t.name: i for i, t in enumerate(config.targets)}
    method_rank = {m.name: i for i, m in enumerate(config.methods)}
    return (
        table.assign(_t=table["target"].map(target_rank), _m=table["method"].map(method_rank))
        .sort_values(["_t", "_m", "width", "replicate"])
        .drop(columns=["_t", "_m"])
        .reset_index(drop=True)
    )


@functools.cache
def run_columns() -> frozenset[str]:
    """Every column ``runs.csv`` has but the ``param_*`` and ``info_*`` ones: the runs
    table's (of a store built by every migration), each task's name for its subject, the
    optimum's bracket columns and the budget sweeps' comparison with the one-hidden-layer
    optimum (:data:`approx.experiment.equal_params.COLUMNS`)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for step in range(SCHEMA_VERSION):
            _migrate(db, step)
        names = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    finally:
        db.close()
    return frozenset(names | {task.subject for task in TASKS.values()} | set(bracket.COLUMNS)
                     | set(equal_params.COLUMNS))


def _migrate(db: sqlite3.Connection, step: int) -> None:
    """Run migration ``step`` (version ``step`` to ``step + 1``) in one transaction."""
    migration = MIGRATIONS[step]
    if isinstance(migration, str):
        db.executescript(f"BEGIN; {migration}; PRAGMA user_version = {step + 1}; COMMIT;")
        return
    db.execute("BEGIN")
    try:
        migration(db)
        db.execute(f"PRAGMA user_version = {step + 1}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _schema_version(db: sqlite3.Connection, path: Path) -> int:
    """The store's schema version.

    Raises
    ------
    StoreError
        If the store is newer than this code, or the file is someone else's database.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer approx (store schema {version}; this one "
            f"reads up to {SCHEMA_VERSION}); upgrade approx or choose another --out"
        )
    if version == 0:  # before versioning, or empty; or someone else's database
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if not tables <= _FIRST_TABLES:
            raise StoreError(
                f"{path} is an sqlite file but not a sweep store; move it away or "
                "choose another --out"
            )
    return version


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"mode": "ro", "nofollow": "1", **params}.items())
    return f"file:{urllib.parse.quote(str(path))}?{query}"


def open_read_only(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to the store at ``path``, never through a link
    (``nofollow``). With the side files of its write-ahead log present (a sweep runs, or
    was killed), ``readonly_shm``: it sees what the sweep has committed and writes
    nothing. Without them, ``immutable`` (which a plain ``mode=ro`` reader would create
    them for) only where the kernel's table of locks shows that no sweep holds the
    folder, so the store is a closed one; else (a sweep is creating the store, or the
    lock cannot be told) a plain ``mode=ro`` reader, which may create the side files."""
    sides = all(os.path.lexists(f"{path}-{s}") for s in ("wal", "shm"))
    closed = not sides and os.path.exists(PROC_LOCKS) and lock_holder(path.parent) is None
    params = {"readonly_shm": "1"} if sides else {"immutable": "1"} if closed else {}
    return sqlite3.connect(_uri(path, **params), uri=True, isolation_level=None,
                           timeout=timeout)


#: the kernel's table of locks (Linux), read to tell whether a sweep holds a folder
PROC_LOCKS = "/proc/locks"


def lock_holder(folder: Path) -> int | None:
    """The process holding the folder's lock (a sweep running in it), read from the
    kernel's table of locks (``/proc/locks``) without taking the lock; None if it is
    free or that cannot be told."""
    try:
        st = os.lstat(Path(folder) / folders.LOCK_NAME)
        with open(PROC_LOCKS, encoding="ascii") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == device:
            return int(parts[4]) if parts[4].lstrip("-").isdigit() else None
    return None


def _open_read_only(root: SafeFolder) -> sqlite3.Connection:
    """Connect to the folder's existing database read-only, never through a link; an
    older store is copied into memory and migrated there (the file is not changed).
    Nothing is written, not even SQLite's side files (:func:`open_read_only`).
    """
    for name in SQLITE_FILES:
        root.regular(name)
    db = open_read_only(root.path / DB_NAME, timeout=10)
    _check_sqlite_files(root, db)
    try:
        version = _schema_version(db, root.path / DB_NAME)
        if version < SCHEMA_VERSION:
            memory = sqlite3.connect(":memory:", isolation_level=None)
            db.backup(memory)
            db.close()
            db = memory
            # the copy's own version: a sweep creating the store (one committed step at a
            # time) may have moved on between the first read and the copy
            version = _schema_version(db, root.path / DB_NAME)
            for step in range(version, SCHEMA_VERSION):
                _migrate(db, step)
    except BaseException:
        db.close()
        raise
    return db


def _open_sqlite(root: SafeFolder) -> sqlite3.Connection:
    """Connect to the folder's database, never through a link (SQLite's ``nofollow``), and
    only if it and its side files are regular single-link files (created here if new)."""
    for name in SQLITE_FILES:
        root.regular(name)
    if root.lstat(DB_NAME) is None:
        root.create_empty(DB_NAME)  # exclusively: never over anything
    uri = f"file:{urllib.parse.quote(str(root.path / DB_NAME))}?nofollow=1"
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    _check_sqlite_files(root, db)
    return db


def _check_sqlite_files(root: SafeFolder, db: sqlite3.Connection) -> None:
    """Refuse if a link took a sqlite file's name, or the folder's path names another
    folder than the one opened (SQLite opens its files by path)."""
    try:
        for name in SQLITE_FILES:
            root.regular(name)
        if not root.is_same():
            raise FolderError(f"{root.path} was replaced while the sweep opened it; run again")
    except BaseException:
        db.close()
        raise


def _unusable(folder: Path, error: OSError) -> str:
    """One line for a folder the OS refuses (read-only, name too long, disk full, …)."""
    where = error.filename or folder
    why = error.strerror or error
    if os.path.islink(where) and not os.path.exists(where):  # mkdir says "File exists"
        why = "it is a symbolic link that leads nowhere (a loop, or a missing target)"
    return f"cannot use {where} as the results folder: {why}"

