"""Training: every optimizer lowers the loss, keep-best, divergence, seeds, bad input."""

import numpy as np
import pytest

from approx import methods
from approx.nn import MLP, unpack
from approx.nn.engine import make_engine
from approx.problems import targets
from approx.train import (
    INITS,
    LR_FLOOR,
    OPTIMIZERS,
    Adam,
    fit_target,
    lr_factor,
    relocate,
    train,
)

X = np.linspace(-1.0, 1.0, 128)
Y = np.sin(np.pi * X)


def start(seed=0, width=12, activation="relu"):
    net = MLP([1, width, 1], activation, rng=np.random.default_rng(seed))
    net.biases[0] = np.random.default_rng(seed + 1).uniform(-1, 1, width)
    return net


@pytest.mark.parametrize(
    ("optimizer", "kw"),
    [
        ("sgd", {"steps": 300}),
        ("sgd", {"steps": 300, "batch_size": 16}),
        ("adam", {"steps": 300}),
        ("adam", {"steps": 300, "schedule": "cosine", "relocate": True}),
        ("lbfgs", {"steps": 100}),
        ("lm", {"steps": 50}),
        ("adam+lm", {"steps": 200, "polish_steps": 20}),
    ],
)
def test_each_optimizer_drives_the_loss_down(optimizer, kw):
    result = train(start(), X, Y, optimizer, rng=np.random.default_rng(3), **kw)
    assert result.status in ("converged", "completed")
    assert result.loss < 0.2 * result.initial_loss
    assert np.isfinite(result.history).all() and result.history.size >= 1
    # the returned net's loss is the one reported
    assert result.loss == pytest.approx(0.5 * np.mean((result.net(X) - Y) ** 2), rel=1e-12)


def test_lp_and_softmax_losses_train():
    result = train(start(), X, Y, "adam", steps=200, loss="lp", p=6.0)
    assert result.loss < 0.5 * result.initial_loss
    rng = np.random.default_rng(4)
    Xc = rng.standard_normal((60, 2))
    labels = (Xc[:, 0] * Xc[:, 1] > 0).astype(int)
    net = MLP([2, 8, 2], "tanh", rng=rng)
    result = train(net, Xc, labels, "lbfgs", steps=100, loss="softmax")
    assert result.loss < 0.5 * result.initial_loss


def test_input_net_is_left_unchanged():
    net = start()
    before = net.pack()
    train(net, X, Y, "adam", steps=20)
    np.testing.assert_array_equal(net.pack(), before)


def test_fast_engine_gives_the_reference_gradient():
    for activation in ("relu", "tanh"):
        for bias in (True, False):
            net = MLP([1, 17, 1], activation, bias=bias, rng=np.random.default_rng(5))
            nets = [
                MLP.from_params(net.weights, net.biases if bias else None, activation)
                for _ in range(2)
            ]
            thetas = [n.pack() for n in nets]
            grads = [np.zeros_like(t) for t in thetas]
            fast = make_engine(nets[0], thetas[0], grads[0], X.size)(X, Y)
            slow = make_engine(nets[1], thetas[1], grads[1], X.size, fused=False)(X, Y)
            assert fast == pytest.approx(slow, rel=1e-12)
            np.testing.assert_allclose(grads[0], grads[1], rtol=1e-10, atol=1e-13)


def test_fast_and_general_training_agree():
    a = train(start(), X, Y, "adam", steps=50, fast=True)
    b = train(start(), X, Y, "adam", steps=50, fast=False)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-9, atol=0)


def test_diverging_learning_rate_is_reported_not_returned():
    result = train(start(), X, Y, "sgd", lr=1e6, steps=200)
    assert result.status == "diverged"
    assert "non-finite" in result.message and "lr=1e+06" in result.message
    assert np.isfinite(result.net.pack()).all()
    assert result.loss <= result.initial_loss  # the best finite iterate, not garbage
    fit = methods.fit(
        "trained",
        targets.get("exp"),
        8,
        np.random.default_rng(0),
        optimizer="sgd",
        lr=1e6,
        steps=50,
    )
    assert fit.status == "diverged" and fit.message


