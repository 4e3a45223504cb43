"""Rigorous enclosures with Arb ball arithmetic: the ground every certificate stands on.

The representation every certificate is built on, rigorous throughout (every rounding
is accounted for, by Arb or by an explicit bound on a float computation):
:class:`LocalPolys`, a piecewise polynomial with error radii: on each cell,
``f(x) ∈ Σ_k (c_k ± r_k) h^k ± rem·|h|^n ± slack`` with ``h = x - centre``. A target
becomes one by *Taylor models* (:func:`taylor_blocks`: Arb's ``arb_series`` at a block's
centre gives ``f^(k)(c)/k!``, and over the whole block encloses ``f^(n)(ξ)/n!``); a
ReLU net, a spline or a line is one exactly; smooth nets become one through
:func:`mlp_ball` (a Chebyshev series has its own cells,
:mod:`approx.certify.chebyshev`). Float evaluation of a cell's polynomial (any
derivative) carries a running error bound, so millions of points cost numpy time, not
Arb time. Blocks with no Taylor model (a kink, ``sqrt`` at 0,
``|x|^1.5`` at 0) are *rough*: evaluated in Arb from the source.

Built on it: :mod:`approx.certify.branch_bound` (``sup |f - g|``), :mod:`approx.problems.finite` (a
target proven finite) and :mod:`approx.certify.derivatives` (``max |f''|``, ``∫ √|f''|``).

Work is counted in operations (cell evaluations and Arb evaluations weighted by their
size), never in seconds, so a capped result is the same on every machine. When the cap
is hit the enclosure is still rigorous, only wider, and says so.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx.arith.balls import (
    MIN_BLOCK,
    N_TERMS,
    TINY,
    U,
    abs_lower,
    abs_upper,
    arb_context,
    ball,
    head,
    upper,
)
from approx.core import deadline
from approx.problems.expr import BallFunc

__all__ = [
    "EndValues",
    "LocalPolys",
    "arb_context",
    "from_coefficients",
    "holding",
    "middle",
    "taylor_blocks",
]

Array = NDArray[np.float64]

class EndValues:
    """A model's float values at points with their error bounds, reusing the points of
    the previous call (a cell's right end is the next one's left end).

    Parameters
    ----------
    evaluate : callable
        ``x -> (values, errors)``, each with a leading axis of derivative orders; order 0
        is kept.
    """

    def __init__(self, evaluate: Callable[[Array], tuple[Array, Array]]) -> None:
        self._evaluate = evaluate
        self._previous: tuple[Array, Array, Array] | None = None

    def __call__(self, x: Array) -> tuple[Array, Array]:
        value, error = np.empty(x.size), np.empty(x.size)
        hit = np.zeros(x.size, dtype=bool)
        if self._previous is not None and x.size and self._previous[0].size:
            px, pv, pe = self._previous
            j = np.clip(np.searchsorted(px, x), 0, px.size - 1)
            hit = px[j] == x
            value[hit], error[hit] = pv[j[hit]], pe[j[hit]]
        miss = ~hit
        if miss.any():
            v, e = self._evaluate(x[miss])
            value[miss], error[miss] = v[0], e[0]
        order = np.argsort(x, kind="stable")
        self._previous = (x[order], value[order], error[order])
        return value, error


#: the default work cap, in operations: a cell evaluated in floats counts 1, one
#: evaluation of a ball function counts ``ARB_WEIGHT`` times its size (a ball series
#: operation costs about that many float operations evaluated in numpy)
MAX_WORK = 2**22
ARB_WEIGHT = 256
#: the cap for a target's own Taylor blocks: built once per target and process, reused
#: by every enclosure against it (``x sin(1/x)`` on ``[1e-4, 1]`` needs 1.1 × 2^28,
#: ``|sin(1000 x)|`` on ``[-1, 1]``, with its 637 kinks, 1.4 × 2^28)
TARGET_WORK = 2**29
#: a ball function this small (a target's formula) is evaluated even past the cap
CHEAP = 256


#: rows of :meth:`LocalPolys.at_many` evaluated at once (its arrays hold ``(n + 6)`` floats
#: a row: a few tens of MB at most, however many cells a capped search holds)
AT_CHUNK = 1 << 15


# --- cells: where they lie, their middle and radius, in floats --------------------------------


def holding(p: Any, lo: Array) -> NDArray[np.intp]:
    """Index of the cell of ``p`` (anything with sorted ``edges``) that holds each cell
    ``[lo, hi]`` lying within one of its cells.

    Found from the left end (the last edge ``≤ lo``), so a cell that starts on an edge
    gets the cell to its right. Never from a midpoint: on cells a few floats wide the
    rounded midpoint may fall on the neighbour's edge.
    """
    i = np.searchsorted(p.edges, lo, side="right") - 1
    return np.clip(i, 0, p.edges.size - 2)


def middle(lo: Array, hi: Array) -> tuple[Array, Array]:
    """A float ``m`` in each ``[lo, hi]`` and a radius ``ρ ≥ max(m - lo, hi - m)``.

    ``m`` is the rounded midpoint, which on a cell one to a few floats wide is off the
    true middle by up to half the width (even onto an end): ``ρ`` is measured from ``m``
    and rounded up, never taken as half the width. Where ``hi - lo`` overflows, ``m`` is
    ``lo/2 + hi/2`` (and ``ρ`` may be ``inf``).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        width = hi - lo
        m = np.where(np.isfinite(width), lo + width / 2, lo / 2 + hi / 2)
        m = np.clip(m, lo, hi)
        rho = np.maximum(m - lo, hi - m) * (1 + 4 * U)
    return m, rho


