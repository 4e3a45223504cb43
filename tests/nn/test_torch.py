"""Gradients against an independent implementation: PyTorch autograd in float64."""

import numpy as np
import pytest

from approx.nn import ACTIVATIONS, MLP, get_loss
from approx.nn.engine import fused_backend, make_engine, numba_available

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

TORCH_ACT = {
    "relu": lambda u: torch.relu(u),
    "sigmoid": lambda u: torch.sigmoid(u),
    "tanh": lambda u: torch.tanh(u),
    "cos": lambda u: torch.cos(u),
    "identity": lambda u: u,
    # torch returns u itself above the threshold (default 20): a float64 reference needs
    # log1p(e^u) there too, as long as e^u does not overflow
    "softplus": lambda u: torch.nn.functional.softplus(u, threshold=500.0),
}


def torch_loss_and_grad(net, X, y, loss, p=None):
    Ws = [torch.tensor(w, requires_grad=True) for w in net.weights]
    bs = [torch.tensor(b, requires_grad=True) for b in net.biases]
    Z = torch.tensor(X)
    for i, (w, b) in enumerate(zip(Ws, bs, strict=True)):
        Z = Z @ w + (b if net.bias else 0.0)
        if i < len(Ws) - 1:
            Z = TORCH_ACT[net.activation](Z)
    m = X.shape[0]
    if loss == "softmax":
        value = torch.nn.functional.cross_entropy(Z, torch.tensor(y), reduction="mean")
    elif loss == "mse":
        value = 0.5 * ((Z - torch.tensor(y)) ** 2).sum() / m
    else:
        value = (Z - torch.tensor(y)).abs().pow(p).sum() / (p * m)
    value.backward()
    grads_b = [b.grad.numpy() if net.bias else np.zeros(b.shape) for b in bs]
    return value.item(), [w.grad.numpy() for w in Ws], grads_b


def assert_close(ours, theirs):
    scale = max(np.abs(theirs).max(), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["mse", "lp", "softmax"])
@pytest.mark.parametrize("seed", range(4))
def test_gradients_equal_torch_autograd(activation, loss, seed):
    rng = np.random.default_rng([seed, len(activation), len(loss)])
    sizes = [int(n) for n in rng.integers(1, 7, size=rng.integers(2, 5))]
    m, bias = int(rng.integers(1, 20)), bool(seed % 2 == 0)
    net = MLP(sizes, activation, bias=bias, rng=rng)
    if bias:
        net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    X = rng.standard_normal((m, sizes[0]))
    y = rng.integers(0, sizes[-1], m) if loss == "softmax" else rng.standard_normal((m, sizes[-1]))
    p = 5.0 if loss == "lp" else None
    value, (gW, gb) = net.loss_and_grad(X, y, get_loss(loss, p))
    t_value, t_gW, t_gb = torch_loss_and_grad(net, X, y, loss, p)
    assert value == pytest.approx(t_value, rel=1e-12)
    for ours, theirs in zip(gW + gb, t_gW + t_gb, strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["mse", "lp"])
@pytest.mark.parametrize(
    "backend",
    [
        "numpy",
        pytest.param(
            "numba", marks=pytest.mark.skipif(not numba_available(), reason="numba not installed")
        ),
    ],
)
def test_fused_engine_equals_torch_autograd(activation, loss, backend):
    rng = np.random.default_rng([8, len(activation)])
    net = MLP([1, 33, 1], activation, rng=rng)
    net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    x, y = rng.uniform(-1, 1, 200), rng.standard_normal(200)
    p = 6.0 if loss == "lp" else None
    t_value, t_gW, t_gb = torch_loss_and_grad(net, x[:, None], y[:, None], loss, p)
    theta = net.pack()
    grad = np.zeros_like(theta)
    engine = make_engine(net, theta, grad, 250, loss, p, backend=backend)
    assert engine.name == f"fused-{fused_backend(backend, activation)}"
    assert engine(x, y) == pytest.approx(t_value, rel=1e-12)
    theirs = np.concatenate([t_gW[0].ravel(), t_gb[0], t_gW[1].ravel(), t_gb[1]])
    assert_close(grad, theirs)
