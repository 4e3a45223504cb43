"""The branch-and-bound that encloses ``sup |f - g|`` over an interval.

``f`` and ``g`` are :class:`~approx.enclose.LocalPolys` (a target's Taylor models and a
model's pieces). On a cell ``[l, r]``:
``sup |e| <= max(|e(l)|, |e(r)|) + (r - l)^2 / 8 * sup |e''|``, with ``sup |e''|`` from the
Taylor expansion of ``e''`` at the cell's midpoint (so it cancels where ``g`` is close to
``f``, as for a spline) and a crude bound on the fourth derivative. Cells whose bound
cannot beat the best value found by more than the tolerance are dropped; the rest are
split in four. Cells without a float polynomial are bounded in Arb with lower-order
bounds; past the work cap every remaining cell takes an a-priori bound, so the result
stays rigorous.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx import _deadline
from approx.enclose import (
    _CHEAP,
    ARB_WEIGHT,
    MAX_WORK,
    Array,
    LocalPolys,
    U,
    _coef,
    abs_lower,
    abs_upper,
    arb_context,
    ball,
)

__all__ = ["Enclosure", "sup_abs_difference"]


@dataclass(frozen=True)
class Enclosure:
    """``value ≤ sup |f - g| ≤ upper``; ``value = |f(x) - g(x)|`` up to its own rounding.

    ``tight`` says the requested tolerance was met; otherwise the work cap was reached or
    the cells could not be split further, and ``upper`` is rigorous but wider.
    """

    x: float
    value: float
    upper: float
    tight: bool
    work: int


def sup_abs_difference(
    f: LocalPolys,
    g: LocalPolys,
    domain: tuple[float, float],
    *,
    rtol: float,
    atol: float,
    max_work: int = MAX_WORK,
    exact_at: Callable[[float], arb] | None = None,
    polish: Callable[[Array], Array] | None = None,
) -> Enclosure:
    """Enclose ``sup_{a ≤ x ≤ b} |f(x) - g(x)|`` by branch-and-bound.

    Parameters
    ----------
    f, g : LocalPolys
        The two functions (a target and a model), each covering the domain.
    domain : tuple of float
    rtol, atol : float
        Stop once ``upper - value ≤ max(rtol · value, atol)`` can be guaranteed.
    max_work : int
        Cap on operations (cell evaluations, and Arb evaluations weighted by their size).
    exact_at : callable, optional
        ``x -> ball of f(x) - g(x)`` evaluated exactly (e.g. the model from its float
        weights); used for the final value. Without it the value is the best lower bound
        found by the float evaluations.
    polish : callable, optional
        ``f - g`` in floats on an array: a bounded scalar search on the cell of the best
        point moves it onto the local maximum (the tolerance ends the branch-and-bound
        once the *bound* is close; the value then gets as close as rounding allows). Its
        result is kept only if the exact value there is larger.

    Returns
    -------
    Enclosure
    """
    a, b = domain
    edges = np.union1d(f.edges, g.edges)
    edges = edges[(edges >= a) & (edges <= b)]
    lo, hi = edges[:-1], edges[1:]
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    best, best_x = -1.0, a
    settled = 0.0  # the largest bound of a dropped cell
    work = g.work  # f, the target, is built once per process on its own budget
    tight = not (f.capped or g.capped)

    def tolerance() -> float:
        return max(rtol * max(best, 0.0), atol)

    arb_cost = ARB_WEIGHT * 4 * (f.cost + g.cost)  # one rough cell: 4 ball evaluations
    while lo.size:
        _deadline.check()
        mid = lo + (hi - lo) / 2
        fi, gi = f.cell(mid), g.cell(mid)
        rough = f.rough[fi] | g.rough[gi]
        ub = np.empty(lo.size)
        excess = np.zeros(lo.size)
        # cheap cells: polynomials in float with error bounds
        s = ~rough
        if s.any():
            ub[s], excess[s], (lb, x_lb) = _float_bounds(f, g, lo[s], hi[s], fi[s], gi[s])
            if math.isfinite(g.sup):  # a model bounded a priori: never bound it by more
                ub[s] = np.minimum(ub[s], _fallback(f, g, lo[s], hi[s], fi[s], gi[s]))
            if lb > best:
                best, best_x = lb, x_lb
            work += int(s.sum())
        late = []
        for i in np.nonzero(rough)[0]:
            if work >= max_work:  # past the cap: the cheap a-priori bound, rigorous still
                late.append(i)
                continue
            ub[i], lb, x_lb = _arb_bounds(f, g, float(lo[i]), float(hi[i]), int(fi[i]), int(gi[i]))
            work += arb_cost
            if lb > best:
                best, best_x = lb, x_lb
        if late:
            j = np.array(late)
            ub[j] = _fallback(f, g, lo[j], hi[j], fi[j], gi[j])
        ub = np.where(np.isnan(ub), np.inf, ub)
        cut = best + tolerance()
        drop = ub <= cut
        # cells a few ulps wide cannot be split, nor can a model's slack at a piece's end
        # be split away: such cells keep their bound
        width = hi - lo
        stuck = ~drop & (
            (width <= 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))) | (ub - excess <= cut)
        )
        tight = tight and not stuck.any()
        final = drop | stuck
        if work >= max_work:
            final[:] = True
            tight = tight and bool(drop.all())
        if final.any():
            settled = max(settled, float(ub[final].max()))
        lo, hi, width = lo[~final], hi[~final], width[~final]
        if lo.size:
            inner = lo[:, None] + width[:, None] * np.array([0.25, 0.5, 0.75])
            lo = np.column_stack([lo, inner]).ravel()
            hi = np.column_stack([inner, hi]).ravel()
    value, x = max(best, 0.0), best_x
    if exact_at is not None:
        candidates = [best_x]
        if polish is not None:
            candidates.append(_polish(polish, best_x, f, g))
        with arb_context():
            for c in candidates:
                exact = abs_lower(exact_at(c))
                if exact > value:
                    value, x = exact, c
    upper_bound = max(settled, value)
    if upper_bound - value > max(rtol * value, atol) * (1 + 1e-9):
        tight = False
    return Enclosure(
        x=float(x), value=float(value), upper=float(upper_bound), tight=tight, work=work
    )


def _polish(e: Callable[[Array], Array], x: float, f: LocalPolys, g: LocalPolys) -> float:
    """The local maximum of ``|e|`` near ``x`` on the cell (both polynomials smooth) holding it."""
    from scipy.optimize import minimize_scalar

    edges = np.union1d(f.edges, g.edges)
    j = int(np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2))
    left, right = float(edges[j]), float(edges[j + 1])
    centre = x
    res = minimize_scalar(
        lambda u: -abs(float(e(np.array([centre + u]))[0])),
        bounds=(left - centre, right - centre),
        method="bounded",
        options={"xatol": 4 * U * max(abs(left), abs(right), right - left)},
    )
    return float(np.clip(centre + res.x, left, right))


def _fallback(
    f: LocalPolys,
    g: LocalPolys,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
) -> Array:
    """``sup |f| + sup |g|`` on cells from what costs nothing more: the polynomial's crude
    bound, a small source in Arb, or the whole function's a-priori :attr:`LocalPolys.sup`."""
    parts = []
    for p, i in ((f, fi), (g, gi)):
        bound = p.bound(lo, hi, i, 0) + p.slack[i]
        if p.source is not None and p.cost <= _CHEAP:
            for k in np.nonzero(~np.isfinite(bound))[0]:
                with arb_context():
                    bound[k] = abs_upper(p.source(ball(float(lo[k]), float(hi[k])), False))
        parts.append(np.minimum(bound, p.sup))
    return (parts[0] + parts[1]) * (1 + 4 * U)


