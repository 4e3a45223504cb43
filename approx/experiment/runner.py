"""Run a sweep: fit every pending run, serially or in a pool of processes, and record it.

:func:`~approx.experiment.worker.execute` fits and measures one run, in this process
or in spawned workers. Workers return plain results (and write their model's ``.npz``);
only the parent process writes to the store, one transaction per run, so a sweep killed
at any instant resumes where it stopped. Every run's numbers depend on its seed alone,
so the results are the same whatever the number of processes, provided every process
uses the same number of BLAS threads (the CLI pins one; workers get one by default).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from approx.experiment.config import Config, Run, expand
from approx.experiment.store import Store
from approx.experiment.worker import Result, execute, exit_with

__all__ = ["Reporter", "run_sweep", "summarize"]

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class Reporter(Protocol):
    """Receives progress: the sweep's size once, then each result as it is recorded."""

    def start(self, total: int, done: int) -> None: ...

    def advance(self, result: Result) -> None: ...


def _serial(runs: list[Run], folder: Path) -> Iterator[Result]:
    for run in runs:
        yield execute(run, folder)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Spawned workers inherit one BLAS thread each (unless the user chose otherwise).

    Each worker already has a core; threaded BLAS in every worker oversubscribes the
    cores and makes the small least-squares problems of a sweep several times slower.
    """
    saved = dict(os.environ)
    for name in _BLAS_THREADS:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _pool(runs: list[Run], folder: Path, jobs: int) -> Iterator[Result]:
    # spawn, not fork: the parent may hold threads (progress display, BLAS)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
    )
    try:
        # widest first: the slowest runs start early, so the pool drains evenly
        order = sorted(runs, key=lambda r: -r.width)
        with _one_blas_thread():  # workers are spawned on submit
            futures = [pool.submit(execute, run, folder) for run in order]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_sweep(
    config: Config,
    folder: str | Path,
    *,
    jobs: int | None = None,
    fresh: bool = False,
    reporter: Reporter | None = None,
) -> pd.DataFrame:
    """Run every pending run of ``config`` into the results ``folder``; return all runs.

    Parameters
    ----------
    config : Config
        The validated sweep.
    folder : path
        The results folder; created if needed. Runs already recorded there are skipped.
    jobs : int, optional
        Worker processes; 1 runs in this process. Default: the machine's cores.
    fresh : bool
        Discard what the folder holds first (required when it holds another config's runs).
    reporter : Reporter, optional
        Told the sweep's size and each recorded result (e.g. a progress bar).

    Returns
    -------
    DataFrame
        One row per run of the sweep, as written to ``runs.csv``.

    Raises
    ------
    StoreError
        If the folder holds runs of a different config and ``fresh`` is false.
    """
    folder = Path(folder)
    jobs = jobs or os.cpu_count() or 1
    with Store.open(folder, config, fresh=fresh) as store:
        runs = expand(config)
        done = store.finished()
        pending = [r for r in runs if r.run_id not in done]
        store.begin(config, jobs=jobs)
        if reporter is not None:
            reporter.start(len(runs), len(runs) - len(pending))
        results: Iterable[Result] = (
            _pool(pending, folder, min(jobs, len(pending)))
            if jobs > 1 and len(pending) > 1
            else _serial(pending, folder)
        )
        for result in results:
            store.record(result)
            if reporter is not None:
                reporter.advance(result)
        table = store.table(config)
        store.export(table, summarize(table))
    return table


#: errors at or below this are rounding noise (a few thousand ulps of an O(1) function)
ROUNDOFF_FLOOR = 1e-11


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: ε at the largest width and the fitted rate.

    The rate is the least-squares slope of log ε against log d over the runs whose status
    is ok (every replicate a point) and whose ε lies above :data:`ROUNDOFF_FLOOR`: once a
    method has converged to rounding, wider nets only add noise, and the slope would
    mix the method's rate with the floor. ε at the largest width is the median over
    replicates of the ok runs there.

    Parameters
    ----------
    table : DataFrame
        The runs, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        Columns target, method, kind, runs, failed, largest_width, max_error, rate.
    """
    keys = ["target", "method"]
    counts = table.groupby(keys, sort=False).agg(
        kind=("kind", "first"),
        runs=("status", "size"),
        failed=("status", lambda s: int((s != "ok").sum())),
    )
    ok = table[table["status"] == "ok"]
    positive = ok[ok["max_error"] > ROUNDOFF_FLOOR]
    logs = pd.DataFrame(
        {
            "target": positive["target"],
            "method": positive["method"],
            "x": np.log(positive["width"].astype(float)),
            "y": np.log(positive["max_error"]),
        }
    ).assign(xy=lambda f: f.x * f.y, xx=lambda f: f.x**2)
    sums = logs.groupby(keys, sort=False).agg(
        n=("x", "size"), x=("x", "sum"), y=("y", "sum"), xy=("xy", "sum"), xx=("xx", "sum")
    )
    denominator = sums.n * sums.xx - sums.x**2
    rate = (sums.n * sums.xy - sums.x * sums.y) / denominator.where(denominator > 1e-12)
    largest = ok[ok["width"] == ok.groupby(keys, sort=False)["width"].transform("max")]
    at_largest = largest.groupby(keys, sort=False).agg(
        largest_width=("width", "first"), max_error=("max_error", "median")
    )
    return (
        counts.join(at_largest)
        .join(rate.rename("rate"))
        .reset_index()
        .astype({"largest_width": "Int64"})
    )