def remainder_term(rem: Any, reach: Any, p: int, *, rounded_up: bool = True) -> Any:
    """An upper bound of ``rem · reach^p`` (``rem, reach ≥ 0``; floats or arrays): ``0``
    where ``rem`` is 0 (even for an infinite ``reach``), ``inf`` where it overflows,
    never an exception, and nothing lost to underflow (the factors are multiplied in the
    order that keeps the partial products from underflowing while the result would not).
    ``rounded_up=False``: the plain product (for a tolerance test, not a bound).
    """
    rem, reach = np.asarray(rem, dtype=np.float64), np.asarray(reach, dtype=np.float64)
    if rem.ndim and reach.shape == rem.shape and not rem.any():  # exact polynomials
        return np.zeros_like(rem)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        grow = reach >= 1
        out = np.where(grow, 1.0, rem)  # reach ≥ 1: its power first, then rem
        for _ in range(p):
            out = out * reach
        out = np.where(grow, out * rem, out)
        if rounded_up:
            out = out * (1 + 4 * (p + 2) * U) + (p + 2) * TINY
        out = np.where(rem == 0, 0.0, np.where(np.isnan(out), np.inf, out))
    return out if out.ndim else float(out)


def _remainder_terms(rem: Array, reach: Array, p: NDArray[np.intp]) -> Array:
    """:func:`remainder_term` (rounded up) with a power per row, ``p`` descending: each
    row through exactly the operations :func:`remainder_term` applies to it."""
    if not rem.any():  # exact polynomials (0 wherever rem is)
        return np.zeros_like(rem)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        grow = reach >= 1
        out = np.where(grow, 1.0, rem)  # reach ≥ 1: its power first, then rem
        rows = np.searchsorted(-p, -(np.arange(int(p.max(initial=0))) + 1), side="right")
        for m in rows:  # step t: the rows with p > t, a prefix
            out[:m] = out[:m] * reach[:m]
        out = np.where(grow, out * rem, out)
        out = out * (1 + 4 * (p + 2) * U) + (p + 2) * TINY
        return np.where(rem == 0, 0.0, np.where(np.isnan(out), np.inf, out))


# --- piecewise polynomials with error radii -------------------------------------------------