def _float_bounds(
    f: LocalPolys,
    g: LocalPolys,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
) -> tuple[Array, Array, tuple[float, float]]:
    """Upper bounds of ``|f - g|`` on cells, the part of them that is slack (splitting
    cannot remove it), and the best rigorous lower bound at a point.

    Per cell: ``e = f - g`` at both ends and at the quarter points (value and error),
    ``e''`` from its Taylor expansion at the midpoint to second order with a crude bound of
    ``e''''`` over the cell:
    ``sup|e''|/2 ≤ |E₂(m)| + 3 |E₃(m)| ρ + 6 B₄ ρ²`` (``E_k = e^(k)/k!``, ``ρ`` the half width).
    """
    width = hi - lo
    mid = lo + width / 2
    rho = width / 2 * (1 + 4 * U)

    def diff(x: Array, k: int) -> tuple[Array, Array]:
        fv, fe = f.at(x, fi, k)
        gv, ge = g.at(x, gi, k)
        v = fv - gv
        return v, (fe + ge + U * np.abs(v)) * (1 + 4 * U)

    e_lo, err_lo = diff(lo, 0)
    e_hi, err_hi = diff(hi, 0)
    e2, err2 = diff(mid, 2)
    e3, err3 = diff(mid, 3)
    b4 = f.bound(lo, hi, fi, 4) + g.bound(lo, hi, gi, 4)
    half_e2 = np.abs(e2) + err2 + 3 * (np.abs(e3) + err3) * rho + 6 * b4 * rho * rho
    slack = f.near_edge(lo, hi, fi) + g.near_edge(lo, hi, gi)
    ends = np.maximum(np.abs(e_lo) + err_lo, np.abs(e_hi) + err_hi)
    ub = (ends + half_e2 * width * width / 4 + slack) * (1 + 8 * U)
    excess = slack * (1 + 8 * U)
    # lower bounds at the ends and the quarter points
    xs = [lo, hi, mid]  # the ends and the middle (the quarter points become ends next)
    best, best_x = -1.0, float(lo[0])
    for j, x in enumerate(xs):
        if j == 0:
            v, e = e_lo, err_lo
        elif j == 1:
            v, e = e_hi, err_hi
        else:
            v, e = diff(x, 0)
        lb = (np.abs(v) - e - slack) * (1 - 4 * U)
        i = int(np.argmax(lb))
        if lb[i] > best:
            best, best_x = float(lb[i]), float(x[i])
    return ub, excess, (best, best_x)


