"""The piecewise-linear view of a ReLU net agrees with the dense layer."""

from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from approx.models.construct import relu_interpolant, uniform_knots
from approx.nn import MLP
from approx.nn.piecewise import PiecewiseLinear, exact_value, max_deviation, piecewise_linear
from approx.problems import targets

floats = st.floats(-3.0, 3.0, allow_nan=False)


@st.composite
def relu_nets(draw):
    """Random [1, d, 1] ReLU nets with zero weights, shared and outside breakpoints."""
    d = draw(st.integers(1, 40))
    w = np.array(draw(st.lists(st.one_of(st.just(0.0), floats), min_size=d, max_size=d)))
    b = np.array(draw(st.lists(floats, min_size=d, max_size=d)))
    if d > 1 and draw(st.booleans()):
        # copies of one unit, scaled: the same breakpoint several times
        k = draw(st.integers(1, d - 1))
        scale = draw(st.floats(0.5, 2.0))
        w[:k], b[:k] = w[-1] * scale, b[-1] * scale
    v = np.array(draw(st.lists(floats, min_size=d, max_size=d)))
    c = draw(floats)
    a = draw(st.floats(-2.0, 1.0))
    width = draw(st.floats(0.1, 3.0))
    net = MLP.from_params([w[None, :], v[:, None]], [b, [c]], activation="relu")
    return net, (a, a + width)


@settings(max_examples=100, deadline=None)
@given(relu_nets())
def test_piecewise_view_agrees_with_dense_layer(case):
    net, (a, b) = case
    pw = piecewise_linear(net, (a, b))
    assert pw.x[0] == a and pw.x[-1] == b
    assert np.all(np.diff(pw.x) > 0)
    assert pw.y.shape == pw.x.shape and pw.slopes.shape == (pw.x.size - 1,)
    x = np.concatenate([np.linspace(a, b, 1001), pw.x])
    w, bias = net.weights[0][0], net.biases[0]
    v = net.weights[1][:, 0]
    # the rounding scale of the dense sum at these points
    scale = np.abs(v) @ np.abs(np.outer(w, x) + bias[:, None]).max(axis=1) + abs(net.biases[1][0])
    assert_allclose(pw(x), net(x), rtol=0, atol=1e-12 * (1 + scale))
    # slopes are those of the dense net between breakpoints (on pieces long enough for a
    # difference quotient to mean something)
    long = np.diff(pw.x) > 1e-3 * (b - a)
    mid = 0.5 * (pw.x[:-1] + pw.x[1:])[long]
    half = 0.25 * np.diff(pw.x)[long]
    numeric = (net(mid + half) - net(mid - half)) / (2 * half)
    assert_allclose(pw.slopes[long], numeric, rtol=0, atol=1e-11 * (1 + scale) / (b - a))


def test_breakpoints_of_the_interpolant_are_its_knots():
    target = targets.get("runge")
    net = relu_interpolant(target, 33)
    pw = piecewise_linear(net, target.domain)
    x = uniform_knots(target, 33)
    assert_allclose(pw.x, x, rtol=0, atol=1e-15)
    assert_allclose(pw.y, target(x), rtol=0, atol=1e-15)
    assert pw.n_pieces == 32 and pw.domain == (-1.0, 1.0)


def test_hand_worked_net():
    # relu(x) - 2 relu(x - 1) + relu(-x) + 3 relu(0·x + 1) + 0.5 on [-2, 3]
    net = MLP.from_params(
        [[[1.0, 1.0, -1.0, 0.0]], [[1.0], [-2.0], [1.0], [3.0]]],
        [[0.0, -1.0, 0.0, 1.0], [0.5]],
    )
    pw = piecewise_linear(net, (-2.0, 3.0))
    assert_array_equal(pw.x, [-2.0, 0.0, 1.0, 3.0])
    assert_allclose(pw.y, [5.5, 3.5, 4.5, 2.5], rtol=0, atol=1e-15)
    assert_allclose(pw.slopes, [-1.0, 1.0, -1.0], rtol=0, atol=1e-15)


def test_net_without_biases():
    net = MLP([1, 3, 1], bias=False)
    net.weights = [np.array([[1.0, -2.0, 0.5]]), np.array([[1.0], [1.0], [-4.0]])]
    pw = piecewise_linear(net, (-1.0, 1.0))
    x = np.linspace(-1, 1, 11)
    assert_allclose(pw(x), net(x), rtol=0, atol=1e-15)
    assert_array_equal(pw.x, [-1.0, 0.0, 1.0])


