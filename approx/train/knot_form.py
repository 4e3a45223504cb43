"""Levenberg–Marquardt for a 1→d→1 ReLU net in its knot form: banded, O(m + d) per step.

On the data range ``[lo, hi]`` a 1→d→1 ReLU net is a continuous piecewise-linear
function: knots ``lo = τ_0 < τ_1 < … < τ_d = hi`` and values ``u_0 … u_d`` there (d − 1
interior kinks and two ends: exactly what d units and an output bias can carry, see
:func:`to_theta`). In these coordinates each residual depends on the four numbers of
its own cell only: a sample ``x`` in ``[τ_c, τ_{c+1}]`` with ``λ = (x − τ_c)/h_c`` and
slope ``s_c`` has

    h(x) = (1 − λ) u_c + λ u_{c+1},
    ∂h/∂u_c = 1 − λ,  ∂h/∂u_{c+1} = λ,  ∂h/∂τ_c = −s_c (1 − λ),  ∂h/∂τ_{c+1} = −s_c λ.

With the parameters interleaved as ``q = (τ_0, u_0, τ_1, u_1, …)`` the Jacobian rows
touch four consecutive columns, so ``JᵀJ`` is banded (three diagonals above the main
one): each Levenberg–Marquardt step costs O(m) to assemble and O(d) to solve
(:func:`scipy.linalg.solveh_banded`), where the net's own parameters give a dense P×P
system (P = 3d + 1) costing O(m P² + P³). The ends ``τ_0``, ``τ_d`` stay fixed; a step
that would make two knots cross is rejected like one that raises the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.nn import MLP, unpack
from approx.nn.piecewise import piecewise_linear
from approx.train.lm_rules import NO_STEP, Damping, lp_residuals
from approx.train.loop import Engine, Outcome, Tracker, phase_label

__all__ = [
    "FINISH_P",
    "equidistribute",
    "knot_form",
    "lp_continuation",
    "spline_polish",
    "to_theta",
    "widen",
]

Array = NDArray[np.float64]

#: least knot spacing a step may leave, relative to the data range, and the largest
#: fraction of the distance to its neighbour a knot may move in one step
MIN_GAP, STEP_FRACTION = 1e-9, 0.45


def is_shallow_relu(net: MLP) -> bool:
    """Whether ``net`` is a 1→d→1 ReLU net with biases (what the knot form needs)."""
    return (
        len(net.sizes) == 3
        and net.sizes[0] == net.sizes[2] == 1
        and net.activation == "relu"
        and net.bias
    )


def knot_form(net: MLP, lo: float, hi: float) -> tuple[Array, Array]:
    """Knots ``τ`` and values ``u`` (shapes (d + 1,)) of ``net`` on ``[lo, hi]``.

    The net's own breakpoints inside ``(lo, hi)`` (at most d), thinned or refined to
    d − 1: a surplus knot is removed where that changes the function least (removing
    knot ``i`` moves it by ``|Δs_i| h_l h_r / (h_l + h_r)`` at most); missing knots split
    the cells into equal parts, more of them in the longer cells, which leaves the
    function unchanged and keeps the knots' density.
    """
    d = net.sizes[1]
    pw = piecewise_linear(net, (lo, hi))
    tau, u = pw.x.copy(), pw.y.copy()
    while tau.size > d + 1:
        h = np.diff(tau)
        s = np.diff(u) / h
        cost = np.abs(np.diff(s)) * h[:-1] * h[1:] / (h[:-1] + h[1:])
        drop = 1 + int(np.argmin(cost))
        tau, u = np.delete(tau, drop), np.delete(u, drop)
    cells = tau.size - 1
    if cells < d:
        h = np.diff(tau)
        parts = np.full(cells, d // cells)
        parts[np.argsort(-h, kind="stable")[: d - parts.sum()]] += 1
        frac = np.concatenate([np.arange(k) / k for k in parts])
        cell = np.repeat(np.arange(cells), parts)
        tau_new = tau[cell] + frac * h[cell]
        u = np.append(np.interp(tau_new, tau, u), u[-1])
        tau = np.append(tau_new, tau[-1])
    return tau, u


#: density floor of :func:`equidistribute`, as a fraction of the mean density (as the
#: adaptive construction's): nearly linear stretches keep some knots
DENSITY_FLOOR = 0.05


def _second_differences(grid: Array, tau: Array, u: Array, delta: float) -> Array:
    """``|f''|`` at ``grid`` of the piecewise-linear ``(τ, u)``, by second differences at
    the scale ``delta`` (the neighbours clamped to ``[τ_0, τ_last]``)."""
    lo, hi = float(tau[0]), float(tau[-1])
    fit = np.interp(grid, tau, u)
    left = np.interp(np.maximum(grid - delta, lo), tau, u)
    right = np.interp(np.minimum(grid + delta, hi), tau, u)
    return np.abs(left - 2.0 * fit + right) / delta**2


def equidistribute(tau: Array, u: Array, n: int | None = None,
                   floor: float = DENSITY_FLOOR, empty: Array | None = None,
                   anchors: Array | None = None, counts: NDArray[np.intp] | None = None
                   ) -> tuple[Array, Array]:
    """``n`` knots (default: as many as now) placed to equidistribute the fit's ``|f''|^½``.

    ``|f''|`` of the fit is estimated by second differences at the scale of its mean
    cell, ``δ = (τ_last − τ_0)/(cells)``, on a grid of ``4 · cells + 1`` points: a
    piecewise-linear function's second difference averages its slope changes over
    ``2δ``, so kinks crowded together by LM count for what they do, not for how close
    they are. The root of that estimate (floored at ``floor``, :data:`DENSITY_FLOOR` by
    default, of its mean) is the density; the new knots split its cumulative mass into
    equal parts: the rule
    of the adaptive construction, applied to the net being trained instead of to the
    target. Values at the new knots are the current fit's. ``empty``: intervals (rows
    ``[a, b]``) where the density is 0, unfloored (a flat part ending in a kink needs
    no knot: :func:`~approx.train.minimax.flat_to_kinks`). ``anchors``: sorted points
    strictly inside that are knots too (kinks of ``f``), ``counts`` other knots in the
    stretches between them (default: the ``n − 2 − len(anchors)`` shared by their
    mass, largest remainders first), each stretch's mass split into equal parts.
    """
    lo, hi, cells = float(tau[0]), float(tau[-1]), tau.size - 1
    n = tau.size if n is None else n
    grid = np.linspace(lo, hi, 4 * cells + 1)
    delta = (hi - lo) / cells
    kappa = _second_differences(grid, tau, u, delta)
    rho = np.sqrt(0.5 * (kappa[:-1] + kappa[1:]))
    rho = np.maximum(rho, floor * float(np.mean(rho)))
    for a, b in () if empty is None else empty:
        rho[(grid[:-1] >= a) & (grid[1:] <= b)] = 0.0
    # an affine fit (curvature at the rounding level of its values): equal cells
    if float(rho.max()) <= 1e-6 * math.sqrt((float(np.ptp(u)) + 1e-300) / (hi - lo) ** 2):
        rho = np.ones_like(rho)
    mass = np.concatenate(([0.0], np.cumsum(rho)))
    if anchors is not None and anchors.size:
        tau_new = _anchored(mass, grid, anchors, n, counts)
    else:
        tau_new = np.interp(np.linspace(0.0, mass[-1], n), mass, grid)
    tau_new[0], tau_new[-1] = lo, hi
    return tau_new, np.interp(tau_new, tau, u)


def _anchored(mass: Array, grid: Array, anchors: Array, n: int,
              counts: NDArray[np.intp] | None = None) -> Array:
    """The grid's ends, the sorted ``anchors`` inside, and ``counts`` knots in the
    stretches between them (default: ``n − 2 − len(anchors)`` shared by their mass,
    largest remainders first), each stretch's mass split into equal parts."""
    at = np.concatenate(([0.0], np.interp(anchors, grid, mass), [mass[-1]]))
    if counts is None:
        share = np.diff(at) / max(float(at[-1]), 1e-300) * (n - 2 - anchors.size)
        counts = np.floor(share).astype(np.intp)
        left = (n - 2 - anchors.size) - int(counts.sum())
        counts[np.argsort(-(share - counts), kind="stable")[:left]] += 1
    inner = [np.interp(a + (b - a) * np.arange(1, c + 1) / (c + 1), mass, grid)
             for a, b, c in zip(at[:-1], at[1:], counts, strict=True)]
    return np.sort(np.concatenate([grid[:1], anchors, grid[-1:], *inner]))


