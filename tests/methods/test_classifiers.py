"""The classifiers of lecture sections 1 and 2.2: exactness, gradients, refusals, accuracy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import approx_fprime, check_grad
from threadpoolctl import threadpool_limits

from approx.methods import classifiers as classify
from approx.nn import MLP
from approx.problems import datasets
from approx.train import options

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # as in the runner's workers: L-BFGS-B's vector operations on a few hundred numbers
    # are many times slower with BLAS threads competing for 2 shared cores
    with threadpool_limits(1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------
# the collapse of linear features (lecture 1.3): θᵀ(Wᵀx) = (Wθ)ᵀx


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda d: st.tuples(
            arrays(np.float64, (2, d), elements=finite),
            arrays(np.float64, (d, 3), elements=finite),
            arrays(np.float64, (3,), elements=finite),
            arrays(np.float64, (5, 2), elements=finite),
        )
    )
)
def test_linear_features_collapse_to_a_linear_model(args):
    W, theta, b, X = args
    features = MLP.from_params([W, theta], [np.zeros(W.shape[1]), b], activation="identity")
    linear = MLP.from_params([W @ theta], [b])
    # both are sums of the same d·2 products per logit, in different orders: equal to
    # rounding, relative to the size of those products
    scale = np.abs(X) @ np.abs(W) @ np.abs(theta) + np.abs(b) + 1.0
    assert np.all(np.abs(features(X) - linear(X)) <= 1e-13 * scale)


def test_fitted_linear_features_model_is_a_linear_classifier():
    s = datasets.draw("rings", np.random.default_rng(0), n_samples=60, n_test=200)
    fit = classify.fit("linear-features", s, 32, np.random.default_rng(1))
    (W, theta), (b1, b2) = fit.model.weights, fit.model.biases
    assert_array_equal(b1, 0.0)
    linear = MLP.from_params([W @ theta], [b2])
    assert_allclose(fit.model(s.X_test), linear(s.X_test), rtol=1e-12, atol=1e-12)
    assert fit.n_params == 32 * 2 + 2 and fit.info["n_fixed"] == 2 * 32 + 32


# ---------------------------------------------------------------------------------------
# the penalised softmax objective and its minimiser


def _objective(theta, F, y, k, penalty):
    """The objective written out independently: logsumexp minus the label's logit."""
    d = F.shape[1]
    T, b = theta[: d * k].reshape(d, k), theta[d * k :]
    H = F @ T + b
    lse = np.log(np.exp(H).sum(axis=1))
    return np.mean(lse - H[np.arange(len(y)), y]) + 0.5 * penalty * np.sum(T * T)


