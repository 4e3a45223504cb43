"""Where runs are fitted: in this process, in a local pool of processes, or on Dask.

Each executor takes the pending runs lazily and yields a :class:`Result` per run as it
finishes, in any order; only the caller records them. An item of the stream is a run or
a group of runs whose nets train together (:mod:`approx.experiment.batching`); a worker
returns a group's results together, and a group whose worker dies is split: its runs
are rerun one at a time. At most a few runs per worker are
in flight, so a sweep of 10⁹ runs never builds its list, and with ``--scheduler`` the
number in flight is ``--jobs``.

- :func:`serial` fits in this process (no hard kill: a run past its time limit stops at
  its next deadline check).
- :func:`pool` uses spawned worker processes. When one dies (the OS killed it for
  memory, or the hard time limit did), the pool is restarted and the runs that were in
  flight are rerun one at a time in a pool of their own: the one whose worker dies again
  is recorded as ``"killed"`` (or ``"timeout"`` past the hard limit) and the sweep goes on.
- :func:`dask` submits each run as a task to a ``distributed`` cluster: a
  ``LocalCluster`` of single-threaded worker processes, or a running scheduler. A task
  whose workers keep dying is recorded as ``"killed"``.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from approx.core.errors import ApproxError
from approx.core.orphans import sigint_ignored
from approx.core.status import RunStatus
from approx.experiment.batching import Item, runs_of
from approx.experiment.measure import Result
from approx.experiment.specs import Run
from approx.experiment.worker import hard_limit, pool_worker, probe, work

__all__ = [
    "EXECUTORS", "ExecutorError", "Remote", "dask", "discard", "pool", "prestart", "serial",
]

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: how long to try reaching a scheduler given by address, handshake included (seconds)
CONNECT_TIMEOUT = 10.0
#: how long the first task on a remote cluster may take (workers that cannot import
#: approx never run it)
PROBE_TIMEOUT = 60.0
#: runs in flight per local worker: one running, one queued, so no worker idles (and few
#: runs are suspects when a worker dies)
_PER_WORKER = 2
#: runs in flight per LocalCluster worker: a task's round trip through the scheduler takes
#: milliseconds, so more are queued to keep the workers busy on short runs
_DASK_PER_WORKER = 16

Note = Callable[[str], None]
_NO_DASK = ("--executor dask needs the dask extra: pip install 'approx[dask]' "
            "(or pip install -e '.[dask]' in a checkout)")


class ExecutorError(ApproxError, RuntimeError):
    """The executor cannot start (no dask installed, no scheduler at the address)."""


@dataclass(frozen=True)
class Remote:
    """A running Dask scheduler to connect to, and why it may be trusted.

    Connecting to a Dask scheduler runs code it sends: Dask's protocol unpickles its
    messages, so whatever answers at the address runs as you, in the sweep's process.
    A remote is used only over TLS with certificates (the scheduler proves who it is)
    or when ``trusted`` says so explicitly; a loopback address is no proof (another
    user's listener can sit there).

    Attributes
    ----------
    address : str
        ``tcp://host:port`` or ``tls://host:port``.
    trusted : bool
        Connect even without TLS certificates (``--trust-scheduler``).
    tls_ca_file, tls_cert, tls_key : str, optional
        The certificate authority that signed the scheduler's certificate, and this
        client's certificate and key (all three, with a ``tls://`` address); without
        them, dask's ``distributed.comm.tls`` settings are used for ``tls://``.
    """

    address: str
    trusted: bool = False
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def scheme(self) -> str:
        """The address's protocol (``tcp`` when it names none)."""
        return self.address.split("://", 1)[0].lower() if "://" in self.address else "tcp"

    def security(self):  # -> distributed.Security | None
        """The TLS settings to connect with (None for ``tcp://``).

        Raises
        ------
        ExecutorError
            For another protocol, incomplete certificates, or a scheduler that is
            neither authenticated by TLS nor trusted (one line each).
        """
        try:
            from distributed import Security
        except ImportError:
            raise ExecutorError(_NO_DASK) from None
        given = (self.tls_ca_file, self.tls_cert, self.tls_key)
        if self.scheme() not in ("tcp", "tls"):
            raise ExecutorError(f"--scheduler {self.address}: only tcp:// and tls:// "
                                f"schedulers are supported, not {self.scheme()}://")
        if any(given) and not (all(given) and self.scheme() == "tls"):
            raise ExecutorError("--tls-ca-file, --tls-cert and --tls-key go together, "
                                "with a tls:// scheduler address")
        if self.scheme() == "tls":
            security = Security()  # dask's distributed.comm.tls settings
            if all(given):
                security = Security(tls_ca_file=self.tls_ca_file, tls_client_cert=self.tls_cert,
                                    tls_client_key=self.tls_key, require_encryption=True)
            if security.tls_ca_file is None or security.tls_client_cert is None:
                raise ExecutorError(
                    f"--scheduler {self.address}: tls:// needs --tls-ca-file, --tls-cert "
                    "and --tls-key (or dask's distributed.comm.tls settings)")
            return security
        if not self.trusted:
            raise ExecutorError(
                f"--scheduler {self.address}: connecting to a Dask scheduler runs code it "
                "sends (its protocol unpickles messages); use a tls:// address with "
                "--tls-ca-file, --tls-cert and --tls-key, or pass --trust-scheduler if you "
                "trust whoever listens there")
        return None


def serial(
    runs: Iterable[Item], *, time_limit: float | None = None, **_: object
) -> Iterator[Result]:
    """Fit the runs (and groups of runs) one after another in this process."""
    for item in runs:
        yield from work(item, time_limit)


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


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent holds threads (progress display, BLAS) and the lock
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=pool_worker,
        initargs=(os.getpid(),),
    )


