"""Training on graded points (the default ``sampling``): the same points as uniform ones
where the target is resolved, and at a singular end (``√(x + 1)`` at −1) points that
resolve it, with a finish that uses them; trained nets there against the certified
bracket of the optimum."""

from __future__ import annotations

import numpy as np
import pytest

from approx import methods
from approx.analysis.errors import max_error
from approx.problems import grading, targets
from approx.train import fit_target
from approx.train.exchange import (
    MIN_CELL,
    SPREAD,
    evenly_spaced,
    exchange,
    finish_kinks,
    kinks,
    least_cell,
    spread,
)
from approx.train.link_start import link_start
from approx.train.minimax import APART, apart, curvature_start
from approx.train.recipe import _graded, _tipped_kinks

STEEP = targets.from_expr("sqrt(x + 1)*cos(2*x)", (-1.0, 1.0), name="sqrtend")


def _optimum(target, d):
    result = methods.fit("optimal-pwl", target, d, np.random.default_rng(0))
    return result.info["lower"], max_error(target, result.model), result.model


def _samples(d):
    x = np.linspace(-1.0, 1.0, 128 * d)
    return x, grading.resolving(STEEP, x, d)


def test_graded_is_the_default_and_gives_the_uniform_fit_where_nothing_is_split():
    target = targets.get("runge")
    default = fit_target(target, 8, np.random.default_rng(3), steps=300)
    uniform = fit_target(target, 8, np.random.default_rng(3), steps=300, sampling="uniform")
    for a, b in zip(default.net.weights + default.net.biases,
                    uniform.net.weights + uniform.net.biases, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("expr", ["abs(sin(4*x))", "exp(-3*abs(x - 0.1))", "abs(x + 0.3)*exp(x)"])
def test_graded_points_leave_the_kinks_to_the_finish(expr):
    # a kink's cell sags J h/4 however fine: split, it moved the finish's start into
    # other local minima (|sin 4x| at d = 128: 1.000 → 1.046 the optimum)
    target = targets.from_expr(expr, (-1.0, 1.0), name="kinked")
    x = np.linspace(-1.0, 1.0, 128 * 64)
    assert grading.resolving(target, x, 64).size > x.size  # (unresolved, by the sags)
    np.testing.assert_array_equal(_graded(x, target, x.size), x)


TWO_CUSPS = targets.from_expr("sqrt(abs(cos(4*x)))", (-1.0, 1.0), name="twocusps")


def test_an_inner_cusp_read_as_a_kink_is_split_as_a_singular_point():
    # on 8192 evenly spaced points the cusps of √|cos 4x| at ±π/8 pass the kink test
    # (J ≈ 117), but f there lies 0.4 |J| h below both sides' extrapolations, where a
    # true kink's tip lies on them: taken for kinks, their cells were left unsplit and
    # trained nets ended 9.9× the optimum at d = 64 (510× at d = 1024)
    x = np.linspace(-1.0, 1.0, 128 * 64)
    y = TWO_CUSPS(x)
    assert kinks(x, y)[0].size == 2  # (what the kink test reads)
    np.testing.assert_array_equal(_tipped_kinks(TWO_CUSPS, x, y), [])
    graded = _graded(x, TWO_CUSPS, x.size)
    for c in (-np.pi / 8, np.pi / 8):
        assert np.min(np.abs(graded - c)) < 1e-8 < 1e-5 < np.min(np.abs(x - c))
    # true kinks keep their tips: all of them kept
    for expr in ("abs(sin(4*x))", "exp(-3*abs(x - 0.1))", "sqrt(abs(x) + 0.01)"):
        target = targets.from_expr(expr, (-1.0, 1.0), name="kinked")
        found = kinks(x, target(x))[0]
        assert found.size
        np.testing.assert_array_equal(_tipped_kinks(target, x, target(x)), found)


def test_the_tips_of_inner_cusps_are_samples():
    # at d = 256 the split cells around ±π/8 sag up to E/32 and the samples' least f
    # there was 6e-6: trained nets peaked at the tips, 1.036× the optimum's upper end
    x = np.linspace(-1.0, 1.0, 128 * 256)
    graded = _graded(x, TWO_CUSPS, x.size)
    for c in (-np.pi / 8, np.pi / 8):
        near = graded[np.abs(graded - c) < 1e-3]
        assert np.min(TWO_CUSPS(near)) < 1e-7


def test_trained_nets_reach_the_optimum_on_two_inner_cusps():
    d = 64
    lower, upper, _ = _optimum(TWO_CUSPS, d)
    error = max_error(TWO_CUSPS, methods.fit("trained", TWO_CUSPS, d,
                                             np.random.default_rng([0, d])).model)
    assert lower <= error <= 1.1 * upper


def test_graded_points_resolve_a_singular_end_but_not_a_smooth_target():
    x = np.linspace(-1.0, 1.0, 128 * 64)
    assert _graded(x, STEEP, x.size).size > x.size
    np.testing.assert_array_equal(_graded(x, targets.get("tanh10"), x.size), x)
    # 1024 points (the default of Adam alone, whatever the width) resolve a smooth target
    # as a width-8 net needs: nothing split, as before graded points
    few = np.linspace(-1.0, 1.0, 1024)
    for name in ("sin2pi", "runge", "exp", "tanh10", "abs15"):
        np.testing.assert_array_equal(_graded(few, targets.get(name), few.size), few)


@pytest.mark.parametrize("d", [32, 128])
def test_at_a_singular_end_trained_nets_reach_the_optimum_from_graded_points_only(d):
    # uniform points leave the first cell's sag (0.21 √h) unresolved: 6.5× the optimum at
    # d = 64, 47× at 256, 374× at 1024; graded ones 1.03, 1.02, 1.03
    lower, upper, _ = _optimum(STEEP, d)
    graded = max_error(STEEP, methods.fit("trained", STEEP, d, np.random.default_rng(d)).model)
    uniform = max_error(STEEP, methods.fit("trained", STEEP, d, np.random.default_rng(d),
                                           sampling="uniform").model)
    assert graded >= lower  # (no net beats the certified lower end)
    assert graded <= 1.1 * upper
    assert uniform > 2.0 * upper


def test_the_exchange_on_graded_samples_places_the_first_knot_at_the_optimum_s_scale():
    d = 64
    _, upper, net = _optimum(STEEP, d)
    first = np.min(-net.biases[0] / net.weights[0].ravel() + 1.0, where=(
        -net.biases[0] / net.weights[0].ravel() > -1.0), initial=np.inf)
    results = {}
    for name, xs in zip(("uniform", "graded"), _samples(d), strict=True):
        start = curvature_start if name == "uniform" else link_start
        tau, u = start(xs, STEEP(xs), d + 1)
        tau, u, error, _ = exchange(tau, u, xs, STEEP(xs))
        results[name] = tau[1] + 1.0, error
    assert results["graded"][1] <= 1.02 * upper
    assert results["uniform"][1] > 4.0 * upper
    assert results["graded"][0] < 3.0 * first  # (a sample step, 2.4e-4, on uniform ones)
    assert results["uniform"][0] > 10.0 * first


def test_evenly_spaced_and_the_least_cell():
    x, graded = _samples(64)
    assert evenly_spaced(x) and evenly_spaced(np.linspace(3.0, 3.0 + 1e-9, 50))
    assert not evenly_spaced(graded)
    assert not evenly_spaced(np.sort(np.random.default_rng(0).uniform(-1, 1, 100)))
    assert least_cell(x, 2.0) == MIN_CELL * 2.0
    assert least_cell(graded, 2.0) == np.min(np.diff(graded)) < MIN_CELL * 2.0


def test_spread_keeps_cells_the_graded_samples_resolve():
    _, graded = _samples(64)
    tau = np.array([-1.0, -1.0 + 1e-8, -1.0 + 1e-7, -0.5, 0.0, 1.0])
    u = STEEP(tau)
    moved, _ = spread(tau, u)
    assert moved[1] != tau[1]  # closer than SPREAD of the mean cell (4e-3): moved
    kept, kept_u = spread(tau, u, x=graded)
    np.testing.assert_array_equal(kept, tau)
    np.testing.assert_array_equal(kept_u, u)
    # closer than SPREAD of the sample step there: moved even on graded samples
    step = float(np.diff(graded)[0])
    tight = np.array([-1.0, -1.0 + 0.5 * SPREAD * step, -1.0 + 1e-7, 0.0, 1.0])
    assert spread(tight, STEEP(tight), x=graded)[0][1] != tight[1]


def test_apart_on_graded_samples_counts_the_samples_own_steps():
    _, graded = _samples(64)
    index = np.arange(graded.size, dtype=float)
    tau = np.array([-1.0, -1.0 + 1e-14, -1.0 + 2e-14, -1.0 + 1e-6, 0.0, 1.0])
    out, values = apart(tau, STEEP(tau), graded, STEEP(graded))
    steps = np.diff(np.interp(out, graded, index))
    assert np.all(steps >= APART - 1e-9)
    assert out[3] == tau[3]  # already apart: not moved
    assert out[0] == -1.0 and out[-1] == 1.0
    np.testing.assert_allclose(values, np.interp(out, graded, STEEP(graded)))


ROOT = targets.from_expr("sqrt(x + 1)", (-1.0, 1.0), name="root")
RIGHT_END = targets.from_expr("sqrt(1 - x)*exp(x)", (-1.0, 1.0), name="sqrtright")
CUSP = targets.from_expr("sqrt(abs(x - 0.4))", (-1.0, 1.0), name="cusp")


@pytest.mark.slow
def test_at_a_singular_end_that_turns_the_link_start_reaches_the_optimum():
    # from knots equidistributing the samples' curvature the exchange levelled every cell
    # with the end knots too far out: 1.20× the optimum at d = 1024 (the start's values
    # shifted to the fit's side); from the fewest-link path, 1.0004
    d = 1024
    x = np.linspace(-1.0, 1.0, 128 * d)
    x = _graded(x, RIGHT_END, x.size)
    y = RIGHT_END(x)
    _, upper, _ = _optimum(RIGHT_END, d)
    tau, u = link_start(x, y, d + 1)
    assert tau.size == d + 1
    assert exchange(tau, u, x, y)[2] <= 1.01 * upper
    tau, u = curvature_start(x, y, d + 1)
    assert exchange(tau, u, x, y)[2] > 1.1 * upper


def test_the_link_start_is_the_fewest_link_path_through_the_samples():
    lower, upper, _ = _optimum(STEEP, 16)
    for xs in _samples(16):
        y = STEEP(xs)
        tau, u = link_start(xs, y, 17)
        assert tau.size == 17 and tau[0] == xs[0] and tau[-1] == xs[-1]
        assert np.all(np.diff(tau) > 0)
        error = np.max(np.abs(np.interp(xs, tau, u) - y))
        # no path of 16 links beats the optimum's lower end on f, and on the samples it
        # is within their sags of it
        assert 0.99 * lower <= error <= 1.01 * upper
    # more knots than a path needs: the widest cells halved, the path unchanged
    line = np.linspace(0.0, 1.0, 200)
    tau, u = link_start(line, 3.0 * line + 1.0, 9)
    assert tau.size == 9
    np.testing.assert_allclose(u, 3.0 * tau + 1.0, atol=1e-12)


def test_the_link_start_turns_at_a_kink_between_samples():
    # the kink a sample with f from its left side, and no sag there: the path may turn on
    # it; without, the sags of its two samples (J h/8) narrow the band around it
    x = np.linspace(-1.0, 1.0, 401)  # 0.30125 lies between samples
    fine = np.linspace(-1.0, 1.0, 200001)
    for expr in ("abs(x - 0.30125)*exp(x)", "abs(x - 0.30125) + 0.2*x**2"):
        kinked = targets.from_expr(expr, (-1.0, 1.0), name="kinked")
        y = kinked(x)
        found = finish_kinks(x, y)
        np.testing.assert_allclose(found[0], [0.30125], atol=1e-5)
        errors = {}
        for name, kinks_of in (("with", found), ("without", None)):
            tau, u = link_start(x, y, 33, kinks_of)
            errors[name] = np.max(np.abs(np.interp(fine, tau, u) - kinked(fine)))
        assert errors["with"] < 0.3 * errors["without"]


def test_on_evenly_spaced_samples_the_start_is_the_interpolant():
    x = np.linspace(-1.0, 1.0, 4096)
    for target in (ROOT, targets.get("sin2pi")):
        tau, u = curvature_start(x, target(x), 33)
        np.testing.assert_array_equal(u, np.interp(tau, x, target(x)))


def test_a_cusp_resolved_by_graded_points_is_no_kink_for_the_finish():
    # taken for one at d = 64, the cusp got a knot with f from one side: 1.40× the
    # optimum, 1.02× without
    x = np.linspace(-1.0, 1.0, 128 * 64)
    graded = _graded(x, CUSP, x.size)
    assert graded.size > x.size  # (the cusp's cells split)
    assert kinks(graded, CUSP(graded))[0].size == 1  # the kink test on them finds one
    assert finish_kinks(graded, CUSP(graded))[0].size == 0
    # a kink on evenly spaced or random samples is kept
    kinked = targets.from_expr("abs(x - 0.3)*exp(x)", (-1.0, 1.0), name="kinked")
    for xs in (x, np.sort(np.r_[-1.0, 1.0, np.random.default_rng(0).uniform(-1, 1, 8000)])):
        np.testing.assert_array_equal(finish_kinks(xs, kinked(xs))[0], kinks(xs, kinked(xs))[0])
        assert finish_kinks(xs, kinked(xs))[0].size == 1


@pytest.mark.parametrize("d", [16, 128])
def test_trained_nets_at_a_cusp_reach_the_optimum(d):
    # its cells unsplit (the midpoint of 0.4's cell meets the chord's mean) the cusp
    # was 4.9× the optimum at d = 16 and 72× at 128
    lower, upper, _ = _optimum(CUSP, d)
    error = max_error(CUSP, methods.fit("trained", CUSP, d, np.random.default_rng(d)).model)
    assert lower <= error <= 1.1 * upper


SINGULAR_KINK = targets.from_expr("sqrt(x + 1) + abs(x - 0.3)", (-1.0, 1.0), name="endkink")


def test_a_kink_is_found_beside_a_singular_end_on_graded_samples():
    # the kink test's floor, a millionth of the largest slope, read the slope of the
    # split cells at −1 (2e6 at d = 256) and lost the jump of 2 at 0.3
    x = np.linspace(-1.0, 1.0, 128 * 256)
    graded = _graded(x, SINGULAR_KINK, x.size)
    slopes = np.abs(np.diff(SINGULAR_KINK(graded)) / np.diff(graded))
    assert 1e-6 * slopes.max() > 2.0  # (the old floor)
    np.testing.assert_allclose(finish_kinks(graded, SINGULAR_KINK(graded))[0], [0.3], atol=1e-6)


@pytest.mark.slow
def test_trained_nets_at_a_singular_end_and_a_kink_reach_the_optimum():
    # blind to the kink the finish ended 5.6× the optimum at d = 256 (8.4× before the link
    # start)
    d = 256
    lower, upper, _ = _optimum(SINGULAR_KINK, d)
    error = max_error(SINGULAR_KINK, methods.fit("trained", SINGULAR_KINK, d,
                                                 np.random.default_rng(0)).model)
    assert lower <= error <= 1.03 * upper
