"""Many small nets trained at once: the full-batch SGD/Adam loop over a batch of nets.

A sweep fits replicates × widths of one recipe as separate runs, on the same training
points. :func:`fit_recipes` fits such a group together: each net is set up as
:func:`~approx.train.recipe.fit_recipe` sets it up, then :func:`first_order_batch` steps
all of them with one engine call per step (:class:`~approx.nn.batch.BatchEngine`) and one
elementwise optimizer update of their parameters end to end, and each net's result is
concluded as :func:`~approx.train.training.optimize` concludes it.

**The same numbers as one at a time**, bit for bit, whatever the group's make-up: the
engine runs each net's own floating-point operations, SGD and Adam update each
coordinate by the same scalar formula (the step size, momentum and bias corrections
are the same for every net of a group: one recipe, one schedule), and each net keeps
its own tracker (best iterate, monitor), relocations (its own slice of the optimizer's
state is reset) and stop: a net that diverges, converges or passes its deadline stops
where it would alone (its parameters are kept as they were then) while the others go
on. Groups are what :func:`batchable` admits: full-batch SGD or Adam on a 1→d→1 net.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core.deadline import DeadlineExceeded
from approx.nn.backend import FUSED_LOSSES
from approx.nn.batch import BatchEngine
from approx.train.loop import DEADLINE_EVERY, Outcome, Tracker, TrainResult, diverged_message
from approx.train.optimizers import FIRST_ORDER, SGD, Adam
from approx.train.options import MAX_CHECKS, FirstOrderOptions, Recipe
from approx.train.recipe import prepare_fit
from approx.train.relocate import relocate, relocate_steps
from approx.train.schedules import SCHEDULES
from approx.train.training import conclude, working_copy

__all__ = ["batchable", "first_order_batch", "fit_recipes"]

Array = NDArray[np.float64]


def batchable(recipe: Recipe) -> bool:
    """Whether runs of ``recipe`` can be fitted together by :func:`fit_recipes`:
    full-batch SGD or Adam (the whole fit first-order) on a 1→d→1 net under a loss of
    the fused engine."""
    fit, opts = recipe.fit, recipe.optimizer
    return (
        fit.optimizer in ("sgd", "adam")
        and fit.depth == 1
        and fit.loss in FUSED_LOSSES
        and isinstance(opts, FirstOrderOptions)
        and opts.batch_size is None
    )


class _Part:
    """One net's view of the batch's optimizer, for :func:`relocate`: its resets shifted
    to the net's slice (its peers are its own coordinates)."""

    def __init__(self, opt: SGD | Adam, offset: int) -> None:
        self.opt, self.offset = opt, offset

    def reset(self, rows: NDArray[np.intp], peers: NDArray[np.intp] | None = None) -> None:
        self.opt.reset(rows + self.offset, None if peers is None else peers + self.offset)


class _Stops:
    """The nets of a batch still training, and the outcome and parameters of each one
    that stopped (restored by :meth:`restore`, as the net alone would have left them)."""

    def __init__(self, batch: BatchEngine) -> None:
        self.batch = batch
        self.live = list(range(len(batch)))
        self.outcomes: list[Outcome | DeadlineExceeded | None] = [None] * len(batch)
        self.kept: dict[int, Array] = {}

    @property
    def stopped(self) -> bool:
        return len(self.live) < len(self.outcomes)

    def stop(self, i: int, outcome: Outcome | DeadlineExceeded) -> None:
        self.live.remove(i)
        self.outcomes[i] = outcome
        self.kept[i] = self.batch.theta[self.batch.slice(i)].copy()

    def restore(self) -> None:
        for i, theta in self.kept.items():
            self.batch.theta[self.batch.slice(i)] = theta


def first_order_batch(
    batch: BatchEngine,
    X: Array,
    y: Array,
    trackers: Sequence[Tracker],
    options: FirstOrderOptions,
    *,
    name: str,
    deadlines: Sequence[tuple[float, float] | None] | None = None,
) -> list[Outcome | DeadlineExceeded]:
    """Full-batch SGD or Adam (``name``) on every net of ``batch`` at once.

    Net i's outcome is what :func:`~approx.train.loop.first_order` returns for it alone
    (``(history, status, message, steps)``), or the :class:`DeadlineExceeded` it would
    have raised; θ of every net is left as the net alone would leave it.

    Parameters
    ----------
    batch : BatchEngine
    X, y : ndarray of shape (m,)
        The samples every net trains on.
    trackers : sequence of Tracker
        Net i's tracker, bound to its slice of ``batch.theta`` and its net.
    options : FirstOrderOptions
        Full batch (``batch_size`` None or ≥ m).
    name : {"sgd", "adam"}
    deadlines : sequence of (time, seconds) or None, optional
        Net i's deadline on :func:`time.monotonic` and its limit in seconds (for the
        message), checked every :data:`~approx.train.loop.DEADLINE_EVERY` steps as
        :func:`approx.core.deadline.check` is; None: no limit.
    """
    opt = FIRST_ORDER[name](options)
    steps = options.steps
    lrs = np.array([SCHEDULES[options.schedule](k, steps) for k in range(steps)]) * options.lr
    for tracker in trackers:
        tracker.every = max(tracker.every, steps // MAX_CHECKS)
    net = batch.engines[0].net
    relocate_at = (relocate_steps(steps) if options.relocate and net.activation == "relu"
                   else set())
    deadlines = list(deadlines) if deadlines is not None else [None] * len(batch)
    history = np.empty((len(batch), steps))
    stops = _Stops(batch)
    for step in range(steps):
        values = batch(X, y)
        history[:, step] = values
        live = stops.live
        if stops.stopped or not (np.isfinite(values).all() and (values > options.tol).all()):
            for i in list(live):
                _offer(stops, i, float(values[i]), trackers[i], history, step, options, name)
        else:  # every net goes on: offer only where Tracker.offer would look
            for i in live:
                if trackers[i].monitor is None or step % trackers[i].every == 0:
                    trackers[i].offer(float(values[i]), step)
        if not stops.live:
            break
        opt.lr = lrs[step]
        opt.step(batch.theta, batch.grad)
        if step + 1 in relocate_at:
            for i in stops.live:
                engine = batch.engines[i]
                r = engine.residuals(X, y)
                relocate(engine.net, X, r, _Part(opt, int(batch.starts[i])))  # type: ignore[arg-type]
        if (step + 1) % DEADLINE_EVERY == 0:
            _check_deadlines(stops, deadlines)
    for i in list(stops.live):
        stops.outcomes[i] = (history[i], "completed", f"used the budget of {steps} steps", steps)
    stops.restore()
    return stops.outcomes  # type: ignore[return-value]


def _offer(stops: _Stops, i: int, value: float, tracker: Tracker, history: Array, step: int,
           options: FirstOrderOptions, name: str) -> None:
    """Net i's loss at ``step``: what the single loop does with it (stop, or offer)."""
    if not math.isfinite(value):
        message = diverged_message(name, options.lr, step)
        stops.stop(i, (history[i, : step + 1], "diverged", message, step))
        return
    tracker.offer(value, step)
    if value <= options.tol:
        message = f"loss {value:.3g} ≤ tol {options.tol:g}"
        stops.stop(i, (history[i, : step + 1], "converged", message, step))


def _check_deadlines(stops: _Stops, deadlines: list[tuple[float, float] | None]) -> None:
    now = time.monotonic()
    for i in list(stops.live):
        limit = deadlines[i]
        if limit is not None and now > limit[0]:
            stops.stop(i, DeadlineExceeded(f"time limit of {limit[1]:g} s exceeded"))


def fit_recipes(
    target: Any,
    members: Sequence[tuple[int, np.random.Generator]],
    recipe: Recipe,
    time_limit: float | None = None,
) -> list[TrainResult | BaseException]:
    """:func:`~approx.train.recipe.fit_recipe` of each ``(width, rng)``, the nets that share
    their training points trained together (:func:`first_order_batch`).

    Parameters
    ----------
    target : Target
    members : sequence of (int, numpy.random.Generator)
        Each run's width and root generator, as :func:`fit_recipe` takes them.
    recipe : Recipe
        A recipe :func:`batchable` admits.
    time_limit : float, optional
        Seconds each run may take. The nets train in lockstep, so the group's first-order
        phase may take the runs' limits together (``time_limit`` × the number of
        members) from this call on; a net still training then gets the
        :class:`DeadlineExceeded` of ``time_limit`` (as its run alone would have got it
        past its own limit).

    Returns
    -------
    list
        Per member, its :class:`TrainResult` (bit for bit ``fit_recipe``'s), or the
        exception ``fit_recipe`` would have raised.
    """
    if not batchable(recipe):
        raise ValueError("fit_recipes fits full-batch SGD or Adam on 1→d→1 nets")
    limit = (None if time_limit is None
             else (time.monotonic() + time_limit * len(members), time_limit))
    out: list[TrainResult | BaseException | None] = [None] * len(members)
    groups: dict[tuple[bytes, bytes], list[tuple[int, Any]]] = {}
    for k, (width, rng) in enumerate(members):
        try:
            prepared = prepare_fit(target, width, rng, recipe)
        except Exception as e:  # what this run alone would raise
            out[k] = e
            continue
        problem = prepared[0]
        groups.setdefault((problem.t.tobytes(), problem.v.tobytes()), []).append((k, prepared))
    for group in groups.values():
        results = _train_group([p for _, p in group], recipe, limit)
        for (k, prepared), result in zip(group, results, strict=True):
            if isinstance(result, TrainResult):
                result.net = prepared[0].scaling.to_raw(result.net)
            out[k] = result
    return out  # type: ignore[return-value]


def _train_group(prepared: list[Any], recipe: Recipe,
                 limit: tuple[float, float] | None) -> list[TrainResult | BaseException]:
    """Train the prepared nets of one group (same training points) together and conclude
    each as :func:`~approx.train.training.optimize` does."""
    fit, options = recipe.fit, recipe.optimizer
    assert isinstance(options, FirstOrderOptions)
    problem = prepared[0][0]
    X = np.ascontiguousarray(problem.t, dtype=np.float64)
    y = np.ascontiguousarray(problem.v, dtype=np.float64)
    works = [working_copy(net) for _, net, _, _ in prepared]
    batch = BatchEngine(works, X.size, fit.loss, fit.p)
    trackers = [Tracker(e.theta, e.net, monitor, fit.monitor_every)
                for e, (_, _, monitor, _) in zip(batch.engines, prepared, strict=True)]
    results: list[TrainResult | BaseException] = []
    with np.errstate(over="ignore", invalid="ignore"):
        initials = [engine.loss_only(X, y) for engine in batch.engines]
        outcomes = first_order_batch(batch, X, y, trackers, options, name=fit.optimizer,
                                     deadlines=[limit] * len(batch))
        for engine, tracker, outcome, initial in zip(batch.engines, trackers, outcomes,
                                                     initials, strict=True):
            if isinstance(outcome, BaseException):
                results.append(outcome)
                continue
            results.append(conclude(engine, X, y, tracker, options, outcome, initial))
    return results