def widen(net: MLP, width: int, lo: float, hi: float) -> MLP:
    """A ReLU net of ``width`` units close to ``net`` on ``[lo, hi]``, knots re-placed.

    The knots of ``net`` (:func:`knot_form`) give the density of :func:`equidistribute`;
    ``width + 1`` knots are placed by it and the values are ``net``'s there, so the
    wide net interpolates the narrow one: growing a trained narrow net into a wide
    start for the polish.
    """
    tau, u = equidistribute(*knot_form(net, lo, hi), width + 1)
    out = MLP([1, width, 1], "relu")
    theta = out.pack()
    to_theta(tau, u, theta, out.sizes)
    out.unpack(theta)
    return out


def to_theta(tau: Array, u: Array, theta: Array, sizes: list[int]) -> None:
    """Write the net with knots ``τ`` and values ``u`` into ``theta`` (pack layout).

    Unit 0 is a ramp ``max{0, x − τ_0}`` with the first slope as output weight, unit
    ``k`` (1 ≤ k < d) a ramp from the interior knot ``τ_k`` carrying the slope change
    there, and the output bias is ``u_0``: on ``[τ_0, τ_d]`` the net is the
    piecewise-linear function through ``(τ, u)``.
    """
    (W0, W1), (b0, b1) = unpack(theta, sizes)
    s = np.diff(u) / np.diff(tau)
    W0[0] = 1.0
    b0[:] = -tau[:-1]
    W1[:, 0] = np.concatenate(([s[0]], np.diff(s)))
    b1[0] = u[0]


