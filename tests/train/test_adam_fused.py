"""Runs of Adam steps in one compiled call give the loop's own numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.nn import MLP
from approx.nn.engine import make_engine
from approx.train import loop, optimizers
from approx.train.options import FirstOrderOptions

pytest.importorskip("numba")


def _engine(d, seed, m=300, scale=1.0):
    rng = np.random.default_rng(seed)
    net = MLP.from_params([rng.normal(size=(1, d)), rng.normal(size=(d, 1)) / d],
                          [rng.normal(size=d) * 0.5, np.zeros(1)], "relu")
    theta = net.pack()
    engine = make_engine(net, theta, np.zeros_like(theta), m, backend="numba")
    x = np.sort(rng.uniform(-1.0, 1.0, m))
    return engine, x, scale * np.sin(3.0 * x)


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 80), st.integers(0, 2**32 - 1), st.integers(1, 25),
       st.sampled_from([1e-3, 0.03, 0.5]))
def test_a_run_of_steps_is_the_loop_of_calls_and_updates(d, seed, n, lr):
    want_engine, x, y = _engine(d, seed)
    got_engine, _, _ = _engine(d, seed)
    lrs = lr * np.linspace(1.0, 0.5, n)
    opt = optimizers.Adam(lr)
    losses = []
    for k in range(n):  # the loop's own steps
        losses.append(want_engine(x, y))
        opt.lr = lrs[k]
        opt.step(want_engine.theta, want_engine.grad)
    fused = optimizers.Adam(lr)
    values, R = np.empty(n), np.empty((n, x.size))
    assert got_engine.fuses_adam
    taken = got_engine.adam_steps(x, y, *fused.ahead(got_engine.theta, lrs), 0.0, R, values)
    fused.taken(lrs[:taken])
    assert taken == n
    np.testing.assert_array_equal(_bits(values), _bits(losses))
    for a, b in ((want_engine.theta, got_engine.theta), (want_engine.grad, got_engine.grad),
                 (opt.m, fused.m), (opt.v, fused.v)):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    assert (fused.t, fused.lr) == (opt.t, opt.lr)


@pytest.mark.parametrize("case", ["nan", "large", "tol"])
def test_the_compiled_run_leaves_the_step_that_may_end_the_fit_to_the_loop(case):
    engine, x, y = _engine(8, 1)
    y = y.copy()
    stop = 0.0
    if case == "nan":
        y[7] = np.nan
    elif case == "large":
        y[7] = 1e151
    else:
        stop = engine.loss_only(x, y) * (1 + 1e-9)  # the first step's loss, summed otherwise
    before = engine.theta.copy()
    opt = optimizers.Adam(0.01)
    taken = engine.adam_steps(x, y, *opt.ahead(engine.theta, np.full(5, 0.01)), stop,
                              np.empty((5, x.size)), np.empty(5))
    assert taken == 0
    np.testing.assert_array_equal(engine.theta, before)


def _fit(fused, monkeypatch, steps=1000, tol=0.0, lr=0.03, relocate=True, scale=1.0):
    engine, x, y = _engine(24, 5, scale=scale)
    with monkeypatch.context() as m:
        if not fused:
            m.setattr(loop._Fused, "of", classmethod(lambda cls, *a: None))
        checks = []

        def monitor(net):
            checks.append(net.pack().copy())
            return float(np.max(np.abs(net(x[:, None])[:, 0] - y)))

        tracker = loop.Tracker(engine.theta, engine.net, monitor, 1)
        options = FirstOrderOptions(steps=steps, tol=tol, lr=lr, schedule="cosine",
                                    batch_size=None, relocate=relocate)
        outcome = loop.first_order(engine, x[:, None], y[:, None], tracker, options, None,
                                   name="adam")
    return outcome, engine.theta.copy(), tracker.best.copy(), checks


@pytest.mark.parametrize(("kwargs", "status"), [
    ({}, "completed"),  # relocations, deadline checks and the monitor's checks between runs
    ({"relocate": False, "steps": 457}, "completed"),
    ({"tol": 2e-3}, "converged"),  # in a run: the loop takes that step itself
    ({"lr": 1e155, "scale": 1e140}, "diverged"),
])
def test_a_fit_is_the_same_with_and_without_the_compiled_runs(monkeypatch, kwargs, status):
    want = _fit(False, monkeypatch, **kwargs)
    got = _fit(True, monkeypatch, **kwargs)
    (h0, s0, m0, k0), (h1, s1, m1, k1) = want[0], got[0]
    assert (s0, m0, k0) == (s1, m1, k1)
    assert s0 == status
    np.testing.assert_array_equal(_bits(h0), _bits(h1))
    for a, b in zip(want[1:3], got[1:3], strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    assert len(want[3]) == len(got[3])
    for a, b in zip(want[3], got[3], strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))


def test_the_runs_stop_where_the_loop_must_act():
    relocate_at = {50, 120}
    assert loop._plain_end(1, 300, 20, relocate_at) == 20  # the monitor's next check
    assert loop._plain_end(41, 300, 20, relocate_at) == 50  # a relocation after step 49
    assert loop._plain_end(61, 300, 100, set()) == loop.DEADLINE_EVERY  # a deadline check
    assert loop._plain_end(281, 290, 20, relocate_at) == 290  # the fit's end


@pytest.mark.parametrize("bad", ["moments", "rows", "steps", "engine"])
def test_arrays_the_compiled_loop_cannot_take_are_refused(bad):
    engine, x, y = _engine(6, 2)
    opt = optimizers.Adam(0.01)
    moments, keeps, shifts, sizes = opt.ahead(engine.theta, np.full(4, 0.01))
    R, values = np.empty((4, x.size)), np.empty(4)
    if bad == "moments":
        moments = (moments[0][:-1], moments[1])
    elif bad == "rows":
        R = np.empty((3, x.size))
    elif bad == "steps":
        sizes = sizes[:2]
    else:
        engine = make_engine(engine.net, engine.theta, engine.grad, x.size, "lp", 4.0,
                             backend="numba")
    before = engine.theta.copy()
    with pytest.raises(ValueError, match="adam_steps"):
        engine.adam_steps(x, y, moments, keeps, shifts, sizes, 0.0, R, values)
    np.testing.assert_array_equal(engine.theta, before)