#: a local pool started ahead of its sweep (:func:`prestart`) and its size
_early: list[tuple[ProcessPoolExecutor, int]] = []


def prestart(jobs: int) -> None:
    """Start the local pool of ``jobs`` workers now: the next :func:`pool` of as many
    workers uses it, so that the workers' start-up (an interpreter importing the worker
    code, about half a second each) overlaps the sweep's own (its imports, the config,
    the store) instead of following it. Nothing for fewer than two workers or when a
    pool is waiting already; :func:`discard` stops one no sweep used.
    """
    if jobs < 2 or _early:
        return
    try:
        executor = _new_pool(jobs)
        with _one_blas_thread(), sigint_ignored():  # what every worker inherits (_submit)
            for _ in range(jobs):  # one task each: every worker is spawned now
                executor.submit(probe)
    except Exception:  # the sweep starts its own pool then (and reports what fails)
        return
    _early.append((executor, jobs))


def discard() -> None:
    """Stop a pool :func:`prestart` started that no sweep used (its workers hold no run:
    they are ended, not waited for). The pool's manager thread is joined: it closes its
    wake-up pipe when it sees the ended workers, and doing so while the interpreter exits
    races the exit's own wake-up call (``OSError: Bad file descriptor`` printed to
    stderr after a refused config's one-line error)."""
    while _early:
        executor = _early.pop()[0]
        _stop(executor)
        executor.shutdown(wait=True, cancel_futures=True)


def _pool_of(jobs: int) -> ProcessPoolExecutor:
    """The pool :func:`prestart` started if it has ``jobs`` workers, else a new one."""
    early = _early.pop()[0] if _early and _early[-1][1] == jobs else None
    discard()  # (one of another size)
    return early or _new_pool(jobs)


def _submit(executor: ProcessPoolExecutor, item: Item, time_limit: float | None) -> Future:
    # workers are spawned on submit; they ignore Ctrl-C, which this process reports once
    with _one_blas_thread(), sigint_ignored():
        return executor.submit(work, item, time_limit)