@dataclass(frozen=True)
class Norm:
    """How the knot-form LM measures residuals: in ``unit``s (the Lᵖ continuation's
    current max, so ``|r/unit|ᵖ`` stays in range), and with cell ``flat`` held level by
    a penalty (None: no penalty)."""

    unit: float = 1.0
    flat: int | None = None


NORM = Norm()
#: weight of the flat cell's penalty residual ``w (u_{j+1} − u_j)/unit``: the cell's
#: rise stays a small fraction of the max error
FLAT_WEIGHT = 30.0


def _assemble(
    tau: Array, u: Array, x: Array, y: Array, p: float, norm: Norm = NORM
) -> tuple[float, Array, Array, int]:
    """Loss ``½‖ρ‖²`` of the residuals in ``norm.unit``s (and the flat cell's penalty),
    banded ``JᵀJ`` (upper form, 4 rows), ``Jᵀρ``, and the empty cells: the compiled
    kernel (:mod:`approx.train._banded_numba`) where numba is installed, else
    :func:`_sums` in numpy."""
    if _NUMBA is not None:
        value, ab, g, empty = _NUMBA(tau, u, x, y, p, norm.unit)
    else:
        cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, tau.size - 2)
        value, ab, g, empty = _sums(tau, u, x, y, cell, p, norm.unit)
    if norm.flat is not None:  # one more residual w (u_{j+1} − u_j)/unit: columns 2j+1, 2j+3
        j, w = norm.flat, FLAT_WEIGHT / norm.unit
        pen = w * (u[j + 1] - u[j])
        value += 0.5 * pen * pen
        g[2 * j + 1] -= w * pen
        g[2 * j + 3] += w * pen
        ab[3, 2 * j + 1] += w * w
        ab[3, 2 * j + 3] += w * w
        ab[1, 2 * j + 3] -= w * w
    return value, ab, g, empty


