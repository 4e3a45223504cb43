"""Many nets trained at once: bit for bit the same fits as one at a time, whatever the group."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.core.deadline import DeadlineExceeded
from approx.nn import MLP
from approx.nn.backend import ENV_VAR, numba_available
from approx.nn.batch import BatchEngine
from approx.problems import targets
from approx.train.batched import batchable, first_order_batch, fit_recipes
from approx.train.loop import Tracker, first_order
from approx.train.options import resolve_fit
from approx.train.recipe import fit_recipe

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])


def _same(alone, together):
    """Weights, histories and every other field of two TrainResults equal, bit for bit."""
    np.testing.assert_array_equal(alone.net.pack(), together.net.pack())
    np.testing.assert_array_equal(alone.history, together.history)
    for field in ("status", "message", "steps", "loss", "initial_loss", "score", "phases"):
        assert getattr(alone, field) == getattr(together, field), field


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=12, deadline=None)
@given(
    optimizer=st.sampled_from(["adam", "sgd"]),
    members=st.lists(st.tuples(st.integers(1, 48), st.integers(0, 10**6)), min_size=1,
                     max_size=5),
    target=st.sampled_from(["sin2pi", "abs15", "runge"]),
    select=st.sampled_from(["max_error", "loss"]),
    init=st.sampled_from(["he", "he", "knots"]),
    n_train=st.integers(40, 160),
)
def test_a_group_fits_every_net_as_it_fits_alone(
    backend, optimizer, members, target, select, init, n_train
):
    recipe = resolve_fit({"optimizer": optimizer, "steps": 100, "select": select, "init": init,
                          "n_train": n_train})
    f = targets.get(target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, backend)
        together = fit_recipes(f, [(w, np.random.default_rng(s)) for w, s in members], recipe)
        alone = [fit_recipe(f, w, np.random.default_rng(s), recipe) for w, s in members]
        # part of the group (as a resumed sweep has it): the same numbers again
        part = fit_recipes(f, [(w, np.random.default_rng(s)) for w, s in members[1::2]], recipe)
    for a, b in zip(alone, together, strict=True):
        _same(a, b)
    for a, b in zip(alone[1::2], part, strict=True):
        _same(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nets_that_diverge_or_converge_stop_where_they_would_alone(backend):
    f = targets.get("sin2pi")
    members = [(2, 0), (8, 1), (30, 2), (64, 3)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_VAR, backend)
        # SGD: every net diverges, each at its own step; Adam: one converges, three go on
        for opts in ({"optimizer": "sgd", "lr": 15.0}, {"optimizer": "adam", "tol": 0.02}):
            recipe = resolve_fit({**opts, "steps": 300, "n_train": 128})
            together = fit_recipes(f, [(w, np.random.default_rng(s)) for w, s in members],
                                   recipe)
            alone = [fit_recipe(f, w, np.random.default_rng(s), recipe) for w, s in members]
            stops = {(a.status, a.steps) for a in alone}
            assert len(stops) >= 2 and {s for s, _ in stops} != {"completed"}, stops
            for a, b in zip(alone, together, strict=True):
                _same(a, b)


def _engine_and_trackers(widths, x, y):
    rng = np.random.default_rng(7)
    nets = [MLP([1, d, 1], rng=rng) for d in widths]
    batch = BatchEngine(nets, x.size)
    return batch, [Tracker(e.theta, e.net, None, 1) for e in batch.engines]


def test_a_net_past_its_deadline_stops_and_the_others_go_on():
    x = np.linspace(-1.0, 1.0, 64)
    y = np.cos(4.0 * x)
    options = resolve_fit({"optimizer": "adam", "steps": 200}).optimizer
    batch, trackers = _engine_and_trackers([5, 9, 12], x, y)
    start = batch.theta.copy()
    past = (time.monotonic() - 1.0, 0.5)
    outcomes = first_order_batch(batch, x, y, trackers, options, name="adam",
                                 deadlines=[None, past, None])
    assert isinstance(outcomes[1], DeadlineExceeded)
    assert "0.5 s" in str(outcomes[1])
    # the others: as alone, from the same start
    for i in (0, 2):
        alone, tracker = _engine_and_trackers([batch.engines[i].net.sizes[1]], x, y)
        alone.theta[...] = start[batch.slice(i)]
        (expected,) = first_order_batch(alone, x, y, tracker, options, name="adam")
        np.testing.assert_array_equal(outcomes[i][0], expected[0])
        np.testing.assert_array_equal(batch.theta[batch.slice(i)], alone.theta)


def test_the_batched_loop_is_the_single_loop_on_a_batch_of_one():
    x = np.linspace(-1.0, 1.0, 100)
    y = np.abs(x - 0.3)
    options = resolve_fit({"optimizer": "sgd", "steps": 150}).optimizer
    batch, trackers = _engine_and_trackers([6], x, y)
    single, strackers = _engine_and_trackers([6], x, y)
    (outcome,) = first_order_batch(batch, x, y, trackers, options, name="sgd")
    expected = first_order(single.engines[0], x, y, strackers[0], options, None, name="sgd")
    np.testing.assert_array_equal(outcome[0], expected[0])
    assert outcome[1:] == expected[1:]
    np.testing.assert_array_equal(batch.theta, single.theta)
    np.testing.assert_array_equal(trackers[0].best, strackers[0].best)


def test_only_full_batch_first_order_recipes_of_shallow_nets_are_batched():
    assert batchable(resolve_fit({"optimizer": "adam"}))
    assert batchable(resolve_fit({"optimizer": "sgd", "loss": "lp"}))
    assert not batchable(resolve_fit({"optimizer": "adam", "batch_size": 32}))
    assert not batchable(resolve_fit({"optimizer": "adam+lm"}))
    assert not batchable(resolve_fit({"optimizer": "lbfgs"}))
    assert not batchable(resolve_fit({"optimizer": "adam", "depth": 2}))
    with pytest.raises(ValueError, match="full-batch"):
        fit_recipes(targets.get("exp"), [(4, np.random.default_rng(0))],
                    resolve_fit({"optimizer": "lm"}))


def test_a_member_whose_set_up_fails_gets_its_own_error():
    recipe = resolve_fit({"optimizer": "adam", "steps": 20, "init": "construction"})
    f = targets.get("exp")
    out = fit_recipes(f, [(1, np.random.default_rng(0)), (4, np.random.default_rng(1))], recipe)
    assert isinstance(out[0], ValueError) and "width ≥ 2" in str(out[0])
    _same(fit_recipe(f, 4, np.random.default_rng(1), recipe), out[1])