def test_schedules_warm_up_then_decay_to_the_floor():
    steps = 1000
    assert [lr_factor("constant", k, steps) for k in (0, 500, 999)] == [1.0, 1.0, 1.0]
    for schedule in ("cosine", "exp"):
        f = np.array([lr_factor(schedule, k, steps) for k in range(steps)])
        assert f[0] < 0.1 and f.max() == pytest.approx(1.0)
        assert f[-1] == pytest.approx(LR_FLOOR, rel=1e-9)
        peak = int(np.argmax(f))
        assert np.all(np.diff(f[: peak + 1]) > 0) and np.all(np.diff(f[peak + 1 :]) < 0)
    with pytest.raises(ValueError, match=r"schedule must be one of 'constant', .*; got 'linear'"):
        train(start(), X, Y, "adam", schedule="linear")


def test_relocation_frees_units_outside_the_data_without_changing_the_function():
    net = start(width=10)
    theta = net.pack()
    (W0, W1), (b0, b1) = unpack(theta, net.sizes)
    net.weights, net.biases = [W0, W1], [b0, b1]  # views into theta, as while training
    w0, w1 = W0[0], W1[:, 0]
    w0[:3], b0[:3] = [1.0, -2.0, 0.5], [-1.5, -2.5, -0.6]  # dead on [-1, 1]
    w1[:3] = [0.3, -0.2, 0.7]  # dead units contribute nothing anyway
    # active on every sample: affine there, and together one affine function
    w0[3:6], b0[3:6] = [0.8, -0.5, 0.2], [1.2, 0.9, 0.3]
    w1[3:6] = [0.4, 1.1, -0.6]
    w0[6:], b0[6:] = [1.0, -1.0, 2.0, 3.0], [0.1, 0.2, -0.3, 2.1]  # inside
    opt = Adam(0.01)
    opt.step(theta, np.random.default_rng(0).standard_normal(31))
    before = net(X)
    r = before - np.sin(9 * np.pi * X)  # a residual with many peaks to move units to
    assert relocate(net, X, r, opt) == 5  # 3 dead + 3 affine, one of which carries the sum
    np.testing.assert_allclose(net(X), before, rtol=0, atol=1e-12)
    tau = -b0 / w0
    inside = (tau > -1) & (tau < 1)
    assert inside.sum() == 9
    moved = [0, 1, 2, 4, 5]
    assert np.all(w1[moved] == 0.0)
    # pack layout [W0, b0, W1, b1]: the moved units' first moments are reset
    rows = np.add.outer([0, 10, 20], moved).ravel()
    assert np.all(opt.m[rows] == 0.0)
    assert np.all(opt.m[np.setdiff1d(np.arange(30), rows)] != 0.0)
    # each moved unit faces the nearer end, and no two kinks are closer than half a spacing
    assert np.all(np.sign(w0[moved]) == np.sign(tau[moved]))
    for k in moved:
        assert np.abs(np.delete(tau[inside], np.flatnonzero(inside) == k) - tau[k]).min() > 0.1
    assert relocate(net, X, net(X) - np.sin(9 * np.pi * X), opt) == 0


def test_relocation_improves_the_fit_from_he_init():
    def run(relocate):
        return fit_target(
            targets.get("sin2pi"),
            24,
            np.random.default_rng(5),
            optimizer="adam",
            steps=1500,
            lr=0.03,
            relocate=relocate,
            n_train=256,
        )

    assert run(True).loss < 0.5 * run(False).loss


