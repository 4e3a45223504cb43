"""The engine: every path against the reference layer VJPs and central differences.

Paths: the layered engine (any MLP), the fused 1→d→1 engine in numpy and in numba
(skipped without numba). The reference chains the allocating ``forward``/``vjp`` pairs of
:data:`approx.nn.LAYERS` and the allocating losses, as the lecture writes backprop.
"""

import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

from approx.nn import ACTIVATIONS, AFFINE, LAYERS, MLP, get_loss, pack, unpack
from approx.nn import engine as engine_module
from approx.nn.activations import NUMBA_CODES
from approx.nn.engine import (
    FusedEngine,
    LayeredEngine,
    engine_name,
    fused_backend,
    make_engine,
    numba_available,
)

BACKENDS = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(
            not numba_available(), reason="numba not installed (no wheel here)"
        ),
    ),
]


def reference_loss_and_grad(net, X, y, loss, p=None):
    """Loss and packed gradient from the allocating layer VJPs (no workspace, no fusion)."""
    act, last = LAYERS[net.activation], len(net.weights) - 1
    Z, affine_caches, act_caches = X, [], []
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        U, cache = AFFINE.forward(Z, w, b if net.bias else None)
        affine_caches.append(cache)
        Z = U
        if i < last:
            Z, cache = act.forward(U)
            act_caches.append(cache)
    value, G = get_loss(loss, p)(Z, y)
    gW, gb = [None] * (last + 1), [None] * (last + 1)
    for i in range(last, -1, -1):
        D = G if i == last else act.vjp(act_caches[i], G)[0]
        G, (gW[i], gb[i]) = AFFINE.vjp(affine_caches[i], D)
    return value, pack(gW, gb if net.bias else None)


def random_net(sizes, activation, bias, rng):
    net = MLP(sizes, activation, bias=bias, rng=rng)
    if bias:
        net.biases = [0.5 * rng.standard_normal(b.shape) for b in net.biases]
    return net


def min_abs_pre_activation(net, X):
    """Smallest |Z_i W_i + b_i| over hidden units: keeps ReLU kinks off difference stencils."""
    out, Z = np.inf, X
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        U = Z @ w + (b if net.bias else 0.0)
        out = min(out, float(np.abs(U).min()))
        Z = ACTIVATIONS[net.activation](U)
    return out


def bound(net, m, loss="mse", p=None, backend=None):
    theta = net.pack()
    grad = np.full_like(theta, np.nan)  # every entry must be written
    return make_engine(net, theta, grad, m, loss, p, backend=backend), theta, grad


def targets(rng, loss, mb, k):
    if loss == "softmax":
        return rng.integers(0, k, mb)
    return rng.standard_normal((mb, k))


def assert_close(ours, ref, rtol=1e-11):
    scale = max(float(np.abs(ref).max()), 1e-300)
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * scale)


# ---- the layered engine ----------------------------------------------------------------

