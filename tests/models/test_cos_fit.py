"""The fit of random cos features against independent references: the design by angle
addition against mpmath, the closed-form Gram matrix against the matrix product and
mpmath, the deflated solution against scipy's truncated SVD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from approx.analysis.errors import max_error_at
from approx.core.threads import one_thread
from approx.methods import costs
from approx.models import construct, least_squares
from approx.models.least_squares import cos_design, cos_gram, deflated_lstsq
from approx.nn import MLP
from approx.problems import targets

CUT = 1e-13


def _cos_design(d: int, n: int, seed: int, scale: float, domain=(-1.0, 1.0)):
    """Random cos features ``cos(w x + b)`` and a constant, ``w ~ N(0, scale²)``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, scale, d)
    bias = rng.uniform(0.0, 2 * np.pi, d)
    x = np.linspace(*domain, n)
    return x, w, bias, np.column_stack([np.cos(np.outer(x, w) + bias), np.ones(n)])


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 60),
    n=st.integers(2, 400),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.0, 0.3, 5.0, 200.0, 3000.0]),
    domain=st.sampled_from([(-1.0, 1.0), (0.0, 3.0), (-5.0, -2.0)]),
    twins=st.booleans(),
)
@example(d=3, n=8, seed=0, scale=0.0, domain=(-1.0, 1.0), twins=True)  # w = 0
@example(d=40, n=400, seed=1, scale=3000.0, domain=(0.0, 3.0), twins=False)  # aliasing
def test_cos_gram_is_the_product_of_the_design_with_itself(d, n, seed, scale, domain, twins):
    x, w, bias, design = _cos_design(d, n, seed, scale, domain)
    if twins:  # duplicate columns: the Dirichlet kernel at θ = 0 exactly
        w[d // 2:], bias[d // 2:] = w[: d - d // 2], bias[: d - d // 2]
        design = np.column_stack([np.cos(np.outer(x, w) + bias), np.ones(n)])
    gram = cos_gram(domain, n, w, bias)
    assert np.array_equal(gram, gram.T)
    # the design's entries are rounded to about |w x| u, the kernel's phases to n |θ| u
    reach = 1.0 + np.max(np.abs(w), initial=0.0) * max(abs(domain[0]), abs(domain[1]))
    assert_allclose(gram, design.T @ design, rtol=0, atol=1e-14 * n * n * reach)


def test_cos_gram_reduces_the_phase_by_whole_turns_with_the_right_sign():
    # (w_i + w_j) h = 2π·(odd): each term of the sum flips sign with the reduction
    n, h = 10, 2.0 / 9
    w = np.array([np.pi / h, np.pi / h + 0.1])
    x = np.linspace(-1.0, 1.0, n)
    design = np.column_stack([np.cos(np.outer(x, w) + 0.3), np.ones(n)])
    assert_allclose(cos_gram((-1.0, 1.0), n, w, np.full(2, 0.3)), design.T @ design,
                    rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 12),
    n=st.integers(2, 300),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.0, 1.0, 300.0, 1e4, 1e8]),
    domain=st.sampled_from([(-1.0, 1.0), (0.0, 3.0), (-5.0, -2.0), (10.0, 10.5)]),
)
@example(d=3, n=200, seed=0, scale=0.0, domain=(-1.0, 1.0))  # w = 0: cos b
@example(d=5, n=129, seed=1, scale=1e4, domain=(-1.0, 1.0))  # a partial last block
def test_cos_design_is_the_cosine_of_the_exact_samples(d, n, seed, scale, domain):
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, scale, d)
    bias = rng.uniform(0.0, 2 * np.pi, d)
    design = cos_design(domain, n, w, bias)
    assert design.shape == (n, d + 1) and design.flags.c_contiguous
    assert np.all(design[:, d] == 1.0)
    a, b = (mpmath.mpf(v) for v in domain)
    reach = np.abs(w) * (max(abs(domain[0]), abs(domain[1])) + domain[1] - domain[0])
    with mpmath.workdps(40):
        for k in rng.integers(0, n, 8):
            for j in range(d):  # x_k = a + k (b - a)/(n - 1), exactly
                exact = mpmath.cos(mpmath.mpf(w[j]) * (a + k * (b - a) / (n - 1))
                                   + mpmath.mpf(bias[j]))
                tol = 16 * np.finfo(float).eps * (reach[j] + abs(bias[j]) + 2)
                assert abs(design[k, j] - float(exact)) <= tol, (k, j)


