"""Errors of a fitted model against its target: the certified max error, the L2 error,
the theory's bounds and the fitted convergence rates.

:func:`max_error_at` encloses ``sup |f - f̂|`` over the whole closed domain:
``value ≤ sup ≤ upper``, with ``value = |f(x) - f̂(x)|`` attained at the returned ``x``
and ``upper`` rigorous. ``f`` is enclosed from its ball form (Taylor models in Arb,
:mod:`approx.enclose`); ``f̂`` is the real function the stored float weights define:

- ReLU nets of any depth are piecewise linear with exact pieces (:mod:`approx.piecewise`);
- splines are piecewise cubics, their coefficients read as stored;
- Chebyshev series of any degree are evaluated by Clenshaw's recurrence in floats with a
  rigorous error bound, their derivatives bounded by Cauchy's estimate on Bernstein
  ellipses (:mod:`approx.enclose_chebyshev`);
- ``1 → d → 1`` cos nets, such as random Fourier features
  (:mod:`approx.enclose_features`), are evaluated in floats with rigorous error bounds;
- other nets with smooth activations (deeper cos nets, tanh, sigmoid) are enclosed in
  Arb like a target, at a cost of ``d`` operations per evaluation;

all under a work cap counted in operations.

The branch-and-bound stops once ``upper - value ≤ max(rtol · value, atol)``, with
``rtol = 1e-9`` for built-in and expression targets alike, and ``atol`` a few
rounding units of ``max |f|`` plus the size of the model's terms. When the work cap or
rounding stops it first, ``upper`` is still rigorous and :attr:`MaxError.tight` is False.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from flint import arb
from numpy.typing import ArrayLike, NDArray

from approx import branch_bound, derivative_bounds, enclose
from approx.baselines import ChebyshevModel, SplineModel
from approx.construct import check_target, check_width
from approx.enclose import LocalPolys, from_coefficients
from approx.enclose_chebyshev import ChebyshevPolys
from approx.enclose_features import FeaturePolys, features_fit
from approx.models import Model
from approx.nn import ACTIVATIONS, MLP
from approx.piecewise import TooManyPieces, exact_value, piecewise_linear
from approx.targets import Target

__all__ = [
    "MaxError",
    "Rate",
    "adaptive_constant",
    "fit_rate",
    "l2_error",
    "max_error",
    "max_error_at",
    "uniform_bound",
]

Array = NDArray[np.float64]

#: relative tolerance of the enclosure (Taylor models enclose an expression as tightly
#: as a closed form, so expressions get the built-ins' tolerance)
RTOL = 1e-9
#: the absolute tolerance in units of roundoff of (max |f| + the model's term size)
ATOL_ULPS = 16
#: Gauss–Legendre nodes per panel for the L2 error
_GAUSS = 16
#: intervals processed at once, so memory stays bounded whatever the number of panels
_CHUNK = 8192


class MaxError(NamedTuple):
    """``value ≤ sup_x |f(x) - f̂(x)| ≤ upper``.

    Attributes
    ----------
    x : float
        Where ``value`` is attained.
    value : float
        ``|f(x) - f̂(x)|``, computed exactly and rounded down: a lower bound of the sup.
    upper : float
        A rigorous upper bound of the sup (``inf`` when nothing could be enclosed: a
        target without ball form, or a model of unknown kind).
    tight : bool
        True when ``upper - value`` is within the tolerance; False when the work cap
        (or rounding) stopped the refinement first: ``upper`` is then wider.
    """

    x: float
    value: float
    upper: float = float("inf")
    tight: bool = False


def max_error(target: Target, model: Model) -> float:
    """The attained max error ``value`` of :func:`max_error_at` (a lower bound of the sup
    within the tolerance of it)."""
    return max_error_at(target, model).value


def max_error_at(
    target: Target,
    model: Model,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    max_work: int = enclose.MAX_WORK,
) -> MaxError:
    """Enclose ``sup |f - f̂|`` over the closed domain; see the module docstring.

    Parameters
    ----------
    target : Target
        With a ball form (built-ins and :func:`~approx.targets.from_expr` targets have one).
    model : Model
        An :class:`~approx.nn.MLP` with scalar input and output (any depth, any
        activation), a :class:`~approx.baselines.ChebyshevModel` or a
        :class:`~approx.baselines.SplineModel`. Another model gets a sampled estimate
        with ``upper = inf``.
    rtol, atol : float, optional
        Tolerance of the enclosure (defaults in the module docstring).
    max_work : int
        Cap on the work, in operations (:data:`approx.enclose.MAX_WORK`).

    Returns
    -------
    MaxError
        All NaN for a model with non-finite parameters.
    """
    check_target(target)
    if not _finite(model):
        nan = float("nan")  # the model is no real function: nothing to enclose
        return MaxError(x=nan, value=nan, upper=nan, tight=False)
    g = _model_polys(model, target.domain, max_work)
    if target.ball is None or g is None:
        return _sampled(target, model)
    polys, exact, size, evaluate = g
    f = target.taylor()
    if rtol is None:
        rtol = RTOL
    if atol is None:
        atol = ATOL_ULPS * enclose.U * (target.scale + size)
    ball = target.ball

    def exact_at(x: float) -> arb:
        return ball(arb(x), False) - exact(x)

    def float_error(x: Array) -> Array:
        with np.errstate(all="ignore"):
            return target(x) - evaluate(x)

    # values past the float range become inf and NaN, which the search handles
    with np.errstate(over="ignore", invalid="ignore"):
        found = branch_bound.sup_abs_difference(
            f,
            polys,
            target.domain,
            rtol=rtol,
            atol=atol,
            # a Chebyshev series' cap grows with its degree (every cell costs d); for cos
            # features, whose cells cost d/4 each, it counts operations: seconds at any width
            max_work=max_work * polys.cap_scale,
            exact_at=exact_at,
            polish=float_error,
        )
    x, value = found.x, found.value
    if not found.tight or value <= atol:
        # the cap stopped the search early, or nothing above rounding was found: a dense
        # sample may know a better point (a few points per parameter, at most 2^26
        # parameter-points: the model's evaluation is what costs)
        n = min(4 * model.n_params, (1 << 26) // model.n_params)
        guess = _sampled(target, model, int(np.clip(n, 1024, 1 << 16))).x
        with enclose.arb_context():
            exact = enclose.abs_lower(exact_at(guess))
        if exact > value:
            x, value = guess, exact
    upper = max(found.upper, value)
    # the cap may stop the search after the bounds already meet: tight is what they say
    tight = found.tight or upper - value <= max(rtol * value, atol)
    tight = tight and math.isfinite(upper)  # an infinite atol (Σ|terms| overflowed) says nothing
    return MaxError(x=x, value=value, upper=upper, tight=tight)


def _finite(model: Model) -> bool:
    """Whether every float parameter of the model is finite."""
    arrays = model.to_arrays() if hasattr(model, "to_arrays") else {}
    return all(
        np.all(np.isfinite(v)) for v in arrays.values() if np.issubdtype(v.dtype, np.floating)
    )


def _model_polys(
    model: Any, domain: tuple[float, float], max_work: int
) -> (
    tuple[
        LocalPolys | ChebyshevPolys | FeaturePolys,
        Callable[[float], arb],
        float,
        Callable[[Array], Array],
    ]
    | None
):
    """The model as :class:`LocalPolys`, its exact value at a point, its term size, and a
    fast float evaluation (for the final local search)."""
    if isinstance(model, MLP) and model.sizes[0] == model.sizes[-1] == 1:
        pw = None
        if model.activation == "relu" and len(model.sizes) >= 3:
            with contextlib.suppress(TooManyPieces):  # then enclosed in Arb, like tanh nets
                pw = piecewise_linear(model, domain)
        if pw is not None:
            polys = from_coefficients(
                pw.x,
                pw.x[:-1],
                np.column_stack([pw.y[:-1], pw.slopes]),
                np.column_stack([pw.y_err[:-1], pw.slope_err]),
                pw.slack,
            )
            # the pieces evaluate in O(log d) a point where the dense layer takes O(d)
            fast = pw if len(model.sizes) == 3 else model
            return polys, lambda x: exact_value(model, x), _term_size(model, domain), fast
        size = _term_size(model, domain)
        if features_fit(model, domain):  # cos features: certified in floats at any width
            cells = FeaturePolys(model, domain, max_work)
            return cells, lambda x: cells.source(arb(x), False), size, model
        fn = enclose.mlp_ball(model)
        polys = enclose.taylor_blocks(
            fn,
            domain,
            size,
            cost=model.n_params,
            max_work=max_work,
            min_blocks=_blocks_for(model, domain),
            sup=_sup_bound(model),
        )
        return polys, lambda x: fn(arb(x), False), size, model
    if isinstance(model, SplineModel):
        knots, coef = model.pieces()
        return (
            from_coefficients(knots, knots[:-1], coef),
            model.ball_at,
            float(np.max(np.abs(model.values))),
            model,
        )
    if isinstance(model, ChebyshevModel):
        (a, b), (lo, hi) = domain, model.domain
        if lo <= a and b <= hi:  # evaluated where |T_k| ≤ 1
            cells = ChebyshevPolys(model)
            return cells, lambda x: model.ball(arb(x)), model.term_size, model
        # beyond its own interval the series grows like a polynomial: Taylor models
        polys = enclose.taylor_blocks(
            model.ball, domain, model.term_size, cost=model.n_params, max_work=max_work
        )
        return polys, lambda x: model.ball(arb(x)), model.term_size, model

    return None


def _term_size(net: MLP, domain: tuple[float, float]) -> float:
    """``Σ_i |v_i z_i| + |c|`` at the domain's ends, ``z`` the last hidden layer: the size
    of the terms the output sums, which sets the scale of its rounding (an estimate)."""
    z = np.array(domain)[:, None]
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        z = ACTIVATIONS[net.activation](z @ w + b)
    size = float(np.max(np.abs(z) @ np.abs(net.weights[-1][:, 0])))
    return size + float(np.abs(net.biases[-1][0]))


def _sup_bound(net: MLP) -> float:
    """``Σ|v_i| + |c|`` bounds a net whose activation is bounded by 1 (cos, tanh,
    sigmoid), at any depth: ``v`` weighs the last hidden layer; ``inf`` otherwise."""
    if len(net.sizes) < 3 or net.activation not in ("cos", "tanh", "sigmoid"):
        return float("inf")
    total = float(np.sum(np.abs(net.weights[1]))) + float(np.abs(net.biases[1][0]))
    return total * (1 + 1e-12)


def _blocks_for(net: MLP, domain: tuple[float, float]) -> int:
    """Initial Taylor blocks for a smooth net: about one per period of its fastest unit."""
    freq = float(np.abs(net.weights[0]).max()) * (domain[1] - domain[0])
    return int(min(max(freq, 1.0), 1 << 16))


def _sampled(target: Target, model: Model, n: int = 1 << 16) -> MaxError:
    """A grid estimate of ``n`` points (no enclosure): for targets or models with no ball
    form, and for a better attained value when the work cap stopped the enclosure."""
    a, b = target.domain
    x = np.clip(np.linspace(a, b, n), a, b)  # a subnormal step can overshoot b
    with np.errstate(all="ignore"):
        e = np.abs(target(x) - model(x))
    i = int(np.nanargmax(e))
    return MaxError(x=float(x[i]), value=float(e[i]), upper=float("inf"), tight=False)


def l2_error(target: Target, model: Model) -> float:
    """An *estimate* of the L2 norm ``(∫_a^b (f - f̂)² dx)^{1/2}`` (not enclosed).

    Composite Gauss–Legendre quadrature with :data:`_GAUSS` nodes on panels on which the
    error is smooth: the pieces of a ReLU net or a spline, refined by the Taylor blocks
    of the target (whose edges crowd into kinks and singularities such as
    ``sqrt(|x - 0.2|)``'s), or a uniform partition fine enough for the model otherwise.
    """
    check_target(target)
    a, b = target.domain
    edges = np.linspace(a, b, _panels(model) + 1)
    evaluate: Callable[[Array], Array] = model
    if (
        _finite(model)
        and isinstance(model, MLP)
        and model.activation == "relu"
        and model.sizes[0] == 1
        and model.sizes[-1] == 1
        and len(model.sizes) >= 3
    ):
        with contextlib.suppress(TooManyPieces):  # else the uniform panels
            pw = piecewise_linear(model, target.domain)
            edges = pw.x
            evaluate = pw if len(model.sizes) == 3 else model
    elif isinstance(model, SplineModel):
        edges = model.knots
    if target.ball is not None:
        edges = np.union1d(edges, target.taylor().edges)
    return float(np.sqrt(_gauss(lambda z: (target(z) - evaluate(z)) ** 2, edges)))


def _panels(model: Model) -> int:
    """Uniform panels for a model without pieces: a few per wiggle of the model."""
    if isinstance(model, MLP):
        return int(min(max(8 * max(model.sizes), 4096), 1 << 18))
    return int(min(max(8 * model.n_params, 4096), 1 << 18))


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
    exceeds it: ``max|f''|`` is a rigorous upper bound (tight to ``1e-9``), and the
    product is rounded up. ``inf`` when ``f''`` is unbounded (e.g. ``abs15``).
    """
    check_target(target)
    d = check_width(d, minimum=2)
    h = target.width / (d - 1)
    return h * h / 8 * target.max_abs_second_derivative() * (1 + 8 * enclose.U)


def adaptive_constant(target: Target, d: int) -> float:
    """The asymptotic max error of optimally placed knots, ``(∫ √|f''|)² / (8 (d - 1)²)``.

    The integral is enclosed (:func:`approx.derivative_bounds.integral_sqrt_abs_derivative`) to a
    relative ``1e-7`` and the midpoint of its enclosure used; where ``f''`` is unbounded
    on a cell narrower than ``2⁻³⁶`` of the domain (``abs15`` at 0) that cell adds its
    Gauss–Legendre estimate instead. An asymptotic constant, not a bound.
    """
    check_target(target)
    d = check_width(d, minimum=2)
    lower, upper = derivative_bounds.integral_sqrt_abs_derivative(target.taylor(), 2)
    mass = 0.5 * (lower + upper) if np.isfinite(upper) else lower + _rough_mass(target)
    return mass * mass / (8 * (d - 1) ** 2)


def _rough_mass(target: Target) -> float:
    """Gauss–Legendre estimate of ``∫ √|f''|`` over the target's rough blocks."""
    t = target.taylor()
    total = 0.0
    for i in np.nonzero(t.rough)[0]:

        def root(z: Array) -> Array:
            with np.errstate(all="ignore"):
                r = np.sqrt(np.abs(target.second_derivative(z)))
            return np.where(np.isfinite(r), r, 0.0)

        total += _gauss(root, np.linspace(t.edges[i], t.edges[i + 1], 65))
    return total


class Rate(NamedTuple):
    """Convergence rates fitted to ``(d, ε)``.

    Attributes
    ----------
    power : float
        Slope ``p`` of ``log ε`` against ``log d`` (``ε ∝ d^p``); NaN without a rate.
    exponential : float
        Slope ``q`` of ``log ε`` against ``d`` (``ε ∝ e^{q d}``); NaN without a rate.
    fit : str
        ``"power"`` or ``"exponential"`` (whichever leaves the smaller residual), or
        ``"none"`` when ε does not fall (fewer than 3 widths above the floor, or less
        than a factor 4 overall).
    points : int
        Number of ``(d, ε)`` pairs used.
    """

    power: float
    exponential: float
    fit: str
    points: int


#: errors below this multiple of max |f| are rounding noise, not convergence
RATE_FLOOR = 1e-12


def fit_rate(widths: ArrayLike, errors: ArrayLike, scale: float) -> Rate:
    """Fit power-law and exponential rates over the widths where ε still falls.

    Parameters
    ----------
    widths, errors : array_like of shape (m,)
        One pair per run (replicates repeat a width); non-finite or non-positive errors
        are ignored.
    scale : float
        ``max |f|``: errors below ``RATE_FLOOR · scale`` are rounding noise.

    Returns
    -------
    Rate
        Fitted on the widths, in increasing order, up to the last one whose median error
        is below every earlier median by at least 5 % and above the floor; a plateau
        (a spike the widths cannot resolve, or rounding) ends the fit.
    """
    d = np.asarray(widths, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    ok = np.isfinite(e) & (e > max(RATE_FLOOR * scale, np.finfo(float).tiny)) & (d > 0)
    d, e = d[ok], e[ok]
    none = Rate(float("nan"), float("nan"), "none", 0)
    if d.size == 0:
        return none
    levels = np.unique(d)
    medians = np.array([np.median(e[d == w]) for w in levels])
    last, running = 0, medians[0]
    for k in range(1, levels.size):
        if medians[k] > 0.95 * running:
            break
        running, last = medians[k], k
    used = levels[: last + 1]
    if used.size < 3 or medians[last] > medians[0] / 4:
        return none
    keep = np.isin(d, used)
    x, y = d[keep], np.log(e[keep])
    power, res_p = _line(np.log(x), y)
    expo, res_e = _line(x, y)
    return Rate(power, expo, "power" if res_p <= res_e else "exponential", int(keep.sum()))


def _line(x: Array, y: Array) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and the residual sum of squares."""
    A = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(coef[0]), float(np.sum((A @ coef - y) ** 2))
