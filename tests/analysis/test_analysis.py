"""The true max error against brute force, the L2 error, and the theory it is checked by."""

import itertools
import math

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from approx.analysis import (
    MaxError,
    adaptive_constant,
    fit_rate,
    l2_error,
    max_error,
    max_error_at,
    uniform_bound,
)
from approx.certify import targets as certified
from approx.models.baselines import ChebyshevModel, chebyshev, cubic_spline
from approx.models.construct import random_features, relu_interpolant
from approx.nn import MLP
from approx.problems import targets
from approx.problems.targets import from_expr

C2_TARGETS = ["sin2pi", "runge", "exp", "tanh10"]


def brute_force(target, model, n=1_000_000, refine=20):
    """A 10⁶-point grid, then bounded searches around the best grid points."""
    a, b = target.domain
    x = np.linspace(a, b, n)
    e = np.abs(target(x) - model(x))
    best = float(e.max())

    def neg_err(u, c):
        z = np.array([c + u])
        return -abs(float((target(z) - model(z))[0]))

    for i in np.argsort(e)[::-1][:refine]:
        # search the offset from x[i]: Brent's tolerance grows with |variable|
        res = minimize_scalar(
            neg_err,
            args=(x[i],),
            bounds=(x[max(i - 1, 0)] - x[i], x[min(i + 1, n - 1)] - x[i]),
            method="bounded",
            options={"xatol": 1e-15},
        )
        best = max(best, -float(res.fun))
    return best


def check_against_brute_force(target, model, noise=0.0):
    """``noise``: the rounding level of evaluating ``model`` in floats (the brute force
    sees the float evaluation, the enclosure the exact function of the stored weights)."""
    result = max_error_at(target, model)
    assert isinstance(result, MaxError)
    x, value, upper, tight, _ = result
    a, b = target.domain
    assert a <= x <= b
    assert tight
    slack = noise + 1e-14 * (1 + certified.scale(target))
    # the value is attained at the returned point (up to the float model's rounding)
    attained = abs(float(target(np.array([x]))[0] - model(np.array([x]))[0]))
    assert_allclose(value, attained, rtol=1e-12, atol=slack)
    reference = brute_force(target, model)
    assert value <= upper
    assert reference <= upper * (1 + 1e-12) + slack
    assert value >= reference * (1 - 1e-9) - slack
    assert max_error(target, model) == value


@pytest.mark.parametrize("name", targets.names())
@pytest.mark.parametrize("knots", ["uniform", "adaptive"])
@pytest.mark.parametrize("d", [2, 5, 64])
def test_max_error_of_interpolants_matches_brute_force(name, knots, d):
    target = targets.get(name)
    check_against_brute_force(target, relu_interpolant(target, d, knots=knots))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sin2pi", "tanh10", "abs15"])
@pytest.mark.parametrize("knots", ["uniform", "adaptive"])
def test_max_error_of_wide_interpolants_matches_brute_force(name, knots):
    target = targets.get(name)
    check_against_brute_force(target, relu_interpolant(target, 256, knots=knots))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d", [8, 64])
def test_max_error_of_random_relu_features_matches_brute_force(seed, d):
    target = targets.get("runge").with_domain((-1.0, 2.0))
    net = random_features(target, d, "relu", rng=np.random.default_rng(seed))
    check_against_brute_force(target, net)


@pytest.mark.parametrize(
    "build",
    [
        lambda t: chebyshev(t, 12),
        lambda t: cubic_spline(t, 12),
        lambda t: random_features(t, 12, "fourier", rng=np.random.default_rng(0)),
    ],
    ids=["chebyshev", "spline", "fourier"],
)
@pytest.mark.parametrize("name", ["sin2pi", "abs15"])
def test_max_error_of_smooth_models_matches_brute_force(build, name):
    target = targets.get(name)
    model = build(target)
    # least-squares output weights can be large and cancel: the net's values then carry
    # rounding noise of about eps · Σ|v_i|, which no search can see through
    weights = model.to_arrays().get("W1", np.zeros(1))
    check_against_brute_force(target, model, noise=1e-15 * float(np.abs(weights).sum()))


def test_max_error_of_a_user_target_without_exact_second_derivative():
    target = from_expr("exp(-x**2) * cos(3*x)", (-2, 3))
    check_against_brute_force(target, relu_interpolant(target, 40, knots="adaptive"))


def test_max_error_is_zero_for_a_line():
    line = from_expr("2*x + 1", (0, 1))
    assert max_error(line, relu_interpolant(line, 4)) <= 1e-15


