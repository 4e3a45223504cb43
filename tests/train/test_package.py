"""The train package: options refused when unread, random streams, reset, knot-form LM."""

import numpy as np
import pytest

from approx import methods
from approx.analysis.errors import max_error
from approx.experiment.config import ConfigError, parse_config
from approx.models.construct import relu_interpolant
from approx.nn import MLP, unpack
from approx.problems import targets
from approx.train import SGD, Adam, fit_target, make_engine, recipe, relocate, train
from approx.train.knot_form import _assemble, equidistribute, knot_form, to_theta, widen

X = np.linspace(-1.0, 1.0, 128)
Y = np.sin(np.pi * X)


def he_net(width=12, seed=0):
    rng = np.random.default_rng(seed)
    net = MLP([1, width, 1], rng=rng)
    net.biases[0] = rng.uniform(-1, 1, width)
    return net


# ---------------------------------------------------------------------------------------
# options the chosen optimizer does not read are refused, by train and by config loading


@pytest.mark.parametrize(
    ("optimizer", "options", "unread"),
    [
        ("lbfgs", {"lr": 123.0, "batch_size": 4}, "'lr', 'batch_size'"),
        ("lm", {"polish_steps": 5}, "'polish_steps'"),
        ("adam", {"momentum": 0.5}, "'momentum'"),
        ("sgd", {"polish_p": 4.0}, "'polish_p'"),
    ],
)
def test_train_refuses_options_the_optimizer_does_not_read(optimizer, options, unread):
    with pytest.raises(ValueError, match=rf"{optimizer!r} does not read {unread}; it reads"):
        train(he_net(), X, Y, optimizer, **options)


def test_fit_target_refuses_fit_options_the_combination_does_not_read():
    target = targets.get("exp")
    with pytest.raises(ValueError, match="'p' not read"):
        fit_target(target, 4, np.random.default_rng(0), loss="mse", p=4.0)
    with pytest.raises(ValueError, match="'knots' not read with init 'he'"):
        fit_target(target, 4, np.random.default_rng(0), knots="adaptive")
    with pytest.raises(ValueError, match="no option 'learning_rate'"):
        fit_target(target, 4, np.random.default_rng(0), learning_rate=0.1)


def test_config_refuses_an_unread_option_naming_the_method():
    text = """
name = "s"
widths = [4]
[[targets]]
name = "exp"
[[methods]]
name = "bad"
kind = "trained"
optimizer = "lbfgs"
lr = 0.1
"""
    with pytest.raises(ConfigError, match=r"methods\[0\].*'lbfgs' does not read 'lr'"):
        parse_config(text, "s.toml")


def test_resolved_parameters_hold_what_the_fit_reads():
    trained = methods.get("trained")
    lbfgs = trained.resolve({"optimizer": "lbfgs"})
    assert lbfgs["steps"] == 500 and lbfgs["lr"] is None and lbfgs["polish_steps"] is None
    default = trained.resolve({})
    assert default["optimizer"] == "adam+lm" and default["steps"] == 3000
    # the construction start is polished without an Adam phase unless steps is given
    assert trained.resolve({"init": "construction"})["steps"] == 0
    assert trained.resolve({"init": "construction", "steps": 7})["steps"] == 7
    # the runner resolves resolved parameters again: nothing changes, nothing is refused
    for given in ({}, {"optimizer": "lbfgs"}, {"init": "construction", "knots": "adaptive"}):
        once = trained.resolve(given)
        assert trained.resolve(once) == once


def test_adam_options_are_refused_when_adam_plus_lm_has_no_adam_phase():
    trained = methods.get("trained")
    # from the construction, adam+lm polishes without an Adam phase: lr goes unread
    with pytest.raises(ValueError, match=r"steps = 0.*does not read 'lr'"):
        trained.resolve({"init": "construction", "knots": "adaptive", "lr": 0.01})
    with pytest.raises(ValueError, match=r"does not read 'schedule'"):
        fit_target(
            targets.get("exp"), 4, np.random.default_rng(0), init="knots", schedule="constant"
        )
    resolved = trained.resolve({"init": "construction"})
    assert resolved["lr"] is None and resolved["relocate"] is None
    assert trained.resolve(resolved) == resolved
    # with an Adam phase asked for, lr is read; grown from He weights, lr is read by the
    # narrow net's Adam phase and the wide polish runs without it
    assert trained.resolve({"init": "construction", "steps": 5, "lr": 0.01})["lr"] == 0.01
    fit = fit_target(
        targets.get("exp"),
        8,
        np.random.default_rng(0),
        grow_from=4,
        lr=0.01,
        steps=5,
        polish_steps=2,
    )
    assert fit.net.sizes == [1, 8, 1]


