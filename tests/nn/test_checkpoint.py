"""Checkpointed backprop: the same gradients as full caching, with fewer arrays held."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from approx.nn import ACTIVATIONS, MLP, checkpoint


@settings(max_examples=40, deadline=None)
@given(
    depth=st.integers(1, 9),
    width=st.integers(1, 7),
    every=st.integers(1, 12),
    activation=st.sampled_from(list(ACTIVATIONS)),
    loss=st.sampled_from(["mse", "softmax"]),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_same_gradients_as_full_caching(depth, width, every, activation, loss, bias, seed):
    rng = np.random.default_rng(seed)
    net = MLP([3] + [width] * depth + [2], activation=activation, bias=bias, rng=rng)
    for b in net.biases:
        b[:] = rng.standard_normal(b.shape) if bias else 0.0
    X = rng.standard_normal((11, 3))
    y = rng.integers(0, 2, 11) if loss == "softmax" else rng.standard_normal((11, 2))
    value, (gW, gb) = checkpoint.loss_and_grad(net, X, y, loss, every)
    ref_value, (ref_W, ref_b) = net.loss_and_grad(X, y, loss)
    assert_allclose(value, ref_value, rtol=1e-12, atol=0)
    for got, ref in zip(gW + gb, ref_W + ref_b, strict=True):
        assert got.shape == ref.shape
        assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * (1 + np.abs(ref).max()))


def test_parameters_are_left_unchanged_and_1d_input_works():
    rng = np.random.default_rng(0)
    net = MLP([1, 5, 5, 1], rng=rng)
    before = net.pack()
    x = np.linspace(-1, 1, 9)
    value, _ = checkpoint.loss_and_grad(net, x, np.sin(x), "mse", every=2)
    assert value == pytest.approx(net.loss_and_grad(x, np.sin(x))[0], rel=1e-15)
    assert np.array_equal(net.pack(), before)


@settings(max_examples=25, deadline=None)
@given(
    depth=st.integers(1, 12),
    every=st.integers(1, 14),
    loss=st.sampled_from(["mse", "softmax"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_mlp_routes_checkpoint_every_to_the_checkpointed_path(depth, every, loss, seed):
    rng = np.random.default_rng(seed)
    net = MLP([2] + [6] * depth + [3], activation="tanh", rng=rng)
    X = rng.standard_normal((9, 2))
    y = rng.integers(0, 3, 9) if loss == "softmax" else rng.standard_normal((9, 3))
    value, (gW, gb) = net.loss_and_grad(X, y, loss=loss, checkpoint_every=every)
    ref_value, (ref_W, ref_b) = net.loss_and_grad(X, y, loss=loss)
    assert_allclose(value, ref_value, rtol=1e-12, atol=0)
    for got, ref in zip(gW + gb, ref_W + ref_b, strict=True):
        assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * (1 + np.abs(ref).max()))
    if every > 1:  # the checkpointed path itself, not the engine: the same arrays
        direct = checkpoint.loss_and_grad(net, X, y, loss, every)
        assert direct[0] == value
        for got, ref in zip(gW, direct[1][0], strict=True):
            assert np.array_equal(got, ref)


def test_checkpoint_every_is_checked_at_the_mlp():
    net = MLP([2, 3, 3])
    with pytest.raises(ValueError, match="checkpoint_every must be an integer ≥ 1, got 0"):
        net.loss_and_grad(np.zeros((4, 2)), np.zeros(4, dtype=int), "softmax", checkpoint_every=0)
    with pytest.raises(ValueError, match="labels"):
        net.loss_and_grad(np.zeros((4, 2)), np.full(4, 7), "softmax", checkpoint_every=2)


def test_refusals():
    net = MLP([2, 3, 1])
    with pytest.raises(ValueError, match="every must be an integer ≥ 1, got 0"):
        checkpoint.loss_and_grad(net, np.zeros((4, 2)), np.zeros(4), every=0)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\)"):
        checkpoint.loss_and_grad(net, np.zeros((4, 3)), np.zeros(4))


def test_cached_arrays_by_hand():
    # L = 16: k = 1 → 16 + 1; k = 2 → 8 + 3; k = 4 → 4 + 7; k = 16 → 1 + 31
    assert [checkpoint.cached_arrays(16, k) for k in (1, 2, 4, 16, 99)] == [17, 11, 11, 32, 32]
    # the last segment is short: L = 5, k = 2 → segments [0,2), [2,4), [4,5)
    assert checkpoint.cached_arrays(5, 2) == 3 + 3


def _peak(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_follows_the_count_of_cached_arrays():
    n_layers, n, m = 16, 64, 256
    rng = np.random.default_rng(1)
    net = MLP([4] + [n] * (n_layers - 1) + [3], activation="tanh", rng=rng)
    X, y = rng.standard_normal((m, 4)), rng.integers(0, 3, m)
    array = m * n * 8
    grads = sum(w.nbytes + b.nbytes for w, b in zip(net.weights, net.biases, strict=True))
    full = _peak(lambda: net.loss_and_grad(X, y, "softmax"))
    assert full >= (2 * n_layers - 2) * array  # every hidden Z_i and U_i
    for k in (1, 2, 4, 8, 16):
        peak = _peak(lambda k=k: checkpoint.loss_and_grad(net, X, y, "softmax", k))
        # the counted activations, the gradients, a few temporaries (G, D, σ') and
        # 64 KiB for the interpreter's own small objects (lists, caches, frames)
        slack = 64 * 2**10
        assert peak <= (checkpoint.cached_arrays(n_layers, k) + 4) * array + grads + slack
    assert _peak(lambda: checkpoint.loss_and_grad(net, X, y, "softmax", 2)) < 0.5 * full
