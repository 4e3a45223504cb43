"""The results folder: an sqlite store of record and the files exported from it.

``results/<name>/`` holds

- ``runs.sqlite``: the store of record. A run is one row of ``runs`` (plus its loss
  history in ``histories``), inserted in one transaction, so a sweep killed at any
  instant, ``kill -9`` included, never loses or duplicates a finished run;
- ``config.toml``: the config snapshot (also kept in the store's ``meta`` table);
- ``runs.csv`` and ``summary.csv``: tidy exports of the store;
- ``metadata.json``: versions, platform, the fused engine (numba or numpy) per activation,
  git commit, root seed, times, counts by status;
- ``models/<run id>.npz``: each fitted model, readable by :func:`approx.models.load_model`;
- ``plots/``: the figures (:mod:`approx.experiment.plots`).
"""

from __future__ import annotations

import json
import platform
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from approx.experiment.config import Config, parse_config
from approx.nn.activations import ACTIVATIONS
from approx.nn.engine import fused_backend

if TYPE_CHECKING:
    from approx.experiment.worker import Result

__all__ = ["DB_NAME", "TIMING_COLUMNS", "Store", "StoreError"]

DB_NAME = "runs.sqlite"
#: columns that differ between otherwise identical sweeps
TIMING_COLUMNS = ("fit_seconds", "eval_seconds", "finished_at")
_PACKAGES = ("numpy", "scipy", "pandas", "matplotlib", "typer", "rich", "numba", "approx")
#: everything a sweep writes; ``--fresh`` removes exactly these, never the folder itself
_OWNED = (
    DB_NAME,
    f"{DB_NAME}-wal",
    f"{DB_NAME}-shm",
    "config.toml",
    "runs.csv",
    "summary.csv",
    "metadata.json",
    "models",
    "plots",
)

_SCHEMA = """
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
"""

#: runs.csv column order; method parameters (``param_*``) and facts (``info_*``) follow
_COLUMNS = [
    "run_id",
    "target",
    "method",
    "kind",
    "width",
    "replicate",
    "seed",
    "n_params",
    "max_error",
    "max_error_at",
    "l2_error",
    "fit_seconds",
    "eval_seconds",
    "status",
    "message",
    "model_file",
    "finished_at",
]


