"""The results folder's store of record: an sqlite file with a schema version.

``results/<name>/`` holds

- ``runs.sqlite``: the store of record. A run is one row of ``runs`` (plus its loss
  history in ``histories``), written in one transaction, so a sweep killed at any
  instant, ``kill -9`` included, never loses or duplicates a finished run; ``files``
  lists every file a sweep wrote (what ``--fresh`` may remove);
- ``config.toml``: the config snapshot (also kept in the store's ``meta`` table);
- ``runs.csv`` and ``summary.csv``: tidy exports of the store;
- ``metadata.json``: versions, platform, the fused engine (numba or numpy) per activation,
  git commit, root seed, times, counts by status;
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

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from approx.core.errors import ApproxError
from approx.core.status import RunStatus
from approx.experiment import folder as folders
from approx.experiment.config import Config, parse_config
from approx.experiment.folder import DB_NAME, FolderError
from approx.experiment.measure import Result, target_scale
from approx.experiment.metadata import describe, now
from approx.experiment.specs import ConfigError, TargetSpec
from approx.experiment.tasks import TASKS

__all__ = [
    "DB_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TIMING_COLUMNS",
    "Store",
    "StoreError",
]

#: columns that differ between otherwise identical sweeps
TIMING_COLUMNS = ("fit_seconds", "eval_seconds", "finished_at")



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
    """5 → 6: each run says why its enclosure is not tight (``tight_reason``).

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
    # 5 → 6: why a run's enclosure is not tight (and the tight flag by the one rule)
    _record_tight_reason,
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

    Open it with :meth:`open` (to run a sweep) or :meth:`read` (to re-plot); use it as a
    context manager so the connection and the lock are released.
    """

    def __init__(self, folder: Path, connection: sqlite3.Connection, lock: int) -> None:
        self.folder = folder
        self.db = connection
        self._lock = lock
        self._columns = [row[1] for row in self.db.execute("PRAGMA table_info(runs)")]

    @classmethod
    def _connect(cls, folder: Path, lock: int) -> Self:
        path = folder / DB_NAME
        try:
            db = sqlite3.connect(path, isolation_level=None)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.close()
                raise StoreError(
                    f"{path} was written by a newer approx (store schema {version}; this one "
                    f"reads up to {SCHEMA_VERSION}); upgrade approx or choose another --out"
                )
            if version == 0:  # before versioning, or empty; or someone else's database
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                if not tables <= _FIRST_TABLES:
                    db.close()
                    raise StoreError(
                        f"{path} is an sqlite file but not a sweep store; move it away or "
                        "choose another --out"
                    )
            # WAL with synchronous=NORMAL: each commit is atomic and survives the process
            # being killed; only an OS crash could drop the last commits (never corrupt)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for step in range(version, SCHEMA_VERSION):
                _migrate(db, step)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"{path} is not a readable store ({e}); move it away (and the folder's "
                "models/ and plots/) to start over, or choose another --out"
            ) from None
        return cls(folder, db, lock)

    @classmethod
    def _locked(cls, folder: Path, *, create: bool) -> tuple[int, bool]:
        """Take the folder's lock (creating the folder if asked); the store's existence."""
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return folders.lock(folder), (folder / DB_NAME).is_file()

    @classmethod
    def open(cls, folder: Path, config: Config, *, fresh: bool = False) -> Self:
        """Open ``folder`` for running ``config``, creating it if needed.

        Raises
        ------
        StoreError
            If the folder is in use, holds files the sweep did not write where it would
            write, holds runs of a config with another digest (and ``fresh`` is false),
            or cannot be written; the message is one line saying what to do.
        """
        folder = Path(folder)
        try:
            # refuse someone else's folder before writing anything into it (even the lock)
            folders.check_layout(folder)
            if not (folder / DB_NAME).is_file():
                folders.check(folder, config, set(), has_store=False)
            lock, has_store = cls._locked(folder, create=True)
        except FolderError as e:
            raise StoreError(str(e)) from None
        except OSError as e:
            raise StoreError(_unusable(folder, e)) from None
        store = None
        try:
            store = cls._connect(folder, lock) if has_store else None
            if store is not None and fresh:
                written = store.written()
                # refuse before removing anything, not half-way
                folders.check(folder, config, written, has_store=True)
                store.db.close()
                folders.remove(folder, written)
                for name in folders.STORE_FILES - {folders.LOCK_NAME}:
                    (folder / name).unlink(missing_ok=True)
                store = None
            if store is None:
                store = cls._connect(folder, lock)
            store._prepare(config)
        except BaseException as e:
            if store is not None:
                store.db.close()
            os.close(lock)
            if isinstance(e, FolderError):
                raise StoreError(str(e)) from None
            if isinstance(e, OSError):
                raise StoreError(_unusable(folder, e)) from None
            raise
        return store

    def _prepare(self, config: Config) -> None:
        """Check the folder's contents and config, record adopted files, write the snapshot."""
        meta = self.meta()
        n_runs = self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if n_runs and meta.get("config_digest") != config.digest():
            old = json.loads(meta.get("config_canonical", "{}"))
            changed = [k for k, v in config.canonical().items() if old.get(k) != v]
            raise StoreError(
                f"{self.folder} holds {n_runs} runs of another config (changed: "
                f"{', '.join(changed)}); rerun with --fresh to discard them, "
                "or choose another folder with --out"
            )
        written = self.written()
        # temporary files of a sweep that was killed while writing them
        partial = [rel for rel in written if rel.endswith((".tmp.npz", ".tmp"))]
        folders.remove(self.folder, partial)
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in partial])
        self.adopt(config)
        with self.db:
            self.db.execute("BEGIN")
            self._set_meta(
                config_digest=config.digest(),
                config_canonical=json.dumps(config.canonical(), sort_keys=True),
                config_text=config.text,
                config_source=config.source,
            )
        (self.folder / "models").mkdir(exist_ok=True)
        self.write_text("config.toml", config.text)

    def adopt(self, config: Config) -> None:
        """Check that the folder holds nothing of someone else's where ``config`` writes.

        Unrecorded files at the sweep's artefact paths whose content shows they are the
        sweep's are recorded as such.

        Raises
        ------
        StoreError
            If a file at an artefact path was not written by a sweep (one line).
        """
        try:
            adopt = folders.check(self.folder, config, self.written(), has_store=True)
        except FolderError as e:
            raise StoreError(str(e)) from None
        if adopt:
            self.claim(*adopt)

    @classmethod
    def read(cls, folder: str | Path) -> Self:
        """Open an existing results folder for reading (e.g. to re-plot).

        Raises
        ------
        StoreError
            If ``folder`` holds no store, is in use, or its store is unreadable.
        """
        folder = Path(folder)
        if not (folder / DB_NAME).is_file():
            raise StoreError(f"{folder} is not a results folder: it has no {DB_NAME}")
        try:
            lock, _ = cls._locked(folder, create=False)
        except FolderError as e:
            raise StoreError(str(e)) from None
        except OSError as e:
            raise StoreError(_unusable(folder, e)) from None
        try:
            return cls._connect(folder, lock)
        except BaseException:
            os.close(lock)
            raise

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
        """Close the connection and release the folder's lock."""
        self.db.close()
        os.close(self._lock)

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **values: str) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items()
        )

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

    def claim(self, *relative: str) -> Path:
        """Record that the sweep writes these paths (before writing them); return the first.

        One transaction, so claiming a file and its temporary costs one commit.
        """
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO files (path) VALUES (?)", [(r,) for r in relative]
            )
        return self.folder / relative[0]

    def write_text(self, relative: str, text: str) -> None:
        """Write a text artefact atomically (a temporary file, then a rename)."""
        path = self.claim(relative, f"{relative}.tmp")
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    def recorded(self) -> dict[str, tuple[RunStatus, str | None]]:
        """Status and model file of every recorded run, by run id."""
        rows = self.db.execute("SELECT run_id, status, model_file FROM runs")
        return {run_id: (RunStatus(status), model) for run_id, status, model in rows}

    def _save_model(self, result: Result) -> None:
        """Write the result's model to ``models/<run id>.npz`` (a failure is the run's)."""
        if result.arrays is None:
            return
        relative = f"models/{result.run.run_id}.npz"
        partial = f"models/{result.run.run_id}.tmp.npz"
        try:
            self.claim(relative, partial)
            np.savez(self.folder / partial, **result.arrays)
            os.replace(self.folder / partial, self.folder / relative)
            result.model_file = relative
        except OSError as e:  # transient: retried when the sweep is resumed
            result.status, result.message = RunStatus.ERROR, f"cannot save the model: {e}"
            result.model_file = None

    def record(self, result: Result) -> None:
        """Save the run's model, then insert (or replace) the run and its loss history."""
        self._save_model(result)
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
        }
        # every other column is the Result field of that name: a new column is a new
        # migration step and a new field, nothing here
        names = {f.name for f in fields(result)}
        row.update({c: getattr(result, c) for c in self._columns if c in names and c not in row})
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM histories WHERE run_id = ?", (run.run_id,))
            self.db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(row)}) "
                f"VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            if result.history is not None:
                self.db.execute(
                    "INSERT INTO histories (run_id, loss) VALUES (?, ?)",
                    (run.run_id, result.history.astype("<f8").tobytes()),
                )

    def histories(self) -> dict[str, NDArray[np.float64]]:
        """Loss history per run id, for the runs that have one."""
        rows = self.db.execute("SELECT run_id, loss FROM histories")
        return {run_id: np.frombuffer(blob, dtype="<f8") for run_id, blob in rows}

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
        (the reference for rate floors; recorded by the worker with each run).
        """
        raw = pd.read_sql_query("SELECT * FROM runs", self.db)
        raw["max_error_tight"] = raw["max_error_tight"].map(
            lambda v: None if pd.isna(v) else bool(v)
        ).astype(object)
        params = pd.DataFrame([json.loads(p) for p in raw["params"]], index=raw.index)
        info = pd.DataFrame([json.loads(i) for i in raw["info"]], index=raw.index)
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
        table = _in_config_order(table, config)
        if config.task.widthless:  # recorded at width 0: in the table it has none
            table["width"] = table["width"].astype("Int64").mask(table["width"] == 0)
        return table.rename(columns={"target": config.task.subject})

    def begin(self, config: Config, *, jobs: int, executor: str) -> None:
        """Write ``metadata.json`` for a sweep that is starting."""
        self._write_metadata(describe(config, jobs=jobs, executor=executor))

    def export(self, table: pd.DataFrame, summary: pd.DataFrame) -> None:
        """Write ``runs.csv``, ``summary.csv`` and the finished ``metadata.json``."""
        self.write_text("runs.csv", table.to_csv(index=False))
        self.write_text("summary.csv", summary.to_csv(index=False))
        metadata = json.loads((self.folder / "metadata.json").read_text(encoding="utf-8"))
        counts = table["status"].value_counts().sort_index()
        metadata.update(
            ended_at=now(),
            status="complete",
            runs={"total": len(table), **{k: int(v) for k, v in counts.items()}},
        )
        self._write_metadata(metadata)

    def _write_metadata(self, metadata: dict[str, Any]) -> None:
        self.write_text("metadata.json", json.dumps(metadata, indent=2) + "\n")


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


def _unusable(folder: Path, error: OSError) -> str:
    """One line for a folder the OS refuses (read-only, name too long, disk full, …)."""
    where = error.filename or folder
    return f"cannot use {where} as the results folder: {error.strerror or error}"

