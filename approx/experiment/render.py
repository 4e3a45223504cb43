"""Figures rendered side by side: a sweep's figures drawn in as many processes as it has
workers.

A figure is a view of the stored runs, so its drawing depends only on the runs table,
the histories, the config and the models in the folder. Each process rebuilds the list
of drawers from those (with the task's function of
:data:`~approx.experiment.plots.FIGURES`, the same way in every process) and renders
the figures it is handed into bytes, one drawing for all formats; the parent writes the
files, so every file still goes through the store's writer, in drawing order.
Processes are started with ``spawn`` (no state of the parent's threads is inherited).
The parent is one of the ``jobs`` drawers: it has matplotlib and the plotting code
loaded already, so it draws figures from the end of the list while ``jobs - 1``
processes take them from the front (one process fewer to start: about a second of CPU
each). When the pool cannot be used (a single figure or worker, a process that dies,
data that cannot be sent, a figure a process failed to draw), those figures are
rendered in the parent: the pool changes how long drawing takes, never what is drawn.

A sweep may start the pool early (:func:`prestart`, once its last runs are handed to its
workers): the processes import matplotlib and the plotting code while those runs finish,
and receive what they draw from with each figure (unpickled once per process).
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import os
import pickle
import signal
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from approx.core.orphans import exit_with, sigint_ignored
from approx.experiment.config import Config
from approx.experiment.figstyle import Capture, style

#: a figure's name (its PNG's file name) and the function drawing it (plots.Drawer)
Drawer = tuple[str, Callable[[Any], object]]
#: what drawing one figure gave: its bytes by format (None: nothing to draw) and the
#: error that stopped it (None when none did)
Rendered = tuple[dict[str, bytes] | None, str | None]
#: what a process needs to rebuild the drawers: the task's figure list (a module-level
#: function of :mod:`approx.experiment.plots`, sent by name) and what it takes: runs
#: table, histories, config, folder
Sources = tuple[
    Callable[..., tuple[list[Drawer], list[str]]],
    pd.DataFrame, dict[str, NDArray[np.float64]], Config, Path,
]
#: below this many figures a pool's start-up (an interpreter importing matplotlib and
#: pandas, about a second) costs more than it saves
MIN_FIGURES = 4

#: this process's drawers, and the token of the sources they were built from
_drawers: list[Drawer] = []
_built: list[str] = [""]
#: a pool started ahead of the drawing (:func:`prestart`) and its size
_early: list[tuple[concurrent.futures.ProcessPoolExecutor, int]] = []


def prestart(jobs: int, code: Callable[..., object]) -> None:
    """Start the ``jobs - 1`` drawing processes of ``jobs`` drawers now (the next
    :func:`render_all` with as many uses them; this process is the last drawer),
    importing the module of ``code`` (a module-level function: the plotting code), so
    that their start-up overlaps what comes before the drawing; nothing for fewer than
    two."""
    if jobs < 2 or _early:
        return
    try:
        pool = _new_pool(jobs - 1)
        with sigint_ignored():
            for _ in range(jobs - 1):  # one task each: every process is spawned now
                pool.submit(_touch, code)
    except Exception:  # drawing starts its own pool (or draws here) then
        return
    _early.append((pool, jobs))


def discard() -> None:
    """Stop a pool :func:`prestart` started that no drawing used."""
    while _early:
        _early.pop()[0].shutdown(wait=False, cancel_futures=True)


def _new_pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context,
                                                  initializer=_start_drawer,
                                                  initargs=(os.getpid(),))


def _start_drawer(parent: int) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle (it stops the pool), as for
    the sweep's workers (a drawing process started early would otherwise print its own
    traceback); and the process ends when the parent dies, even by SIGKILL (a pool
    started early under a Dask sweep exists from the first run on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(parent)


def render(draw: Callable[[Any], object], capture: Capture) -> Rendered:
    """Draw one figure into ``capture`` in the project's style; its bytes or its error.

    A figure is a view of stored runs: whatever stops it is returned as one line, never
    raised.
    """
    try:
        with warnings.catch_warnings(), style():  # overflow in tick placement: clipped
            warnings.simplefilter("ignore", RuntimeWarning)
            if draw(capture) is None:
                return None, None  # nothing to draw: no file
        missing = [fmt for fmt in capture.formats if fmt not in capture.data]
        if missing:  # a drawer that did not save into its capture
            return None, f"no {missing[0]} was rendered"
        return dict(capture.data), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


def render_all(drawers: Sequence[Drawer], captures: Sequence[Capture | None], jobs: int,
               sources: Sources | None) -> list[Rendered]:
    """Render each figure whose capture is given, by up to ``jobs`` drawers (this
    process and ``jobs - 1`` others).

    Parameters
    ----------
    drawers : sequence of Drawer
        The figures, in drawing order.
    captures : sequence of Capture or None
        One per drawer: the formats to render it in (None: skip it).
    jobs : int
        Drawers; 1 (or too few figures, or no ``sources``) draws here alone.
    sources : Sources or None
        What the processes rebuild ``drawers`` from.

    Returns
    -------
    list of Rendered
        One per drawer, in order (``(None, None)`` for a skipped one).
    """
    wanted = [k for k, capture in enumerate(captures) if capture is not None]
    results: list[Rendered] = [(None, None)] * len(drawers)
    if sources is not None and min(jobs, len(wanted)) > 1 and len(wanted) >= MIN_FIGURES:
        try:
            pooled, here = _render_pooled(drawers, wanted, captures, min(jobs, len(wanted)),
                                          sources)
        except Exception:  # the pool could not start or be fed: the parent draws them all
            pooled, here = {}, set()
        for k, rendered in pooled.items():
            results[k] = rendered
        # what a process could not draw (e.g. a method kind registered in this process
        # alone) the parent draws, so its figure and any error are the parent's
        wanted = [k for k in wanted
                  if k not in pooled or (pooled[k][1] is not None and k not in here)]
    for k in wanted:
        capture = captures[k]
        assert capture is not None
        results[k] = render(drawers[k][1], capture)
    return results


class _Feed:
    """The figures left to draw, shared by this process (which takes them from the end)
    and the pool (fed from the front, one figure per process in flight, by the
    callback of the figure a process finished)."""

    def __init__(self, pool: concurrent.futures.ProcessPoolExecutor, token: str,
                 payload: bytes, wanted: list[int], captures: Sequence[Capture | None]) -> None:
        self.pool, self.token, self.payload, self.captures = pool, token, payload, captures
        self.left = collections.deque(wanted)
        self.sent: list[int] = []  # figures handed to the pool
        self.done: dict[int, Rendered] = {}  # what the pool rendered
        self.ended = 0  # figures handed to the pool that ended, rendered or not
        self.broken = False
        self.lock = threading.Condition()

    def next_here(self) -> int | None:
        """The figure this process draws next (None: none left)."""
        with self.lock:
            return self.left.pop() if self.left else None

    def send(self) -> None:
        """Hand the next figure to the pool (nothing when none is left or it broke)."""
        with self.lock:
            if self.broken or not self.left:
                return
            k = self.left.popleft()
            self.sent.append(k)
        try:
            future = self.pool.submit(_render_one, self.token, self.payload, k, self.captures[k])
        except Exception:  # a broken pool: the parent draws what it could not
            self._ended(k, None)
            return
        future.add_done_callback(lambda f: self._finished(k, f))

    def _finished(self, k: int, future: concurrent.futures.Future[Rendered]) -> None:
        try:
            rendered: Rendered | None = future.result()
        except Exception:  # (a process that died: BrokenProcessPool)
            rendered = None
        self._ended(k, rendered)
        self.send()

    def _ended(self, k: int, rendered: Rendered | None) -> None:
        with self.lock:
            if rendered is None:
                self.broken = True
            else:
                self.done[k] = rendered
            self.ended += 1
            self.lock.notify_all()

    def wait(self) -> None:
        """Until every figure handed to the pool has ended."""
        with self.lock:
            self.lock.wait_for(lambda: self.ended == len(self.sent))


def _render_pooled(drawers: Sequence[Drawer], wanted: list[int],
                   captures: Sequence[Capture | None], jobs: int,
                   sources: Sources) -> tuple[dict[int, Rendered], set[int]]:
    """Render figures ``wanted`` here and in a spawned pool of ``jobs - 1`` processes
    (the one :func:`prestart` started, if it was for ``jobs`` drawers); those rendered
    by index, and which of them were rendered here."""
    payload = pickle.dumps(sources)  # (a closure, say, fails here: drawn in the parent)
    token = uuid.uuid4().hex
    early = _early.pop()[0] if _early and _early[-1][1] == jobs else None
    discard()  # (one of another size)
    pool = early or _new_pool(jobs - 1)
    feed = _Feed(pool, token, payload, wanted, captures)
    here: dict[int, Rendered] = {}
    try:
        with sigint_ignored():  # (a new pool's processes are spawned here)
            for _ in range(jobs - 1):
                feed.send()
        while (k := feed.next_here()) is not None:
            capture = captures[k]
            assert capture is not None
            here[k] = render(drawers[k][1], capture)
        feed.wait()
    finally:
        # every figure drawn: the files are written while the processes exit (joined
        # by the pool's own thread, at the latest when this process exits)
        pool.shutdown(wait=feed.broken, cancel_futures=True)
    return {**feed.done, **here}, set(here)


def _touch(code: Callable[..., object]) -> None:
    """A task that does nothing: receiving ``code`` imported its module."""


def _render_one(token: str, payload: bytes, k: int, capture: Capture) -> Rendered:
    """Render drawer ``k`` of the drawers built from ``payload`` (rebuilt when its
    ``token`` is not the one this process's drawers came from) into ``capture``."""
    if _built[0] != token:
        figures, *data = pickle.loads(payload)
        _drawers[:] = figures(*data)[0]
        _built[0] = token
    return render(_drawers[k][1], capture)
