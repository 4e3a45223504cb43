"""Second-order methods: L-BFGS, Levenberg–Marquardt, the LM polish of adam+lm.

Levenberg–Marquardt fits residuals: the ``"lp"`` loss enters through the transform
:func:`lp_residuals`, whose half sum of squares is that loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.train.knot_form import is_shallow_relu, spline_polish
from approx.train.lm_dense import levenberg_marquardt
from approx.train.lm_rules import NO_STEP, Damping, lp_residuals
from approx.train.loop import (
    Converged,
    Diverged,
    Engine,
    Outcome,
    Tracker,
    first_order,
    phase_label,
)
from approx.train.minimax import minimax_finish
from approx.train.options import AdamLMOptions, Options

__all__ = ["POLISH_MAX_PARAMS", "adam_lm", "gauss_newton", "lbfgs", "lm"]

Array = NDArray[np.float64]


def lbfgs(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: Options,
    rng: np.random.Generator | None = None,
) -> Outcome:
    """L-BFGS-B (scipy), ``options.steps`` iterations at most; every evaluation's loss is
    recorded and offered to the tracker (line-search trials included)."""
    from scipy.optimize import minimize

    steps, tol = options.steps, options.tol
    theta, grad = engine.theta, engine.grad
    history: list[float] = []
    iters = [0]

    def fun(th: Array) -> tuple[float, Array]:
        np.copyto(theta, th)
        value = engine(X, y)
        history.append(value)
        deadline.check()
        if not math.isfinite(value):
            raise Diverged
        tracker.offer(value, len(history))
        return value, grad.copy()

    def callback(intermediate_result: Any) -> None:
        iters[0] += 1
        if intermediate_result.fun <= tol:
            raise Converged

    try:
        res = minimize(
            fun,
            theta.copy(),
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={"maxiter": steps, "maxfun": 2 * steps + 20, "ftol": 1e-15, "gtol": 1e-12},
        )
    except Diverged:
        return np.array(history), "diverged", "L-BFGS met a non-finite loss", iters[0]
    except Converged:
        return np.array(history), "converged", f"loss ≤ tol {tol:g}", iters[0]
    np.copyto(theta, res.x)
    # status 1 is the iteration/evaluation budget; 0 and 2 (line search cannot improve) mean
    # the optimizer has nothing more to give
    status = "completed" if res.status == 1 else "converged"
    return np.array(history), status, f"L-BFGS-B: {res.message}", int(res.nit)


def lm(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: Options,
    rng: np.random.Generator | None = None,
) -> Outcome:
    """Levenberg–Marquardt on the normal equations with the exact Jacobian
    (:func:`~approx.train.lm_dense.levenberg_marquardt`), ``options.steps`` residual
    evaluations at most."""
    return levenberg_marquardt(engine, X, y, tracker, steps=options.steps, tol=options.tol)


def gauss_newton(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    *,
    steps: int,
    tol: float,
    p: float | None = None,
) -> Outcome:
    """Levenberg–Marquardt on the normal equations, in numpy: the polish of ``"adam+lm"``.

    Each iteration forms the residual Jacobian by backprop (``engine.residual_jacobian``),
    then tries steps ``δ = −(JᵀJ + λ diag JᵀJ)⁻¹ Jᵀρ`` (a Cholesky solve of size P)
    until one lowers the loss; λ follows Nielsen's gain-ratio rule. Residuals are
    transformed as in :func:`lm` so the Lᵖ error with exponent ``p`` (default: the
    engine's loss) is minimised. (:func:`lm` is the same method with MINPACK's
    non-decreasing scaling, its stopping tests and the start's evaluation counted.)

    Returns the loss at each accepted iterate (the first is the start), the status, a
    message and the number of function evaluations (trial steps), at most ``steps``.
    """
    theta = engine.theta
    m = X.shape[0]
    p = engine.p if p is None else p

    def lp_loss() -> float:
        r = engine.residuals(X, y).reshape(-1)
        rho, _ = lp_residuals(r, p, m)
        return 0.5 * float(rho @ rho)

    def linearise() -> tuple[Array, Array]:
        r, J = engine.residual_jacobian(X, y)
        rho, scale = lp_residuals(r, p, m)  # ½ Σ ρ² is the loss, as in lm
        return rho, scale[:, None] * J

    rho, J = linearise()
    value = 0.5 * float(rho @ rho)
    history = [value]
    damping, evals = Damping(), 0
    status, message = "completed", f"used the budget of {steps} evaluations"
    while evals < steps:
        deadline.check()
        if value <= tol:
            status, message = "converged", f"loss {value:.3g} ≤ tol {tol:g}"
            break
        A, g = J.T @ J, J.T @ rho
        if float(np.max(np.abs(g))) <= 1e-15 * max(value, 1e-300) or damping.exhausted:
            status, message = "converged", NO_STEP
            break
        accepted, used = _dense_trials(theta, A, g, value, lp_loss, damping, steps - evals)
        evals += used
        if not accepted:
            continue
        rho, J = linearise()
        value = 0.5 * float(rho @ rho)
        history.append(value)
        tracker.offer(value, len(history), force=True)
    return np.array(history), status, message, evals


def _dense_trials(
    theta: Array,
    A: Array,
    g: Array,
    value: float,
    loss: Callable[[], float],
    damping: Damping,
    budget: int,
) -> tuple[bool, int]:
    """Damped steps ``δ = −(A + λ diag A)⁻¹ g`` from θ (a Cholesky solve of size P) until
    one lowers the loss below ``value`` or ``budget`` trials are spent: whether one did
    (θ is left there; else unchanged) and the trials used."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    scale = np.maximum(np.diag(A), 1e-12 * max(float(np.max(np.diag(A))), 1e-300))
    start = theta.copy()
    used = 0
    while used < budget and not damping.exhausted:
        try:
            delta = -cho_solve(cho_factor(A + damping.lam * np.diag(scale)), g)
        except LinAlgError:
            damping.reject()
            continue
        np.copyto(start, theta)
        theta += delta
        trial = loss()
        used += 1
        # predicted decrease of the model ½‖ρ + Jδ‖² (positive for λ > 0)
        predicted = -float(delta @ g) - 0.5 * float(delta @ (A @ delta))
        if math.isfinite(trial) and trial < value:
            damping.accept((value - trial) / max(predicted, 1e-300))
            return True, used
        np.copyto(theta, start)
        damping.reject()
    return False, used


#: the polish's normal equations are P×P: beyond this a single step takes seconds
POLISH_MAX_PARAMS = 3 * 1024 + 1


#: the Adam phase of adam+lm sees every k-th sample, at least this many of them, and
#: at least this many per parameter
ADAM_MIN_SAMPLES, ADAM_SAMPLES_PER_PARAM = 1024, 4


def adam_lm(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    options: AdamLMOptions,
    rng: np.random.Generator | None = None,
) -> Outcome:
    """Adam to put the kinks in place, then Levenberg–Marquardt to polish.

    From a random start LM stalls (its steps are local and dead units give it zero
    Jacobian columns) and Adam ends on a noise floor; Adam's result is a start where
    LM's fast local convergence pays. The best iterate over both phases is kept. Adam
    sees every k-th sample, about ``max(1024, 4 P)`` of them (it only places the kinks);
    the polish, ``polish_steps`` evaluations, sees them all:

    - for a 1→d→1 ReLU net with biases, :func:`~approx.train.knot_form.spline_polish`: LM
      in the net's knot form, whose normal equations are banded (O(m + d) per step,
      any d);
    - otherwise :func:`gauss_newton` on the net's parameters (dense normal equations:
      at d = 64 one evaluation costs about a millisecond; at most
      :data:`POLISH_MAX_PARAMS` parameters).
    """

    n = engine.theta.size
    banded = is_shallow_relu(engine.net) and engine.p >= 2.0
    if not banded and n > POLISH_MAX_PARAMS:
        raise ValueError(
            f"adam+lm solves a {n}×{n} system at every polish step; it allows at most "
            f"{POLISH_MAX_PARAMS} parameters (d ≤ 1024 for a 1→d→1 net) unless the net "
            "is a 1→d→1 ReLU net with biases: use 'adam'"
        )
    every = tracker.every
    history, taken = np.empty(0), 0
    if options.steps:  # steps = 0: no Adam phase (the knots and construction inits, growth)
        # Adam only places the kinks: every k-th sample will do (its steps cost O(m P)),
        # while the polish, whose steps cost O(m) in the knot form, uses them all
        k = max(1, X.shape[0] // max(ADAM_MIN_SAMPLES, ADAM_SAMPLES_PER_PARAM * n))
        tracker.phases.append((phase_label("adam", engine.p), 0))
        history, status, message, taken = first_order(
            engine, X[::k], y[::k], tracker, options, rng, name="adam"
        )
        if status != "completed":
            return history, status, message, taken
    tracker.every = every  # LM evaluations are costly: check them at the caller's rate
    polish = spline_polish if banded else gauss_newton
    first = len(tracker.phases)  # the polish's rounds record theirs (spline_polish)
    polish_history, status, message, evals = polish(
        engine, X, y, tracker, steps=options.polish_steps, tol=options.tol, p=options.polish_p
    )
    if len(tracker.phases) == first:
        tracker.phases.append((phase_label("lm", options.polish_p), 0))
    tracker.phases[first:] = [(name, at + len(history)) for name, at in tracker.phases[first:]]
    if banded and tracker.monitor is not None and options.finish_steps and status != "converged":
        evals += minimax_finish(engine, X, y, tracker, options.finish_steps)
    return np.concatenate([history, polish_history]), status, message, taken + evals