# ---------------------------------------------------------------------------------------
# random streams


def test_the_initial_weights_do_not_depend_on_the_training_points(monkeypatch):
    seen = []

    def record(net, *args, **kwargs):
        seen.append(net.pack())
        raise StopIteration

    monkeypatch.setattr(recipe, "optimize", record)
    for n_train, sampling in [(64, "uniform"), (300, "uniform"), (300, "random")]:
        with pytest.raises(StopIteration):
            fit_target(
                targets.get("runge"),
                10,
                np.random.default_rng(5),
                optimizer="adam",
                n_train=n_train,
                sampling=sampling,
            )
    np.testing.assert_array_equal(seen[0], seen[1])
    np.testing.assert_array_equal(seen[0], seen[2])
    with pytest.raises(StopIteration):
        fit_target(targets.get("runge"), 10, np.random.default_rng(6), optimizer="adam")
    assert not np.array_equal(seen[0], seen[3])


# ---------------------------------------------------------------------------------------
# optimizers' reset(rows) and relocation


def test_adam_reset_restarts_the_rows_from_their_peers():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(8)
    opt = Adam(0.01)
    for _ in range(3):
        opt.step(theta, rng.standard_normal(8))
    m, v = opt.m.copy(), opt.v.copy()
    rows, peers = np.array([1, 4]), np.array([0, 2, 3])
    opt.reset(rows, peers)
    np.testing.assert_array_equal(opt.m[rows], 0.0)
    np.testing.assert_allclose(opt.v[rows], np.mean(v[peers]), rtol=1e-15)
    keep = np.setdiff1d(np.arange(8), rows)
    np.testing.assert_array_equal(opt.m[keep], m[keep])
    np.testing.assert_array_equal(opt.v[keep], v[keep])
    opt.reset(rows)  # no peers: a second moment of zero
    np.testing.assert_array_equal(opt.v[rows], 0.0)
    Adam(0.01).reset(rows)  # before the first step there is nothing to reset


def test_sgd_reset_forgets_the_velocity_of_the_rows():
    theta = np.zeros(5)
    opt = SGD(0.1, momentum=0.9)
    opt.step(theta, np.arange(5.0))
    opt.reset(np.array([0, 3]))
    np.testing.assert_array_equal(opt.v, [0.0, 1.0, 2.0, 0.0, 4.0])


