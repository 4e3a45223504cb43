"""Exact ±ReLU interpolants, knot placement, random-feature nets and their refusals."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from approx.analysis.errors import max_error
from approx.models.construct import (
    ADAPTIVE_FLOOR,
    adaptive_knots,
    random_features,
    relu_interpolant,
    uniform_knots,
)
from approx.problems import targets
from approx.problems.targets import Target, from_expr

KNOTS = {"uniform": uniform_knots, "adaptive": adaptive_knots}


@st.composite
def smooth_targets(draw):
    """``A sin(ωx + φ) + c e^{βx} + p(x)`` on a random interval, with its exact ``f''``."""
    a = draw(st.floats(-3.0, 2.0))
    width = draw(st.floats(0.25, 3.0))
    amp = draw(st.floats(-2.0, 2.0))
    omega = draw(st.floats(0.1, 6.0))
    phase = draw(st.floats(0.0, 2 * np.pi))
    c = draw(st.floats(-1.0, 1.0))
    beta = draw(st.floats(-1.5, 1.5))
    poly = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=4)))
    d2_poly = np.polyder(poly, 2) if poly.size > 2 else np.zeros(1)

    def f(x):
        return amp * np.sin(omega * x + phase) + c * np.exp(beta * x) + np.polyval(poly, x)

    def d2(x):
        return (
            -amp * omega**2 * np.sin(omega * x + phase)
            + c * beta**2 * np.exp(beta * x)
            + np.polyval(d2_poly, x)
        )

    return Target("random-smooth", f, (a, a + width), d2=d2)


def check_interpolant(target, d, knots, n_points=100_000):
    """The net has the pure ±ReLU form and equals np.interp through its knots."""
    net = relu_interpolant(target, d, knots=knots)
    assert net.sizes == [1, d, 1]
    assert net.activation == "relu"
    assert_array_equal(np.abs(net.weights[1]), 1.0)
    assert_array_equal(net.biases[1], 0.0)
    assert np.all(net.weights[0] >= 0)

    x_knots = KNOTS[knots](target, d)
    assert x_knots.shape == (d,)
    a, b = target.domain
    assert x_knots[0] == a and x_knots[-1] == b
    assert np.all(np.diff(x_knots) > 0)
    y_knots = target(x_knots)
    x = np.random.default_rng(d).uniform(a, b, n_points)
    x = np.concatenate([x, x_knots])
    scale = float(np.max(np.abs(target(np.linspace(a, b, 1001)))))
    assert_allclose(net(x), np.interp(x, x_knots, y_knots), rtol=0, atol=1e-11 * scale)


@settings(max_examples=25, deadline=None)
@given(
    target=smooth_targets(),
    d=st.one_of(st.integers(2, 64), st.integers(65, 4096)),
    knots=st.sampled_from(["uniform", "adaptive"]),
)
@example(target=targets.get("sin2pi"), d=2, knots="uniform")
@example(target=targets.get("tanh10"), d=4096, knots="adaptive")
def test_interpolant_equals_piecewise_linear_interpolation(target, d, knots):
    check_interpolant(target, d, knots)


@pytest.mark.parametrize("name", targets.names())
@pytest.mark.parametrize("knots", ["uniform", "adaptive"])
@pytest.mark.parametrize("d", [2, 3, 1000])
def test_interpolant_on_builtins(name, knots, d):
    check_interpolant(targets.get(name), d, knots, n_points=20_000)


def test_interpolant_of_a_line_is_exact_and_zero_target_gives_zero_net():
    line = from_expr("3*x - 2", (0.5, 4.0))
    net = relu_interpolant(line, 7, knots="adaptive")  # f'' = 0: falls back to uniform
    x = np.linspace(0.5, 4.0, 101)
    assert_allclose(net(x), 3 * x - 2, rtol=0, atol=1e-13)
    zero = from_expr("0*x", (-1, 1))
    assert_array_equal(relu_interpolant(zero, 5)(x - 2.25), 0.0)


def test_hand_worked_three_knots():
    # |x| on [-1, 1] at knots -1, 0, 1: slopes -1 then +1, f(a) = 1, L = 2
    net = relu_interpolant(from_expr("abs(x)", (-1, 1)), 3)
    # offset unit: 1·(x + 3)/2; ramp at -1 with slope -1 - 1/2; ramp at 0 with change +2
    assert_allclose(net.weights[0][0], [0.5, 1.5, 2.0], rtol=0, atol=1e-15)
    assert_allclose(net.biases[0], [1.5, 1.5, 0.0], rtol=0, atol=1e-15)
    assert_array_equal(net.weights[1][:, 0], [1.0, -1.0, 1.0])
    x = np.linspace(-1, 1, 9)
    assert_allclose(net(x), np.abs(x), rtol=0, atol=1e-15)


def test_uniform_knots_are_equally_spaced():
    x = uniform_knots(targets.get("exp"), 5)
    assert_allclose(x, [-1.0, -0.5, 0.0, 0.5, 1.0], rtol=0, atol=1e-15)


def test_adaptive_knots_crowd_where_f_bends():
    x = adaptive_knots(targets.get("tanh10"), 65)
    gaps = np.diff(x)
    # tanh(10x) bends near 0 and is flat near ±1
    assert gaps[31] < gaps[0] / 5 and gaps[32] < gaps[-1] / 5
    # symmetric target, symmetric knots (to the grid's rounding)
    assert_allclose(x, -x[::-1], rtol=0, atol=1e-9)
    # abs15: f'' is infinite at 0, yet the knots are finite and crowd there
    y = adaptive_knots(targets.get("abs15"), 64)
    assert np.all(np.isfinite(y)) and np.all(np.diff(y) > 0)
    assert np.diff(y)[31] < np.diff(y)[0] / 4


def test_adaptive_knots_keep_a_floor_in_flat_regions():
    # f = 2x³ on [0, 1] and f = 0 on [-1, 0]: √|f''| has no mass on the left half
    target = from_expr("abs(x)**3 + x**3", (-1, 1))
    d = 64
    x = adaptive_knots(target, d)
    assert np.sum(x < 0) >= 2
    # each cell carries ≥ floor · mean density · width, so no gap exceeds this
    h = 2 / (d - 1)
    assert np.diff(x).max() <= (1 + ADAPTIVE_FLOOR) / ADAPTIVE_FLOOR * h


@pytest.mark.parametrize("features", ["fourier", "relu"])
def test_random_features_shape_and_error_falls(features):
    target = targets.get("sin2pi")
    errors = []
    for d in (8, 64):
        net = random_features(target, d, features, rng=np.random.default_rng(0))
        assert net.sizes == [1, d, 1]
        assert net.activation == {"fourier": "cos", "relu": "relu"}[features]
        errors.append(max_error(target, net))
    assert errors[1] < errors[0] / 5


@pytest.mark.parametrize("features", ["fourier", "relu"])
def test_random_features_reproducible_bit_for_bit(features):
    target = targets.get("runge")

    def arrays(seed):
        net = random_features(target, 32, features, rng=np.random.default_rng(seed))
        return net.to_arrays()

    first, again, other = arrays(7), arrays(7), arrays(8)
    for key in first:
        assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["W0"], other["W0"])
    assert not np.array_equal(first["W1"], other["W1"])


def test_random_relu_features_have_unit_directions_and_breakpoints_inside():
    target = targets.get("exp").with_domain((2.0, 5.0))
    net = random_features(target, 50, "relu", rng=np.random.default_rng(3))
    w, b = net.weights[0][0], net.biases[0]
    assert_array_equal(np.abs(w), 1.0)
    assert np.all((-b / w >= 2.0) & (-b / w <= 5.0))


def test_random_features_fit_includes_output_bias():
    # a constant target is fitted by the output bias alone
    target = from_expr("0*x + 5", (-1, 1))
    net = random_features(target, 4, "relu", rng=np.random.default_rng(0))
    assert_allclose(net(np.linspace(-1, 1, 11)), 5.0, rtol=0, atol=1e-9)


EXP = targets.get("exp")
RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: relu_interpolant(EXP, 1), ValueError, "d must be an integer ≥ 2, got 1"),
        (lambda: relu_interpolant(EXP, 0), ValueError, "d must be an integer ≥ 2, got 0"),
        (lambda: relu_interpolant(EXP, -4), ValueError, "d must be an integer ≥ 2, got -4"),
        (lambda: relu_interpolant(EXP, 2.0), TypeError, "d must be an integer, got float"),
        (lambda: relu_interpolant(EXP, True), TypeError, "d must be an integer, got bool"),
        (lambda: relu_interpolant(EXP, "8"), TypeError, "d must be an integer, got str"),
        (
            lambda: relu_interpolant(EXP, 8, knots="chebyshev"),
            ValueError,
            "unknown knots 'chebyshev'; known: uniform, adaptive",
        ),
        (lambda: relu_interpolant(EXP, 8, knots=None), ValueError, "unknown knots None"),
        (
            lambda: relu_interpolant(np.exp, 8),
            TypeError,
            "target must be an approx.problems.targets",
        ),
        (lambda: uniform_knots(EXP, 1), ValueError, "d must be an integer ≥ 2"),
        (lambda: adaptive_knots(EXP, np.float64(5)), TypeError, "d must be an integer"),
        (lambda: random_features(EXP, 0, rng=RNG), ValueError, "d must be an integer ≥ 1, got 0"),
        (lambda: random_features(EXP, 3.5, rng=RNG), TypeError, "d must be an integer"),
        (lambda: random_features(EXP, False, rng=RNG), TypeError, "got bool"),
        (
            lambda: random_features(EXP, 8, "rbf", rng=RNG),
            ValueError,
            "unknown features 'rbf'; known: fourier, relu",
        ),
        (
            lambda: random_features(EXP, 8, rng=0),
            TypeError,
            "rng must be a numpy.random.Generator, got int",
        ),
        (lambda: random_features(EXP, 8, rng=None), TypeError, "got NoneType"),
        (
            lambda: random_features(EXP, 8, rng=np.random.RandomState(0)),
            TypeError,
            "got RandomState",
        ),
        (
            lambda: random_features(EXP, 8, rng=RNG, n_samples=1),
            ValueError,
            "n_samples must be an integer ≥ 2, got 1",
        ),
        (
            lambda: random_features(EXP, 8, rng=RNG, n_samples=100.0),
            TypeError,
            "n_samples must be an integer",
        ),
    ],
)
def test_bad_input_is_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_integer_widths_are_accepted():
    net = relu_interpolant(EXP, np.int64(4))
    assert net.sizes == [1, 4, 1]
