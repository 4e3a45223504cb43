"""What the theory of the lecture's construction says: the uniform-knot bound (a rigorous
bound of the float construction's max error) and the asymptotic constant of optimally
placed knots (an estimate)."""

from __future__ import annotations

import math

import numpy as np
from flint import arb
from numpy.typing import NDArray

from approx.analysis.quadrature import gauss_legendre
from approx.arith.balls import TINY, U, arb_context, upper
from approx.certify import targets as certified
from approx.certify.derivatives import integral_sqrt_abs_derivative
from approx.core.validate import integer
from approx.models.construct import relu_interpolant, uniform_knots
from approx.nn import MLP
from approx.nn.piecewise import PiecewiseLinear, piecewise_linear
from approx.problems.targets import Target, check_target

__all__ = ["adaptive_constant", "construction_rounding", "uniform_bound"]

Array = NDArray[np.float64]


def uniform_bound(target: Target, d: int) -> float:
    """A rigorous upper bound of the max error of ``relu_interpolant(target, d)``.

    ``h² / 8 · max|f''| + δ``: the first term bounds piecewise-linear interpolation of
    ``f`` at the ``d`` uniform float knots (``h`` their largest spacing, rounded up;
    ``max|f''|`` a rigorous upper bound, tight to ``1e-9``), and ``δ``
    (:func:`construction_rounding`) bounds how far the construction's float weights put
    the net from that exact interpolant. So the construction's max error, as
    :func:`approx.analysis.errors.max_error_at` encloses it, never exceeds the result
    (rounded up). ``inf`` when ``f''`` is unbounded (e.g. ``abs15``) or a term overflows.
    """
    check_target(target)
    d = integer(d, "d", minimum=2)
    curve = certified.max_abs_second_derivative(target)
    knots = uniform_knots(target, d)
    with np.errstate(all="ignore"):
        h = float(np.max(np.diff(knots))) * (1 + 2 * U)  # each difference rounded once
        interpolation = h * h / 8 * curve * (1 + 8 * U) + TINY
    if not math.isfinite(interpolation):
        return math.inf
    delta = construction_rounding(target, relu_interpolant(target, d), knots)
    return (interpolation + delta) * (1 + 4 * U)


def construction_rounding(target: Target, net: MLP, knots: Array) -> float:
    """A rigorous bound of ``sup |N - I|`` over the domain: ``N`` the function the net's
    float weights define, ``I`` the exact piecewise-linear interpolant of ``f`` at ``knots``.

    Both are piecewise linear, so the difference is largest at a breakpoint of one of
    them. ``N``'s pieces are exact (:func:`approx.nn.piecewise.piecewise_linear`, with
    radii for their one rounding), ``f`` at the knots is enclosed in Arb, and the
    difference at the merged breakpoints is evaluated in floats with a bound on every
    rounding (16 units of the sizes of the terms: three roundings each way and a
    subtraction), so the result is an upper bound whatever the net. ``inf`` when a
    value overflows.

    Parameters
    ----------
    target : Target
        With a ball form (built-ins and expressions have one).
    net : MLP
        A ``1 → d → 1`` ReLU net, e.g. :func:`~approx.models.construct.relu_interpolant`.
    knots : ndarray of shape (m,)
        Strictly increasing floats, from ``a`` to ``b``.
    """
    finite = all(np.isfinite(p).all() for p in [*net.weights, *net.biases])
    lo, hi = _knot_values(target, knots)
    if not (finite and np.isfinite(lo).all() and np.isfinite(hi).all()):
        return math.inf  # (weights that overflowed define no real function to bound)
    pw = piecewise_linear(net, target.domain)
    with np.errstate(all="ignore"):
        value = lo + (hi - lo) / 2
        radius = (hi - lo) * (1 + 4 * U)
        p = np.union1d(pw.x, knots)
        k = np.clip(np.searchsorted(pw.x, p[:-1], side="right") - 1, 0, pw.n_pieces - 1)
        j = np.clip(np.searchsorted(knots, p[:-1], side="right") - 1, 0, knots.size - 2)
        ends = [_difference(pw, knots, value, radius, t, k, j) for t in (p[:-1], p[1:])]
        slack = pw.slack[k] if pw.slack is not None else 0.0
        bound = float(np.max(slack + np.maximum(*ends))) * (1 + 16 * U) + TINY
    return bound if math.isfinite(bound) else math.inf


def _knot_values(target: Target, knots: Array) -> tuple[Array, Array]:
    """Floats ``lo ≤ f(x) ≤ hi`` at each knot, from the target's ball form."""
    if target.ball is None:
        return np.full(knots.size, -np.inf), np.full(knots.size, np.inf)
    lo, hi = np.empty(knots.size), np.empty(knots.size)
    with arb_context():
        for i, x in enumerate(knots.tolist()):
            v = target.ball(arb(x), False)
            lo[i], hi[i] = -upper(-v), upper(v)
    return lo, hi


def _difference(
    pw: PiecewiseLinear,
    knots: Array,
    value: Array,
    radius: Array,
    t: Array,
    k: NDArray[np.intp],
    j: NDArray[np.intp],
) -> Array:
    """An upper bound of ``|N(t) - I(t)|`` at the points ``t`` of pieces ``k`` of ``N``
    and segments ``j`` of the knots (floats, every rounding bounded)."""
    run = t - pw.x[k]
    line = pw.slopes[k] * run
    net = pw.y[k] + line
    fl, fr = value[j], value[j + 1]
    theta = (t - knots[j]) / (knots[j + 1] - knots[j])
    interpolant = fl + (fr - fl) * theta
    e = np.abs(net - interpolant)
    assert pw.y_err is not None and pw.slope_err is not None  # a net's pieces carry them
    err = pw.y_err[k] + pw.slope_err[k] * np.abs(run) + radius[j] + radius[j + 1]
    sizes = np.abs(pw.y[k]) + np.abs(line) + np.abs(fl) + np.abs(fr) + e
    return e + err + 16 * U * sizes + 16 * TINY


def adaptive_constant(target: Target, d: int) -> float:
    """An estimate of optimally placed knots' max error: ``(∫ √|f''|)² / (8 (d - 1)²)``.

    The integral is enclosed (:func:`approx.certify.derivatives.integral_sqrt_abs_derivative`) to a
    relative ``1e-7`` and the midpoint of its enclosure used; where ``f''`` is unbounded
    on a cell narrower than ``2⁻³⁶`` of the domain (``abs15`` at 0) that cell adds its
    Gauss–Legendre estimate instead. An *estimate*: the asymptotic error as ``d → ∞``, not
    a bound of any finite ``d``'s error (the adaptive construction may exceed it).
    """
    check_target(target)
    d = integer(d, "d", minimum=2)
    lower, upper = integral_sqrt_abs_derivative(certified.taylor(target), 2)
    mass = 0.5 * (lower + upper) if np.isfinite(upper) else lower + _rough_mass(target)
    return mass * mass / (8 * (d - 1) ** 2)


def _rough_mass(target: Target) -> float:
    """Gauss–Legendre estimate of ``∫ √|f''|`` over the target's rough blocks."""
    t = certified.taylor(target)
    total = 0.0
    for i in np.nonzero(t.rough)[0]:

        def root(z: Array) -> Array:
            with np.errstate(all="ignore"):
                r = np.sqrt(np.abs(target.second_derivative(z)))
            return np.where(np.isfinite(r), r, 0.0)

        total += gauss_legendre(root, np.linspace(t.edges[i], t.edges[i + 1], 65))
    return total
