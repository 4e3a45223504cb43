"""Shared helpers for the experiment tests: small configs and fake methods.

The fake methods are registered in the parent process only (monkeypatched method table),
so tests that use them run with ``jobs=1``; pool tests use the real, cheap methods.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from approx import methods
from approx.core.options import Option
from approx.experiment.store import DB_NAME
from approx.methods import Fit, Method
from approx.nn import MLP
from approx.problems.targets import Target


def lstsq_relu(target: Target, width: int, rng: np.random.Generator, *, scale: float) -> Fit:
    """Random ReLU features with least-squares output weights: cheap, and seed-dependent."""
    a, b = target.domain
    w = rng.choice([-1.0, 1.0], size=width) * scale
    c = -w * rng.uniform(a, b, size=width)
    x = np.linspace(a, b, 257)
    features = np.maximum(0.0, np.outer(x, w) + c)
    design = np.column_stack([features, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, target(x), rcond=None)
    net = MLP.from_params([w[None, :], coef[:-1, None]], [c, coef[-1:]])
    history = np.geomspace(1.0, 1e-3, 5) / width
    return Fit(net, net.n_params, history=history, info={"steps": np.int64(5)})


def broken(target: Target, width: int, rng: np.random.Generator, *, fail_at: int) -> Fit:
    """Raises at width ``fail_at``, reports divergence one width above, else works."""
    if width == fail_at:
        raise RuntimeError("simulated failure")
    fit = lstsq_relu(target, width, rng, scale=1.0)
    if width == fail_at + 1:
        fit.status, fit.message = "diverged", "loss became non-finite"
    return fit


FAKE = {
    "fake-relu": Method(
        "fake-relu",
        lstsq_relu,
        (Option("scale", float, 1.0, "weight magnitude", minimum=0.0),),
        "test-only random ReLU features",
        random=True,
    ),
    "fake-broken": Method(
        "fake-broken",
        broken,
        (Option("fail_at", int, 4, "width that raises"),),
        "test-only method that fails at some widths",
        min_width=3,
    ),
}


@pytest.fixture
def fake_methods(monkeypatch: pytest.MonkeyPatch) -> dict[str, Method]:
    """Register the fake method kinds in the registry (in this process only)."""
    for kind, method in FAKE.items():
        monkeypatch.setitem(methods.METHODS, kind, method)
    return FAKE


FAKE_CONFIG = """
name = "fake"
seed = 7
replicates = 2
widths = [3, 6, 12]

[[targets]]
name = "sin2pi"

[[targets]]
name = "bump"
expr = "exp(-x**2) * cos(3*x)"
domain = [-2.0, 2.0]

[[methods]]
name = "relu-a"
kind = "fake-relu"

[[methods]]
name = "relu-b"
kind = "fake-relu"
scale = 2
"""


@pytest.fixture
def fake_config() -> str:
    """TOML text of a small sweep over the fake methods (2 × 2 × 3 widths × 2 replicates)."""
    return FAKE_CONFIG


@pytest.fixture
def write(tmp_path: Path):
    """Write TOML text to a file in tmp_path and return its path."""

    def _write(text: str, name: str = "sweep.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def _count(folder: Path) -> int:
    """Runs recorded so far (read-only, so the sweep's store is never touched)."""
    try:
        with sqlite3.connect(f"file:{folder / DB_NAME}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc; empty elsewhere)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture
def recorded():
    """Count the runs recorded in a results folder (read-only; 0 before the store exists)."""
    return _count


@pytest.fixture
def session():
    """List the live processes of a session (to find workers left by a killed sweep)."""
    return _session


def _undo_provenance(db: sqlite3.Connection) -> None:
    """Take a store back to schema 7: no invocations, no provenance nor degenerate flag."""
    db.execute("DROP TABLE invocations")
    for column in ("invocation", "host", "engine", "degenerate"):
        db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    db.execute("PRAGMA user_version = 7")


@pytest.fixture
def undo_provenance():
    """A function taking an open store connection back to schema 7 (before step 8)."""
    return _undo_provenance
