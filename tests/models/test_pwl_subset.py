"""approx.models.pwl_net's meeting in the middle by sorted sums: the same subsets as
sorting every subset sum with argsort (the form it replaced), ties and zeros included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.models import pwl_net


def _by_argsort(first, second, r):
    """The pair of subsets as found before: every sum, argsort, search (the reference)."""
    a, b = pwl_net._subset_sums(first), pwl_net._subset_sums(second)
    order = np.argsort(b)
    sorted_b = b[order]
    want = r - a
    pos = np.clip(np.searchsorted(sorted_b, want), 0, sorted_b.size - 1)
    lower = np.maximum(pos - 1, 0)
    err_hi, err_lo = np.abs(want - sorted_b[pos]), np.abs(want - sorted_b[lower])
    pick = np.where(err_lo < err_hi, lower, pos)
    err = np.minimum(err_lo, err_hi)
    i = int(np.argmin(err))
    return i, int(order[pick[i]]), float(err[i])


values = st.one_of(
    st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 0.25, 1e-17]),  # ties among the sums
)


@settings(max_examples=200, deadline=None)
@given(first=st.lists(values, min_size=1, max_size=9), second=st.lists(values, min_size=1,
       max_size=9), r=st.floats(-30.0, 30.0, allow_nan=False))
def test_the_same_pair_as_sorting_every_sum(first, second, r):
    first, second = np.array(first), np.array(second)
    assert pwl_net._nearest_pair(first, second, r) == _by_argsort(first, second, r)


@settings(max_examples=100, deadline=None)
@given(step=st.lists(values, min_size=0, max_size=10))
def test_sorted_sums_are_the_subset_sums_sorted(step):
    sums, subsets = pwl_net._sorted_sums(np.array(step))
    every = pwl_net._subset_sums(np.array(step))
    assert np.array_equal(np.sort(subsets), np.arange(every.size))
    assert np.array_equal(sums, every[subsets])  # bit for bit, each its own subset's
    assert (np.diff(sums) >= 0).all()


def test_a_large_random_instance_gives_the_same_pair():
    rng = np.random.default_rng(3)
    step = rng.standard_normal(36) * np.exp(rng.uniform(-8.0, 0.0, 36))
    for r in (0.0, 0.3, -2.5, 1e-9):
        assert pwl_net._nearest_pair(step[:18], step[18:], r) == _by_argsort(
            step[:18], step[18:], r)
