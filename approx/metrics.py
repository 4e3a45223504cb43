"""Errors of a fitted model against its target: the true max error, the L2 error, theory.

:func:`max_error` is the supremum of ``|f - f̂|`` over the whole domain. For a
one-hidden-layer ReLU net it is *certified*: the net is linear between its breakpoints,
so on each piece the error ``e = f - line`` has ``e'' = f''`` and a branch-and-bound over
sub-intervals with the bound ``max(|e(l)|, |e(r)|) + M (r - l)² / 8`` (``M ≥ |f''|`` on
``[l, r]``) encloses the supremum to a relative ``1e-10``. For other models it is a dense
grid refined by bounded scalar searches around the best grid points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from approx.construct import check_target, check_width
from approx.models import Model
from approx.nn import MLP
from approx.piecewise import PiecewiseLinear, piecewise_linear
from approx.targets import Target

__all__ = [
    "MaxError",
    "adaptive_constant",
    "l2_error",
    "max_error",
    "max_error_at",
    "uniform_bound",
]

Array = NDArray[np.float64]

#: relative gap at which branch-and-bound stops: the returned value is at least
#: (1 - RTOL) times the supremum whenever the bound on |f''| holds
RTOL = 1e-10
#: intervals processed at once, so memory stays bounded whatever the number of pieces
_CHUNK = 8192
#: sample points per interval in each branch-and-bound round (ends included): each
#: round splits a surviving interval into _SAMPLES - 1 sub-intervals
_SAMPLES = 5
#: safeguard on branch-and-bound rounds; each round shrinks widths by 4 so the
#: hidden-error bound by 16, and 60 rounds take any interval below rounding
_MAX_ROUNDS = 60
#: grid points per local maximum refined by bounded search for non-piecewise models
_REFINE = 16
#: Gauss–Legendre nodes per panel for integrals
_GAUSS = 16


class MaxError(NamedTuple):
    """Where the max error is attained and its value: ``|f(x) - f̂(x)| = value``."""

    x: float
    value: float


def max_error(target: Target, model: Model) -> float:
    """The supremum over the domain of ``|f(x) - f̂(x)|``; see :func:`max_error_at`."""
    return max_error_at(target, model).value


def max_error_at(target: Target, model: Model) -> MaxError:
    """The supremum of ``|f - f̂|`` over the domain, and a point that attains it.

    For a ReLU :class:`~approx.nn.MLP` of sizes ``[1, d, 1]`` the value is certified:
    never below ``(1 - 1e-10)`` times the true supremum (given ``M = max|f''|`` from
    :meth:`Target.max_abs_second_derivative`; where that is infinite, the bound on each
    sub-interval is twice the larger ``|f''|`` at its ends, exact for ``f''`` monotone
    between samples, and sub-intervals touching a non-finite ``f''`` get a bounded scalar
    search). Cost: ``O(d log d)`` for the breakpoints plus a few target evaluations per
    piece; memory ``O(d)``.

    For other models (cos features, Chebyshev, spline, deeper nets): the error on a
    uniform grid fine enough for the model's oscillations, with a bounded scalar search
    around the :data:`_REFINE` largest local maxima.

    In both cases the returned value is attained: it is ``|f(x) - model(x)|`` evaluated
    at the returned ``x`` by the model itself, so it never exceeds the supremum.

    Parameters
    ----------
    target : Target
    model : Model
        Callable on an ndarray of shape (m,), returning shape (m,).

    Returns
    -------
    MaxError
        ``(x, value)``.
    """
    check_target(target)
    if _is_relu_net(model):
        x, _ = _max_error_piecewise(target, piecewise_linear(model, target.domain))
    else:
        x = _max_error_sampled(target, model)
    value = abs(float(target(np.array([x]))[0] - model(np.array([x]))[0]))
    return MaxError(x=x, value=value)


def _is_relu_net(model: object) -> bool:
    return (
        isinstance(model, MLP)
        and model.activation == "relu"
        and len(model.sizes) == 3
        and model.sizes[0] == model.sizes[2] == 1
    )


def _max_error_piecewise(target: Target, pw: PiecewiseLinear) -> tuple[float, float]:
    """Branch-and-bound over the pieces of ``pw``; returns ``(x, |e(x)|)`` of the best point.

    The state is a set of intervals, each inside one piece ``j``, with the error at its
    ends. Each round samples every interval at ``_SAMPLES - 2`` interior points, raises
    the best value seen, and keeps a sub-interval only if its bound
    ``max(|e(l)|, |e(r)|) + M w² / 8`` could still beat the best by more than the
    tolerance; when none is left, the best value is within the tolerance of the supremum.
    """
    M = target.max_abs_second_derivative()
    local = not np.isfinite(M)

    def err(x: Array, piece: NDArray[np.intp]) -> Array:
        return target(x) - (pw.y[piece] + pw.slopes[piece] * (x - pw.x[piece]))

    e_nodes = target(pw.x) - pw.y
    k = int(np.argmax(np.abs(e_nodes)))
    best_x, best = float(pw.x[k]), float(abs(e_nodes[k]))
    # errors of f and the line cancel to rounding: below this floor, gaps are noise
    floor = 8 * np.finfo(np.float64).eps * float(np.max(np.abs(pw.y)) + np.max(np.abs(e_nodes)))
    piece = np.arange(pw.n_pieces)
    lo, hi, elo, ehi = pw.x[:-1], pw.x[1:], e_nodes[:-1], e_nodes[1:]
    singular: list[tuple[float, float, int]] = []
    t = np.linspace(0.0, 1.0, _SAMPLES)

    for _ in range(_MAX_ROUNDS):
        if lo.size == 0:
            break
        kept: list[tuple[Array, ...]] = []
        for s in range(0, lo.size, _CHUNK):
            p = piece[s : s + _CHUNK]
            X = lo[s : s + _CHUNK, None] + (hi - lo)[s : s + _CHUNK, None] * t
            X[:, -1] = hi[s : s + _CHUNK]
            P = np.broadcast_to(p[:, None], X.shape)
            E = np.empty_like(X)
            E[:, 0], E[:, -1] = elo[s : s + _CHUNK], ehi[s : s + _CHUNK]
            E[:, 1:-1] = err(X[:, 1:-1], P[:, 1:-1])
            A = np.abs(E)
            i = int(np.argmax(A))
            if A.flat[i] > best:
                best, best_x = float(A.flat[i]), float(X.flat[i])
            w = X[:, 1:] - X[:, :-1]
            if local:
                with np.errstate(all="ignore"):
                    f2 = np.abs(target.second_derivative(X))
                bound = 2 * np.maximum(f2[:, :-1], f2[:, 1:])
            else:
                bound = np.full(w.shape, M)
            ub = np.maximum(A[:, :-1], A[:, 1:]) + bound * w * w / 8
            bad = ~np.isfinite(ub)
            for r, c in zip(*np.nonzero(bad), strict=True):
                singular.append((float(X[r, c]), float(X[r, c + 1]), int(P[r, c])))
            keep = ~bad & (ub > best + RTOL * best + floor)
            kept.append(
                (
                    X[:, :-1][keep],
                    X[:, 1:][keep],
                    E[:, :-1][keep],
                    E[:, 1:][keep],
                    P[:, :-1][keep],
                    ub[keep],
                )
            )
        lo, hi, elo, ehi, piece, ub = (np.concatenate(z) for z in zip(*kept, strict=True))
        # prune again with the best value of the whole round
        keep = ub > best + RTOL * best + floor
        lo, hi, elo, ehi, piece = lo[keep], hi[keep], elo[keep], ehi[keep], piece[keep]

    for left, right, j in singular:
        x, value = _search(lambda z, j=j: err(z, np.full(z.shape, j)), left, right)
        if value > best:
            best, best_x = value, x
    # polish the winner inside its piece (it may sit between the last samples)
    j = int(np.clip(np.searchsorted(pw.x, best_x, side="right") - 1, 0, pw.n_pieces - 1))
    x, value = _search(lambda z: err(z, np.full(z.shape, j)), pw.x[j], pw.x[j + 1], best_x)
    if value > best:
        best, best_x = value, x
    return best_x, best


def _search(
    e: Callable[[Array], Array],
    left: float,
    right: float,
    centre: float | None = None,
) -> tuple[float, float]:
    """Bounded scalar search for the max of ``|e|`` on ``[left, right]``.

    With ``centre`` the search is confined to a small bracket around it, so a polish
    cannot wander to another local maximum of the interval.
    """
    if centre is not None:
        half = 1e-3 * (right - left)
        left, right = max(left, centre - half), min(right, centre + half)
    if not right > left:
        x = float(left)
        return x, float(abs(e(np.array([x]))[0]))
    # search the offset from the bracket's middle: Brent's tolerance has a term
    # √eps·|variable|, which in x itself would be far wider than the bracket near a kink
    mid = 0.5 * (left + right)
    res = minimize_scalar(
        lambda u: -abs(float(e(np.array([mid + u]))[0])),
        bounds=(left - mid, right - mid),
        method="bounded",
        options={"xatol": 4 * np.finfo(float).eps * max(abs(left), abs(right), right - left)},
    )
    return float(mid + res.x), float(-res.fun)


def _grid_size(model: Model, target: Target) -> int:
    """Grid points for a sampled max error: dense enough for the model's wiggles."""
    if isinstance(model, MLP):
        # cos features oscillate with period 2π/|w|: keep ≥ 32 points per period
        freq = float(np.abs(model.weights[0]).max()) * target.width / (2 * np.pi)
        n = max(32 * max(model.sizes), int(32 * freq))
    else:
        # a degree d-1 polynomial or a d-knot spline has at most ~d wiggles
        n = 32 * model.n_params
    return int(min(max(n, 2**16), 2**22))


