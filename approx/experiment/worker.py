"""The process around one run: time limits, one BLAS thread, failures as data.

Kept apart from the runner so a worker imports only what fitting needs (numpy, scipy,
the library), not pandas, sqlite or matplotlib. A worker writes nothing: it returns the
result with the model's arrays, and the sweep's own process saves them (a remote Dask
worker shares no disk with it). What a run computes is its task's
(:attr:`approx.experiment.tasks.Task.execute`, in :mod:`approx.experiment.measure`).
"""

from __future__ import annotations

import math
import platform
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from approx.core import deadline
from approx.core.orphans import exit_with
from approx.core.status import RunStatus
from approx.core.threads import one_thread
from approx.experiment import batching
from approx.experiment.measure import Result
from approx.experiment.provenance import run_engine
from approx.experiment.specs import Run
from approx.experiment.tasks import TASKS

__all__ = ["Result", "execute", "execute_group", "hard_limit", "pool_worker", "probe", "work"]


#: the longest hard limit, in seconds (a C int; about 68 years)
MAX_ALARM = 2**31 - 1


def hard_limit(time_limit: float) -> int:
    """Seconds after which a local pool worker is killed: the time limit's last resort.

    Twice the limit plus 5 s, so a fit that checks its deadline now and then always
    stops on its own first; at most :data:`MAX_ALARM` (what ``signal.alarm`` takes).
    """
    return math.ceil(min(2 * time_limit + 5, MAX_ALARM))


#: set in local pool workers only: they may be killed by SIGALRM (never the sweep's process)
_IN_POOL = False


@contextmanager
def _alarm(time_limit: float | None) -> Iterator[None]:
    """In a pool worker, SIGALRM (default action: end the process) at :func:`hard_limit`."""
    if not (_IN_POOL and time_limit is not None and hasattr(signal, "alarm")):
        yield
        return
    signal.alarm(hard_limit(time_limit))
    try:
        yield
    finally:
        signal.alarm(0)


def execute(run: Run, time_limit: float | None = None) -> Result:
    """Fit ``run`` and measure its errors, within ``time_limit`` seconds if given.

    Never raises for a failed fit: the failure is the result's status and message. The
    result names this process's host and fused engine for the run (a remote worker's
    may differ from the sweep's process).
    """
    engine = run_engine(run.method.kwargs, run.width, run.task)
    result = Result(run, host=platform.node(), engine=engine)
    # the last bits of a BLAS result depend on its thread count: one thread in every
    # process keeps a run's numbers the same in-process and in a pool of any size
    with one_thread(), _alarm(time_limit):
        start = time.perf_counter()
        try:
            with deadline.time_limit(time_limit):
                TASKS[run.task].execute(run, result)
        except deadline.DeadlineExceeded as e:
            elapsed = time.perf_counter() - start
            result.status = RunStatus.TIMEOUT
            result.message = f"{e} (stopped after {elapsed:.3g} s)"
            result.arrays = None
        except Exception as e:  # a failed run is data, not a crash of the sweep
            result.status, result.message = RunStatus.ERROR, f"{type(e).__name__}: {e}"
            result.arrays = None
    return result


def execute_group(runs: Sequence[Run], time_limit: float | None = None) -> list[Result]:
    """Fit a group of runs (:mod:`approx.experiment.batching`) together, then measure each.

    The nets are trained together (:func:`~approx.experiment.batching.fit_ahead`, bit for
    bit as one at a time); then each run goes through :func:`execute` as alone, its fit
    taken from the group's. Each run keeps its own time limit: the group's training may
    take the runs' limits together, and each run then has its limit less its share of
    the training for the rest; its ``fit_seconds`` include that share. Never raises.
    """
    from approx.train.recipe import fitted_ahead

    start = time.perf_counter()
    try:
        with one_thread(), _alarm(None if time_limit is None else time_limit * len(runs)):
            ahead = batching.fit_ahead(runs, time_limit)
    except Exception:  # the group could not be set up: each run alone says why
        ahead = {}
    share = (time.perf_counter() - start) / len(runs)
    left = None if time_limit is None else max(time_limit - share, 1e-3)
    results = []
    with fitted_ahead(ahead):
        for run in runs:
            result = execute(run, left)
            result.fit_seconds += share
            if result.status == RunStatus.TIMEOUT:
                result.message += f"; trained in a group of {len(runs)} ({share:.3g} s its share)"
            results.append(result)
    return results


def work(item: batching.Item, time_limit: float | None = None) -> list[Result]:
    """What an executor hands a worker: one run (:func:`execute`) or a group of runs
    (:func:`execute_group`); the results in the item's order."""
    if isinstance(item, tuple):
        return execute_group(item, time_limit)
    return [execute(item, time_limit)]


def probe() -> str:
    """A cheap first task on a remote cluster: proves its workers can import approx."""
    return "ok"


def pool_worker(parent: int) -> None:
    """Initializer of a local pool worker.

    Allows the hard time limit (SIGALRM) in this process, and ends the worker when the
    sweep's process dies (even by SIGKILL): an orphaned worker would otherwise wait for
    work for ever.
    """
    global _IN_POOL
    _IN_POOL = True
    exit_with(parent)
