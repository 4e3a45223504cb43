"""Deep nets towards the minimax fit: Adam, then an Lᵖ continuation over every parameter.

The minimax finish of :mod:`approx.train.minimax` works in a one-hidden-layer net's knot
form; a net of several hidden layers has no such form, and L-BFGS on the mean square
ends where the error is small on average but peaks in a few places. ``adam+lp``
(:func:`adam_lp`) is a recipe for any depth:

1. Adam on the half mean square (``steps``, the step size and schedule of ``adam``)
   places the kinks;
2. an Lᵖ continuation: L-BFGS on the p-mean ``M_p(r) = (mean |r|^p)^(1/p)`` of the
   residuals over all parameters, ``polish_steps`` iterations for each p = 4, 8, 16, …
   up to ``polish_p`` (each stage starts from the last one's iterate; M_p is
   computed scaled by max |r|, so it neither underflows nor overflows at large p). As p
   grows, M_p tends to the max error over the training points, and its minimiser to
   the minimax fit;
3. at each stage, the points the p-mean sees are every k-th training point (about
   :data:`COARSE` of them) and all of them near the :data:`PEAKS` largest local maxima
   of |r| on the whole training set (``WINDOW`` neighbours on each side): dense where
   the error peaks, where large p concentrates its weight, and cheap elsewhere.

The iterate kept is the best by the caller's monitor (the validation max error of
``select = "max_error"``), else by the max residual over the training points. The
history records M_p itself at each evaluation of a stage, its phase named
``"lbfgs:M<p>"`` (not ``L<p>``, the (1/pm) Σ |r|^p of the other optimizers, which
underflows at such p).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.nn.engine import make_engine
from approx.train.loop import Diverged, Engine, Outcome, Tracker, first_order, phase_label
from approx.train.options import AdamLPOptions

__all__ = ["ADAM_SAMPLES", "COARSE", "PEAKS", "WINDOW", "adam_lp", "lp_continuation", "p_mean"]

Array = NDArray[np.float64]

#: points of the coarse part of each stage's working set (every k-th training point)
COARSE = 512
#: local maxima of |r| whose neighbourhoods join the working set, and their half-width
PEAKS, WINDOW = 64, 8
#: the first exponent of the continuation
P_START = 4.0
#: training points the Adam phase sees (every k-th): it only places the kinks
ADAM_SAMPLES = 1024


def p_mean(h: Array, y: Array, p: float) -> tuple[float, Array]:
    """``M_p = (mean |h − y|^p)^(1/p)`` and ``∂M_p/∂h``, scaled by ``a = max|h − y|``
    (``u = |r|/a`` ≤ 1, so no power over- or underflows).

    ``∂M_p/∂r_i = sign(r_i) u_i^(p−1) / (m s^((p−1)/p))`` with ``s = mean u^p``.
    """
    r = h - y.reshape(h.shape)
    a = float(np.max(np.abs(r))) if r.size else 0.0
    if not a or not math.isfinite(a):
        return a, np.zeros_like(r)
    u = np.abs(r) / a
    s = float(np.mean(u**p))
    grad = np.sign(r) * u ** (p - 1.0) / (r.shape[0] * s ** ((p - 1.0) / p))
    return a * s ** (1.0 / p), grad


def _working_set(r: Array, coarse: int = COARSE) -> Array:
    """Indices of every k-th point (about ``coarse``, both ends) and of the points within
    :data:`WINDOW` of the :data:`PEAKS` largest local maxima of ``|r|``."""
    m = r.size
    keep = np.zeros(m, dtype=bool)
    keep[:: max(1, m // coarse)] = True
    keep[[0, -1]] = True
    e = np.abs(r)
    inner = (e[1:-1] >= e[:-2]) & (e[1:-1] >= e[2:])
    peaks = np.concatenate([[0], np.flatnonzero(inner) + 1, [m - 1]])
    peaks = peaks[np.argsort(e[peaks])[::-1][:PEAKS]]
    for offset in range(-WINDOW, WINDOW + 1):
        keep[np.clip(peaks + offset, 0, m - 1)] = True
    return np.flatnonzero(keep)


def _stage(engine: Engine, X: Array, y: Array, tracker: Tracker, p: float, steps: int,
           start: int) -> list[float]:
    """One L-BFGS stage on ``M_p`` over ``(X, y)``; every evaluation offered to the
    tracker (keyed by the max training residual when there is no monitor)."""
    from scipy.optimize import minimize

    net, theta = engine.net, engine.theta
    grad = np.zeros_like(theta)
    work = make_engine(net, theta, grad, X.shape[0], lambda h, t: p_mean(h, t, p))
    history: list[float] = []

    def fun(th: Array) -> tuple[float, Array]:
        np.copyto(theta, th)
        value = work(X, y)
        deadline.check()
        if not math.isfinite(value):
            raise Diverged
        history.append(value)
        tracker.offer(value, start + len(history))
        return value, grad.copy()

    try:
        minimize(fun, theta.copy(), jac=True, method="L-BFGS-B",
                 options={"maxiter": steps, "maxfun": 2 * steps + 20, "ftol": 1e-15,
                          "gtol": 1e-14})
    except Diverged:
        pass
    return history


def lp_continuation(engine: Engine, X: Array, y: Array, tracker: Tracker, *, steps: int,
                    p_final: float) -> tuple[Array, int]:
    """Stages of :func:`_stage` at p = 4, 8, … up to ``p_final`` (the last stage at
    ``p_final`` itself), each from the best iterate so far and on the working set of its
    residuals (:func:`_working_set`, the points in order of x); returns the losses of
    every evaluation and their number. θ ends at the best iterate the tracker holds."""
    order = np.argsort(X.reshape(X.shape[0], -1)[:, 0], kind="stable")
    ps = [P_START * 2.0**k for k in range(64) if P_START * 2.0**k < p_final] + [p_final]
    history: list[float] = []
    for p in ps:
        np.copyto(engine.theta, tracker.best)
        residuals = engine.residuals(X, y).reshape(X.shape[0], -1)[:, 0]
        rows = np.sort(order[_working_set(residuals[order])])
        tracker.phases.append((f"lbfgs:M{p:g}", len(history)))  # (not L<p>: M_p itself)
        history += _stage(engine, X[rows], y[rows], tracker, p, steps, len(history))
    np.copyto(engine.theta, tracker.best)
    return np.array(history), len(history)


class _MaxResidual:
    """Offers an iterate to a tracker without a monitor by its max training residual
    (losses of different objectives do not compare)."""

    def __init__(self, engine: Engine, X: Array, y: Array) -> None:
        self.engine, self.X, self.y = engine, X, y

    def __call__(self, net: Any) -> float:
        return float(np.max(np.abs(self.engine.residuals(self.X, self.y))))


def adam_lp(engine: Engine, X: Array, y: Array, tracker: Tracker, options: AdamLPOptions,
            rng: np.random.Generator | None = None) -> Outcome:
    """The ``adam+lp`` runner: Adam on the mean square (every k-th point, about
    :data:`ADAM_SAMPLES` of them), then :func:`lp_continuation` (module docstring)."""
    history, taken = np.empty(0), 0
    every = tracker.every
    if options.steps:
        k = max(1, X.shape[0] // ADAM_SAMPLES)
        tracker.phases.append((phase_label("adam", engine.p), 0))
        history, status, message, taken = first_order(engine, X[::k], y[::k], tracker,
                                                      options, rng, name="adam")
        if status == "diverged":
            return history, status, message, taken
    tracker.every = every
    own = tracker.monitor is None
    if own:  # from here on, iterates compare by their max training residual
        np.copyto(engine.theta, tracker.best)
        tracker.monitor, tracker.every, tracker.best_key = _MaxResidual(engine, X, y), 1, math.inf
        tracker.offer(0.0, 0, force=True)
    first = len(tracker.phases)
    finish, evals = lp_continuation(engine, X, y, tracker, steps=options.polish_steps,
                                    p_final=options.polish_p)
    tracker.phases[first:] = [(name, at + history.size) for name, at in tracker.phases[first:]]
    if own:  # the caller's last offer (by its loss) must not replace the best iterate
        tracker.monitor, tracker.best_key, tracker.best_score = None, -math.inf, None
    return (np.concatenate([history, finish]), "completed",
            f"Adam, then the Lᵖ continuation to p = {options.polish_p:g}", taken + evals)
