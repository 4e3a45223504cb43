"""Built-in 2-D datasets: shapes, balance, reproducibility, geometry, refusals."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from approx.problems import datasets


@pytest.mark.parametrize("name", list(datasets.DATASETS))
def test_shapes_labels_and_balance(name):
    k = 2 if name == "xor" else 3
    params = {} if name == "xor" else {"classes": k}
    s = datasets.draw(name, np.random.default_rng(0), n_samples=31, n_test=60, **params)
    assert s.name == name and s.classes == k
    assert s.X_train.shape == (31, 2) and s.X_test.shape == (60, 2)
    assert s.y_train.shape == (31,) and s.y_test.shape == (60,)
    assert s.y_train.dtype == np.int64 and s.y_test.dtype == np.int64
    assert np.all(np.isfinite(s.X_train)) and np.all(np.isfinite(s.X_test))
    # every class ⌊n/k⌋ or ⌈n/k⌉ times, exactly n/k when k divides n
    counts = np.bincount(s.y_train, minlength=k)
    assert counts.sum() == 31 and counts.max() - counts.min() <= 1
    assert_array_equal(np.bincount(s.y_test, minlength=k), np.full(k, 60 // k))


@pytest.mark.parametrize("name", list(datasets.DATASETS))
def test_reproducible_from_the_rng(name):
    a = datasets.draw(name, np.random.default_rng(7))
    b = datasets.draw(name, np.random.default_rng(7))
    c = datasets.draw(name, np.random.default_rng(8))
    for field in ("X_train", "y_train", "X_test", "y_test"):
        assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)


def test_training_part_does_not_depend_on_the_test_size():
    # the training points are drawn first, so asking for more test points keeps them
    a = datasets.draw("rings", np.random.default_rng(3), n_test=10)
    b = datasets.draw("rings", np.random.default_rng(3), n_test=500)
    assert_array_equal(a.X_train, b.X_train)
    assert_array_equal(a.y_train, b.y_train)


def test_blobs_centres_are_one_apart_on_a_circle():
    k = 5
    s = datasets.draw("blobs", np.random.default_rng(1), classes=k, noise=0.0, n_samples=50)
    centres = np.array([s.X_train[s.y_train == c][0] for c in range(k)])
    # noise 0: every point of a class is its centre
    for c in range(k):
        assert_allclose(s.X_train[s.y_train == c], np.broadcast_to(centres[c], (10, 2)), atol=0)
    radius = np.linalg.norm(centres, axis=1)
    assert_allclose(radius, 1 / (2 * np.sin(np.pi / k)), rtol=1e-14)
    gaps = np.linalg.norm(centres - np.roll(centres, -1, axis=0), axis=1)
    assert_allclose(gaps, 1.0, rtol=1e-14)


def test_blobs_noise_is_the_standard_deviation():
    s = datasets.draw("blobs", np.random.default_rng(2), classes=2, noise=0.3, n_samples=20000)
    for c in range(2):
        X = s.X_train[s.y_train == c]
        # 10⁴ points: the sample std is within ~5·0.3/√(2·10⁴) ≈ 0.011 of 0.3
        assert_allclose(X.std(axis=0), 0.3, atol=0.015)


def test_xor_labels_follow_the_sign_of_x1_x2():
    s = datasets.draw("xor", np.random.default_rng(4), noise=0.0, n_samples=400)
    assert_allclose(np.abs(s.X_train), 0.5, atol=0)
    assert_array_equal(s.y_train, (s.X_train[:, 0] * s.X_train[:, 1] < 0).astype(int))
    # the four corners all occur
    assert len({tuple(x) for x in s.X_train}) == 4


def test_rings_radii():
    k = 4
    s = datasets.draw("rings", np.random.default_rng(5), classes=k, noise=0.0)
    assert_allclose(np.linalg.norm(s.X_train, axis=1), (s.y_train + 1) / k, rtol=1e-14)


def test_spirals_angle_follows_the_radius():
    k, turns = 3, 1.25
    s = datasets.draw("spirals", np.random.default_rng(6), classes=k, noise=0.0, turns=turns)
    r = np.linalg.norm(s.X_train, axis=1)
    assert np.all((r >= datasets.SPIRAL_START) & (r <= 1.0))
    angle = np.arctan2(s.X_train[:, 1], s.X_train[:, 0])
    expected = 2 * np.pi * (turns * r + s.y_train / k)
    # equal modulo 2π
    assert_allclose(np.cos(angle - expected), 1.0, atol=1e-12)


def test_bounds_cover_every_sample_with_margin():
    s = datasets.draw("spirals", np.random.default_rng(0), n_samples=50, n_test=50)
    x1_lo, x1_hi, x2_lo, x2_hi = s.bounds(margin=0.1)
    X = np.concatenate([s.X_train, s.X_test])
    span = X.max(axis=0) - X.min(axis=0)
    assert_allclose([x1_lo, x2_lo], X.min(axis=0) - 0.1 * span, rtol=1e-14)
    assert_allclose([x1_hi, x2_hi], X.max(axis=0) + 0.1 * span, rtol=1e-14)


def test_every_dataset_declares_checked_defaults():
    for name, d in datasets.DATASETS.items():
        assert d.name == name
        resolved = d.resolve({})
        assert set(resolved) == {p.name for p in d.declared} >= {"n_samples", "n_test"}
        assert ("classes" in resolved) == (d.fixed_classes is None)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("xor", {"classes": 3}, "dataset 'xor' has no parameter 'classes'; its parameters"),
        ("rings", {"turns": 2.0}, "dataset 'rings' has no parameter 'turns'"),
        ("blobs", {"nosie": 0.1}, "did you mean 'noise'"),
        ("blobs", {"classes": 1}, "must be an integer ≥ 2, got 1"),
        ("blobs", {"noise": -0.1}, "must be a number ≥ 0"),
        ("blobs", {"noise": float("nan")}, "must be a finite number"),
        ("spirals", {"n_samples": 1}, "must be an integer ≥ 2"),
        ("spirals", {"n_test": 2.5}, "must be an integer, got float"),
    ],
)
def test_bad_parameters_are_refused(name, params, match):
    with pytest.raises(ValueError, match=match):
        datasets.draw(name, np.random.default_rng(0), **params)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'ring'; did you mean 'rings'"):
        datasets.get("ring")
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        datasets.draw("xor", 0)
