"""BatchEngine: every net's loss and gradient bit for bit its own engine's, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.nn import MLP
from approx.nn.backend import numba_available
from approx.nn.batch import BatchEngine, batchable
from approx.nn.engine import make_engine

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])


def _nets(widths, seed, activation="relu"):
    rng = np.random.default_rng(seed)
    nets = []
    for d in widths:
        net = MLP([1, d, 1], activation, rng=rng)
        net.biases = [rng.uniform(-1.0, 1.0, d), rng.normal(size=1)]
        nets.append(net)
    return nets


def _alone(net, x, y, backend, loss, p):
    work = MLP.from_params(net.weights, net.biases, net.activation)
    theta = work.pack()
    grad = np.full_like(theta, np.nan)
    engine = make_engine(work, theta, grad, x.size, loss, p, backend=backend)
    return engine(x, y), grad


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 300), min_size=1, max_size=6),
    m=st.integers(1, 1300),
    seed=st.integers(0, 2**32 - 1),
    loss=st.sampled_from([("mse", None), ("lp", 4.0), ("lp", 2.5)]),
    activation=st.sampled_from(["relu", "relu", "tanh"]),
)
def test_each_net_of_a_batch_gets_its_own_loss_and_gradient_bit_for_bit(
    backend, widths, m, seed, loss, activation
):
    nets = _nets(widths, seed, activation)
    rng = np.random.default_rng(seed + 1)
    x = np.sort(rng.uniform(-1.0, 1.0, m))
    x[: m // 4] = np.round(x[: m // 4], 1)  # samples on kinks placed at round numbers
    y = np.sin(3.0 * x)
    expected = [_alone(net, x, y, backend, *loss) for net in nets]
    works = [MLP.from_params(n.weights, n.biases, n.activation) for n in nets]
    batch = BatchEngine(works, m, *loss, backend=backend)
    values = batch(x, y).copy()
    for i, (value, grad) in enumerate(expected):
        assert values[i] == value
        np.testing.assert_array_equal(batch.grad[batch.slice(i)], grad)
        # the nets' weights are views into the batch's θ
        assert np.shares_memory(works[i].weights[0], batch.theta)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_follows_its_theta_and_fewer_rows_run_each_engine(backend):
    nets = _nets([3, 17, 64], 5)
    x = np.linspace(-1.0, 1.0, 200)
    works = [MLP.from_params(n.weights, n.biases, n.activation) for n in nets]
    batch = BatchEngine(works, x.size, backend=backend)
    batch.theta *= 0.5  # an update of the flat vector moves every net
    for sub in (x, x[:77]):
        values = batch(sub, np.abs(sub)).copy()
        for i, net in enumerate(works):
            value, grad = _alone(net, sub, np.abs(sub), backend, "mse", None)
            assert values[i] == value
            np.testing.assert_array_equal(batch.grad[batch.slice(i)], grad)
    assert batch.name == f"fused-{batch.backend}"


def test_a_batch_refuses_what_the_fused_engine_does_not_run():
    assert not batchable(MLP([1, 4, 4, 1]), "mse")
    assert not batchable(MLP([1, 4, 1], bias=False), "mse")
    assert not batchable(MLP([1, 4, 1]), "softmax")
    with pytest.raises(ValueError, match="1→d→1"):
        BatchEngine([MLP([1, 4, 1]), MLP([1, 4, 1], "tanh")], 10)
    with pytest.raises(ValueError, match="at least one"):
        BatchEngine([], 10)
