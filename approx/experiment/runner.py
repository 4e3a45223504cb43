"""Run a sweep: pick the runs to do, hand them to an executor, record each result.

An executor (:mod:`approx.experiment.executors`) fits the runs, in this process, a local
pool of processes or on Dask, and returns plain results; only this process writes the
store and ``models/``, one transaction per run, so a sweep killed at any instant resumes
where it stopped. Every run's numbers depend on its seed alone, so the results are the
same whatever the executor and the number of workers, provided every process uses one
BLAS thread (the CLI pins it; workers are given one).

While the sweep runs, ``runs.csv`` is rewritten (atomically, like every file of the
sweep) with the runs recorded so far, at most every :data:`CSV_EVERY` seconds, so a long
sweep can be watched; it is written once more at the end, with the summary.

On resume, runs never recorded are run; runs that failed for a transient reason (an
exception, a killed worker) are retried; runs whose failure a rerun would only repeat
(diverged, non-finite, timeout, stalled) are retried only with ``retry_failed``; an ok
run whose model file has gone is refitted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from approx.core import validate
from approx.core.status import RunStatus
from approx.experiment import batching, executors, figstyle, provenance, render, report, resources
from approx.experiment.config import Config
from approx.experiment.expansion import count_runs, expand
from approx.experiment.measure import Result
from approx.experiment.plots import plot_all
from approx.experiment.store import Store
from approx.experiment.summary import SUMMARIES
from approx.experiment.tasks import of_table
from approx.nn import backend

__all__ = ["CSV_EVERY", "Reporter", "Throttle", "run_sweep", "summarize"]

#: seconds at least between two writes of ``runs.csv`` while a sweep runs
CSV_EVERY = 10.0


class Reporter(Protocol):
    """Receives progress: notes, the sweep's size once, then each result as recorded."""

    def note(self, message: str) -> None: ...

    def start(self, total: int, done: int) -> None: ...

    def advance(self, result: Result) -> None: ...


