"""Figures rendered side by side: a sweep's figures drawn in as many processes as it has
workers.

A figure is a view of the stored runs, so its drawing depends only on the runs table,
the histories, the config and the models in the folder. Each process rebuilds the list
of drawers from those (with the task's function of
:data:`~approx.experiment.plots.FIGURES`, the same way in every process) and renders
the figures it is handed into bytes, one drawing for all formats; the parent writes the
files, so every file still goes through the store's writer, in drawing order.
Processes are started with ``spawn`` (no state of the parent's threads is inherited).
When the pool cannot be used (a single figure or worker, a process that dies, data that
cannot be sent, a figure a process failed to draw), those figures are rendered in the
parent: the pool changes how long drawing takes, never what is drawn.

A sweep may start the pool early (:func:`prestart`, once its last runs are handed to its
workers): the processes import matplotlib and the plotting code while those runs finish,
and receive what they draw from with each figure (unpickled once per process).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
import signal
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from approx.core.orphans import exit_with
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
    """Start ``jobs`` drawing processes now (the next :func:`render_all` with as many
    uses them), importing the module of ``code`` (a module-level function: the plotting
    code), so that their start-up overlaps what comes before the drawing; nothing for
    fewer than two."""
    if jobs < 2 or _early:
        return
    try:
        pool = _new_pool(jobs)
        for _ in range(jobs):  # one task each: every process is spawned now
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
    """Render each figure whose capture is given, in up to ``jobs`` processes.

    Parameters
    ----------
    drawers : sequence of Drawer
        The figures, in drawing order.
    captures : sequence of Capture or None
        One per drawer: the formats to render it in (None: skip it).
    jobs : int
        Processes to draw in; 1 (or too few figures, or no ``sources``) draws here.
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
            pooled = _render_pooled(wanted, captures, min(jobs, len(wanted)), sources)
        except Exception:  # the pool could not start or be fed: the parent draws them all
            pooled = {}
        for k, rendered in pooled.items():
            results[k] = rendered
        # what a process could not draw (e.g. a method kind registered in this process
        # alone) the parent draws, so its figure and any error are the parent's
        wanted = [k for k in wanted if k not in pooled or pooled[k][1] is not None]
    for k in wanted:
        capture = captures[k]
        assert capture is not None
        results[k] = render(drawers[k][1], capture)
    return results


def _render_pooled(wanted: list[int], captures: Sequence[Capture | None], jobs: int,
                   sources: Sources) -> dict[int, Rendered]:
    """Render figures ``wanted`` in a spawned pool (the one :func:`prestart` started, if
    it has ``jobs`` processes); those it could render, by index."""
    done: dict[int, Rendered] = {}
    payload = pickle.dumps(sources)  # (a closure, say, fails here: drawn in the parent)
    token = uuid.uuid4().hex
    early = _early.pop()[0] if _early and _early[-1][1] == jobs else None
    discard()  # (one of another size)
    pool = early or _new_pool(jobs)
    try:
        futures = {pool.submit(_render_one, token, payload, k, captures[k]): k
                   for k in wanted}
        for future in concurrent.futures.as_completed(futures):
            try:
                done[futures[future]] = future.result()
            except concurrent.futures.process.BrokenProcessPool:
                break  # the rest are drawn in the parent
    finally:
        # every figure drawn: the files are written while the processes exit (joined
        # by the pool's own thread, at the latest when this process exits)
        pool.shutdown(wait=len(done) < len(wanted), cancel_futures=True)
    return done


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
