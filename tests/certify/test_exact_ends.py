"""The search's exact cell ends in Arb are evaluated once per point and enclosure: reusing
them changes no result, and the enclosures they reuse are the same at every cell."""

import functools
import itertools

import numpy as np
from flint import arb
from hypothesis import given, settings
from hypothesis import strategies as st

import approx.certify.branch_bound as bb
from approx.analysis.errors import max_error_at
from approx.arith.balls import arb_context
from approx.certify import targets as certified
from approx.certify.adapters import cells_for
from approx.models.construct import random_features
from approx.problems import targets


def _counting(monkeypatch):
    calls = []
    point = bb._point

    def counted(p, X, i):
        calls.append(float(X.mid()))
        return point(p, X, i)

    monkeypatch.setattr(bb, "_point", counted)
    return calls


def test_reusing_exact_ends_changes_nothing(monkeypatch):
    """exp against 256 cos features: an error at rounding level, so the search asks for
    hundreds of exact ends; without reuse (every key new) the result is the same."""
    target = targets.get("exp")
    net = random_features(target, 256, rng=np.random.default_rng(0))
    calls = _counting(monkeypatch)
    reused = max_error_at(target, net)
    n_reused = len(calls)
    fresh = itertools.count()
    monkeypatch.setattr(bb, "_point_key", lambda p, i: next(fresh))
    calls.clear()
    plain = max_error_at(target, net)
    assert reused == plain
    assert reused.reason == "rounding" and len(calls) > 100
    assert n_reused < 0.75 * len(calls)  # neighbours share their ends


@functools.cache
def _feature_cells(d):
    target = targets.get("runge")
    net = random_features(target, d, rng=np.random.default_rng(3))
    return cells_for(net, target.domain, 2**22).polys


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from([24, 512]), st.floats(0.0, 1.0), st.integers(0, 10**6), st.integers(0, 10**6)
)
def test_cell_free_enclosures_are_the_same_at_every_cell(d, t, i, j):
    """Where ``point_cell`` says -1, ``ball_at`` at a point is one ball whatever cell
    asks (cos features in floats, d = 24, and as a grid of Taylor models, d = 512); a
    target's Taylor cell (its own polynomial) says its index."""
    target = targets.get("runge")
    polys = _feature_cells(d)
    f = certified.taylor(target)
    a, b = target.domain
    x = a + (b - a) * t
    with arb_context():
        n = polys.rough.size
        assert polys.point_cell(i % n) == -1
        one, other = polys.ball_at(arb(x), i % n), polys.ball_at(arb(x), j % n)
        assert one.mid() == other.mid() and one.rad() == other.rad()
    k = int(i % f.rough.size)
    assert f.point_cell(k) == (-1 if f.rough[k] else k)
