"""Smooth nets of any depth as certified cells: the elementary functions in floats with
rigorous bounds, the Taylor coefficients of a net at points and over cells, and the
enclosure of the max error, all against 50-digit references computed with mpmath from
the net's exact float weights (not the package's own code)."""

import itertools

import mpmath as mp
import numpy as np
import pytest

from approx.analysis.errors import max_error_at
from approx.certify.adapters import cells_for
from approx.certify.elementary import (
    exp_bounded,
    logistic_bounded,
    softplus_bounded,
    tanh_bounded,
)
from approx.certify.smooth_nets import SMOOTH, SmoothNetPolys, smooth_fit
from approx.nn import MLP
from approx.nn.activations import REGISTRY
from approx.problems.targets import from_expr

mp.mp.dps = 50

REFERENCE = {
    "tanh": mp.tanh,
    "sigmoid": lambda u: 1 / (1 + mp.exp(-u)),
    "cos": mp.cos,
    "softplus": lambda u: mp.log(1 + mp.exp(u)),
    "identity": lambda u: u,
}


def arguments() -> np.ndarray:
    rng = np.random.default_rng(3)
    special = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 0.5, -0.5, 0.34657359027997264]
    special += [700.0, -700.0, 745.2, -745.2, 800.0, -800.0, 1e308, -1e308, 20.0, -20.0]
    return np.concatenate([rng.normal(0, 3, 400), rng.normal(0, 200, 100), special])


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (lambda u: exp_bounded(-np.abs(u)), lambda u: mp.exp(-abs(u))),
        (lambda u: exp_bounded(np.clip(u, -50, 1)), lambda u: mp.exp(min(max(u, -50), 1))),
        (logistic_bounded, REFERENCE["sigmoid"]),
        (tanh_bounded, mp.tanh),
        (softplus_bounded, REFERENCE["softplus"]),
    ],
)
def test_elementary_functions_are_enclosed(fn, ref):
    u = arguments()
    value, error = fn(u)[:2]
    for x, v, e in zip(u, value, error, strict=True):
        exact = ref(mp.mpf(float(x)))
        assert abs(mp.mpf(float(v)) - exact) <= e, (x, v, e)
        # and tight: a few rounding units (at most 18) of the value's size
        assert e <= 2e-15 * max(1.0, abs(float(exact))), (x, e)


def test_exp_refuses_what_it_does_not_cover():
    _, error = exp_bounded(np.array([2.0, np.nan, np.inf]))
    assert np.all(np.isinf(error))


def the_smooth_activations():
    """Every activation of the registry but the piecewise-linear relu."""
    return sorted(name for name in REGISTRY if name != "relu")


def test_every_smooth_activation_of_the_registry_is_covered():
    assert set(the_smooth_activations()) <= SMOOTH


def random_net(sizes, activation, rng, scale=2.0):
    weights = [rng.normal(0, scale, (a, b)) for a, b in itertools.pairwise(sizes)]
    biases = [rng.normal(0, 1, b) for b in sizes[1:]]
    return MLP.from_params(weights, biases, activation=activation)


def reference_net(net):
    weights = [[[mp.mpf(float(v)) for v in row] for row in w] for w in net.weights]
    biases = [[mp.mpf(float(v)) for v in b] for b in net.biases]
    sigma = REFERENCE[net.activation]

    def f(t):
        z = [t]
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            out = [b[k] + sum(z[i] * w[i][k] for i in range(len(z))) for k in range(len(b))]
            z = out if layer == len(weights) - 1 else [sigma(v) for v in out]
        return z[0]

    return f


@pytest.mark.parametrize("activation", the_smooth_activations())
@pytest.mark.parametrize("sizes", [[1, 5, 1], [1, 3, 3, 3, 1]])
def test_coefficients_are_enclosed_at_points_and_over_cells(activation, sizes):
    rng = np.random.default_rng(len(sizes) * 7 + len(activation))
    net = random_net(sizes, activation, rng)
    polys = SmoothNetPolys(net, (-1.0, 2.0))
    f = reference_net(net)
    xs = rng.uniform(-1, 2, 2)
    series = [mp.taylor(f, mp.mpf(float(x)), 5) for x in xs]
    for k in range(6):
        value, error = polys.at(xs, None, k)
        for j in range(xs.size):
            assert abs(mp.mpf(float(value[j])) - series[j][k]) <= error[j], (k, xs[j])
    lo, hi = np.array([0.1, -1.0]), np.array([0.3, -0.9])
    for k in (0, 2, 6):
        bound = polys.bound(lo, hi, None, k)
        for c in range(2):
            for x in np.linspace(lo[c], hi[c], 3):
                assert abs(mp.taylor(f, mp.mpf(float(x)), k)[k]) <= bound[c], (k, x)


def test_smooth_nets_take_their_own_cells():
    rng = np.random.default_rng(0)
    for activation in the_smooth_activations():
        net = random_net([1, 4, 4, 1], activation, rng)
        assert smooth_fit(net, (-1.0, 1.0))
        assert isinstance(cells_for(net, (-1.0, 1.0), 1 << 22).polys, SmoothNetPolys)
    assert not smooth_fit(random_net([1, 4, 1], "relu", rng), (-1.0, 1.0))


@pytest.mark.parametrize("activation", the_smooth_activations())
def test_smooth_nets_are_certified_tight(activation):
    # the reference: a dense grid in mpmath refined around its best point lies below
    # upper; value is attained (exactly at x) and within the tolerance of upper
    rng = np.random.default_rng(11)
    net = random_net([1, 6, 6, 1], activation, rng, scale=1.0)
    target = from_expr("sin(5*x)*exp(-x**2)", (-1.0, 1.0))
    r = max_error_at(target, net)
    assert r.tight and r.upper - r.value <= max(1e-9 * r.value, 1e-13)
    f = reference_net(net)

    def err(x):
        x = mp.mpf(float(x))
        return abs(mp.sin(5 * x) * mp.exp(-(x**2)) - f(x))

    assert err(r.x) >= mp.mpf(r.value)
    # the grid's best point located in floats, the values around it in mpmath
    grid = np.linspace(-1, 1, 20001)
    best = grid[np.argmax(np.abs(np.sin(5 * grid) * np.exp(-(grid**2)) - net(grid)))]
    fine = np.linspace(max(best - 1e-4, -1), min(best + 1e-4, 1), 21)
    assert max(float(err(x)) for x in fine) <= r.upper


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "cos", "softplus"])
def test_wide_deep_smooth_nets_are_tight(activation):
    rng = np.random.default_rng(0)
    sizes = [1, 256, 256, 256, 1]
    weights = [rng.normal(0, 1.5 / np.sqrt(a), (a, b)) for a, b in itertools.pairwise(sizes)]
    weights[0] *= 3
    biases = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    net = MLP.from_params(weights, biases, activation=activation)
    target = from_expr("sin(5*x)*exp(-x**2)", (-1.0, 1.0))
    r = max_error_at(target, net)
    assert r.tight and r.upper - r.value <= 1e-9 * r.value
