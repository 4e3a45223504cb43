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
    # a knot in a sample interval where f kinks: its row from the left side's quadratic,
    # and one more, after the knots' rows, from the right side's
    fl, dl, fr, dr, kinked = exchange.sides(x, y, tau[1:-1], error)
    cl = np.concatenate([np.arange(n - 1), np.flatnonzero(kinked)])
    fi = np.concatenate([np.where(kinked, fl, fk[1:-1]), fr[kinked]])
    di = np.concatenate([np.where(kinked, dl, dk[1:-1]), dr[kinked]])
    inner, ds = tau[1:-1][cl], (s[:-1] - s[1:])[cl]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (s[:-1][cl] - di) / ds
    w = np.where(np.isfinite(w), w, 0.5)
    ne, nk = xs.size, cl.size
    k = ne + 1 + np.arange(nk)
    rows = [np.arange(ne), np.arange(ne), [ne, ne], [ne + nk + 1, ne + nk + 1], k, k, k, k]
    cols = [2 * c, 2 * c + 1, [0, 1], [2 * n - 2, 2 * n - 1],
            2 * cl, 2 * cl + 1, 2 * cl + 2, 2 * cl + 3]
    vals = [np.ones(ne), xs - m[c], [1.0, tau[0] - m[0]], [1.0, tau[-1] - m[-1]],
            1.0 - w, (1.0 - w) * (inner - m[cl]), w, w * (inner - m[cl + 1])]
    J = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(ne + nk + 2, 2 * n))
    at, kl = tau[1:-1], np.arange(n - 1)
    moves = sparse.csr_matrix(
        (np.concatenate([np.ones(n - 1), at - m[:-1], -np.ones(n - 1), m[1:] - at]),
         (np.tile(kl, 4), np.concatenate([2 * kl, 2 * kl + 1, 2 * kl + 2, 2 * kl + 3]))),
        shape=(n - 1, 2 * n))
    r = np.concatenate([rs, [u[0] - fk[0]], u[1:-1][cl] - fi, [u[-1] - fk[-1]]])
    return _lp.rows(J), r, _lp.rows(moves)


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
