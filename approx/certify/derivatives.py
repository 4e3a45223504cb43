"""Enclosures of one function's derivative: ``max |f^(k)|`` and ``∫ |f^(k)|^(1/2)``.

The theory's bounds rest on them: the uniform-knot bound ``h²/8 · max |f''|`` and the
adaptive-knot constant ``(∫ √|f''|)² / (8 (d - 1)²)``. Both work on the Taylor blocks of
the target (:func:`approx.certify.taylor.taylor_blocks`), in floats with error bounds, and in
Arb on the rough blocks.
"""

from __future__ import annotations

import math

import numpy as np
from flint import arb

from approx.arith.balls import U, abs_lower, abs_upper, arb_context, ball
from approx.certify.taylor import (
    MAX_WORK,
    Array,
    LocalPolys,
    holding,
    middle,
    series_coef,
    taylor_series,
)
from approx.core import deadline

__all__ = ["integral_sqrt_abs_derivative", "sup_abs_derivative"]


def _derivative_ranges(
    f: LocalPolys, lo: Array, hi: Array, k: int
) -> tuple[Array, Array, Array, Array]:
    """Per cell: ``|f^(k)|`` at the midpoint (value, error) and a bound on its variation.

    ``f^(k)(x) = k!·(F_k(m) + (k+1) F_{k+1}(m) t + C(k+2, 2) F_{k+2}(ξ) t²)`` with
    ``F_j = f^(j)/j!`` and ``|t| ≤ ρ``. Returns ``(value, err, spread, idx)``: ``f^(k)``
    lies within ``value ± (err + spread)`` on the cell.
    """
    mid, rho = middle(lo, hi)  # ρ measured from the rounded middle
    idx = holding(f, lo)
    scale = math.factorial(k)
    v, e = f.at(mid, idx, k)
    v1, e1 = f.at(mid, idx, k + 1)
    b2 = f.bound(lo, hi, idx, k + 2)
    spread = (np.abs(v1) + e1) * (k + 1) * rho + math.comb(k + 2, 2) * b2 * rho * rho
    return v * scale, e * scale * (1 + 4 * U), spread * scale * (1 + 8 * U), idx


def _rough_derivative(f: LocalPolys, lo: float, hi: float, k: int) -> arb:
    """Enclosure of ``f^(k)`` over ``[lo, hi]`` from the source in Arb."""
    assert f.source is not None
    with arb_context():
        return series_coef(taylor_series(f.source, ball(lo, hi), k + 1), k) * math.factorial(k)


def sup_abs_derivative(
    f: LocalPolys,
    k: int,
    domain: tuple[float, float],
    *,
    rtol: float = 1e-9,
    max_work: int = MAX_WORK,
) -> tuple[float, float]:
    """Enclose ``max |f^(k)|`` over the domain: ``(lower, upper)``; upper is ``inf`` where
    ``f^(k)`` is unbounded (a rough cell whose enclosure is not finite).

    Branch-and-bound on the blocks of ``f``, split in four, pruned against the best value.
    """
    lo, hi = f.edges[:-1].copy(), f.edges[1:].copy()
    best, settled, work = 0.0, 0.0, 0
    while lo.size:
        deadline.check()
        idx = holding(f, lo)
        rough = f.rough[idx]
        ub = np.empty(lo.size)
        shrinks = np.zeros(lo.size)  # the part of a bound that splitting removes
        if (~rough).any():
            v, e, spread, _ = _derivative_ranges(f, lo[~rough], hi[~rough], k)
            ub[~rough] = np.abs(v) + e + spread
            shrinks[~rough] = spread
            best = max(best, float(np.max(np.abs(v) - e)))
        for i in np.nonzero(rough)[0]:
            r = _rough_derivative(f, float(lo[i]), float(hi[i]), k)
            ub[i] = abs_upper(r)
            if not math.isfinite(ub[i]):
                return best, math.inf
        work += lo.size
        cut = best * (1 + rtol)
        tiny = hi - lo <= 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))
        final = (ub <= cut) | (shrinks <= rtol * best) | tiny
        if work >= max_work:
            final[:] = True
        if final.any():
            settled = max(settled, float(ub[final].max()))
        lo, hi = lo[~final], hi[~final]
        w = hi - lo
        inner = lo[:, None] + w[:, None] * np.array([0.25, 0.5, 0.75])
        lo = np.column_stack([lo, inner]).ravel()
        hi = np.column_stack([inner, hi]).ravel()
    return best, max(settled, best)


