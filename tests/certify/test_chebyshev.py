"""Chebyshev series as certified cells: point values, derivative bounds and the enclosure
of the max error, against 40-digit references."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.analysis.errors import max_error_at
from approx.certify import targets as certified
from approx.certify.chebyshev import ChebyshevPolys, chebyshev_ball
from approx.certify.taylor import arb_context
from approx.models.baselines import ChebyshevModel, chebyshev
from approx.problems import targets

mp.mp.dps = 40


def series_mp(model):
    """The model as an mpmath function of x, from its exact float coefficients."""
    a, b = (mp.mpf(v) for v in model.domain)
    coef = [mp.mpf(float(c)) for c in model.coef]

    def p(x):
        t = (2 * x - a - b) / (b - a)
        b1 = b2 = mp.mpf(0)
        for c in coef[:0:-1]:
            b1, b2 = c + 2 * t * b1 - b2, b1
        return coef[0] + t * b1 - b2

    return p


def random_model(rng, d, domain, decay):
    coef = rng.standard_normal(d) * np.exp(-decay * np.arange(d))
    return ChebyshevModel(coef, domain)


DOMAINS = [(-1.0, 1.0), (0.0, 1.0), (-2.0, 3.0), (1e6, 1e6 + 1), (1.0, 1.0 + 1e-9), (-0.5, 0.25)]


@pytest.mark.parametrize("domain", DOMAINS)
def test_values_and_derivatives_are_enclosed(domain):
    rng = np.random.default_rng(1)
    model = random_model(rng, 40, domain, decay=0.1)
    cells = ChebyshevPolys(model)
    a, b = domain
    x = np.concatenate([[a, b], a + (b - a) * rng.random(12)])
    p = series_mp(model)
    for xi in x:
        truth = mp.taylor(p, mp.mpf(float(xi)), 5)  # p^(k)(x)/k!, k = 0 … 5
        for k in range(6):
            value, err = cells.at(np.array([xi]), None, k)
            assert abs(value[0] - truth[k]) <= err[0], (xi, k, value[0], float(truth[k]), err[0])
            # and the bound is a bound, not a blanket: a few rounding units of the terms
            assert err[0] <= 1e-9 * (abs(value[0]) + cells._sums[k]) + 1e-300


@pytest.mark.parametrize("domain", DOMAINS[:4])
@pytest.mark.parametrize("k", [4, 6])
def test_derivative_bounds_hold_over_cells(domain, k):
    rng = np.random.default_rng(2)
    model = random_model(rng, 60, domain, decay=0.05)
    cells = ChebyshevPolys(model)
    p = series_mp(model)
    a, b = domain
    lo = np.sort(a + (b - a) * rng.random(8))
    hi = np.minimum(lo + (b - a) * 10.0 ** rng.uniform(-6, -1, 8), b)
    bound = cells.bound(lo, hi, None, k)
    for i in range(lo.size):
        for xi in np.linspace(lo[i], hi[i], 5):
            truth = abs(mp.taylor(p, mp.mpf(float(xi)), k)[k])
            assert truth <= bound[i], (i, float(truth), bound[i])
    # Cauchy's estimate follows the polynomial, not the worst case of its degree: inside
    # the interval it is far below the global Σ|coefficients of p^(k)/k!|
    inner = cells.bound(np.array([a + (b - a) * 0.4]), np.array([a + (b - a) * 0.41]), None, k)
    assert inner[0] < 0.1 * cells._sums[k]


@pytest.mark.parametrize("name", targets.names())
@pytest.mark.parametrize("d", [24, 96, pytest.param(1024, marks=pytest.mark.slow)])
def test_interpolants_are_certified_tight_at_any_degree(name, d):
    target = targets.get(name)
    model = chebyshev(target, d)
    result = max_error_at(target, model)
    atol = 16 * 2.0**-53 * (certified.scale(target) + model.term_size)
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding
    assert 0 <= result.upper - result.value <= max(1e-9 * result.value, atol)
    # the bound covers the exact error wherever it is evaluated (Arb, 80 bits)
    a, b = target.domain
    from flint import arb

    with arb_context():
        for xi in np.linspace(a, b, 97):
            e = target.ball(arb(float(xi)), False) - chebyshev_ball(model)(arb(float(xi)))
            assert float(abs(e).upper()) <= result.upper * (1 + 1e-12) + 1e-300
    assert result.value >= 0


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 80),
    seed=st.integers(0, 2**32 - 1),
    decay=st.floats(0.0, 1.0),
    magnitude=st.sampled_from([1e-200, 1e-8, 1.0, 1e8, 1e200]),
    domain=st.sampled_from(DOMAINS),
)
def test_sup_of_a_random_series_is_enclosed(d, seed, decay, magnitude, domain):
    """Against the zero target, the error is the series itself: its sup from a grid and
    40-digit evaluations at the grid's best points is a lower bound the enclosure must
    contain, and the value must reach."""
    rng = np.random.default_rng(seed)
    model = random_model(rng, d, domain, decay)
    model = ChebyshevModel(model.coef * magnitude, domain)
    zero = targets.from_expr("0*x", domain)
    result = max_error_at(zero, model)
    a, b = domain
    x = np.linspace(a, b, 20_001)
    top = x[np.argsort(np.abs(model(x)))[-8:]]
    p = series_mp(model)
    reference = max(float(abs(p(mp.mpf(float(xi))))) for xi in [*top, a, b])
    assert result.upper >= reference * (1 - 1e-12)
    assert result.value <= result.upper
    assert result.value >= reference * (1 - 1e-6)
    # the value is attained at a float: where adjacent floats are far apart in t, the
    # sup between them may lie beyond the tolerance (Markov: |p''| ≤ d⁴ max|p|)
    h = 2 * np.spacing(max(abs(a), abs(b))) / (b - a)
    if d**4 * h * h / 8 <= 1e-10:
        assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding


def test_a_single_high_term_is_its_own_sup():
    """``T_4095`` alone: sup 1 at both ends, |T_k| ≤ 1 in between; its fourth derivative
    reaches 10²⁸ at the ends, so only bounds that follow the cell can settle it."""
    coef = np.zeros(4096)
    coef[-1] = 1.0
    model = ChebyshevModel(coef, (-1.0, 1.0))
    result = max_error_at(targets.from_expr("0*x", (-1, 1)), model)
    assert 1 - 1e-9 <= result.value <= 1 <= result.upper <= 1 + 1e-9
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding


def test_a_model_narrower_than_the_target_is_enclosed_where_it_grows():
    """Outside its own interval a series is no longer bounded by Σ|c_k|."""
    zero = targets.from_expr("0*x", (-1, 1))
    result = max_error_at(zero, ChebyshevModel([0.0, 0.0, 1.0], (-0.5, 0.5)))
    assert result.value == 7.0  # T_2(±2)
    assert 7.0 <= result.upper <= 7.0 * (1 + 1e-9)


def test_a_model_wider_than_the_target_is_searched_on_the_target_domain_only():
    target = targets.from_expr("exp(x)", (-1, 1))
    rng = np.random.default_rng(7)
    model = ChebyshevModel(rng.standard_normal(7) * 0.9 ** np.arange(7), (-2.0, 1.5))
    result = max_error_at(target, model)
    p = series_mp(model)
    x = np.linspace(-1, 1, 20_001)
    top = x[np.argsort(np.abs(np.exp(x) - model(x)))[-4:]]
    reference = max(float(abs(mp.exp(mp.mpf(float(v))) - p(mp.mpf(float(v))))) for v in top)
    assert -1 <= result.x <= 1
    assert result.value <= result.upper
    assert reference * (1 - 1e-9) <= result.value <= reference * (1 + 1e-9)


@pytest.mark.parametrize(
    ("scale", "domain", "d"),
    [(1.0, (1e-300, 2e-300), 8), (1.0, (0.0, 1e-50), 64), (1e300, (-1.0, 1.0), 64)],
)
def test_floats_that_overflow_give_a_wider_bound_not_a_hang(scale, domain, d):
    """Derivative series past the float range (tiny domains) or Clenshaw overflowing
    (huge coefficients): the cells settle on their a-priori bound at once."""
    rng = np.random.default_rng(1)
    model = ChebyshevModel(rng.standard_normal(d) * scale, domain)
    result = max_error_at(targets.from_expr("0*x", domain), model)
    x = np.linspace(*domain, 2001)
    sampled = float(np.max(np.abs(model(x))))
    assert np.isfinite(result.upper)
    assert result.value <= result.upper
    assert sampled * (1 - 1e-9) <= result.upper <= model.term_size * (1 + 1e-9)


def test_derivative_bounds_on_a_huge_domain_are_not_rounded_to_zero():
    model = ChebyshevModel(np.full(12, 1e300), (-1e60, 1e60))
    bound = ChebyshevPolys(model).bound(np.array([-1e60]), np.array([1e60]), None, 6)
    assert bound[0] > 0


@pytest.mark.parametrize(
    ("expr", "domain", "d"),
    [
        ("sqrt(x)", (0, 1), 257),  # no Taylor model at 0: the model's range in Arb
        ("abs(x - 0.3)", (-1, 1), 257),
        ("sin(3*x)", (-0.3, 7.1), 256),  # the map to [-1, 1] is rounded, at the plateau
        ("1/(1.0001 - x)", (0, 1), 256),  # the largest error at the end, by a pole
    ],
)
def test_hard_targets_are_tight(expr, domain, d):
    target = targets.from_expr(expr, domain)
    model = chebyshev(target, d)
    result = max_error_at(target, model)
    atol = 16 * 2.0**-53 * (certified.scale(target) + model.term_size)
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding
    assert result.upper - result.value <= max(1e-9 * result.value, atol)
    p = series_mp(model)
    names = {"__builtins__": {}, "sqrt": mp.sqrt, "abs": abs, "sin": mp.sin}
    x = np.linspace(*domain, 20_001)
    with np.errstate(all="ignore"):
        top = x[np.argsort(np.abs(target(x) - model(x)))[-4:]]
    reference = max(
        float(abs(eval(expr, {**names, "x": mp.mpf(float(v))}) - p(mp.mpf(float(v))))) for v in top
    )
    assert reference <= result.upper


def test_a_subnormal_domain_keeps_every_point_inside():
    b = 1000 * 2.0**-1074
    result = max_error_at(targets.from_expr("0*x", (0.0, b)), ChebyshevModel([0, 1, 0.5], (0, b)))
    assert 0 <= result.x <= b
    assert result.value <= 1.5 <= result.upper  # sup |t + T_2(t)/2| = 1.5 at t = 1


def test_terms_past_the_float_range_are_never_called_tight():
    zero = targets.from_expr("0*x", (-1, 1))
    result = max_error_at(zero, ChebyshevModel([1.5e308, 0.0, -1.5e308], (-1, 1)))
    assert not result.tight
    assert result.upper == float("inf")


def test_points_outside_the_series_domain_are_refused():
    cells = ChebyshevPolys(ChebyshevModel([0.0, 1.0, 2.0], (-1, 1)))
    with pytest.raises(ValueError, match="outside"):
        cells.at(np.array([1.2]), None, 0)


@pytest.mark.parametrize("domain", DOMAINS[:4])
def test_double_double_values_are_enclosed_to_a_rounding_unit(domain):
    rng = np.random.default_rng(4)
    model = chebyshev(targets.from_expr("cos(20*x)", domain), 300)
    cells = ChebyshevPolys(model)
    a, b = domain
    x = np.concatenate([[a, b], a + (b - a) * rng.random(20)])
    value, err = cells.precise(x)
    p = series_mp(model)
    for xi, v, e in zip(x, value, err, strict=True):
        truth = p(mp.mpf(float(xi)))
        assert abs(v - truth) <= e
        assert e <= 4 * 2.0**-53 * (abs(v) + 1e-300) + 1e-30  # a few units of |p|, not of Σ|c|
    assert np.max(cells.at(x, None, 0)[1]) > 10 * np.max(err)  # the floats' bound is wider


@pytest.mark.slow
def test_a_high_frequency_target_at_the_rounding_plateau_is_tight():
    """cos(200x) at d = 512: the error is rounding noise (6e-14) below the floats' own
    Clenshaw bound (5e-14 per point); the double-double ends settle it."""
    target = targets.from_expr("cos(200*x)", (-1, 1))
    model = chebyshev(target, 512)
    result = max_error_at(target, model)
    atol = 16 * 2.0**-53 * (certified.scale(target) + model.term_size)
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding
    assert result.upper - result.value <= atol


def test_the_compiled_recurrence_matches_the_numpy_loop(monkeypatch):
    # the same operations in the same order: equal values, and bounds that both hold
    pytest.importorskip("numba")
    from approx.certify import chebyshev as cheb
    from approx.certify._clenshaw_numba import clenshaw_sums

    rng = np.random.default_rng(5)
    series = rng.normal(size=(3, 300)) * np.exp(-np.arange(300) / 30)
    tau = np.concatenate([rng.uniform(-1, 1, 500), [-1.0, 1.0, 0.0]])
    y, _ = clenshaw_sums(series, tau)
    monkeypatch.setattr(cheb, "COMPILED_FROM", 1 << 62)  # the numpy loop
    y_np, err_np = cheb._clenshaw(series, tau)
    monkeypatch.setattr(cheb, "COMPILED_FROM", 0)
    y_nb, err_nb = cheb._clenshaw(series, tau)
    assert np.array_equal(y, y_np) and np.array_equal(y_nb, y_np)
    np.testing.assert_allclose(err_nb, err_np, rtol=1e-12)
    with mp.workdps(40):
        for i in (0, 2):
            for m in (0, 17, 500, 502):
                exact = mp.chebyt  # T_j(τ) exactly
                ref = sum(
                    mp.mpf(float(c)) * exact(j, mp.mpf(float(tau[m])))
                    for j, c in enumerate(series[i])
                )
                assert abs(mp.mpf(float(y_nb[i, m])) - ref) <= err_nb[i, m]
