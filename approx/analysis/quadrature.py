"""Composite Gauss–Legendre quadrature over given panels, chunked so that memory stays
bounded whatever the number of panels."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline

__all__ = ["NODES", "gauss_legendre"]

Array = NDArray[np.float64]

#: Gauss–Legendre nodes per panel
NODES = 16
#: panels processed at once
_CHUNK = 8192


def gauss_legendre(g: Callable[[Array], Array], edges: Array, points: int = NODES) -> float:
    """``∫ g`` over ``[edges[0], edges[-1]]``: the ``points``-point Gauss–Legendre rule on
    every panel, chunked (about ``NODES × _CHUNK`` evaluations of ``g`` at once)."""
    nodes, weights = _rule(points)
    total = 0.0
    n = edges.size - 1
    chunk = max(1, _CHUNK * NODES // points)
    for s in range(0, n, chunk):
        deadline.check()  # each chunk evaluates g at about NODES × _CHUNK points
        stop = min(s + chunk, n)
        left, right = edges[s:stop], edges[s + 1 : stop + 1]
        half = 0.5 * (right - left)
        z = (0.5 * (left + right))[:, None] + half[:, None] * nodes
        total += float(np.sum(g(z.ravel()).reshape(z.shape) @ weights * half))
    return total


@cache
def _rule(n: int) -> tuple[Array, Array]:
    """The ``n``-point Gauss–Legendre nodes and weights on ``[-1, 1]`` (computed once)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights
