"""Targets: built-ins against closed forms, expressions, refusals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from approx.certify import targets as certified
from approx.problems import targets
from approx.problems.targets import Target

BUILTIN_VALUES = {
    "sin2pi": lambda x: np.sin(2 * np.pi * x),
    "runge": lambda x: 1 / (1 + 25 * x**2),
    "exp": np.exp,
    "tanh10": lambda x: np.tanh(10 * x),
    "abs15": lambda x: np.abs(x) ** 1.5,
}


def test_builtin_names_are_the_documented_ones():
    assert targets.names() == list(BUILTIN_VALUES)


@pytest.mark.parametrize("name", list(BUILTIN_VALUES))
def test_builtin_values_and_domain(name):
    t = targets.get(name)
    x = np.linspace(-1, 1, 101)
    assert t.domain == (-1.0, 1.0)
    assert_allclose(t(x), BUILTIN_VALUES[name](x), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ["sin2pi", "runge", "exp", "tanh10"])
def test_exact_second_derivative_matches_finite_differences(name):
    t = targets.get(name)
    numeric = Target("numeric", t.func, t.domain)  # same f, no d2: finite differences
    x = np.linspace(-0.95, 0.95, 77)
    scale = certified.max_abs_second_derivative(t)
    assert_allclose(t.second_derivative(x), numeric.second_derivative(x), atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sin2pi", 4 * np.pi**2),
        ("runge", 50.0),  # f''(0) = -50 is the extreme
        ("exp", np.e),
        ("tanh10", 400 / (3 * np.sqrt(3))),  # 200 t (1 - t²) is largest at t = 1/√3
        ("abs15", np.inf),  # f'' = 0.75 |x|^(-1/2) is unbounded at 0
    ],
)
def test_max_abs_second_derivative_closed_forms(name, expected):
    assert_allclose(certified.max_abs_second_derivative(targets.get(name)), expected, rtol=1e-9)


def test_get_with_domain_override_keeps_function():
    t = targets.get("exp", domain=(0, 2))
    assert t.domain == (0.0, 2.0)
    assert_allclose(t(np.array([2.0])), [np.exp(2.0)], rtol=1e-15)


def test_from_expr_example_from_the_docs():
    t = targets.from_expr("exp(-x**2) * cos(3*x)", (-2, 3))
    x = np.linspace(-2, 3, 50)
    assert_allclose(t(x), np.exp(-(x**2)) * np.cos(3 * x), rtol=1e-14, atol=1e-15)
    assert t.domain == (-2.0, 3.0)
    assert t.name == "exp(-x**2) * cos(3*x)"


@pytest.mark.parametrize(
    ("expr", "reference"),
    [
        ("pi * x + e", lambda x: np.pi * x + np.e),
        ("-x + +x - -x", lambda x: x),
        ("2**-x", lambda x: 2.0**-x),
        ("erf(x) + log1p(x**2)", None),
        (
            "sqrt(abs(x)) * arctan(x) / (1 + x**2)",
            lambda x: np.sqrt(abs(x)) * np.arctan(x) / (1 + x**2),
        ),
        (
            "sinh(x) - cosh(x) + tanh(x) + tan(x/2)",
            lambda x: np.sinh(x) - np.cosh(x) + np.tanh(x) + np.tan(x / 2),
        ),
        ("arcsin(x/2) + arccos(x/2)", lambda x: np.full_like(x, np.pi / 2)),
        ("3", lambda x: np.full_like(x, 3.0)),
    ],
)
def test_from_expr_grammar(expr, reference):
    t = targets.from_expr(expr, (-1, 1))
    x = np.linspace(-1, 1, 33)
    y = t(x)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    if reference is not None:
        assert_allclose(y, reference(x), rtol=1e-13, atol=1e-14)


@given(
    a=st.floats(-5, 5),
    c=st.floats(-3, 3),
    k=st.floats(0.1, 4),
)
@settings(max_examples=40, deadline=None)
def test_from_expr_matches_numpy_on_random_coefficients(a, c, k):
    expr = f"{c!r} * sin({k!r} * x) + exp(-({a!r}) * x / 10)"
    t = targets.from_expr(expr, (-1, 1))
    x = np.linspace(-1, 1, 17)
    assert_allclose(t(x), c * np.sin(k * x) + np.exp(-a * x / 10), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        ('__import__("os").system("true")', "only calls of the listed functions"),
        ('__import__("os")', "function '__import__' is not allowed"),
        ("x.real", "Attribute"),
        ("x[0]", "Subscript"),
        ("(lambda: 1)()", "only calls of the listed functions"),
        ("lambda x: x", "Lambda"),
        ("y + 1", "name 'y' is not allowed"),
        ("__builtins__", "name '__builtins__' is not allowed"),
        ("open('f')", "function 'open' is not allowed"),
        ("sin(x, 2)", "exactly one positional argument"),
        ("sin(x=1)", "exactly one positional argument"),
        ("sin", "must be called"),
        ("x % 2", "operator Mod"),
        ("x // 2", "operator FloorDiv"),
        ("~x", "unary operator Invert"),
        ("x if x else 1", "IfExp"),
        ("x < 1", "Compare"),
        ("'abc'", "constant 'abc'"),
        ("True", "constant True"),
        ("1j * x", "constant 1j"),
        ("[x]", "List"),
        ("x +", "not valid"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_from_expr_refuses(expr, match):
    with pytest.raises(ValueError, match=match):
        targets.from_expr(expr, (-1, 1))


def test_from_expr_refuses_non_string():
    with pytest.raises(ValueError, match="must be a string"):
        targets.from_expr(3, (-1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "domain", "match"),
    [
        ("log(x)", (-1, 1), r"no finite supremum on its domain \[-1, 1\]: log\(x\) is "
         r"undefined in \[-1.0, "),
        ("1/x", (-1, 1), r"1 / x is undefined in \["),
        ("sqrt(x)", (-2, 1), r"sqrt\(x\) is undefined in \[-2.0, -0.5\]"),
        ("10**1000 + x", (0, 1), r"f\(0.5\) is not finite as a float in \[0.0, 1.0\]"),
    ],
)
def test_non_finite_targets_are_refused_saying_where(expr, domain, match):
    with pytest.raises(ValueError, match=match):
        targets.from_expr(expr, domain)


@pytest.mark.parametrize(
    ("domain", "match"),
    [
        ((1, 1), "a < b"),
        ((2, -1), "a < b"),
        ((0, np.inf), "finite"),
        ((np.nan, 1), "finite"),
        ((0,), "pair of finite numbers"),
        ("ab", "pair of finite numbers"),
        (None, "pair of finite numbers"),
        ((0, 1, 2), "pair of finite numbers"),
    ],
)
def test_bad_domains_are_refused(domain, match):
    with pytest.raises(ValueError, match=match):
        targets.from_expr("x", domain)
    if domain is not None:  # get(name, None) means "the built-in domain"
        with pytest.raises(ValueError, match=match):
            targets.get("exp", domain=domain)


def test_domain_override_that_breaks_finiteness_is_refused():
    inverse = Target("inverse", lambda x: 1 / x, (0.5, 1.0))
    with pytest.raises(ValueError, match="'inverse' is not finite"):
        inverse.with_domain((-1, 1))


def test_unknown_builtin_lists_known_names():
    with pytest.raises(ValueError, match="sin2pi, runge, exp, tanh10, abs15"):
        targets.get("sine")


def test_numeric_second_derivative_stays_inside_the_domain():
    # sqrt is undefined left of 0: the stencil must shift inward near the end point
    t = targets.from_expr("sqrt(x) + x**3", (0, 1))
    x = np.array([0.0, 1e-6, 0.5, 1.0])
    d2 = t.second_derivative(x)
    assert np.all(np.isfinite(d2))
    assert_allclose(d2[2], -0.25 * 0.5**-1.5 + 6 * 0.5, rtol=1e-6)
