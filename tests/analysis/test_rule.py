"""The words match the rule: ``tight`` is ``upper − value ≤ 1e-9 · value`` and nothing
looser, ``reason`` says why not, rates use only tight values, and ``uniform_bound``
bounds the float construction, rounding included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from approx import methods
from approx.analysis import fit_rate, max_error_at, uniform_bound
from approx.analysis.errors import RTOL, TIGHT_REASONS
from approx.analysis.theory import construction_rounding
from approx.models.baselines import ChebyshevModel
from approx.models.construct import relu_interpolant, uniform_knots
from approx.nn import MLP
from approx.problems import targets
from approx.problems.targets import from_expr


def meets_rule(result):
    return result.upper - result.value <= RTOL * result.value


def check_words(result):
    """tight is the rule, read off the two numbers; the reason is empty exactly then."""
    assert result.reason in TIGHT_REASONS
    assert result.tight == meets_rule(result)
    assert result.tight == (result.reason == "")


@pytest.mark.parametrize(
    ("expr", "domain", "d", "knots"),
    [
        ("sin(2*pi*x)", (0.0, 1.0), 64, "uniform"),
        ("sin(2*pi*x)", (0.0, 1.0), 4096, "uniform"),
        ("exp(x)", (-1.0, 1.0), 1024, "uniform"),
        # ε = 2.4e8 with a relative gap of 1.5e-5 was called tight (the model's terms are
        # 1e18): now the bounds are separated to the rule, or it is not tight
        ("1/(x**2+1e-12)", (-1.0, 1.0), 1024, "adaptive"),
        ("2*x+1", (0.0, 1.0), 64, "uniform"),
    ],
)
def test_tight_is_the_rule(expr, domain, d, knots):
    target = from_expr(expr, domain)
    check_words(max_error_at(target, relu_interpolant(target, d, knots=knots)))


def test_a_gap_set_by_the_size_of_the_terms_is_rounding_not_tight():
    # 1e12 + x²: the construction's error (5e-5) is below the rounding of its 1e12-sized
    # terms; the bounds met only within that rounding (upper was 36× value, called tight)
    target = from_expr("1e12 + x**2", (0.0, 1.0))
    result = max_error_at(target, relu_interpolant(target, 4096))
    assert not result.tight and result.reason == "rounding"
    assert result.upper > 2 * result.value
    check_words(result)
    # an error at rounding level, the interpolant of a line: not tight either
    line = from_expr("2*x+1", (0.0, 1.0))
    result = max_error_at(line, relu_interpolant(line, 64))
    assert result.value < 1e-15 and result.reason == "rounding" and not result.tight


def test_reasons_for_the_cap_no_enclosure_and_non_finite_models():
    target = from_expr("sin(7*x)", (-1.0, 1.0))
    rng = np.random.default_rng(2)
    sizes = [1, 32, 32, 1]
    deep = MLP.from_params(
        [rng.standard_normal((sizes[i], sizes[i + 1])) for i in range(3)],
        [rng.standard_normal(sizes[i + 1]) for i in range(3)],
        activation="tanh",
    )
    capped = max_error_at(target, deep, max_work=64)
    assert capped.reason == "work cap" and not capped.tight
    check_words(capped)

    def model(x):
        return np.sin(7 * np.asarray(x)) + 1e-3

    unknown = max_error_at(target, model)
    assert unknown.reason == "no enclosure" and unknown.upper == math.inf

    net = relu_interpolant(target, 8)
    w = [p.copy() for p in net.weights]
    w[1][0, 0] = np.nan
    broken = MLP.from_params(w, [p.copy() for p in net.biases], activation="relu")
    result = max_error_at(target, broken)
    assert result.reason == "non-finite" and not result.tight


def test_a_series_at_rounding_noise_says_so():
    # a Chebyshev series of sin past its convergence: ε is the floats' rounding
    target = targets.get("sin2pi")
    series = methods.fit("chebyshev", target, 96, np.random.default_rng(0)).model
    assert isinstance(series, ChebyshevModel)
    result = max_error_at(target, series)
    check_words(result)
    assert result.value < 1e-13


def test_rates_use_only_tight_values():
    d = np.array([8, 16, 32, 64, 128, 256], dtype=float)
    errors = 3.0 * d**-2.0
    # the last two values are lower bounds only, and fall faster than the sup
    errors[-2:] /= [10.0, 1000.0]
    tight = [True, True, True, True, False, False]
    rate = fit_rate(d, errors, 1.0, tight)
    assert rate.points == 4 and rate.not_tight == 2
    assert rate.power == pytest.approx(-2.0, abs=1e-12)
    assert fit_rate(d, errors, 1.0).power < -2.5  # without the flags they bend the fit
    unknown = fit_rate(d, 3.0 * d**-2.0, 1.0, [None] * 6)  # runs from before enclosures
    assert unknown.points == 6 and unknown.not_tight == 0


def test_the_summary_counts_what_it_left_out():
    import pandas as pd

    from approx.experiment.summary import summarize_approximation

    d = [8, 16, 32, 64]
    table = pd.DataFrame(
        {
            "target": "t", "method": "m", "kind": "k", "width": d, "status": "ok",
            "max_error": [1 / 64, 1 / 256, 1 / 1024, 1e-9], "target_scale": 1.0,
            "max_error_tight": [True, True, True, False],
        }
    )
    row = summarize_approximation(table).iloc[0]
    assert row["rate_points"] == 3 and row["not_tight"] == 1
    assert row["rate"] == pytest.approx(-2.0, abs=1e-9)


@pytest.mark.parametrize(
    ("expr", "domain", "d"),
    [
        # the rows where the bound was exceeded at rounding level (0 < 1.9e-16; 1.5e-8 < 4.6e-5)
        ("2*x+1", (0.0, 1.0), 64),
        ("1e12 + x**2", (0.0, 1.0), 4096),
        # far from 0, tiny, subnormal
        ("sin(x)", (1e15, 1e15 + 1), 9),
        ("1e-300*x", (0.0, 1.0), 8),
        ("sin(x)", (5e-324, 1e-320), 5),
    ],
)
def test_uniform_bound_covers_the_float_construction(expr, domain, d):
    target = from_expr(expr, domain)
    result = max_error_at(target, relu_interpolant(target, d))
    bound = uniform_bound(target, d)
    assert result.value <= bound < math.inf


EXPRESSIONS = [
    "2*x+1", "x**2", "1e12 + x**2", "sin(2*pi*x)", "exp(x/8)", "1/(1 + 25*x**2)",
    "1e-3*x**3 - x", "tanh(10*x)", "cos(x)*1e8", "1e-200*sin(x)", "3 - 1e-9*x",
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=st.sampled_from(EXPRESSIONS),
    a=st.floats(-1e3, 1e3),
    width=st.floats(1e-9, 4.0),
    d=st.integers(2, 300),
)
def test_uniform_bound_is_never_exceeded(expr, a, width, d):
    b = a + width
    assume(b > a)
    try:
        target = from_expr(expr, (a, b))
    except ValueError:  # refused (no finite supremum as floats): nothing is promised
        assume(False)
    bound = uniform_bound(target, d)
    assert max_error_at(target, relu_interpolant(target, d)).value <= bound


def test_construction_rounding_sees_a_perturbed_weight():
    # independent of the construction's own arithmetic: move one output weight by 1e-6
    # and the bound must reach the moved net's distance from the interpolant (1e-6 · ramp)
    target = from_expr("x**2", (0.0, 1.0))
    net = relu_interpolant(target, 11)
    knots = uniform_knots(target, 11)
    exact = construction_rounding(target, net, knots)
    assert 0 <= exact < 1e-14
    w = [p.copy() for p in net.weights]
    w[1][5, 0] += 1e-6  # the ramp from knot 4 (x = 0.4), slope w[0][0, 5]
    moved = MLP.from_params(w, [p.copy() for p in net.biases], activation="relu")
    reach = 1e-6 * net.weights[0][0, 5] * (1.0 - 0.4)
    assert construction_rounding(target, moved, knots) >= reach * (1 - 1e-9)
    assert construction_rounding(target, moved, knots) <= reach * 1.01 + 1e-14
