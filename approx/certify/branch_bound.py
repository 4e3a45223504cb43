"""The branch-and-bound that encloses ``sup |f - g|`` over an interval.

``f`` and ``g`` are :class:`~approx.certify.taylor.LocalPolys` (a target's Taylor models and a
model's pieces) or provide the same interface (a Chebyshev series,
:class:`~approx.certify.chebyshev.ChebyshevPolys`). On a cell ``[l, r]``:
``sup |e| <= max(|e(l)|, |e(r)|) + (r - l)^2 / 8 * sup |e''|``, with ``sup |e''|`` from the
Taylor expansion of ``e''`` at the cell's midpoint (so it cancels where ``g`` is close to
``f``, as for a spline): derivatives below :data:`ORDER` at the middle, a crude bound of
the :data:`ORDER`-th over the cell. The middle is a float, which on a cell one to a few
floats wide may lie anywhere in it (even on an end): the expansion's radius is measured
from it and rounded up (:func:`~approx.certify.taylor.middle`), and each cell takes the
pieces of ``f`` and ``g`` that hold it, found from its left end
(:func:`~approx.certify.taylor.holding`), so every cell is bounded over all of its width
with its own pieces. Cells whose bound cannot beat the best value found
by more than the tolerance are dropped; the rest are split in 4 to 16 parts (as many as
the bound needs). A cell kept open only by the floats' rounding at its ends has them
evaluated again, in double-double where the model offers it (a Chebyshev series), else
exactly in Arb. Cells without a float polynomial are first bounded by ``sup |f| +
sup |g|`` apart (``f`` in Arb, ``g`` from its expansion at the middle: enough wherever the
error stays below the best value, however fast ``f`` oscillates), then in Arb with
lower-order bounds; each rough block of ``f`` adds :data:`ROUGH_CELLS` such cells to the
work cap. Past the cap every remaining cell takes an a-priori bound, so the result
stays rigorous.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx.arith.balls import TINY, U, abs_lower, abs_upper, arb_context, ball
from approx.certify.taylor import (
    ARB_WEIGHT,
    CHEAP,
    MAX_WORK,
    Array,
    LocalPolys,
    holding,
    middle,
    series_coef,
)
from approx.core import deadline

__all__ = ["ORDER", "Enclosure", "bounded_search", "sup_abs_difference"]

#: order of the cells' expansion of ``e''``: derivatives up to ``ORDER - 1`` at the
#: middle, a bound of the ``ORDER``-th over the cell
ORDER = 6
#: unsplittable cells whose ends are candidates for the value
_ENDS = 8
#: Arb cells of work added to the cap per rough block of ``f`` (the target: a kink, the
#: neighbourhood of a singular point), which only Arb can bound: a target with many of
#: them (``|sin(1000 x)|``) gets the work they need, whatever the model. Only for a
#: target of at most :data:`ROUGH_MAX` rough blocks: one with more (``sin(x)`` on
#: ``[-1e300, 1e300]``, rough at every scale the blocks reach) cannot be finished in Arb
ROUGH_CELLS = 8
ROUGH_MAX = 2048


@dataclass(frozen=True)
class Enclosure:
    """``value ≤ sup |f - g| ≤ upper``; ``value = |f(x) - g(x)|`` evaluated exactly and
    rounded down (given ``exact_at``; else a rigorous lower bound from the floats).

    ``tight`` says the requested tolerance was met; otherwise the work cap was reached
    (``capped``) or the cells could not be split further, and ``upper`` is rigorous but
    wider.
    """

    x: float
    value: float
    upper: float
    tight: bool
    work: int
    capped: bool = False


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
    start: tuple[float, float] | None = None,
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
        weights); the value is its largest lower end at candidate points: the best point
        of the search, its polished neighbour, the domain's ends and the ends of the
        cells that could not be split. Without it the value is the best lower bound
        found by the float evaluations.
    polish : callable, optional
        ``f - g`` in floats on an array: a bounded scalar search on the cell of the best
        point moves it onto the local maximum (the tolerance ends the branch-and-bound
        once the *bound* is close; the value then gets as close as rounding allows). Its
        result is kept only if the exact value there is larger.
    start : tuple of float, optional
        ``(value, x)``: a rigorous lower bound of the sup attained at ``x`` (an earlier
        search's), to start from: cells below it are dropped from the first pass.

    Returns
    -------
    Enclosure
    """
    a, b = domain
    edges = np.union1d(f.edges, g.edges)
    edges = np.union1d(edges[(edges > a) & (edges < b)], [a, b])  # the ends, always
    lo, hi = edges[:-1], edges[1:]
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    search = _Search(f, g, rtol, atol, max_work, best_x=a)
    rough_blocks = int(np.count_nonzero(f.rough))
    if rough_blocks <= ROUGH_MAX:
        search.max_work += ROUGH_CELLS * search.arb_cost * rough_blocks
    if start is not None:
        search.offer(*start)
    while lo.size:
        deadline.check()
        lo, hi = search.step(lo, hi)
    return search.result(exact_at, polish, domain)