@dataclass
class LocalPolys:
    """A function given cell by cell as a polynomial with rigorous error radii.

    On cell ``i`` (``edges[i] ≤ x ≤ edges[i+1]``), with ``h = x - centre[i]``,
    ``n = coef.shape[1]``: the function lies in
    ``Σ_k (coef[i, k] ± rad[i, k]) h^k ± rem[i] |h|^n ± slack[i]``, where ``rem[i]`` bounds
    ``|f^(n)(ξ)| / n!`` on the cell (0 for an exact polynomial) and ``slack[i]`` bounds the
    distance to a polynomial that the rest describes (a ReLU net's pieces rounded to
    float ends). Derivatives are enclosed without the slack (see :attr:`slack`).

    Attributes
    ----------
    edges : ndarray of shape (m + 1,)
    centre, rem, slack : ndarray of shape (m,)
    coef, rad : ndarray of shape (m, n)
    rough : ndarray of shape (m,) of bool
        Cells without a polynomial: evaluated through :attr:`source` in Arb.
    source : callable or None
        The ball function itself, for rough cells and exact point values.
    scale : float
        A size of the function's values (for the absolute tolerance).
    work : int
        Operations spent building it.
    capped : bool
        Whether building hit the work cap (rough cells then also cover unfinished work).
    cost : int
        Operations per evaluation of :attr:`source` (its size).
    sup : float
        An a-priori upper bound of ``|f|`` on the whole domain (``inf`` if none is known):
        the bound of last resort once the work cap is hit.
    float_cost : int
        Operations per cell evaluated in floats (1: a short polynomial).
    cap_scale : int
        The work cap's multiple for this function (1; more for a model whose every
        evaluation costs its size).
    """

    edges: Array
    centre: Array
    coef: Array
    rad: Array
    rem: Array
    slack: Array
    rough: NDArray[np.bool_]
    source: BallFunc | None = None
    scale: float = 0.0
    work: int = 0
    capped: bool = False
    cost: int = 1
    sup: float = math.inf
    float_cost: int = 1
    cap_scale: int = 1
    _shifted: dict[int, tuple[Array, Array, Array]] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.coef.shape[1])

    def cell(self, x: Array) -> NDArray[np.intp]:
        """Index of the cell holding each point (the left one at a shared edge)."""
        i = np.searchsorted(self.edges, x, side="left") - 1
        return np.clip(i, 0, self.centre.size - 1)

    def _order(self, k: int) -> tuple[Array, Array, Array]:
        """Coefficients of ``f^(k)/k!`` around the centres: ``C(i, k) c_i`` (rounded) with
        their radii, and the remainder factor ``C(n, k) rem``."""
        if k not in self._shifted:
            n = self.n
            i = np.arange(k, n)
            binom = np.array([math.comb(int(j), k) for j in i], dtype=np.float64)
            c = self.coef[:, k:] * binom
            r = (self.rad[:, k:] * binom + U * np.abs(c)) * (1 + 4 * U)
            self._shifted[k] = (c, r, self.rem * math.comb(n, k))
        return self._shifted[k]

    def at(self, x: Array, idx: NDArray[np.intp], k: int) -> tuple[Array, Array]:
        """``f^(k)(x)/k!`` at points ``x`` of cells ``idx``: value and error bound.

        The bound covers the radii, the remainder, Horner's rounding (a running error
        bound, Higham's Algorithm 5.1) and the rounding of ``h = x - centre``. Rough cells
        give NaN values and infinite bounds. Shapes: ``x``, ``idx`` (m,) → two (m,).
        """
        if k >= self.n:
            return self._beyond(idx)
        c, r, rem = self._order(k)
        c, r, rem = c[idx], r[idx], rem[idx]
        h = x - self.centre[idx]
        a = np.abs(h)
        y = c[:, -1].copy()
        mu = np.abs(y) / 2
        ra = r[:, -1].copy()
        dh = np.zeros_like(y)  # Σ j |c_j| |h|^(j-1): the sensitivity to h
        ay = np.abs(y)
        powers = np.ones_like(y)  # Σ |h|^j: how far an underflow's error may grow
        # whether a product may have underflowed: the first step's (|y| = 2 mu) tested
        # here, each later one's after the step that makes its factor
        under = _underflows(mu, a) & (c.shape[1] > 1)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for j in range(c.shape[1] - 2, -1, -1):
                dh = dh * a + ay
                y = y * h + c[:, j]
                mu = mu * a + np.abs(y)
                under |= _underflows(mu, a) | _underflows(ra, a)
                ra = ra * a + r[:, j]
                ay = ay * a + np.abs(c[:, j])
                powers = powers * a + 1
            tail = remainder_term(rem, a, self.n - k)
            err = _horner_error(mu, ra, tail, dh, a, under, powers)
        return self._mask_rough(idx, y, err)

    def at_many(
        self, x: Array, idx: NDArray[np.intp], orders: NDArray[np.intp]
    ) -> tuple[Array, Array]:
        """:meth:`at` at an order per point, in one pass: row ``j`` is
        ``f^(orders[j])(x[j]) / orders[j]!`` on cell ``idx[j]``, value and error bound.

        Every row goes through exactly the floating-point operations :meth:`at` applies
        to it (the same values and bounds, bit for bit): the rows are grouped by order,
        longest polynomial first, so the rows still in Horner's scheme at each step are a
        prefix, updated in place. What it saves is numpy's per-call cost on the short
        arrays of a branch-and-bound step (one pass instead of one per order).
        """
        orders = np.asarray(orders, dtype=np.intp)
        if (kernel := _compiled()) is not None:
            return kernel(np.ascontiguousarray(x, dtype=np.float64),
                          np.ascontiguousarray(idx, dtype=np.intp), orders,
                          *self._kernel_arrays(), _binomials(self.n))
        value, error = np.empty(x.size), np.empty(x.size)
        beyond = orders >= self.n
        if beyond.any():
            value[beyond], error[beyond] = self._beyond(idx[beyond])
        rows = np.nonzero(~beyond)[0]
        rows = rows[np.argsort(orders[rows], kind="stable")]  # longest first
        for start in range(0, rows.size, AT_CHUNK):  # (each chunk sorted too)
            r = rows[start : start + AT_CHUNK]
            value[r], error[r] = self._horner_rows(x[r], idx[r], orders[r])
        return value, error

    def _kernel_arrays(self) -> tuple[Array, Array, Array, Array, NDArray[np.bool_]]:
        """``coef, rad, rem, centre, rough`` as the compiled kernel takes them (the arrays
        themselves when they already are: never a copy that a later change would miss)."""
        f8 = np.float64
        return (np.ascontiguousarray(self.coef, dtype=f8),
                np.ascontiguousarray(self.rad, dtype=f8),
                np.ascontiguousarray(self.rem, dtype=f8),
                np.ascontiguousarray(self.centre, dtype=f8),
                np.ascontiguousarray(self.rough, dtype=np.bool_))

    def _horner_rows(
        self, x: Array, idx: NDArray[np.intp], orders: NDArray[np.intp]
    ) -> tuple[Array, Array]:
        """:meth:`at`'s arithmetic on rows sorted by order (ascending), each row with its
        own order's coefficients (padded with zeros that are never read). The sums that
        do not depend on the value (``Σ j |c_j| |h|^(j-1)``, the radii, ``Σ |c_j| |h|^j``,
        ``Σ |h|^j``) are updated as one stacked array, and the underflow tests of
        :meth:`at` are made on the saved factors after the loop."""
        m, n = x.size, self.n
        lengths = n - orders  # descending
        c, stack = np.zeros((n, m)), np.zeros((n, 4, m))  # stack: ay, radii, |c_j|, 1
        rem = np.empty(m)
        for k in orders[np.r_[True, orders[1:] != orders[:-1]]]:  # (sorted: its values)
            ck, rk, remk = self._order(int(k))
            sel = np.nonzero(orders == k)[0]
            c[: n - k, sel], stack[: n - k, 1, sel] = ck[idx[sel]].T, rk[idx[sel]].T
            rem[sel] = remk[idx[sel]]
        stack[:, 2], stack[:, 3] = np.abs(c), 1.0
        h = x - self.centre[idx]
        a = np.abs(h)
        cols = np.arange(m)
        y = c[lengths - 1, cols]
        mu = np.abs(y) / 2
        first = _underflows(mu, a) & (lengths > 1)  # (the first step's product, as in at)
        sums = np.stack([np.zeros(m), stack[lengths - 1, 1, cols], np.abs(y), np.ones(m)])
        kept_mu, kept_ra = np.zeros((n, m)), np.zeros((n, m))  # the factors tested below
        # the rows in step j are those of length ≥ j + 2: a prefix
        active = np.searchsorted(-lengths, -(np.arange(n) + 2), side="right")
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for j in range(int(lengths.max()) - 2, -1, -1):
                s = slice(0, int(active[j]))
                aj, add, state = a[s], stack[j, :, s], sums[:, s]
                add[0] = state[2]  # Σ j |c_j| |h|^(j-1) grows by the old Σ |c_j| |h|^j
                kept_ra[j, s] = state[1]
                np.multiply(state, aj, out=state)
                np.add(state, add, out=state)
                np.multiply(y[s], h[s], out=y[s])
                np.add(y[s], c[j, s], out=y[s])
                np.multiply(mu[s], aj, out=mu[s])
                np.add(mu[s], np.abs(y[s]), out=mu[s])
                kept_mu[j, s] = mu[s]
            under = first | np.any(_underflows(kept_mu, a) | _underflows(kept_ra, a), axis=0)
            dh, ra, _, powers = sums
            tail = _remainder_terms(rem, a, lengths)
            err = _horner_error(mu, ra, tail, dh, a, under, powers)
        return self._mask_rough(idx, y, err)

    def _mask_rough(self, idx: NDArray[np.intp], y: Array, err: Array) -> tuple[Array, Array]:
        """Rough cells' values as NaN and their bounds as infinite."""
        rough = self.rough[idx]
        if rough.any():
            y = np.where(rough, np.nan, y)
            err = np.where(rough, np.inf, err)
        return y, err

    def bound(self, lo: Array, hi: Array, idx: NDArray[np.intp], k: int) -> Array:
        """An upper bound of ``|f^(k)(ξ)| / k!`` for ``ξ`` in ``[lo, hi]`` ⊂ cell ``idx``
        (compiled where :meth:`at_many` is: the same numbers)."""
        if (np.ndim(lo) == 1 and np.shape(lo) == np.shape(hi) == np.shape(idx)
                and _compiled() is not None and (kernel := _bound_kernel()) is not None):
            f8 = np.float64
            return kernel(np.ascontiguousarray(lo, dtype=f8), np.ascontiguousarray(hi, dtype=f8),
                          np.ascontiguousarray(idx, dtype=np.intp), int(k),
                          *self._kernel_arrays(), _binomials(self.n))
        if k >= self.n:
            return self._beyond(idx)[1]
        c, r, rem = self._order(k)
        c, r, rem = c[idx], r[idx], rem[idx]
        centre = self.centre[idx]
        reach = np.maximum(np.abs(lo - centre), np.abs(hi - centre)) * (1 + 4 * U)
        s = np.abs(c[:, -1]) + r[:, -1]
        powers = np.ones_like(s)
        under = np.zeros(s.shape, dtype=bool)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for j in range(c.shape[1] - 2, -1, -1):
                under |= _underflows(s, reach)
                s = s * reach + (np.abs(c[:, j]) + r[:, j])
                powers = powers * reach + 1
            s = (s + remainder_term(rem, reach, self.n - k)) * (1 + 4 * self.n * U)
            s = np.where(under, s + 4 * TINY * powers * (1 + 8 * U), s)
            s = _subnormal_margin(s, s != 0)
        return np.where(self.rough[idx] | np.isnan(s), np.inf, s)

    def near_edge(self, lo: Array, hi: Array, idx: NDArray[np.intp]) -> Array:
        """The slack of cells ``idx`` for sub-intervals ``[lo, hi]``: it applies only within
        half a float spacing of a cell's ends, so only to sub-intervals that touch them."""
        touch = (lo == self.edges[idx]) | (hi == self.edges[idx + 1])
        return np.where(touch, self.slack[idx], 0.0)

    def _beyond(self, idx: NDArray[np.intp]) -> tuple[Array, Array]:
        """Orders past the polynomial's degree: 0 for exact polynomials, else unknown."""
        exact = (self.rem[idx] == 0) & ~self.rough[idx]
        return np.where(exact, 0.0, np.nan), np.where(exact, 0.0, np.inf)

    def point_cell(self, i: int) -> int:
        """The cell whose enclosure :meth:`ball_at` uses at a point asked of cell ``i``:
        ``i``, or -1 for a rough cell (the source, the same for every cell)."""
        return -1 if self.rough[i] else i

    def ball_at(self, X: Any, i: int) -> Any:
        """The enclosure of cell ``i`` in Arb at ``X`` (an arb or arb_series in the cell)."""
        if self.rough[i]:
            assert self.source is not None
            return self.source(X, False)
        h = X - arb(self.centre[i])
        total = arb(0)
        for j in range(self.n - 1, -1, -1):
            total = total * h + arb(self.coef[i, j], self.rad[i, j])
        reach = abs_upper(head(h))
        radius = (remainder_term(self.rem[i], reach, self.n) + self.slack[i]) * (1 + 2 * U)
        if not math.isfinite(radius):
            return _whole_line(X)
        if radius > 0:
            total = total + arb(0, radius)
        if isinstance(X, arb_series) and self.rem[i] != 0:
            # the remainder's derivatives: |R^(k)|/k! ≤ C(n, k) rem |h|^(n - k); orders
            # past the model's are unknown
            tail = [arb(0)] + [
                arb(0, remainder_term(self.rem[i] * math.comb(self.n, k), reach, self.n - k))
                for k in range(1, min(X.prec, self.n + 1))
            ]
            tail += [arb.nan()] * (X.prec - self.n - 1)

            total = total + arb_series(tail, prec=X.prec)
        return total


