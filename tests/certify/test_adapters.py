"""One certification adapter per model kind, and every kind has one."""

import itertools
from fractions import Fraction

import numpy as np
import pytest

from approx import analysis
from approx.certify.adapters import ADAPTERS, cells_for, rescaled_inputs, scaled_model
from approx.models import model_types
from approx.models.baselines import SplineModel, chebyshev, cubic_spline
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


@pytest.mark.parametrize(
    "build",
    [
        lambda f: relu_interpolant(f, 9),
        lambda f: chebyshev(f, 9),
        lambda f: cubic_spline(f, 9),
    ],
)
@pytest.mark.parametrize("s", [2.0**-600, 2.0**500])
def test_a_model_read_in_scaled_x_is_exactly_the_same_function(build, s):
    f = targets.get("runge")
    model = build(f)
    moved = rescaled_inputs(model, s)
    assert moved is not None and moved is not model
    a, b = f.domain
    cells = cells_for(model, f.domain, 2**22)
    moved_cells = cells_for(moved, (a * s, b * s), 2**22)
    assert cells is not None and moved_cells is not None
    for xi in np.linspace(a, b, 7):
        # the real functions, from the stored floats: the same value at x and at s x
        assert cells.exact(float(xi)).mid() == moved_cells.exact(float(xi) * s).mid()
    # a weight that would round (overflow) refuses the reading
    huge = MLP.from_params([[[1e300]], [[1.0]]], [[0.0], [0.0]])
    assert rescaled_inputs(huge, 2.0**-100) is None
    # so does one that would become subnormal (every later product would lose bits: "x"
    # on [0, 5e-324] took 8 s to the work cap that way, against 5 ms as it is)
    unit = MLP.from_params([[[0.0, 1.0]], [[1.0], [1.0]]], [[0.0, 0.0], [0.0]])
    assert rescaled_inputs(unit, 2.0**1023) is None
    assert rescaled_inputs(unit, 2.0**1022) is not None


def _spline_exactly(model: SplineModel, x: float) -> Fraction:
    """The spline's real function at ``x``, in rationals from its stored cubics."""
    knots, coef, scale = model.cubics()
    j = int(np.clip(np.searchsorted(knots, x, side="right") - 1, 0, knots.size - 2))
    lo, hi = Fraction(float(knots[j])), Fraction(float(knots[j + 1]))
    t = (Fraction(x) - lo) / (hi - lo)
    return Fraction(scale) * sum(Fraction(float(c)) * t**k for k, c in enumerate(coef[j]))


@pytest.mark.parametrize("centre", [1.5, 1e-134, 1e300, 3e-320])
def test_spline_cells_enclose_its_cubics_on_cells_a_float_wide(centre):
    # eight floats from the centre: the cubics per unit of x reach 1e450 near 1e-134,
    # where the cells' polynomials (about each knot, with radii) must still enclose them
    knots = [centre]
    for _ in range(7):
        knots.append(float(np.nextafter(knots[-1], np.inf)))
    model = SplineModel(knots, [1.0, 0.5625, 0.25, 0.0625, 0.0625, 0.25, 0.5625, 1.0])
    assert np.all(np.isfinite(model.cubics()[1]))
    polys = cells_for(model, (knots[0], knots[-1]), 2**22).polys
    for j, x in enumerate(knots[:-1]):
        mid = float(knots[j]) + (float(knots[j + 1]) - float(knots[j])) / 2
        for xi in (x, mid):
            i = np.array([j])
            value, err = polys.at(np.array([xi]), i, 0)
            if np.isfinite(err[0]):
                exact = _spline_exactly(model, xi)
                assert abs(Fraction(float(value[0])) - exact) <= Fraction(float(err[0]))


def test_a_spline_past_the_largest_float_is_non_finite_with_an_exact_value():
    # ±1.7e308 at the knots: between them the cubics overshoot the largest float. The
    # real function is finite but its sup is not a float: upper inf, "non-finite", and
    # value |e(x)| at x, exact and rounded down (here to the largest float), never NaN
    model = SplineModel(np.linspace(0.0, 1.0, 6), [1.7e308, -1.7e308] * 3)
    found = analysis.max_error_at(targets.from_expr("0*x", (0.0, 1.0)), model)
    assert found.upper == np.inf and found.reason == "non-finite"
    assert np.isfinite(found.value) and 0 < found.value
    assert Fraction(found.value) <= abs(_spline_exactly(model, found.x))


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