@pytest.mark.parametrize("name", C2_TARGETS)
def test_uniform_construction_respects_the_bound(name):
    target = targets.get(name)
    for d in (2, 3, 5, 16, 128, 1024, 4096):
        error = max_error(target, relu_interpolant(target, d))
        # allowance for rounding in evaluating f and the net at the maximiser
        assert error <= uniform_bound(target, d) * (1 + 1e-9) + 1e-14, d


@pytest.mark.parametrize("name", ["sin2pi", "exp"])
def test_ratio_to_the_bound_tends_to_one(name):
    target = targets.get(name)
    ratios = [
        max_error(target, relu_interpolant(target, d)) / uniform_bound(target, d)
        for d in (16, 128, 1024, 4096)
    ]
    assert all(r2 >= r1 for r1, r2 in itertools.pairwise(ratios)), ratios
    assert ratios[-1] > 0.99


@pytest.mark.parametrize("name", ["runge", "tanh10", "abs15"])
def test_adaptive_knots_beat_uniform_knots(name):
    target = targets.get(name)
    uniform = max_error(target, relu_interpolant(target, 64, knots="uniform"))
    adaptive = max_error(target, relu_interpolant(target, 64, knots="adaptive"))
    assert adaptive < uniform / 2


def fitted_rate(target, knots, ds=(64, 128, 256, 512, 1024)):
    errors = [max_error(target, relu_interpolant(target, d, knots=knots)) for d in ds]
    return np.polyfit(np.log(ds), np.log(errors), 1)[0]


def test_rates_on_abs15():
    target = targets.get("abs15")
    assert abs(fitted_rate(target, "adaptive") + 2.0) < 0.15
    assert abs(fitted_rate(target, "uniform") + 1.5) < 0.1


def test_adaptive_error_approaches_the_asymptotic_constant():
    target = targets.get("exp")  # f'' > 0 everywhere: the floor is never active
    ratio = max_error(target, relu_interpolant(target, 1024, "adaptive")) / adaptive_constant(
        target, 1024
    )
    assert abs(ratio - 1) < 1e-3


def test_bound_and_constant_values():
    exp, abs15 = targets.get("exp"), targets.get("abs15")
    assert_allclose(uniform_bound(exp, 3), 1.0**2 / 8 * np.e, rtol=1e-10)
    assert uniform_bound(abs15, 64) == np.inf
    mass = 2 * (np.exp(0.5) - np.exp(-0.5))  # ∫ √(eˣ) over [-1, 1]
    # the integral is enclosed to a relative 1e-7; its midpoint is used
    assert_allclose(adaptive_constant(exp, 11), mass**2 / 800, rtol=2e-7)
    mass = np.sqrt(0.75) * 2 * 4 / 3  # ∫ √(0.75 |x|^{-1/2}) over [-1, 1]
    assert_allclose(adaptive_constant(abs15, 11), mass**2 / 800, rtol=1e-3)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("tanh10", lambda t: relu_interpolant(t, 50, "adaptive")),
        ("abs15", lambda t: relu_interpolant(t, 31)),
        ("runge", lambda t: chebyshev(t, 20)),
        ("sin2pi", lambda t: cubic_spline(t, 9)),
        ("exp", lambda t: random_features(t, 6, "fourier", rng=np.random.default_rng(1))),
    ],
)
def test_l2_error_matches_adaptive_quadrature(name, build):
    target = targets.get(name)
    model = build(target)

    def squared(z):
        return float((target(np.array([z])) - model(np.array([z])))[0] ** 2)

    # the model's kinks, where the integrand is not smooth, split the quadrature
    kinks = None
    if isinstance(model, MLP):
        with np.errstate(divide="ignore"):
            at = -model.biases[0] / model.weights[0][0]
        kinks = np.unique(at[(at > -1) & (at < 1)])
    reference = np.sqrt(quad(squared, -1, 1, points=kinks, limit=2000, epsabs=0, epsrel=1e-9)[0])
    assert_allclose(l2_error(target, model), reference, rtol=1e-7)


def test_l2_error_of_fast_cos_features_matches_the_closed_form():
    # f = 0 and f̂ = c + Σ v_i cos(w_i x + φ_i) with frequencies up to 9000 on [-1, 1]:
    # more panels than the floor (the fastest unit sets them); ∫ f̂² in closed form, in
    # mpmath (∫ cos(αx + β) = sin(αx + β)/α, and 2 cos p cos q = cos(p + q) + cos(p - q))
    rng = np.random.default_rng(3)
    w = np.concatenate([[9000.0, -7500.5, 3.25], rng.uniform(-5000, 5000, 5)])
    phi, v = rng.uniform(0, 2 * np.pi, w.size), rng.normal(0, 1, w.size)
    net = MLP.from_params([w[None, :], v[:, None]], [phi, np.array([0.3])], activation="cos")
    target = from_expr("0*x", (-1, 1))

    def integral(alpha, beta):  # ∫_{-1}^{1} cos(αx + β) dx
        if alpha == 0:
            return 2 * mpmath.cos(beta)
        return (mpmath.sin(alpha + beta) - mpmath.sin(beta - alpha)) / alpha

    with mpmath.workdps(40):
        W, P, V = ([mpmath.mpf(float(t)) for t in a] for a in (w, phi, v))
        c = mpmath.mpf(0.3)
        total = 2 * c * c + sum(2 * c * V[i] * integral(W[i], P[i]) for i in range(w.size))
        total += sum(V[i] * V[j] / 2 * (integral(W[i] + W[j], P[i] + P[j])
                                        + integral(W[i] - W[j], P[i] - P[j]))
                     for i in range(w.size) for j in range(w.size))
        reference = float(mpmath.sqrt(total))
    assert_allclose(l2_error(target, net), reference, rtol=1e-10)


@pytest.mark.parametrize("n", [5, 1500])
def test_l2_error_of_a_high_degree_chebyshev_series_matches_the_closed_form(n):
    # f = 0 and p = Σ c_k T_k on [0, 3]: ∫_{-1}^{1} T_j T_k = 1/(1 - (j+k)²) + 1/(1 - (j-k)²)
    # for j + k even (0 otherwise), summed exactly (math.fsum); unit coefficients of every
    # degree, so p swings fastest at the ends, where equal panels in x would miss it
    rng = np.random.default_rng(4)
    coef = rng.normal(0.0, 1.0, n)
    model = ChebyshevModel(coef, (0.0, 3.0))
    target = from_expr("0*x", (0.0, 3.0))
    j, k = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    even = (j + k) % 2 == 0
    with np.errstate(divide="ignore"):
        gram = np.where(even, 1 / (1 - (j + k) ** 2.0) + 1 / (1 - (j - k) ** 2.0), 0.0)
    reference = math.sqrt(1.5 * math.fsum((np.outer(coef, coef) * gram).ravel()))
    assert_allclose(l2_error(target, model), reference, rtol=1e-12)