def _compiled() -> Callable[..., tuple[Array, Array]] | None:
    """The compiled :meth:`LocalPolys.at_many` (:mod:`approx.certify._horner_numba`, the
    same numbers bit for bit) in a process that has loaded numba already (a sweep's
    parent, to record its engines; a worker that trained a net), else None: numba's
    import and first call cost about 0.5 s, what some hundred construction runs save,
    and a worker that only certifies constructions starts light without it."""
    if "numba" not in sys.modules:
        return None
    return _kernel()


@functools.cache
def _kernel() -> Callable[..., tuple[Array, Array]] | None:
    try:
        from approx.certify._horner_numba import horner_rows
    except ImportError:  # (a numba that does not import: the numpy form)
        return None
    return horner_rows


@functools.cache
def _bound_kernel() -> Callable[..., Array] | None:
    try:
        from approx.certify._horner_numba import bound_rows
    except ImportError:
        return None
    return bound_rows


@functools.cache
def _binomials(n: int) -> Array:
    """``C(j, k)`` as floats for ``j, k ≤ n`` (0 for ``k > j``)."""
    return np.array([[math.comb(j, k) for k in range(n + 1)] for j in range(n + 1)],
                    dtype=np.float64)


def _underflows(p: Array, q: Array) -> NDArray[np.bool_]:
    """Where the float product ``p · q`` may lose to underflow: it falls below the normal
    range (with margin) although neither factor is 0 (an exact 0 loses nothing)."""
    return (p != 0) & (q != 0) & (np.abs(p * q) < 2.0**-1000)



