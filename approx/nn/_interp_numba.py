"""numba kernel of :meth:`approx.nn.piecewise.PiecewiseLinear.max_deviation` (imported
only when numba is installed; the numpy form runs otherwise).

``max |interp(t, x, y) - v|`` in one pass, with no temporary array: each value is the
one :func:`numpy.interp` computes, by the same operations in the same order (the slope
``(y[j+1] - y[j]) / (x[j+1] - x[j])`` of the piece holding the point, then
``slope·(t - x[j]) + y[j]``; the end value at or past either end, and at a breakpoint
itself; the other end's form if the first gives NaN), so the maximum is the numpy
form's bit for bit. No fast-math: no operation is reassociated or contracted. The piece
holding each point is found by walking from the previous point's piece, so sorted
points (a validation grid) cost O(len(t) + len(x)).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["max_abs_deviation"]

Array = NDArray[np.float64]


@numba.njit(cache=True, nogil=True)
def max_abs_deviation(t: Array, x: Array, y: Array, v: Array) -> float:  # pragma: no cover
    """``max |numpy.interp(t, x, y) - v|`` (NaN if any term is NaN), for ``x`` strictly
    increasing with at least two points and ``t`` non-empty."""
    n = x.size
    slopes = np.empty(n - 1)
    for k in range(n - 1):  # numpy's (it lays them out first when len(x) <= len(t))
        slopes[k] = (y[k + 1] - y[k]) / (x[k + 1] - x[k])
    best = 0.0
    j = 0
    for i in range(t.size):
        key = t[i]
        if math.isnan(key):
            return math.nan
        # the piece: numpy's search gives the last j with x[j] <= key (x increasing)
        if key > x[n - 1] or key == x[n - 1]:
            value = y[n - 1]
        elif key < x[0]:
            value = y[0]
        else:
            while x[j] > key:
                j -= 1
            while x[j + 1] <= key:
                j += 1
            if x[j] == key:
                value = y[j]
            else:
                value = slopes[j] * (key - x[j]) + y[j]
                if math.isnan(value):  # numpy's second try, from the right end
                    value = slopes[j] * (key - x[j + 1]) + y[j + 1]
                    if math.isnan(value) and y[j] == y[j + 1]:
                        value = y[j]
        dev = abs(value - v[i])
        if math.isnan(dev):
            return math.nan
        if dev > best:
            best = dev
    return best