class StoreError(ValueError):
    """A results folder that cannot be used as asked (e.g. it holds another config's runs)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A results folder and its sqlite store of record.

    Open it with :meth:`open` (to run a sweep) or :meth:`read` (to re-plot); use it as a
    context manager so the connection is closed.
    """

    def __init__(self, folder: Path, connection: sqlite3.Connection) -> None:
        self.folder = folder
        self.db = connection

    @classmethod
    def _connect(cls, folder: Path) -> Self:
        db = sqlite3.connect(folder / DB_NAME, isolation_level=None)
        # WAL with synchronous=NORMAL: each commit is atomic and survives the process being
        # killed; only an OS crash could drop the last commits (never corrupt the store)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return cls(folder, db)

    @classmethod
    def open(cls, folder: Path, config: Config, *, fresh: bool = False) -> Self:
        """Open ``folder`` for running ``config``, creating it if needed.

        Raises
        ------
        StoreError
            If the folder holds runs of a config with another digest and ``fresh`` is false.
        """
        folder = Path(folder)
        if fresh:
            for name in _OWNED:
                path = folder / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        (folder / "models").mkdir(parents=True, exist_ok=True)
        for partial in (folder / "models").glob("*.tmp.npz"):  # left by a killed sweep
            partial.unlink()
        store = cls._connect(folder)
        meta = store.meta()
        n_runs = store.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if n_runs and meta.get("config_digest") != config.digest():
            store.close()
            old = json.loads(meta.get("config_canonical", "{}"))
            changed = [k for k, v in config.canonical().items() if old.get(k) != v]
            raise StoreError(
                f"{folder} holds {n_runs} runs of another config (changed: "
                f"{', '.join(changed)}); rerun with --fresh to discard them, "
                "or choose another folder with --out"
            )
        with store.db:
            store.db.execute("BEGIN")
            store._set_meta(
                config_digest=config.digest(),
                config_canonical=json.dumps(config.canonical(), sort_keys=True),
                config_text=config.text,
                config_source=config.source,
            )
        (folder / "config.toml").write_text(config.text, encoding="utf-8")
        return store

    @classmethod
    def read(cls, folder: str | Path) -> Self:
        """Open an existing results folder for reading (e.g. to re-plot).

        Raises
        ------
        StoreError
            If ``folder`` holds no store.
        """
        folder = Path(folder)
        if not (folder / DB_NAME).is_file():
            raise StoreError(f"{folder} is not a results folder: it has no {DB_NAME}")
        return cls._connect(folder)

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
        """Close the connection."""
        self.db.close()

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **values: str) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items()
        )

    def config(self) -> Config:
        """The config the stored runs came from, re-read from the store's snapshot."""
        meta = self.meta()
        return parse_config(meta["config_text"], str(self.folder / "config.toml"))

    def finished(self) -> set[str]:
        """Ids of the runs already recorded (whatever their status)."""
        return {row[0] for row in self.db.execute("SELECT run_id FROM runs")}

    def record(self, result: Result) -> None:
        """Insert one run and its loss history in a single transaction."""
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
            "n_params": result.n_params,
            "max_error": result.max_error,
            "max_error_at": result.max_error_at,
            "l2_error": result.l2_error,
            "fit_seconds": result.fit_seconds,
            "eval_seconds": result.eval_seconds,
            "status": result.status,
            "message": result.message,
            "info": json.dumps(result.info, sort_keys=True),
            "model_file": result.model_file,
            "finished_at": _now(),
        }
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
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

        Method parameters become ``param_<name>`` columns, the methods' extra facts
        ``info_<name>`` columns.
        """
        raw = pd.read_sql_query("SELECT * FROM runs", self.db)
        params = pd.DataFrame([json.loads(p) for p in raw["params"]], index=raw.index)
        info = pd.DataFrame([json.loads(i) for i in raw["info"]], index=raw.index)
        table = pd.concat(
            [raw[_COLUMNS], params.add_prefix("param_"), info.add_prefix("info_")], axis=1
        )
        target_rank = {t.name: i for i, t in enumerate(config.targets)}
        method_rank = {m.name: i for i, m in enumerate(config.methods)}
        return (
            table.assign(_t=table["target"].map(target_rank), _m=table["method"].map(method_rank))
            .sort_values(["_t", "_m", "width", "replicate"])
            .drop(columns=["_t", "_m"])
            .reset_index(drop=True)
        )

    def begin(self, config: Config, *, jobs: int) -> None:
        """Write ``metadata.json`` for a sweep that is starting."""
        self._write_metadata(
            {
                "name": config.name,
                "description": config.description,
                "config": config.source,
                "config_digest": config.digest(),
                "root_seed": config.seed,
                "jobs": jobs,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": _versions(),
                # the last bits of a gradient depend on which fused 1→d→1 pass runs
                "fused_engine": {name: fused_backend(None, name) for name in ACTIVATIONS},
                "git": _git(Path(config.source).resolve().parent),
                "started_at": _now(),
                "ended_at": None,
                "status": "running",
            }
        )

    def export(self, table: pd.DataFrame, summary: pd.DataFrame) -> None:
        """Write ``runs.csv``, ``summary.csv`` and the finished ``metadata.json``."""
        table.to_csv(self.folder / "runs.csv", index=False)
        summary.to_csv(self.folder / "summary.csv", index=False)
        metadata = json.loads((self.folder / "metadata.json").read_text(encoding="utf-8"))
        counts = table["status"].value_counts().sort_index()
        metadata.update(
            ended_at=_now(),
            status="complete",
            runs={"total": len(table), **{k: int(v) for k, v in counts.items()}},
        )
        self._write_metadata(metadata)

    def _write_metadata(self, metadata: dict[str, Any]) -> None:
        path = self.folder / "metadata.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def _versions() -> dict[str, str | None]:
    def one(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: one(name) for name in _PACKAGES}


def _git(directory: Path) -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout holding ``directory``; None outside one."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}
