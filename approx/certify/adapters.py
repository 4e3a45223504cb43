"""One certification adapter per model kind: the model as cells the branch-and-bound
can compare with a target.

An adapter turns a model on a domain into :class:`Cells`: the cells themselves
(:class:`~approx.certify.taylor.LocalPolys` or a kind's own, with the same interface),
the model's exact value at a float (an Arb ball), the size of its terms (which sets its
rounding) and a fast float evaluation for the final local search. :data:`ADAPTERS` is
the table from a model class to its adapter; a model kind without one has no
certificate (:func:`cells_for` returns ``None``).

- ReLU nets of any depth are piecewise linear, with exact pieces or float pieces with
  rigorous radii (:mod:`approx.nn.piecewise`);
- splines are piecewise cubics, each in its cell's own variable ``t ∈ [0, 1]``;
- Chebyshev series of any degree have cells of their own (:mod:`approx.certify.chebyshev`);
- ``1 → d → 1`` cos nets are evaluated in floats with rigorous error bounds
  (:mod:`approx.certify.features`);
- other nets with smooth activations (tanh, logistic, cos, softplus, identity) of any
  depth carry Taylor series in floats with rigorous radii through their layers
  (:mod:`approx.certify.smooth_nets`);
- what is left (nets of other activations, or of huge weights) is enclosed in Arb like
  a target (:func:`approx.certify.nets.mlp_ball`, Taylor blocks).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from flint import arb
from numpy.typing import NDArray

from approx.arith.balls import U, abs_upper, arb_context, upper
from approx.certify.chebyshev import ChebyshevPolys, chebyshev_ball
from approx.certify.nets import mlp_ball
from approx.certify.taylor import LocalPolys, from_coefficients, taylor_blocks
from approx.models.baselines import ChebyshevModel, SplineModel
from approx.nn import ACTIVATIONS, MLP
from approx.nn.activations import BOUNDED
from approx.nn.piecewise import TooManyPieces, exact_value, piecewise_linear

if TYPE_CHECKING:  # imported by the net kinds that need them (cos and smooth nets)
    from approx.certify.features import FeaturePolys, FeatureTaylor
    from approx.certify.smooth_nets import SmoothNetPolys

__all__ = [
    "ADAPTERS",
    "Cells",
    "cells_for",
    "finite_parameters",
    "rescaled_inputs",
    "scaled_model",
]

Array = NDArray[np.float64]


class Cells(NamedTuple):
    """A model ready for the branch-and-bound.

    Attributes
    ----------
    polys : LocalPolys, ChebyshevPolys, FeaturePolys, FeatureTaylor or SmoothNetPolys
        The model's cells.
    exact : callable
        ``exact(x)``: the model's real value at the float ``x``, an Arb ball.
    size : float
        The size of the terms the model sums (an estimate; sets its rounding).
    evaluate : callable
        Fast float evaluation on an array (for the final local search).
    """

    polys: LocalPolys | ChebyshevPolys | FeaturePolys | FeatureTaylor | SmoothNetPolys
    exact: Callable[[float], arb]
    size: float
    evaluate: Callable[[Array], Array]


def finite_parameters(model: Any) -> bool:
    """Whether every float parameter of the model is finite, and for a spline the
    coefficients of its cubics too (in each cell's own variable, of the size of the
    values' differences: they overflow only where those do)."""
    if type(model) is MLP:  # (its float arrays, without building the saved form)
        return all(np.isfinite(a).all() for a in (*model.weights, *model.biases))
    arrays = dict(model.to_arrays()) if hasattr(model, "to_arrays") else {}
    if isinstance(model, SplineModel):
        arrays["cubics"] = model.cubics()[1]
    return all(
        np.all(np.isfinite(v)) for v in arrays.values() if np.issubdtype(v.dtype, np.floating)
    )


def cells_for(model: Any, domain: tuple[float, float], max_work: int) -> Cells | None:
    """The model's :class:`Cells` on ``domain``, or ``None`` for a model kind without an
    adapter (or a net that is not ``1 → … → 1``)."""
    adapter = ADAPTERS.get(type(model))
    return None if adapter is None else adapter(model, domain, max_work)


def scaled_model(model: Any, s: float) -> Any:
    """A model whose real function is exactly ``s`` times ``model``'s (``s`` a power of
    two), or ``None`` where one cannot be had: a kind without a rule, or a scaled
    parameter that rounds (under- or overflows).

    A net scales its output layer, a Chebyshev series its coefficients, a spline its
    values, where the cubics it evaluates come out exactly ``s`` times the original's.
    """

    def exact(v: Array) -> Array | None:
        with np.errstate(over="ignore", under="ignore"):
            out = np.asarray(v, dtype=np.float64) * s
            return out if np.array_equal(out / s, v) else None

    if type(model) is MLP:
        w, b = exact(model.weights[-1]), exact(model.biases[-1])
        if w is None or b is None:
            return None
        net = copy.deepcopy(model)
        net.weights[-1], net.biases[-1] = w, b
        return net
    if type(model) is ChebyshevModel:
        coef = exact(model.coef)
        return None if coef is None else ChebyshevModel(coef, model.domain)
    if type(model) is SplineModel:
        values = exact(model.values)
        if values is None:
            return None
        spline = SplineModel(model.knots, values)
        _, coef, scale = model.cubics()
        same = np.array_equal(spline.cubics()[1], coef) and spline.cubics()[2] == scale * s
        return spline if same else None
    return None


def rescaled_inputs(model: Any, s: float) -> Any:
    """A model whose real function at ``u`` is exactly ``model``'s at ``u / s`` (``s`` a
    power of two), or ``None`` where one cannot be had: a kind without a rule, or a
    scaled parameter that rounds (under- or overflows).

    A net scales its first layer's weights by ``1/s``, a Chebyshev series its interval
    by ``s``, a spline its knots by ``s`` (its cubics, in each cell's own variable, are
    the same); a scaled parameter must also stay out of the subnormal range. On a
    domain many orders of magnitude narrower than 1, or far narrower than its distance
    from 0, the derivatives of target and model per unit of ``x`` overflow (or vanish)
    where those per unit of ``s x`` do not.
    """

    def exact(v: Array, factor: float) -> Array | None:
        # exactly scaled, and normal: subnormal weights would make every later product lose
        with np.errstate(over="ignore", under="ignore"):
            v = np.asarray(v, dtype=np.float64)
            out = v * factor
            normal = np.all(np.isfinite(out) & ((out == 0) | (np.abs(out) >= 2.0**-1022)))
            return out if normal and np.array_equal(out / factor, v) else None

    if type(model) is MLP:
        w = exact(model.weights[0], 1 / s)
        if w is None:
            return None
        net = copy.deepcopy(model)
        net.weights[0] = w
        return net
    if type(model) is ChebyshevModel:
        ends = exact(np.array(model.domain), s)
        if ends is None:
            return None
        with contextlib.suppress(ValueError):  # an interval too wide for the map
            return ChebyshevModel(model.coef, (float(ends[0]), float(ends[1])))
        return None
    if type(model) is SplineModel:
        knots = exact(model.knots, s)
        if knots is None:
            return None
        spline = SplineModel(knots, model.values)
        _, coef, scale = model.cubics()
        same = np.array_equal(spline.cubics()[1], coef) and spline.cubics()[2] == scale
        return spline if same else None
    return None


def _mlp_cells(net: MLP, domain: tuple[float, float], max_work: int) -> Cells | None:
    """ReLU nets as exact pieces; cos features in floats; other nets in Arb."""
    if not net.sizes[0] == net.sizes[-1] == 1:
        return None
    pw = None
    if net.activation == "relu" and len(net.sizes) >= 3:
        with contextlib.suppress(TooManyPieces):  # past FLOAT_WORK: in Arb, like tanh nets
            pw = piecewise_linear(net, domain)
    if pw is not None:
        polys = from_coefficients(
            pw.x,
            pw.x[:-1],
            np.column_stack([pw.y[:-1], pw.slopes]),
            np.column_stack([pw.y_err[:-1], pw.slope_err]),
            pw.slack,
        )
        # the pieces evaluate in O(log d) a point where the dense layer takes O(d)
        fast = pw if len(net.sizes) == 3 else net
        return Cells(polys, lambda x: exact_value(net, x), _term_size(net, domain), fast)
    size = _term_size(net, domain)
    from approx.certify.features import feature_cells, features_fit
    from approx.certify.smooth_nets import SmoothNetPolys, smooth_fit

    if features_fit(net, domain):  # cos features: certified in floats at any width
        cells = feature_cells(net, domain, max_work)
        return Cells(cells, lambda x: cells.source(arb(x), False), size, net)
    if smooth_fit(net, domain):  # other smooth nets: Taylor series in floats, any depth
        smooth = SmoothNetPolys(net, domain, max_work)
        return Cells(smooth, lambda x: smooth.source(arb(x), False), size, net)
    fn = mlp_ball(net)
    polys = taylor_blocks(
        fn,
        domain,
        size,
        cost=net.n_params,
        max_work=max_work,
        min_blocks=_blocks_for(net, domain),
        sup=_sup_bound(net),
    )
    return Cells(polys, lambda x: fn(arb(x), False), size, net)


def _spline_cells(model: SplineModel, domain: tuple[float, float], max_work: int) -> Cells:
    """A spline's cubics, each in powers of ``x - knots[j]``: its coefficients in the
    cell's variable ``t`` divided by the cell's width to the power, with rigorous radii
    (:func:`_spline_polys`); exact values at points from the cubics in ``t``."""
    knots, coef, scale = model.cubics()
    tail = knots.size - 2
    polys = _spline_polys(knots, coef, scale)

    def exact(x: float) -> arb:
        j = int(np.clip(np.searchsorted(knots, x, side="right") - 1, 0, tail))
        lo = arb(float(knots[j]))
        t = (arb(x) - lo) / (arb(float(knots[j + 1])) - lo)
        total = arb(0)
        for c in coef[j, ::-1]:
            total = total * t + arb(float(c))
        return total * arb(scale)

    size = float(np.max(np.sum(np.abs(coef), axis=1))) * scale
    return Cells(polys, exact, size, model)


def _spline_polys(knots: Array, coef: Array, scale: float) -> LocalPolys:
    """The cubics ``scale · Σ_k coef[j, k] t^k``, ``t = (x - knots[j]) / h_j``, as
    :class:`LocalPolys` about ``knots[j]``: ``scale · coef[j, k] / h_j^k`` with a radius.

    In floats, ``h_j`` rounded once and ``k`` divisions: ``2k + 1`` roundings, so a
    relative radius ``4 (k + 1) U`` covers them wherever no step leaves the normal range
    (``scale`` is a power of two: exact there; a 0 stays exactly 0). Elsewhere in Arb;
    a coefficient past the floats gets an infinite radius (the cell's bounds are then
    infinite, never wrong).
    """
    lo, hi = knots[:-1], knots[1:]
    c = np.empty_like(coef)
    normal = np.ones(coef.shape, dtype=bool)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        h = hi - lo
        for k in range(4):
            v = coef[:, k].copy()
            for _ in range(k):
                v = v / h
                normal[:, k] &= (np.abs(v) >= 2.0**-1000) & (np.abs(v) <= 2.0**1000)
            c[:, k] = v * scale
        normal &= np.isfinite(h)[:, None] & np.isfinite(c) & (np.abs(c) >= 2.0**-1000)
        normal |= coef == 0  # exactly 0 whatever the width
        rad = np.abs(c) * (4 * (np.arange(4) + 1) * U)
    for j, k in zip(*np.nonzero(~normal), strict=True):
        c[j, k], rad[j, k] = _arb_coefficient(coef[j, k], scale, lo[j], hi[j], int(k))
    return from_coefficients(knots, lo, c, rad)


def _arb_coefficient(a: float, scale: float, lo: float, hi: float, k: int) -> tuple[float, float]:
    """``scale · a / (hi - lo)^k`` as a float and a radius, in Arb (``inf`` radius past
    the floats)."""
    with arb_context():
        v = arb(float(a)) * arb(scale) / (arb(float(hi)) - arb(float(lo))) ** k
        mid = float(v.mid())
        if not (v.is_finite() and math.isfinite(mid)):
            return 0.0, math.inf
        return mid, upper(v.rad()) + abs_upper(v.mid() - mid)


def _chebyshev_cells(
    model: ChebyshevModel, domain: tuple[float, float], max_work: int
) -> Cells:
    """A Chebyshev series' own cells inside its interval; Taylor blocks beyond it."""
    (a, b), (lo, hi) = domain, model.domain
    if lo <= a and b <= hi:  # evaluated where |T_k| ≤ 1
        cells = ChebyshevPolys(model)
        return Cells(cells, lambda x: cells.source(arb(x)), model.term_size, cells.evaluate)
    # beyond its own interval the series grows like a polynomial: Taylor models
    source = chebyshev_ball(model)
    polys = taylor_blocks(source, domain, model.term_size, cost=model.n_params, max_work=max_work)
    return Cells(polys, lambda x: source(arb(x)), model.term_size, model)


#: the model kinds that can be certified, by class
ADAPTERS: dict[type, Callable[[Any, tuple[float, float], int], Cells | None]] = {
    MLP: _mlp_cells,
    SplineModel: _spline_cells,
    ChebyshevModel: _chebyshev_cells,
}


def _term_size(net: MLP, domain: tuple[float, float]) -> float:
    """``Σ_i |v_i z_i| + |c|`` at the domain's ends, ``z`` the last hidden layer: the size
    of the terms the output sums, which sets the scale of its rounding (an estimate)."""
    z = np.array(domain)[:, None]
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        z = ACTIVATIONS[net.activation](z @ w + b)
    size = float(np.max(np.abs(z) @ np.abs(net.weights[-1][:, 0])))
    return size + float(np.abs(net.biases[-1][0]))


def _sup_bound(net: MLP) -> float:
    """``Σ|v_i| + |c|`` bounds a net whose activation is bounded by 1
    (:data:`~approx.nn.activations.BOUNDED`), at any depth: ``v`` and ``c`` are the
    output layer's weights and bias; ``inf`` otherwise."""
    if len(net.sizes) < 3 or net.activation not in BOUNDED:
        return float("inf")
    total = float(np.sum(np.abs(net.weights[-1]))) + float(np.abs(net.biases[-1][0]))
    return total * (1 + 1e-12)


def _blocks_for(net: MLP, domain: tuple[float, float]) -> int:
    """Initial Taylor blocks for a smooth net: about one per period of its fastest unit."""
    freq = float(np.abs(net.weights[0]).max()) * (domain[1] - domain[0])
    return int(min(max(freq, 1.0), 1 << 16))
