"""Run a sweep: pick the runs to do, hand them to an executor, record each result.

An executor (:mod:`approx.experiment.executors`) fits the runs, in this process, a local
pool of processes or on Dask, and returns plain results; only this process writes the
store and ``models/``, one transaction per run, so a sweep killed at any instant resumes
where it stopped. Every run's numbers depend on its seed alone, so the results are the
same whatever the executor and the number of workers, provided every process uses one
BLAS thread (the CLI pins it; workers are given one).

On resume, runs never recorded are run; runs that failed for a transient reason (an
exception, a killed worker) are retried; runs whose failure a rerun would only repeat
(diverged, non-finite, timeout, stalled) are retried only with ``retry_failed``; an ok
run whose model file has gone is refitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pandas as pd

from approx import analysis
from approx.core import validate
from approx.core.status import RunStatus
from approx.experiment import executors, resources
from approx.experiment.config import Config, Run, count_runs, expand
from approx.experiment.store import Store
from approx.experiment.worker import Result

__all__ = ["Reporter", "run_sweep", "summarize", "summarize_classification"]


class Reporter(Protocol):
    """Receives progress: notes, the sweep's size once, then each result as recorded."""

    def note(self, message: str) -> None: ...

    def start(self, total: int, done: int) -> None: ...

    def advance(self, result: Result) -> None: ...


class _Silent:
    def note(self, message: str) -> None:
        pass

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, result: Result) -> None:
        pass


def _kept(store: Store, retry_failed: bool, reporter: Reporter) -> tuple[set[str], bool]:
    """Ids of the recorded runs to keep; the others are run again (saying why, one line).

    Also whether a run to redo once killed its worker: it must not run in this process.
    """
    keep = set()
    transient = final = missing = 0
    killed = False
    for run_id, (status, model_file) in store.recorded().items():
        if status.transient:
            transient += 1
            killed |= status == RunStatus.KILLED
        elif status != RunStatus.OK and retry_failed:
            final += 1
        elif status == RunStatus.OK and model_file and not (store.folder / model_file).is_file():
            missing += 1
        else:
            keep.add(run_id)
    for count, why in (
        (transient, "failed for a transient reason (an error or a killed worker)"),
        (final, "failed (--retry-failed)"),
        (missing, "lost their model file"),
    ):
        if count:
            reporter.note(f"retrying {count} run(s) that {why}")
    return keep, killed


