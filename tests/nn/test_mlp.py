"""The MLP: forward pass, chunking, saving, and backprop against numerical gradients."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

import approx.nn.mlp as mlp_module
from approx.nn import ACTIVATIONS, MLP, pack, unpack


def random_net(sizes, activation, bias, rng):
    net = MLP(sizes, activation, bias=bias, rng=rng)
    if bias:
        net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    return net


def pre_activations(net, X):
    """Every hidden Z_i W_i + b_i, to keep ReLU kinks away from the difference stencil."""
    out, Z = [], X
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        U = Z @ w + (b if net.bias else 0.0)
        out.append(U)
        Z = ACTIVATIONS[net.activation](U)
    return out


# ---- forward -------------------------------------------------------------------------


def test_forward_shapes_for_1d_and_2d_input():
    rng = np.random.default_rng(0)
    net = MLP([1, 5, 1], rng=rng)
    assert net(np.linspace(0, 1, 7)).shape == (7,)
    assert net(np.linspace(0, 1, 7)[:, None]).shape == (7, 1)
    wide = MLP([3, 4, 2], rng=rng)
    assert wide(np.zeros((6, 3))).shape == (6, 2)
    with pytest.raises(ValueError, match="1-D input needs an input width of 1"):
        wide(np.zeros(6))
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        wide(np.zeros((6, 2)))


def test_chunked_forward_equals_unchunked(monkeypatch):
    rng = np.random.default_rng(1)
    net = random_net([2, 16, 8, 3], "tanh", True, rng)
    X = rng.standard_normal((1000, 2))
    whole = net._forward(X.copy())  # one unchunked pass
    monkeypatch.setattr(mlp_module, "CHUNK_BYTES", 8 * 16 * 7)  # 7 rows per chunk
    # BLAS may block a product differently by row count, so equal up to rounding
    np.testing.assert_allclose(net(X), whole, rtol=1e-13, atol=1e-14)


def test_forward_matches_the_formula():
    rng = np.random.default_rng(2)
    net = random_net([2, 3, 1], "sigmoid", True, rng)
    X = rng.standard_normal((4, 2))
    (W1, W2), (b1, b2) = net.weights, net.biases
    expected = (1 / (1 + np.exp(-(X @ W1 + b1)))) @ W2 + b2
    np.testing.assert_allclose(net(X), expected, rtol=1e-13, atol=1e-15)


def test_from_params_checks_shapes():
    with pytest.raises(ValueError, match="non-empty list of 2-D arrays"):
        MLP.from_params([np.zeros(3)])
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 1\), expected \(3, ...\)"):
        MLP.from_params([np.zeros((1, 3)), np.zeros((2, 1))])
    with pytest.raises(ValueError, match="biases have sizes"):
        MLP.from_params([np.zeros((1, 3)), np.zeros((3, 1))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'.*relu, sigmoid"):
        MLP([1, 2, 1], activation="gelu")


def test_arrays_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(3)
    for bias in (True, False):
        net = random_net([1, 6, 2], "cos", bias, rng)
        np.savez(tmp_path / "net.npz", **net.to_arrays())
        with np.load(tmp_path / "net.npz", allow_pickle=False) as data:
            back = MLP.from_arrays({k: data[k] for k in data.files})
        assert (back.sizes, back.activation, back.bias) == (net.sizes, "cos", bias)
        x = np.linspace(-1, 1, 9)
        np.testing.assert_array_equal(back(x), net(x))
        assert back.n_params == net.n_params


# ---- pack / unpack ---------------------------------------------------------------------


def test_pack_unpack_round_trip_and_views():
    rng = np.random.default_rng(4)
    net = random_net([2, 3, 1], "relu", True, rng)
    theta = net.pack()
    assert theta.shape == (net.n_params,) == (2 * 3 + 3 + 3 * 1 + 1,)
    weights, biases = unpack(theta, net.sizes)
    for a, b in zip(weights + biases, net.weights + net.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    weights[0][0, 0] = 42.0  # a view: writing through it writes θ
    assert theta[0] == 42.0
    copy = MLP([2, 3, 1])
    copy.unpack(net.pack())
    np.testing.assert_array_equal(copy(np.ones((1, 2))), net(np.ones((1, 2))))


def test_pack_leaves_out_biases_of_a_net_without_bias():
    net = MLP([1, 4, 1], bias=False, rng=np.random.default_rng(5))
    theta = net.pack()
    assert theta.shape == (8,) == (net.n_params,)
    _, biases = unpack(theta, net.sizes, bias=False)
    assert [b.tolist() for b in biases] == [[0.0] * 4, [0.0]]
    with pytest.raises(ValueError, match=r"theta must have shape \(8,\)"):
        unpack(np.zeros(13), net.sizes, bias=False)
    with pytest.raises(ValueError, match="2 weight matrices but 1 bias"):
        pack(net.weights, net.biases[:1])


# ---- backprop ---------------------------------------------------------------------------


def test_hand_worked_two_layer_example():
    # X = [1, 2], W₁ = [[1, 1], [1, −1]], W₂ = [[2], [5]], no bias, y = 4.
    # forward:  Z₁W₁ = [1+2, 1−2] = [3, −1];  Z₂ = relu = [3, 0];  h = 3·2 + 0·5 = 6
    # loss:     ℓ = ½ (6 − 4)² = 2 (m = 1);   G₃ = h − y = 2
    # backward: ∇W₂ = Z₂ᵀ G₃ = [[6], [0]];   G₂ = G₃ W₂ᵀ = [4, 10]
    #           G₂ ∘ relu'([3, −1]) = [4, 0];  ∇W₁ = Z₁ᵀ [4, 0] = [[4, 0], [8, 0]]
    net = MLP.from_params([[[1.0, 1.0], [1.0, -1.0]], [[2.0], [5.0]]])
    loss, (gW, gb) = net.loss_and_grad(np.array([[1.0, 2.0]]), np.array([4.0]))
    assert loss == 2.0
    np.testing.assert_array_equal(gW[1], [[6.0], [0.0]])
    np.testing.assert_array_equal(gW[0], [[4.0, 0.0], [8.0, 0.0]])
    assert [g.tolist() for g in gb] == [[0.0, 0.0], [0.0]]  # no bias: zeros


net_cases = st.fixed_dictionaries(
    {
        "sizes": st.lists(st.integers(1, 4), min_size=2, max_size=4),
        "m": st.integers(1, 6),
        "activation": st.sampled_from(list(ACTIVATIONS)),
        "loss": st.sampled_from(["mse", "softmax"]),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


@settings(max_examples=120, deadline=None)
@given(case=net_cases)
def test_packed_gradient_passes_check_grad(case):
    rng = np.random.default_rng(case["seed"])
    sizes, m, loss = case["sizes"], case["m"], case["loss"]
    net = random_net(sizes, case["activation"], case["bias"], rng)
    X = rng.standard_normal((m, sizes[0]))
    if loss == "softmax":
        y = rng.integers(0, sizes[-1], m)
    else:
        y = rng.standard_normal((m, sizes[-1]))
    if case["activation"] == "relu":
        assume(all(np.all(np.abs(U) > 1e-4) for U in pre_activations(net, X)))

    def f(theta):
        net.unpack(theta)
        return net.loss_and_grad(X, y, loss)[0]

    def g(theta):
        net.unpack(theta)
        gW, gb = net.loss_and_grad(X, y, loss)[1]
        return pack(gW, gb if net.bias else None)

    theta = net.pack()
    scale = max(1.0, float(np.linalg.norm(g(theta))))
    assert check_grad(f, g, theta, epsilon=1e-7) <= 2e-5 * scale


@settings(max_examples=40, deadline=None)
@given(case=net_cases)
def test_residual_jacobian_matches_central_differences(case):
    rng = np.random.default_rng(case["seed"])
    sizes, m = case["sizes"], case["m"]
    net = random_net(sizes, case["activation"], case["bias"], rng)
    X, y = rng.standard_normal((m, sizes[0])), rng.standard_normal((m, sizes[-1]))
    if case["activation"] == "relu":
        assume(all(np.all(np.abs(U) > 1e-4) for U in pre_activations(net, X)))
    r, J = net.residual_jacobian(X, y)
    np.testing.assert_allclose(r, (net(X) - y).ravel(), rtol=1e-13, atol=1e-13)
    theta, h = net.pack(), 1e-6
    numeric = np.empty_like(J)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        net.unpack(theta + e)
        plus = net(X).ravel()
        net.unpack(theta - e)
        numeric[:, i] = (plus - net(X).ravel()) / (2 * h)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-7)


def test_loss_and_grad_rejects_bad_shapes():
    net = MLP([2, 3, 1], rng=np.random.default_rng(6))
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\)"):
        net.loss_and_grad(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="targets y must have shape"):
        net.loss_and_grad(np.zeros((4, 2)), np.zeros(5))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        net.loss_and_grad(np.zeros((4, 2)), np.zeros(4), loss="hinge")
    with pytest.raises(ValueError, match=r"y must have shape \(4, 1\)"):
        net.residual_jacobian(np.zeros((4, 2)), np.zeros(3))