layered_cases = st.fixed_dictionaries(
    {
        "sizes": st.lists(st.integers(1, 5), min_size=2, max_size=5),
        "m": st.integers(1, 9),
        "spare": st.integers(0, 3),  # the engine is sized for m + spare rows
        "activation": st.sampled_from(list(ACTIVATIONS)),
        "loss": st.sampled_from(["mse", "lp", "softmax"]),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


@settings(max_examples=80, deadline=None)
@given(case=layered_cases)
def test_layered_engine_equals_reference_vjps(case):
    rng = np.random.default_rng(case["seed"])
    sizes, mb, loss = case["sizes"], case["m"], case["loss"]
    p = 3.0 if loss == "lp" else None
    net = random_net(sizes, case["activation"], case["bias"], rng)
    X, y = rng.standard_normal((mb, sizes[0])), targets(rng, loss, mb, sizes[-1])
    ref_value, ref_grad = reference_loss_and_grad(net, X, y, loss, p)
    engine, _, grad = bound(net, mb + case["spare"], loss, p)
    assert isinstance(engine, LayeredEngine) or (loss != "softmax" and sizes[::2] == [1, 1])
    assert engine(X, y) == pytest.approx(ref_value, rel=1e-12, abs=1e-300)
    assert_close(grad, ref_grad)
    assert engine.loss_only(X, y) == pytest.approx(ref_value, rel=1e-12, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(case=layered_cases)
def test_engine_gradient_passes_check_grad(case):
    rng = np.random.default_rng(case["seed"])
    sizes, mb, loss = case["sizes"], case["m"], case["loss"]
    net = random_net(sizes, case["activation"], case["bias"], rng)
    X, y = rng.standard_normal((mb, sizes[0])), targets(rng, loss, mb, sizes[-1])
    if case["activation"] == "relu":
        assume(min_abs_pre_activation(net, X) > 1e-4)
    engine, theta, grad = bound(net, mb + case["spare"], loss, 3.0 if loss == "lp" else None)

    def f(t):
        theta[:] = t
        return engine.loss_only(X, y)

    def g(t):
        theta[:] = t
        engine(X, y)
        return grad.copy()

    t0 = theta.copy()
    scale = max(1.0, float(np.linalg.norm(g(t0))))
    assert check_grad(f, g, t0, epsilon=1e-7) <= 2e-5 * scale


@settings(max_examples=30, deadline=None)
@given(case=layered_cases)
def test_residual_jacobian_matches_central_differences(case):
    rng = np.random.default_rng(case["seed"])
    sizes, mb = case["sizes"], case["m"]
    net = random_net(sizes, case["activation"], case["bias"], rng)
    X, y = rng.standard_normal((mb, sizes[0])), rng.standard_normal((mb, sizes[-1]))
    if case["activation"] == "relu":
        assume(min_abs_pre_activation(net, X) > 1e-4)
    engine, theta, _ = bound(net, mb + case["spare"])
    r, J = engine.residual_jacobian(X, y)
    h = net(X)
    np.testing.assert_allclose(r.reshape(mb, -1).ravel(), (h - y).ravel(), atol=1e-13)
    numeric, eps, t0 = np.empty_like(J), 1e-6, theta.copy()
    for i in range(theta.size):
        theta[:] = t0
        theta[i] += eps
        plus = net(X).ravel()
        theta[i] -= 2 * eps
        numeric[:, i] = (plus - net(X).ravel()) / (2 * eps)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-7)


def test_engine_sees_theta_updated_in_place():
    rng = np.random.default_rng(3)
    net = random_net([2, 6, 4, 3], "tanh", True, rng)
    X, y = rng.standard_normal((10, 2)), rng.standard_normal((10, 3))
    engine, theta, grad = bound(net, 10)
    engine(X, y)
    theta -= 0.1 * grad  # a gradient step through the vector
    fresh = MLP.from_params(*unpack(theta.copy(), net.sizes, True), activation="tanh")
    value, ref_grad = reference_loss_and_grad(fresh, X, y, "mse")
    assert engine(X, y) == pytest.approx(value, rel=1e-13)
    assert_close(grad, ref_grad)


def test_layered_workspace_keeps_steps_free_of_large_allocations():
    rng = np.random.default_rng(4)
    m, width = 512, 128
    net = random_net([3, width, width, 2], "relu", True, rng)
    X, y = rng.standard_normal((m, 3)), rng.standard_normal((m, 2))
    engine, _, _ = bound(net, m)
    engine(X, y)  # warm
    tracemalloc.start()
    try:
        engine(X, y)
        engine.loss_only(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # one m × width array is 512 KB; numpy's reductions use a 64 KB buffer and the loss
    # may allocate O(m · k) temporaries
    assert peak < m * width * 8 // 4


# ---- the fused 1→d→1 engine ------------------------------------------------------------

fused_cases = st.fixed_dictionaries(
    {
        "d": st.integers(1, 40),
        "m": st.integers(1, 40),
        "spare": st.integers(0, 5),
        "activation": st.sampled_from(list(ACTIVATIONS)),
        "loss": st.sampled_from(["mse", "lp"]),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def fused_and_layered(case, backend, rng):
    d, mb, loss = case["d"], case["m"], case["loss"]
    p = 5.0 if loss == "lp" else None
    net = random_net([1, d, 1], case["activation"], case["bias"], rng)
    x, y = rng.uniform(-2, 2, mb), rng.standard_normal(mb)
    fused, theta, grad = bound(net, mb + case["spare"], loss, p, backend)
    # an activation the compiled kernel does not have runs the numpy pass
    expected = f"fused-{fused_backend(backend, case['activation'])}"
    assert isinstance(fused, FusedEngine) and fused.name == expected
    twin = MLP.from_params(net.weights, net.biases if net.bias else None, net.activation)
    t_theta = twin.pack()
    t_grad = np.zeros_like(t_theta)
    layered = LayeredEngine(twin.sizes, twin.activation, twin.bias, mb, loss, p)
    layered.bind(*unpack(t_theta, twin.sizes, twin.bias), *unpack(t_grad, twin.sizes, twin.bias))
    return net, x, y, (fused, theta, grad), (layered, t_theta, t_grad)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(case=fused_cases)
def test_fused_engine_equals_layered_and_reference(backend, case):
    rng = np.random.default_rng(case["seed"])
    net, x, y, (fused, _, grad), (layered, _, t_grad) = fused_and_layered(case, backend, rng)
    loss, p = case["loss"], 5.0 if case["loss"] == "lp" else None
    value = fused(x, y)
    assert value == pytest.approx(layered(x[:, None], y[:, None]), rel=1e-12, abs=1e-300)
    assert_close(grad, t_grad)
    ref_value, ref_grad = reference_loss_and_grad(net, x[:, None], y[:, None], loss, p)
    assert value == pytest.approx(ref_value, rel=1e-12, abs=1e-300)
    assert_close(grad, ref_grad)
    assert fused.loss_only(x[:, None], y[:, None]) == pytest.approx(value, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(
        fused.residuals(x, y), net(x) - y, rtol=1e-12, atol=1e-12 * (1 + np.abs(y).max())
    )


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(case=fused_cases)
def test_fused_gradient_passes_check_grad(backend, case):
    rng = np.random.default_rng(case["seed"])
    net, x, y, (fused, theta, grad), _ = fused_and_layered(case, backend, rng)
    if case["activation"] == "relu":
        assume(min_abs_pre_activation(net, x[:, None]) > 1e-4)

    def f(t):
        theta[:] = t
        return fused.loss_only(x, y)

    def g(t):
        theta[:] = t
        fused(x, y)
        return grad.copy()

    t0 = theta.copy()
    scale = max(1.0, float(np.linalg.norm(g(t0))))
    assert check_grad(f, g, t0, epsilon=1e-7) <= 2e-5 * scale


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None)
@given(case=fused_cases)
def test_fused_residual_jacobian_equals_layered(backend, case):
    rng = np.random.default_rng(case["seed"])
    _, x, y, (fused, _, _), (layered, _, _) = fused_and_layered(case, backend, rng)
    r, J = fused.residual_jacobian(x, y)
    r_ref, J_ref = layered.residual_jacobian(x[:, None], y[:, None])
    assert r.shape == r_ref.shape == (x.size,) and J.shape == J_ref.shape
    # r = h - y rounds relative to |y| (and h), not to r: a near fit cancels to ~1e-4
    np.testing.assert_allclose(r, r_ref, rtol=1e-13, atol=1e-13 * (1 + np.abs(y).max()))
    assert_close(J, J_ref, 1e-13)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize(("bias", "loss"), [(True, "mse"), (False, "lp")])
def test_fused_blocks_cover_every_row(activation, bias, loss, monkeypatch):
    # batches longer than one block of either backend (numba: 256 rows forward,
    # 1024 backward; numpy: BLOCK_BYTES shrunk to 7 rows, each block with its own
    # share of the loss), and a batch below m
    monkeypatch.setattr("approx.nn.fused.BLOCK_BYTES", 8 * 5 * 7)
    rng = np.random.default_rng([5, len(activation), bias])
    net = random_net([1, 5, 1], activation, bias, rng)
    p = 3.0 if loss == "lp" else None
    for mb in (1100, 300):
        x, y = rng.uniform(-1, 1, mb), rng.standard_normal(mb)
        ref_value, ref_grad = reference_loss_and_grad(net, x[:, None], y[:, None], loss, p)
        for backend in ["numpy"] + (["numba"] if numba_available() else []):
            engine, _, grad = bound(net, 1100, loss, p, backend)
            assert engine(x, y) == pytest.approx(ref_value, rel=1e-12)
            assert_close(grad, ref_grad)


PATHS = ["layered", *BACKENDS]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize(("bias", "loss"), [(True, "mse"), (False, "lp")])
def test_every_path_matches_central_differences(path, activation, bias, loss):
    """Gradient and residual Jacobian of each path against central differences in float64."""
    rng = np.random.default_rng([12, len(activation), bias])
    net = random_net([1, 7, 1], activation, bias, rng)
    x, y = rng.uniform(-1, 1, 9), rng.standard_normal(9)
    if activation == "relu":  # ReLU kinks away from the difference stencil
        assert min_abs_pre_activation(net, x[:, None]) > 1e-3
    p = 3.0 if loss == "lp" else None
    fused = path != "layered"
    engine, theta, grad = bound(net, 12, loss, p, path if fused else None)
    if not fused:
        engine = make_engine(net, theta, grad, 12, loss, p, fused=False)
    assert engine.name == ("layered" if not fused else f"fused-{fused_backend(path, activation)}")
    engine(x, y)
    r, J = engine.residual_jacobian(x, y)
    r, J = r.copy(), J.copy()
    t0, eps = theta.copy(), 1e-6
    num_grad, num_J = np.empty_like(t0), np.empty_like(J)
    for i in range(t0.size):
        values, residuals = [], []
        for step in (eps, -eps):
            theta[:] = t0
            theta[i] += step
            values.append(engine.loss_only(x, y))
            residuals.append(engine.residuals(x, y).ravel().copy())
        num_grad[i] = (values[0] - values[1]) / (2 * eps)
        num_J[:, i] = (residuals[0] - residuals[1]) / (2 * eps)
    theta[:] = t0
    np.testing.assert_allclose(grad, num_grad, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(J, num_J, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r, net(x) - y, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_steps_allocate_no_large_arrays(backend):
    rng = np.random.default_rng(9)
    m, d = 1024, 512
    net = random_net([1, d, 1], "relu", True, rng)
    x, y = rng.uniform(-1, 1, m), rng.standard_normal(m)
    engine, _, _ = bound(net, m, backend=backend)
    engine(x, y)  # warm
    tracemalloc.start()
    try:
        engine(x, y)
        engine.loss_only(x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < m * d * 8 // 16  # an m × d array would be 4 MB


@pytest.mark.skipif(not numba_available(), reason="numba not installed (no wheel here)")
@pytest.mark.parametrize("activation", list(NUMBA_CODES))
def test_numba_and_numpy_fused_agree_to_rounding(activation):
    rng = np.random.default_rng([6, len(activation)])
    net = random_net([1, 300, 1], activation, True, rng)
    x, y = rng.uniform(-1, 1, 700), rng.standard_normal(700)
    results = []
    for backend in ("numpy", "numba"):
        engine, _, grad = bound(net, 700, "lp", 4.0, backend)
        results.append((engine(x, y), grad.copy(), engine.residuals(x, y).copy()))
    (v0, g0, r0), (v1, g1, r1) = results
    assert v1 == pytest.approx(v0, rel=1e-12)
    assert_close(g1, g0, 1e-12)
    assert_close(r1, r0, 1e-12)


@pytest.mark.skipif(not numba_available(), reason="numba not installed (no wheel here)")
def test_numba_and_numpy_agree_on_kinks_placed_at_samples():
    # relocation puts kinks at samples: b₀ = −w₀ x_j, so x_j w₀ + b₀ rounds to 0 exactly,
    # while a fused multiply–add keeps the rounding error of b₀ and flips σ'(0)
    rng = np.random.default_rng(7)
    net = random_net([1, 64, 1], "relu", True, rng)
    x, y = rng.standard_normal(200), rng.standard_normal(200)
    w0, b0 = net.weights[0][0], net.biases[0]
    b0[:] = -w0 * x[:64]
    assert np.all(x[:64] * w0 + b0 == 0.0)
    results = []
    for backend in ("numpy", "numba"):
        engine, _, grad = bound(net, 200, "mse", None, backend)
        results.append((engine(x, y), grad.copy()))
    (v0, g0), (v1, g1) = results
    assert v1 == pytest.approx(v0, rel=1e-12)
    assert_close(g1, g0, 1e-12)


# ---- choosing and naming the engine ------------------------------------------------------


def test_engine_choice_and_names(monkeypatch):
    monkeypatch.setenv("APPROX_ENGINE", "numpy")
    assert fused_backend() == "numpy"
    assert engine_name([1, 8, 1]) == "fused-numpy"
    assert engine_name([1, 8, 1], "softmax") == engine_name([2, 8, 1]) == "layered"
    net = MLP([1, 8, 1], rng=np.random.default_rng(0))
    assert bound(net, 4)[0].name == "fused-numpy"
    theta = net.pack()
    assert make_engine(net, theta, 0 * theta, 4, fused=False).name == "layered"
    monkeypatch.setenv("APPROX_ENGINE", "numbaa")
    with pytest.raises(ValueError, match="APPROX_ENGINE"):
        fused_backend()
    monkeypatch.delenv("APPROX_ENGINE")
    assert fused_backend() == ("numba" if numba_available() else "numpy")
    # numba's scalar tanh loses to numpy's SIMD one: auto keeps numpy for it
    assert fused_backend(None, "tanh") == engine_name([1, 8, 1], activation="tanh")[6:] == "numpy"
    with pytest.raises(ValueError, match="backend"):
        fused_backend("fortran")
    if not numba_available():
        with pytest.raises(ValueError, match="pip install"):
            fused_backend("numba")


def test_loss_and_grad_returns_arrays_the_caller_owns():
    rng = np.random.default_rng(7)
    for sizes in ([1, 12, 1], [2, 5, 3, 1]):
        net = random_net(sizes, "relu", True, rng)
        X, y = rng.standard_normal((9, sizes[0])), rng.standard_normal(9)
        value, (gW, gb) = net.loss_and_grad(X, y)
        kept = pack(gW, gb)
        ref_value, ref_grad = reference_loss_and_grad(net, X, y[:, None], "mse")
        assert value == pytest.approx(ref_value, rel=1e-12)
        assert_close(kept, ref_grad)
        net.loss_and_grad(2 * X, -y)  # the same cached engine, other data
        np.testing.assert_array_equal(pack(gW, gb), kept)


def test_engine_cache_keeps_few_and_small(monkeypatch):
    engine_module.clear_engine_cache()
    assert engine_module.cached_engines() == []
    rng = np.random.default_rng(8)
    net = random_net([2, 4, 1], "tanh", True, rng)
    for m in range(1, 8):
        net.loss_and_grad(rng.standard_normal((m, 2)), rng.standard_normal(m))
    keys = engine_module.cached_engines()
    assert len(keys) == engine_module.CACHE_SIZE
    assert [key[3] for key in keys] == [4, 5, 6, 7]  # the most recent batch sizes
    monkeypatch.setattr(engine_module, "CACHE_BYTES", 0)
    net.loss_and_grad(rng.standard_normal((20, 2)), rng.standard_normal(20))
    assert all(key[3] != 20 for key in engine_module.cached_engines())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sizes", [[1, 6, 1], [2, 5, 1]])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_nan_parameter_gives_a_nan_loss(backend, sizes, where):
    # training loops stop on a non-finite loss; no path may hide a NaN behind a ReLU mask
    rng = np.random.default_rng(10)
    net = random_net(sizes, "relu", True, rng)
    X, y = rng.standard_normal((8, sizes[0])), rng.standard_normal(8)
    engine, theta, _ = bound(net, 8, backend=backend)
    d = sizes[1]
    theta[[0, sizes[0] * d, sizes[0] * d + d][where]] = np.nan  # a w₀, a b₀ or a w₁ entry
    assert np.isnan(engine(X, y)) and np.isnan(engine.loss_only(X, y))


def test_loss_and_grad_from_threads_equals_serial():
    rng = np.random.default_rng(11)
    nets = [random_net(s, "tanh", True, rng) for s in ([1, 9, 1], [3, 7, 2], [1, 9, 1])]
    data = [
        (rng.standard_normal((30, n.sizes[0])), rng.standard_normal((30, n.sizes[-1])))
        for n in nets
    ]

    def run(i):
        return [pack(*nets[i].loss_and_grad(*data[i])[1]) for _ in range(50)]

    serial = [run(i)[0] for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        for i, grads in enumerate(pool.map(run, range(3))):
            for g in grads:
                np.testing.assert_array_equal(g, serial[i])