def _max_error_sampled(target: Target, model: Model) -> float:
    """Argmax of ``|f - f̂|`` from a dense grid refined around its best local maxima."""
    a, b = target.domain
    x = np.linspace(a, b, _grid_size(model, target))
    e = np.abs(target(x) - model(x))
    # local maxima of the sampled error, ends included
    padded = np.concatenate(([-np.inf], e, [-np.inf]))
    peaks = np.nonzero((e >= padded[:-2]) & (e >= padded[2:]))[0]
    peaks = peaks[np.argsort(e[peaks])[::-1][:_REFINE]]
    best_x, best = float(x[peaks[0]]), float(e[peaks[0]])

    def err(z: Array) -> Array:
        return target(z) - model(z)

    for i in peaks:
        left, right = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
        xi, value = _search(err, left, right)
        if value > best:
            best, best_x = value, xi
    return best_x


def l2_error(target: Target, model: Model) -> float:
    """The L2 norm ``(∫_a^b (f - f̂)² dx)^{1/2}`` by composite Gauss–Legendre quadrature.

    Panels are the pieces of a ReLU net (the error is smooth on each), otherwise a
    uniform partition as fine as the grid of :func:`max_error`; ``_GAUSS`` nodes each.
    """
    check_target(target)
    a, b = target.domain
    if _is_relu_net(model):
        pw = piecewise_linear(model, target.domain)
        edges, evaluate = pw.x, pw
    else:
        edges, evaluate = np.linspace(a, b, _grid_size(model, target) // _GAUSS + 1), model
    return float(np.sqrt(_gauss(lambda z: (target(z) - evaluate(z)) ** 2, edges)))


def _gauss(g: Callable[[Array], Array], edges: Array) -> float:
    """``∫ g`` over ``[edges[0], edges[-1]]``: Gauss–Legendre on every panel, chunked."""
    nodes, weights = np.polynomial.legendre.leggauss(_GAUSS)
    total = 0.0
    n = edges.size - 1
    for s in range(0, n, _CHUNK):
        stop = min(s + _CHUNK, n)
        left, right = edges[s:stop], edges[s + 1 : stop + 1]
        half = 0.5 * (right - left)
        z = (0.5 * (left + right))[:, None] + half[:, None] * nodes
        total += float(np.sum(g(z.ravel()).reshape(z.shape) @ weights * half))
    return total


def uniform_bound(target: Target, d: int) -> float:
    """The uniform-knot bound ``h² / 8 · max|f''|`` with ``h = (b - a)/(d - 1)``.

    The max error of piecewise-linear interpolation at ``d`` equally spaced knots never
    exceeds it; ``inf`` when ``f''`` is unbounded (e.g. ``abs15``).
    """
    check_target(target)
    d = check_width(d, minimum=2)
    h = target.width / (d - 1)
    return h * h / 8 * target.max_abs_second_derivative()


def adaptive_constant(target: Target, d: int) -> float:
    """The asymptotic max error of optimally placed knots, ``(∫ √|f''|)² / (8 (d - 1)²)``.

    The integral is composite Gauss–Legendre on 2048 panels: its nodes never touch a
    panel end, so an integrable singularity of ``f''`` at a panel end (``abs15`` at 0)
    is never evaluated; a node value that is still non-finite contributes nothing.
    """
    check_target(target)
    d = check_width(d, minimum=2)
    a, b = target.domain

    def root(z: Array) -> Array:
        with np.errstate(all="ignore"):
            r = np.sqrt(np.abs(target.second_derivative(z)))
        return np.where(np.isfinite(r), r, 0.0)

    mass = _gauss(root, np.linspace(a, b, 2049))
    return mass * mass / (8 * (d - 1) ** 2)
