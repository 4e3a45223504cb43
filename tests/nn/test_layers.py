"""Each layer's vector–Jacobian product against central differences (float64)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from approx.nn import ACTIVATIONS, AFFINE, LAYERS, get_layer

H = 1e-6


def numeric_vjp(f, x, g):
    """gᵀ ∂f/∂x by central differences, one coordinate of x at a time."""
    out = np.empty_like(x)
    flat = out.reshape(-1)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = H
        flat[i] = np.vdot(g, f(x + e) - f(x - e)) / (2 * H)
    return out


shapes = st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), bias=st.booleans())
def test_affine_vjp_matches_central_differences(shape, seed, bias):
    m, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out))
    b = rng.standard_normal(n_out) if bias else None
    g = rng.standard_normal((m, n_out))
    y, cache = AFFINE.forward(x, W, b)
    gx, (gW, gb) = AFFINE.vjp(cache, g)
    assert y.shape == (m, n_out) and gx.shape == x.shape and gW.shape == W.shape
    np.testing.assert_allclose(
        gx, numeric_vjp(lambda v: AFFINE.forward(v, W, b)[0], x, g), rtol=1e-7, atol=1e-8
    )
    np.testing.assert_allclose(
        gW, numeric_vjp(lambda v: AFFINE.forward(x, v, b)[0], W, g), rtol=1e-7, atol=1e-8
    )
    if bias:
        np.testing.assert_allclose(
            gb, numeric_vjp(lambda v: AFFINE.forward(x, W, v)[0], b, g), rtol=1e-7, atol=1e-8
        )
    else:
        assert gb is None


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_activation_vjp_matches_central_differences(name, m, n, seed):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((m, n)) * 2
    assume(np.all(np.abs(u) > 1e-3))  # keep the ReLU kink out of the difference stencil
    g = rng.standard_normal((m, n))
    layer = LAYERS[name]
    y, cache = layer.forward(u)
    gu, grads = layer.vjp(cache, g)
    assert grads == ()
    np.testing.assert_allclose(y, ACTIVATIONS[name](u), rtol=0, atol=0)
    np.testing.assert_allclose(
        gu, numeric_vjp(lambda v: layer.forward(v)[0], u, g), rtol=1e-7, atol=1e-8
    )


def test_relu_vjp_at_the_kink_is_zero():
    _, cache = LAYERS["relu"].forward(np.array([[-1.0, 0.0, 2.0]]))
    gu, _ = LAYERS["relu"].vjp(cache, np.ones((1, 3)))
    np.testing.assert_array_equal(gu, [[0.0, 0.0, 1.0]])


def test_unknown_layer_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown layer 'swish'.*affine, relu, sigmoid"):
        get_layer("swish")