def _sums(
    tau: Array, u: Array, x: Array, y: Array, cell: NDArray[np.intp], p: float, unit: float
) -> tuple[float, Array, Array, int]:
    """:func:`_assemble`'s sums over the samples in numpy (``cell``: each sample's)."""
    n = tau.size
    h = np.diff(tau)[cell]
    lam = (x - tau[cell]) / h
    s = (u[cell + 1] - u[cell]) / h
    r = (u[cell] + lam * (u[cell + 1] - u[cell]) - y) / unit
    rho, scale = lp_residuals(r, p, x.size)
    scale = scale / unit
    # columns of the cell's four parameters τ_c, u_c, τ_{c+1}, u_{c+1}, with the two
    # end knots held fixed
    J = [-s * (1.0 - lam), 1.0 - lam, -s * lam, lam]
    J[0] = np.where(cell == 0, 0.0, J[0])
    J[2] = np.where(cell == n - 2, 0.0, J[2])
    J = [scale * j for j in J]
    ab = np.zeros((4, 2 * n))
    g = np.zeros(2 * n)
    for i in range(4):
        g[i : i + 2 * (n - 1) : 2] += np.bincount(cell, J[i] * rho, minlength=n - 1)
        for k in range(i, 4):
            ab[3 + i - k, k : k + 2 * (n - 1) : 2] += np.bincount(
                cell, J[i] * J[k], minlength=n - 1
            )
    empty = n - 1 - int(np.count_nonzero(np.bincount(cell, minlength=n - 1)))
    return 0.5 * float(rho @ rho), ab, g, empty


def _numba_sums() -> Any:
    """The compiled :func:`_sums`, or None without numba."""
    try:
        from approx.train._banded_numba import assemble
    except ImportError:  # numba is optional where it has no wheels
        return None
    return assemble


_NUMBA = _numba_sums()


#: rounds of :func:`spline_polish`: (knots: from the "start", "replace"d by
#: :func:`equidistribute`, or as the last round left them; fit the Lᵖ error rather than
#: the mean square?; share of the budget). Two paths from the start, the better kept:
#: the Lᵖ error at once (best from a good start, such as a construction: the Lᵖ
#: landscape has many local minima, and the mean-square optimum sits near a worse one),
#: and the mean square first, knots re-placed, then the Lᵖ error (from a poor start,
#: such as a widened net, Lᵖ steps gain little: that error is far from quadratic).
ROUNDS = (
    ("start", True, 0.3),
    ("start", False, 0.2),
    ("replace", False, 0.2),
    ("continue", True, 0.3),
)