@pytest.mark.parametrize("optimizer", ["lm", "adam+lm"])
def test_lm_history_records_accepted_iterates_only(optimizer):
    # rejected trial steps (a loss of order 1e10 is common) used to be recorded
    steps = {
        "lm": {"steps": 60},
        "adam+lm": {"steps": 100, "polish_steps": 60, "polish_p": 2.0},
    }[optimizer]
    # tanh: the polish of adam+lm on the net's own parameters (a ReLU net is polished
    # in its knot form, in rounds that each restart the record)
    result = train(start(width=20, activation="tanh"), X, Y, optimizer, **steps)
    polish = result.history[-(result.history.size - (0 if optimizer == "lm" else 100)) :]
    assert polish.size >= 2
    assert np.all(np.diff(polish) <= 0.0)
    # the same loss computed through another formula may differ in the last bits
    assert result.history.max() <= result.initial_loss * (1 + 1e-12)
    assert result.loss == pytest.approx(min(result.history.min(), result.loss), rel=1e-12)


def test_gauss_newton_polish_lowers_the_loss_within_its_budget():
    hybrid = train(start(width=16), X, Y, "adam+lm", steps=1, polish_steps=40)
    assert hybrid.steps <= 1 + 40
    assert hybrid.loss < 0.01 * hybrid.initial_loss


def test_tolerance_stops_early():
    result = train(start(), X, Y, "adam", steps=5000, tol=1e-2)
    assert result.status == "converged" and result.steps < 5000
    assert result.history[-1] <= 1e-2


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lm", "adam+lm"])
def test_a_fixed_budget_run_to_its_end_reads_as_completed(optimizer):
    # tol = 0 is never met: the fit runs its whole budget, the normal finish
    result = train(start(), X, Y, optimizer, steps=20, tol=0.0)
    assert result.status == "completed"
    assert result.loss < result.initial_loss


def test_a_trained_methods_stop_says_completed_or_converged():
    fit = methods.fit("trained", targets.get("tanh10"), 8, np.random.default_rng(0), steps=40)
    assert fit.status == "ok" and fit.info["stop"] == "completed"
    early = methods.fit("trained", targets.get("tanh10"), 8, np.random.default_rng(0),
                        steps=4000, tol=1.0)  # met at once
    assert early.info["stop"] == "converged" and early.info["steps"] < 4000


def test_same_seed_same_result():
    def run(seed):
        return fit_target(
            targets.get("runge"),
            10,
            np.random.default_rng(seed),
            optimizer="sgd",
            steps=200,
            batch_size=32,
            sampling="random",
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.net.pack(), b.net.pack())
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.net.pack(), c.net.pack())


def test_same_seed_same_result_for_the_hybrid():
    def run(seed):
        return fit_target(
            targets.get("sin2pi"),
            12,
            np.random.default_rng(seed),
            optimizer="adam+lm",
            steps=300,
            polish_steps=15,
            select="max_error",
            # the minimax finish's start from the samples often wins whatever the seed,
            # which would make seeds 7 and 8 end alike; the seeded part is before it
            finish_steps=0,
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.net.pack(), b.net.pack())
    np.testing.assert_array_equal(a.history, b.history)
    assert a.score == b.score and not np.array_equal(a.net.pack(), c.net.pack())
    assert a.history.size > 300  # both phases recorded


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_construction_init_never_ends_worse_than_the_construction(optimizer):
    from approx.models.construct import relu_interpolant

    target = targets.get("sin2pi")
    for width in (6, 24):
        result = fit_target(
            target,
            width,
            np.random.default_rng(1),
            optimizer=optimizer,
            init="construction",
            steps=30,
            n_train=256,
            **({"lr": 0.5} if optimizer in ("sgd", "adam", "adam+lm") else {}),
        )
        assert result.loss <= result.initial_loss
        # the starting point really was the construction (values rescaled by the fit)
        construction = relu_interpolant(target, width)
        t = np.linspace(-1, 1, 256)
        scale = np.std(target(t))
        resid = (construction(t) - target(t)) / scale
        assert result.initial_loss == pytest.approx(0.5 * np.mean(resid**2), rel=1e-9)


@pytest.mark.parametrize("init", list(INITS))
def test_fit_target_returns_a_net_on_the_raw_domain(init):
    target = targets.get("exp", domain=(0.0, 3.0))
    result = fit_target(
        target,
        12,
        np.random.default_rng(2),
        init=init,
        optimizer="lm",
        steps=100,
        select="max_error",
    )
    x = np.linspace(0.0, 3.0, 2001)
    err = np.max(np.abs(result.net(x) - target(x)))
    assert err < 0.05 * np.ptp(target(x))
    assert result.score is not None


