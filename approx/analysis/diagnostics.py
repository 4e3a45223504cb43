"""Why a one-hidden-layer ReLU net falls short of the best net of its width.

A ``1 → d → 1`` ReLU net ``g(x) = Σ_i v_i max{0, w_i x + b_i} + c`` is a continuous
piecewise-linear function whose breakpoints are the units' ``τ_i = -b_i / w_i``. The
best such function for a smooth ``f`` (free knots, the L∞ norm) spends every unit on a
breakpoint inside the domain, places them with density ``∝ |f''|^{1/2}`` (asymptotically),
and its error equioscillates: on every piece it reaches ``±ε`` at both ends and, with
the opposite sign, inside, so ``n`` pieces give about ``2n + 1`` alternating extrema
(exactly ``2n + 1`` for ``x²`` and uniform pieces). Three diagnostics measure how far a
net is from that:

- :func:`unit_counts`: the units that add no breakpoint inside the domain (a zero
  weight, a breakpoint outside, or one within a rounding unit of another's);
- :func:`optimal_density`: the optimal knot density ``|f''|^{1/2} / ∫|f''|^{1/2}``, to
  hold the net's breakpoints (:func:`breakpoints_inside`) against;
- :func:`error_curve` and :func:`alternation`: the error ``f − g`` on a grid fine on
  every piece, and its alternating extrema that come within a tolerance of its max.

These are diagnostics, computed in floats: none of them is a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.nn import MLP
from approx.nn.piecewise import piecewise_linear
from approx.problems.targets import Target, check_target

__all__ = [
    "ALTERNATION_TOL",
    "Alternation",
    "KnotDensity",
    "UnitCounts",
    "alternation",
    "breakpoints_inside",
    "error_curve",
    "free_knot_level",
    "is_shallow_relu",
    "optimal_density",
    "unit_counts",
]

Array = NDArray[np.float64]

#: an extremum of the error counts towards the alternation when ``|e| ≥ (1 − tol) · max|e|``
ALTERNATION_TOL = 0.02
#: grid points per piece of the net in :func:`error_curve` (the sampled extremum of a
#: quadratic error on a piece is within ``2 / k²`` of the true one: 0.2% at ``k = 32``)
PER_PIECE = 32
#: the most points :func:`error_curve` evaluates
MAX_POINTS = 2**19


@dataclass(frozen=True)
class UnitCounts:
    """A one-hidden-layer net's units by what they add inside the domain; each unit is
    counted once, in the first class it falls in.

    Attributes
    ----------
    zero : int
        Units with a zero outer weight ``v_i`` or a zero inner weight ``w_i`` (a constant
        on the whole line, or nothing).
    outside : int
        Units with nonzero weights whose breakpoint is not inside the open domain
        ``(a, b)``: zero or linear on the whole domain (all of them together act as one
        linear function, so at most one of them is of use: the initial slope).
    merged : int
        Units whose breakpoint is inside but within one rounding unit (an ulp of
        ``max(|a|, |b|)``) of the previous one's in sorted order: one unit could carry both.
    inside : int
        The distinct breakpoints inside: ``d - zero - outside - merged``.
    """

    zero: int
    outside: int
    merged: int
    inside: int


@dataclass(frozen=True)
class Alternation:
    """The alternating extrema of an error curve near its max.

    Attributes
    ----------
    x, error : ndarray
        One point per run of same-signed near-max values (the largest of its run), in
        increasing ``x``; consecutive ones alternate in sign.
    count : int
        ``len(x)``: how many alternating extrema reach ``(1 − tol) · max|e|``.
    max : float
        ``max|e|`` on the grid.
    tol : float
        The relative tolerance used.
    """

    x: Array
    error: Array
    count: int
    max: float
    tol: float


@dataclass(frozen=True)
class KnotDensity:
    """The free-knot optimum's asymptotic knot density on a grid of the domain.

    Attributes
    ----------
    mid, rho : ndarray of shape (n,)
        The cells' midpoints and ``ρ = |f''|^{1/2} / ∫ |f''|^{1/2}`` there (``Σ ρ · h = 1``).
    cdf : ndarray of shape (n + 1,)
        The cumulative mass at the nodes (0 at ``a``, 1 at ``b``).
    mass : float
        ``∫ |f''|^{1/2}`` (midpoint rule).
    """

    mid: Array
    rho: Array
    cdf: Array
    mass: float


def is_shallow_relu(model: Any) -> bool:
    """Whether ``model`` is a ``1 → d → 1`` ReLU :class:`~approx.nn.MLP`."""
    return (isinstance(model, MLP) and model.activation == "relu" and len(model.sizes) == 3
            and model.sizes[0] == 1 and model.sizes[2] == 1)


def _units(net: MLP) -> tuple[Array, Array, Array]:
    """Inner weights, inner biases and outer weights of a shallow net, as flat arrays."""
    if not is_shallow_relu(net):
        raise ValueError("the diagnostics take a 1 → d → 1 ReLU net (an MLP)")
    return (np.asarray(net.weights[0][0], dtype=float), np.asarray(net.biases[0], dtype=float),
            np.asarray(net.weights[1][:, 0], dtype=float))


def _breakpoints(net: MLP, domain: tuple[float, float]) -> tuple[Array, int, int]:
    """Sorted breakpoints inside ``(a, b)`` of the units with nonzero weights, and the
    counts of zero-weight units and of those with the breakpoint outside."""
    w, b, v = _units(net)
    a, z = (float(t) for t in domain)
    live = (w != 0) & (v != 0)
    with np.errstate(all="ignore"):
        tau = -b[live] / w[live]
    inside = (tau > a) & (tau < z)
    return np.sort(tau[inside]), int((~live).sum()), int((~inside).sum())


def breakpoints_inside(net: MLP, domain: tuple[float, float]) -> Array:
    """The breakpoints ``-b_i / w_i`` (floats) inside the open ``domain`` of the units
    with nonzero inner and outer weights, sorted (repeats kept).

    Raises
    ------
    ValueError
        If ``net`` is not a ``1 → d → 1`` ReLU net.
    """
    return _breakpoints(net, domain)[0]


def unit_counts(net: MLP, domain: tuple[float, float]) -> UnitCounts:
    """Count the units of a ``1 → d → 1`` ReLU net that add no breakpoint inside ``domain``
    (see :class:`UnitCounts`).

    Raises
    ------
    ValueError
        If ``net`` is not a ``1 → d → 1`` ReLU net.
    """
    tau, zero, outside = _breakpoints(net, domain)
    unit = np.spacing(max(abs(float(domain[0])), abs(float(domain[1]))))
    merged = int((np.diff(tau) <= unit).sum())
    return UnitCounts(zero=zero, outside=outside, merged=merged, inside=tau.size - merged)


def optimal_density(target: Target, n: int = 2**14) -> KnotDensity | None:
    """The free-knot optimum's asymptotic knot density ``ρ = |f''|^{1/2} / ∫ |f''|^{1/2}``.

    Midpoint rule on ``n`` equal cells of the domain (``f''`` is never evaluated at a
    node, so an integrable singularity there is never hit; a non-finite value is replaced
    by the largest finite one, as :func:`approx.models.construct.adaptive_knots` does).

    Returns
    -------
    KnotDensity or None
        None when ``f''`` has no positive finite mass (``f`` linear).
    """
    check_target(target)
    a, b = target.domain
    nodes = np.linspace(a, b, n + 1)
    mid = 0.5 * (nodes[:-1] + nodes[1:])
    with np.errstate(all="ignore"):
        root = np.sqrt(np.abs(np.asarray(target.second_derivative(mid), dtype=float)))
    finite = np.isfinite(root)
    if not finite.any():
        return None
    root = np.where(finite, root, root[finite].max())
    mass = float(root @ np.diff(nodes))
    if not (mass > 0 and np.isfinite(mass)):
        return None
    cdf = np.concatenate(([0.0], np.cumsum(root * np.diff(nodes)) / mass))
    cdf[-1] = 1.0
    return KnotDensity(mid, root / mass, cdf, mass)


def free_knot_level(density: KnotDensity, d: int) -> float:
    """The free-knot optimum's asymptotic max error with ``d`` breakpoints inside (``d + 1``
    pieces): ``(∫ |f''|^{1/2})² / (16 (d + 1)²)``, half the optimally placed interpolant's.
    An estimate (exact for ``x²``: ``h² / 8`` on ``d + 1`` equal pieces), not a bound."""
    return density.mass**2 / (16.0 * (d + 1) ** 2)


def _grid(model: Any, domain: tuple[float, float]) -> tuple[Array, Array]:
    """Points on ``domain`` fine on every piece of the model, and its values there."""
    a, b = domain
    pieces = None
    if isinstance(model, MLP) and model.activation == "relu":
        try:
            pieces = piecewise_linear(model, (a, b))
        except ValueError:  # not a scalar net, or its pieces too dear: a uniform grid
            pieces = None
    if pieces is None:
        x = np.linspace(a, b, MAX_POINTS // 4 + 1)
        return x, np.asarray(model(x), dtype=float).reshape(-1)
    k = max(2, min(PER_PIECE, MAX_POINTS // max(1, pieces.x.size - 1)))
    t = np.arange(k) / k
    x = np.append((pieces.x[:-1, None] + t * np.diff(pieces.x)[:, None]).ravel(), pieces.x[-1])
    return x, np.interp(x, pieces.x, pieces.y)


def error_curve(target: Target, model: Any) -> tuple[Array, Array]:
    """The error ``f − f̂`` of a model on a grid of its domain.

    For a ReLU net the grid holds every breakpoint and :data:`PER_PIECE` equal steps on
    each piece (fewer when there are more than ``MAX_POINTS / PER_PIECE`` pieces), and the
    net's values come from its exact pieces
    (:func:`approx.nn.piecewise.piecewise_linear`); any other model is evaluated on
    ``MAX_POINTS / 4`` equal steps.

    Returns
    -------
    x, error : ndarray
        Increasing points of the domain (both ends included) and ``f(x) − f̂(x)`` there
        (NaN where either is not finite).
    """
    check_target(target)
    with np.errstate(all="ignore"):
        x, y = _grid(model, target.domain)
        e = np.asarray(target(x), dtype=float) - y
    return x, np.where(np.isfinite(e), e, np.nan)


def alternation(x: Array, error: Array, tol: float = ALTERNATION_TOL) -> Alternation:
    """The alternating extrema of ``error`` that reach ``(1 − tol) · max|error|``.

    The grid values with ``|e| ≥ (1 − tol) · max|e|`` are taken in order of ``x``; each run
    of consecutive such values of one sign gives one point (its largest ``|e|``). The
    count is the length of the longest sequence of near-max values alternating in sign:
    for a best approximation it is the number of equioscillation points (``2n + 1`` for
    the best ``n``-piece approximation of ``x²`` on uniform pieces; a net that loses
    somewhere has fewer). NaN values are skipped; an error that is zero (or NaN)
    everywhere gives count 0.
    """
    if not 0 <= tol < 1:
        raise ValueError(f"tol must be in [0, 1), got {tol}")
    x, error = np.asarray(x, dtype=float), np.asarray(error, dtype=float)
    keep = np.isfinite(error)
    x, error = x[keep], error[keep]
    top = float(np.max(np.abs(error))) if error.size else 0.0
    if not top > 0:
        return Alternation(np.empty(0), np.empty(0), 0, top, tol)
    near = np.flatnonzero(np.abs(error) >= (1 - tol) * top)
    sign = np.sign(error[near])
    starts = np.flatnonzero(np.r_[True, sign[1:] != sign[:-1]])
    picks = [run[np.argmax(np.abs(error[run]))]
             for run in np.split(near, starts[1:])]
    return Alternation(x[picks], error[picks], len(picks), top, tol)
