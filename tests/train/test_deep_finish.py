"""adam+lp: the Lᵖ continuation over every parameter of a deep net."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.nn import MLP
from approx.train import deep_finish, fit_target, train
from approx.train.options import AdamLPOptions, resolve_fit


@given(st.lists(st.floats(-1e-5, 1e-5, allow_subnormal=False), min_size=2, max_size=40),
       st.sampled_from([2.0, 4.0, 16.0, 1024.0]))
@settings(max_examples=60, deadline=None)
def test_the_p_mean_and_its_gradient_are_their_closed_forms_without_underflow(values, p):
    r = np.array(values)[:, None]
    value, grad = deep_finish.p_mean(r, np.zeros_like(r), p)
    a = float(np.max(np.abs(r)))
    if a == 0:
        assert value == 0 and not grad.any()
        return
    # (mean |r|^p)^(1/p) and its gradient M^(1-p) |r_i|^(p-1) sign(r_i) / n, in 50 digits
    # (|r|^1024 would underflow in floats); a central difference of p_mean itself is
    # off by its rounding over the step (about 1e-9 absolute here), more than the
    # small coordinates of the gradient
    n = len(values)
    with mp.workdps(50):
        M = (mp.fsum([mp.mpf(v) ** int(p) for v in values]) / n) ** (1 / mp.mpf(p))
        want = [float(M ** (1 - int(p)) * abs(mp.mpf(v)) ** (int(p) - 1) * mp.sign(v) / n)
                for v in values]
    assert value == pytest.approx(float(M), rel=1e-12)
    assert a * n ** (-1 / p) * (1 - 1e-12) <= value <= a * (1 + 1e-12)
    np.testing.assert_allclose(grad[:, 0], want, rtol=1e-12, atol=1e-300)


def test_the_working_set_is_coarse_plus_windows_around_the_peaks(monkeypatch):
    monkeypatch.setattr(deep_finish, "PEAKS", 2)
    monkeypatch.setattr(deep_finish, "WINDOW", 3)
    m = 1000
    r = np.full(m, 0.1)
    r[[200, 600, 601]] = [5.0, -7.0, 1.0]  # two peaks (600 the larger); 400 a small one
    r[400] = 2.0
    rows = deep_finish._working_set(r, coarse=10)
    want = set(range(0, m, 100)) | {m - 1} | set(range(197, 204)) | set(range(597, 604))
    assert set(rows) == want and np.all(np.diff(rows) > 0)


def _deep_problem():
    x = np.linspace(-1.0, 1.0, 400)
    return x, np.abs(x) ** 1.5 - 0.5 * x


def test_the_continuation_keeps_the_best_iterate_and_beats_adam_alone():
    x, y = _deep_problem()
    net = MLP([1, 6, 6, 1], rng=np.random.default_rng(3))
    x_val = np.linspace(-1, 1, 1601)

    def monitor(candidate):
        return float(np.max(np.abs(candidate(x_val) - (np.abs(x_val) ** 1.5 - 0.5 * x_val))))

    common = dict(rng=np.random.default_rng(0), monitor=monitor, monitor_every=1)
    adam = train(net, x, y, "adam", steps=300, relocate=False, **common)
    both = train(net, x, y, "adam+lp", steps=300, relocate=False, polish_steps=40,
                 polish_p=64.0, **common)
    assert monitor(both.net) == pytest.approx(both.score)
    assert both.score <= adam.score
    assert both.score < 0.8 * adam.score  # the continuation lowers the max error clearly
    labels = [name for name, _ in both.phases]
    assert labels == ["adam:mse", "lbfgs:M4", "lbfgs:M8", "lbfgs:M16", "lbfgs:M32",
                      "lbfgs:M64"]
    starts = [at for _, at in both.phases]
    assert starts[0] == 0 and starts == sorted(starts) and starts[-1] < both.history.size


def test_without_a_monitor_the_iterates_compare_by_their_max_residual():
    x, y = _deep_problem()
    net = MLP([1, 5, 5, 1], rng=np.random.default_rng(1))
    result = train(net, x, y, "adam+lp", steps=200, polish_steps=30, polish_p=32.0,
                   rng=np.random.default_rng(0))
    adam = train(net, x, y, "adam", steps=200, rng=np.random.default_rng(0))
    worst = float(np.max(np.abs(result.net(x) - y)))
    assert result.score is None and math.isfinite(result.loss)
    assert worst <= float(np.max(np.abs(adam.net(x) - y))) * (1 + 1e-12)
    assert result.loss == pytest.approx(0.5 * float(np.mean((result.net(x) - y) ** 2)))


def test_the_recipe_option_reads_its_own_defaults_and_refuses_the_finish():
    recipe = resolve_fit({"optimizer": "adam+lp", "depth": 3})
    assert isinstance(recipe.optimizer, AdamLPOptions)
    assert (recipe.optimizer.polish_steps, recipe.optimizer.polish_p) == (300, 512.0)
    with pytest.raises(ValueError, match="finish_steps"):
        resolve_fit({"optimizer": "adam+lp", "finish_steps": 10})
    default = resolve_fit({})  # the default recipe of depth-1 nets is untouched
    assert default.fit.optimizer == "adam+lm"


def test_a_deep_fit_to_a_target_through_the_recipe():
    from approx.problems.targets import from_expr

    target = from_expr("x**2", (0.0, 1.0), "square")
    result = fit_target(target, 5, np.random.default_rng(0), depth=2, optimizer="adam+lp",
                        steps=300, polish_steps=20, polish_p=16.0, n_train=256)
    x = np.linspace(0, 1, 2001)
    error = float(np.max(np.abs(result.net(x) - x**2)))
    assert len(result.net.sizes) == 4 and error < 0.05
