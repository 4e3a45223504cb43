"""numba kernel of Clenshaw's recurrence with its running error sum (imported only when
numba is installed; :mod:`approx.certify.chebyshev` falls back to numpy otherwise).

The same operations in the same order as the numpy loop of
:func:`approx.certify.chebyshev._clenshaw`, for each point: ``p = 2τ b₁``, ``s = c_j + p``,
``b = s - b₂``, ``μ += |p| + |s| + |b|``, so the error bound built on ``μ`` holds unchanged.
Points are taken in blocks that stay in the L1 cache for the whole recurrence (the numpy
loop streams every array through memory at every step); the inner loop runs over the
block's points, independent of each other, so it vectorises without reordering any
operation. No fast-math: every operation is rounded as written.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["clenshaw_sums"]

Array = NDArray[np.float64]

#: points per block: four arrays of them stay in L1
_BLOCK = 256


@numba.njit(cache=True, nogil=True)
def clenshaw_sums(series: Array, tau: Array) -> tuple[Array, Array]:  # pragma: no cover
    """``y[i, m] = Σ_j series[i, j] T_j(τ_m)`` and ``μ[i, m]``, the sum of the magnitudes
    of every step's three results (see the module docstring)."""
    K, d = series.shape
    m = tau.size
    y = np.empty((K, m))
    mu = np.empty((K, m))
    b1 = np.empty(_BLOCK)
    b2 = np.empty(_BLOCK)
    acc = np.empty(_BLOCK)
    tt = np.empty(_BLOCK)
    for r in range(K):
        for start in range(0, m, _BLOCK):
            n = min(_BLOCK, m - start)
            for i in range(n):
                b1[i] = 0.0
                b2[i] = 0.0
                acc[i] = 0.0
                tt[i] = 2.0 * tau[start + i]
            for j in range(d - 1, 0, -1):
                c = series[r, j]
                for i in range(n):
                    p = tt[i] * b1[i]
                    s = c + p
                    b = s - b2[i]
                    acc[i] += abs(p) + abs(s) + abs(b)
                    b2[i] = b1[i]
                    b1[i] = b
            c0 = series[r, 0]
            for i in range(n):
                p = tau[start + i] * b1[i]
                s = c0 + p
                v = s - b2[i]
                y[r, start + i] = v
                mu[r, start + i] = acc[i] + abs(p) + abs(s) + abs(v)
    return y, mu