@dataclass
class _Search:
    """The state of one branch-and-bound: the best value found, the largest bound of a
    dropped cell, the work done, and whether the tolerance still holds everywhere."""

    f: LocalPolys
    g: LocalPolys
    rtol: float
    atol: float
    max_work: int
    best_x: float
    best: float = -1.0
    settled: float = 0.0  # the largest bound of a dropped cell
    capped: bool = False  # the work cap stopped the search (or a Taylor model's)
    #: the ends of the cells that could not be split with the largest bounds, as
    #: (bound, point) pairs: candidates for the value
    ends: list[tuple[float, float]] = field(default_factory=list)
    #: ``f - g`` in Arb at the points where cells' exact ends were evaluated, by point
    #: and the enclosures used (:func:`_point_key`): neighbouring cells share an end, and
    #: a split cell keeps its parent's (the same ball either way: reuse changes nothing)
    exact: dict[tuple[float, int, int], arb] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f, g = self.f, self.g
        self.work = g.work  # f, the target, is built once per process on its own budget
        # (where the target's Taylor models were cut by their cap, its rough blocks are
        # bounded in Arb like any other: only the model's cap and this search's count)
        self.tight = not g.capped
        self.capped = bool(g.capped)
        self.arb_cost = ARB_WEIGHT * 4 * (f.cost + g.cost)  # one rough cell: 4 ball evaluations
        # a cell's exact ends: two values at points, scalar ball operations (no series
        # products), each about as long as a cell in floats
        self.point_cost = 2 * (f.cost + g.cost)
        self.float_cost = max(f.float_cost, g.float_cost)

    def tolerance(self) -> float:
        return max(self.rtol * max(self.best, 0.0), self.atol)

    def offer(self, lb: float, x: float) -> None:
        """A lower bound ``lb`` of the sup attained at ``x``."""
        if lb > self.best:
            self.best, self.best_x = lb, x

    def remember(self, lo: Array, hi: Array, ub: Array) -> None:
        """Keep the ends of the unsplittable cells ``[lo, hi]`` with the largest bounds."""
        top = np.argsort(-ub)[:_ENDS]
        pairs = [(float(ub[i]), float(x)) for i in top for x in (lo[i], hi[i])]
        self.ends = sorted([*self.ends, *pairs], reverse=True)[: 2 * _ENDS]

    def step(self, lo: Array, hi: Array) -> tuple[Array, Array]:
        """Bound every cell, drop or settle what can be, split the rest: the next cells."""
        f, g = self.f, self.g
        # every cell lies within one cell of f and one of g (the first cells run between
        # their joint edges, and splitting stays inside): found from the cell's left end,
        # never from a rounded midpoint, which may fall on a neighbour's edge
        fi, gi = holding(f, lo), holding(g, lo)
        rough = f.rough[fi] | g.rough[gi]
        ub = np.empty(lo.size)
        excess = np.zeros(lo.size)
        shrinks = np.zeros(lo.size)  # the part of a bound that splitting reduces
        broken = np.zeros(lo.size, dtype=bool)  # floats overflowed: splitting cannot help
        s = ~rough
        if s.any():
            self._float_cells(lo, hi, fi, gi, s, ub, excess, shrinks, broken)
        self._rough_cells(lo, hi, fi, gi, rough, ub)
        ub = np.where(np.isnan(ub), np.inf, ub)
        return self._settle(lo, hi, ub, excess, shrinks, broken)

    def _float_cells(
        self,
        lo: Array,
        hi: Array,
        fi: NDArray[np.intp],
        gi: NDArray[np.intp],
        s: NDArray[np.bool_],
        ub: Array,
        excess: Array,
        shrinks: Array,
        broken: NDArray[np.bool_],
    ) -> None:
        """Cheap cells: polynomials in floats with error bounds (fills ``ub`` & co. at ``s``)."""
        f, g = self.f, self.g
        ub[s], excess[s], floor, noise, curve, (lb, x_lb) = _float_bounds(
            f, g, lo[s], hi[s], fi[s], gi[s]
        )
        broken[s] = ~np.isfinite(ub[s])
        if math.isfinite(g.sup):  # a model bounded a priori: never bound it by more
            ub[s] = np.fmin(ub[s], _fallback(f, g, lo[s], hi[s], fi[s], gi[s]))
        self.offer(lb, x_lb)
        shrinks[s] = np.maximum(ub[s] - floor, 0.0)
        self.work += int(s.sum()) * self.float_cost
        # where the values at a cell's ends, which splitting keeps, are above the cut
        # by no more than their rounding, or that rounding outweighs what splitting
        # reduces, the ends are evaluated exactly instead (largest bounds first)
        cut = self.best + self.tolerance()
        cells = np.nonzero(s)[0]
        open_ = (ub[cells] > cut) & (floor > cut)
        noisy = np.nonzero(open_ & ((floor - noise <= cut) | (curve <= noise)))[0]
        if noisy.size and getattr(g, "precise", None) is not None:
            # a model with a more precise float evaluation tries it first, all at once
            i = cells[noisy]
            ends, (lb, x_lb), sharp = _precise_ends(f, g, lo[i], hi[i], fi[i], gi[i])
            ub[i] = np.fmin(ub[i], (ends + curve[noisy]) * (1 + 8 * U))
            self.work += int(noisy.size) * self.float_cost * 2
            self.offer(lb, x_lb)
            cut = self.best + self.tolerance()
            noisy = noisy[(ub[i] > cut) & ~sharp]  # Arb only where it can still help
        for n in noisy[np.argsort(-ub[cells[noisy]])]:
            i = cells[n]
            if self.work >= self.max_work or ub[i] <= self.best + self.tolerance():
                continue
            ends, lb, x_lb = self._exact_ends(float(lo[i]), float(hi[i]), int(fi[i]), int(gi[i]))
            ub[i] = min(ub[i], (ends + float(curve[n])) * (1 + 8 * U))
            # (charged per cell whether its ends were known or not: the cap's count, and
            # so every result, does not depend on the reuse)
            self.work += self.point_cost
            self.offer(lb, x_lb)

    def _exact_ends(self, lo: float, hi: float, fi: int, gi: int) -> tuple[float, float, float]:
        """``|f - g|`` at a cell's two ends in Arb (so without the floats' rounding):
        ``(upper bound of the larger, the larger lower bound, its point)``."""
        values = []
        with arb_context():
            for x in (lo, hi):
                key = (x, _point_key(self.f, fi), _point_key(self.g, gi))
                if key not in self.exact:
                    self.exact[key] = _point(self.f, arb(x), fi) - _point(self.g, arb(x), gi)
                values.append(self.exact[key])
            lows = [abs_lower(v) for v in values]
            top = max(abs_upper(values[0]), abs_upper(values[1]))
        best = int(np.argmax(lows))
        return top, lows[best], (lo, hi)[best]

    def _rough_cells(
        self,
        lo: Array,
        hi: Array,
        fi: NDArray[np.intp],
        gi: NDArray[np.intp],
        rough: NDArray[np.bool_],
        ub: Array,
    ) -> None:
        """Rough cells in Arb, or by the a-priori bound once past the cap."""
        f, g = self.f, self.g
        late = []
        # first the ranges of f (in Arb, cheap) and of g (its expansion at the middle) on
        # their own: a cell under the cut by these needs no Arb expansion of f - g
        apart = self._ranges_apart(lo, hi, fi, gi, rough)
        cut = self.best + self.tolerance()
        for i in np.nonzero(rough)[0]:
            if apart[i] <= cut:
                ub[i] = apart[i]
                continue
            if self.work >= self.max_work:  # past the cap: the cheap a-priori bound, rigorous
                late.append(i)
                continue
            ub[i], lb, x_lb = _arb_bounds(f, g, float(lo[i]), float(hi[i]), int(fi[i]), int(gi[i]))
            self.work += self.arb_cost
            self.offer(lb, x_lb)
        if late:
            j = np.array(late)
            ub[j] = _fallback(f, g, lo[j], hi[j], fi[j], gi[j])
        if rough.any() and math.isfinite(g.sup):  # Arb's bound may be the wider
            r = np.nonzero(rough)[0]
            ub[r] = np.fmin(ub[r], _fallback(f, g, lo[r], hi[r], fi[r], gi[r]))

    def _ranges_apart(
        self,
        lo: Array,
        hi: Array,
        fi: NDArray[np.intp],
        gi: NDArray[np.intp],
        rough: NDArray[np.bool_],
    ) -> Array:
        """``sup |f| + sup |g|`` on the rough cells where ``f`` is rough and cheap and ``g``
        is not (a target past its Taylor models against a smooth model; ``inf`` elsewhere):
        ``f``'s range in Arb, ``g``'s from its expansion at the cell's middle."""
        f, g = self.f, self.g
        out = np.full(lo.size, np.inf)
        if f.source is None or f.cost > CHEAP:
            return out
        j = np.nonzero(rough & f.rough[fi] & ~g.rough[gi])[0]
        if not j.size:
            return out
        out[j] = _range(f, lo[j], hi[j], fi[j]) + _local_range(g, lo[j], hi[j], gi[j])
        out[j] = out[j] * (1 + 4 * U)
        self.work += int(j.size) * (ARB_WEIGHT * f.cost + ORDER * self.float_cost)
        return np.where(np.isnan(out), np.inf, out)

    def _settle(
        self,
        lo: Array,
        hi: Array,
        ub: Array,
        excess: Array,
        shrinks: Array,
        broken: NDArray[np.bool_],
    ) -> tuple[Array, Array]:
        """Drop the cells below the cut, keep the bounds of those that cannot shrink, and
        split the rest (none once the cap is reached)."""
        cut = self.best + self.tolerance()
        drop = ub <= cut
        # cells a few ulps wide cannot be split, nor can a model's slack at a piece's end
        # be split away: such cells keep their bound
        width = hi - lo
        stuck = ~drop & (
            (width <= 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi))))
            | (ub - excess <= cut)
            | broken
        )
        self.tight = self.tight and not stuck.any()
        if stuck.any():  # their best points are their ends: evaluated exactly at the end
            self.remember(lo[stuck], hi[stuck], ub[stuck])
        final = drop | stuck
        if self.work >= self.max_work:
            final[:] = True
            self.tight = self.tight and bool(drop.all())
            self.capped = self.capped or not bool(drop.all())
        if final.any():
            self.settled = max(self.settled, float(ub[final].max()))
        keep = ~final
        if not keep.any():
            return lo[keep], hi[keep]
        parts = _split(lo[keep], hi[keep], width[keep], shrinks[keep], ub[keep], cut)
        if self.work + parts[0].size * self.float_cost > self.max_work:
            # the next pass alone would overrun the cap (by up to 16×): stop here, the
            # cells' bounds are rigorous already
            self.settled = max(self.settled, float(ub[keep].max()))
            self.tight = False
            self.capped = True
            return lo[:0], hi[:0]
        return parts

    def result(
        self,
        exact_at: Callable[[float], arb] | None,
        polish: Callable[[Array], Array] | None,
        domain: tuple[float, float],
    ) -> Enclosure:
        """The value at the best point (exactly, and polished), and the bound."""
        value, x = max(self.best, 0.0), self.best_x
        if exact_at is not None:
            # the value is |e| evaluated exactly at a point, never a float bound: the best
            # point, its polished neighbour, the domain's ends and those of the cells
            # that could not be split
            candidates = [self.best_x, *domain, *(p for _, p in self.ends)]
            deadline.check()
            if polish is not None:
                candidates.append(_polish(polish, self.best_x, self.f, self.g, domain))
            value, x = -1.0, self.best_x
            with arb_context():
                for c in dict.fromkeys(candidates):
                    deadline.check()
                    exact = abs_lower(exact_at(c))
                    if exact > value:
                        value, x = exact, c
        upper_bound = max(self.settled, value)
        tight = self.tight
        if upper_bound - value > max(self.rtol * value, self.atol) * (1 + 1e-9):
            tight = False
        return Enclosure(
            x=float(x),
            value=float(value),
            upper=float(upper_bound),
            tight=tight,
            work=self.work,
            capped=self.capped,
        )


