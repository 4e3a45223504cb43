"""A reference for the best width-d one-hidden-layer ReLU net, computed here, not certified.

The best L∞ approximation of ``f`` on a dense grid by a continuous piecewise-linear
function with free knots, by knot balancing (de Boor's equidistribution of the local
error, applied to the minimax fit): for fixed knots the best values are a linear
program (scipy's HiGHS), and each knot moves so that every cell's own max error
approaches their common level; the best iterate is kept. Two classes:

- ``cells = d``: d − 1 interior knots, the class every width-d net in the knot form of
  :mod:`approx.train.knot_form` lives in (one unit carries the first slope): a width-d
  net reaches it, so it is an upper estimate of the width-d optimum;
- ``cells = d + 1``: d interior knots, free; no width-d net does better (a lower
  estimate, up to the grid and the local search).

Both are estimates (a grid, a local search from the adaptive knots), used by
``bench_quality.py`` as the denominator of its ratios until a certified optimum exists.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import linprog

Array = NDArray[np.float64]


def best_values(x: Array, y: Array, tau: Array) -> tuple[Array, float]:
    """The values at knots ``tau`` minimising ``max |pwl(x) − y|`` (an LP) and that max."""
    n = tau.size
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, n - 2)
    lam = (x - tau[cell]) / (tau[cell + 1] - tau[cell])
    m = x.size
    rows = np.repeat(np.arange(m), 2)
    cols = np.stack([cell, cell + 1], axis=1).reshape(-1)
    vals = np.stack([1.0 - lam, lam], axis=1).reshape(-1)
    B = sparse.csr_matrix((vals, (rows, cols)), shape=(m, n))
    one = sparse.csr_matrix(np.ones((m, 1)))
    A = sparse.vstack([sparse.hstack([B, -one]), sparse.hstack([-B, -one])]).tocsr()
    b = np.concatenate([y, -y])
    c = np.zeros(n + 1)
    c[-1] = 1.0
    res = linprog(c, A_ub=A, b_ub=b, bounds=[(None, None)] * n + [(0, None)], method="highs")
    if res.status != 0:
        raise RuntimeError(res.message)
    return res.x[:n], float(res.x[-1])


def line_errors(x: Array, y: Array, tau: Array) -> Array:
    """Each cell's half range of ``f`` minus its chord: the error of the best line on the
    cell where ``f`` is convex or concave there (an upper estimate elsewhere)."""
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, tau.size - 2)
    dev = y - np.interp(x, tau, np.interp(tau, x, y))
    hi = np.zeros(tau.size - 1)
    lo = np.zeros(tau.size - 1)
    np.maximum.at(hi, cell, dev)
    np.minimum.at(lo, cell, dev)
    return 0.5 * (hi - lo)


def balance(x: Array, y: Array, tau: Array, rounds: int = 40) -> tuple[Array, float]:
    """Knots equalising the cells' :func:`line_errors` (de Boor's equidistribution):
    each width is multiplied by ``(E / e_c)^(1/2)`` (a cell's error scales as its
    width squared), renormalised to the domain. Returns the knots of the least largest
    cell error met and that error (the discontinuous fit's, a lower estimate)."""
    best = (tau, np.inf)
    for _ in range(rounds):
        e = line_errors(x, y, tau)
        if e.max() < best[1]:
            best = (tau, float(e.max()))
        h = np.diff(tau) * (e.max() / np.maximum(e, 1e-6 * e.max())) ** 0.5
        tau = tau[0] + np.concatenate(([0.0], np.cumsum(h))) * (x[-1] - x[0]) / h.sum()
        tau[-1] = x[-1]
    return best


def reference(target, cells: int, per_cell: int = 40, rounds: int = 40) -> tuple[float, float]:
    """Grid estimates for ``cells`` pieces from the adaptive knots, balanced: the
    discontinuous fit's max error (below the continuous optimum) and the continuous
    fit's at those knots (an LP: reachable)."""
    from approx.models.construct import KNOTS

    a, b = target.domain
    x = np.linspace(a, b, max(20_000, per_cell * cells))
    y = target(x)
    tau, low = balance(x, y, KNOTS["adaptive"](target, cells + 1), rounds)
    return low, best_values(x, y, tau)[1]
