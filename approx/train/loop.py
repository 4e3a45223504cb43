"""The training loop of SGD and Adam, and what every optimizer shares.

:class:`Tracker` keeps the best iterate; :func:`first_order` runs SGD or Adam full-batch
or by mini-batches, with the step-size schedule and, for 1→d→1 ReLU nets, relocation of
idle units (:func:`approx.train.relocate.relocate`). Every optimizer runner returns
``(history, status, message, steps taken)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.nn import MLP
from approx.train.optimizers import COMPILED_UP_TO, FIRST_ORDER, SGD, Adam
from approx.train.options import MAX_CHECKS, FirstOrderOptions
from approx.train.relocate import relocate, relocate_steps
from approx.train.schedules import SCHEDULES

__all__ = ["Converged", "Diverged", "Engine", "Outcome", "Tracker", "TrainResult", "first_order",
           "phase_label"]

Array = NDArray[np.float64]

#: what an optimizer runner returns: loss history, status, message, steps taken
Outcome = tuple[Array, str, str, int]


class Engine(Protocol):
    """What the optimizers use of an engine (the protocol of ``make_engine``)."""

    net: MLP
    theta: Array
    grad: Array
    p: float

    def __call__(self, X: Array, y: Array) -> float: ...

    def loss_only(self, X: Array, y: Array) -> float: ...

    def residuals(self, X: Array, y: Array) -> Array: ...

    def residual_jacobian(self, X: Array, y: Array) -> tuple[Array, Array]: ...


#: steps between checks of the run's time limit (:func:`approx.core.deadline.check`)
DEADLINE_EVERY = 64


@dataclass
class TrainResult:
    """The outcome of :func:`approx.train.train`.

    Attributes
    ----------
    net : MLP
        The best iterate (lowest training loss, or best monitor score when a monitor
        was given); never non-finite.
    history : ndarray of shape (n,)
        Training loss of the iterates: per step for full-batch SGD/Adam (the loss at
        which the step's gradient was taken), per epoch for mini-batch SGD/Adam, per
        function evaluation for L-BFGS (line-search trials included), and per accepted
        iterate for LM and the polish phase of ``"adam+lm"`` (the start, then each step
        that lowered the loss: rejected trial steps are not recorded, so that part is
        decreasing; the knot-form polish of a ReLU net records several such rounds, on
        the mean square or the Lᵖ error). ``"adam+lm"`` concatenates its two phases.
    status : str
        ``"converged"`` (tolerance or optimizer criterion met before the budget ran
        out), ``"completed"`` (the fixed budget of steps ran to its end: the normal,
        successful finish of a fixed-budget fit) or ``"diverged"`` (a non-finite loss
        stopped the fit). Only ``"diverged"`` is a failure.
    message : str
        Detail on the status.
    steps : int
        Optimizer steps taken (iterations for L-BFGS, function evaluations for LM).
    loss : float
        Training loss of ``net``.
    initial_loss : float
        Training loss of the starting point.
    score : float or None
        Monitor score of ``net`` when a monitor was given.
    phases : tuple of (str, int)
        Where each phase of ``history`` starts: ``("<optimizer>:<objective>", index)``,
        the objective ``mse`` (½ mean square) or ``L<p>`` ((1/pm) Σ |r|^p), e.g.
        ``(("adam:mse", 0), ("lm:L8", 2000))``; ``("widened", index)`` marks where a
        grown net's polish at full width starts (:func:`phase_label`).
    """

    net: MLP
    history: Array
    status: str
    message: str
    steps: int
    loss: float
    initial_loss: float
    score: float | None = None
    phases: tuple[tuple[str, int], ...] = ()


def phase_label(optimizer: str, p: float) -> str:
    """The name of a phase of a history: ``"<optimizer>:<objective>"``, the objective
    ``mse`` for p = 2 (the half mean square), ``L<p>`` for the Lᵖ loss, ``loss`` for
    any other (softmax)."""
    if p == 2.0:
        return f"{optimizer}:mse"
    return f"{optimizer}:L{p:g}" if math.isfinite(p) else f"{optimizer}:loss"


class Diverged(Exception):
    """Raised inside scipy callbacks to stop on a non-finite loss."""


class Converged(Exception):
    """Raised inside scipy callbacks to stop at the loss tolerance."""


class Tracker:
    """Keeps the best iterate seen, by training loss or by a monitor score.

    Parameters
    ----------
    theta : ndarray of shape (P,)
        The parameters being trained (read when an iterate is offered).
    net : MLP
        The net whose weights are views into ``theta`` (what the monitor scores).
    monitor : callable, optional
        ``monitor(net) -> float``, lower is better.
    every : int
        Steps between monitor checks.
    """

    def __init__(
        self,
        theta: Array,
        net: MLP,
        monitor: Callable[[MLP], float] | None,
        every: int,
    ) -> None:
        self.theta, self.net, self.monitor, self.every = theta, net, monitor, every
        self.best = theta.copy()
        self.best_key = math.inf
        self.best_loss = math.inf
        self.best_score: float | None = None
        #: where each phase of the runner's history starts (see ``TrainResult.phases``)
        self.phases: list[tuple[str, int]] = []

    def offer(self, loss: float, step: int, force: bool = False) -> None:
        """Consider the current θ, whose training loss is ``loss``, at ``step``."""
        if not math.isfinite(loss):
            return
        if self.monitor is None:
            key = loss
        elif force or step % self.every == 0:
            key = self.monitor(self.net)
        else:
            return
        if key < self.best_key:
            self.best_key, self.best_loss = key, loss
            self.best_score = None if self.monitor is None else key
            np.copyto(self.best, self.theta)


def diverged_message(name: str, lr: float, step: int) -> str:
    """The message of a first-order run stopped by a non-finite loss."""
    return (
        f"{name} diverged: the training loss became non-finite at step {step} "
        f"(lr={lr:g}); try a smaller learning rate"
    )


def first_order(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: FirstOrderOptions,
    rng: np.random.Generator | None,
    *,
    name: str,
) -> Outcome:
    """SGD or Adam (``name``) on ``(X, y)`` through ``engine``, θ updated in place.

    Full batch: one step per gradient, the loss recorded at each. Mini-batches (when
    ``options.batch_size`` < m): a fresh permutation from ``rng`` every epoch, the full
    training loss recorded once per epoch. Relocation (full batch, 1→d→1 ReLU nets) runs
    at :func:`relocate_steps`. The step size of each step is laid out first (the
    schedule looked up once); the monitor is consulted at most about
    :data:`~approx.train.options.MAX_CHECKS` times (a check costs many cheap steps).
    """
    opt = FIRST_ORDER[name](options)
    full = options.batch_size is None or options.batch_size >= X.shape[0]
    if not full and rng is None:
        raise ValueError("mini-batches need an rng (numpy.random.Generator)")
    schedule, steps = SCHEDULES[options.schedule], options.steps
    lrs = np.array([schedule(k, steps) for k in range(steps)]) * options.lr
    tracker.every = max(tracker.every, steps // MAX_CHECKS)
    if full:
        return _full_batch(engine, X, y, tracker, options, opt, lrs, name)
    return _mini_batches(engine, X, y, tracker, options, opt, lrs, name, rng)


def _full_batch(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: FirstOrderOptions,
    opt: SGD | Adam,
    lrs: Array,
    name: str,
) -> Outcome:
    """The full-batch loop of :func:`first_order`: one step per gradient; the steps
    between two of the monitor's checks in one compiled call where :func:`_fused` runs."""
    steps, tol, net = options.steps, options.tol, engine.net
    shallow_relu = (
        len(net.sizes) == 3 and net.sizes[0] == net.sizes[2] == 1 and net.activation == "relu"
    )
    relocate_at = relocate_steps(steps) if options.relocate and shallow_relu and net.bias else set()
    history = np.empty(steps)
    fused = _Fused.of(engine, opt, tracker, X.shape[0])
    step = held = 0
    while step < steps:
        if fused is not None and step % tracker.every and step >= held:
            end = _plain_end(step, steps, tracker.every, relocate_at)
            taken = fused.run(X, y, lrs[step:end], history[step:end], tol)
            if taken:
                step += taken
                _after(step - 1, relocate_at, net, X, y, engine, opt)
            if step == end:
                continue
            held = end  # a step the compiled loop left (it may end the fit): here, to the end
        value = engine(X, y)
        history[step] = value
        if not math.isfinite(value):
            message = diverged_message(name, options.lr, step)
            return history[: step + 1], "diverged", message, step
        tracker.offer(value, step)
        if value <= tol:
            return history[: step + 1], "converged", f"loss {value:.3g} ≤ tol {tol:g}", step
        opt.lr = lrs[step]
        opt.step(engine.theta, engine.grad)
        _after(step, relocate_at, net, X, y, engine, opt)
        step += 1
    return history, "completed", f"used the budget of {steps} steps", steps


def _after(step: int, relocate_at: set[int], net: MLP, X: Array, y: Array, engine: Engine,
           opt: SGD | Adam) -> None:
    """What follows the update of ``step``: a relocation, a deadline check."""
    if step + 1 in relocate_at:
        relocate(net, X.reshape(-1), engine.residuals(X, y).reshape(-1), opt)
    if (step + 1) % DEADLINE_EVERY == 0:
        deadline.check()


def _plain_end(step: int, steps: int, every: int, relocate_at: set[int]) -> int:
    """The end (exclusive) of the steps from ``step`` on that need nothing between them:
    up to the monitor's next check, and through the next step followed by a relocation
    or a deadline check."""
    end = min(steps, (step // every + 1) * every, (step // DEADLINE_EVERY + 1) * DEADLINE_EVERY)
    later = [r for r in relocate_at if r > step]  # (r: a relocation after step r − 1)
    return min([end, *later])


class _Fused:
    """Full-batch Adam steps in one compiled call each run of them
    (:meth:`approx.nn.engine.FusedEngine.adam_steps`): the numbers of the loop's own
    steps, bit for bit, without its calls per step (some microseconds each)."""

    def __init__(self, engine: Engine, opt: Adam, rows: int, longest: int) -> None:
        self.engine, self.opt = engine, opt
        self.R = np.empty((longest, rows))  # each step's residuals

    @classmethod
    def of(cls, engine: Engine, opt: SGD | Adam, tracker: Tracker, rows: int) -> _Fused | None:
        """The compiled loop where it runs: an Adam fit that a monitor judges (so its
        loss decides nothing between checks but the loop's end) on an engine that fuses
        Adam, of at most as many parameters as Adam's own compiled step takes."""
        if (not isinstance(opt, Adam) or tracker.monitor is None
                or not getattr(engine, "fuses_adam", False) or engine.theta is None
                or engine.theta.size > COMPILED_UP_TO):
            return None
        return cls(engine, opt, rows, min(tracker.every, DEADLINE_EVERY))

    def run(self, X: Array, y: Array, lrs: Array, history: Array, tol: float) -> int:
        """Steps at the step sizes ``lrs`` (their losses into ``history``) until one whose
        loss may be non-finite or at most ``tol``: that one is left to the caller. Returns
        the number taken."""
        moments, keeps, shifts, sizes = self.opt.ahead(self.engine.theta, lrs)
        # a loss at most tol sums here to at most tol (1 + m ε) plus m underflows
        stop = tol + abs(tol) * 1e-6 + 1e-290
        taken = self.engine.adam_steps(  # type: ignore[attr-defined]
            X, y, moments, keeps, shifts, sizes, stop, self.R, history)
        self.opt.taken(lrs[:taken])
        return taken


def _mini_batches(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: FirstOrderOptions,
    opt: SGD | Adam,
    lrs: Array,
    name: str,
    rng: np.random.Generator,
) -> Outcome:
    """The mini-batch loop of :func:`first_order`: epochs of batches, the full training
    loss recorded (and offered) before each epoch."""
    steps, tol, batch_size, m = options.steps, options.tol, options.batch_size, X.shape[0]
    history = np.empty(steps * batch_size // m + 1)
    n_rec = step = 0
    while step < steps:
        epoch_loss = engine.loss_only(X, y)
        history[n_rec] = epoch_loss
        n_rec += 1
        if not math.isfinite(epoch_loss):
            return history[:n_rec], "diverged", diverged_message(name, options.lr, step), step
        tracker.offer(epoch_loss, step, force=True)
        if epoch_loss <= tol:
            return history[:n_rec], "converged", f"loss {epoch_loss:.3g} ≤ tol {tol:g}", step
        deadline.check()
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            if step >= steps:
                break
            rows = order[start : start + batch_size]
            value = engine(X[rows], y[rows])
            if not math.isfinite(value):
                return history[:n_rec], "diverged", diverged_message(name, options.lr, step), step
            opt.lr = lrs[step]
            opt.step(engine.theta, engine.grad)
            step += 1
    return history[:n_rec], "completed", f"used the budget of {steps} steps", step