@pytest.mark.parametrize(("seed", "penalty"), [(0, 0.0), (1, 1e-3), (2, 0.7)])
def test_penalized_loss_value_and_gradient(seed, penalty):
    rng = np.random.default_rng(seed)
    m, d, k = 17, 5, 3
    F, y = rng.standard_normal((m, d)), rng.integers(0, k, m)
    head = MLP([d, k], activation="identity")
    theta = rng.standard_normal(d * k + k)
    value, grad = classify.penalized_loss(theta.copy(), head, F, y, penalty)
    assert_allclose(value, _objective(theta, F, y, k, penalty), rtol=1e-13)
    # central differences of the independent objective
    h = 1e-6
    fd = np.array(
        [
            (
                _objective(theta + h * e, F, y, k, penalty)
                - _objective(theta - h * e, F, y, k, penalty)
            )
            / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    err = check_grad(
        lambda t: classify.penalized_loss(t, head, F, y, penalty)[0],
        lambda t: classify.penalized_loss(t, head, F, y, penalty)[1],
        theta,
    )
    assert err < 1e-5 * max(1.0, np.linalg.norm(grad))


def test_fit_softmax_reaches_a_stationary_point():
    # separable data: with a penalty the minimiser exists and L-BFGS reaches ∇ℓ ≈ 0
    s = datasets.draw("blobs", np.random.default_rng(2), classes=4, n_samples=80)
    head, info = classify.fit_softmax(s.X_train, s.y_train, 4, penalty=1e-2, max_iter=500)
    assert info["stop"] == "converged"
    value, grad = classify.penalized_loss(head.pack(), head, s.X_train, s.y_train, 1e-2)
    assert_allclose(value, info["objective"], rtol=1e-12)
    assert np.linalg.norm(grad) < 1e-6
    # and it is the minimum: no nearby point is lower (the objective is convex)
    fd = approx_fprime(head.pack(), lambda t: _objective(t, s.X_train, s.y_train, 4, 1e-2))
    assert np.linalg.norm(fd) < 1e-5


def test_penalty_bounds_the_weights_on_separable_data():
    # at the minimiser, penalty·θ = −Fᵀ(S − I_y)/m, whose entries are at most max|F|, so
    # ‖θ‖_max ≤ max|F| / penalty
    s = datasets.draw("blobs", np.random.default_rng(3), classes=2, n_samples=50)
    for penalty in (1e-1, 1e-3):
        head, _ = classify.fit_softmax(s.X_train, s.y_train, 2, penalty, 2000)
        assert np.abs(head.weights[0]).max() <= np.abs(s.X_train).max() / penalty


# ---------------------------------------------------------------------------------------
# the random features


def test_fourier_features_estimate_the_gaussian_kernel():
    ell, d = 0.4, 40000
    s = datasets.draw("xor", np.random.default_rng(4), n_samples=8, n_test=1)
    fit = classify.fit("random-features", s, d, np.random.default_rng(5), bandwidth=ell, max_iter=1)
    W, b = fit.model.weights[0], fit.model.biases[0]
    phi = np.sqrt(2 / d) * np.cos(s.X_train @ W + b)
    sq = ((s.X_train[:, None, :] - s.X_train[None, :, :]) ** 2).sum(axis=2)
    # a mean of d bounded terms (|2 cos cos| ≤ 2): within ~5·√2/√d ≈ 0.035 of the kernel
    assert_allclose(phi @ phi.T, np.exp(-sq / (2 * ell**2)), atol=0.04)


def test_relu_features_have_kinks_through_training_points():
    s = datasets.draw("spirals", np.random.default_rng(6), n_samples=40)
    fit = classify.fit("random-features", s, 25, np.random.default_rng(7), features="relu")
    W, b = fit.model.weights[0], fit.model.biases[0]
    U = s.X_train @ W + b  # (m, d): each column vanishes at its anchor point
    assert fit.model.activation == "relu"
    assert np.all(np.min(np.abs(U), axis=0) <= 1e-12 * (1 + np.abs(b)))


def test_feature_models_predict_what_their_features_say():
    # the output scale √(2/d) is folded into the output weights: check against the
    # features written out
    s = datasets.draw("rings", np.random.default_rng(8), n_samples=30, n_test=40)
    fit = classify.fit("random-features", s, 12, np.random.default_rng(9))
    (W, T), (b, c) = fit.model.weights, fit.model.biases
    assert_allclose(fit.model(s.X_test), np.cos(s.X_test @ W + b) @ T + c, rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------------------
# the table, the entry point, refusals


def test_every_classifier_declares_checked_defaults():
    for kind, c in classify.CLASSIFIERS.items():
        assert c.kind == kind
        resolved = c.resolve({})
        assert set(resolved) == {p.name for p in c.params}
    assert not classify.get("linear").has_width and not classify.get("linear").random


def test_same_rng_same_model_and_shapes():
    s = datasets.draw("xor", np.random.default_rng(10), n_samples=40, n_test=10)
    for kind, width in [("linear", None), ("random-features", 8), ("trained", 8)]:
        a = classify.fit(kind, s, width, np.random.default_rng(11), **_cheap(kind))
        b = classify.fit(kind, s, width, np.random.default_rng(11), **_cheap(kind))
        assert_array_equal(a.model(s.X_test), b.model(s.X_test))
        assert a.model(s.X_test).shape == (10, 2)


def _cheap(kind):
    return {"steps": 50} if kind == "trained" else {}


@pytest.mark.parametrize(
    ("kind", "width", "params", "match"),
    [
        ("linear", 8, {}, "method kind 'linear' has no width; got width 8"),
        ("random-features", None, {}, "width of method kind 'random-features' must be an"),
        ("trained", 0, {}, "must be an integer ≥ 1, got 0"),
        ("random-features", 8, {"bandwidth": 0.0}, "must be a number ≥ 0.001"),
        ("random-features", 8, {"features": "sin"}, "must be one of 'fourier', 'relu'"),
        ("trained", 8, {"optimizer": "lm"}, "must be one of 'adam', 'sgd', 'lbfgs'"),
        ("linear", None, {"knots": "uniform"}, "has no parameter 'knots'"),
        ("chebyshev", 8, {}, "'chebyshev' approximates functions and does not classify"),
        ("liner", None, {}, "unknown classification method kind 'liner'; did you mean"),
    ],
)
def test_refusals(kind, width, params, match):
    s = datasets.draw("xor", np.random.default_rng(0), n_samples=10, n_test=1)
    with pytest.raises(ValueError, match=match):
        classify.fit(kind, s, width, np.random.default_rng(0), **params)


def test_the_trained_classifier_reads_the_training_declarations():
    trained = classify.get("trained")
    assert trained.param("lr") == options.TRAINING["lr"]
    assert trained.param("steps").default == 2000  # its own budget, declared as an override
    # stored sweeps spell "not given" as lr = 0.0 and batch_size = 0: kept, resolved again
    resolved = trained.resolve({})
    assert resolved["lr"] == 0.0 and resolved["batch_size"] == 0
    assert trained.resolve(resolved) == resolved
    lbfgs = trained.resolve({"optimizer": "lbfgs"})
    assert trained.resolve(lbfgs) == lbfgs
    with pytest.raises(ValueError, match="optimizer 'lbfgs' does not read 'lr'"):
        trained.resolve({"optimizer": "lbfgs", "lr": 0.1})
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        trained.resolve({"lr": -0.1})
    # unset is the optimizer's own default: Adam's step size, the full batch
    s = datasets.draw("xor", np.random.default_rng(0), n_samples=40, n_test=10)
    unset = classify.fit("trained", s, 6, np.random.default_rng(1), steps=30)
    given = classify.fit(
        "trained", s, 6, np.random.default_rng(1), steps=30, lr=0.03, batch_size=40
    )
    assert_array_equal(unset.model(s.X_test), given.model(s.X_test))


# ---------------------------------------------------------------------------------------
# scores and decision regions


def test_evaluate_by_hand():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    scores = classify.evaluate(lambda X: logits, np.zeros((3, 2)), np.array([0, 0, 1]))
    # argmax: 0 (right), 1 (wrong), 0 on the tie (wrong)
    assert scores.accuracy == pytest.approx(1 / 3, abs=1e-15)
    expected = np.mean([np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0)), np.log(2.0)])
    assert scores.loss == pytest.approx(expected, rel=1e-14)


def test_decision_regions_of_a_linear_classifier_are_its_half_plane_cells():
    rng = np.random.default_rng(12)
    T, b = rng.standard_normal((2, 4)), rng.standard_normal(4)
    model = MLP.from_params([T], [b])
    x1, x2, labels = classify.decision_regions(model, (-2.0, 1.0, -1.0, 3.0), resolution=41)
    assert x1.shape == (41,) and x2.shape == (41,) and labels.shape == (41, 41)
    assert (x1[0], x1[-1], x2[0], x2[-1]) == (-2.0, 1.0, -1.0, 3.0)
    # class c at (x1[j], x2[i]) ⟺ (θ_c − θ_e)ᵀx + b_c − b_e ≥ 0 for every e
    for i in (0, 7, 40):
        for j in (0, 13, 40):
            x = np.array([x1[j], x2[i]])
            h = x @ T + b
            c = labels[i, j]
            assert np.all(h[c] >= h)


def test_fit_softmax_and_fit_refuse_bad_arguments():
    F, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="penalty must be a number ≥ 0"):
        classify.fit_softmax(F, y, 2, penalty=-1.0, max_iter=10)
    with pytest.raises(ValueError, match=r"features F must have shape \(m, d\)"):
        classify.fit_softmax(F[0], y, 2, penalty=0.0, max_iter=10)
    s = datasets.draw("xor", np.random.default_rng(0), n_samples=10, n_test=1)
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        classify.fit("linear", s, None, 0)


