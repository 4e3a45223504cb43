"""The cost model of ``--dry-run``: every method kind has one, and it grows with the work."""

from __future__ import annotations

import pytest

from approx import methods
from approx.methods import classifiers, timing

KINDS = [("approximation", k) for k in methods.METHODS] + [
    ("classification", k) for k in classifiers.CLASSIFIERS]


@pytest.mark.parametrize(("task", "kind"), KINDS, ids=[f"{t}-{k}" for t, k in KINDS])
def test_every_kind_has_a_positive_cost_that_grows_with_the_width(task, kind):
    found = methods.get(kind) if task == "approximation" else classifiers.CLASSIFIERS[kind]
    params = found.resolve({})
    small = timing.run_seconds(task, kind, 4, params)
    large = timing.run_seconds(task, kind, 1024, params)
    assert small is not None and 0 < small <= large


def test_a_trained_run_costs_more_with_more_steps_depth_and_points():
    base = methods.get("trained").resolve({"optimizer": "lbfgs", "steps": 1000})
    seconds = timing.run_seconds("approximation", "trained", 32, base)
    for more in ({"steps": 4000}, {"depth": 3}, {"n_train": 8192}):
        params = methods.get("trained").resolve({"optimizer": "lbfgs", "steps": 1000, **more})
        assert timing.run_seconds("approximation", "trained", 32, params) > 2 * seconds
    two = timing.run_seconds("classification", "linear", 0, {}, classes=2)
    assert timing.run_seconds("classification", "linear", 0, {}, classes=8) == 4 * two


def test_a_kind_without_a_cost_model_has_no_estimate():
    assert timing.run_seconds("approximation", "no-such-kind", 8, {}) is None