def spline_polish(
    engine: Engine,
    X: Array,
    y: Array,
    tracker: Tracker,
    *,
    steps: int,
    tol: float,
    p: float | None = None,
) -> Outcome:
    """Levenberg–Marquardt in the knot form of a 1→d→1 ReLU net, θ updated in place.

    LM is local: knots cannot cross, so a cluster of kinks left by Adam stays a cluster.
    The budget is therefore spent in the :data:`ROUNDS`: LM on the Lᵖ error (``p``,
    which pulls the fit toward the least max error) from the start; then again from the
    start, LM on the mean square, the knots re-placed by :func:`equidistribute` (the
    adaptive construction's rule applied to the current fit), LM on the mean square
    and on the Lᵖ error. The tracker keeps the best iterate of all rounds.

    Parameters
    ----------
    engine : Engine
        Of a 1→d→1 ReLU net with biases; ``engine.theta`` is overwritten by the knot
        form's net at the start (the same function on the data range) and at each
        accepted step, which is offered to the ``tracker``.
    X, y : ndarray of shape (m,)
        Training samples.
    steps, tol : int, float
        Budget of trial steps (function evaluations) over all rounds; stop once the
        loss is ≤ ``tol``.
    p : float, optional
        Exponent of the Lᵖ error minimised (default: the engine's loss).

    Returns
    -------
    Outcome
        The loss at each accepted iterate (each round's start included), status,
        message and the number of trial steps.
    """
    x, y = X.reshape(-1), y.reshape(-1)
    net, theta = engine.net, engine.theta
    p = engine.p if p is None else p
    start = tau, u = knot_form(net, float(x.min()), float(x.max()))
    history: list[float] = []
    evals = 0
    for k, (knots, lp, share) in enumerate(ROUNDS):
        if knots == "start":
            tau, u = start
        elif knots == "replace":
            tau, u = equidistribute(tau, u)
        budget = steps - evals if k == len(ROUNDS) - 1 else int(share * steps)
        tracker.phases.append((phase_label("lm", p if lp else 2.0), len(history)))
        tau, u, used, status, message = _levenberg_marquardt(
            tau, u, x, y, p if lp else 2.0, budget, tol, tracker, theta, net.sizes, history
        )
        evals += used
        if status == "converged" and message.startswith("loss"):
            break
    if status != "converged" or not message.startswith("loss"):
        status, message = "completed", f"used the budget of {steps} evaluations"
    return np.array(history), status, message, evals


#: the exponents of the Lᵖ continuation of :func:`minimax_finish`
FINISH_P = (16.0, 32.0, 64.0, 128.0, 256.0)


def lp_continuation(
    tau: Array,
    u: Array,
    x: Array,
    y: Array,
    tracker: Tracker,
    theta: Array,
    sizes: list[int],
    steps: int,
    flat: int | None = None,
) -> tuple[Array, Array, int]:
    """Lᵖ continuation towards the least max error: LM rounds at each of :data:`FINISH_P`.

    Each round starts where the last ended and minimises the mean of ``|r/E|ᵖ``, with
    ``E`` the largest residual at the round's start (so ``|r/E|ᵖ`` neither underflows
    nor overflows at large p); the budget of ``steps`` evaluations is shared equally.
    With ``flat``, that cell is held level by a penalty (:class:`Norm`). Returns the
    last knots and values and the evaluations used.
    """
    used, history = 0, []
    for k, p in enumerate(FINISH_P):
        norm = Norm(float(np.max(np.abs(np.interp(x, tau, u) - y))) or 1.0, flat)
        budget = (steps - used) // (len(FINISH_P) - k)
        tau, u, n, _, _ = _levenberg_marquardt(
            tau, u, x, y, p, budget, 0.0, tracker, theta, sizes, history, norm
        )
        used += n
    return tau, u, used