def _split(
    lo: Array, hi: Array, width: Array, shrinks: Array, ub: Array, cut: float
) -> tuple[Array, Array]:
    """Split each cell into ``k`` equal parts, ``4 ≤ k ≤ 16``: as many as the part of its
    bound that splitting reduces (at least as the square of the width) needs to fall
    under the cut, so cells far from settled skip levels of the search."""
    margin = cut - (ub - shrinks)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.sqrt(shrinks / margin)
    k = np.where(margin > 0, np.clip(np.ceil(np.nan_to_num(want)), 4, 16), 4).astype(np.intp)
    first = np.repeat(np.cumsum(k) - k, k)
    j = np.arange(first.size) - first
    parts = np.repeat(k, k)
    start, size, end = np.repeat(lo, k), np.repeat(width, k), np.repeat(hi, k)
    new_lo = np.minimum(start + size * (j / parts), end)
    new_hi = np.where(j + 1 == parts, end, np.minimum(start + size * ((j + 1) / parts), end))
    keep = new_hi > new_lo
    return new_lo[keep], new_hi[keep]


def _polish(
    e: Callable[[Array], Array],
    x: float,
    f: LocalPolys,
    g: LocalPolys,
    domain: tuple[float, float],
) -> float:
    """The local maximum of ``|e|`` near ``x`` on the cell (both polynomials smooth) holding
    it, within the domain."""
    edges = np.union1d(f.edges, g.edges)
    edges = np.union1d(edges[(edges > domain[0]) & (edges < domain[1])], domain)
    j = int(np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2))
    left, right = float(edges[j]), float(edges[j + 1])
    centre = x
    with np.errstate(all="ignore"):  # a float search: overflow and NaN simply lose
        u = _bounded_search(e, centre, left, right)
    return float(np.clip(centre + u, left, right))


