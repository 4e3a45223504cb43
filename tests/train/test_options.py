"""The training options: declared once, checked once where they come in, trusted below."""

import dataclasses
import inspect

import numpy as np
import pytest

from approx import methods
from approx.core.options import Option
from approx.nn import MLP
from approx.problems import targets
from approx.train import fit_recipe, fit_target, optimize, train
from approx.train import options as opts


@pytest.fixture
def checks(monkeypatch):
    """The names of the options checked (every check goes through Option.check)."""
    calls = []
    original = Option.check

    def counting(self, value, what=""):
        calls.append(self.name)
        return original(self, value, what)

    monkeypatch.setattr(Option, "check", counting)
    return calls


def test_every_optimizer_record_is_its_schema():
    for name, cls in opts.OPTIONS.items():
        assert cls.optimizer == name
        assert tuple(f.name for f in dataclasses.fields(cls)) == cls.schema.names
        defaults = cls.of({})
        assert dataclasses.asdict(defaults) == {o.name: o.default for o in cls.schema}
    assert opts.OPTIONS["sgd"].of({}).lr == 0.05 and opts.OPTIONS["adam"].of({}).lr == 0.03
    assert [opts.OPTIONS[k].of({}).steps for k in opts.OPTIONS] == [3000, 3000, 500, 100, 3000,
                                                                     3000]


def test_fit_target_accepts_exactly_the_fit_and_optimizer_options():
    every = set(opts.FIT.names).union(*(c.schema.names for c in opts.OPTIONS.values()))
    assert set(opts.FIT_TARGET.names) == every
    assert set(opts.TRAINING.names) == every - set(opts.FIT.names)
    # where optimizers disagree, the merged declaration says so instead of picking one
    assert opts.TRAINING["lr"].default is None
    assert "0.05 (sgd), 0.03 (adam, adam+lm, adam+lp)" in opts.TRAINING["lr"].help()
    assert opts.TRAINING["steps"].minimum == 0  # adam+lm's; each optimizer checks its own


def test_the_help_of_train_and_fit_target_lists_every_option():
    for function, schema in ((train, opts.TRAINING), (fit_target, opts.FIT_TARGET)):
        doc = inspect.getdoc(function)
        for option in schema:
            assert f"\n{option.name} (" in doc, (function.__name__, option.name)


def test_one_monitor_every_default():
    declared = opts.FIT["monitor_every"].default
    for function in (train, optimize):
        assert inspect.signature(function).parameters["monitor_every"].default == declared


def test_resolving_checks_each_given_option_once(checks):
    given = {"optimizer": "adam", "lr": 0.01, "steps": 40, "loss": "lp", "p": 6.0}
    recipe = opts.resolve_fit(given)
    assert sorted(checks) == sorted(given)
    assert recipe.optimizer.lr == 0.01 and recipe.fit.p == 6.0
    checks.clear()
    trained = methods.get("trained")
    stored = trained.resolve(given)
    assert sorted(checks) == sorted(given)
    assert opts.Recipe.from_stored(stored) == recipe


def test_below_the_boundary_nothing_is_checked_again(checks):
    recipe = opts.resolve_fit({"optimizer": "lbfgs", "steps": 5, "n_train": 64})
    checks.clear()
    result = fit_recipe(targets.get("exp"), 4, np.random.default_rng(0), recipe)
    assert result.steps <= 5 and checks == []
    # the first-order optimizers' own constructors (public classes) check their step size
    recipe = opts.resolve_fit({"optimizer": "adam", "steps": 5, "n_train": 64})
    checks.clear()
    fit_recipe(targets.get("exp"), 4, np.random.default_rng(0), recipe)
    assert checks == ["lr"]


def test_stored_recipes_hold_none_for_what_they_do_not_read():
    stored = opts.resolve_fit({"optimizer": "lbfgs", "select": "loss"}).stored()
    assert list(stored) == list(opts.FIT_TARGET.names)
    unread = {k for k, v in stored.items() if v is None}
    assert {"lr", "schedule", "momentum", "polish_steps", "n_val", "monitor_every", "p"} <= unread
    polish_only = opts.resolve_fit({"init": "construction"}).stored()
    assert polish_only["steps"] == 0 and polish_only["lr"] is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"learning_rate": 0.1}, "fit_target has no option 'learning_rate'"),
        ({"optimizer": "adam", "lr": 0.0}, "lr must be a number > 0, got 0.0"),
        ({"optimizer": "adam", "steps": 0}, "steps must be an integer ≥ 1, got 0"),
        ({"optimizer": "sgd", "momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"optimizer": "lm", "lr": 0.1}, "optimizer 'lm' does not read 'lr'; it reads: steps"),
        ({"depth": 2, "init": "knots"}, "depth 2 needs init 'he'"),
    ],
)
def test_refusals_name_the_option(given, message):
    with pytest.raises(ValueError, match=message):
        opts.resolve_fit(given)


def test_train_refuses_an_unknown_option_with_a_hint():
    x = np.linspace(-1, 1, 8)
    with pytest.raises(ValueError, match="optimizer 'adam' has no option 'batchsize'; did you"):
        train(MLP([1, 3, 1]), x, x, "adam", batchsize=4)
