"""The method table: parameter declarations, defaults and refusals."""

import numpy as np
import pytest

from approx import methods
from approx.core.options import Option
from approx.methods import classifiers as classify
from approx.nn import ACTIVATIONS
from approx.problems import datasets, targets


def test_every_method_declares_checked_defaults():
    for kind, method in methods.METHODS.items():
        assert method.kind == kind
        resolved = method.resolve({})
        assert set(resolved) == {p.name for p in method.params}
        for p in method.params:
            assert p.check(p.default) == p.default


def test_resolve_fills_defaults_and_keeps_given_values():
    m = methods.get("relu-interpolant")
    assert m.resolve({}) == {"knots": "uniform"}
    assert m.resolve({"knots": "adaptive"}) == {"knots": "adaptive"}


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        (Option("n", int, 1), 1.5, "must be an integer, got float"),
        (Option("n", int, 1), True, "must be an integer, got boolean"),
        (Option("n", int, 2, minimum=2), 1, "must be an integer ≥ 2"),
        (Option("s", str, "a", choices=("a", "b")), "c", "must be one of 'a', 'b'"),
        (Option("x", float, 1.0), "1", "must be a number, got string"),
        (Option("flag", bool, False), 1, "must be of type bool, got int"),
    ],
)
def test_param_check_refuses(param, value, match):
    with pytest.raises(ValueError, match=match):
        param.check(value)


def test_param_check_accepts_int_for_float():
    assert Option("x", float, 1.0).check(2) == 2.0
    assert isinstance(Option("x", float, 1.0).check(2), float)


def test_unknown_parameter_lists_the_known_ones():
    hint = r"has no parameter 'knot'; did you mean 'knots'\? its parameters are: knots"
    with pytest.raises(ValueError, match=hint):
        methods.get("relu-interpolant").resolve({"knot": "uniform"})


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: relu-interpolant"):
        methods.get("relu")


@pytest.mark.parametrize(
    ("width", "match"),
    [
        (1, "must be an integer ≥ 2, got 1"),
        (2.0, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_fit_refuses_bad_widths(width, match):
    with pytest.raises(ValueError, match=match):
        methods.fit("relu-interpolant", targets.get("exp"), width, np.random.default_rng(0))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_trained_nets_take_every_registered_activation(activation):
    """The activation choices are the registry's: a new record is accepted by the
    approximation and the classification ``trained`` kinds alike."""
    rng = np.random.default_rng(0)
    fit = methods.fit(
        "trained", targets.get("exp"), 4, rng, activation=activation, steps=10, optimizer="lbfgs"
    )
    assert fit.model.activation == activation and np.isfinite(fit.history).all()
    sample = datasets.draw("xor", rng, n_samples=20, n_test=5)
    clf = classify.fit("trained", sample, 4, rng, activation=activation, steps=10)
    assert clf.model.activation == activation