def _levenberg_marquardt(
    tau: Array,
    u: Array,
    x: Array,
    y: Array,
    p: float,
    steps: int,
    tol: float,
    tracker: Tracker,
    theta: Array,
    sizes: list[int],
    history: list[float],
    norm: Norm = NORM,
) -> tuple[Array, Array, int, str, str]:
    """One round of banded LM from ``(τ, u)``; appends accepted losses to ``history``.

    Steps ``δ = −(JᵀJ + λ D)⁻¹ Jᵀρ`` with ``D`` the diagonal of ``JᵀJ`` (floored), λ by
    Nielsen's gain-ratio rule, as :func:`approx.train.second_order.gauss_newton` but
    banded. Returns the last ``(τ, u)``, the trial steps used, a status and a message.
    """
    to_theta(tau, u, theta, sizes)
    it = _Iterate.at(tau, u, x, y, p, norm)
    history.append(it.value)
    tracker.offer(it.value, len(history), force=True)
    damping, evals = Damping(), 0
    gap = MIN_GAP * float(tau[-1] - tau[0])
    while evals < steps:
        deadline.check()
        if it.value <= tol:
            return it.tau, it.u, evals, "converged", f"loss {it.value:.3g} ≤ tol {tol:g}"
        if float(np.max(np.abs(it.g))) <= 1e-15 * max(it.value, 1e-300) or damping.exhausted:
            return it.tau, it.u, evals, "converged", NO_STEP
        accepted, used = _banded_trials(it, x, y, p, norm, gap, damping, steps - evals)
        evals += used
        if accepted is not None:
            it = accepted
            to_theta(it.tau, it.u, theta, sizes)
            history.append(it.value)
            tracker.offer(it.value, len(history))
    to_theta(it.tau, it.u, theta, sizes)
    return it.tau, it.u, evals, "completed", f"used the budget of {steps} evaluations"


@dataclass(frozen=True)
class _Iterate:
    """Knots and values, the loss there, the banded ``JᵀJ``, ``Jᵀρ`` and the empty cells."""

    tau: Array
    u: Array
    value: float
    ab: Array
    g: Array
    empty: int

    @classmethod
    def at(
        cls, tau: Array, u: Array, x: Array, y: Array, p: float, norm: Norm = NORM
    ) -> _Iterate:
        return cls(tau, u, *_assemble(tau, u, x, y, p, norm))


def _banded_trials(
    it: _Iterate,
    x: Array,
    y: Array,
    p: float,
    norm: Norm,
    gap: float,
    damping: Damping,
    budget: int,
) -> tuple[_Iterate | None, int]:
    """Damped banded steps from ``it`` until one lowers the loss without crossing knots
    (closer than ``gap``) or emptying a cell, or ``budget`` trials are spent: the new
    iterate (None if none) and the trials used."""
    from scipy.linalg import LinAlgError, solveh_banded

    diag = it.ab[3]
    floor = np.maximum(diag, 1e-12 * max(float(diag.max()), 1e-300))
    used = 0
    while used < budget and not damping.exhausted:
        damped = it.ab.copy()
        damped[3] += damping.lam * floor
        try:
            delta = -solveh_banded(damped, it.g, check_finite=False)
        except (LinAlgError, ValueError):
            damping.reject()
            continue
        used += 1
        # each knot moves at most STEP_FRACTION of the way to its neighbour: knots
        # never cross, and one knot that would does not veto the whole step
        h = np.diff(it.tau)
        move = np.clip(
            delta[0::2],
            -STEP_FRACTION * np.concatenate(([0.0], h)),
            STEP_FRACTION * np.concatenate((h, [0.0])),
        )
        delta[0::2] = move
        tau_t, u_t = it.tau + move, it.u + delta[1::2]
        if np.all(np.diff(tau_t) > gap):
            trial = _Iterate.at(tau_t, u_t, x, y, p, norm)
            # a cell without samples is free between them: none may newly appear
            if math.isfinite(trial.value) and trial.value < it.value and trial.empty <= it.empty:
                # predicted decrease of the model ½‖ρ + Jδ‖²: −δᵀg − ½ δᵀ(JᵀJ)δ
                predicted = -float(delta @ it.g) - 0.5 * _quad(it.ab, delta)
                # a clipped step may not be a model descent: count it a full gain
                damping.accept((it.value - trial.value) / predicted if predicted > 0 else 1.0)
                return trial, used
        damping.reject()
    return None, used


def _quad(ab: Array, z: Array) -> float:
    """``zᵀ A z`` for the symmetric banded ``A`` in upper form ``ab`` (4 rows)."""
    total = float(ab[3] @ (z * z))
    for k in range(1, 4):
        total += 2.0 * float(ab[3 - k, k:] @ (z[k:] * z[:-k]))
    return total