@pytest.mark.parametrize("seed", range(5))
def test_relocation_leaves_the_function_unchanged_on_the_data(seed):
    rng = np.random.default_rng(seed)
    d = 30
    net = MLP([1, d, 1], rng=rng)
    theta = net.pack()
    net.weights, net.biases = unpack(theta, net.sizes)
    # kinks spread far beyond the data: many dead and many everywhere-active units
    net.biases[0][:] = rng.uniform(-4.0, 4.0, d)
    x = np.sort(rng.uniform(-1.0, 1.0, 200))
    opt = Adam(0.01)
    opt.step(theta, rng.standard_normal(theta.size))
    before = net(x)
    moved = relocate(net, x, before - np.cos(7 * x), opt)
    assert moved > 0
    np.testing.assert_allclose(net(x), before, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# the engine protocol's residuals


@pytest.mark.parametrize("fast", [True, False])
def test_engine_residuals_and_jacobian_match_the_reference(fast):
    net = he_net(9)
    theta = net.pack()
    grad = np.zeros_like(theta)
    engine = make_engine(net, theta, grad, X.size, fused=fast)
    expected = net(X) - Y
    np.testing.assert_allclose(engine.residuals(X, Y), expected, rtol=0, atol=1e-14)
    r, J = engine.residual_jacobian(X, Y)
    reference = MLP.from_params(net.weights, net.biases, net.activation)
    r_ref, J_ref = reference.residual_jacobian(X, Y)
    np.testing.assert_allclose(r, r_ref, rtol=0, atol=1e-14)
    np.testing.assert_allclose(J, J_ref, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------
# the knot form and its banded Levenberg–Marquardt


def test_knot_form_and_back_leave_the_function_unchanged():
    for width in (5, 17):
        net = he_net(width, seed=width)
        tau, u = knot_form(net, -1.0, 1.0)
        assert tau.size == width + 1 and np.all(np.diff(tau) > 0)
        back = MLP([1, width, 1])
        theta = back.pack()
        to_theta(tau, u, theta, back.sizes)
        back.unpack(theta)
        x = np.linspace(-1.0, 1.0, 999)
        np.testing.assert_allclose(back(x), net(x), rtol=0, atol=1e-12)


def test_banded_normal_equations_equal_the_dense_ones_by_finite_differences():
    rng = np.random.default_rng(3)
    n = 7
    tau = np.concatenate(([-1.0], np.sort(rng.uniform(-1, 1, n - 2)), [1.0]))
    u = rng.standard_normal(n)
    x = np.sort(rng.uniform(-1, 1, 60))
    y = np.sin(3 * x)
    for p in (2.0, 6.0):
        m = x.size
        c = np.sqrt(2.0 / (p * m))

        def rho(q, c=c, p=p):
            r = np.interp(x, q[0::2], q[1::2]) - y
            return c * np.sign(r) * np.abs(r) ** (p / 2)

        q = np.empty(2 * n)
        q[0::2], q[1::2] = tau, u
        J = np.empty((m, 2 * n))
        for k in range(2 * n):
            e = np.zeros(2 * n)
            e[k] = 1e-7
            J[:, k] = (rho(q + e) - rho(q - e)) / 2e-7
        J[:, [0, 2 * n - 2]] = 0.0  # the end knots are fixed
        value, ab, g, _ = _assemble(tau, u, x, y, p)
        A = J.T @ J
        dense = np.zeros_like(A)
        for k in range(4):  # upper banded form: ab[3 - k, j] = A[j - k, j]
            idx = np.arange(k, 2 * n)
            dense[idx - k, idx] = ab[3 - k, k:]
        dense = np.triu(dense) + np.triu(dense, 1).T
        assert value == pytest.approx(0.5 * rho(q) @ rho(q), rel=1e-12)
        np.testing.assert_allclose(g, J.T @ rho(q), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(dense, A, rtol=1e-5, atol=1e-9)
        assert np.all(np.triu(A, 4) == 0.0)


def test_equidistributed_knots_follow_the_curvature_and_widen_interpolates():
    # a fit with all its curvature in [0, 0.5]: the knots crowd there
    tau = np.linspace(-1.0, 1.0, 41)
    u = np.where(tau > 0, np.sin(2 * np.pi * np.clip(tau, 0.0, 0.5)), 0.0)
    new, values = equidistribute(tau, u)
    assert new.size == tau.size and new[0] == -1.0 and new[-1] == 1.0
    assert np.all(np.diff(new) > 0)
    assert np.count_nonzero((new > 0) & (new < 0.5)) > 2 * np.count_nonzero(new < -0.5)
    np.testing.assert_allclose(values, np.interp(new, tau, u), rtol=0, atol=1e-15)
    narrow = he_net(8)
    wide = widen(narrow, 40, -1.0, 1.0)
    knots, _ = knot_form(wide, -1.0, 1.0)
    np.testing.assert_allclose(wide(knots), narrow(knots), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# quality smoke tests: the default recipe against the constructions (certified ε)


def test_default_recipe_from_random_weights_is_within_2x_of_the_uniform_construction():
    target = targets.get("runge")
    d = 32
    fit = methods.fit("trained", target, d, np.random.default_rng(1), polish_steps=60)
    uniform = max_error(target, relu_interpolant(target, d))
    assert max_error(target, fit.model) <= 2.0 * uniform


def test_polishing_the_adaptive_construction_beats_it_by_40_percent():
    target = targets.get("tanh10")
    d = 48
    fit = methods.fit(
        "trained", target, d, np.random.default_rng(0), init="construction", knots="adaptive"
    )
    adaptive = max_error(target, relu_interpolant(target, d, knots="adaptive"))
    assert max_error(target, fit.model) <= 0.6 * adaptive


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs", "lm", "adam+lm"])
def test_training_loops_check_the_time_limit(optimizer):
    import time

    from approx.core import deadline

    with deadline.time_limit(1e-3), pytest.raises(deadline.DeadlineExceeded):
        time.sleep(2e-3)
        train(he_net(), X, Y, optimizer, steps=500)