def test_cos_gram_is_the_dirichlet_sum_on_both_sides_of_the_direct_threshold():
    """The addition formula where ``|sin(θ/2)|`` is just above :data:`_DIRECT`, the
    reduced angle just below, against the sum in closed form with mpmath."""
    n, domain = 8192, (-1.0, 1.0)
    h = 2.0 / (n - 1)
    # sin((w_0 ∓ w_j) h/2) at 0.9 and 1.1 of the threshold, and far from it
    gaps = 2 * np.arcsin(least_squares._DIRECT * np.array([0.9, 1.1, 100.0])) / h
    w = np.concatenate(([1234.5], 1234.5 + gaps, [1e4 - 1234.5 + gaps[0]]))
    bias = np.array([0.3, 1.0, 2.0, 4.0, 5.5])
    gram = cos_gram(domain, n, w, bias)
    with mpmath.workdps(40):
        hh = mpmath.mpf(2) / (n - 1)

        def kernel(theta):
            return mpmath.sin(n * theta / 2) / mpmath.sin(theta / 2)

        for i in range(w.size):
            for j in range(w.size):
                wi, wj, bi, bj = (mpmath.mpf(v) for v in (w[i], w[j], bias[i], bias[j]))
                minus = kernel((wi - wj) * hh) if i != j else n
                exact = (mpmath.cos(bi - bj) * minus
                         + mpmath.cos(bi + bj) * kernel((wi + wj) * hh)) / 2
                assert abs(gram[i, j] - float(exact)) <= 1e-9, (i, j)


def test_the_top_eigenvalue_is_lanczos_accurate_where_the_largest_two_are_close():
    rng = np.random.default_rng(4)
    basis = np.linalg.qr(rng.normal(size=(300, 300)))[0]
    values = np.concatenate(([1.0, 0.97, 0.95], rng.uniform(0.0, 0.9, 297)))
    gram = (basis * values) @ basis.T
    top = least_squares._top_eigenvalue(gram, 16)
    assert 1.0 - 1e-4 <= top <= 1.0 + 1e-12  # (power iteration: 4 % low after 16 steps)
    assert least_squares._top_eigenvalue(np.zeros((4, 4)), 16) == 0.0
    assert least_squares._top_eigenvalue(np.full((1, 1), 3.0), 16) == 3.0


def _tsvd(design, y):
    with one_thread():  # (many BLAS threads on a loaded machine take seconds)
        return sl.lstsq(design, y, cond=CUT)[0]


