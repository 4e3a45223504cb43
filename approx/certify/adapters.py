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
- splines are piecewise cubics, their coefficients read as stored;
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
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from flint import arb
from numpy.typing import NDArray

from approx.certify.chebyshev import ChebyshevPolys, chebyshev_ball
from approx.certify.features import FeaturePolys, features_fit
from approx.certify.nets import mlp_ball
from approx.certify.smooth_nets import SmoothNetPolys, smooth_fit
from approx.certify.taylor import LocalPolys, from_coefficients, taylor_blocks
from approx.models.baselines import ChebyshevModel, SplineModel
from approx.nn import ACTIVATIONS, MLP
from approx.nn.activations import BOUNDED
from approx.nn.piecewise import TooManyPieces, exact_value, piecewise_linear

__all__ = ["ADAPTERS", "Cells", "cells_for", "finite_parameters", "scaled_model"]

Array = NDArray[np.float64]


class Cells(NamedTuple):
    """A model ready for the branch-and-bound.

    Attributes
    ----------
    polys : LocalPolys, ChebyshevPolys, FeaturePolys or SmoothNetPolys
        The model's cells.
    exact : callable
        ``exact(x)``: the model's real value at the float ``x``, an Arb ball.
    size : float
        The size of the terms the model sums (an estimate; sets its rounding).
    evaluate : callable
        Fast float evaluation on an array (for the final local search).
    """

    polys: LocalPolys | ChebyshevPolys | FeaturePolys | SmoothNetPolys
    exact: Callable[[float], arb]
    size: float
    evaluate: Callable[[Array], Array]


def finite_parameters(model: Any) -> bool:
    """Whether every float parameter of the model is finite, and for a spline the
    coefficients of its cubics too (they divide by the knots' spacing, and overflow where
    it is tiny)."""
    arrays = dict(model.to_arrays()) if hasattr(model, "to_arrays") else {}
    if isinstance(model, SplineModel):
        arrays["cubics"] = model.pieces()[1]
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
        values, cubics = exact(model.values), exact(model.pieces()[1])
        if values is None or cubics is None:
            return None
        spline = SplineModel(model.knots, values)
        return spline if np.array_equal(spline.pieces()[1], cubics) else None
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
    if features_fit(net, domain):  # cos features: certified in floats at any width
        cells = FeaturePolys(net, domain, max_work)
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
    """A spline's cubics as stored: exact cells."""
    knots, coef = model.pieces()

    def exact(x: float) -> arb:
        j = int(np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2))
        h = arb(x) - arb(float(knots[j]))
        total = arb(0)
        for c in coef[j, ::-1]:
            total = total * h + arb(float(c))
        return total

    polys = from_coefficients(knots, knots[:-1], coef)
    return Cells(polys, exact, float(np.max(np.abs(model.values))), model)


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