def integral_sqrt_abs_derivative(
    f: LocalPolys, k: int, *, rtol: float = 1e-7, max_work: int = MAX_WORK
) -> tuple[float, float]:
    """Enclose ``∫ |f^(k)|^(1/2)`` over the domain: ``(lower, upper)``.

    Per cell the range of ``f^(k)`` gives lower and upper Riemann sums of the root, and
    where ``f^(k)`` keeps its sign the midpoint rule with its error bound gives a third-
    order tighter pair; the cells contributing most to the gap are split until the gap
    is ``rtol`` of the lower sum or the work cap is hit. A rough cell whose ``f^(k)`` is
    not bounded contributes 0 to the lower sum and makes the upper one infinite.
    """
    lo, hi = f.edges[:-1].copy(), f.edges[1:].copy()
    work = 0
    while True:
        deadline.check()
        idx = holding(f, lo)
        rough = f.rough[idx]
        low, high = np.zeros(lo.size), np.full(lo.size, np.inf)
        splittable = np.zeros(lo.size, dtype=bool)  # whose gap shrinks when split
        if (~rough).any():
            sl, sh = lo[~rough], hi[~rough]
            v, e, spread, idx = _derivative_ranges(f, sl, sh, k)
            splittable[~rough] = spread > e
            a = np.abs(v)
            # first order: the root of the range of |f^(k)| over the cell
            lo1 = np.sqrt(np.maximum(a - e - spread, 0.0))
            hi1 = np.sqrt(a + e + spread)
            # second order, where f^(k) keeps its sign (m > 0): the midpoint rule for
            # g = |f^(k)|^(1/2) errs by at most w²/24 · sup|g''|, with
            # |g''| ≤ |f^(k+2)| / (2 m^(1/2)) + |f^(k+1)|² / (4 m^(3/2))
            m = a - e - spread
            d1 = f.bound(sl, sh, idx, k + 1) * math.factorial(k + 1)
            d2 = f.bound(sl, sh, idx, k + 2) * math.factorial(k + 2)
            with np.errstate(all="ignore"):
                curv = d2 / (2 * np.sqrt(m)) + d1 * d1 / (4 * m * np.sqrt(m))
                rule = (sh - sl) ** 2 / 24 * curv
            mid_lo = np.sqrt(np.maximum(a - e, 0.0)) - rule
            mid_hi = np.sqrt(a + e) + rule
            good = (m > 0) & np.isfinite(rule)
            low[~rough] = np.where(good, np.maximum(mid_lo, lo1), lo1) * (1 - 8 * U)
            high[~rough] = np.where(good, np.minimum(mid_hi, hi1), hi1) * (1 + 8 * U)
        for i in np.nonzero(rough)[0]:
            r = _rough_derivative(f, float(lo[i]), float(hi[i]), k)
            low[i] = math.sqrt(abs_lower(r)) * (1 - 4 * U)
            high[i] = math.sqrt(abs_upper(r)) * (1 + 4 * U)
        w = hi - lo
        lower = float(np.sum(low * w)) * (1 - lo.size * U)
        # rough cells are already as narrow as blocks go: they are never split
        gaps = np.where(rough, 0.0, (high - low) * w)
        upper = lower + float(np.sum((high - low)[rough] * w[rough]) + np.sum(gaps)) * (
            1 + lo.size * U
        )
        work += lo.size
        if np.sum(gaps) <= rtol * lower or work >= max_work:
            return lower, upper
        # split the cells holding half of the gap
        order = np.argsort(gaps)[::-1]
        cum = np.cumsum(gaps[order])
        n_split = int(np.searchsorted(cum, 0.5 * cum[-1])) + 1
        split = np.zeros(lo.size, dtype=bool)
        split[order[:n_split]] = True
        split &= splittable & (w > 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi))))
        if not split.any():
            return lower, upper
        m = lo[split] + w[split] / 2
        lo = np.concatenate([lo[~split], lo[split], m])
        hi = np.concatenate([hi[~split], m, hi[split]])