def test_evaluation_through_breakpoints_is_np_interp():
    pw = PiecewiseLinear(
        np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 0.0]), np.array([2.0, -1.0])
    )
    assert_allclose(pw(np.array([0.5, 2.0])), [1.0, 1.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("net", "domain", "error", "match"),
    [
        (np.zeros(3), (0, 1), TypeError, "net must be an approx.nn.MLP, got ndarray"),
        (MLP([1, 1]), (0, 1), ValueError, r"sizes \[1, ..., 1\] with a hidden layer, got \[1, 1\]"),
        (MLP([2, 3, 1]), (0, 1), ValueError, r"with a hidden layer, got \[2, 3, 1\]"),
        (MLP([1, 3, 1], activation="tanh"), (0, 1), ValueError, "ReLU net, got activation"),
        (MLP([1, 3, 1]), (1, 0), ValueError, "a < b"),
        (MLP([1, 3, 1]), (0, np.inf), ValueError, "finite"),
        (MLP([1, 3, 1]), "ab", ValueError, "pair of finite numbers"),
    ],
)
def test_bad_input_is_refused(net, domain, error, match):
    with pytest.raises(error, match=match):
        piecewise_linear(net, domain)


@st.composite
def deep_relu_nets(draw):
    """Random [1, k1, k2(, k3), 1] ReLU nets with small integer-free weights."""
    depth = draw(st.integers(2, 3))
    sizes = [1] + [draw(st.integers(1, 5)) for _ in range(depth)] + [1]
    weights = [np.array(draw(st.lists(floats, min_size=m * n, max_size=m * n))).reshape(m, n)
               for m, n in pairwise(sizes)]
    biases = [np.array(draw(st.lists(floats, min_size=n, max_size=n))) for n in sizes[1:]]
    return MLP.from_params(weights, biases, activation="relu")


@settings(max_examples=60, deadline=None)
@given(deep_relu_nets())
def test_deep_piecewise_view_equals_the_dense_forward_pass(net):
    a, b = -1.5, 2.0
    pw = piecewise_linear(net, (a, b))
    assert pw.x[0] == a and pw.x[-1] == b and np.all(np.diff(pw.x) > 0)
    x = np.concatenate([np.linspace(a, b, 2001), pw.x])
    # rounding scale of the dense pass: products of absolute weights through the layers
    scale = 1.0
    for w, bias in zip(net.weights, net.biases, strict=True):
        scale = scale * np.abs(w).sum(axis=0).max() * 3.5 + np.abs(bias).max()
    assert_allclose(pw(x), net(x[:, None]).ravel(), rtol=0, atol=1e-12 * (1 + scale))
    # and the exact value at a point agrees with both
    for xi in x[::97]:
        exact = float(exact_value(net, float(xi)).mid())
        assert abs(exact - float(net(np.array([[xi]]))[0, 0])) <= 1e-12 * (1 + scale)


def test_breakpoints_rounding_to_a_float_are_covered_by_the_slack():
    # two units whose exact breakpoints -b/w differ but round to one float
    w = np.array([3.0, 7.0])
    t = 0.1
    b = np.array([-np.nextafter(3 * t, 1.0), -7 * t])
    net = MLP.from_params([w[None, :], np.array([[1e8], [-1e8]])], [b, [0.0]])
    pw = piecewise_linear(net, (0.0, 1.0))
    assert np.all(pw.slack >= 0)
    assert 1e-12 < pw.slack.max() < 1e-6


def test_wide_deep_nets_pieces_enclose_the_exact_function():
    # depth 3, width 128 (float pieces: past the exact budget): every piece's line with
    # its radii encloses the net's exact function (Fractions of the stored floats, an
    # independent forward pass) at a rational point inside it
    rng = np.random.default_rng(0)
    sizes = [1, 128, 128, 128, 1]
    weights = [rng.normal(0, np.sqrt(2 / m), (m, n)) for m, n in pairwise(sizes)]
    weights[0] *= 3
    biases = [rng.normal(0, 0.3, n) for n in sizes[1:]]
    net = MLP.from_params(weights, biases, activation="relu")
    pw = piecewise_linear(net, (-1.0, 1.0))
    W = [[[Fraction(float(v)) for v in row] for row in w] for w in net.weights]
    B = [[Fraction(float(v)) for v in bias] for bias in net.biases]

    def exact(x):
        z = [x]
        for layer, (w, bias) in enumerate(zip(W, B, strict=True)):
            out = [bias[k] + sum(z[i] * w[i][k] for i in range(len(z))) for k in range(len(bias))]
            z = out if layer == len(W) - 1 else [max(v, Fraction(0)) for v in out]
        return z[0]

    for j in range(0, pw.x.size - 1, max(1, pw.x.size // 6)):
        left, right = Fraction(float(pw.x[j])), Fraction(float(pw.x[j + 1]))
        x = left + (right - left) / 3
        line = Fraction(float(pw.y[j])) + Fraction(float(pw.slopes[j])) * (x - left)
        tol = pw.y_err[j] + pw.slope_err[j] * float(right - left) + pw.slack[j]
        assert abs(float(exact(x) - line)) <= tol * (1 + 1e-9) + 1e-300


def test_the_pieces_of_a_net_are_kept_read_only_and_follow_its_weights():
    """Asked again for the same weights and domain, the same (read-only) pieces; after
    the weights change in place, new pieces that match the net."""
    from approx.nn import piecewise as pwmod

    net = MLP([1, 6, 1], rng=np.random.default_rng(5))
    first = pwmod.piecewise_linear(net, (-1.0, 1.0))
    assert pwmod.piecewise_linear(net, (-1.0, 1.0)) is first
    assert not first.x.flags.writeable and not first.y.flags.writeable
    assert pwmod.piecewise_linear(net, (-1.0, 0.5)) is not first
    net.weights[1][:] *= 2.0  # in place: the same arrays, other bits
    again = pwmod.piecewise_linear(net, (-1.0, 1.0))
    assert again is not first
    x = np.linspace(-1.0, 1.0, 101)
    np.testing.assert_allclose(again(x), net(x).ravel(), rtol=1e-12, atol=1e-12)


_finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_finite, min_size=2, max_size=30, unique=True),
    st.data(),
)
def test_max_deviation_is_numpys_interpolation_bit_for_bit(knots, data):
    import numba  # noqa: F401  (loaded: the compiled pass runs)

    x = np.sort(np.array(knots))
    y = np.array(data.draw(st.lists(_finite, min_size=x.size, max_size=x.size)))
    pw = PiecewiseLinear(x=x, y=y, slopes=np.zeros(x.size - 1))  # (not read)
    # points inside, outside, on the breakpoints, sorted or not
    inside = data.draw(st.lists(st.floats(float(x[0]), float(x[-1])), max_size=20))
    around = data.draw(st.lists(_finite, max_size=10))
    on = data.draw(st.lists(st.sampled_from(list(x)), max_size=10))
    t = np.array(inside + around + on + [float(x[0])])
    if data.draw(st.booleans()):
        t = np.sort(t)
    v = np.array(data.draw(st.lists(_finite, min_size=t.size, max_size=t.size)))
    expected = float(np.max(np.abs(np.interp(t, x, y) - v)))
    assert pw.max_deviation(t, v) == expected


def test_max_deviation_propagates_nan_as_numpy():
    import numba  # noqa: F401

    pw = PiecewiseLinear(x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0]), slopes=np.array([1.0]))
    assert np.isnan(pw.max_deviation(np.array([0.5, np.nan]), np.array([0.0, 0.0])))
    assert np.isnan(pw.max_deviation(np.array([0.5, 0.7]), np.array([np.nan, 0.0])))
    assert pw.max_deviation(np.array([-3.0, 0.25, 2.0]), np.array([0.0, 1.0, 0.0])) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_a_nets_max_deviation_is_its_pieces_bit_for_bit(width, seed, bias):
    rng = np.random.default_rng(seed)
    net = MLP([1, width, 1], activation="relu", bias=bias, rng=rng)
    net.weights[0][0, : width // 3] = 0.0  # constant units
    if bias:
        net.biases[0][:] = rng.uniform(-2.0, 2.0, width)
        net.biases[0][-1] = -net.weights[0][0, -1]  # a breakpoint on the domain's end
    t = np.linspace(-1.5, 1.5, 301)
    v = np.sin(3.0 * t)
    pieces = piecewise_linear(net, (-1.0, 1.0))
    assert max_deviation(net, (-1.0, 1.0), t, v) == pieces.max_deviation(t, v)
    assert pieces.max_deviation(t, v) == float(np.max(np.abs(pieces(t) - v)))


def test_max_deviation_checks_the_net_as_piecewise_linear():
    net = MLP([1, 3, 1], activation="tanh", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="ReLU"):
        max_deviation(net, (-1.0, 1.0), np.zeros(2), np.zeros(2))