def _horner_error(mu: Array, ra: Array, tail: Array, dh: Array, a: Array, under: Array,
                  powers: Array) -> Array:
    """The error bound of a Horner evaluation from its running sums (:meth:`LocalPolys.at`):
    rounding (``mu``), radii (``ra``), the remainder (``tail``), the rounding of ``h``
    (``dh``, ``|h| = a``), and where a product may have underflowed (``under``)."""
    err = (2.01 * U * mu + ra + tail + 1.01 * U * dh * a) * (1 + 8 * U)
    # Higham's bound assumes no underflow: where a product may have lost to it, each
    # step's absolute loss (a subnormal unit) grows with the later powers
    err = np.where(under, err + 4 * TINY * powers * (1 + 8 * U), err)
    # (and the last products, by U, may round a subnormal down: a few units more)
    err = _subnormal_margin(err, (mu != 0) | (ra != 0) | (dh != 0) | (tail != 0))
    return np.where(np.isnan(err), np.inf, err)

def _subnormal_margin(bound: Array, nonzero: NDArray[np.bool_]) -> Array:
    """``bound`` plus a few subnormal units where it is that small and its parts were
    not all exactly 0 (its final products may have rounded below the normal range)."""
    return np.where(nonzero & (bound < 2.0**-1000), bound + 8 * TINY, bound)


