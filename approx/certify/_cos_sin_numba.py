"""numba kernel of :func:`approx.certify.features.cos_sin` (imported only when numba is
installed; the numpy form runs otherwise).

Elementwise, the same operations in the same order as the numpy form (Cody and Waite's
reduction with TwoSum, the two Taylor polynomials by Horner's rule, the first-order
correction by the low part, the rotation by a quarter turn), so its error bounds hold
unchanged; one pass over the elements instead of some sixty numpy temporaries. No
fast-math: no operation is reassociated or contracted.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["cos_sin_kernel"]

Array = NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def _two_sum(a: float, b: float) -> tuple[float, float]:  # pragma: no cover
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@numba.njit(cache=True, nogil=True)
def _horner(
    coef: Array, z: float, growth: float, u: float
) -> tuple[float, float]:  # pragma: no cover
    y = coef[coef.size - 1]
    for j in range(coef.size - 2, -1, -1):
        y = y * z
        y = y + coef[j]
    return y, (1.01 * u) * (2 + 2 * growth * z - abs(y))


@numba.njit(cache=True, nogil=True)
def _rotate(
    c_rho: float, s_rho: float, err_c: float, err_s: float, k: float
) -> tuple[float, float, float, float]:  # pragma: no cover
    """``u = ρ + qπ/2``: cos and sin of ``u`` from those of ``ρ`` (exact: negations and
    swaps), and their errors (swapped for odd ``q``)."""
    q = np.int64(k) & 3
    if q == 0:
        c, s = c_rho, s_rho
    elif q == 1:
        c, s = -s_rho, c_rho
    elif q == 2:
        c, s = -c_rho, -s_rho
    else:
        c, s = s_rho, -c_rho
    if q & 1:
        return c, s, err_s, err_c
    return c, s, err_c, err_s


@numba.njit(cache=True, nogil=True)
def cos_sin_kernel(
    hi: Array, lo: Array, err: Array, consts: Array, cos_coef: Array, sin_coef: Array
) -> tuple[Array, Array, Array, Array]:  # pragma: no cover
    """cos, sin and their error bounds of the flat arrays ``hi + lo ± err``; ``consts``
    holds the numpy form's constants in a fixed order (see ``features._KERNEL_CONSTANTS``)."""
    (
        two_over_pi,
        k_limit,
        p1,
        p2,
        p3,
        eta_lo,
        eta_k,
        eta_0,
        r_max,
        growth_c,
        growth_s,
        slope_c,
        slope_s,
        const_c,
        const_s,
        u,
        tiny,
    ) = consts[:17]
    n = hi.size
    c_out = np.empty(n)
    s_out = np.empty(n)
    ec_out = np.empty(n)
    es_out = np.empty(n)
    for i in range(n):
        h = hi[i]
        k = np.rint(h * two_over_pi)
        ok = abs(k) < k_limit
        if not ok:
            k = 0.0
        r1, e1 = _two_sum(h, -(k * p1))
        r2, e2 = _two_sum(r1, -(k * p2))
        r, e3 = _two_sum(r2, -(k * p3))
        low = ((e1 + e2) + e3) + lo[i]
        al = abs(low)
        eta = err[i] + abs(lo[i]) * eta_lo + abs(k) * eta_k + eta_0
        ok = ok and abs(r) <= r_max
        z = r * r
        pc, horner_c = _horner(cos_coef, z, growth_c, u)
        ps, horner_s = _horner(sin_coef, z, growth_s, u)
        err_pc = horner_c + slope_c * u * z + const_c
        sr = r * ps
        err_sr = abs(r) * (horner_s + slope_s * u * z + const_s) + u * abs(sr)
        c_rho = pc - sr * low
        s_rho = sr + pc * low
        shared = eta * (1 + 8 * u) + al * (6 * u) + 0.51 * (al + eta) ** 2
        err_c = err_pc + u * abs(c_rho) + shared
        err_s = err_sr + u * abs(s_rho) + shared
        c_out[i], s_out[i], ec, es = _rotate(c_rho, s_rho, err_c, err_s, k)
        if ok:
            ec_out[i] = ec * (1 + 8 * u) + 8 * tiny
            es_out[i] = es * (1 + 8 * u) + 8 * tiny
        else:
            ec_out[i] = np.inf
            es_out[i] = np.inf
    return c_out, s_out, ec_out, es_out


#: block sizes of :func:`rotation_sums`' three levels of partial sums
SUM_BLOCKS = (16, 16, 16)


@numba.njit(cache=True, nogil=True)
def _add_into(total: Array, part: Array) -> None:  # pragma: no cover
    for k in range(total.size):
        total[k] = total[k] + part[k]
        part[k] = 0.0


@numba.njit(cache=True, nogil=True)
def rotation_sums(
    c0: Array, s0: Array, cr: Array, sr: Array, even: Array, odd: Array, steps: int
) -> Array:  # pragma: no cover
    """Sums over units on a uniform grid of points, ``steps`` points from each start.

    Row ``w`` of ``c0``, ``s0`` (shape (starts, d)) holds ``cos u_i``, ``sin u_i`` at a
    start; each next point's are ``(c + i s)(cr + i sr)``, one complex product per unit
    and step. At every point: ``Σ_i even[i, j] c_i`` (columns ``j < K_e``) and then
    ``Σ_i odd[i, j] s_i``; shape (starts · steps, K_e + K_o). Each sum runs through three
    levels of blocks (:data:`SUM_BLOCKS`) and one over the blocks: each product passes
    through at most ``16 + 16 + 16 + ⌈d / 4096⌉`` additions. The inner loops run over the
    orders of one unit, independent of each other: no operation is reordered.
    """
    starts, d = c0.shape
    ke, ko = even.shape[1], odd.shape[1]
    out = np.zeros((starts * steps, ke + ko))
    c = np.empty(d)
    s = np.empty(d)
    b1, b2, b3 = SUM_BLOCKS
    acc = np.zeros((3, ke + ko))
    for w in range(starts):
        for i in range(d):
            c[i] = c0[w, i]
            s[i] = s0[w, i]
        for step in range(steps):
            if step > 0:
                for i in range(d):
                    cn = c[i] * cr[i] - s[i] * sr[i]
                    s[i] = s[i] * cr[i] + c[i] * sr[i]
                    c[i] = cn
            row = out[w * steps + step]
            a1e = acc[0, :ke]
            a1o = acc[0, ke:]
            for i in range(d):
                ci = c[i]
                si = s[i]
                for j in range(ke):
                    a1e[j] = a1e[j] + even[i, j] * ci
                for j in range(ko):
                    a1o[j] = a1o[j] + odd[i, j] * si
                n = i + 1
                if n % b1 == 0 or n == d:
                    _add_into(acc[1], acc[0])
                    if n % (b1 * b2) == 0 or n == d:
                        _add_into(acc[2], acc[1])
                        if n % (b1 * b2 * b3) == 0 or n == d:
                            _add_into(row, acc[2])
    return out