def run_sweep(
    config: Config,
    folder: str | Path,
    *,
    jobs: int | None = None,
    fresh: bool = False,
    reporter: Reporter | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    retry_failed: bool = False,
    memory_limit: int | None = None,
    time_limit: float | None = None,
) -> pd.DataFrame:
    """Run every pending run of ``config`` into the results ``folder``; return all runs.

    Parameters
    ----------
    config : Config
        The validated sweep.
    folder : path
        The results folder; created if needed. Runs already recorded there are skipped
        (except those to repair; see the module docstring).
    jobs : int, optional
        Worker processes (default: the machine's cores, and never more locally; 1 runs
        in this process), or with ``scheduler`` the runs in flight (default: the
        cluster's worker threads).
    fresh : bool
        Remove what earlier sweeps wrote in the folder first (required when it holds
        another config's runs); files no sweep wrote are never touched.
    reporter : Reporter, optional
        Told notes, the sweep's size and each recorded result (e.g. a progress bar).
    executor : {"local", "dask"}
        Local processes, or tasks on a Dask cluster.
    scheduler : str, optional
        Address of a running Dask scheduler (``executor="dask"`` only); without it a
        ``LocalCluster`` of ``jobs`` workers is started.
    retry_failed : bool
        Also rerun runs whose recorded failure is final (diverged, timeout, …).
    memory_limit : int, optional
        Bytes the runs in memory at once on this machine may use; default half of the
        available memory.
    time_limit : float, optional
        Seconds per run (overrides the config's ``time_limit``); past it a run is
        recorded with status ``"timeout"`` (:attr:`RunStatus.TIMEOUT`).

    Returns
    -------
    DataFrame
        One row per run of the sweep, as written to ``runs.csv``.

    Raises
    ------
    StoreError
        If the folder cannot be used as asked (see :meth:`Store.open`).
    ResourceError
        If the largest run, once per local worker, exceeds the memory budget.
    ExecutorError
        If the executor cannot start.
    """
    folder = Path(folder)
    reporter = reporter or _Silent()
    validate.lookup(executors.EXECUTORS, executor, "executor")  # before anything is written
    if scheduler is not None and executor != "dask":
        raise executors.ExecutorError("a scheduler address needs the dask executor")
    if scheduler is None:
        jobs, lowered = resources.local_workers(jobs)
        if lowered:
            reporter.note(lowered)
        resources.check_memory(config, jobs, memory_limit)
    elif memory_limit is not None:  # remote workers: a budget per worker, if one is given
        resources.check_memory(config, 1, memory_limit)
    time_limit = time_limit if time_limit is not None else config.time_limit
    with Store.open(folder, config, fresh=fresh) as store:
        keep, killed = _kept(store, retry_failed, reporter)
        total = count_runs(config)
        # a run that once killed its worker would kill this process: never run it here
        parallel = total > len(keep) and ((jobs or 1) > 1 or executor == "dask" or killed)
        pending: Iterator[Run] = (
            run for run in expand(config, widest_first=parallel) if run.run_id not in keep
        )
        store.begin(config, jobs=jobs, executor=executor if parallel else "serial")
        reporter.start(total, len(keep))
        fit = executors.EXECUTORS[executor] if parallel else executors.serial
        for result in fit(pending, jobs=jobs, time_limit=time_limit, scheduler=scheduler,
                          note=reporter.note):
            store.record(result)
            reporter.advance(result)
        table = store.table(config)
        store.export(table, summarize(table))
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: ε at the largest width and the fitted rates.

    A classification table (one with a ``dataset`` column) gets
    :func:`summarize_classification` instead.

    Rates come from :func:`approx.analysis.rates.fit_rate` over the ok runs (every replicate a
    point): power law and exponential, fitted only over the widths where ε still falls
    and above a rounding floor relative to max |f| (``target_scale``); ``fit`` says which
    describes the data better, or ``"none"`` when ε does not fall. ε at the largest width
    is the median over replicates of the ok runs there.

    Parameters
    ----------
    table : DataFrame
        The runs, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        Columns target, method, kind, runs, failed, largest_width, max_error, rate
        (power-law slope), rate_exp (exponential slope per unit of width), fit.
    """
    if "dataset" in table.columns:
        return summarize_classification(table)
    keys = ["target", "method"]
    counts = table.groupby(keys, sort=False).agg(
        kind=("kind", "first"),
        runs=("status", "size"),
        failed=("status", lambda s: int((s != RunStatus.OK).sum())),
    )
    ok = table[table["status"] == RunStatus.OK]

    def rates(group: pd.DataFrame) -> pd.Series:
        scale = group["target_scale"].iloc[0] if "target_scale" in group else 1.0
        r = analysis.fit_rate(group["width"], group["max_error"], 1.0 if pd.isna(scale) else scale)
        return pd.Series({"rate": r.power, "rate_exp": r.exponential, "fit": r.fit})

    fitted = (
        ok.groupby(keys, sort=False)[[c for c in ("width", "max_error", "target_scale")
                                      if c in ok]].apply(rates)
        if len(ok)
        else pd.DataFrame(
            columns=["rate", "rate_exp", "fit"], index=pd.MultiIndex.from_tuples([], names=keys)
        )
    )
    largest = ok[ok["width"] == ok.groupby(keys, sort=False)["width"].transform("max")]
    at_largest = largest.groupby(keys, sort=False).agg(
        largest_width=("width", "first"), max_error=("max_error", "median")
    )
    summary = counts.join(at_largest).join(fitted).reset_index()
    summary["fit"] = summary["fit"].fillna("none")
    return summary.astype({"largest_width": "Int64"})


def summarize_classification(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and method: held-out accuracy at the largest width, over replicates.

    Parameters
    ----------
    table : DataFrame
        The runs of a classification sweep, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        Columns dataset, method, kind, runs, failed, largest_width (empty for a method
        without width), accuracy (median over the ok replicates there), accuracy_min,
        accuracy_max, test_loss (median).
    """
    keys = ["dataset", "method"]
    counts = table.groupby(keys, sort=False).agg(
        kind=("kind", "first"),
        runs=("status", "size"),
        failed=("status", lambda s: int((s != RunStatus.OK).sum())),
    )
    ok = table[table["status"] == RunStatus.OK]
    widest = ok["width"].fillna(0)
    largest = ok[widest == widest.groupby([ok[k] for k in keys], sort=False).transform("max")]
    at_largest = largest.groupby(keys, sort=False).agg(
        largest_width=("width", "first"),
        accuracy=("accuracy", "median"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        test_loss=("test_loss", "median"),
    )
    summary = counts.join(at_largest).reset_index()
    return summary.astype({"largest_width": "Int64"})