def _stop(executor: ProcessPoolExecutor) -> None:
    """End the workers now (on Ctrl-C), rather than after their current runs."""
    terminate = getattr(executor, "terminate_workers", None)  # Python ≥ 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


def _alone(run: Run, time_limit: float | None) -> Result:
    """Rerun ``run`` in a pool of its own; a second death is the run's doing.

    The pool is shut down waiting for its worker and manager thread (a worker that
    finished exits in well under a second; a dead one is gone): left running, the
    thread closes its wake-up pipe while the interpreter's exit may be waking it up
    (Python ≤ 3.11: ``OSError: Bad file descriptor`` printed at exit), as
    :func:`discard`'s did."""
    executor = _new_pool(1)
    start = time.monotonic()
    try:
        return _submit(executor, run, time_limit).result()[0]
    except BrokenProcessPool:
        elapsed = time.monotonic() - start
        if time_limit is not None and elapsed >= hard_limit(time_limit) - 1:
            return Result(
                run,
                RunStatus.TIMEOUT,
                f"time limit of {time_limit:g} s exceeded; the fit "
                f"did not stop on its own and was killed after {elapsed:.3g} s",
            )
        return Result(
            run,
            RunStatus.KILLED,
            f"the worker process died after {elapsed:.3g} s "
            "(killed by the OS, e.g. out of memory, or by a signal)",
        )
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def pool(
    runs: Iterable[Item],
    *,
    jobs: int,
    time_limit: float | None = None,
    note: Note = print,
    **_: object,
) -> Iterator[Result]:
    """Fit the runs (and groups of runs) in ``jobs`` spawned worker processes,
    restarting the pool if one dies (a group in flight then is split: its runs are
    rerun one at a time)."""
    runs = iter(runs)
    while True:
        executor = _pool_of(jobs)
        flight: dict[Future, Item] = {}
        suspects: list[Run] = []
        ended = False  # every run in, no worker lost: the workers may exit on their own
        try:
            for item in itertools.islice(runs, _PER_WORKER * jobs):
                flight[_submit(executor, item, time_limit)] = item
            while flight and not suspects:
                done, _ = wait(flight, return_when=FIRST_COMPLETED)
                for future in done:
                    item = flight.pop(future)
                    try:
                        results = future.result()
                    except BrokenProcessPool:
                        suspects.extend(runs_of(item))
                        continue
                    yield from results
                    if not suspects:  # refill while the pool is sound
                        for more in itertools.islice(runs, 1):
                            flight[_submit(executor, more, time_limit)] = more
            for item in flight.values():
                suspects.extend(runs_of(item))
            ended = not suspects
        except BaseException:
            _stop(executor)
            raise
        finally:
            # after the last result the sweep goes on (tables, figures) while the idle
            # workers exit (about half a second; joined by the executor's own thread,
            # and at the latest when this process exits); else they are waited for
            executor.shutdown(wait=not ended, cancel_futures=True)
        if not suspects:
            return
        note(
            f"a worker process died: the pool is restarted and the {len(suspects)} run(s) "
            "in flight are rerun one at a time to find the one that killed it"
        )
        for run in suspects:
            yield _alone(run, time_limit)


def _client(jobs: int | None, remote: Remote | None):  # -> (Client, LocalCluster | None)
    try:
        import dask.config
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutorError(_NO_DASK) from None
    if remote is not None:
        client = _connect(Client, remote)
        _probe(client, remote)
        return client, None
    # a run that kills its worker once is rerun once elsewhere, then recorded as killed;
    # the workers inherit an ignored SIGINT, so Ctrl-C is reported once, by this process,
    # and the cluster is closed from here
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}), sigint_ignored():
            cluster = LocalCluster(
                n_workers=jobs or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # failures reach the sweep as errors
            )
    except Exception as e:  # e.g. a preload in the dask config that fails
        raise ExecutorError(f"cannot start a local Dask cluster: {type(e).__name__}: "
                            f"{e}".rstrip(": ")) from None
    return Client(cluster), cluster