@settings(max_examples=6, deadline=None)
@given(
    d=st.integers(250, 400),
    ratio=st.sampled_from([2.0, 4.0]),
    seed=st.integers(0, 2**16),
    twins=st.integers(0, 20),
)
@example(d=300, ratio=0.5, seed=0, twins=0)  # n < d: the plain truncated SVD
@example(d=300, ratio=4.0, seed=3, twins=20)  # duplicate columns
@example(d=382, ratio=2.0, seed=447, twins=5)  # σ₂ = 0.94 σ₁: a rough σ₁ moves the cut
def test_the_deflated_fit_is_the_truncated_svd_solution(d, ratio, seed, twins):
    """Where the design's singular values stand clear of the cut, the two agree; below it
    (duplicate columns, numerically dependent features) the deflated fit has no part."""
    n = int(ratio * d)
    # frequencies at half the Nyquist frequency of a d-point grid, as the package's
    x, w, bias, design = _cos_design(d, n, seed, np.pi * (min(d, n) - 1) / 4)
    if twins:
        w[:twins], bias[:twins] = w[-twins:], bias[-twins:]
        design = np.column_stack([np.cos(np.outer(x, w) + bias), np.ones(n)])
    y = np.sin(3 * x) + np.abs(x - 0.1)
    got = deflated_lstsq(design, y, CUT, cos_gram((x[0], x[-1]), n, w, bias), plain_up_to=0)
    want = _tsvd(design, y)
    with one_thread():
        s, vt = np.linalg.svd(design, full_matrices=False)[1:]
    clear = s > 1e-6 * s[0]
    # the well-determined components: their fitted values, to the rounding of A c
    rounding = 1e3 * np.finfo(float).eps * s[0] * np.linalg.norm(want)
    assert_allclose(s[clear] * (vt[clear] @ got), s[clear] * (vt[clear] @ want),
                    rtol=0, atol=1e-9 * np.linalg.norm(y) + rounding)
    # next to nothing along the numerical null space (below the cut by a margin), as the
    # SVD's: both solutions are rounded to about u/CUT of their norm along the cut's edge
    null = s < 1e-3 * CUT * s[0]
    assert np.linalg.norm(vt[null] @ got) <= 1e-2 * np.linalg.norm(want) + 1e-9
    residual, best = np.linalg.norm(design @ got - y), np.linalg.norm(design @ want - y)
    assert residual <= best * (1 + 1e-6) + rounding
    assert np.linalg.norm(got) <= 1.5 * np.linalg.norm(want)


def test_the_deflated_fit_is_deterministic_and_exact_where_the_design_is_zero():
    x, w, bias, design = _cos_design(600, 2400, 5, 1500.0)
    gram = cos_gram((-1.0, 1.0), 2400, w, bias)
    y = np.exp(x)
    first = deflated_lstsq(design, y, CUT, gram, plain_up_to=0)
    again = deflated_lstsq(design.copy(), y.copy(), CUT, gram.copy(), plain_up_to=0)
    assert np.array_equal(first, again)
    assert_allclose(deflated_lstsq(np.zeros((5, 3)), np.ones(5), CUT, np.zeros((3, 3)),
                                   plain_up_to=0), 0.0)
    # small designs: the plain truncated SVD
    assert np.array_equal(deflated_lstsq(design, y, CUT, gram), _tsvd(design, y))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "d"), [("exp", 1024), ("abs15", 1024)])
def test_cos_features_certify_as_well_as_the_truncated_svd(name, d):
    target = targets.get(name)
    net = construct.random_features(target, d, rng=np.random.default_rng(1), n_samples=8192)
    w, bias = net.weights[0][0], net.biases[0]
    x = np.linspace(*target.domain, 8192)
    design = np.column_stack([np.cos(np.outer(x, w) + bias), np.ones(x.size)])
    coef = _tsvd(design, target(x))
    svd = MLP.from_params([w[None, :], coef[:-1, None]], [bias, coef[-1:]], activation="cos")
    ours, theirs = max_error_at(target, net), max_error_at(target, svd)
    assert ours.upper <= 1.5 * theirs.upper
    assert np.linalg.norm(net.weights[1]) <= 1.5 * np.linalg.norm(coef[:-1])


# the fit's peak above the process's size before it (VmHWM starts afresh at exec)
_PEAK = """
import re, sys
import numpy as np
from approx.models import construct
from approx.problems import targets
def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1]) * 1024
target, before = targets.get("runge"), status("VmRSS")
construct.random_features(target, int(sys.argv[1]), rng=np.random.default_rng(0),
                          n_samples=int(sys.argv[2]))
print(status("VmHWM") - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_cos_fits_peak_memory_is_within_its_estimate():
    width, n = 2048, 8192
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(width), str(n)],
                          capture_output=True, text=True, timeout=600, check=True)
    # the estimate's fit term: all but the run's base, the per-unit term and the certificate
    estimate = (costs.features_memory(width, {"n_samples": n, "features": "fourier"})
                - costs.RUN_BASE
                - costs.PER_UNIT * width - costs.COMPILED
                - costs.GRID_PER_CELL * min(2 * width, 2**15))
    assert int(proc.stdout) <= estimate, (int(proc.stdout), estimate)
