"""Grids that resolve a target: cells split where ``f`` sags from its chord, checked
against sags computed here with exact rationals and against the asymptotic error of the
best piecewise-linear function."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.problems import grading, targets

SQRT_END = targets.from_expr("sqrt(x + 1)*cos(2*x)", (-1.0, 1.0), name="sqrtend")


def _sags(f, x):
    """Each cell's sag |f(mid) − chord(mid)|, the midpoint and chord in exact rationals
    (only f's values are floats)."""
    mids = [(Fraction(a) + Fraction(b)) / 2 for a, b in itertools.pairwise(x)]
    fm = f(np.array([float(m) for m in mids]))
    y = f(x)
    return np.array([abs(Fraction(float(v)) - (Fraction(float(a)) + Fraction(float(b))) / 2)
                     for v, a, b in zip(fm, y[:-1], y[1:], strict=True)], dtype=float)


@pytest.mark.parametrize("name", ["sin2pi", "runge", "exp", "tanh10", "abs15"])
@pytest.mark.parametrize("d", [1, 8, 64, 128])
def test_a_smooth_target_gains_no_point(name, d):
    # (|x|^1.5's cell at 0 gains 15 from d = 256 on: its f'' is infinite there)
    target = targets.get(name)
    x = np.linspace(-1.0, 1.0, max(1024, 128 * d))
    np.testing.assert_array_equal(grading.resolving(target, x, d), x)


@pytest.mark.parametrize("d", [16, 64, 256])
def test_a_singular_end_is_resolved_to_the_fraction_of_the_optimal_error(d):
    x = np.linspace(-1.0, 1.0, 128 * d)
    graded = grading.resolving(SQRT_END, x, d)
    # the asymptotic error (∫√|f''|)²/(16 d²), ∫√|f''| by quadrature of the closed form
    # f'' = s^{-3/2} g, s = x + 1, g = −cos 2x/4 − 2 s sin 2x − 4 s² cos 2x: with s = w⁴
    # the integrand √|f''| dx = 4 √|g| dw is smooth but for kinks where g changes sign
    w = np.linspace(0.0, 2.0**0.25, 200_001)
    s = w**4
    g = -np.cos(2 * (s - 1)) / 4 - 2 * s * np.sin(2 * (s - 1)) - 4 * s**2 * np.cos(2 * (s - 1))
    integrand = 4.0 * np.sqrt(np.abs(g))
    mass = float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(w)))
    error = mass**2 / (16 * d * d)
    sags = _sags(SQRT_END, graded)
    assert np.all(sags <= 1.2 * grading.FRACTION * error)  # the estimate of E is a sum
    assert np.max(_sags(SQRT_END, x)) > 10 * grading.FRACTION * error  # (it was not so)
    assert graded.size < 1.1 * x.size
    assert np.all(np.isin(x, graded))  # the uniform points are kept


def test_split_unresolved_stops_at_the_finest_cell_and_keeps_the_ends():
    x = np.linspace(0.0, 1.0, 65)
    out, y, mid = grading.split_unresolved(np.sqrt, x, np.sqrt(x), sag=0.0, rounds=40)
    assert out[0] == 0.0 and out[-1] == 1.0
    assert np.min(np.diff(out)) >= grading.FINEST * (1.0 - 1e-9)
    np.testing.assert_array_equal(y, np.sqrt(out))
    np.testing.assert_array_equal(mid, np.sqrt(0.5 * (out[:-1] + out[1:])))


def test_an_affine_f_has_nothing_to_split_and_a_kink_only_its_own_cell():
    x = np.linspace(-1.0, 1.0, 1000)  # (0.3 is no sample)
    np.testing.assert_array_equal(grading.resolving(lambda t: np.full_like(t, 3.0), x, 8), x)
    np.testing.assert_array_equal(grading.resolving(lambda t: 2.0 * t - 1.0, x, 8), x)
    graded = grading.resolving(lambda t: 1.0 - np.abs(t - 0.3), x, 64)
    added = np.setdiff1d(graded, x)
    cell = np.searchsorted(x, 0.3)
    assert added.size > 0
    assert np.all((added > x[cell - 1]) & (added < x[cell]))
    # a kink located otherwise (the finish's): its cell left as it is
    np.testing.assert_array_equal(
        grading.resolving(lambda t: 1.0 - np.abs(t - 0.3), x, 64, kinks=np.array([0.3])), x)


def test_non_finite_values_between_samples_count_as_no_sag():
    x = np.linspace(-1.0, 1.0, 101)

    def holed(t):
        out = np.sqrt(t + 1.0)
        out[np.abs(t - 0.005) < 1e-12] = np.nan  # a midpoint the samples never hold
        return out

    graded = grading.resolving(holed, x, 8)
    assert np.all(np.isfinite(holed(graded)))


@settings(max_examples=40, deadline=None)
@given(
    lo=st.floats(-1e6, 1e6),
    width=st.floats(1e-300, 1e6),
    n=st.integers(3, 200),
    d=st.integers(1, 4096),
    at=st.sampled_from([0.0, 0.37, 0.5]),
)
def test_grids_stay_sorted_and_inside_for_any_span(lo, width, n, d, at):
    # a cusp at an end or inside (whose tips may become samples too)
    hi = lo + width
    if not hi > lo:  # a span narrower than a float: nothing to grade
        return
    x = np.linspace(lo, hi, n)
    if np.any(np.diff(x) <= 0):
        return
    c = lo + at * width
    graded = grading.resolving(lambda t: np.sqrt(np.abs(t - c)), x, d)
    assert graded[0] == x[0] and graded[-1] == x[-1]
    assert np.all(np.diff(graded) > 0)
    assert graded.size <= 2 * x.size + grading.PEAKS