def _whole_line(X: Any) -> Any:
    """An enclosure that says nothing (NaN: the value is unknown), shaped like ``X``."""
    if isinstance(X, arb_series):
        return arb_series([arb.nan()] * X.prec, prec=X.prec)
    return arb.nan()


def from_coefficients(
    edges: Array,
    centre: Array,
    coef: Array,
    rad: Array | None = None,
    slack: Array | None = None,
    source: BallFunc | None = None,
) -> LocalPolys:
    """A :class:`LocalPolys` of exact polynomials (``rem = 0``), e.g. pieces of a model."""
    m = centre.size
    coef = np.asarray(coef, dtype=np.float64)
    return LocalPolys(
        edges=np.asarray(edges, dtype=np.float64),
        centre=np.asarray(centre, dtype=np.float64),
        coef=coef,
        rad=np.zeros_like(coef) if rad is None else np.asarray(rad, dtype=np.float64),
        rem=np.zeros(m),
        slack=np.zeros(m) if slack is None else np.asarray(slack, dtype=np.float64),
        rough=np.zeros(m, dtype=bool),
        source=source,
        scale=float(np.max(np.abs(coef[:, 0]))) if m else 0.0,
    )


def taylor_blocks(
    fn: BallFunc,
    domain: tuple[float, float],
    scale: float,
    *,
    cost: int = 16,
    max_work: int = MAX_WORK,
    min_blocks: int = 1,
    sup: float = math.inf,
) -> LocalPolys:
    """Taylor models of ``fn`` on blocks that bisect ``domain`` adaptively.

    A block ``[l, r]`` with centre ``c`` and radius ``ρ`` is kept when every coefficient
    ``f^(k)(c)/k!`` (``k < N_TERMS``) and the enclosure ``A`` of ``f^(n)(ξ)/n!`` over the
    block are finite and ``|A| ρ^n ≤ 2^-56 · scale``; otherwise it is halved, down to
    :data:`MIN_BLOCK` of the domain, below which it is *rough* (no polynomial).

    Parameters
    ----------
    fn : callable
        Ball function, validated on the domain.
    domain : tuple of float
    scale : float
        A size of ``|f|`` (e.g. its max on a grid): sets the remainder's tolerance,
        ``2^-56`` of the largest of it and the values at the blocks' centres so far
        (kept as the result's :attr:`LocalPolys.scale`).
    cost : int
        Operations per evaluation of ``fn`` (its size), counted against ``max_work``;
        when the cap is reached the unfinished blocks become rough.
    min_blocks : int
        Start from this many equal blocks (a function that oscillates on a known scale
        saves the bisection's first levels).
    sup : float
        An a-priori bound of ``|f|`` on the domain, if one is known (see
        :attr:`LocalPolys.sup`).
    """
    a, b = domain
    n = N_TERMS
    tol = 2.0**-56 * max(scale, TINY)
    floor = MIN_BLOCK * (b - a)
    starts = np.linspace(a, b, min_blocks + 1)
    stack = list(zip(starts[-2::-1], starts[:0:-1], strict=True))
    rows: list[_Row] = []
    work = 0
    capped = False
    with arb_context():
        while stack:
            lo, hi = stack.pop()
            c = lo + (hi - lo) / 2
            if work >= max_work:
                capped = True
                rows.append((lo, hi, c, [], [], math.inf, True))
                continue
            work += 2 * cost * ARB_WEIGHT
            if len(rows) % 64 == 0:
                deadline.check()
            rho = max(c - lo, hi - c) * (1 + 4 * U)
            coeffs, remainder = _block_model(fn, lo, hi, c, n)
            if coeffs[0].is_finite():
                # the size of f is what is attained, also where a grid missed it
                scale = max(scale, abs_lower(coeffs[0]))
                tol = 2.0**-56 * max(scale, TINY)
            tail = remainder_term(remainder, rho, n, rounded_up=False)
            ok = all(v.is_finite() for v in coeffs) and tail <= tol
            if ok:
                mids = [float(v.mid()) for v in coeffs]
                rads = [
                    upper(v.rad()) + abs_upper(v.mid() - m)
                    for v, m in zip(coeffs, mids, strict=True)
                ]
                rows.append((lo, hi, c, mids, rads, remainder * (1 + 4 * U), False))
            elif hi - lo <= floor or not lo < c < hi:
                rows.append((lo, hi, c, [], [], math.inf, True))
            else:
                stack += [(c, hi), (lo, c)]
    return _assemble(rows, b, n, fn, scale, work=work, capped=capped, cost=cost, sup=sup)


