"""The minimax finish (approx.train.minimax): closed-form optima, equioscillation, the
flat form's net, the compiled normal equations, and the finish against its start."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from approx import methods
from approx.analysis.errors import max_error
from approx.nn import MLP
from approx.problems import targets
from approx.train import knot_form, minimax
from approx.train.minimax import Fit, as_net, madsen, minimax_fits, to_theta_flat

GRID = np.linspace(-1.0, 1.0, 2401)  # holds ±1/3, ±1/2 and 0 exactly enough for 1e-9
SQUARE = GRID**2


def _fit(tau, u, flat=None):
    tau, u = np.asarray(tau, float), np.asarray(u, float)
    return Fit(tau, u, flat, float(np.max(np.abs(np.interp(GRID, tau, u) - SQUARE))))


def test_madsen_reaches_the_equioscillating_best_two_piece_fit_of_x_squared():
    # the best continuous two-piece fit of x² on [-1, 1]: knot 0, lines ±x − 1/8, error
    # 1/8 attained with alternating signs at -1, -1/2, 0, 1/2, 1
    fit, _ = madsen(_fit([-1.0, 0.3, 1.0], [1.2, 0.0, 0.9]), GRID, SQUARE, 200)
    assert fit.error == pytest.approx(1 / 8, rel=1e-9)
    assert fit.tau[1] == pytest.approx(0.0, abs=1e-6)
    r = np.interp(GRID, fit.tau, fit.u) - SQUARE
    at = [np.argmin(np.abs(GRID - p)) for p in (-1.0, -0.5, 0.0, 0.5, 1.0)]
    assert np.allclose(r[at], [-1 / 8, 1 / 8, -1 / 8, 1 / 8, -1 / 8], atol=1e-7)


def test_the_flat_form_gives_a_width_two_net_the_three_cell_optimum_of_x_squared():
    # three cells [-1, -1/3], [-1/3, 1/3], [1/3, 1] with a level middle piece reach
    # 1/18, the best any three-piece function does (equal cells, f'' constant); the
    # free form of two units stops at 1/8
    tau = np.array([-1.0, 0.2, 1.0])
    fits, _ = minimax_fits(
        tau, np.interp(tau, GRID, SQUARE), GRID, SQUARE, 300, ("free", "flat", "level")
    )
    free, flat, level = fits
    assert free.error == pytest.approx(1 / 8, rel=1e-6)
    assert flat.error == pytest.approx(1 / 18, rel=1e-6)
    assert level.error == pytest.approx(1 / 18, rel=1e-6)
    assert flat.flat is not None and level.flat is not None
    net = as_net(flat)
    assert net.sizes == [1, 2, 1]
    certified = max_error(targets.from_expr("x**2", (-1.0, 1.0)), net)
    assert 1 / 18 * (1 - 1e-9) <= certified <= 1 / 18 * (1 + 1e-5)


@pytest.mark.parametrize("flat", [0, 2, 5])
def test_to_theta_flat_is_the_piecewise_linear_function(flat):
    rng = np.random.default_rng(flat)
    tau = np.concatenate([[-1.0], np.sort(rng.uniform(-1.0, 1.0, 5)), [1.0]])
    u = rng.normal(size=7)
    u[flat + 1] = u[flat]
    net = MLP([1, 5, 1], "relu")
    theta = net.pack()
    to_theta_flat(Fit(tau, u, flat, 0.0), theta, net.sizes)
    net.unpack(theta)
    x = np.linspace(-1.0, 1.0, 1001)
    assert np.max(np.abs(net(x).ravel() - np.interp(x, tau, u))) < 1e-12


@pytest.mark.skipif(knot_form._NUMBA is None, reason="numba not installed")
@pytest.mark.parametrize(
    ("p", "order"), [(2.0, "sorted"), (3.0, "sorted"), (16.0, "sorted"), (16.0, "shuffled"),
                     (256.0, "ends first"), (7.3, "shuffled")]
)
def test_compiled_normal_equations_equal_numpy(p, order):
    # the kernel walks from the last sample's cell (sorted samples), bisects otherwise,
    # and squares for whole p/2: the same sums as numpy's searchsorted and pow; samples
    # outside [τ_0, τ_n] fall in the end cells
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(-1.1, 1.1, 500))
    if order == "shuffled":
        x = rng.permutation(x)
    elif order == "ends first":  # as the "random" sampling lays them out
        x = np.concatenate([[-1.0, 1.0], x])
    tau = np.concatenate([[-1.0], np.sort(rng.uniform(-1.0, 1.0, 9)), [1.0]])
    u = rng.normal(size=11)
    y = np.sin(3 * x)
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, tau.size - 2)
    a = knot_form._sums(tau, u, x, y, cell, p, 0.7)
    b = knot_form._NUMBA(tau, u, x, y, p, 0.7)
    assert b[0] == pytest.approx(a[0], rel=1e-12)
    assert np.allclose(b[1], a[1], rtol=1e-12, atol=1e-14 * np.abs(a[1]).max())
    assert np.allclose(b[2], a[2], rtol=1e-12, atol=1e-14 * np.abs(a[2]).max())
    assert b[3] == a[3]


def test_the_continuation_holds_the_flat_cell_level():
    x = np.linspace(-1.0, 1.0, 2000)
    y = np.cos(3 * x)
    tau = np.linspace(-1.0, 1.0, 9)
    u = np.interp(tau, x, y)
    net = MLP([1, 8, 1], "relu")
    tau, u, _ = knot_form.lp_continuation(
        tau, u, x, y, minimax._Quiet(), net.pack(), net.sizes, 200, flat=4
    )
    error = np.max(np.abs(np.interp(x, tau, u) - y))
    assert abs(u[5] - u[4]) < 0.05 * error


@pytest.mark.parametrize("values", [[0.0, 2.0], [1.0, 1.0]])
def test_equidistribute_spreads_the_knots_of_an_affine_fit(values):
    # no curvature anywhere: cells of comparable width, never every knot at one end
    tau, _ = knot_form.equidistribute(np.array([-1.0, 1.0]), np.array(values), 5)
    assert tau[0] == -1.0 and tau[-1] == 1.0
    assert np.min(np.diff(tau)) > 0.25


def test_an_empty_stretch_gets_no_knot():
    # flat, then a parabola: the floor puts knots in the flat half; emptied, none
    x = np.linspace(-1.0, 1.0, 4097)
    y = np.where(x < 0.0, 0.0, x * x)
    floored, _ = knot_form.equidistribute(x, y, 65, 0.2)
    empty, values = knot_form.equidistribute(x, y, 65, 0.2, np.array([[-1.0, 0.0]]))
    assert np.sum((floored > -1.0) & (floored < -0.01)) >= 1
    assert np.sum((empty > -1.0) & (empty < -0.01)) == 0
    assert empty[0] == -1.0 and empty[-1] == 1.0 and np.all(np.diff(empty) > 0)
    np.testing.assert_allclose(values, np.interp(empty, x, y))


def test_flat_stretches_ending_in_kinks_and_only_those():
    x = np.linspace(-1.0, 1.0, 4096)
    flattop = np.maximum(1.0 - 4.0 * x * x, 0.0)
    found = minimax.flat_to_kinks(x, flattop, np.array([-0.5, 0.5]))
    np.testing.assert_allclose(found, [[-1.0, -0.5], [0.5, 1.0]], atol=2 * (x[1] - x[0]))
    # a ramp: flat to the kink, then straight but not exactly affine in floats (the
    # samples' rounding): the flat part only
    np.testing.assert_allclose(
        minimax.flat_to_kinks(x, np.maximum(x - 0.3, 0.0), np.array([0.3])), [[-1.0, 0.3]],
        atol=2 * (x[1] - x[0]))
    # exactly 0 below −0.5, then a smooth rise (no kink): the floor stays
    smooth = np.where(x < -0.5, 0.0, (x + 0.5) ** 3)
    assert minimax.flat_to_kinks(x, smooth, np.empty(0)).size == 0
    # a flat part next to a kink elsewhere than at its end: kept floored
    assert minimax.flat_to_kinks(x, smooth, np.array([0.9])).size == 0


def test_the_curvature_start_leaves_a_flat_part_of_the_target_empty():
    # (1 − 4x² + |1 − 4x²|)/2 is exactly 0 outside ±0.5: with the floor, 5 of d = 1024
    # knots sat in each flat part (the fit 1.048× the optimum; now one or two, at the
    # end where the clamped second difference reads the slope, and 1.016×), and the
    # knot moved onto each kink had left a cell 1.65 wide next to it (1.14× at d = 512)
    x = np.linspace(-1.0, 1.0, 128 * 256)
    y = np.maximum(1.0 - 4.0 * x * x, 0.0)
    tau, _ = minimax.curvature_start(x, y, 257)
    for flat in ((tau > -1.0) & (tau < -0.5 - 1e-9), (tau > 0.5 + 1e-9) & (tau < 1.0)):
        assert np.sum(flat) <= 2
    kinks = [int(np.argmin(np.abs(tau - k))) for k in (-0.5, 0.5)]
    np.testing.assert_allclose(tau[kinks], [-0.5, 0.5], atol=1e-9)
    cells = np.diff(tau[kinks[0]:kinks[1] + 1])
    np.testing.assert_allclose(cells, np.median(cells), rtol=0.02)  # (f'' is constant)


def test_anchored_knots_share_the_stretches_by_mass():
    # uniform density (a parabola): anchors kept exactly, the other knots in each
    # stretch as its length says, equal cells within each
    x = np.linspace(-1.0, 1.0, 2001)
    anchors = np.array([-0.2, 0.6])
    tau, _ = knot_form.equidistribute(x, x * x, 21, 0.01, anchors=anchors)
    assert tau.size == 21 and np.all(np.diff(tau) > 0)
    assert tau[0] == -1.0 and tau[-1] == 1.0 and set(anchors) <= set(tau)
    ends = [-1.0, *anchors, 1.0]
    counts = [int(np.sum((tau > a) & (tau < b))) for a, b in itertools.pairwise(ends)]
    assert counts == [7, 7, 3]  # 17 free knots over lengths 0.8, 0.8, 0.4
    # equal cells between the anchors (at the ends the clamped second difference
    # reads the slope: a narrower first cell)
    inside = tau[(tau >= anchors[0]) & (tau <= anchors[1])]
    np.testing.assert_allclose(np.diff(inside), 0.1, rtol=1e-3)


@pytest.mark.parametrize(
    ("name", "d"), [("sin2pi", 8), ("exp", 16), ("runge", 12), ("abs15", 1)]
)
def test_the_finish_never_raises_the_certified_error(name, d):
    target = targets.get(name)
    rng = np.random.default_rng

    def error(**options):
        fit = methods.fit("trained", target, d, rng([3, d]), steps=300, **options)
        return max_error(target, fit.model)

    assert error() <= error(finish_steps=0) * (1 + 1e-9)


def test_madsen_stops_once_its_steps_stall(monkeypatch):
    # with any gain below the stall fraction, Madsen's steps end after one window
    start = _fit([-1.0, 0.3, 1.0], [1.2, 0.0, 0.9])
    monkeypatch.setattr(minimax, "MADSEN_STALL", 0.0)
    _, used = madsen(start, GRID, SQUARE, 200)
    monkeypatch.setattr(minimax, "MADSEN_STALL", 1e9)  # any gain is too little
    monkeypatch.setattr(minimax, "MADSEN_WINDOW", 3)
    fit, stalled = madsen(start, GRID, SQUARE, 200)
    assert stalled == 3 < used
    assert fit.error < start.error


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_to_theta_flat_writes_the_subset_form(seed):
    # d = 6 interior knots, a random subset L facing left, the first slope minus the
    # sum of their slope changes: the net is the piecewise-linear function
    rng = np.random.default_rng(seed)
    tau = np.concatenate([[-1.0], np.sort(rng.uniform(-1.0, 1.0, 6)), [1.0]])
    change, left = rng.normal(size=6), rng.random(6) < 0.5
    s = -change[left].sum() + np.concatenate([[0.0], np.cumsum(change)])
    u = rng.normal() + np.concatenate([[0.0], np.cumsum(s * np.diff(tau))])
    net = MLP([1, 6, 1], "relu")
    theta = net.pack()
    to_theta_flat(Fit(tau, u, None, 0.0, left), theta, net.sizes)
    net.unpack(theta)
    x = np.linspace(-1.0, 1.0, 1001)
    assert np.max(np.abs(net(x).ravel() - np.interp(x, tau, u))) < 1e-12
    assert as_net(Fit(tau, u, None, 0.0, left)).sizes == [1, 6, 1]


@pytest.mark.slow
def test_the_thorough_finish_recounts_before_it_rebalances():
    # x + 0.2 sin 12x at d = 32: re-balanced first, the subset path's fit offered
    # recount no transfer that helps (1.150× optimal-pwl's certified upper end, the
    # fit started from the construction); recounted first, 0.999×. Never below the
    # proven lower end
    target, d = targets.from_expr("x + 0.2*sin(12*x)", (-1.0, 1.0), name="wiggle"), 32
    best = methods.fit("optimal-pwl", target, d, np.random.default_rng(0))
    lower, upper = best.info["lower"], max_error(target, best.model)
    x = np.linspace(-1.0, 1.0, 128 * d)
    y = target(x)
    with minimax.thorough():
        fits, _ = minimax_fits(*minimax.curvature_start(x, y, d + 1), x, y, 0,
                               forms=("free", "subset"),
                               level=minimax.curvature_start(x, y, d + 2))
    error = max_error(target, as_net(min(fits, key=lambda fit: fit.error)))
    assert lower <= error <= 1.01 * upper


def test_the_uneven_levels_test_leaves_the_stretches_holding_a_kink_out():
    # |sin 4x| on [−1, 1] kinks at 0 and ±π/4: stretches of one knot each around them
    # read a high level (the kink's second difference), which no count changes; the
    # smooth stretches' levels alone decide. sin 4x (no kink) with the same levels:
    # every stretch counts
    x = np.linspace(-1.0, 1.0, 4097)
    ends = np.array([-1.0, -0.8, -0.77, -0.02, 0.02, 0.77, 0.8, 1.0])
    even = np.array([0.04, 0.1, 0.041, 0.1, 0.042, 0.1, 0.04])
    uneven = even.copy()
    uneven[2] = 0.06  # a smooth stretch 1.5× above another
    kinked, smooth = np.abs(np.sin(4.0 * x)), np.sin(4.0 * x)
    assert not minimax._uneven(ends, even, x, kinked)
    assert minimax._uneven(ends, uneven, x, kinked)
    assert minimax._uneven(ends, even, x, smooth)
    assert not minimax._uneven(ends, np.full(7, 0.04), x, smooth)
