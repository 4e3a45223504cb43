"""A continuous piecewise-linear function as a ReLU net: exact at its vertices, every
breakpoint inside the domain when the subset sum allows, and the subset sum itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.models.pwl_net import pwl_net, subset_sum


def _path(rng, k):
    knots = np.concatenate(([-1.0], np.sort(rng.uniform(-1, 1, k)), [1.0]))
    return knots, rng.normal(size=k + 2)


def _inside(net, a, b):
    w, bias = net.weights[0].ravel(), net.biases[0]
    live = net.weights[1].ravel() != 0
    t = -bias[live] / w[live]
    return int(np.sum((t > a) & (t < b)))


@pytest.mark.parametrize("spare", [1, 3])
def test_with_a_spare_unit_the_net_is_the_path(spare):
    rng = np.random.default_rng(0)
    knots, values = _path(rng, 9)
    net, shift = pwl_net(knots, values, 9 + spare)
    x = np.linspace(-1, 1, 4001)
    assert shift == 0
    np.testing.assert_allclose(net(x).ravel(), np.interp(x, knots, values), atol=1e-12)


def test_with_every_unit_a_knot_the_first_slope_is_a_subset_sum():
    # slope changes of both signs: a subset sums to minus the first slope
    rng = np.random.default_rng(3)
    knots, values = _path(rng, 40)
    net, shift = pwl_net(knots, values, 40)
    x = np.linspace(-1, 1, 20001)
    assert _inside(net, -1, 1) == 40
    gap = np.abs(net(x).ravel() - np.interp(x, knots, values)).max()
    assert gap <= shift + 1e-12 and shift < 1e-9


def test_when_no_subset_sum_fits_the_shift_says_how_far_the_net_moves():
    knots = np.array([0.0, 0.25, 0.5, 1.0])
    values = knots**2  # convex and increasing: every slope change positive
    net, shift = pwl_net(knots, values, 2)
    x = np.linspace(0, 1, 10001)
    gap = np.abs(net(x).ravel() - np.interp(x, knots, values)).max()
    assert shift > 0 and gap == pytest.approx(shift, rel=1e-9)


def test_too_many_knots_for_the_width_are_refused():
    with pytest.raises(ValueError, match="interior knots"):
        pwl_net(np.linspace(0, 1, 6), np.zeros(6), 3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=10), st.floats(-20, 20))
def test_the_subset_sum_is_optimal_on_few_values(values, target):
    v = np.array(values)
    take, residual = subset_sum(v, target)
    assert residual == pytest.approx(target - v[take].sum(), abs=1e-12)
    best = min(abs(target - sum(c)) for r in range(v.size + 1)
               for c in itertools.combinations(v, r))
    assert abs(residual) <= best + 1e-9


def test_the_subset_sum_of_many_values_is_far_below_their_size():
    rng = np.random.default_rng(5)
    v = rng.normal(size=500)
    _, residual = subset_sum(v, 3.7)
    assert abs(residual) < 1e-9


@pytest.mark.parametrize("flat", ["first", "last"])
def test_a_flat_first_or_last_piece_needs_no_subset_sum(flat):
    """Every slope change positive (convex), so no subset of them gives a nonzero first
    slope; with the first piece flat every unit faces right, with the last one flat
    every unit faces left, and the net is the path with all its knots inside."""
    rng = np.random.default_rng(7)
    knots = np.concatenate(([-1.0], np.sort(rng.uniform(-1, 1, 8)), [1.0]))
    slopes = np.sort(rng.uniform(0.1, 3, 9)) if flat == "first" else -np.sort(
        rng.uniform(0.1, 3, 9))[::-1]
    slopes[0 if flat == "first" else -1] = 0.0
    values = np.concatenate(([0.3], 0.3 + np.cumsum(slopes * np.diff(knots))))
    net, shift = pwl_net(knots, values, 8)
    x = np.linspace(-1, 1, 4001)
    assert shift == 0 and _inside(net, -1, 1) == 8
    np.testing.assert_allclose(net(x).ravel(), np.interp(x, knots, values), atol=1e-12)
    faces = np.sign(net.weights[0].ravel())
    assert np.all(faces == (1 if flat == "first" else -1))


def test_a_flat_inner_piece_needs_no_subset_sum():
    """Slopes falling to 0 and rising again, all >= 0 (like x|x|): the negative slope
    changes after the first knot sum to more than minus the first slope, so no subset
    gives it; with the piece where the slope is 0 flat, the units left of it face left,
    the others right, and the net is the path with all its knots inside."""
    rng = np.random.default_rng(11)
    knots = np.concatenate(([-1.0], np.sort(rng.uniform(-1, 1, 8)), [1.0]))
    slopes = np.concatenate((np.sort(rng.uniform(0.1, 3, 4))[::-1], [0.0],
                             np.sort(rng.uniform(0.1, 3, 4))))
    values = np.concatenate(([-0.7], -0.7 + np.cumsum(slopes * np.diff(knots))))
    net, shift = pwl_net(knots, values, 8)
    x = np.linspace(-1, 1, 4001)
    assert shift == 0 and _inside(net, -1, 1) == 8
    np.testing.assert_allclose(net(x).ravel(), np.interp(x, knots, values), atol=1e-12)
    faces = np.sign(net.weights[0].ravel())
    np.testing.assert_array_equal(faces, [-1] * 4 + [1] * 4)