def test_decision_regions_refuse_a_one_point_grid():
    with pytest.raises(ValueError, match="resolution must be an integer ≥ 2"):
        classify.decision_regions(lambda X: X, (0, 1, 0, 1), resolution=1)


# ---------------------------------------------------------------------------------------
# what the lecture says each class of model can and cannot do


def _held_out(name, kind, width, replicate, **params):
    s = datasets.draw(name, np.random.default_rng([replicate, 0]), n_samples=200, n_test=400)
    fit = classify.fit(kind, s, width, np.random.default_rng([replicate, 1]), **params)
    return classify.evaluate(fit.model, s.X_test, s.y_test).accuracy


def test_blobs_are_separated_by_the_linear_classifier():
    for k in (2, 3, 5):
        s = datasets.draw("blobs", np.random.default_rng(k), classes=k, n_test=500)
        fit = classify.fit("linear", s, None, np.random.default_rng(0))
        assert classify.evaluate(fit.model, s.X_test, s.y_test).accuracy >= 0.99
        assert classify.evaluate(fit.model, s.X_train, s.y_train).accuracy == 1.0


@pytest.mark.parametrize("name", ["xor", "rings"])
@pytest.mark.parametrize(("kind", "width"), [("linear", None), ("linear-features", 64)])
def test_linear_models_stay_near_chance_on_xor_and_rings(name, kind, width):
    accuracy = [_held_out(name, kind, width, r) for r in range(3)]
    assert np.median(accuracy) <= 0.6


@pytest.mark.parametrize("name", ["xor", "rings", "spirals"])
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("random-features", {}),
        ("random-features", {"features": "relu"}),
        ("trained", {"steps": 1500}),
    ],
)
def test_nonlinear_models_reach_95_percent(name, kind, params):
    assert _held_out(name, kind, 64, 0, **params) >= 0.95
