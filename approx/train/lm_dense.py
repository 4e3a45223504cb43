"""Levenberg–Marquardt on the normal equations, with the exact Jacobian: the optimizer ``lm``.

Each iteration linearises the residuals ρ at θ (:func:`~approx.train.lm_rules.lp_residuals`:
½ Σ ρ² is the loss; ``J = ∂ρ/∂θ`` by backprop, ``engine.residual_jacobian``), forms the
Gram matrix once, and tries damped Gauss–Newton steps

    δ = −(JᵀJ + λ S)⁻¹ Jᵀρ

until one lowers the loss, each by a Cholesky factorisation. ``S`` is the diagonal of
the largest squared column norms of J seen so far (Marquardt's scaling kept
non-decreasing, as MINPACK's ``mode = 1`` does; floored at 1e-12 of its largest entry so
a dead unit's zero column still has a definite system), and λ follows Nielsen's rule
(:class:`~approx.train.lm_rules.Damping`). With n residuals and P parameters, forming
``JᵀJ`` costs one BLAS ``syrk`` (n P²) per iteration and each trial P³/3; with fewer
residuals than parameters the same step comes from the n × n system
``δ = −S^{−½} Ĵᵀ (Ĵ Ĵᵀ + λ I)⁻¹ ρ``, ``Ĵ = J S^{−½}``. MINPACK's ``lmder`` (what ``lm``
used before, through scipy's ``least_squares``) spends O(n P²) in unblocked Householder
QR per iteration and O(P³) in Givens rotations for each damping it tries: at n = 1024
a run took 7–8× as long at d = 64 and 11–12× at d = 256 (``benchmarks/bench_lm.py``,
medians), its median max error at most 0.1% above MINPACK's per init and d = 16–256,
its median loss within 1.3% from the knots and the construction. The price is the squared
condition number of ``JᵀJ``, which the damping bounds (a factorisation that fails
raises λ like a rejected step); steps from an accurate QR of the stacked system
``[J; (λS)^½]`` gave the same result to 12 digits in the case tried (tanh10 from the
construction, d = 128). The results differ from MINPACK's (Nielsen's damping rule in
place of MINPACK's trust region), and are deterministic.

Every BLAS and LAPACK call runs on one thread (:func:`approx.core.threads.one_thread`),
so a run's numbers do not depend on the machine's thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.core.threads import one_thread
from approx.train.lm_rules import NO_STEP, Damping, lp_residuals
from approx.train.loop import Engine, Outcome, Tracker

__all__ = ["FTOL", "GTOL", "levenberg_marquardt"]

Array = NDArray[np.float64]

#: relative decrease of the loss (actual and predicted) below which an accepted step
#: ends the run, and the cosine between ρ and every column of J below which the start
#: of an iteration does (MINPACK's ``ftol`` and ``gtol`` as ``lm`` passed them)
FTOL, GTOL = 1e-15, 1e-15
#: the floor of the scaling ``S``, relative to its largest entry
SCALE_FLOOR = 1e-12


@dataclass
class _Point:
    """The linearisation at an iterate: ρ, J = ∂ρ/∂θ (n × P), the loss ½‖ρ‖², Jᵀρ and
    the squared column norms of J."""

    rho: Array
    J: Array
    value: float
    g: Array
    columns: Array


def _linearise(engine: Engine, X: Array, y: Array, p: float, m: int) -> _Point:
    """ρ and its Jacobian at the engine's θ (J scaled in the engine's own buffer)."""
    r, J = engine.residual_jacobian(X, y)
    rho, scale = lp_residuals(r.reshape(-1), p, m)
    J *= scale[:, None]  # the engine's Jacobian buffer, rewritten by its next call
    return _Point(rho, J, 0.5 * float(rho @ rho), J.T @ rho, np.einsum("ij,ij->j", J, J))


class _Steps:
    """The damped steps at one linearisation: the Gram matrix formed once, a Cholesky
    factorisation per λ (of JᵀJ + λ S when P ≤ n, else of Ĵ Ĵᵀ + λ I)."""

    def __init__(self, point: _Point, S: Array) -> None:
        n, P = point.J.shape
        self.point, self.S, self.primal = point, S, P <= n
        if self.primal:
            self.gram = point.J.T @ point.J
        else:
            self.root = np.sqrt(S)
            self.Jh = point.J / self.root
            self.gram = self.Jh @ self.Jh.T
        self.work = np.empty_like(self.gram)

    def __call__(self, lam: float) -> Array:
        """δ(λ); ``numpy.linalg.LinAlgError`` when the damped matrix is not numerically
        positive definite."""
        from scipy.linalg import cho_factor, cho_solve

        work = self.work
        np.copyto(work, self.gram)
        diagonal = work.reshape(-1)[:: work.shape[0] + 1]
        diagonal += lam * self.S if self.primal else lam
        factor = cho_factor(work, overwrite_a=True, check_finite=False)
        if self.primal:
            return -cho_solve(factor, self.point.g, check_finite=False)
        return -(self.Jh.T @ cho_solve(factor, self.point.rho, check_finite=False)) / self.root


def levenberg_marquardt(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    *,
    steps: int,
    tol: float,
    p: float | None = None,
) -> Outcome:
    """Minimise the Lᵖ loss (exponent ``p``, default the engine's) by Levenberg–Marquardt
    (see the module's docstring), θ updated in place.

    ``steps`` bounds the residual evaluations, as MINPACK's ``maxfev`` does: the start
    and every trial step count, the Jacobian at an accepted point does not. The start
    and every accepted iterate are offered to the tracker (the monitor consulted at
    each). The run ends early, ``"converged"``, at ``loss ≤ tol``, when ρ is orthogonal
    to J's columns (cosine ≤ :data:`GTOL`), when an accepted step lowers the loss by a
    relative :data:`FTOL` or less (and predicted no more), or when no step lowers it (λ
    beyond :data:`~approx.train.lm_rules.MAX_DAMPING`, or a step too small to change θ).
    A trial with a non-finite loss is rejected; only a non-finite start is
    ``"diverged"``.

    Returns
    -------
    Outcome
        The loss at the start and at each accepted iterate, the status, a message and
        the residual evaluations used.
    """
    with one_thread():
        return _run(engine, X, y, tracker, steps, tol, engine.p if p is None else p)


def _run(
    engine: Engine, X: Array, y: Array, tracker: Tracker, steps: int, tol: float, p: float
) -> Outcome:
    """The iterations of :func:`levenberg_marquardt`."""
    m = X.shape[0]
    point = _linearise(engine, X, y, p, m)
    history, evals = [point.value], 1
    if not math.isfinite(point.value):
        return np.array(history), "diverged", "LM met a non-finite loss at its start", evals
    tracker.offer(point.value, 1, force=True)
    S = np.zeros_like(point.columns)
    damping = Damping()
    status, message = "completed", f"used the budget of {steps} evaluations"

    def loss() -> float:
        rho, _ = lp_residuals(engine.residuals(X, y).reshape(-1), p, m)
        return 0.5 * float(rho @ rho)

    while evals < steps:
        deadline.check()
        np.maximum(S, point.columns, out=S)
        stop = _stop_before(point, tol, damping)
        if stop:
            status, message = "converged", stop
            break
        solve = _Steps(point, np.maximum(S, SCALE_FLOOR * float(np.max(S))))
        outcome = _trials(engine.theta, solve, loss, damping, steps - evals)
        evals += outcome.used
        if outcome.stop:
            status, message = "converged", outcome.stop
            break
        if outcome.value is None:
            continue
        previous, point = point.value, _linearise(engine, X, y, p, m)
        history.append(point.value)
        tracker.offer(point.value, len(history), force=True)
        if previous - outcome.value <= FTOL * previous and outcome.predicted <= FTOL * previous:
            status, message = "converged", f"relative decrease ≤ {FTOL:g}"
            break
    return np.array(history), status, message, evals


def _stop_before(point: _Point, tol: float, damping: Damping) -> str:
    """Why the run ends at this linearisation, or ``""``: the loss at ``tol``, ρ
    orthogonal to J's columns (cosine ≤ :data:`GTOL`), or λ exhausted."""
    if point.value <= tol:
        return f"loss {point.value:.3g} ≤ tol {tol:g}"
    norms = np.sqrt(point.columns) * math.sqrt(2.0 * point.value)
    live = norms > 0
    if not np.any(np.abs(point.g[live]) > GTOL * norms[live]) or damping.exhausted:
        return NO_STEP
    return ""


@dataclass
class _Trials:
    """What :func:`_trials` ended with: the accepted step's loss and predicted decrease
    (None, 0 when none was accepted), the evaluations used, and a reason to stop."""

    value: float | None
    predicted: float
    used: int
    stop: str


def _trials(
    theta: Array, solve: _Steps, loss: Callable[[], float], damping: Damping, budget: int
) -> _Trials:
    """Damped steps from θ until one lowers the loss or ``budget`` trials are spent (θ
    left at the accepted step, else unchanged); λ updated by Nielsen's rule."""
    from numpy.linalg import LinAlgError

    point, start, used = solve.point, theta.copy(), 0
    while used < budget:
        if damping.exhausted:
            return _Trials(None, 0.0, used, NO_STEP)
        try:
            delta = solve(damping.lam)
        except LinAlgError:
            damping.reject()
            continue
        np.add(start, delta, out=theta)
        if np.array_equal(theta, start):  # the step is below θ's rounding
            return _Trials(None, 0.0, used, NO_STEP)
        trial = loss()
        used += 1
        # the decrease of the model ½‖ρ + Jδ‖² (positive for λ > 0)
        Jd = point.J @ delta
        predicted = -float(delta @ point.g) - 0.5 * float(Jd @ Jd)
        if math.isfinite(trial) and trial < point.value:
            damping.accept((point.value - trial) / max(predicted, 1e-300))
            return _Trials(trial, predicted, used, "")
        np.copyto(theta, start)
        damping.reject()
    return _Trials(None, 0.0, used, "")