#: Brent's bounded search (:func:`bounded_search`): ``sqrt(2.2e-16)`` and the golden section
_SQRT_EPS = math.sqrt(2.2e-16)
_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def _bounded_search(e: Callable[[Array], Array], centre: float, left: float,
                    right: float) -> float:
    """The offset ``u`` in ``[left - centre, right - centre]`` of the largest
    ``|e(centre + u)|`` that Brent's bounded search finds."""
    return bounded_search(
        lambda u: -abs(float(e(np.array([centre + u]))[0])),
        left - centre,
        right - centre,
        4 * U * max(abs(left), abs(right), right - left),
    )


def bounded_search(func: Callable[[float], float], x1: float, x2: float, xatol: float,
                   maxfun: int = 500) -> float:
    """A local minimum of ``func`` on ``[x1, x2]`` by Brent's method: the iterates of
    ``scipy.optimize.minimize_scalar(method="bounded")`` (its ``x``), step for step, in
    plain floats and without its per-call overhead (a test checks they agree).

    Raises
    ------
    ValueError
        For bounds that are not finite or not in order (as scipy's does).
    """
    if not (math.isfinite(x1) and math.isfinite(x2)) or x1 > x2:
        raise ValueError(f"bounds must be finite and in order, got {x1}, {x2}")
    a, b = x1, x2
    fulc = a + _GOLDEN * (b - a)
    nfc = xf = x = fulc
    rat = step = 0.0
    fx = func(x)
    num = 1
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    while abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        rat, step = _brent_step(a, b, xf, nfc, fulc, fx, fnfc, ffulc, xm, tol1, tol2,
                                rat, step)
        x = xf + _sign(rat) * max(abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            a, b = (xf, b) if x >= xf else (a, xf)
            fulc, ffulc, nfc, fnfc, xf, fx = nfc, fnfc, xf, fx, x, fu
        else:
            a, b = (x, b) if x < xf else (a, x)
            if fu <= fnfc or nfc == xf:
                fulc, ffulc, nfc, fnfc = nfc, fnfc, x, fu
            elif fu <= ffulc or fulc == xf or fulc == nfc:
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxfun:
            break
    return xf


def _brent_step(a: float, b: float, xf: float, nfc: float, fulc: float, fx: float,
                fnfc: float, ffulc: float, xm: float, tol1: float, tol2: float,
                rat: float, step: float) -> tuple[float, float]:
    """One step of :func:`bounded_search`: a parabola through the last three points if
    it is acceptable, else golden section; returns the step and the step before."""
    if abs(step) > tol1:
        r = (xf - nfc) * (fx - ffulc)
        q = (xf - fulc) * (fx - fnfc)
        p = (xf - fulc) * q - (xf - nfc) * r
        q = 2.0 * (q - r)
        if q > 0.0:
            p = -p
        q = abs(q)
        r, step = step, rat
        if abs(p) < abs(0.5 * q * r) and p > q * (a - xf) and p < q * (b - xf):
            rat = (p + 0.0) / q
            x = xf + rat
            if (x - a) < tol2 or (b - x) < tol2:
                rat = tol1 * _sign(xm - xf)
            return rat, step
    step = (a - xf) if xf >= xm else (b - xf)
    return _GOLDEN * step, step


def _sign(v: float) -> float:
    """``numpy.sign(v) + (v == 0)`` of a float: ``±1``, and 1 at 0."""
    return float((v > 0) - (v < 0) + (v == 0))


def _range(p: LocalPolys, lo: Array, hi: Array, i: NDArray[np.intp]) -> Array:
    """``sup |p|`` on cells from what costs nothing more: the polynomial's crude bound, a
    small source in Arb, or the whole function's a-priori :attr:`LocalPolys.sup`."""
    bound = p.bound(lo, hi, i, 0) + p.slack[i]
    if p.source is not None and p.cost <= CHEAP:
        for k in np.nonzero(~np.isfinite(bound))[0]:
            with arb_context():
                bound[k] = abs_upper(p.source(ball(float(lo[k]), float(hi[k])), False))
    return np.minimum(bound, p.sup)


def _local_range(p: LocalPolys, lo: Array, hi: Array, i: NDArray[np.intp]) -> Array:
    """``sup |p|`` on cells from its expansion at their middles: orders below
    :data:`ORDER` at the middle, a bound of the :data:`ORDER`-th over the cell (sums of
    non-negative terms: each rounding is covered by the factor, and what a product may
    lose to underflow, a subnormal unit, by the unit times the later powers of ``ρ``)."""
    mid, rho = middle(lo, hi)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        s = p.bound(lo, hi, i, ORDER)
        powers = np.ones_like(rho)  # Σ ρ^j: how far an underflow's loss may grow
        for k in range(ORDER - 1, -1, -1):  # Horner in ρ
            v, err = p.at(mid, i, k)
            s = s * rho + (np.abs(v) + err)
            powers = powers * rho + 1
        s = (s + 2 * TINY * powers) * (1 + 4 * (ORDER + 2) * U) + p.slack[i]
    return np.where(np.isnan(s), np.inf, s)


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
    return (_range(f, lo, hi, fi) + _range(g, lo, hi, gi)) * (1 + 4 * U)


def _float_bounds(
    f: LocalPolys,
    g: LocalPolys,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
) -> tuple[Array, Array, Array, Array, Array, tuple[float, float]]:
    """Upper bounds of ``|f - g|`` on cells, the part of them that is slack (splitting
    cannot remove it), the part that splitting keeps (the ends with their rounding and
    slack), the rounding of the ends alone, the part beyond the ends (the curvature
    term and slack), and the best rigorous lower bound at a point.

    Per cell: ``e = f - g`` at both ends and at the quarter points (value and error),
    ``e''`` from its Taylor expansion at the midpoint (``E_k = e^(k)/k!``, ``ρ`` the half
    width) with a crude bound ``B_N`` of ``|e^(N)|/N!`` over the cell:
    ``sup|e''|/2 ≤ Σ_{2 ≤ k < N} C(k, 2) |E_k(m)| ρ^(k-2) + C(N, 2) B_N ρ^(N-2)``
    (:data:`ORDER` ``= N``: cells of width ``(tol / B_N)^(1/N)`` suffice).
    """
    mid, rho = middle(lo, hi)  # e'' is expanded about a float mid: ρ measured from it
    with np.errstate(over="ignore"):
        half = (hi - lo) / 2 * (1 + 2 * U)  # the half width, rounded up
    # e at the ends and the middle, and e^(k)/k! at the middle for k = ORDER - 1 … 2
    points, orders = (lo, hi, *[mid] * (ORDER - 1)), (0, 0, *range(ORDER - 1, 1, -1), 0)
    fs, gs = _orders(f, points, fi, orders), _orders(g, points, gi, orders)
    diffs = []
    for (fv, fe), (gv, ge) in zip(fs, gs, strict=True):
        v = fv - gv
        diffs.append((v, (fe + ge + U * np.abs(v)) * (1 + 4 * U)))
    (e_lo, err_lo), (e_hi, err_hi) = diffs[0], diffs[1]
    top = f.bound(lo, hi, fi, ORDER) + g.bound(lo, hi, gi, ORDER)
    half_e2 = math.comb(ORDER, 2) * top
    for k, (ek, errk) in zip(range(ORDER - 1, 1, -1), diffs[2:-1], strict=True):  # Horner in ρ
        half_e2 = half_e2 * rho + math.comb(k, 2) * (np.abs(ek) + errk)
    slack = f.near_edge(lo, hi, fi) + g.near_edge(lo, hi, gi)
    ends = np.maximum(np.abs(e_lo) + err_lo, np.abs(e_hi) + err_hi)
    # what the ends do not cover; (plus what products may lose to underflow)
    curve = half_e2 * half * half + slack + 4 * TINY
    ub = (ends + curve) * (1 + 8 * U)
    excess = slack * (1 + 8 * U)
    floor = (ends + slack) * (1 + 8 * U)
    noise = np.maximum(err_lo, err_hi)
    # lower bounds at the ends and the quarter points
    xs = [lo, hi, mid]  # the ends and the middle (the quarter points become ends next)
    best, best_x = -1.0, float(lo[0])
    for j, x in enumerate(xs):
        v, e = diffs[-1 if j == 2 else j]
        lb = (np.abs(v) - e - slack) * (1 - 4 * U)
        i = int(np.argmax(lb))
        if lb[i] > best:
            best, best_x = float(lb[i]), float(x[i])
    return ub, excess, floor, noise, curve, (best, best_x)


def _orders(
    p: Any, points: tuple[Array, ...], idx: NDArray[np.intp], orders: tuple[int, ...]
) -> list[tuple[Array, Array]]:
    """``p.at(x, idx, k)`` for each pair of ``points`` and ``orders``: in one pass for
    :class:`~approx.certify.taylor.LocalPolys` (:meth:`~approx.certify.taylor.LocalPolys.at_many`,
    the same numbers bit for bit), else one call each, in order."""
    if not isinstance(p, LocalPolys):
        return [p.at(x, idx, k) for x, k in zip(points, orders, strict=True)]
    m = idx.size
    v, e = p.at_many(np.concatenate(points), np.concatenate([idx] * len(points)),
                     np.repeat(orders, m))
    return [(v[j * m : (j + 1) * m], e[j * m : (j + 1) * m]) for j in range(len(points))]


def _precise_ends(
    f: LocalPolys,
    g: Any,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
) -> tuple[Array, tuple[float, float], NDArray[np.bool_]]:
    """``|f - g|`` at cells' two ends with ``g``'s precise evaluation: upper bounds of the
    larger end, the best lower bound and its point, and whether the ends' rounding is
    now below ``f``'s own (so that Arb could not do much better)."""
    uppers, noise_f, noise_g = [], [], []
    best, best_x = -1.0, float(lo[0])
    for x, i in ((lo, fi), (hi, fi)):
        fv, fe = f.at(x, i, 0)
        gv, ge = g.precise(x)
        v = fv - gv
        err = (fe + ge + U * np.abs(v)) * (1 + 4 * U)
        uppers.append(np.abs(v) + err)
        noise_f.append(fe)
        noise_g.append(ge)
        low = (np.abs(v) - err) * (1 - 4 * U)
        k = int(np.argmax(low))
        if low[k] > best:
            best, best_x = float(low[k]), float(x[k])
    sharp = (noise_g[0] <= 4 * noise_f[0] + 4 * U * np.abs(uppers[0])) & (
        noise_g[1] <= 4 * noise_f[1] + 4 * U * np.abs(uppers[1])
    )
    return np.maximum(uppers[0], uppers[1]), (best, best_x), sharp


def _point_key(p: LocalPolys, i: int) -> int:
    """What :func:`_point` at a point depends on besides the point: the cell's enclosure
    used (``p.point_cell(i)``), or -1 where it evaluates ``p``'s source."""
    if p.source is not None and p.cost <= CHEAP:
        return -1
    return int(p.point_cell(i))


def _point(p: LocalPolys, X: arb, i: int) -> arb:
    """``p`` at a point in Arb: from its source where that is cheap (exact), else from
    the cell's polynomial with its radii."""
    if p.source is not None and p.cost <= CHEAP:
        return p.source(X, False)
    return p.ball_at(X, i)


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
        # the range on the cell as a plain ball too (a series may be NaN where the
        # function's own enclosure is not, e.g. sqrt at 0)
        bounds = [abs_upper(series_coef(series, 0)), abs_upper(e(ball(lo, hi)))]
        second = abs_upper(series_coef(series, 2))
        if math.isfinite(second):
            bounds.append(ends + 2 * second * w * w / 8)
        first = abs_upper(series_coef(series, 1))
        if math.isfinite(first):
            bounds.append((abs_upper(values[0]) + abs_upper(values[1]) + first * w) / 2)
    return min(bounds) * (1 + 8 * U), lows[j], points[j]
