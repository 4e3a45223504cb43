"""The dense Levenberg–Marquardt of ``lm``: its steps, its Jacobian and its minimum
against independent references (lstsq of the augmented system, finite differences,
scipy's MINPACK), its budget and its determinism."""

import numpy as np
import pytest
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from approx.nn import MLP
from approx.nn.engine import make_engine
from approx.train import train
from approx.train.lm_dense import _linearise, _Point, _Steps, levenberg_marquardt
from approx.train.loop import Tracker

X = np.linspace(-1.0, 1.0, 48)
Y = np.exp(X) * np.sin(2.0 * X)


def _engine(width, activation="tanh", m=X.size, seed=0, loss="mse", p=None):
    net = MLP([1, width, 1], activation, rng=np.random.default_rng(seed))
    theta = net.pack()
    engine = make_engine(net, theta, np.zeros_like(theta), m, loss, p)
    return net, theta, engine


def _rho(theta, width, x, y, p):
    """ρ with ½ Σ ρ² the Lᵖ loss, written out here for a 1→d→1 tanh net (θ = w, b, a, c):
    c sign(r) |r|^(p/2), c² = 2/(p m)."""
    w, b, a, c = np.split(theta, [width, 2 * width, 3 * width])
    r = np.tanh(x[:, None] * w + b) @ a + c[0] - y
    return np.sqrt(2.0 / (p * x.size)) * np.sign(r) * np.abs(r) ** (p / 2)


@pytest.mark.parametrize("p", [2.0, 4.0])
def test_the_jacobian_matches_finite_differences_of_the_residuals(p):
    width = 5
    _, theta, engine = _engine(width, loss="lp" if p != 2.0 else "mse", p=p if p != 2.0 else None)
    point = _linearise(engine, X, Y, p, X.size)
    base = theta.copy()
    h = 1e-6
    fd = np.empty_like(point.J)
    for j in range(base.size):
        e = np.zeros_like(base)
        e[j] = h
        fd[:, j] = (_rho(base + e, width, X, Y, p) - _rho(base - e, width, X, Y, p)) / (2 * h)
    np.testing.assert_allclose(point.rho, _rho(base, width, X, Y, p), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(point.J, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(point.g, fd.T @ point.rho, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(("n", "P"), [(40, 13), (9, 31)])  # the P × P and the n × n system
def test_a_damped_step_solves_the_augmented_least_squares_problem(n, P):
    rng = np.random.default_rng(n)
    J = rng.standard_normal((n, P)) * rng.uniform(0.1, 10.0, P)
    J[:, 3] = 0.0  # a dead unit's column
    rho = rng.standard_normal(n)
    columns = np.einsum("ij,ij->j", J, J)
    point = _Point(rho, J, 0.5 * float(rho @ rho), J.T @ rho, columns)
    S = np.maximum(columns, 1e-12 * columns.max())
    live = np.arange(P) != 3
    for lam in (1e-6, 1e-2, 10.0):
        # min ‖ρ + J δ‖² + λ ‖S^½ δ‖²: an independent solver on the stacked system; the
        # dead column decouples (its δ is 0), so the reference leaves it out
        A = np.vstack([J[:, live], np.sqrt(lam) * np.diag(np.sqrt(S[live]))])
        b = np.concatenate([-rho, np.zeros(P - 1)])
        expected = np.linalg.lstsq(A, b, rcond=None)[0]
        delta = _Steps(point, S)(lam)
        assert delta[3] == 0.0
        np.testing.assert_allclose(delta[live], expected, rtol=1e-7, atol=1e-12)


#: a 1→3→1 tanh net, and data it cannot fit exactly
TRUE = np.array([2.0, -1.5, 3.0, 0.3, 0.5, -1.0, 1.0, 0.8, -0.4, 0.1])
DATA = _rho(TRUE, 3, X, np.zeros_like(X), 2.0) / np.sqrt(2.0 / X.size) + 0.02 * np.cos(7 * X)


@pytest.mark.parametrize("p", [2.0, 4.0])
def test_lm_reaches_the_minimum_scipys_minpack_finds(p):
    # from near the data's own net, both find the nearby minimum: MINPACK (scipy's
    # least_squares, lmdif) with finite differences on the residuals written out above
    theta0 = TRUE + 0.1 * np.random.default_rng(0).standard_normal(TRUE.size)
    res = least_squares(lambda th: _rho(th, 3, X, DATA, p), theta0, method="lm",
                        xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=4000)
    net = MLP([1, 3, 1], "tanh")
    net.unpack(theta0)
    theta = net.pack()
    engine = make_engine(net, theta, np.zeros_like(theta), X.size, "mse" if p == 2 else "lp",
                         None if p == 2 else p)
    history, status, _, evals = levenberg_marquardt(engine, X, DATA, Tracker(theta, net, None, 1),
                                                    steps=1000, tol=0.0)
    assert status == "converged" and evals <= 1000
    assert np.all(np.diff(history) < 0.0)
    if p == 2.0:
        assert history[-1] == pytest.approx(res.cost, rel=1e-6)
        np.testing.assert_allclose(theta, res.x, rtol=1e-4, atol=1e-4)
    else:  # the L⁴ minimum lies in a flat valley: the same loss, far apart in θ
        assert res.cost * (1 - 1e-3) <= history[-1] <= res.cost * (1 + 1e-6)


class _Counting:
    """An engine whose residual evaluations (alone, or with the Jacobian) are counted."""

    def __init__(self, engine):
        self.engine, self.residual_calls, self.jacobian_calls = engine, 0, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def residuals(self, X, y):
        self.residual_calls += 1
        return self.engine.residuals(X, y)

    def residual_jacobian(self, X, y):
        self.jacobian_calls += 1
        return self.engine.residual_jacobian(X, y)


@pytest.mark.parametrize(("width", "steps"), [(6, 1), (6, 7), (30, 25)])  # 30: P > n
def test_the_budget_counts_the_start_and_every_trial(width, steps):
    net, theta, engine = _engine(width, activation="relu", seed=1)
    counting = _Counting(engine)
    tracker = Tracker(theta, net, None, 1)
    history, status, _, evals = levenberg_marquardt(counting, X, Y, tracker, steps=steps, tol=0)
    # the start's residuals come with its Jacobian; each trial is one evaluation
    assert evals == 1 + counting.residual_calls <= steps
    assert counting.jacobian_calls == history.size  # the start and each accepted step
    assert status == "completed" and evals == steps


def test_lm_is_deterministic_whatever_the_blas_threads():
    net = MLP([1, 40, 1], "relu", rng=np.random.default_rng(5))

    def fit(threads):
        with threadpool_limits(threads, "blas"):
            return train(net, X, Y, "lm", steps=40)

    one, two = fit(1), fit(2)
    np.testing.assert_array_equal(one.net.pack(), two.net.pack())
    np.testing.assert_array_equal(one.history, two.history)
    assert one.loss < 0.1 * one.initial_loss


def test_fewer_residuals_than_parameters_are_fitted():
    # 16 points, P = 3·64 + 1: the n × n form of the step
    x = np.linspace(-1.0, 1.0, 16)
    net = MLP([1, 64, 1], "tanh", rng=np.random.default_rng(2))
    result = train(net, x, np.cos(3 * x), "lm", steps=30)
    assert result.loss < 1e-6 * result.initial_loss
