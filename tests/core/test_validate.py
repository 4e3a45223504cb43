"""The shared validation helper: every refusal is one specific line."""

import math

import numpy as np
import pytest

from approx.core import validate


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_integer_accepts_python_and_numpy_integers(value):
    assert validate.integer(value, "n", 1) == 3
    assert type(validate.integer(value, "n", 1)) is int


@pytest.mark.parametrize("value", [True, 3.0, "3", None, [3]])
def test_integer_refuses_non_integers(value):
    with pytest.raises(TypeError, match=r"^n must be an integer, got"):
        validate.integer(value, "n")


def test_integer_range_messages():
    with pytest.raises(ValueError, match=r"^n must be an integer ≥ 2, got 1$"):
        validate.integer(1, "n", 2)
    with pytest.raises(ValueError, match=r"^must be an integer in \[2, 5\], got 6$"):
        validate.integer(6, "", 2, 5)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_finite_float_refuses_non_finite(value):
    with pytest.raises(ValueError, match="lr must be a finite number"):
        validate.finite_float(value, "lr")


def test_finite_float_accepts_ints_and_checks_bounds():
    assert validate.finite_float(2, "p", 2.0) == 2.0
    with pytest.raises(ValueError, match=r"> 0"):
        validate.finite_float(0.0, "lr", 0.0, exclusive_minimum=True)
    with pytest.raises(TypeError):
        validate.finite_float(True, "lr")


def test_choice_hints_the_closest_name():
    assert validate.choice("uniform", ("uniform", "adaptive")) == "uniform"
    with pytest.raises(ValueError, match=r"did you mean 'uniform'\? got 'unifrom'"):
        validate.choice("unifrom", ("uniform", "adaptive"), "knots")
    with pytest.raises(ValueError, match="must be one of"):
        validate.choice(["a"], ("a",))  # unhashable: reported, not crashed on
    with pytest.raises(ValueError):
        validate.choice(True, (1, 2))  # a bool is not the integer 1 here


def test_lookup_lists_known_names():
    table = {"relu": 1, "tanh": 2}
    assert validate.lookup(table, "tanh", "activation") == 2
    with pytest.raises(
        ValueError, match=r"unknown activation 'rleu'; did you mean 'relu'\? known: relu, tanh"
    ):
        validate.lookup(table, "rleu", "activation")
    with pytest.raises(ValueError, match=r"unknown activation 3"):
        validate.lookup(table, 3, "activation")


@pytest.mark.parametrize(
    "value",
    [(1, 1), (2, -1), (0, float("inf")), (float("nan"), 1), (0,), "ab", None, (0, 1, 2), ("x", 1)],
)
def test_interval_refuses_what_is_no_closed_interval(value):
    with pytest.raises(ValueError, match=r"^where must be a pair of finite numbers \(a, b\)"):
        validate.interval(value, "where")


def test_interval_returns_floats():
    a, b = validate.interval((np.int64(-1), np.float32(0.5)))
    assert (a, b) == (-1.0, 0.5)
    assert type(a) is float and type(b) is float
