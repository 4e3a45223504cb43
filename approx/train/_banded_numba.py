"""numba kernel of the knot-form Levenberg–Marquardt's normal equations (imported only
when numba is installed): :func:`approx.train.knot_form._assemble` in one pass over
the samples instead of fourteen ``bincount`` passes, the same sums up to the order of
accumulation within a cell.

Two things make the pass cheap. Each sample's cell is found by walking from the last
sample's (the samples are sorted in every caller, so the walk is O(m + d) in all; an
unsorted sample falls back to bisection). And ``|r|^(p/2)`` is taken by repeated
squaring when ``p/2`` is a whole number up to :data:`SQUARING` (the polish's and the
continuation's exponents, 2 … 256, all are): a general ``pow`` costs several times the
rest of the sample's work. Within a cell the sums run in registers, five a sample
(:func:`_flush`). The result differs from numpy's by a few rounding units.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["SQUARING", "assemble"]

Array = NDArray[np.float64]

#: largest whole ``p/2`` taken by repeated squaring (above it, ``pow``)
SQUARING = 1 << 12


@numba.njit(cache=True, nogil=True, inline="always")
def _cell(tau, xi, c):  # pragma: no cover - compiled
    """The cell of ``xi`` (the last with ``τ_c ≤ xi``, within 0 … n − 2), from ``c``."""
    n = tau.size
    if xi >= tau[c]:
        while c < n - 2 and xi >= tau[c + 1]:
            c += 1
        return c
    lo, hi = 0, c  # xi < τ_c: bisect the cells left of c
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if xi >= tau[mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _power(a, e):  # pragma: no cover - compiled
    """``a^e`` for a whole ``e ≥ 0``, by repeated squaring."""
    out, base = 1.0, a
    while e > 0:
        if e & 1:
            out *= base
        e >>= 1
        base *= base
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _flush(tau, u, c, s0, s1, s2, g0, g1, ab, g):  # pragma: no cover - compiled
    """Add cell ``c``'s sums into the banded ``JᵀJ`` and ``Jᵀρ``.

    In a cell the four Jacobian entries of a sample are ``scale`` times
    ``(−s(1 − λ), 1 − λ, −s λ, λ)`` (the end knots' entries zero): the cell's products
    need only the sums ``s0, s1, s2`` of ``scale²(1 − λ)²``, ``scale²(1 − λ)λ``,
    ``scale²λ²`` and ``g0, g1`` of ``scale·ρ(1 − λ)`` and ``scale·ρλ``."""
    n = tau.size
    s = (u[c + 1] - u[c]) / (tau[c + 1] - tau[c])
    coef = (0.0 if c == 0 else -s, 1.0, 0.0 if c == n - 2 else -s, 1.0)
    sums = (s0, s1, s2, g0, g1)
    for a_ in range(4):
        g[2 * c + a_] += coef[a_] * sums[3 + a_ // 2]
        for b_ in range(a_, 4):
            ab[3 + a_ - b_, 2 * c + b_] += coef[a_] * coef[b_] * sums[a_ // 2 + b_ // 2]


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x/0 gives inf, as in numpy
def _kernel(tau, u, x, y, p, unit, ab, g, count):  # pragma: no cover - compiled
    c2 = math.sqrt(2.0 / (p * x.size))
    half = 0.5 * p
    e = int(half) if half == math.floor(half) and 1.0 <= half <= SQUARING else 0
    total = 0.0
    s0 = s1 = s2 = g0 = g1 = 0.0
    c = _cell(tau, x[0], 0) if x.size else 0
    for i in range(x.size):
        k = _cell(tau, x[i], c)
        if k != c:
            _flush(tau, u, c, s0, s1, s2, g0, g1, ab, g)
            s0 = s1 = s2 = g0 = g1 = 0.0
            c = k
        h = tau[c + 1] - tau[c]
        lam = (x[i] - tau[c]) / h
        r = (u[c] + lam * (u[c + 1] - u[c]) - y[i]) / unit
        if p == 2.0:
            rho, scale = c2 * r, c2
        elif e > 0:  # |r|^(p/2 − 1) by squaring, then |r|^(p/2): no division
            a = abs(r)
            below = _power(a, e - 1)
            rho = c2 * math.copysign(below * a, r)
            scale = c2 * half * below
        else:
            a = abs(r)
            power = a**half
            rho = c2 * math.copysign(power, r)
            # a^(p/2 − 1) from a^(p/2) (p > 2 here, so 0 at a = 0)
            scale = c2 * half * power / a if a > 0.0 else 0.0
        scale /= unit
        w = scale * scale
        s0 += w * (1.0 - lam) * (1.0 - lam)
        s1 += w * (1.0 - lam) * lam
        s2 += w * lam * lam
        g0 += scale * rho * (1.0 - lam)
        g1 += scale * rho * lam
        count[c] += 1
        total += rho * rho
    if x.size:
        _flush(tau, u, c, s0, s1, s2, g0, g1, ab, g)
    return total


def assemble(
    tau: Array, u: Array, x: Array, y: Array, p: float, unit: float
) -> tuple[float, Array, Array, int]:
    """``½‖ρ‖²``, banded ``JᵀJ`` (upper form, 4 rows), ``Jᵀρ`` and the empty cells, as
    :func:`approx.train.knot_form._assemble` computes them in numpy (each sample in the
    last cell ``[τ_c, τ_{c+1})`` that holds it, the first and last cells open outward)."""
    n = tau.size
    ab = np.zeros((4, 2 * n))
    g = np.zeros(2 * n)
    count = np.zeros(n - 1, dtype=np.int64)
    total = _kernel(tau, u, x, y, float(p), float(unit), ab, g, count)
    return 0.5 * total, ab, g, int(np.count_nonzero(count == 0))
