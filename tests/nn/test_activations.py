"""The activation registry: every record's forms agree with each other and with
independent references (central differences, the float forms for the ball forms, the
compiled kernel for the numba codes)."""

import numpy as np
import pytest
from flint import arb, arb_series

from approx.arith.balls import arb_context
from approx.nn import MLP
from approx.nn import activations as act
from approx.nn.engine import fused_backend, make_engine, numba_available

# ---- the registry and its views --------------------------------------------------------


def test_every_table_is_a_view_of_the_registry():
    names = list(act.REGISTRY)
    assert names[:5] == ["relu", "sigmoid", "tanh", "cos", "identity"]  # choices keep order
    for view, field in [
        (act.ACTIVATIONS, "f"),
        (act.DERIVATIVES, "derivative"),
        (act.IN_PLACE, "in_place"),
        (act.BALL_FORMS, "ball"),
    ]:
        assert list(view) == names
        assert all(view[n] is getattr(act.REGISTRY[n], field) for n in names)
    assert act.BOUNDED == {"sigmoid", "tanh", "cos"}
    assert dict(act.NUMBA_CODES) == {"relu": 0, "sigmoid": 1, "tanh": 2, "cos": 3, "identity": 4}
    assert act.NUMBA_FASTER == ("relu", "identity")
    with pytest.raises(TypeError):
        act.ACTIVATIONS["square"] = np.square  # read-only: a new activation is a record


def test_lookup_and_record_validation():
    assert act.get_activation("tanh") is act.REGISTRY["tanh"].f is np.tanh
    with pytest.raises(ValueError, match="unknown activation 'tahn'; did you mean"):
        act.get("tahn")
    with pytest.raises(ValueError, match="numba_faster needs a numba_code"):
        act.Activation("x", np.abs, np.sign, np.negative, abs, False, numba_faster=True)


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_bounded_flag_is_exact(name):
    u = np.concatenate([np.linspace(-50, 50, 100_001), [-1e6, 1e6]])
    peak = float(np.max(np.abs(act.REGISTRY[name].f(u))))
    assert (peak <= 1.0) == act.REGISTRY[name].bounded


# ---- float forms ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_derivative_matches_central_differences(name):
    rng = np.random.default_rng([1, len(name)])
    u = rng.uniform(-6, 6, 500)
    u = u[np.abs(u) > 1e-3]  # the ReLU kink stays out of the stencil
    record, h = act.REGISTRY[name], 1e-6
    numeric = (record.f(u + h) - record.f(u - h)) / (2 * h)
    np.testing.assert_allclose(record.derivative(u, record.f(u)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(act.REGISTRY))
@pytest.mark.parametrize("with_derivative", [True, False])
def test_in_place_form_equals_the_plain_forms(name, with_derivative):
    record = act.REGISTRY[name]
    rng = np.random.default_rng([2, len(name)])
    u = np.concatenate([rng.standard_normal((7, 5)) * 4, [[0.0, -800.0, 800.0, 1e-300, -40.0]]])
    y = u.copy()
    d = np.full_like(u, np.nan) if with_derivative else None
    record.in_place(y, d)
    np.testing.assert_array_equal(y, record.f(u))
    if with_derivative:
        np.testing.assert_array_equal(d, record.derivative(u, record.f(u)))


# ---- ball forms -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_every_ball_form_encloses_its_float_form(name):
    """σ(arb(u)) holds the float σ(u) up to its rounding, and the series' slope holds σ'."""
    record = act.REGISTRY[name]
    rng = np.random.default_rng([5, len(name)])
    u = rng.uniform(-30, 30, 200)
    u = u[np.abs(u) > 1e-6]  # off the ReLU kink, where σ' is not a derivative
    y = record.f(u)
    dy = record.derivative(u, y)
    with arb_context():
        for t, value, slope in zip(u, y, dy, strict=True):
            ball = record.ball(arb(t))
            series = record.ball(arb_series([arb(t), arb(1)]))
            assert ball.is_finite() and series[0].is_finite()
            for b, v in [(ball, value), (series[0], value), (series[1], slope)]:
                assert (b + arb(0, 4e-16 * (1 + abs(v)))).contains(arb(v)), (name, t, b, v)


# ---- the compiled kernel ----------------------------------------------------------------


@pytest.mark.skipif(not numba_available(), reason="numba not installed (the fast extra)")
@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_numba_codes_are_exactly_the_kernels_activations(name):
    """An activation with a code runs the kernel's branch for it, which computes this
    record's σ; one without runs the numpy pass, whatever backend is asked for."""
    record = act.REGISTRY[name]
    compiled = record.numba_code is not None
    assert fused_backend("numba", name) == ("numba" if compiled else "numpy")
    assert fused_backend("auto", name) == ("numba" if record.numba_faster else "numpy")
    rng = np.random.default_rng([9, len(name)])
    net = MLP([1, 17, 1], name, rng=rng)
    net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    x, y = rng.standard_normal(300), rng.standard_normal(300)
    theta = net.pack()
    engine = make_engine(net, theta, np.zeros_like(theta), 300, backend="numba")
    assert engine.name == ("fused-numba" if compiled else "fused-numpy")
    hidden = act.REGISTRY[name].f(np.outer(x, net.weights[0]) + net.biases[0])
    expected = hidden @ net.weights[1][:, 0] + net.biases[1][0] - y
    np.testing.assert_allclose(engine.residuals(x, y), expected, rtol=1e-12, atol=1e-13)
