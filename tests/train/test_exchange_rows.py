"""The exchange's linear-program rows, built directly, are scipy's sparse matrices of them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from approx.train import _lp, exchange


def _scipy_rows(m, s, tau, u, x, y, error):
    """The rows as scipy assembles them from (value, (row, column)) triples."""
    n = m.size
    xs, rs, c = exchange.extrema(tau, u, x, y, error)
    fk, dk = exchange.sampled(x, y, tau)
    inner, ds, cl = tau[1:-1], s[:-1] - s[1:], np.arange(n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (s[:-1] - dk[1:-1]) / ds
    w = np.where(np.isfinite(w), w, 0.5)
    ne = xs.size
    k = ne + 1 + cl
    rows = [np.arange(ne), np.arange(ne), [ne, ne], [ne + n, ne + n], k, k, k, k]
    cols = [2 * c, 2 * c + 1, [0, 1], [2 * n - 2, 2 * n - 1],
            2 * cl, 2 * cl + 1, 2 * cl + 2, 2 * cl + 3]
    vals = [np.ones(ne), xs - m[c], [1.0, tau[0] - m[0]], [1.0, tau[-1] - m[-1]],
            1.0 - w, (1.0 - w) * (inner - m[:-1]), w, w * (inner - m[1:])]
    J = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(ne + n + 1, 2 * n))
    moves = sparse.csr_matrix(
        (np.concatenate([np.ones(n - 1), inner - m[:-1], -np.ones(n - 1), m[1:] - inner]),
         (np.tile(cl, 4), np.concatenate([2 * cl, 2 * cl + 1, 2 * cl + 2, 2 * cl + 3]))),
        shape=(n - 1, 2 * n))
    return _lp.rows(J), np.concatenate([rs, u - fk]), _lp.rows(moves)


def _same(a, b):
    assert a.ncols == b.ncols
    for p, q in ((a.indptr, b.indptr), (a.indices, b.indices)):
        assert p.dtype == q.dtype == np.int32
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(a.data.view(np.int64), b.data.view(np.int64))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(5, 200), st.integers(0, 2**32 - 1), st.booleans())
def test_the_rows_are_those_scipy_assembles(cells, samples, seed, parallel):
    rng = np.random.default_rng(seed)
    tau = np.unique(np.concatenate([[-1.0, 1.0], rng.uniform(-1.0, 1.0, cells - 1)]))
    x = np.linspace(-1.0, 1.0, samples)
    y = np.sin(3.0 * x) + rng.normal(scale=0.01, size=x.size)
    u = np.interp(tau, x, y) + rng.normal(scale=0.05, size=tau.size)
    m, _, s = exchange.to_lines(tau, u)
    if parallel:  # parallel neighbours: the knots' weights fall back to 1/2
        s[: s.size // 2 + 1] = s[0]
    error = float(rng.uniform(1e-3, 0.2))
    want = _scipy_rows(m, s, tau, u, x, y, error)
    got = exchange._rows(m, s, tau, u, x, y, error)
    _same(want[0], got[0])
    np.testing.assert_array_equal(want[1], got[1])
    _same(want[2], got[2])
