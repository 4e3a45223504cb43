"""The cos random-feature fit on inputs beyond the named examples: domains far from 0 for
their width, domains too narrow for the frequencies, and the certificate of small fits
against mpmath on a dense grid."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from approx.analysis.errors import max_error_at
from approx.core.threads import one_thread
from approx.models import construct
from approx.models.least_squares import cos_design, cos_gram, deflated_lstsq
from approx.problems import targets

CUT = 1e-13


@settings(max_examples=6, deadline=None)
@given(
    d=st.integers(250, 350),
    centre=st.floats(1e4, 1e8),
    width=st.sampled_from([1.0, 2.0, 8.0]),
    seed=st.integers(0, 2**16),
)
@example(d=300, centre=1e6 + 1, width=2.0, seed=0)  # residual 86 times the SVD's before
def test_the_deflated_fit_is_the_svds_on_a_domain_far_from_zero(d, centre, width, seed):
    """There the closed-form Gram matrix (of the exact samples) differs from the rounded
    design's by more than the preconditioner's damping; the fit must still be the
    design's truncated-SVD solution."""
    n = 4 * d
    domain = (centre - width / 2, centre + width / 2)
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, np.pi * (d - 1) / (2 * width), d)
    bias = rng.uniform(0.0, 2 * np.pi, d)
    x = np.linspace(*domain, n)
    design = cos_design(domain, n, w, bias)
    y = np.sin(x)
    got = deflated_lstsq(design, y, CUT, cos_gram(domain, n, w, bias), plain_up_to=0)
    with one_thread():
        want = sl.lstsq(design, y, cond=CUT)[0]
    best = np.linalg.norm(design @ want - y)
    assert np.linalg.norm(design @ got - y) <= 1.5 * best + 1e-14 * np.sqrt(n)
    assert np.linalg.norm(got) <= 1.5 * np.linalg.norm(want)


@pytest.mark.parametrize("domain", [(0.0, 5e-324), (0.0, 1e-307), (-4e-308, 4e-308)])
def test_fourier_features_on_a_domain_too_narrow_refuse_in_one_line(domain):
    # (before: a LinAlgError "SVD did not converge" from frequencies of inf)
    target = targets.from_expr("x + 1", domain)
    with pytest.raises(ValueError, match="leave the float range") as info:
        construct.random_features(target, 64, rng=np.random.default_rng(0), n_samples=256)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("domain", [(1.0, 1.0 + 2**-52), (-1e-305, 1e-305), (0.0, 1e-307)])
def test_fourier_features_on_a_narrow_domain_still_fit(domain):
    target = targets.from_expr("x + 1", domain)
    net = construct.random_features(target, 4, rng=np.random.default_rng(0), n_samples=16)
    assert np.all(np.isfinite(net.weights[0])) and np.all(np.isfinite(net.weights[1]))
    found = max_error_at(target, net)
    assert found.value <= found.upper < 1e-12


def _exact_error(expr: str, net, x: np.ndarray) -> float:
    """``max |f - f̂|`` over the floats ``x``, both in 40-digit mpmath (the net's real
    function, its float weights read exactly)."""
    w, bias = net.weights[0][0], net.biases[0]
    c, c0 = net.weights[1][:, 0], float(net.biases[1][0])
    env = {"sin": mpmath.sin, "cos": mpmath.cos, "exp": mpmath.exp, "abs": abs,
           "tanh": mpmath.tanh}
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for xi in x:
            t = mpmath.mpf(float(xi))
            f = eval(expr, {**env, "x": t})
            g = mpmath.fsum(mpmath.mpf(float(ci)) * mpmath.cos(mpmath.mpf(float(wi)) * t
                                                              + mpmath.mpf(float(bi)))
                            for ci, wi, bi in zip(c, w, bias, strict=True)) + c0
            worst = max(worst, abs(f - g))
    return float(worst)


@settings(max_examples=12, deadline=None)
@given(
    expr=st.sampled_from(["sin(3*x)", "exp(x)", "abs(x - 0.3)", "1 + 0*x", "tanh(20*x)",
                          "1e200*sin(x)", "1e-200*cos(x)"]),
    domain=st.sampled_from([(-1.0, 1.0), (0.0, 3.0), (0.25, 0.25 + 2**-40),
                            (-5.0, -4.0)]),
    d=st.integers(1, 24),
    n=st.integers(2, 80),
    seed=st.integers(0, 2**16),
)
@example(expr="sin(3*x)", domain=(-1.0, 1.0), d=24, n=3, seed=0)  # n < d
def test_the_certified_error_of_small_cos_fits_covers_a_dense_grid(expr, domain, d, n, seed):
    target = targets.from_expr(expr, domain)
    net = construct.random_features(target, d, rng=np.random.default_rng(seed), n_samples=n)
    found = max_error_at(target, net)
    grid = np.unique(np.concatenate([np.linspace(*domain, 97), [found.x]]))
    exact = _exact_error(expr, net, grid)
    assert found.value <= found.upper
    assert exact <= found.upper * (1 + 1e-12)
    # the value is the error at found.x, rounded down
    assert found.value <= _exact_error(expr, net, np.array([found.x])) * (1 + 1e-12)


@pytest.mark.parametrize(("features", "d"), [("relu", 1100), ("fourier", 1100), ("relu", 8)])
def test_targets_near_the_float_range_are_fitted_as_their_scaled_selves(features, d):
    """``2^1016 sin 3x``: its ``Aᵀy`` on 4096 samples overflowed (non-finite weights);
    scaled by a power of two, the fit is that of ``sin 3x``, scaled."""
    nets = [construct.random_features(targets.from_expr(expr, (-1.0, 1.0)), d, features,
                                      rng=np.random.default_rng(2), n_samples=4096)
            for expr in ("sin(3*x)", "2**1016*sin(3*x)")]
    small, big = (np.append(net.weights[1][:, 0], net.biases[1]) for net in nets)
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(np.ldexp(big, -1016), small, rtol=1e-9,
                               atol=1e-9 * np.max(np.abs(small)))
