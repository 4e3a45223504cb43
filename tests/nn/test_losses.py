"""Losses: values, gradients at the output, stability, and input checks."""

import numpy as np
import pytest

from approx.nn import LOSSES, get_loss
from approx.nn.losses import lp, mse, softmax

H = 1e-6


def numeric_grad(f, h):
    out = np.empty_like(h)
    for i in range(h.size):
        e = np.zeros_like(h)
        e.flat[i] = H
        out.flat[i] = (f(h + e) - f(h - e)) / (2 * H)
    return out


@pytest.mark.parametrize("name", ["mse", "lp", "softmax"])
def test_gradient_at_the_output_matches_central_differences(name):
    rng = np.random.default_rng(1)
    h = rng.standard_normal((6, 3))
    y = rng.integers(0, 3, 6) if name == "softmax" else rng.standard_normal((6, 3))
    loss = get_loss(name, 5.0 if name == "lp" else None)
    _, G = loss(h, y)
    np.testing.assert_allclose(G, numeric_grad(lambda v: loss(v, y)[0], h), rtol=1e-6, atol=1e-9)


def test_mse_value_and_1d_targets():
    h = np.array([[1.0], [3.0]])
    value, G = mse(h, np.array([0.0, 1.0]))
    assert value == pytest.approx((1 + 4) / (2 * 2))  # (1/2m) Σ r² with r = (1, 2), m = 2
    np.testing.assert_allclose(G, [[0.5], [1.0]], rtol=0, atol=1e-15)


def test_lp_with_p2_is_mse():
    rng = np.random.default_rng(2)
    h, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    for a, b in zip(lp(h, y, p=2.0), mse(h, y), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_softmax_gradient_is_s_minus_one_hot_over_m():
    h = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    value, G = softmax(h, np.array([1, 0]))
    # row 1: S = (1/4, 3/4), label 1 → ℓ = log 4 − log 3; row 2: S = (1/2, 1/2) → ℓ = log 2
    assert value == pytest.approx((np.log(4 / 3) + np.log(2)) / 2, rel=1e-14)
    np.testing.assert_allclose(G, [[0.125, -0.125], [-0.25, 0.25]], rtol=1e-14, atol=1e-15)


def test_softmax_is_stable_for_huge_logits():
    value, G = softmax(np.array([[1000.0, 0.0], [-1000.0, 1000.0]]), np.array([0, 0]))
    assert np.isfinite(value) and np.all(np.isfinite(G))
    assert value == pytest.approx(1000.0, rel=1e-12)  # (0 + 2000) / 2
    np.testing.assert_allclose(G, [[0.0, 0.0], [-0.5, 0.5]], atol=1e-15)


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match=r"unknown loss 'l1'.*mse, lp, softmax"):
        get_loss("l1")
    with pytest.raises(ValueError, match="exponent p must be a number ≥ 2"):
        get_loss("lp", 1.5)
    with pytest.raises(ValueError, match="takes no exponent"):
        get_loss("mse", 3.0)
    with pytest.raises(ValueError, match="shape"):
        mse(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="integers"):
        softmax(np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="0 … 1"):
        softmax(np.zeros((2, 2)), np.array([0, 2]))
    assert set(LOSSES) == {"mse", "lp", "softmax"}
