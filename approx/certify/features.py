"""Cos features ``f̂(x) = c + Σ_i v_i cos(w_i x + b_i)`` as certified cells, for
:func:`approx.certify.branch_bound.sup_abs_difference`.

A net of ``d`` cos units costs ``d`` ball operations per evaluation in Arb, so Taylor
models of it hit the work cap from ``d ≈ 64`` on. :class:`FeaturePolys` gives the
branch-and-bound what it asks of a model in floats instead, over many points at once:

- ``f̂^(k)(x)/k! = Σ_i v_i w_i^k cos(u_i + kπ/2)/k!`` (plus ``c`` for ``k = 0``), with
  ``u_i = w_i x + b_i``. The argument is carried exactly as ``hi + lo`` (Dekker's product
  and Knuth's TwoSum), cos and sin are evaluated by :func:`cos_sin` with a rigorous error
  bound that does not trust the platform's libm, and the ``d`` terms are summed by a
  pairwise tree, compensated for the value (each addition's error kept by TwoSum), so
  the error is a few rounding units of ``Σ_i |v_i|`` for the value and
  ``⌈log₂ d⌉ + 1`` of ``Σ_i |v_i w_i^k|/k!`` for the derivatives.
- bounds of ``|f̂^(k)|/k!`` over a cell from the derivatives at its middle (all orders up
  to :data:`_ORDERS` - 1 evaluated at once) and the global ``Σ_i |v_i| |w_i|^n / n!`` of
  the next order; they follow the cancellation between the terms, which the global
  bound alone does not.
- the net in Arb (:func:`approx.certify.nets.mlp_ball`) where rounding stands between the
  bounds and for cells whose arguments are too large for the reduction.

Every cell of :class:`FeaturePolys` costs ``d``, at every level of the search. From
:data:`_GRID_FROM` units on, :func:`feature_cells` gives :class:`FeatureTaylor` instead:
Taylor models of the whole sum on a uniform grid of cells, built once (``d`` per cell,
cos and sin rotated from cell to cell by a compiled kernel), after which the search's
cells cost their polynomial's length; the values above stay for the cells' ends where
rounding decides (:meth:`FeatureTaylor.precise`).

:func:`cos_sin` reduces ``u`` by Cody and Waite's method: ``k = round(2u/π)`` and
``ρ = u - k (P₁ + P₂ + P₃)`` with ``P₁``, ``P₂`` of 26 bits, so ``k P₁`` and ``k P₂`` are
exact for ``|k| < 2²⁷`` (``|u|`` up to about 2 · 10⁸), each subtraction's error kept by
TwoSum and the error of ``P₁ + P₂ + P₃`` against ``π/2`` bounded in Arb. Then ``cos ρ``
and ``sin ρ`` are Taylor polynomials in ``ρ²`` on ``|ρ| ≤ 0.8`` (truncation bounded by
the first omitted term), evaluated by Horner's rule with Higham's error bound (taken a
priori), and ``u``'s low part enters
by ``cos(r + δ) = cos r - δ sin r + O(δ²)``. Where numba is installed the same
operations run compiled, element by element (:mod:`approx.certify._cos_sin_numba`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from flint import arb, ctx
from numpy.typing import NDArray

from approx.arith.balls import TINY, U, arb_context, upper
from approx.arith.eft import split, two_sum
from approx.certify.nets import mlp_ball
from approx.certify.taylor import MAX_WORK, EndValues, LocalPolys, remainder_term
from approx.core.threads import one_thread

__all__ = ["FeaturePolys", "FeatureTaylor", "cos_sin", "feature_cells", "features_fit"]

Array = NDArray[np.float64]

#: derivative orders evaluated at a point (0 … _ORDERS - 1); the global bound covers
#: order _ORDERS. The branch-and-bound asks for orders ≤ 5 at points and a bound of the
#: sixth over a cell, which the middle's orders 6 … 15 and the global sixteenth give:
#: its cells may then be a fair fraction of the fastest unit's period
_ORDERS = 16
#: reduction limit: ``|k| < 2^27`` keeps ``k P₁`` and ``k P₂`` exact (26-bit constants)
_K_LIMIT = 2.0**27
#: largest ``|r|`` the Taylor polynomials are used for (``π/4`` and rounding fit)
_R_MAX = 0.8
#: elements per chunk of (points × features): 1 MB per array
_CHUNK = 1 << 17
#: initial cells per period of the fastest unit, and their cap
_CELLS_PER_PERIOD = 2
_MAX_CELLS = 1 << 16
#: inputs and weights past this size could overflow Dekker's split
_MAX_INPUT = 2.0**500


def _half_pi_pieces() -> tuple[float, float, float, float]:
    """``P₁``, ``P₂`` (26 significant bits each), ``P₃`` (53) with ``P₁ + P₂ + P₃ ≈ π/2``,
    and an upper bound of ``|π/2 - P₁ - P₂ - P₃|`` (computed in Arb at 256 bits)."""
    saved = ctx.prec
    ctx.prec = 256
    try:
        rest = arb.pi() / 2
        pieces = []
        for bits in (26, 26):
            top = float(rest.mid())
            e = math.frexp(top)[1]  # top = m 2^e with 0.5 ≤ |m| < 1
            piece = math.ldexp(math.floor(math.ldexp(top, bits - e)), e - bits)
            pieces.append(piece)
            rest = rest - arb(piece)
        last = float(rest.mid())
        error = upper(abs(rest - arb(last)))
    finally:
        ctx.prec = saved
    return pieces[0], pieces[1], last, error


_P1, _P2, _P3, _PI_ERR = _half_pi_pieces()
_TWO_OVER_PI = 2 / math.pi
#: the reduction's error (cos_sin): ρ = r + (e1 + e2 + e3 + lo) + (fl(k P3) - k P3)
#: + k (P1 + P2 + P3 - π/2) exactly. TwoSum errors: |e3| ≤ U |r| ≤ 0.8 U,
#: |e2| ≤ U |r2| ≤ U (0.8 + |k| P3) (1 + U), |e1| ≤ U |r1| ≤ U (0.8 + |k| (P2 + P3)) (1 + 2U);
#: low = fl(fl(fl(e1 + e2) + e3) + lo) rounds by at most
#: U (3|e1| + 3|e2| + 2|e3| + |lo|) (1 + U)³ ≤ U² (8.8 + |k| (3 P2 + 6 P3)) (1 + 6U)
#: + U |lo| (1 + 4U); fl(k P3) by U |k| P3 (1 + U); and |π/2 - P1 - P2 - P3| per unit of k
_ETA_LO = U * (1 + 4 * U)
_ETA_K = (_PI_ERR + U * _P3 * (1 + U) + U * U * (3 * _P2 + 6 * _P3)) * (1 + 8 * U)
_ETA_0 = 8.8 * U * U * (1 + 8 * U) + 16 * TINY
_QUARTER_COS = np.array([1.0, 0.0, -1.0, 0.0])
_QUARTER_SIN = np.array([0.0, 1.0, 0.0, -1.0])
#: Taylor coefficients of cos r = Σ (-1)^j z^j/(2j)! and sin r / r = Σ (-1)^j z^j/(2j+1)!
#: in z = r² (each rounded: U of it, counted)
_COS = np.array([(-1) ** j / math.factorial(2 * j) for j in range(9)])
_SIN = np.array([(-1) ** j / math.factorial(2 * j + 1) for j in range(9)])
_Z_MAX = _R_MAX**2 * (1 + 4 * U)
#: first omitted terms at z = _Z_MAX (rounded up generously): z^9/18! and z^9/19!
_TRUNC_COS = _Z_MAX**9 / math.factorial(18) * 1.001
_TRUNC_SIN = _Z_MAX**9 / math.factorial(19) * 1.001


def _rounding_of(coef: Array, factorials: list[int]) -> float:
    """``Σ_j |coef_j - (-1)^j / factorials[j]| z^j`` at ``z = _Z_MAX``, bounded above:
    what rounding the coefficients costs (exactly, from fractions)."""
    total = Fraction(0)
    for j, (c, f) in enumerate(zip(coef, factorials, strict=True)):
        total += abs(Fraction(float(c)) - Fraction((-1) ** j, f)) * Fraction(_Z_MAX) ** j
    return float(total) * (1 + 4 * U)


_COEF_COS = _rounding_of(_COS, [math.factorial(2 * j) for j in range(9)])
_COEF_SIN = _rounding_of(_SIN, [math.factorial(2 * j + 1) for j in range(9)])
#: Σ_j j |a_j| z^(j-1) on [0, _Z_MAX], bounded: the sensitivity to the rounding of z
_SLOPE_COS, _SLOPE_SIN = 0.56, 0.18
#: Σ_i (i + 1) |a_i| z^i ≤ 1 + growth · z on [0, _Z_MAX]: Higham's running bound μ of
#: Horner's rule (μ = Σ_j z^j |y_j|, |y_j| ≤ Σ_{i≥j} |a_i| z^(i-j)) taken a priori
_GROWTH_COS, _GROWTH_SIN = 1.09, 0.35
#: the rest of each polynomial's error: coefficients' rounding, truncation, and the
#: absolute rounding error of z = r² near underflow
_CONST_COS = _COEF_COS + _TRUNC_COS + _SLOPE_COS * TINY
_CONST_SIN = _COEF_SIN + _TRUNC_SIN + _SLOPE_SIN * TINY + TINY


def _horner(coef: Array, z: Array, growth: float) -> tuple[Array, Array]:
    """``y = Σ_j coef_j z^j`` (``coef_0 = 1``, ``0 ≤ z ≤ _Z_MAX``) and a bound of Horner's
    rounding error: Higham's ``U (2μ - |y|)`` with ``μ ≤ 1 + growth · z`` a priori, and
    1 % to spare for the second-order terms."""
    y = np.full(z.shape, coef[-1])
    for a in coef[-2::-1]:
        y *= z
        y += a
    return y, (1.01 * U) * (2 + 2 * growth * z - np.abs(y))


def cos_sin(
    hi: Array, lo: Array | None = None, err: Array | None = None
) -> tuple[Array, Array, Array, Array]:
    """``cos u`` and ``sin u`` with rigorous error bounds, for ``u`` within ``err`` of the
    unevaluated sum ``hi + lo`` (see the module docstring).

    Parameters
    ----------
    hi : ndarray
        The argument's leading part, any shape.
    lo, err : ndarray, optional
        Its low part (``|lo|`` a few rounding units of ``|hi|``) and a bound of the
        remaining error; both 0 by default. Same shape as ``hi``.

    Returns
    -------
    c, s, err_c, err_s : ndarray
        ``|c - cos u| ≤ err_c`` and ``|s - sin u| ≤ err_s`` (``inf`` where ``|u|`` is past
        ``2^27 · π/2``, or not finite).
    """
    hi = np.asarray(hi, dtype=np.float64)
    lo = np.zeros_like(hi) if lo is None else lo
    err = np.zeros_like(hi) if err is None else err
    if hi.size >= _COMPILED_FROM and (kernel := _compiled()) is not None:
        flat = [
            np.ascontiguousarray(np.broadcast_to(v, hi.shape), dtype=np.float64).ravel()
            for v in (hi, lo, err)
        ]
        out = kernel(*flat, _KERNEL_CONSTANTS, _COS, _SIN)
        return tuple(v.reshape(hi.shape) for v in out)  # type: ignore[return-value]
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.rint(hi * _TWO_OVER_PI)
        ok = np.abs(k) < _K_LIMIT  # False for NaN
        k[~ok] = 0.0
        r1, e1 = two_sum(hi, -(k * _P1))  # k P1, k P2: exact products
        r2, e2 = two_sum(r1, -(k * _P2))
        r, e3 = two_sum(r2, -(k * _P3))
        low = ((e1 + e2) + e3) + lo
        al = np.abs(low)
        # |ρ - (r + low)| ≤ eta, ρ = u - kπ/2 exactly (see _ETA_K, _ETA_0)
        eta = err + np.abs(lo) * _ETA_LO + np.abs(k) * _ETA_K + _ETA_0
        ok &= np.abs(r) <= _R_MAX
        z = r * r
        pc, horner_c = _horner(_COS, z, _GROWTH_COS)
        ps, horner_s = _horner(_SIN, z, _GROWTH_SIN)
        # Horner's rounding, the coefficients' rounding, the rounding of z, truncation
        err_pc = horner_c + _SLOPE_COS * U * z + _CONST_COS
        sr = r * ps
        err_sr = np.abs(r) * (horner_s + _SLOPE_SIN * U * z + _CONST_SIN) + U * np.abs(sr)
        # cos(r + δ) = cos r - δ sin r - δ² cos(ξ)/2, sin(r + δ) = sin r + δ cos r - …
        # with |δ| ≤ |low| + eta; the products by low carry the errors of pc and sr
        # (≤ 5 U) and round by U |low| (|pc|, |sr| ≤ 1): 6 U |low| in all
        c_rho = pc - sr * low
        s_rho = sr + pc * low
        shared = eta * (1 + 8 * U) + al * (6 * U) + 0.51 * (al + eta) ** 2
        err_c = err_pc + U * np.abs(c_rho) + shared
        err_s = err_sr + U * np.abs(s_rho) + shared
    # u = ρ + qπ/2: rotate by (cos qπ/2, sin qπ/2), whose entries 0 and ±1 are exact
    q = k.astype(np.int64) & 3
    cq, sq = _QUARTER_COS[q], _QUARTER_SIN[q]
    c = c_rho * cq - s_rho * sq
    s = s_rho * cq + c_rho * sq
    odd = (q & 1).astype(np.float64)  # cos u is ± sin ρ, sin u is ± cos ρ
    even = 1.0 - odd  # products by 0 and 1 and sums with 0: exact selections
    ec = err_c * even + err_s * odd
    es = err_s * even + err_c * odd
    ec = np.where(ok, ec * (1 + 8 * U) + 8 * TINY, np.inf)
    es = np.where(ok, es * (1 + 8 * U) + 8 * TINY, np.inf)
    return c, s, ec, es


#: elements from which the compiled form is used: half a chunk of points × features
#: (a short run does not pay for loading numba)
_COMPILED_FROM = _CHUNK // 2
#: the constants of :func:`cos_sin` in the order the compiled form takes them
_KERNEL_CONSTANTS = np.array(
    [
        _TWO_OVER_PI,
        _K_LIMIT,
        _P1,
        _P2,
        _P3,
        _ETA_LO,
        _ETA_K,
        _ETA_0,
        _R_MAX,
        _GROWTH_COS,
        _GROWTH_SIN,
        _SLOPE_COS,
        _SLOPE_SIN,
        _CONST_COS,
        _CONST_SIN,
        U,
        TINY,
    ]
)


@functools.cache
def _compiled() -> Any:
    """The compiled :func:`cos_sin` (:mod:`approx.certify._cos_sin_numba`), or None
    without numba."""
    try:
        from approx.certify._cos_sin_numba import cos_sin_kernel
    except ImportError:  # numba is optional: the numpy form
        return None
    return cos_sin_kernel


def _argument(x: Array, w: tuple[Array, Array, Array], b: Array) -> tuple[Array, Array, Array]:
    """``w x + b`` for points ``x`` (m,) and units (d,): ``hi + lo`` within the returned
    bound (m, d) of the exact value (Dekker's product, TwoSum, one rounded addition)."""
    w_full, w_hi, w_lo = w
    xc = x[:, None]
    x_hi, x_lo = split(xc)
    p = xc * w_full
    e = ((x_hi * w_hi - p) + x_hi * w_lo + x_lo * w_hi) + x_lo * w_lo
    s, es = two_sum(p, b)
    t = e + es
    return s, t, U * np.abs(t) * (1 + 2 * U) + 16 * TINY


def _sum2(terms: Array) -> tuple[Array, Array]:
    """Row sums of ``terms`` (m, d) by a pairwise tree whose additions keep their errors
    (TwoSum), and a rigorous bound of the result's error: ``U |sum|`` plus the rounding
    of the collected errors (second order)."""
    m, d = terms.shape
    width = 1 << max(d - 1, 0).bit_length()
    hi = np.zeros((m, width))
    hi[:, :d] = terms
    low = np.zeros(m)
    low_abs = np.zeros(m)
    levels = 0
    while hi.shape[1] > 1:
        half = hi.shape[1] // 2
        hi, e = two_sum(hi[:, :half], hi[:, half:])
        low += e.sum(axis=1)
        low_abs += np.abs(e).sum(axis=1)
        levels += 1
    total = hi[:, 0] + low
    # Σ e is summed with at most d + levels additions: γ of that times Σ|e| (itself
    # summed with that many roundings)
    n = width + levels + 2
    bound = U * np.abs(total) + n * U * low_abs * (1 + 2 * n * U) + 4 * TINY
    return total, bound


def _tree(terms: Array) -> Array:
    """Row sums of ``terms`` (m, d) by a pairwise tree: each term passes through at most
    ``⌈log₂ d⌉`` additions, so the error is at most ``γ_⌈log₂ d⌉ Σ |terms|``."""
    m, d = terms.shape
    width = 1 << max(d - 1, 0).bit_length()
    total = np.zeros((m, width))
    total[:, :d] = terms
    while total.shape[1] > 1:
        half = total.shape[1] // 2
        total = total[:, :half] + total[:, half:]
    return total[:, 0]


class FeaturePolys:
    """The cells of a ``1 → d → 1`` cos net (see the module docstring).

    Provides what :func:`~approx.certify.branch_bound.sup_abs_difference` uses of a model:
    ``edges``, ``cell``, ``at``, ``bound``, ``near_edge``, ``ball_at`` and the attributes
    of :class:`~approx.certify.taylor.LocalPolys` (cells whose arguments pass ``2^27 · π/2`` are
    rough: left to Arb).

    Parameters
    ----------
    net : MLP
        Sizes ``[1, d, 1]``, activation ``"cos"``, finite weights.
    domain : tuple of float
    max_work : int
        The branch-and-bound's work cap: the first cells (two per period of the fastest
        unit) take at most half of it.
    """

    def __init__(self, net: Any, domain: tuple[float, float], max_work: int = MAX_WORK) -> None:
        if not features_fit(net, domain):
            raise ValueError(
                f"FeaturePolys takes a 1 → d → 1 cos net of moderate weights, got {net!r}"
            )
        a, b = domain
        self.domain = (a, b)
        w = np.asarray(net.weights[0][0], dtype=np.float64)
        self.w = w
        self.b = np.asarray(net.biases[0], dtype=np.float64)
        self.v = np.asarray(net.weights[1][:, 0], dtype=np.float64)
        self.c = float(net.biases[1][0])
        self._w = (w, *split(w))
        d = w.size
        self._orders: tuple[Array, Array, Array] | None = None  # built on first use
        #: operations per cell evaluated in floats, in units of a 12-term polynomial's: a
        #: cell evaluates cos and sin of every unit at about two points, and sixteen
        #: sums; counted as d/16 (calibrated on time with the compiled cos_sin, so that
        #: d = 4096 is tight in seconds)
        self.float_cost = max(1, d // 16)
        #: the work cap as given: it counts operations, so wide nets stay within seconds
        self.cap_scale = 1
        fastest = float(np.max(np.abs(w))) * (b - a)
        n = math.ceil(_CELLS_PER_PERIOD * fastest / (2 * math.pi))
        n = int(min(max(n, 1), max_work // (2 * self.float_cost) + 1, _MAX_CELLS))
        edges = a + (b - a) * (np.arange(n + 1) / n)
        edges[-1] = b
        self.edges = np.unique(np.clip(edges, a, b))
        # a cell is rough when an argument may reach past the reduction's limit
        reach = np.maximum(np.abs(self.edges[:-1]), np.abs(self.edges[1:]))
        top = (reach * np.abs(w).max() + np.abs(self.b).max()) * (1 + 4 * U)
        self.rough = top >= 0.99 * _K_LIMIT * _P1
        self.slack = np.zeros(self.rough.size)
        self.capped = False
        self.source = mlp_ball(net)
        self.cost = int(d)
        total = float(np.sum(np.abs(self.v))) * (1 + (d + 2) * U)  # Σ|v_i| rounded up
        self.sup = (total + abs(self.c)) * (1 + 4 * U)
        self.scale = self.sup
        self.work = int(d * _ORDERS * 4)
        self._cache: tuple[Array, Array, Array] | None = None
        self._values = EndValues(lambda x: self._evaluate(x, [0]))

    def cell(self, x: Array) -> NDArray[np.intp]:
        """Index of the cell holding each point (the left one at a shared edge)."""
        i = np.searchsorted(self.edges, x, side="left") - 1
        return np.clip(i, 0, self.edges.size - 2)

    def at(self, x: Array, idx: NDArray[np.intp] | None, k: int) -> tuple[Array, Array]:
        """``f̂^(k)(x)/k!`` at points ``x`` (value and a rigorous error bound). Shapes:
        ``x`` (m,) → two (m,). The orders of one set of points are computed together
        (and kept for the next call) once an order above 0 is asked for."""
        if not 0 <= k < _ORDERS:
            raise ValueError(f"derivative order {k} is not in 0 … {_ORDERS - 1}")
        x = np.asarray(x, dtype=np.float64)
        cached = self._cached(x)
        if cached is None and k == 0:
            return self._values(x)
        values, errors = self._all_orders(x) if cached is None else cached
        return values[k], errors[k]

    def bound(self, lo: Array, hi: Array, idx: NDArray[np.intp] | None, k: int) -> Array:
        """An upper bound of ``|f̂^(k)(ξ)|/k!`` for ``ξ`` in ``[lo, hi]``: the least of the
        global ``Σ_i |v_i| |w_i|^k / k!`` and the Taylor expansion of ``f̂^(k)`` at the
        middle (orders below :data:`_ORDERS` at the point, the global bound after)."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        if k == 0:
            return np.full(lo.shape, self.sup)
        if k > _ORDERS:
            return np.full(lo.shape, np.inf)
        whole = np.full(lo.shape, self._sums[k])
        if k == _ORDERS:
            return whole
        mid = lo + (hi - lo) / 2
        rho = np.maximum(mid - lo, hi - mid) * (1 + 4 * U)
        values, errors = self._all_orders(mid)
        local = math.comb(_ORDERS, k) * self._sums[_ORDERS] * np.ones_like(rho)
        for j in range(_ORDERS - 1, k - 1, -1):  # Horner in ρ
            local = local * rho + math.comb(j, k) * (np.abs(values[j]) + errors[j])
        local = local * (1 + 4 * (_ORDERS + 1) * U)
        out = np.minimum(whole, local)
        if idx is not None:
            out = np.where(self.rough[idx], np.inf, out)
        return out

    def near_edge(self, lo: Array, hi: Array, idx: NDArray[np.intp]) -> Array:
        """No slack: the net is evaluated as the function it is."""
        return np.zeros(np.shape(lo))

    def point_cell(self, i: int) -> int:
        """-1: :meth:`ball_at` at a point does not depend on the cell it is asked for."""
        return -1

    def ball_at(self, X: Any, i: int) -> Any:
        """The net in Arb at ``X`` (an arb or arb_series), from its float weights exactly."""
        return self.source(X, False)

    # --- evaluation ----------------------------------------------------------------------

    @property
    def _coef(self) -> Array:
        return self._all_coefficients()[0]

    @property
    def _coef_err(self) -> Array:
        return self._all_coefficients()[1]

    @property
    def _sums(self) -> Array:
        return self._all_coefficients()[2]

    def _all_coefficients(self) -> tuple[Array, Array, Array]:
        """:func:`_coefficients` of the net, computed on first use (in Arb: the values
        alone, order 0, need only ``v``)."""
        if self._orders is None:
            self._orders = _coefficients(self.v, self.w)
        return self._orders

    def _cached(self, x: Array) -> tuple[Array, Array] | None:
        if self._cache is not None:
            cx, values, errors = self._cache
            if cx.shape == x.shape and np.array_equal(cx, x):
                return values, errors
        return None

    def _all_orders(self, x: Array) -> tuple[Array, Array]:
        cached = self._cached(x)
        if cached is None:
            values, errors = self._evaluate(x, list(range(_ORDERS)))
            self._cache = (x.copy(), values, errors)
            cached = values, errors
        return cached

    def _evaluate(self, x: Array, orders: list[int]) -> tuple[Array, Array]:
        """Values and error bounds of ``f̂^(k)/k!`` at ``x`` for each order; shapes
        (len(orders), m). Points in chunks, so that memory stays bounded.

        ``|fl(c t) - c' t'| ≤ U |fl(c t)| + |c| |t - t'| + |c - c'| |t'|`` with ``|t'| ≤ 1``
        bounds each term's error; the value is summed compensated (error ``~ U |value|``),
        the derivatives plainly by the tree (``γ_depth Σ |terms|``).
        """
        m, d = x.size, self.w.size
        ks = np.asarray(orders)
        values = np.empty((ks.size, m))
        errors = np.empty((ks.size, m))
        depth = max(d - 1, 0).bit_length()  # of the pairwise tree
        rounding = np.where(ks == 0, U, (depth + 1) * U) * (1 + 2 * (depth + 1) * U)
        # cos^(k)(u) = cos(u + kπ/2): ±cos u for even k, ±sin u for odd k; the signs go
        # into the coefficients (exactly); the values' coefficients are v, exactly
        if orders == [0]:
            coef, coef_err = self.v[None, :], np.zeros(1)
        else:
            coef = self._coef[ks] * np.array([1.0, -1.0, -1.0, 1.0])[ks % 4, None]
            coef_err = self._coef_err[ks]
        step = max(1, _CHUNK // max(d, 1))
        # the products are small: BLAS threads only contend (one is several times faster)
        with one_thread(), np.errstate(invalid="ignore", over="ignore"):
            for start in range(0, m, step):
                sl = slice(start, min(start + step, m))
                values[:, sl], errors[:, sl] = self._chunk(x[sl], ks, coef, coef_err, rounding)
        return values, errors

    def _chunk(
        self, x: Array, ks: NDArray[np.intp], coef: Array, coef_err: Array, rounding: Array
    ) -> tuple[Array, Array]:
        """:meth:`_evaluate` on one chunk of points."""
        d = self.w.size
        hi, lo, err = _argument(x, self._w, self.b)
        cos, sin, err_cos, err_sin = cos_sin(hi, lo, err)
        size = np.abs(coef)
        spread = np.empty((ks.size, x.size))
        for parity, t, e in ((0, cos, err_cos), (1, sin, err_sin)):
            rows = ks % 2 == parity
            if rows.any():
                spread[rows] = size[rows] @ e.T + rounding[rows, None] * (size[rows] @ np.abs(t).T)
        # BLAS sums d non-negative terms in some order: γ_d at most
        spread = spread * (1 + (d + 4) * U) + (d + 4) * TINY + coef_err[:, None]
        values = np.empty((ks.size, x.size))
        errors = np.empty((ks.size, x.size))
        for row, k in enumerate(ks):
            terms = (cos if k % 2 == 0 else sin) * coef[row]
            if k == 0:
                value, sum_err = _sum2(terms)
                values[row] = value + self.c
                error = spread[row] + sum_err + U * np.abs(values[row])
            else:
                values[row], error = _tree(terms), spread[row]
            errors[row] = np.where(np.isfinite(error), error * (1 + 8 * U), np.inf)
        return values, errors


def features_fit(net: Any, domain: tuple[float, float]) -> bool:
    """Whether :class:`FeaturePolys` takes ``net``: sizes ``[1, d, 1]``, activation
    ``"cos"``, weights and domain far from overflow (Dekker's product)."""
    if net.activation != "cos" or len(net.sizes) != 3 or not net.sizes[0] == net.sizes[2] == 1:
        return False
    reach = max(abs(domain[0]), abs(domain[1]))
    return bool(np.all(np.abs(net.weights[0]) < _MAX_INPUT)) and reach < _MAX_INPUT


def _coefficients(v: Array, w: Array) -> tuple[Array, Array, Array]:
    """``v_i w_i^k / k!`` for ``k ≤ _ORDERS`` rounded to floats (shape (orders + 1, d)),
    the sum over ``i`` of their rounding errors, and ``Σ_i |v_i w_i^k / k!|`` rounded up,
    per order (computed in Arb)."""
    d = w.size
    coef = np.zeros((_ORDERS + 1, d))
    err = np.zeros(_ORDERS + 1)
    sums = np.zeros(_ORDERS + 1)
    with arb_context():
        ws = [arb(float(u)) for u in w]
        terms = [arb(float(u)) for u in v]
        for k in range(_ORDERS + 1):
            if k:
                terms = [t * u / k for t, u in zip(terms, ws, strict=True)]
            mids = [float(t.mid()) for t in terms]
            coef[k] = mids
            err[k] = upper(sum((abs(t - arb(m)) for t, m in zip(terms, mids, strict=True)), arb(0)))
            sums[k] = upper(sum((abs(t) for t in terms), arb(0)))
    return coef, err, sums


# --- Taylor models of the whole sum on a uniform grid of cells --------------------------------

#: units from which the grid's Taylor models are used: below, the points' own sums
#: (:class:`FeaturePolys`) cost little per cell and keep the values compensated, which
#: counts where the terms cancel by many orders (64 units fitted to ``cos(1e5 x)``:
#: ``Σ|v_i| = 7.5e8`` for a sup of 1.3, where the grid's rounding keeps the bounds 5e-7 apart)
_GRID_FROM = 256
#: largest ``|w_i| ρ`` aimed for on a cell (ρ its half width): the cells' Taylor models
#: then need about 25 orders, and the coefficients' rounding grows by at most ``e^4``
#: over a cell (far less: the fastest units carry small ``v_i``). Measured on random
#: features fitted to sin2pi at d = 1024 … 16384: 2 takes twice the time, 8 bounds the
#: rounding-dominated errors (d = 1024) up to 1.3× their value where 4 gives 1.16×
_REACH = 4.0
#: orders of the cells' Taylor models: the fewest from 8 on whose remainder is below a
#: rounding unit of ``Σ|v_i|``, at most this many
_MAX_DEGREE = 48
#: cells of the grid at most (the cells' reach grows past :data:`_REACH` beyond it)
_MAX_GRID = 1 << 15
#: points reached by rotation from each fresh cos and sin (their error grows by a few
#: rounding units a step)
_STEPS = 16
#: block sizes of the grid's sums (:data:`approx.certify._cos_sin_numba.SUM_BLOCKS`)
_SUM_BLOCKS = (16, 16, 16)
#: operations per (cell, unit, order) of the grid's sums, in units of a cell of the
#: branch-and-bound (calibrated on time: 10–15 ns a unit and cell at 13–19 orders,
#: against about 1 µs a cell of a short polynomial)
_GRID_WEIGHT = 1.0 / 1024


@dataclass
class FeatureTaylor(LocalPolys):
    """:class:`~approx.certify.taylor.LocalPolys` of a cos net: on a uniform grid of cells,
    the Taylor model of the whole sum at each cell's centre (see :func:`feature_cells`),
    with the net's own compensated float values (:meth:`precise`) and its exact values in
    Arb (:meth:`ball_at`) where rounding decides."""

    points: FeaturePolys | None = None

    def precise(self, x: Array) -> tuple[Array, Array]:
        """The net's values at ``x`` summed directly, compensated (a few rounding units of
        ``Σ|v_i|``), and their error bounds."""
        assert self.points is not None
        return self.points.at(x, None, 0)

    def point_cell(self, i: int) -> int:
        """-1: :meth:`ball_at` at a point does not depend on the cell it is asked for."""
        return -1

    def ball_at(self, X: Any, i: int) -> Any:
        """The net in Arb at ``X``, from its float weights exactly."""
        assert self.points is not None
        return self.points.ball_at(X, i)


def feature_cells(net: Any, domain: tuple[float, float], max_work: int = MAX_WORK) -> Any:
    """The cells of a cos net for the branch-and-bound: Taylor models of the whole sum on
    a uniform grid (:class:`FeatureTaylor`) where numba is installed, the net has at
    least :data:`_GRID_FROM` units and the weights allow, else :class:`FeaturePolys`.

    On the grid ``c_m = m H`` (``H`` a power of two, so every centre and cell end is a
    float exactly), the coefficients ``Σ_i v_i w_i^k cos(w_i c_m + b_i + kπ/2)/k!`` of
    every cell come from cos and sin of ``u_i = w_i c_m + b_i`` evaluated afresh
    (:func:`cos_sin`) every :data:`_STEPS` cells and rotated by ``e^{i w_i H}`` between:
    one complex product per unit and cell. Errors, all bounded a priori: the rotation's
    (``|ẑ' - z'| ≤ E (1 + ε) + ε + √5 U (1 + E)(1 + ε)``, Brent, Percival and
    Zimmermann's bound of a complex product, with ``E`` the error before and ``ε`` that
    of ``e^{i w_i H}``); the sums' (each product through at most ``depth`` roundings:
    ``γ_depth Σ_i |v_i w_i^k/k!|``); the coefficients' own (``v_i w_i^k/k!`` by ``2k``
    rounded operations); and the remainder ``Σ_i |v_i| |w_i|^K ρ^K / K!``.
    """
    a, b = domain
    points = FeaturePolys(net, domain, max_work)
    kernel = _rotation_kernel()
    if kernel is None or not b > a or points.w.size < _GRID_FROM:
        return points
    plan = _grid_plan(points, domain)
    if plan is None:
        return points
    H, K, powers, err, sums, edges, grid_points, keep = plan
    # the kernel runs over consecutive grid points; the empty end cells are then dropped
    grid = _grid_coefficients(points, kernel, H, K, powers, err, grid_points)
    if grid is None:
        return points
    coef, rad = grid[0][keep], grid[1][keep]
    centres = grid_points[keep]
    d = points.w.size
    work = int(centres.size * d * K * _GRID_WEIGHT) + 1
    return FeatureTaylor(
        edges=edges,
        centre=centres,
        coef=coef,
        rad=rad,
        rem=np.full(centres.size, sums[K]),
        slack=np.zeros(centres.size),
        rough=np.zeros(centres.size, dtype=bool),
        source=points.source,
        scale=points.sup,
        work=work,
        cost=points.cost,
        sup=points.sup,
        float_cost=max(1, K // 12),
        cap_scale=1 + -(-work // max_work),
        points=points,
    )


@functools.cache
def _rotation_kernel() -> Any:
    """:func:`approx.certify._cos_sin_numba.rotation_sums`, or None without numba."""
    try:
        from approx.certify._cos_sin_numba import rotation_sums
    except ImportError:
        return None
    return rotation_sums


def _grid_plan(points: FeaturePolys, domain: tuple[float, float]) -> tuple | None:
    """The grid's spacing ``H``, the models' order ``K``, the coefficients
    ``v_i w_i^k/k!`` (orders ≤ K, shape (K + 1, d)) with their errors and sums, the cells'
    edges, the grid's points (the cells' centres) and which of them hold a cell; None
    where the floats do not allow it."""
    a, b = domain
    w, v = points.w, points.v
    top = float(np.max(np.abs(w))) if w.size else 0.0
    span = 2.0 ** math.ceil(math.log2(b - a))
    H = span if top == 0 else min(span, 2.0 ** math.floor(math.log2(2 * _REACH / top)))
    while (b - a) / H > _MAX_GRID:
        H *= 2
    m_a, m_b = round(a / H), round(b / H)
    if not (H > 2.0**-1000 and max(abs(m_a), abs(m_b)) < 2.0**50):
        return None
    coefs = _float_coefficients(v, w)
    if coefs is None:
        return None
    powers, err, sums = coefs
    rho = H / 2
    tail = [remainder_term(sums[k], rho, k) for k in range(_MAX_DEGREE + 1)]
    fits = [k for k in range(8, _MAX_DEGREE + 1) if tail[k] <= U * sums[0]]
    if not fits:
        return None
    K = fits[0]
    m = np.arange(m_a, m_b + 1, dtype=np.float64)
    lo, hi = np.maximum((m - 0.5) * H, a), np.minimum((m + 0.5) * H, b)
    keep = lo < hi  # (an end cell may be empty: the domain's end on its edge)
    edges = np.append(lo[keep], hi[keep][-1])
    return H, K, powers, err, sums, edges, m * H, keep


def _float_coefficients(v: Array, w: Array) -> tuple[Array, Array, Array] | None:
    """``v_i w_i^k / k!`` for ``k ≤`` :data:`_MAX_DEGREE` in floats (shape (orders, d)),
    upper bounds of the sum over ``i`` of their errors and of their absolute values,
    per order. Each is ``2k`` rounded operations from ``v_i``: relative error ``γ_2k``.
    None where a product under- or overflows."""
    d = v.size
    powers = np.empty((_MAX_DEGREE + 1, d))
    powers[0] = v
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for k in range(1, _MAX_DEGREE + 1):
            powers[k] = powers[k - 1] * w / k
    live = (v != 0) & (w != 0)
    small = (np.abs(powers) < 2.0**-960) & live
    if not np.all(np.isfinite(powers)) or small.any():
        return None
    k = np.arange(_MAX_DEGREE + 1)
    gamma = 2 * k * U / (1 - 2 * k * U)
    size = np.abs(powers).sum(axis=1) * (1 + (d + 2) * U)
    err = size * gamma / (1 - gamma) * (1 + 4 * U)
    sums = (size + err) * (1 + 4 * U)
    return powers, err, sums


def _grid_coefficients(
    points: FeaturePolys,
    kernel: Any,
    H: float,
    K: int,
    powers: Array,
    err: Array,
    centres: Array,
) -> tuple[Array, Array] | None:
    """The Taylor coefficients (orders < K) of the net at every centre, shape
    (centres, K), and their error bounds (see :func:`feature_cells`); None where an
    argument is past the reduction's reach."""
    d = points.w.size
    zero = np.zeros(d)
    # the rotation e^{i w_i H}: w_i H carried exactly (Dekker), then cos and sin
    hi, lo, e = _argument(np.array([H]), points._w, zero)
    cr, sr, ecr, esr = cos_sin(hi, lo, e)
    eps = float(np.max(ecr + esr)) * (1 + 4 * U)  # |r̂ - e^{iθ}| (Euclidean ≤ ℓ1)
    even = np.ascontiguousarray(powers[0:K:2].T)
    odd = np.ascontiguousarray(powers[1:K:2].T)
    n = centres.size
    windows = -(-n // _STEPS)
    per = max(1, _CHUNK // max(d, 1))  # windows per chunk: as many elements as a chunk
    sums_out = np.empty((windows * _STEPS, K))
    fresh = 0.0
    with one_thread(), np.errstate(invalid="ignore", over="ignore"):
        for start in range(0, windows, per):
            x = centres[np.minimum(np.arange(start, min(start + per, windows)) * _STEPS, n - 1)]
            # the first centre of each window and the steps after it (past the last
            # centre the rows are computed and dropped)
            hi, lo, e = _argument(x, points._w, points.b)
            c0, s0, ec, es = cos_sin(hi, lo, e)
            fresh = max(fresh, float(np.max(ec + es)) if ec.size else 0.0)
            rows = slice(start * _STEPS, (start + x.size) * _STEPS)
            sums_out[rows] = kernel(c0, s0, cr[0], sr[0], even, odd, _STEPS)
    if not (math.isfinite(fresh) and math.isfinite(eps)):
        return None
    ke = even.shape[1]
    k = np.arange(K)
    column = np.where(k % 2 == 0, k // 2, ke + k // 2)
    sign = np.array([1.0, -1.0, -1.0, 1.0])[k % 4]
    coef = sums_out[:n, column] * sign
    coef[:, 0] = coef[:, 0] + points.c
    # the error of cos and sin at each step after a fresh evaluation
    steps = np.empty(_STEPS)
    E = fresh * (1 + 4 * U) + 8 * TINY
    for s in range(_STEPS):
        steps[s] = E
        E = (E * (1 + eps) + eps + 2.25 * U * (1 + E) * (1 + eps)) * (1 + 4 * U) + 8 * TINY
    E = steps[np.arange(n) % _STEPS][:, None]
    depth = sum(_SUM_BLOCKS) + -(-d // math.prod(_SUM_BLOCKS)) + 4
    gamma = depth * U / (1 - depth * U)
    size = np.abs(powers[:K]).sum(axis=1) * (1 + (d + 2) * U)  # Σ_i |v_i w_i^k/k!| (floats)
    rad = (size * (E + gamma * (1 + E)) + err[:K]) * (1 + 8 * U) + 2 * (d + depth) * TINY
    rad[:, 0] += U * np.abs(coef[:, 0]) * (1 + 4 * U)  # the constant's addition
    finite = np.isfinite(coef).all(axis=1) & np.isfinite(rad).all(axis=1)
    rad[~finite] = np.inf
    return coef, rad