def _arb_bounds(
    f: LocalPolys, g: LocalPolys, lo: float, hi: float, fi: int, gi: int
) -> tuple[float, float, float]:
    """Bounds of ``|f - g|`` on one cell in Arb, for cells without a float polynomial.

    ``e''`` over the cell if it is bounded; else a Lipschitz bound from ``e'``; else the
    range of ``e``. Returns ``(upper bound, lower bound, point of the lower bound)``.
    """
    with arb_context():

        def e(X: Any) -> Any:
            return f.ball_at(X, fi) - g.ball_at(X, gi)

        points = [lo, hi, lo + (hi - lo) / 2]
        values = [e(arb(x)) for x in points]
        lows = [abs_lower(v) for v in values]
        j = int(np.argmax(lows))
        ends = max(abs_upper(values[0]), abs_upper(values[1]))
        try:
            series = e(arb_series([ball(lo, hi), 1], prec=3))
        except (ValueError, ZeroDivisionError):  # a series division by a ball holding 0
            series = arb_series([arb.nan()] * 3, prec=3)
        w = (hi - lo) * (1 + 4 * U)
        bounds = [abs_upper(_coef(series, 0))]
        second = abs_upper(_coef(series, 2))
        if math.isfinite(second):
            bounds.append(ends + 2 * second * w * w / 8)
        first = abs_upper(_coef(series, 1))
        if math.isfinite(first):
            bounds.append((abs_upper(values[0]) + abs_upper(values[1]) + first * w) / 2)
    return min(bounds) * (1 + 8 * U), lows[j], points[j]