def test_a_grid_too_coarse_everywhere_at_most_doubles():
    # sin 2πx on 100 points for d = 1024: every cell sags above E/32; split each round,
    # they would grow 16-fold a round (10^8 points by the fifth)
    x = np.linspace(-1.0, 1.0, 100)
    graded = grading.resolving(lambda t: np.sin(2 * np.pi * t), x, 1024)
    assert x.size < graded.size <= 2 * x.size
    sags = _sags(lambda t: np.sin(2 * np.pi * t), x)
    split = np.flatnonzero([np.any((graded > a) & (graded < b)) for a, b in itertools.pairwise(x)])
    assert np.min(sags[split]) >= np.max(np.delete(sags, split))  # the largest sags first


def test_a_cusp_a_tenth_of_a_cell_from_a_sample_is_split():
    # √|x − c| meets its chord's mean at the midpoint when c lies a tenth of the cell
    # from an end ((√0.1 + √0.9)/2 = √0.4): the midpoint alone saw no sag there, and
    # trained nets of √|x − 0.4| ended 2.4×, 4.9×, 72× and 146× the optimum at d = 8,
    # 16, 128, 256 (0.4 sits at 0.1 or 0.9 of its cell on those grids)
    x = np.linspace(-1.0, 1.0, 1024)
    c = x[700] + 0.1 * (x[701] - x[700])

    def cusp(t):
        return np.sqrt(np.abs(t - c))

    y = cusp(x)
    midpoint_only = grading.split_unresolved(cusp, x, y, sag=1e-6)[0]
    assert np.min(np.abs(midpoint_only - c)) > 0.05 * (x[1] - x[0])  # (blind to it)
    graded = grading.resolving(cusp, x, 8)
    assert np.min(np.abs(graded - c)) < 1e-4 * (x[1] - x[0])


def _floats(a: float, b: float) -> np.ndarray:
    """Every float in [a, b] (both of one sign): consecutive bit patterns."""
    if b < 0:
        return -_floats(-b, -a)[::-1]
    lo, hi = np.array([a, b]).view(np.int64)
    return np.arange(lo, hi + 1, dtype=np.int64).view(np.float64)


@settings(max_examples=60, deadline=None)
@given(
    c=st.floats(0.01, 1e3),
    negative=st.booleans(),
    left=st.integers(1, 30_000),
    right=st.integers(1, 30_000) | st.just(-1),
)
def test_peak_is_the_float_of_largest_departure_from_the_chord(c, negative, left, right):
    # √|t − c| in a cell of a few to 60 000 floats around c: peak against every float
    bits = np.array([c]).view(np.int64)[0]
    right = left if right < 0 else right
    a, b = (float(v) for v in np.array([bits - left, bits + right]).view(np.float64))
    if negative:
        c, a, b = -c, -b, -a

    def f(t):
        return np.sqrt(np.abs(t - c))

    fa, fb = float(f(np.array([a]))[0]), float(f(np.array([b]))[0])
    every = _floats(a, b)[1:-1]
    departure = np.abs(f(every) - (fa + (every - a) * ((fb - fa) / (b - a))))
    found = grading.peak(f, a, b, fa, fb)
    assert found is not None and a < found < b
    at = np.abs(f(np.array([found])) - (fa + (found - a) * ((fb - fa) / (b - a))))[0]
    assert at == np.max(departure)
    if left == right:  # (a symmetric cell: the tip, where f departs by the chord's height)
        assert found == c


def test_peak_of_a_non_finite_cell_is_none():
    assert grading.peak(lambda t: np.full_like(t, np.nan), 0.0, 1e-15, 0.0, 0.0) is None


def test_a_cusp_narrower_than_the_finest_cell_gets_its_tip_as_a_sample():
    # at d = 1024 the cells around √|x − 0.4|'s tip stop splitting 7e-15 wide, where
    # the cusp still sags 8e-8, 9 % of the optimum's error: the trained net's error
    # peaked at the tip, 1.032× the optimum's upper end (0.961 with the tip a sample)
    x = np.linspace(-1.0, 1.0, 128 * 1024)

    def cusp(t):
        return np.sqrt(np.abs(t - 0.4))

    split = grading.split_unresolved(cusp, x, cusp(x), sag=1e-9, quarters=True)[0]
    assert 0.4 not in split and np.min(np.abs(split - 0.4)) < 1e-13  # (split to the floor)
    graded = grading.resolving(cusp, x, 1024)
    assert 0.4 in graded and np.all(np.diff(graded) > 0)
    # at d = 256 the tip's cell sags less than 64 others on the cusp's flanks (which
    # hold no tip): the tips are picked among the candidates, not the candidates first
    x256 = np.linspace(-1.0, 1.0, 128 * 256)
    assert 0.4 in grading.resolving(cusp, x256, 256)
    # a smooth target, or one whose cells all split finely enough, gains no peak
    np.testing.assert_array_equal(grading.with_peaks(np.sin, x, np.sin(x), 1e-12, 1.0), x)