def _connect(client_class: type, remote: Remote):  # -> Client
    """A client of ``remote``, or one line if it does not answer as Dask within
    :data:`CONNECT_TIMEOUT` seconds (the handshake included: a server that accepts and
    says nothing would otherwise hold the sweep for ever)."""
    security = remote.security()
    box: dict[str, object] = {}

    def connect() -> None:
        try:
            box["client"] = client_class(remote.address, timeout=f"{CONNECT_TIMEOUT}s",
                                         security=security)
        except Exception as e:
            box["error"] = e

    thread = threading.Thread(target=connect, daemon=True, name="approx-dask-connect")
    thread.start()
    thread.join(CONNECT_TIMEOUT + 2)
    if "client" in box:
        return box["client"]
    why = box.get("error")
    why = f"{type(why).__name__}: {why}" if why is not None else (
        f"no Dask handshake within {CONNECT_TIMEOUT:g} s (is it a Dask scheduler?)")
    raise ExecutorError(f"cannot reach the Dask scheduler at {remote.address}: {why}")


def _probe(client, remote: Remote) -> None:
    """Run one cheap task first: a cluster whose workers lack approx (or has none)
    would otherwise take the runs and never answer."""
    try:
        client.submit(probe, key=f"approx-probe-{uuid.uuid4().hex[:8]}", pure=False
                      ).result(timeout=PROBE_TIMEOUT)
    except Exception as e:
        client.close()
        why = "no answer" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
        raise ExecutorError(
            f"the Dask cluster at {remote.address} did not run a first task within "
            f"{PROBE_TIMEOUT:g} s ({why}); do its workers have approx installed, and are "
            "any connected?") from None


def dask(
    runs: Iterable[Item],
    *,
    jobs: int | None,
    time_limit: float | None = None,
    scheduler: Remote | None = None,
    **_: object,
) -> Iterator[Result]:
    """Fit the runs as tasks on a Dask cluster (local, or the one at ``scheduler``).

    Without ``scheduler`` a ``LocalCluster`` of ``jobs`` single-threaded worker processes
    is started (and stopped at the end; its workers exit if this process dies); with
    one, ``jobs`` caps the tasks in flight. Tasks return results with the model's arrays.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    client, cluster = _client(jobs, scheduler)
    if scheduler is None:
        cap = _DASK_PER_WORKER * (jobs or 1)
    else:  # default: one run per worker thread of the cluster
        cap = jobs or max(1, sum(client.nthreads().values()))
    runs = iter(runs)
    flight = {}
    finished = as_completed()

    def submit(item: Item) -> None:
        # unique keys: a long-lived scheduler may have seen this run id before
        key = f"{runs_of(item)[0].run_id}-{uuid.uuid4().hex[:8]}"
        future = client.submit(work, item, time_limit, key=key, pure=False)
        flight[future] = item
        finished.add(future)

    try:
        for item in itertools.islice(runs, cap):
            submit(item)
        for future in finished:
            item = flight.pop(future)
            try:
                results = future.result()
            except KilledWorker as e:
                if isinstance(item, tuple):  # a group: its runs one at a time
                    for run in item:
                        submit(run)
                    results = []
                else:
                    results = [Result(item, RunStatus.KILLED,
                                      f"the Dask workers running it died: {e}")]
            except Exception as e:  # a lost task is the run's result, not the sweep's end
                results = [Result(run, RunStatus.ERROR, f"{type(e).__name__}: {e}")
                           for run in runs_of(item)]
            future.release()
            for more in itertools.islice(runs, 1):
                submit(more)
            yield from results
    finally:
        for future in flight:
            future.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


EXECUTORS = {"local": pool, "dask": dask}
