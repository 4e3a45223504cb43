"""Runner overhead per run (serial, process pool, Dask), and wall-clock speed-ups.

Usage::

    python benchmarks/bench_runner.py [--runs 600] [--skip-quickstart] [--serial-only]
        [--speedup [--max-width 1024]]

The overhead sweep fits the cheapest method (the uniform ±ReLU interpolant, which is
deterministic and so runs once per width) at ``runs`` distinct widths; per run it
reports the wall time of the whole sweep minus the summed fit time (what the runner
adds: seeding, measuring the errors, saving the model, the store's transaction,
progress), and that minus the error measurement too (the runner's own bookkeeping).
It does so serially, in a local pool of 2 processes and on a Dask ``LocalCluster`` of 2
workers (start-up included, and reported apart). Target: under 5 ms per run serially.
First it times, for a pool of one spawned process and a Dask cluster of one worker, the
seconds from creating the workers to the first result of a construction run (target:
0.5 s for the pool).

``--speedup`` runs ``experiments/universal_approximation.toml`` (widths up to
``--max-width``) with ``--jobs 1`` and ``--jobs 2`` and prints the ratio of wall times;
it takes about half an hour at the full widths on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


# (the sweep's modules are imported in the functions: a spawned worker imports this
# script again as its main module, and must load only what a worker does)


def _startup(executor: str, jobs: int) -> float:
    """Wall time of a sweep with a single cheap run: starting the workers, mostly."""
    from approx.experiment import parse_config, run_sweep

    config = parse_config(OVERHEAD_CONFIG.format(widths=[4]))
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_sweep(config, folder, jobs=jobs, executor=executor)
        return time.perf_counter() - start


def first_result(executor: str) -> None:
    """Seconds from creating the workers (a local pool of 1 spawned process, or a Dask
    ``LocalCluster`` of 1 worker) to the first result of a construction run: the
    worker's start-up and imports, the target's certified facts, the fit and its
    measurement."""
    from approx.experiment import executors, parse_config
    from approx.experiment.expansion import expand
    from approx.experiment.worker import execute

    run = next(iter(expand(parse_config(OVERHEAD_CONFIG.format(widths=[64])))))
    start = time.perf_counter()
    if executor == "dask":
        client, cluster = executors._client(1, None)
        try:
            up = time.perf_counter()
            result = client.submit(execute, run, pure=False).result()
        finally:
            client.close()
            cluster.close()
    else:
        pool = executors._new_pool(1)
        try:
            up = time.perf_counter()
            result = pool.submit(execute, run).result()
        finally:
            pool.shutdown()
    done = time.perf_counter()
    print(f"{executor}: first result of a construction run {done - start:.2f} s after "
          f"creating the workers ({up - start:.2f} s to create them; status {result.status})")


class _Clock:
    """A reporter that notes when each result is recorded, with its fit's seconds."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.fits: list[float] = []

    def note(self, message: str) -> None:
        pass

    def start(self, total: int, done: int) -> None:
        self.times.append(time.perf_counter())

    def advance(self, result) -> None:  # (a Result)
        self.times.append(time.perf_counter())
        self.fits.append(result.fit_seconds)

    def beyond_fit(self) -> list[float]:
        """Per run after the first: the seconds from the previous result to this one's,
        minus its fit (the first run also pays the process's one-off costs)."""
        steps = [b - a for a, b in zip(self.times[1:], self.times[2:], strict=False)]
        return [step - fit for step, fit in zip(steps, self.fits[1:], strict=True)]


def overhead(runs: int, jobs: int, executor: str = "local") -> None:
    """Time a sweep of ``runs`` cheap runs with ``jobs`` workers and print per-run costs;
    serially also the median (and quartiles) of each run's wall time beyond its fit."""
    import numpy as np

    from approx.experiment import parse_config, run_sweep

    config = parse_config(OVERHEAD_CONFIG.format(widths=list(range(4, 4 + runs))))
    startup = _startup(executor, jobs) if jobs > 1 or executor == "dask" else 0.0
    clock = _Clock()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        table = run_sweep(config, folder, jobs=jobs, executor=executor, reporter=clock)
        wall = time.perf_counter() - start - startup
    n = len(table)
    fit, evaluation = table["fit_seconds"].sum(), table["eval_seconds"].sum()
    # with several processes the fits overlap, so compare against work per process
    busy = (fit + evaluation) / jobs
    name = "serial" if jobs == 1 and executor == "local" else f"{executor} jobs={jobs}"
    print(
        f"{name}: {n} runs in {wall:.2f} s wall after {startup:.2f} s start-up; per run: "
        f"fit {1e3 * fit / n:.2f} ms, error measurement {1e3 * evaluation / n:.2f} ms, "
        f"overhead beyond the fit {1e3 * (wall - fit / jobs) / n:.2f} ms, "
        f"runner bookkeeping (beyond fit and measurement) {1e3 * (wall - busy) / n:.2f} ms"
    )
    if jobs == 1 and executor == "local":
        q1, median, q3 = 1e3 * np.percentile(clock.beyond_fit(), [25, 50, 75])
        print(f"serial, each run's wall time beyond its fit: median {median:.2f} ms "
              f"(quartiles {q1:.2f}–{q3:.2f} ms)")


def speedup(max_width: int) -> None:
    """Wall time of the universal-approximation sweep with 1 and 2 workers, and the ratio."""
    text = (ROOT / "experiments" / "universal_approximation.toml").read_text(encoding="utf-8")
    widths = [w for w in (2**k for k in range(1, 13)) if w <= max_width]
    text = re.sub(r"(?m)^widths = \[.*\]", f"widths = {widths}", text)
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ua.toml"
        config.write_text(text, encoding="utf-8")
        for jobs in (1, 2):
            command = [sys.executable, "-m", "approx", str(config), "--out",
                       str(Path(tmp) / f"jobs{jobs}"), "--quiet", "--jobs", str(jobs)]
            start = time.perf_counter()
            subprocess.run(command, check=False)
            walls[jobs] = time.perf_counter() - start
            print(f"universal_approximation (widths ≤ {max_width}), --jobs {jobs}: "
                  f"{walls[jobs]:.0f} s wall", flush=True)
    print(f"speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}×")


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
    parser.add_argument("--serial-only", action="store_true",
                        help="only the start-up and the serial overhead")
    parser.add_argument("--speedup", action="store_true",
                        help="also time universal_approximation.toml with 1 and 2 workers")
    parser.add_argument("--max-width", type=int, default=4096,
                        help="largest width of the speed-up sweep")
    args = parser.parse_args()
    first_result("local")
    first_result("dask")
    overhead(args.runs, jobs=1)
    if args.serial_only:
        return
    overhead(args.runs, jobs=2)
    overhead(args.runs, jobs=2, executor="dask")
    if not args.skip_quickstart:
        quickstart()
    if args.speedup:
        speedup(args.max_width)


if __name__ == "__main__":
    main()
