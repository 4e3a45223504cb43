"""numba kernel of :meth:`approx.certify.taylor.LocalPolys.at_many` (imported only when
numba is installed; the numpy form runs otherwise).

Row by row, the same operations in the same order as :meth:`LocalPolys.at` applies to
that row: the shifted coefficients of ``f^(k)/k!`` (``C(j, k) c_j`` and their radii,
as ``LocalPolys._order`` rounds them), Horner's rule with its running error sums, the
remainder term (:func:`approx.certify.taylor.remainder_term`), the error bound
(``taylor._horner_error``) and the rough cells' NaN; orders past the degree as
``LocalPolys._beyond``. So the values and bounds are the numpy form's, bit for bit.
What it saves is the per-call cost of some hundred numpy operations on the short
arrays of a branch-and-bound step. No fast-math: no operation is reassociated or
contracted.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from approx.arith.balls import TINY, U

__all__ = ["bound_rows", "horner_rows"]

Array = NDArray[np.float64]

# the constants as the numpy form writes them (Python evaluates them left to right)
_RAD = 1 + 4 * U
_ERR = 1 + 8 * U
_MU = 2.01 * U
_DH = 1.01 * U
_UNDER = 2.0**-1000
_TINY4 = 4 * TINY
_TINY8 = 8 * TINY


@numba.njit(cache=True, nogil=True)
def _underflows(p: float, q: float) -> bool:  # pragma: no cover
    return p != 0 and q != 0 and abs(p * q) < _UNDER


@numba.njit(cache=True, nogil=True)
def _maximum(a: float, b: float) -> float:  # pragma: no cover
    """``np.maximum``: NaN if either is."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a if a >= b else b


@numba.njit(cache=True, nogil=True)
def _remainder(rem: float, reach: float, p: int) -> float:  # pragma: no cover
    """``taylor.remainder_term(rem, reach, p)`` rounded up, one value."""
    if rem == 0:
        return 0.0
    grow = reach >= 1
    out = 1.0 if grow else rem
    for _ in range(p):
        out = out * reach
    if grow:
        out = out * rem
    out = out * (1 + 4 * (p + 2) * U) + (p + 2) * TINY
    return math.inf if math.isnan(out) else out


@numba.njit(cache=True, nogil=True)
def _row(
    x: float, i: int, k: int, coef: Array, rad: Array, rem: Array, centre: Array,
    binom: Array,
) -> tuple[float, float]:  # pragma: no cover
    """``f^(k)(x)/k!`` on cell ``i`` (``k`` below the degree): value and error bound."""
    n = coef.shape[1]
    top = n - 1
    y = coef[i, top] * binom[top, k]
    r_top = (rad[i, top] * binom[top, k] + U * abs(y)) * _RAD
    h = x - centre[i]
    a = abs(h)
    mu = abs(y) / 2
    dh, ra, ay, powers = 0.0, r_top, abs(y), 1.0
    under = top > k and _underflows(mu, a)  # the first step's product (|y| = 2 mu)
    for j in range(top - 1, k - 1, -1):  # the shifted polynomial's coefficient j - k
        c = coef[i, j] * binom[j, k]
        r = (rad[i, j] * binom[j, k] + U * abs(c)) * _RAD
        under = under or _underflows(ra, a)
        dh = dh * a + ay
        ra = ra * a + r
        ay = ay * a + abs(c)
        powers = powers * a + 1
        y = y * h + c
        mu = mu * a + abs(y)
        under = under or _underflows(mu, a)
    tail = _remainder(rem[i] * binom[n, k], a, n - k)
    err = (_MU * mu + ra + tail + _DH * dh * a) * _ERR
    if under:
        err = err + _TINY4 * powers * _ERR
    nonzero = mu != 0 or ra != 0 or dh != 0 or tail != 0
    if nonzero and err < _UNDER:
        err = err + _TINY8
    if math.isnan(err):
        err = math.inf
    return y, err


@numba.njit(cache=True, nogil=True)
def horner_rows(
    x: Array, idx: NDArray[np.intp], orders: NDArray[np.intp], coef: Array, rad: Array,
    rem: Array, centre: Array, rough: NDArray[np.bool_], binom: Array,
) -> tuple[Array, Array]:  # pragma: no cover
    """Row ``j``: ``f^(orders[j])(x[j]) / orders[j]!`` on cell ``idx[j]`` and its error
    bound (``binom[j, k] = C(j, k)`` as floats, ``j, k ≤ n``)."""
    m = x.size
    n = coef.shape[1]
    value = np.empty(m)
    error = np.empty(m)
    for j in range(m):
        i, k = idx[j], orders[j]
        if k >= n:  # past the degree: 0 for an exact polynomial, else unknown
            exact = rem[i] == 0 and not rough[i]
            value[j] = 0.0 if exact else math.nan
            error[j] = 0.0 if exact else math.inf
        elif rough[i]:
            value[j], error[j] = math.nan, math.inf
        else:
            value[j], error[j] = _row(x[j], i, k, coef, rad, rem, centre, binom)
    return value, error


@numba.njit(cache=True, nogil=True)
def bound_rows(
    lo: Array, hi: Array, idx: NDArray[np.intp], k: int, coef: Array, rad: Array,
    rem: Array, centre: Array, rough: NDArray[np.bool_], binom: Array,
) -> Array:  # pragma: no cover
    """:meth:`LocalPolys.bound <approx.certify.taylor.LocalPolys.bound>` row by row: an
    upper bound of ``|f^(k)(ξ)| / k!`` for ``ξ`` in ``[lo[j], hi[j]]`` ⊂ cell ``idx[j]``."""
    m = lo.size
    n = coef.shape[1]
    out = np.empty(m)
    for j in range(m):
        i = idx[j]
        if k >= n:
            out[j] = 0.0 if rem[i] == 0 and not rough[i] else math.inf
            continue
        c_top = coef[i, n - 1] * binom[n - 1, k]
        r_top = (rad[i, n - 1] * binom[n - 1, k] + U * abs(c_top)) * _RAD
        reach = _maximum(abs(lo[j] - centre[i]), abs(hi[j] - centre[i])) * _RAD
        s = abs(c_top) + r_top
        powers = 1.0
        under = False
        for t in range(n - 2, k - 1, -1):
            c = coef[i, t] * binom[t, k]
            r = (rad[i, t] * binom[t, k] + U * abs(c)) * _RAD
            under = under or _underflows(s, reach)
            s = s * reach + (abs(c) + r)
            powers = powers * reach + 1
        s = (s + _remainder(rem[i] * binom[n, k], reach, n - k)) * (1 + 4 * n * U)
        if under:
            s = s + _TINY4 * powers * _ERR
        if s != 0 and s < _UNDER:
            s = s + _TINY8
        out[j] = math.inf if rough[i] or math.isnan(s) else s
    return out