EXP = targets.get("exp")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: max_error(np.exp, chebyshev(EXP, 3)), TypeError, "target must be an approx"),
        (lambda: l2_error("exp", chebyshev(EXP, 3)), TypeError, "target must be an approx"),
        (lambda: uniform_bound(EXP, 1), ValueError, "d must be an integer ≥ 2, got 1"),
        (lambda: uniform_bound(EXP, 4.0), TypeError, "d must be an integer, got float"),
        (lambda: adaptive_constant(EXP, True), TypeError, "got bool"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_fit_rate_power_law_and_exponential():
    d = np.array([4, 8, 16, 32, 64, 128] * 2, dtype=float)
    power = fit_rate(d, 3.0 * d**-2.0, scale=1.0)
    assert power.fit == "power" and power.power == pytest.approx(-2.0, abs=1e-12)
    spectral = fit_rate(d, np.exp(-0.3 * d), scale=1.0)
    assert spectral.fit == "exponential"
    assert spectral.exponential == pytest.approx(-0.3, abs=1e-12)


def test_fit_rate_stops_at_a_plateau_and_at_the_rounding_floor():
    d = np.array([8, 16, 32, 64, 128, 256], dtype=float)
    # converges to a floor of 1e-13 · max|f| (max|f| = 1e3): only the falling part counts
    errors = np.maximum(5.0 * d**-2.0, 1e-10) * (1 + 0.1 * np.sin(d))
    rate = fit_rate(d, np.where(d > 64, 1e-10 * (1 + 0.3 * np.cos(d)), 5.0 * d**-2.0), 1e3)
    assert rate.fit == "power" and rate.power == pytest.approx(-2.0, abs=1e-12)
    assert rate.points == 4
    assert fit_rate(d, errors, scale=1e3).fit in ("power", "exponential")


def test_no_rate_on_a_target_that_does_not_converge():
    spike = from_expr("sin(20*x) + 0.5*exp(-((x - 0.31337)/5e-6)**2)", (0, 1))
    widths = [16, 32, 64, 128, 256, 512, 1024]
    errors = [max_error(spike, relu_interpolant(spike, d)) for d in widths]
    assert min(errors) > 0.45  # the spike stays unresolved
    rate = fit_rate(widths, errors, certified.scale(spike))
    assert rate.fit == "none" and np.isnan(rate.power) and np.isnan(rate.exponential)


def test_rate_floor_is_relative_to_the_size_of_f():
    target = from_expr("exp(30*x)", (-1, 1))  # max |f| ≈ 1e13
    widths = [4, 8, 16, 32, 64, 128, 256]
    errors = [max_error(target, chebyshev(target, d)) for d in widths]
    rate = fit_rate(widths, errors, certified.scale(target))
    # spectral convergence until rounding at ~1e-13 · max|f|: the plateau is not fitted
    assert rate.fit == "exponential" and rate.exponential < -0.1
    assert rate.points < len(widths)


@pytest.mark.parametrize("d", [16, 256, 4096])
def test_uniform_bound_holds_where_a_clipped_stencil_failed(d):
    steep = from_expr("exp(3000*x)", (-1, 0))  # f'' = 9e6 e^{3000x}, largest at the end
    result = max_error_at(steep, relu_interpolant(steep, d))
    assert result.upper <= uniform_bound(steep, d)
    h = 1 / (d - 1)
    assert_allclose(uniform_bound(steep, d), h * h / 8 * 9e6, rtol=1e-8)


def test_uniform_bound_is_not_inflated_by_rounding_noise():
    offset = from_expr("1e10 + sin(2*pi*x)", (-1, 1))
    assert_allclose(certified.max_abs_second_derivative(offset), 4 * np.pi**2, rtol=1e-7)
    assert certified.max_abs_second_derivative(offset) >= 4 * np.pi**2


def test_exact_interpolation_is_certified_at_once():
    relu = from_expr("(x + abs(x))/2", (-1, 1))
    result = max_error_at(relu, relu_interpolant(relu, 5))
    assert result.value == 0.0 and result.upper < 1e-14
    # a zero error is not within 1e-9 of a bound at rounding level: the rule says so
    assert not result.tight and result.reason == "rounding"


def test_l2_error_of_a_cusp():
    cusp = from_expr("sqrt(abs(x - 0.2))", (-1, 1))
    net = relu_interpolant(cusp, 64)

    def squared(z):
        return float((cusp(np.array([z])) - net(np.array([z])))[0] ** 2)

    kinks = [*np.linspace(-1, 1, 64), 0.2]
    reference = np.sqrt(quad(squared, -1, 1, points=kinks, limit=5000, epsabs=0, epsrel=1e-12)[0])
    assert_allclose(l2_error(cusp, net), reference, rtol=1e-9)


def test_deep_smooth_nets_past_the_work_cap_keep_a_finite_rigorous_bound():
    # a deep tanh net too costly for Taylor models: the a-priori bound |f̂| ≤ Σ|v| + |c|
    # of its last layer (tanh is bounded at any depth) keeps the upper bound finite
    rng = np.random.default_rng(1)
    sizes = [1, 32, 32, 1]
    net = MLP.from_params(
        [rng.standard_normal((sizes[i], sizes[i + 1])) for i in range(3)],
        [rng.standard_normal(sizes[i + 1]) for i in range(3)],
        activation="tanh",
    )
    target = from_expr("abs(x - 0.3183098861837907)**1.5 + 0.1*sin(7*x)", (-3, 5))
    found = max_error_at(target, net)
    x = np.linspace(-3, 5, 200_001)
    dense = float(np.max(np.abs(target(x) - net(x[:, None])[:, 0])))
    assert found.value <= dense * (1 + 1e-12)
    assert dense <= found.upper < np.inf


def test_bounds_that_meet_the_tolerance_are_tight_even_past_the_work_cap():
    # |x − c|^0.5 has no Taylor model at its cusp: the search spends its budget there,
    # yet value and upper agree to 1e-14 (the interpolant's worst error is elsewhere)
    found = max_error_at(
        from_expr("abs(x-0.3)**0.5", (0, 1)),
        relu_interpolant(from_expr("abs(x-0.3)**0.5", (0, 1)), 16),
    )
    assert found.upper - found.value <= 1e-9 * found.value
    assert found.tight