#: a block of :func:`taylor_blocks`: its ends, centre, coefficients' midpoints and radii,
#: the remainder's bound, and whether it is rough
_Row = tuple[float, float, float, list[float], list[float], float, bool]


def _block_model(fn: BallFunc, lo: float, hi: float, c: float, n: int) -> tuple[list[arb], float]:
    """``f^(k)(c)/k!`` for ``k < n`` (balls) and a bound of ``|f^(n)(ξ)/n!|`` over ``[lo, hi]``."""
    at_c = taylor_series(fn, arb(c), n)
    over = taylor_series(fn, ball(lo, hi), n + 1)
    return [series_coef(at_c, k) for k in range(n)], abs_upper(series_coef(over, n))


def _assemble(
    rows: list[_Row], b: float, n: int, fn: BallFunc, scale: float, **facts: Any
) -> LocalPolys:
    """The blocks as one :class:`LocalPolys` (rough blocks get NaN coefficients)."""
    m = len(rows)
    coef = np.full((m, n), np.nan)
    rad = np.full((m, n), np.inf)
    for i, row in enumerate(rows):
        if not row[6]:
            coef[i], rad[i] = row[3], row[4]
    return LocalPolys(
        edges=np.array([row[0] for row in rows] + [b]),
        centre=np.array([row[2] for row in rows]),
        coef=coef,
        rad=rad,
        rem=np.array([row[5] for row in rows]),
        slack=np.zeros(m),
        rough=np.array([row[6] for row in rows], dtype=bool),
        source=fn,
        scale=scale,
        **facts,
    )


def taylor_series(fn: BallFunc, X: arb, n: int) -> Any:
    """``fn`` on the series ``X + t`` of length ``n``; all NaN where python-flint refuses
    (a series division by a ball that holds 0)."""
    try:
        return fn(arb_series([X, 1], prec=n), False)
    except (ValueError, ZeroDivisionError):
        return arb_series([arb.nan()] * n, prec=n)


def series_coef(s: Any, k: int) -> arb:
    """Coefficient ``k`` of a series (a constant function's result is an arb)."""
    if isinstance(s, arb_series):
        return s[k]
    return s if k == 0 else arb(0)


# --- models as ball functions ---------------------------------------------------------------
