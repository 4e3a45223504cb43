"""Runner overhead per run beyond the fit, and the wall time of the quickstart sweep.

Usage::

    python benchmarks/bench_runner.py [--runs 600] [--skip-quickstart]

The overhead sweep fits the cheapest method (the uniform ±ReLU interpolant, which is
deterministic and so runs once per width) at ``runs`` distinct widths; per run it
reports the wall time of the whole sweep minus the summed fit time (what the runner
adds: seeding, measuring the errors, saving the model, the store's transaction,
progress), and that minus the error measurement too (the runner's own bookkeeping).
Target: under 5 ms per run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from approx.experiment import parse_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]

OVERHEAD_CONFIG = """
name = "bench-overhead"
widths = {widths}

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


def overhead(runs: int, jobs: int) -> None:
    """Time a sweep of ``runs`` cheap runs with ``jobs`` processes and print per-run costs."""
    config = parse_config(OVERHEAD_CONFIG.format(widths=list(range(4, 4 + runs))))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        table = run_sweep(config, folder, jobs=jobs)
        wall = time.perf_counter() - start
    n = len(table)
    fit, evaluation = table["fit_seconds"].sum(), table["eval_seconds"].sum()
    # with several processes the fits overlap, so compare against work per process
    busy = (fit + evaluation) / jobs
    print(
        f"jobs={jobs}: {n} runs in {wall:.2f} s wall; per run: fit {1e3 * fit / n:.2f} ms, "
        f"error measurement {1e3 * evaluation / n:.2f} ms, "
        f"overhead beyond the fit {1e3 * (wall - fit / jobs) / n:.2f} ms, "
        f"runner bookkeeping (beyond fit and measurement) {1e3 * (wall - busy) / n:.2f} ms"
    )


def quickstart() -> None:
    """Wall time of ``run-experiment experiments/quickstart.toml`` (fresh, all cores)."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "approx",
            str(ROOT / "experiments" / "quickstart.toml"),
            "--out",
            folder,
            "--quiet",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
    print(f"quickstart sweep (all cores, plots included): {wall:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600, help="cheap runs in the overhead sweep")
    parser.add_argument("--skip-quickstart", action="store_true")
    args = parser.parse_args()
    overhead(args.runs, jobs=1)
    overhead(args.runs, jobs=2)
    if not args.skip_quickstart:
        quickstart()


if __name__ == "__main__":
    main()
