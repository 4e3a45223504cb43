"""The ridge fit of random ReLU features against independent references: the Gram
matrix against the matrix product, the solution against the SVD's filter factors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from approx.models import construct
from approx.models.least_squares import damping, relu_gram, ridge_lstsq
from approx.nn import ACTIVATIONS
from approx.problems import targets


def _relu_design(d: int, n: int, seed: int, a: float = -1.0, b: float = 1.0):
    rng = np.random.default_rng(seed)
    breaks = rng.uniform(a, b, d)
    w = rng.choice(np.array([-1.0, 1.0]), d)
    bias = -w * breaks
    x = np.linspace(a, b, n)
    design = np.column_stack([ACTIVATIONS["relu"](np.outer(x, w) + bias), np.ones(n)])
    return x, w, bias, design


def _ridge_by_svd(design, y, lam):
    """The Tikhonov solution from the SVD's filter factors σ/(σ² + λ)."""
    u, s, vt = np.linalg.svd(design, full_matrices=False)
    return vt.T @ (s / (s * s + lam) * (u.T @ y))


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 40),
    n=st.integers(2, 300),
    seed=st.integers(0, 2**16),
    domain=st.sampled_from([(-1.0, 1.0), (0.0, 3.0), (-5.0, -2.0)]),
)
def test_relu_gram_is_the_product_of_the_design_with_itself(d, n, seed, domain):
    x, w, bias, design = _relu_design(d, n, seed, *domain)
    expected = design.T @ design
    scale = n * max(abs(domain[0]), abs(domain[1]), 1.0) ** 2
    gram = relu_gram(x, w, bias)
    assert_allclose(gram, expected, rtol=0, atol=1e-13 * scale)
    assert np.array_equal(relu_gram(x, w, bias, design), gram)  # the counts from the design


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 60), n=st.integers(2, 400), seed=st.integers(0, 2**16),
       tau=st.sampled_from([1e-7, 1e-5, 1e-2]))
@example(d=18, n=2, seed=2, tau=1e-2)  # σ₁ ≈ σ₂: the power iteration is off by 1.6e-6
def test_ridge_matches_the_svd_filter_factors(d, n, seed, tau):
    # ReLU designs are nearly rank-deficient (breakpoints sharing a gap between two
    # samples): the ridge damps what a plain solve would blow up. Both solutions are
    # within rounding of the exact one: perturbation theory allows ``u/τ²`` relative in
    # the coefficients (directions with σ ≈ τ σ₁), ``u/τ`` in the fitted values, and
    # the objective is flat at its minimum
    # (λ is τ² times the power-iteration estimate of σ₁², which where σ₁ ≈ σ₂ is off by
    # 1e-6 relative, e.g. d = 18, n = 2, seed 2: the reference takes the same λ, and the
    # estimate is checked on its own below)
    x, w, bias, design = _relu_design(d, n, seed)
    y = np.sin(3 * x) + x**2
    gram = relu_gram(x, w, bias)
    top = np.linalg.norm(design, 2)
    lam = damping(gram, tau)
    assert (0.9 * tau * top) ** 2 <= lam <= (tau * top) ** 2 * (1 + 1e-12)
    expected = _ridge_by_svd(design, y, lam)
    got = ridge_lstsq(design, y, tau, gram)
    size = np.linalg.norm(y) / top
    u = np.finfo(float).eps

    def objective(c):
        return np.sum((design @ c - y) ** 2) + lam * np.sum(c * c)

    assert objective(got) <= objective(expected) * (1 + 1e-9) + 1e-25
    assert_allclose(got, expected, rtol=0, atol=100 * u / tau**2 * size)
    assert_allclose(design @ got, design @ expected, rtol=0,
                    atol=100 * u / tau * np.linalg.norm(y))


def test_ridge_without_a_gram_and_with_one_agree():
    x, w, bias, design = _relu_design(30, 500, 4)
    y = np.exp(x)
    with_gram = ridge_lstsq(design, y, 1e-7, relu_gram(x, w, bias))
    assert_allclose(ridge_lstsq(design, y, 1e-7), with_gram, rtol=0, atol=1e-10)


def test_ridge_norm_is_bounded_where_the_design_is_singular():
    # two identical columns: plain least squares has a line of solutions; the ridge takes
    # the one splitting the weight evenly, of norm at most ‖y‖/(2 τ σ₁)
    x = np.linspace(0.0, 1.0, 50)
    design = np.column_stack([x, x, np.ones_like(x)])
    coef = ridge_lstsq(design, 2 * x, 1e-7)
    assert_allclose(coef, [1.0, 1.0, 0.0], atol=1e-9)


def test_ridge_refuses_a_gram_matrix_that_is_not_positive():
    design = np.eye(3)
    with pytest.raises(np.linalg.LinAlgError):
        ridge_lstsq(design, np.ones(3), 1e-7, np.diag([1.0, 1.0, -1.0]))


def test_ridge_of_a_zero_design_is_zero():
    assert_allclose(ridge_lstsq(np.zeros((5, 3)), np.ones(5), 1e-7), 0.0)


def test_random_relu_features_use_the_ridge_fit():
    target = targets.get("runge")
    net = construct.random_features(target, 64, "relu", rng=np.random.default_rng(5),
                                    n_samples=512)
    x, w, bias = np.linspace(-1, 1, 512), net.weights[0][0], net.biases[0]
    design = np.column_stack([ACTIVATIONS["relu"](np.outer(x, w) + bias), np.ones(x.size)])
    expected = _ridge_by_svd(design, target(x), damping(design.T @ design, construct._RIDGE))
    got = np.concatenate([net.weights[1][:, 0], net.biases[1]])
    assert_allclose(got, expected, rtol=0, atol=1e-8 * np.abs(expected).max())
