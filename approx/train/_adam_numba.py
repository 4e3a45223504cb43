"""numba kernel of :meth:`approx.train.optimizers.Adam.step` (imported only when numba
is installed; the numpy form runs otherwise).

Coordinate by coordinate, the operations of the numpy form in the same order
(``m + (g − m)(1 − β₁)``, ``v + (g² − v)(1 − β₂)``, then
``θ − (m / (√v + ε√(1 − β₂ᵗ))) · step``), so θ and the moments are the numpy form's
bit for bit. What it saves is the numpy form's dozen calls per step on the short
arrays of a small net (some microseconds each, for thousands of steps). No fast-math:
no operation is reassociated or contracted.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["adam_step"]

Array = NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def adam_step(theta: Array, grad: Array, m: Array, v: Array, keep1: float, keep2: float,
              shift: float, step: float) -> None:  # pragma: no cover (compiled)
    """One Adam step in place: ``keep1 = 1 − β₁``, ``keep2 = 1 − β₂``, ``shift`` the
    term added to ``√v``, ``step`` the bias-corrected step size."""
    for i in range(theta.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * keep1
        vi = v[i] + (g * g - v[i]) * keep2
        m[i] = mi
        v[i] = vi
        theta[i] -= mi / (math.sqrt(vi) + shift) * step
