"""Chebyshev and spline references: interpolation, convergence, parameter counts, saving."""

import numpy as np
import pytest
from numpy.polynomial import chebyshev as C
from numpy.testing import assert_allclose, assert_array_equal
from scipy.interpolate import CubicSpline

from approx.analysis.errors import max_error
from approx.models import load_model, save_model
from approx.models.baselines import ChebyshevModel, SplineModel, chebyshev, cubic_spline
from approx.problems import targets
from approx.problems.targets import from_expr

EXP = targets.get("exp")


def test_chebyshev_interpolates_at_chebyshev_points():
    target = targets.get("runge").with_domain((-2.0, 3.0))
    d = 21
    model = chebyshev(target, d)
    assert model.n_params == d and model.coef.shape == (d,)
    t = C.chebpts1(d)
    x = 0.5 + 2.5 * t
    assert_allclose(model(x), target(x), rtol=0, atol=1e-14)


def test_chebyshev_matches_numpy_interpolation():
    model = chebyshev(EXP, 12)
    assert_allclose(model.coef, C.Chebyshev.interpolate(np.exp, 11).coef, rtol=0, atol=1e-14)


def test_chebyshev_reproduces_polynomials_of_degree_d_minus_1():
    cubic = from_expr("2*x**3 - x + 4", (1.0, 2.5))
    x = np.linspace(1.0, 2.5, 101)
    assert_allclose(chebyshev(cubic, 4)(x), cubic(x), rtol=0, atol=1e-12)


def test_spline_interpolates_and_is_not_a_knot():
    target = targets.get("tanh10")
    model = cubic_spline(target, 17)
    knots = np.linspace(-1, 1, 17)
    assert model.n_params == 17
    assert_allclose(model(knots), target(knots), rtol=0, atol=1e-15)
    reference = CubicSpline(knots, target(knots), bc_type="not-a-knot")
    x = np.linspace(-1, 1, 1001)
    assert_allclose(model(x), reference(x), rtol=0, atol=1e-15)
    # not-a-knot reproduces a cubic exactly, whatever the end derivatives
    cubic = from_expr("x**3 - 2*x**2 + 3", (0, 2))
    assert_allclose(cubic_spline(cubic, 5)(x + 1), cubic(x + 1), rtol=0, atol=1e-13)


@pytest.mark.parametrize("centre", [1.0, 1e-134, 1e300, -3e-320])
def test_spline_cubics_are_finite_and_interpolate_on_any_scale(centre):
    # eight consecutive floats: per unit of x the cubics would be 1e450 near 1e-134; in
    # each cell's variable t they are of the size of the values' differences
    knots = [centre]
    for _ in range(7):
        knots.append(float(np.nextafter(knots[-1], np.inf)))
    values = np.array([1.0, 0.5625, 0.25, 0.0625, 0.0625, 0.25, 0.5625, 1.0])
    model = SplineModel(knots, values)
    coef = model.cubics()[1]
    assert np.all(np.isfinite(coef)) and np.max(np.abs(coef)) <= 8
    assert_array_equal(model(np.array(knots[:-1])), values[:-1])  # each knot's own cubic
    assert abs(model(np.array(knots[-1:]))[0] - 1.0) <= 1e-14


def test_spline_cubics_follow_scipy_and_scale_exactly():
    x = np.sort(np.random.default_rng(0).uniform(-3, 5, 12))
    y = np.sin(x) * 1e5
    model = SplineModel(x, y)
    z = np.linspace(-3, 5, 1001)
    assert_allclose(model(z), CubicSpline(x, y, bc_type="not-a-knot")(z), rtol=0, atol=1e-9)
    # knots and values times powers of two: the same cubics, the scale times the values'
    _, coef, scale = model.cubics()
    _, coef2, scale2 = SplineModel(x * 2.0**-700, y * 2.0**600).cubics()
    assert_array_equal(coef2, coef)
    assert scale2 == scale * 2.0**600
    # values up to the largest float: the cubics stay finite
    assert np.all(np.isfinite(SplineModel(x, np.sign(y) * 1.7e308).cubics()[1]))


def test_two_and_one_point_cases():
    assert_allclose(cubic_spline(EXP, 2)(np.array([0.0])), np.cosh(1.0), rtol=1e-15)
    # one coefficient: the constant f at the single Chebyshev point, the centre
    assert_allclose(chebyshev(EXP, 1)(np.array([-1.0, 1.0])), 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("build", [chebyshev, cubic_spline])
def test_error_falls_with_d_on_sin2pi(build):
    target = targets.get("sin2pi")
    e8, e64 = (max_error(target, build(target, d)) for d in (8, 64))
    assert e64 < e8 / 100


@pytest.mark.parametrize("build", [chebyshev, cubic_spline])
def test_deterministic_bit_for_bit(build):
    first, again = build(EXP, 33).to_arrays(), build(EXP, 33).to_arrays()
    assert first.keys() == again.keys()
    for key in first:
        assert_array_equal(first[key], again[key])


@pytest.mark.parametrize("build", [chebyshev, cubic_spline])
def test_save_load_round_trip(build, tmp_path):
    target = targets.get("runge").with_domain((-0.5, 2.0))
    model = build(target, 25)
    arrays = model.to_arrays()
    assert str(arrays["model"]) == model.model_kind
    assert all(a.dtype != object for a in arrays.values())
    path = tmp_path / "model.npz"
    save_model(path, model)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.n_params == model.n_params
    x = np.linspace(-0.5, 2.0, 501)
    assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: chebyshev(EXP, 0), ValueError, "d must be an integer ≥ 1, got 0"),
        (lambda: chebyshev(EXP, 3.0), TypeError, "d must be an integer, got float"),
        (lambda: chebyshev(EXP, True), TypeError, "got bool"),
        (lambda: cubic_spline(EXP, 1), ValueError, "d must be an integer ≥ 2, got 1"),
        (lambda: cubic_spline(EXP, "9"), TypeError, "d must be an integer, got str"),
        (lambda: cubic_spline(np.exp, 9), TypeError, "target must be an approx.problems.targets"),
        (lambda: ChebyshevModel([], (0, 1)), ValueError, "at least one coefficient"),
        (lambda: ChebyshevModel([1.0], (1, 0)), ValueError, "a < b"),
        (lambda: SplineModel([0.0, 1.0], [1.0]), ValueError, "need ≥ 2 knots and as many"),
        (lambda: SplineModel([0.0, 0.0], [1.0, 2.0]), ValueError, "strictly increasing"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
