"""Targets refused in one line, naming why: a domain too wide for the floats, a float
form that overflows where the function itself may be finite. And what must still pass."""

from __future__ import annotations

import pytest

from approx.core.errors import ApproxError
from approx.problems.finite import TargetRefused, check_float_range
from approx.problems.targets import from_expr


def test_a_domain_whose_width_overflows_is_refused():
    with pytest.raises(TargetRefused, match="wider than the largest float"):
        from_expr("sin(x)", (-1e308, 1e308))
    assert issubclass(TargetRefused, ValueError) and issubclass(TargetRefused, ApproxError)


@pytest.mark.parametrize(
    ("expr", "domain", "named"),
    [
        ("exp(x)*exp(-x)", (700.0, 720.0), "exp(x) is"),  # 1 where finite, NaN in floats
        ("1e308*10 - 1e308*10", (0.0, 1.0), "1e+308 * 10 is"),
        ("x*1e200/1e200", (1e150, 1e151), "x * 1e+200 is"),  # x, through 1e350
        ("log(exp(x))", (0.0, 800.0), "exp(x) is"),
        ("exp(x)/exp(x - 1)", (700.0, 720.0), "exp(x - 1) is"),
    ],
)
def test_a_float_form_that_overflows_is_refused_naming_the_subexpression(expr, domain, named):
    with pytest.raises(TargetRefused, match="overflows") as info:
        from_expr(expr, domain)
    assert named in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("expr", "domain"),
    [
        ("exp(x)", (700.0, 709.0)),  # up to 8.2e307: below the largest float
        ("1e308*x", (0.0, 1.0)),
        ("sin(x)", (-1e300, 1e300)),
        ("x", (-1e200, 1e200)),
        ("exp(-x**2) * cos(3*x)", (-2.0, 3.0)),
        ("1/(x**2 + 1e-12)", (-1.0, 1.0)),
        ("x", (2.0**-1074, 2.0**-1070)),
    ],
)
def test_targets_whose_float_form_stays_in_range_pass(expr, domain):
    from_expr(expr, domain)
    check_float_range(expr, domain, expr)
