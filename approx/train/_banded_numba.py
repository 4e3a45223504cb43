"""numba kernel of the knot-form Levenberg–Marquardt's normal equations (imported only
when numba is installed): :func:`approx.train.knot_form._assemble` in one pass over
the samples instead of fourteen ``bincount`` passes, the same sums in the same
per-cell order of accumulation up to the summation order within a cell."""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["assemble"]

Array = NDArray[np.float64]


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x/0 gives inf, as in numpy
def _kernel(tau, u, x, y, cell, p, unit, ab, g, count):  # pragma: no cover - compiled
    n = tau.size
    c2 = math.sqrt(2.0 / (p * x.size))
    half = 0.5 * p
    total = 0.0
    jac = np.empty(4)
    for i in range(x.size):
        c = cell[i]
        h = tau[c + 1] - tau[c]
        lam = (x[i] - tau[c]) / h
        s = (u[c + 1] - u[c]) / h
        r = (u[c] + lam * (u[c + 1] - u[c]) - y[i]) / unit
        if p == 2.0:
            rho, scale = c2 * r, c2
        else:
            a = abs(r)
            power = a**half
            rho = c2 * math.copysign(power, r)
            # a^(p/2 − 1) from a^(p/2): one power a sample (p > 2 here, so 0 at a = 0)
            scale = c2 * half * power / a if a > 0.0 else 0.0
        scale /= unit
        jac[0] = 0.0 if c == 0 else -s * (1.0 - lam) * scale
        jac[1] = (1.0 - lam) * scale
        jac[2] = 0.0 if c == n - 2 else -s * lam * scale
        jac[3] = lam * scale
        for a_ in range(4):
            g[2 * c + a_] += jac[a_] * rho
            for b_ in range(a_, 4):
                ab[3 + a_ - b_, 2 * c + b_] += jac[a_] * jac[b_]
        count[c] += 1
        total += rho * rho
    return total


def assemble(
    tau: Array, u: Array, x: Array, y: Array, cell: NDArray[np.intp], p: float, unit: float
) -> tuple[float, Array, Array, int]:
    """``½‖ρ‖²``, banded ``JᵀJ`` (upper form, 4 rows), ``Jᵀρ`` and the empty cells, as
    :func:`approx.train.knot_form._assemble` computes them in numpy."""
    n = tau.size
    ab = np.zeros((4, 2 * n))
    g = np.zeros(2 * n)
    count = np.zeros(n - 1, dtype=np.int64)
    total = _kernel(tau, u, x, y, cell.astype(np.int64), float(p), float(unit), ab, g, count)
    return 0.5 * total, ab, g, int(np.count_nonzero(count == 0))
