"""The shipped sweeps, timed: wall time and where it goes, before and after a change.

Usage::

    python benchmarks/bench_sweeps.py [CONFIG ...] [--jobs 2] [--before REV]
        [--rounds 1] [--set CONFIG:KEY=VALUE ...]

Each CONFIG (default: every ``experiments/*.toml``) runs exactly as a user runs it,
``run-experiment CONFIG --out TMP --jobs J``, in a fresh temporary folder, and the
benchmark prints its wall time (plots included, install excluded) with a breakdown by
method kind read back from the sweep's ``runs.csv``: the summed ``fit_seconds`` and
``eval_seconds`` (the certification and quadrature) of the kind's runs, in worker
seconds. ``other`` is what the J workers' wall time (J × wall) holds beyond the fits and
measurements: starting the workers, the store, saving models, plots, and any time a
worker sat idle. The seconds from the last run's end to the sweep's (tables, plots and
the report, drawn after the runs) are printed apart.

``--before REV`` also runs each config with the package as it was at git revision REV
(a detached worktree in a temporary folder, put first on ``PYTHONPATH``), alternating
before and after in each round, so both see the same machine; the ratio after/before
is printed per round. The first run of a checkout compiles its numba kernels (a new
user pays that once); ``--warmup`` runs each side once first, unreported.
``--set CONFIG:KEY=VALUE`` passes a setting to one config (a documented slice of a
large sweep), e.g. ``--set universal_approximation:widths=[4,8]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "import sys; from approx.cli import main; sys.argv[0] = 'run-experiment'; main()"


def _run(
    config: Path, jobs: int, overrides: list[str], pythonpath: str | None
) -> tuple[float, float, pd.DataFrame]:
    """Run one sweep in a fresh folder; its wall time, the seconds after its last run
    finished (tables, plots, report; to the store's one-second resolution), its runs."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="bench-sweeps-") as folder:
        out = Path(folder) / "out"
        command = [sys.executable, "-c", LAUNCH, str(config.resolve()), *overrides,
                   "--out", str(out), "--jobs", str(jobs)]
        start = time.perf_counter()
        # run from the folder of the tree measured: ``python -c`` puts the working
        # directory first on sys.path, ahead of PYTHONPATH
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              cwd=pythonpath or ROOT)
        wall = time.perf_counter() - start
        ended = pd.Timestamp.now(tz="UTC")
        if not (out / "runs.csv").is_file():  # exit status 1 (some run failed) still counts
            raise SystemExit(f"{config.name} failed (exit {done.returncode}):\n"
                             f"{done.stdout[-1000:]}\n{done.stderr[-2000:]}")
        if done.returncode != 0:
            print(f"  note: exit status {done.returncode} (some runs did not end ok)")
        runs = pd.read_csv(out / "runs.csv")
        last = pd.to_datetime(runs["finished_at"], utc=True).max()
        return wall, (ended - last).total_seconds(), runs


def breakdown(wall: float, jobs: int, runs: pd.DataFrame) -> pd.DataFrame:
    """Fit and measurement worker-seconds by method kind, and the rest of J × wall.

    Parameters
    ----------
    wall : float
        Wall time of the whole sweep, in seconds.
    jobs : int
        Worker processes the sweep ran with.
    runs : pandas.DataFrame
        The sweep's ``runs.csv``.

    Returns
    -------
    pandas.DataFrame
        One row per kind (runs, fit, certify) and a last row ``other``.
    """
    table = runs.groupby("kind").agg(
        runs=("run_id", "size"), fit=("fit_seconds", "sum"), certify=("eval_seconds", "sum"))
    spent = float(table["fit"].sum() + table["certify"].sum())
    table.loc["other"] = [0, jobs * wall - spent, 0.0]
    return table


def _worktree(rev: str, folder: str) -> str:
    """A detached checkout of ``rev`` in ``folder``; returns its path."""
    path = str(Path(folder) / "before")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", path, rev], cwd=ROOT, check=True)
    return path


def _overrides(config: Path, settings: list[str]) -> list[str]:
    """The ``KEY=VALUE`` settings given for this config with ``--set CONFIG:KEY=VALUE``."""
    chosen = []
    for setting in settings:
        name, _, value = setting.partition(":")
        if name == config.stem:
            chosen.append(value)
    return chosen


def _report(label: str, wall: float, tail: float, jobs: int, runs: pd.DataFrame) -> None:
    table = breakdown(wall, jobs, runs)
    print(f"  {label}: {wall:.1f} s wall, {len(runs)} runs, {tail:.0f} s after the last run "
          "(tables, plots, report); worker-seconds by kind:")
    print("    " + table.round(1).to_string().replace("\n", "\n    "))


def _time_config(config: Path, args: argparse.Namespace, old: str | None) -> None:
    """Warm up if asked, then time ``config`` for ``args.rounds`` rounds (before, after)."""
    overrides = _overrides(config, args.settings)
    sides = [("before", old)] if old else []
    sides.append(("after", str(ROOT)))
    print(f"{config.name} {' '.join(overrides)} (--jobs {args.jobs})", flush=True)
    if args.warmup:
        for _, path in sides:
            _run(config, args.jobs, overrides, path)
    for index in range(args.rounds):
        walls = {}
        for label, path in sides:
            walls[label], tail, runs = _run(config, args.jobs, overrides, path)
            _report(f"round {index + 1} {label}", walls[label], tail, args.jobs, runs)
        if len(walls) == 2:
            ratio = walls["after"] / walls["before"]
            print(f"  round {index + 1}: after/before = {ratio:.2f}", flush=True)


def main() -> None:
    """Time each config (before and after), printing wall times and breakdowns."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--before", metavar="REV")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--warmup", action="store_true",
                        help="run each config once per side first, unreported (numba's caches)")
    args = parser.parse_args()
    configs = args.configs or sorted((ROOT / "experiments").glob("*.toml"))
    with tempfile.TemporaryDirectory(prefix="bench-sweeps-rev-") as folder:
        old = _worktree(args.before, folder) if args.before else None
        try:
            for config in configs:
                _time_config(config, args, old)
        finally:
            if old is not None:
                subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