class Throttle:
    """Says when something done often is due again: at most once per ``interval``
    seconds of ``clock``, counted from the throttle's creation.

    Parameters
    ----------
    interval : float
        Seconds at least between two due calls.
    clock : callable, optional
        Monotonic seconds (default :func:`time.monotonic`; a test passes a fake).
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last = clock()

    def due(self) -> bool:
        """Whether ``interval`` has passed since the start or the last due call (which
        then restarts the count)."""
        now = self.clock()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


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
    config: Config, folder: str | Path, *, jobs: int | None = None, fresh: bool = False,
    reporter: Reporter | None = None, executor: str = "local",
    scheduler: executors.Remote | str | None = None,
    retry_failed: bool = False, memory_limit: int | None = None, time_limit: float | None = None,
    plots: bool = False, argv: Sequence[str] = (), settings: Mapping[str, Any] | None = None,
    formats: Sequence[str] | None = None, dpi: int | None = None,
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
    scheduler : Remote or str, optional
        A running Dask scheduler (``executor="dask"`` only); without it a
        ``LocalCluster`` of ``jobs`` workers is started. Connecting to one runs code it
        sends: it is used only over TLS with certificates or when marked trusted
        (:class:`~approx.experiment.executors.Remote`; a bare address is neither).
    retry_failed : bool
        Also rerun runs whose recorded failure is final (diverged, timeout, …).
    memory_limit : int, optional
        Bytes the runs in memory at once on this machine may use; default half of the
        available memory.
    time_limit : float, optional
        Seconds per run (overrides the config's ``time_limit``); past it a run is
        recorded with status ``"timeout"``.
    plots : bool
        Also draw the figures (:func:`~approx.experiment.plots.plot_all`) and write
        ``report.html`` (:mod:`~approx.experiment.report`) before the folder's lock is
        released; what they leave out is told to ``reporter``.
    argv : sequence of str
        The command line that asked for this sweep, recorded with the invocation
        (:mod:`~approx.experiment.provenance`); empty for a call from Python.
    settings : mapping, optional
        Further effective settings to record with the invocation (e.g. the overrides
        applied to the config); the config's digest, ``fresh``, ``retry_failed`` and
        the time and memory limits in force are recorded in any case.
    formats : sequence of str, optional
        The figures' formats (of :data:`~approx.experiment.figstyle.FORMATS`); default
        those the folder records (PNG for a new one). Recorded with the invocation and
        in the store, for ``--replot``.
    dpi : int, optional
        The figures' resolution; default the recorded one (or
        :data:`~approx.experiment.figstyle.DEFAULT_DPI`).

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
    reporter = reporter or _Silent()
    if formats is not None:  # bad formats are refused before the folder is touched
        formats = figstyle.parse_formats(formats, "formats")
    if dpi is not None:
        figstyle.check_dpi(dpi, "dpi")
    if isinstance(scheduler, str):
        scheduler = executors.Remote(scheduler)
    jobs = _workers(config, jobs, executor, scheduler, memory_limit, reporter)
    time_limit = time_limit if time_limit is not None else config.time_limit
    if memory_limit is None and scheduler is None:  # the default budget, as checked
        available = resources.available_memory()
        memory_limit = None if available is None else available // 2
    effective = {"config_digest": config.digest(), **(settings or {}), "fresh": fresh,
                 "retry_failed": retry_failed}

    def invocation(executor: str, jobs: int | None) -> dict[str, Any]:
        return provenance.invocation(argv, effective, time_limit=time_limit,
                                     memory_limit=memory_limit, executor=executor, jobs=jobs)

    with Store.open(Path(folder), config, fresh=fresh) as store:
        for line in store.notes:  # a config kept, files --fresh left alone
            reporter.note(line)
        if plots:
            recorded = store.figure_settings()
            formats = recorded[0] if formats is None else tuple(formats)
            dpi = recorded[1] if dpi is None else dpi
            effective.update(figure_formats=list(formats), figure_dpi=dpi)
        draw_jobs = (jobs or 1) if scheduler is None else 1
        try:
            try:  # the drawing processes start while the last runs finish
                _run_pending(store, config, jobs=jobs, executor=executor, scheduler=scheduler,
                             time_limit=time_limit, retry_failed=retry_failed,
                             reporter=reporter, invocation=invocation,
                             drained=(lambda: render.prestart(draw_jobs, plot_all))
                             if plots else None)
            except BaseException as e:  # metadata.json must not say "running" any more
                store.abort(f"{type(e).__name__}: {e}".rstrip(": "))
                raise
            table = store.table(config)
            store.export(table, SUMMARIES[config.task.name](table))
            if plots:  # under the same lock: no other process slips in before the figures
                _figures(store, config, table, tuple(formats or ()), dpi, reporter,
                         jobs=draw_jobs)
        finally:
            render.discard()  # (started, and not drawn in)
            executors.discard()  # (started ahead of a sweep that ran nothing in it)
    return table


def _figures(store: Store, config: Config, table: pd.DataFrame, formats: tuple[str, ...],
             dpi: int | None, reporter: Reporter, jobs: int = 1) -> None:
    """Draw the figures in ``formats`` (in ``jobs`` local processes) and write the report
    (its figures from the same drawings), recording the formats for ``--replot``; notes
    go to ``reporter``."""
    store.set_figure_settings(formats, dpi)
    svgs: dict[str, str] = {}
    notes = plot_all(table, store.histories(), config, store.folder, save=store.save,
                     formats=formats, dpi=dpi, svgs=svgs, jobs=jobs)[1]
    for note in notes:
        reporter.note(note)
    report.write(store, config, table, svgs, notes)


def _workers(config: Config, jobs: int | None, executor: str,
             scheduler: executors.Remote | None,
             memory_limit: int | None, reporter: Reporter) -> int | None:
    """Check the executor and the memory budget before anything is written; the number
    of local workers (``jobs`` lowered to the cores, said in a note), or ``jobs`` as
    given for a running scheduler."""
    validate.lookup(executors.EXECUTORS, executor, "executor")
    try:  # a bad APPROX_ENGINE is the user's input: refused before the folder is touched
        validate.choice(os.environ.get(backend.ENV_VAR) or "auto", backend.BACKENDS,
                        f"the environment variable {backend.ENV_VAR}")
    except ValueError as e:
        raise executors.ExecutorError(str(e)) from None
    if scheduler is not None and executor != "dask":
        raise executors.ExecutorError("a scheduler address needs the dask executor")
    if scheduler is not None:
        scheduler.security()  # refuses an untrusted scheduler before anything is written
    if scheduler is None:
        jobs, lowered = resources.local_workers(jobs)
        if lowered:
            reporter.note(lowered)
        resources.check_memory(config, jobs, memory_limit)
    elif memory_limit is not None:  # remote workers: a budget per worker, if one is given
        resources.check_memory(config, 1, memory_limit)
    return jobs


def _run_pending(store: Store, config: Config, *, jobs: int | None, executor: str,
                 scheduler: executors.Remote | None, time_limit: float | None, retry_failed: bool,
                 reporter: Reporter,
                 invocation: Callable[[str, int | None], dict[str, Any]],
                 drained: Callable[[], None] | None = None) -> None:
    """Fit the runs the store does not keep (module docstring) and record each result,
    as computed by a new invocation (its record made by ``invocation(executor, jobs)``);
    say in one line if kept runs came from another commit or engine. ``drained`` is
    called once the last run is handed to the workers (in parallel only)."""
    keep, killed = _kept(store, retry_failed, reporter)
    total = count_runs(config)
    # a run that once killed its worker would kill this process: never run it here
    parallel = total > len(keep) and ((jobs or 1) > 1 or executor == "dask" or killed)
    # runs of one trained recipe on one target go in groups, their nets trained together
    pending: Iterator[batching.Item] = batching.grouped(
        run for run in expand(config, widest_first=parallel) if run.run_id not in keep
    )
    record = invocation(executor if parallel else "serial", jobs)
    store.begin(config, record)
    if (changed := store.provenance_changes(keep, record)) is not None:
        reporter.note(changed)
    reporter.start(total, len(keep))
    fit = executors.EXECUTORS[executor] if parallel else executors.serial
    if parallel and drained is not None:
        pending = _then(pending, drained)
    throttle = Throttle(CSV_EVERY)
    for result in fit(pending, jobs=jobs, time_limit=time_limit, scheduler=scheduler,
                      note=reporter.note):
        store.record(result)
        if throttle.due():  # the runs so far, for whoever watches a long sweep
            store.write_runs(store.table(config))
        reporter.advance(result)


def _then(items: Iterator[batching.Item], action: Callable[[], None]) -> Iterator[batching.Item]:
    """``items``, then ``action()`` once they are exhausted."""
    yield from items
    action()


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """The summary of a table of runs, by its task's rule (the task of its subject
    column: :func:`~approx.experiment.summary.summarize_approximation` for targets,
    :func:`~approx.experiment.summary.summarize_classification` for datasets).

    Parameters
    ----------
    table : DataFrame
        The runs, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        One row per subject and method.
    """
    return SUMMARIES[of_table(table).name](table)