def test_trained_method_records_history_and_info():
    fit = methods.fit("trained", targets.get("tanh10"), 8, np.random.default_rng(0), steps=40)
    assert fit.status == "ok" and fit.history is not None and fit.history.size >= 1
    assert fit.n_params == 3 * 8 + 1
    assert {"stop", "steps", "loss", "initial_loss", "val_max_error"} <= set(fit.info)
    with pytest.raises(ValueError, match="must be one of"):
        methods.fit("trained", targets.get("exp"), 8, np.random.default_rng(0), optimizer="bfgs")


def test_bad_input_gets_clear_errors():
    net = start()
    known = r"sgd, adam, lbfgs, lm, adam\+lm"
    with pytest.raises(ValueError, match=rf"unknown optimizer 'bfgs'.*{known}"):
        train(net, X, Y, "bfgs")
    with pytest.raises(ValueError, match=r"unknown loss 'huber'.*mse, lp, softmax"):
        train(net, X, Y, "adam", loss="huber")
    with pytest.raises(
        ValueError, match=r"init must be one of 'he', 'knots', 'construction'; got 'xavier'"
    ):
        fit_target(targets.get("exp"), 4, np.random.default_rng(0), init="xavier")
    with pytest.raises(ValueError, match=r"sampling must be one of 'uniform', .*; got 'sobol'"):
        fit_target(targets.get("exp"), 4, np.random.default_rng(0), sampling="sobol")
    with pytest.raises(ValueError, match=r"activation must be one of .*did you mean 'relu'\?"):
        fit_target(targets.get("exp"), 4, np.random.default_rng(0), activation="gelu")
    with pytest.raises(ValueError, match=r"y must have shape \(128, 1\)"):
        train(net, X, Y[:-1])
    with pytest.raises(ValueError, match=r"X must have shape \(m, 1\)"):
        train(net, np.zeros((5, 2)), np.zeros(5))
    with pytest.raises(ValueError, match="steps must be an integer ≥ 1"):
        train(net, X, Y, "adam", steps=0)
    with pytest.raises(ValueError, match="polish_steps must be an integer ≥ 1"):
        train(net, X, Y, "adam+lm", polish_steps=0)
    with pytest.raises(ValueError, match="'adam\\+lm' fits residuals"):
        train(MLP([1, 3, 2]), X, np.zeros(128, dtype=int), "adam+lm", loss="softmax")
    with pytest.raises(ValueError, match=r"at most 3073 parameters .* use 'adam'"):
        train(MLP([1, 1025, 1], "tanh", rng=np.random.default_rng(0)), X, Y, "adam+lm")
    with pytest.raises(ValueError, match="mini-batches need an rng"):
        train(net, X, Y, "sgd", batch_size=8)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        train(net, X, Y, "sgd", lr=-1.0)
    with pytest.raises(ValueError, match="'lm' fits residuals"):
        train(MLP([1, 3, 2]), X, np.zeros(128, dtype=int), "lm", loss="softmax")
    with pytest.raises(ValueError, match="construction' builds a ReLU net"):
        fit_target(
            targets.get("exp"), 4, np.random.default_rng(0), init="construction", activation="tanh"
        )


@pytest.mark.parametrize(("init", "thorough"), [("construction", True), ("he", False)])
def test_only_a_fit_from_the_construction_asks_for_the_thorough_finish(
    monkeypatch, init, thorough
):
    from approx.train import minimax, second_order

    seen = []

    def finish(*args):
        seen.append(minimax._THOROUGH.get())
        return 0

    monkeypatch.setattr(second_order, "minimax_finish", finish)
    fit_target(targets.get("exp"), 8, np.random.default_rng(0), init=init, steps=5,
               polish_steps=2, n_train=256)
    assert seen == [thorough]
    assert not minimax._THOROUGH.get()  # and only while it fits
