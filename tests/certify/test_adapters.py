"""One certification adapter per model kind, and every kind has one."""

import itertools

import numpy as np
import pytest

from approx import analysis
from approx.certify.adapters import ADAPTERS, cells_for, scaled_model
from approx.models import model_types
from approx.models.baselines import chebyshev, cubic_spline
from approx.models.construct import relu_interpolant
from approx.nn import MLP
from approx.problems import targets


def test_every_model_kind_has_an_adapter():
    kinds = {loader.__self__ for loader in model_types().values()}
    assert kinds == set(ADAPTERS)


@pytest.mark.parametrize(
    "build",
    [
        lambda f: relu_interpolant(f, 9),
        lambda f: chebyshev(f, 9),
        lambda f: cubic_spline(f, 9),
    ],
)
def test_cells_enclose_the_model_at_its_own_points(build):
    f = targets.get("runge")
    model = build(f)
    cells = cells_for(model, f.domain, 2**22)
    assert cells is not None
    x = np.linspace(*f.domain, 7)
    for xi in x:
        exact = cells.exact(float(xi))
        assert exact.contains(float(model(np.array([xi]))[0])) or abs(
            float(exact.mid()) - float(model(np.array([xi]))[0])
        ) <= 1e-14
    assert analysis.max_error_at(f, model).upper < np.inf


@pytest.mark.parametrize(
    "build",
    [
        lambda f: relu_interpolant(f, 9),
        lambda f: chebyshev(f, 9),
        lambda f: cubic_spline(f, 9),
    ],
)
def test_a_model_scaled_by_a_power_of_two_is_exactly_scaled(build):
    f = targets.get("runge")
    model = build(f)
    s = 2.0**-600
    scaled = scaled_model(model, s)
    assert scaled is not None and scaled is not model
    for xi in np.linspace(*f.domain, 7):
        exact, exact_s = cells_for(model, f.domain, 2**22), cells_for(scaled, f.domain, 2**22)
        assert exact is not None and exact_s is not None
        # the real functions, from the stored floats: s times exactly
        assert (exact.exact(float(xi)) * s).mid() == exact_s.exact(float(xi)).mid()
    # a parameter that would round (here, underflow to a subnormal) refuses the scaling
    third = MLP.from_params([[[1.0]], [[1 / 3]]], [[0.0], [0.0]])
    assert scaled_model(third, 2.0**-1070) is None
    assert scaled_model(third, 2.0**-1000) is not None


def test_a_model_kind_without_adapter_gets_no_cells():
    class Constant:
        n_params = 1

        def __call__(self, x):
            return np.zeros_like(x)

    assert cells_for(Constant(), (0.0, 1.0), 2**22) is None
    assert cells_for(MLP([2, 3, 1]), (0.0, 1.0), 2**22) is None  # not a scalar function


@pytest.mark.parametrize("width", [128, pytest.param(256, marks=pytest.mark.slow)])
def test_wide_deep_relu_nets_are_certified_tight(width):
    # depth 3: exact pieces (no more work cap on the rational pieces, no Arb fallback
    # with upper = inf); the value is attained and upper within the tolerance
    rng = np.random.default_rng(1)
    sizes = [1, width, width, width, 1]
    weights = [rng.normal(0, np.sqrt(2 / m), (m, n)) for m, n in itertools.pairwise(sizes)]
    weights[0] *= 3
    biases = [rng.normal(0, 0.3, n) for n in sizes[1:]]
    net = MLP.from_params(weights, biases, activation="relu")
    target = targets.from_expr("sin(5*x)*exp(-x**2)", (-1.0, 1.0))
    r = analysis.max_error_at(target, net)
    assert np.isfinite(r.upper) and r.tight
    assert r.upper - r.value <= 1e-9 * r.value
    x = np.linspace(-1, 1, 100_001)
    assert np.max(np.abs(target(x) - net(x[:, None]).ravel())) <= r.upper * (1 + 1e-12)
