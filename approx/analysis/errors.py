"""Errors of a fitted model against its target: the certified max error, the L2 error,
the theory's bounds and the fitted convergence rates.

:func:`max_error_at` encloses ``sup |f - f̂|`` over the whole closed domain:
``value ≤ sup ≤ upper``, with ``value = |f(x) - f̂(x)|`` attained at the returned ``x``
and ``upper`` rigorous. ``f`` is enclosed from its ball form (Taylor models in Arb,
:mod:`approx.certify.taylor`); ``f̂`` is the real function the stored float weights define:

- ReLU nets of any depth are piecewise linear, with exact pieces or float pieces with
  rigorous radii (:mod:`approx.nn.piecewise`);
- splines are piecewise cubics, each in its cell's own variable ``t ∈ [0, 1]``;
- Chebyshev series of any degree are evaluated by Clenshaw's recurrence in floats with a
  rigorous error bound, their derivatives bounded by Cauchy's estimate on Bernstein
  ellipses (:mod:`approx.certify.chebyshev`);
- ``1 → d → 1`` cos nets, such as random Fourier features
  (:mod:`approx.certify.features`), are evaluated in floats with rigorous error bounds;
- other nets with a smooth activation of :mod:`approx.nn.activations` (tanh, the
  logistic function, cos, softplus, identity), at any depth, carry Taylor series in
  floats with rigorous radii through their layers (:mod:`approx.certify.smooth_nets`);

all under a work cap counted in operations. A target whose values reach ``2^128``
(:data:`RESCALE`) is certified scaled down by a power of two, with the model scaled
exactly (:func:`~approx.certify.adapters.scaled_model`), so that its cells stay finite;
a domain far narrower than 1, or than its distance from 0 (:data:`NARROW`), is certified
in ``x`` scaled by a power of two, target and model read there exactly
(:func:`~approx.certify.adapters.rescaled_inputs`), so that their derivatives per unit of
``x`` neither overflow nor vanish.

**The rule.** :attr:`MaxError.tight` is True exactly when
``upper - value ≤ max(rtol · value, atol)`` with ``rtol = 1e-9`` and ``atol`` the rounding
of the error's own evaluation, :data:`ATOL_ULPS` units of ``value`` (``value`` and
``upper`` are each the exact error rounded once): with the defaults, when
``upper - value ≤ 1e-9 · value``, which anyone can check from the two numbers. Otherwise
:attr:`MaxError.reason` says why (:data:`TIGHT_REASONS`); ``upper`` is rigorous either way.

The branch-and-bound itself stops earlier, at the rounding of the *float* evaluation of
target and model (:data:`ATOL_ULPS` units of ``max |f|`` plus the size of the model's
terms), below which its float cells cannot separate the bounds: a result stopped there
and not within the rule is ``reason = "rounding"``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from flint import arb
from numpy.typing import NDArray

from approx.analysis.quadrature import NODES, gauss_legendre
from approx.arith.balls import U, abs_lower, arb_context
from approx.certify import targets as certified
from approx.certify.adapters import (
    cells_for,
    finite_parameters,
    rescaled_inputs,
    scaled_model,
)
from approx.certify.branch_bound import Enclosure, sup_abs_difference
from approx.certify.taylor import MAX_WORK
from approx.models import Model
from approx.models.baselines import ChebyshevModel, SplineModel
from approx.nn import MLP
from approx.nn.piecewise import TooManyPieces, piecewise_linear
from approx.problems.targets import Target, check_target

__all__ = [
    "ATOL_ULPS",
    "RTOL",
    "TIGHT_REASONS",
    "MaxError",
    "l2_error",
    "max_error",
    "max_error_at",
]

Array = NDArray[np.float64]

#: relative tolerance of the enclosure (Taylor models enclose an expression as tightly
#: as a closed form, so expressions get the built-ins' tolerance)
RTOL = 1e-9
#: rounding units: of ``value`` in the rule's ``atol``; of ``max |f|`` plus the model's term
#: size where the branch-and-bound stops refining (the rounding of its float cells)
ATOL_ULPS = 16
#: a result stopped by the rounding of the float cells, where that rounding is at most
#: ``RETRY_FLOOR · value`` (so exact ends can help), is refined once more with the rule's
#: tolerance, on ``1 / RETRY_SHARE`` of the work cap
RETRY_FLOOR = 1e-4
RETRY_SHARE = 16
#: targets whose grid values reach ``2^RESCALE`` are certified scaled down by a power of
#: two (exactly, with the model): their cells' values and Taylor coefficients (a spike
#: ``1e300`` high has ``f^(k)/k!`` near ``1e300 · 100^k``) would overflow the floats
RESCALE = 128
#: a domain narrower than ``2^-NARROW``, or wider than ``2^NARROW`` but narrower than
#: ``2^-NARROW`` of its distance from 0, is certified in ``u = s x`` (``s`` the power of
#: two that brings its width near 1, target and model read in ``u`` exactly): per unit
#: of ``x``, the Taylor coefficients of target and model on a domain ``1e-150`` wide
#: (``f^(k)/k!`` near ``1e150^k``) overflow the floats, and those on a few floats near
#: ``1e300`` vanish
NARROW = 16
#: why a result is not tight, :attr:`MaxError.reason` (and the store's ``tight_reason``):
#:
#: - ``""``: it is tight (``upper - value ≤ max(rtol · value, atol)``);
#: - ``"rounding"``: the bounds met within the rounding of the float evaluation of target
#:   and model (the size of their terms, not of the error), or cells a few floats wide
#:   could not be split: more work would not have separated them further;
#: - ``"work cap"``: the work cap stopped the refinement first;
#: - ``"no enclosure"``: nothing was enclosed (a target without ball form, a model of
#:   unknown kind): ``value`` is a grid sample's and ``upper = inf``;
#: - ``"non-finite"``: the model's parameters are not finite, or its function or the
#:   bound overflowed (``upper`` is ``inf`` or NaN).
TIGHT_REASONS = ("", "rounding", "work cap", "no enclosure", "non-finite")


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
        True when ``upper - value ≤ max(rtol · value, atol)`` (the module docstring's
        rule; with the defaults ``upper - value ≤ 1e-9 · value``).
    reason : str
        Why it is not tight, one of :data:`TIGHT_REASONS` (``""`` when it is).
    """

    x: float
    value: float
    upper: float = float("inf")
    tight: bool = False
    reason: str = "no enclosure"


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
    max_work: int = MAX_WORK,
) -> MaxError:
    """Enclose ``sup |f - f̂|`` over the closed domain; see the module docstring.

    Parameters
    ----------
    target : Target
        With a ball form (built-ins and :func:`~approx.problems.targets.from_expr`
        targets have one).
    model : Model
        An :class:`~approx.nn.MLP` with scalar input and output (any depth, any
        activation), a :class:`~approx.models.baselines.ChebyshevModel` or a
        :class:`~approx.models.baselines.SplineModel`. Another model gets a sampled estimate
        with ``upper = inf``.
    rtol, atol : float, optional
        The rule's tolerance (module docstring): ``rtol = 1e-9`` and ``atol``
        :data:`ATOL_ULPS` rounding units of ``value`` by default. A given ``atol`` is
        also where the refinement stops (by default it stops at the rounding of the
        float cells).
    max_work : int
        Cap on the work, in operations (:data:`approx.certify.taylor.MAX_WORK`).

    Returns
    -------
    MaxError
        All NaN, ``reason = "non-finite"``, for a model with non-finite parameters.
    """
    check_target(target)
    if not finite_parameters(model):
        nan = float("nan")  # the model is no real function: nothing to enclose
        return MaxError(x=nan, value=nan, upper=nan, tight=False, reason="non-finite")
    rescaled = _rescaled(target, model, rtol=rtol, atol=atol, max_work=max_work)
    if rescaled is None:
        rescaled = _rescaled_domain(target, model, rtol=rtol, atol=atol, max_work=max_work)
    if rescaled is not None:
        return rescaled
    g = cells_for(model, target.domain, max_work)
    if target.ball is None or g is None:
        return _sampled(target, model)
    polys, exact, size, evaluate = g
    f = certified.taylor(target)
    if rtol is None:
        rtol = RTOL
    # the search stops at the rounding of its float cells unless asked for more
    floor = ATOL_ULPS * U * (certified.scale(target) + size) if atol is None else atol
    ball = target.ball

    def exact_at(x: float) -> arb:
        return ball(arb(x), False) - exact(x)

    func = target.func

    def float_error(x: Array) -> Array:  # (called in a search that ignores float warnings)
        return np.asarray(func(x), dtype=np.float64) - evaluate(x)

    def search(tolerance: float, work: int, start: tuple[float, float] | None = None) -> Enclosure:
        # values past the float range become inf and NaN, which the search handles
        with np.errstate(over="ignore", invalid="ignore"):
            return sup_abs_difference(
                f, polys, target.domain, rtol=rtol, atol=tolerance, max_work=work,
                exact_at=exact_at, polish=float_error, start=start,
            )

    # a Chebyshev series' cap grows with its degree (every cell costs d); for cos
    # features, whose cells cost d/16 each, it counts operations: seconds at any width
    work = max_work * polys.cap_scale
    found = search(floor, work)
    x, value = found.x, found.value
    if not found.tight or value <= floor:
        # the cap stopped the search early, or nothing above rounding was found: a dense
        # sample may know a better point
        x, value = _sample_better(target, model, exact_at, x, value)
    upper = max(found.upper, value)
    rule = ATOL_ULPS * U * value if atol is None else atol
    reason = _reason(found, value, upper, rtol, rule)
    if reason == "rounding" and atol is None and 0 < floor <= RETRY_FLOOR * value:
        # stopped by the float cells' rounding: a small budget more, with the cells' ends
        # evaluated exactly where rounding is all that keeps them open, often separates
        # the bounds to the rule (else they stay "rounding")
        again = search(rule, work // RETRY_SHARE, start=(value, x))
        if again.value > value:
            x, value = again.x, again.value
        upper = max(min(upper, again.upper), value)
        rule = ATOL_ULPS * U * value
        reason = _reason(found, value, upper, rtol, rule) and "rounding"
    return MaxError(x=x, value=value, upper=upper, tight=not reason, reason=reason)


def _rescaled(
    target: Target, model: Model, *, rtol: float | None, atol: float | None, max_work: int
) -> MaxError | None:
    """For a target of values past ``2^RESCALE`` (:data:`RESCALE`): the result for
    ``s f`` against ``s f̂`` (``s = 2^-k`` brings them near 1, both scaled exactly),
    multiplied back by ``2^k``, which is exact; ``None`` where the model cannot be scaled
    exactly, or the target needs no scaling."""
    size = certified.grid_scale(target)
    if target.ball is None or not (math.isfinite(size) and size >= 2.0**RESCALE):
        return None
    k = min(math.frexp(size)[1], 1023)  # 2^1024 is past the floats
    s = math.ldexp(1.0, -k)
    model_s = scaled_model(model, s)
    if model_s is None:
        return None
    inner = max_error_at(
        certified.scaled(target, s),
        model_s,
        rtol=rtol,
        atol=None if atol is None else atol * s,
        max_work=max_work,
    )
    back = math.ldexp(1.0, k)
    with np.errstate(over="ignore"):
        # a value past the floats is rounded down to the largest one: still a lower bound
        value = min(inner.value * back, float(np.finfo(np.float64).max))
        upper = inner.upper * back
    if not math.isfinite(upper):
        return MaxError(x=inner.x, value=value, upper=upper, tight=False, reason="non-finite")
    return inner._replace(value=value, upper=upper)


def _rescaled_domain(
    target: Target, model: Model, *, rtol: float | None, atol: float | None, max_work: int
) -> MaxError | None:
    """For a domain of width past :data:`NARROW`: the result for ``u -> f(u / s)``
    against the model read in ``u`` on ``[s a, s b]`` (``s = 2^-k`` brings the width near
    1), with its point mapped back by ``1/s``, which is exact; ``None`` where the domain
    needs no scaling or target or model cannot be read in ``u`` exactly."""
    a, b = target.domain
    width = b - a
    far = max(abs(a), abs(b))
    if target.ball is None or not (
        width < 2.0**-NARROW or (2.0**NARROW < width < 2.0**-NARROW * far)
    ):
        return None
    s = math.ldexp(1.0, min(-math.frexp(width)[1], 1023))  # 2^1023 at most: subnormal widths
    with np.errstate(over="ignore", under="ignore"):
        ends = np.array([a, b]) * s
    normal = np.all(np.isfinite(ends) & ((ends == 0) | (np.abs(ends) >= 2.0**-1022)))
    if not (normal and np.array_equal(ends / s, [a, b])):
        return None
    model_u = rescaled_inputs(model, s)
    if model_u is None or not math.isfinite(ends[1] - ends[0]):
        return None
    target_u = certified.rescaled_domain(target, s)
    inner = max_error_at(target_u, model_u, rtol=rtol, atol=atol, max_work=max_work)
    x = inner.x / s
    if not math.isfinite(inner.x) or x * s == inner.x:
        return inner._replace(x=x)
    # the point maps back to a subnormal float, which rounds: the value is the error at
    # that float (read in u exactly), not at the point the search found
    return _at_float(inner, target_u, model_u, x, s, max_work)


def _at_float(
    inner: MaxError, target_u: Target, model_u: Model, x: float, s: float, max_work: int
) -> MaxError:
    """``inner`` (a result in ``u = s x``) with its point replaced by the float ``x``: the
    value becomes the exact error there, rounded down (0 if the model has no exact form)."""
    g = cells_for(model_u, target_u.domain, max_work)
    value = 0.0
    if g is not None and target_u.ball is not None:
        with arb_context():
            value = abs_lower(target_u.ball(arb(x * s), False) - g[1](x * s))
    upper = max(inner.upper, value)
    tight = inner.tight and upper - value <= max(RTOL * value, ATOL_ULPS * U * value)
    reason = "" if tight else (inner.reason or "rounding")
    return MaxError(x=x, value=value, upper=upper, tight=tight, reason=reason)


def _sample_better(
    target: Target, model: Model, exact_at: Callable[[float], arb], x: float, value: float
) -> tuple[float, float]:
    """The best point of a dense sample if its exact error beats ``value`` (a few points
    per parameter, at most 2^26 parameter-points: the model's evaluation is what costs)."""
    n = min(4 * model.n_params, (1 << 26) // model.n_params)
    guess = _sampled(target, model, int(np.clip(n, 1024, 1 << 16))).x
    with arb_context():
        there = abs_lower(exact_at(guess))
    return (guess, there) if there > value else (x, value)


def _reason(found: Enclosure, value: float, upper: float, rtol: float, atol: float) -> str:
    """The rule (module docstring) applied to ``[value, upper]``: ``""`` when tight, else
    why not (:data:`TIGHT_REASONS`), from how the search ``found`` ended."""
    if not (math.isfinite(upper) and math.isfinite(value)):
        return "non-finite"
    if upper - value <= max(rtol * value, atol):
        return ""  # (the cap may stop the search after the bounds already meet)
    if found.capped and not found.tight:
        return "work cap"
    # the search met its own tolerance, the rounding of its float cells, or had cells it
    # could not split (a few floats wide, or a model's rounding at a piece's end)
    return "rounding"


def _sampled(target: Target, model: Model, n: int = 1 << 16) -> MaxError:
    """A grid estimate of ``n`` points (no enclosure): for targets or models with no ball
    form, and for a better attained value when the work cap stopped the enclosure."""
    a, b = target.domain
    x = np.clip(np.linspace(a, b, n), a, b)  # a subnormal step can overshoot b
    with np.errstate(all="ignore"):
        e = np.abs(target(x) - model(x))
    i = int(np.nanargmax(e)) if not np.all(np.isnan(e)) else 0  # all NaN: any point
    return MaxError(
        x=float(x[i]), value=float(e[i]), upper=float("inf"), tight=False, reason="no enclosure"
    )


#: fewest uniform quadrature panels of a cos net's L2 error, the points of the rule on
#: each, and the phase of the fastest unit over half a panel (see :func:`_panels`)
_COS_PANELS = 256
_COS_NODES = 64
_COS_PHASE = 80.0


def l2_error(target: Target, model: Model) -> float:
    """An *estimate* of the L2 norm ``(∫_a^b (f - f̂)² dx)^{1/2}`` (not enclosed).

    Composite Gauss–Legendre quadrature (:mod:`approx.analysis.quadrature`) on panels on which the
    error is smooth: the pieces of a ReLU net or a spline, refined by the Taylor blocks
    of the target (whose edges crowd into kinks and singularities such as
    ``sqrt(|x - 0.2|)``'s), or a uniform partition fine enough for the model otherwise.
    """
    check_target(target)
    a, b = target.domain
    edges = np.linspace(a, b, _panels(model, b - a) + 1)
    evaluate: Callable[[Array], Array] = model
    if (
        finite_parameters(model)
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
    elif isinstance(model, ChebyshevModel):
        edges = _chebyshev_panels(model)
    if target.ball is not None:
        edges = np.union1d(edges, certified.taylor(target).edges)
    points = _COS_NODES if isinstance(model, MLP) and _is_cos_features(model) else NODES
    squared = gauss_legendre(lambda z: (target(z) - evaluate(z)) ** 2, edges, points)
    return float(np.sqrt(squared))


def _panels(model: Model, span: float) -> int:
    """Uniform panels for a model without pieces: a few per wiggle of the model.

    A 1→d→1 cos net's wiggles are its frequencies: ``(f - f̂)²`` holds frequencies up to
    ``2 max|w_i|``, so on panels of length ``2κ / (2 max|w_i|)``, ``κ =``
    :data:`_COS_PHASE`, each half-panel sees a phase of at most ``κ`` radians, which the
    :data:`_COS_NODES`-point Gauss–Legendre rule (exact to degree 127) integrates to
    rounding (the Chebyshev coefficients of ``e^{iκt}`` past 127 are about
    ``J_128(80) ≈ 6e-17``); at least :data:`_COS_PANELS` panels, and never more points
    than the generic rule's panels of 16. Longer panels with more points take fewer
    evaluations: 0.8 instead of 1.6 per radian of the fastest unit with 16 points on
    phases of 10."""
    if not isinstance(model, MLP):
        return int(min(max(8 * model.n_params, 4096), 1 << 18))
    generic = int(min(max(8 * max(model.sizes), 4096), 1 << 18))
    if not _is_cos_features(model):
        return generic
    fastest = float(np.max(np.abs(model.weights[0]), initial=0.0))
    cap = generic * NODES // _COS_NODES
    return min(cap, max(_COS_PANELS, math.ceil(fastest * span / _COS_PHASE)))


def _chebyshev_panels(model: ChebyshevModel) -> Array:
    """Panels of equal angle for a Chebyshev series: edges ``x(cos θ_j)``, ``θ_j = jπ/m``.

    A series of degree ``n`` is a cosine polynomial of degree ``n`` in ``θ = arccos t``,
    so ``p²`` has angular frequencies up to ``2n``; with ``m ≥ n + 1`` panels, over half
    a panel (``π/(2m)`` of angle) the fastest turns by ``nπ/m < π``, and the 16-point
    rule (exact to degree 31) integrates it to rounding, also on the end panels,
    where the map from ``θ`` to ``x`` is not affine but ``p`` is a polynomial of ``1 - t``
    of small range (``n²(1 - t) < 5``). Equal panels in ``x`` need ``O(n)`` times more
    nodes for that at the ends. At least 1024 panels, for the target.
    """
    a, b = model.domain
    m = max(1024, model.coef.size)
    t = np.cos(np.pi * np.arange(m, -1, -1) / m)
    t[0], t[-1] = -1.0, 1.0
    edges = np.clip(a + (b - a) * (t + 1) / 2, a, b)
    edges[0], edges[-1] = a, b
    return np.unique(edges)


def _is_cos_features(model: MLP) -> bool:
    """Whether ``model`` is a finite 1→d→1 cos net."""
    return (
        model.activation == "cos"
        and len(model.sizes) == 3
        and model.sizes[0] == 1
        and model.sizes[-1] == 1
        and finite_parameters(model)
    )
