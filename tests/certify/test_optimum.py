"""The optimum's bracket: the exact Helly check, the lower bound against closed forms,
brute force and achievable errors, and hostile targets."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import linprog

from approx.analysis.errors import max_error_at
from approx.certify import optimum
from approx.methods import fit
from approx.models import link_path
from approx.models.pwl_net import pwl_net
from approx.nn import MLP
from approx.problems import targets

SQUARE = targets.from_expr("x**2", (0.0, 1.0), name="square")
SINE01 = targets.from_expr("sin(2*pi*x)", (0.0, 1.0), name="sine01")


def _bracket(target, d):
    result = fit("optimal-pwl", target, d, np.random.default_rng(0))
    return result.info["lower"], max_error_at(target, result.model), result


def _lp_stabbable(x, lo, hi):
    """Whether a line meets the segments [lo, hi] at x (scipy's LP, a margin)."""
    A, b = [], []
    for xi, low, high in zip(x, lo, hi, strict=True):
        A += [[-1, -xi, 1], [1, xi, 1]]
        b += [-low, high]
    res = linprog([0, 0, -1], A_ub=A, b_ub=b, bounds=[(None, None), (None, None), (None, 1)])
    return -res.fun


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=3, unique=True),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.floats(0, 0.5))
def test_the_exact_check_of_three_segments_agrees_with_a_linear_program(xs, ys, E):
    x = sorted(xs)
    if min(np.diff(x)) < 1e-3:
        return
    exact = optimum.stabbable(tuple(x), tuple(ys), tuple(ys), E)
    margin = _lp_stabbable(x, np.array(ys) - E, np.array(ys) + E)
    if abs(margin) > 1e-9:  # away from the boundary the LP decides
        assert exact == (margin > 0)
        # and which way the middle misses: below (+1) or above (-1) the outer chord
        chord = (ys[0] * (x[2] - x[1]) + ys[2] * (x[1] - x[0])) / (x[2] - x[0])
        turn = optimum.kink(tuple(x), tuple(ys), tuple(ys), E)
        assert turn == (0 if exact else (1 if chord > ys[1] else -1))


def test_the_exact_check_decides_on_the_boundary_in_rationals():
    # y = x² at 0, 1/2, 1: the chord is 1/4 above the middle, so E = 1/8 just stabs
    assert optimum.stabbable((0.0, 0.5, 1.0), (0.0, 0.25, 1.0), (0.0, 0.25, 1.0), 0.125)
    assert not optimum.stabbable((0.0, 0.5, 1.0), (0.0, 0.25, 1.0), (0.0, 0.25, 1.0),
                                 float(np.nextafter(0.125, 0)))
    # an interval radius counts: the middle enclosed as [0.25, 0.3] is reachable sooner
    assert optimum.stabbable((0.0, 0.5, 1.0), (0.0, 0.25, 1.0), (0.0, 0.3, 1.0), 0.11)


@pytest.mark.parametrize("d", [1, 2, 3, 7, 31])
def test_the_square_brackets_its_closed_form_optimum(d):
    """x² on [0, 1] with d free breakpoints: d + 1 equal pieces, each the chord lowered
    by h²/8 (the chords' shifts agree, so the path is continuous) equioscillating at
    2d + 3 points: the optimum is exactly 1/(8 (d + 1)²). Its first slope is positive and
    every slope change too, so no subset of them sums to minus the first slope; the best
    width-d net is flat up to t with x² rising by 2E there (t = √(2E)), then d such
    pieces on [t, 1]: √(8E) d = 1 - √(2E), E = 1/(2 (2d + 1)²), which the nets' bound
    proves and the flat-start path reaches."""
    best = 1 / (8 * (d + 1) ** 2)
    lower, err, result = _bracket(SQUARE, d)
    pwl = optimum.lower_bound(SQUARE, optimum.samples(SQUARE, d), d).value
    assert pwl <= best and pwl > best * (1 - 1e-3)
    path = optimum.continuous_fit(optimum.samples(SQUARE, d), d)
    assert path.knots.size == d + 2 and path.band == pytest.approx(best, rel=1e-3)
    net_best = 1 / (2 * (2 * d + 1) ** 2)
    assert lower <= net_best <= err.upper <= net_best * (1 + 1e-3)
    assert lower > net_best * (1 - 1e-3)
    assert result.info["breakpoints"] == d


def test_one_breakpoint_on_the_square_by_brute_force():
    """d = 1: every knot t on a fine grid, the best continuous two-piece path by LP at
    a thousand points; no knot beats the lower bound, and the best is the bound and the
    band of the path (the net itself has no breakpoint to spare: see above). These
    two-piece paths are not all width-1 nets, so the bound is that of free knots."""
    lower = optimum.lower_bound(SQUARE, optimum.samples(SQUARE, 1), 1).value
    x = np.linspace(0, 1, 1001)
    best = math.inf
    for t in np.linspace(0.3, 0.7, 81):
        # unknowns: values at 0, t, 1 and E; |interp - x²| ≤ E at the points
        w = np.where(x <= t, x / t, (x - t) / (1 - t))
        rows = np.zeros((x.size, 4))
        left = x <= t
        rows[left, 0], rows[left, 1] = 1 - w[left], w[left]
        rows[~left, 1], rows[~left, 2] = 1 - w[~left], w[~left]
        A = np.vstack([np.column_stack([rows[:, :3], -np.ones(x.size)]),
                       np.column_stack([-rows[:, :3], -np.ones(x.size)])])
        b = np.concatenate([x * x, -x * x])
        res = linprog([0, 0, 0, 1], A_ub=A, b_ub=b, bounds=[(None, None)] * 4)
        best = min(best, res.fun)
        assert res.fun >= lower * (1 - 1e-12)
    assert best == pytest.approx(1 / 32, rel=1e-9)
    assert lower == pytest.approx(best, rel=1e-3)
    path = optimum.continuous_fit(optimum.samples(SQUARE, 1), 1)
    assert path.band == pytest.approx(best, rel=1e-3)


def _asymptotic(f2, a, b):
    return quad(lambda x: math.sqrt(abs(f2(x))), a, b, limit=400)[0] ** 2 / 16


@pytest.mark.parametrize(("target", "f2", "d", "constant"), [
    (SINE01, lambda x: 4 * math.pi**2 * math.sin(2 * math.pi * x), 256, 1.44),
    (targets.get("sin2pi"), lambda x: 4 * math.pi**2 * math.sin(2 * math.pi * x), 512, 5.74),
])
def test_smooth_targets_meet_the_asymptotic_constant(target, f2, d, constant):
    a, b = target.domain
    c = _asymptotic(f2, a, b)
    assert c == pytest.approx(constant, abs=0.01)
    lower, err, _ = _bracket(target, d)
    n = d + 1  # pieces
    assert lower * n * n == pytest.approx(c, rel=1e-2)
    assert err.upper * n * n == pytest.approx(c, rel=1e-2)
    assert lower <= err.upper <= lower * 1.02


def test_a_path_near_the_optimum_never_beats_the_lower_bound():
    """The optimum's own path, its vertices moved at random by a fraction of the band:
    a width-d net every time; its certified error is never below the proven bound."""
    target, d = targets.get("runge"), 16
    s = optimum.samples(target, d)
    path = optimum.continuous_fit(s, d)
    bound = optimum.lower_bound(target, s, d)
    rng = np.random.default_rng(1)
    for _ in range(12):
        knots = path.knots.copy()
        gaps = np.diff(knots)
        k = knots.size - 2  # d, or fewer where the band allows (runge is even)
        knots[1:-1] += rng.uniform(-0.02, 0.02, k) * np.minimum(gaps[:-1], gaps[1:])
        values = path.values + rng.uniform(-0.05, 0.05, k + 2) * path.band
        net, _ = pwl_net(knots, values, d)
        err = max_error_at(target, net)
        assert bound.value <= err.value


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_random_nets_of_width_d_never_beat_the_lower_bound(d, seed):
    target = targets.get("tanh10")
    rng = np.random.default_rng(seed)
    knots = np.concatenate(([-1.0], np.sort(rng.uniform(-1, 1, d)), [1.0]))
    if np.any(np.diff(knots) <= 0):
        return
    values = np.tanh(10 * knots) + rng.normal(0, 0.01, d + 2)
    net, _ = pwl_net(knots, values, d)
    lower = optimum.lower_bound(target, optimum.samples(target, d), d).value
    assert lower <= max_error_at(target, net).value


def test_the_certificate_counts_only_disjoint_exactly_checked_triples():
    x2 = SQUARE
    # two triples whose spans touch: two breakpoints proven at E below 1/32 (h = 1/2)
    good = np.array([[0.0, 0.25, 0.5], [0.5, 0.75, 1.0]])
    assert optimum.confirmed(x2, good, 1 / 32 * 0.999) == 2
    assert optimum.confirmed(x2, good, 1 / 32) == 0  # stabbable on the boundary
    # overlapping spans prove one breakpoint only
    overlap = np.array([[0.0, 0.25, 0.5], [0.4, 0.7, 1.0]])
    assert optimum.confirmed(x2, overlap, 1e-4) == 1
    assert optimum.confirmed(x2, np.full((1, 3), np.nan), 1e-4) == 0


def test_a_domain_one_float_wide_gives_a_valid_bracket_or_a_clear_error():
    a = 1.0
    b = float(np.nextafter(a, 2))
    target = targets.from_expr("x**2", (a, b), name="sliver")
    try:
        lower, err, _ = _bracket(target, 4)
    except ValueError as e:
        assert "\n" not in str(e)
        return
    assert 0 <= lower <= err.upper


@pytest.mark.parametrize("expr", ["1e300*sin(3*x)", "1e-300*sin(3*x)"])
def test_values_near_the_float_range_give_a_valid_bracket_or_a_clear_error(expr):
    try:
        target = targets.from_expr(expr, (-1.0, 1.0))
        lower, err, _ = _bracket(target, 8)
    except ValueError as e:
        assert "\n" not in str(e)
        return
    assert 0 <= lower <= err.upper
    assert math.isfinite(lower)


def test_the_rationals_of_the_check_are_those_of_the_floats():
    # a sanity check of the exact arithmetic's inputs: floats convert without rounding
    assert Fraction(0.1) != Fraction(1, 10)
    assert optimum.stabbable((0.0, 0.1, 0.2), (0.0, 0.1, 0.2), (0.0, 0.1, 0.2), 0.0) == (
        Fraction(0.1) * 2 == Fraction(0.2))


def _hinge_lp(x, y, phi):
    """min over (c, v) of max |c + v·phi - y| on the points (LP)."""
    ones = np.ones_like(x)
    A = np.vstack([np.column_stack([ones, phi, -ones]), np.column_stack([-ones, -phi, -ones])])
    res = linprog([0, 0, 1], A_ub=A, b_ub=np.concatenate([y, -y]), bounds=[(None, None)] * 3)
    return res.fun, res.x


def _width_one_nets(target):
    """Every width-1 net's best (c, v) by LP on 801 points: the line, and hinges flat
    left or right of a knot on 60 knots, then 40 knots around the best; the best as a
    net, with its certified error."""
    a, b = target.domain
    x = np.linspace(a, b, 801)
    y = target(x)
    best = (_hinge_lp(x, y, x)[0], None, 0, None)
    step = (b - a) / 61
    for knots, faces in [(np.linspace(a, b, 62)[1:-1], (1, -1)), (None, None)]:
        if knots is None:  # around the best so far
            if best[1] is None:
                break
            knots, faces = np.linspace(best[1] - step, best[1] + step, 40), (best[2],)
        for t in knots:
            for face in faces:
                value, (c, v, _) = _hinge_lp(x, y, np.maximum(face * (x - t), 0))
                if value < best[0]:
                    best = (value, t, face, (c, v))
    _, t, face, (c, v) = best
    net = MLP.from_params([np.array([[float(face)]]), np.array([[v]])],
                          [np.array([-face * t]), np.array([c])], activation="relu")
    return best[0], max_error_at(target, net).upper


@pytest.mark.parametrize("target", [SQUARE, targets.get("exp")])
def test_one_unit_by_brute_force_meets_the_bound_of_the_nets(target):
    """Width 1 on a convex increasing f: a hinge flat on one side, or a line. The best
    over 100 knots (LP on 801 points) is a real net: its certified error is never
    below the nets' bound, and it is within 0.5 % of it (the bound is tight), while
    the bound of free-knot functions (one breakpoint, any first slope) is far below."""
    a, b = target.domain
    s = optimum.samples(target, 1)
    bound = optimum.net_bound(target, s, 1)
    pwl = optimum.lower_bound(target, s, 1)
    _, certified = _width_one_nets(target)
    assert bound.value <= certified
    assert certified <= bound.value * 1.005
    assert pwl.value < 0.7 * bound.value
    assert bound.sign == 1 and a < bound.anchor < b
    assert optimum.confirmed(target, bound.witnesses, bound.value, sign=1) == 1
    assert optimum.confirmed(target, bound.witnesses, bound.value, sign=-1) == 0


@settings(max_examples=8, deadline=None)
@given(st.integers(2, 24), st.integers(0, 2**32 - 1))
def test_nets_using_every_breakpoint_never_beat_the_bound_of_the_nets(d, seed):
    """exp's near-best free-knot path has d breakpoints (error below the nets' bound);
    as a width-d net, moved at random, with every breakpoint inside: its certified
    error is never below the bound, nor is any net of a random subset of facings."""
    target = targets.get("exp")
    s = optimum.samples(target, d)
    bound = optimum.net_bound(target, s, d)
    path = optimum.continuous_fit(s, d)
    assert path.band < bound.value  # the nets' bound is above every free-knot path's
    rng = np.random.default_rng(seed)
    knots = path.knots.copy()
    gaps = np.diff(knots)
    knots[1:-1] += rng.uniform(-0.1, 0.1, d) * np.minimum(gaps[:-1], gaps[1:])
    values = path.values + rng.uniform(-0.5, 0.5, d + 2) * path.band
    net, _ = pwl_net(knots, values, d)
    assert bound.value <= max_error_at(target, net).upper
    # all units' breakpoints inside, facings at random, outer weights from the slopes
    m = np.diff(values) / np.diff(knots)
    face = rng.choice([-1.0, 1.0], d)
    W1, b1 = face[None, :], -face * knots[1:-1]
    out = np.diff(m)[:, None]
    c = values[0] - float(np.sum(np.where(face < 0, np.diff(m) * (knots[1:-1] - knots[0]), 0)))
    other = MLP.from_params([W1, out], [b1, np.array([c])], activation="relu")
    assert bound.value <= max_error_at(target, other).upper


def test_the_bound_of_the_nets_is_zero_where_slope_changes_of_both_signs_are_needed():
    target = targets.get("sin2pi")
    d = 16
    assert optimum.net_bound(target, optimum.samples(target, d), d).value == 0.0


def _links_of(x, y, E, exact):
    """Links of the kernel's continuous path through [y - E, y + E] at x (no search
    between the points: the plain vertical segments), and the exact mode's path."""
    from approx.models._linkpath_numba import greedy_cover

    n = x.size
    groups, starts, _, lines, turns = greedy_cover(x, y, np.zeros(n), E, True, n + 1, 2, 0,
                                                   np.empty(0), math.inf, exact)
    path = link_path.links(starts[:groups], lines[:groups], turns[:groups], x[0], x[-1], E)
    return groups, path


def _two_links_feasible(x, lo, hi):
    """Whether a two-link path meets every segment, exactly up to the LP's tolerance:
    for each gap [x_j, x_j+1] the vertex may lie in, two lines (c, m), one through the
    segments up to j and one through the rest, whose difference changes sign (weakly)
    across the gap; one LP per gap and sign."""
    n = x.size
    for j in range(n - 1):
        for sign in (1, -1):
            A, b = [], []
            for i in range(n):
                row = [0.0] * 4
                k = 0 if i <= j else 2
                row[k], row[k + 1] = 1.0, x[i]
                A += [row, [-v for v in row]]
                b += [hi[i], -lo[i]]
            for xs, side in ((x[j], -sign), (x[j + 1], sign)):  # side·(l1 - l2)(xs) ≤ 0
                A.append([side, side * xs, -side, -side * xs])
                b.append(0.0)
            res = linprog([0] * 4, A_ub=A, b_ub=b, bounds=[(None, None)] * 4)
            if res.status == 0:
                return True
    return False


def test_the_exact_windows_give_the_fewest_links_on_small_cases():
    """Random walks of 7 points, bands where the kernel's exact-window path has two
    or three links: its path meets every segment (checked in rationals, up to 1e-9 of
    the band for the float vertices), and no path with one link fewer does (a line, or
    two links with the vertex in any gap: LPs). The greedy with vertical windows needs
    more links on some of them, so the check can fail."""
    rng = np.random.default_rng(5)
    worse = checked = 0
    for _ in range(60):
        x = np.sort(rng.uniform(0, 1, 7))
        y = np.cumsum(rng.normal(0, 1, 7))
        E = float(rng.uniform(0.2, 0.8))
        links, path = _links_of(x, y, E, True)
        if links not in (2, 3):
            continue
        checked += 1
        assert path is not None and path.knots.size == links + 1
        K = [Fraction(v) for v in path.knots]
        V = [Fraction(v) for v in path.values]
        for xi, yi in zip(x, y, strict=True):
            j = min(max(k for k in range(len(K) - 1) if K[k] <= Fraction(xi)), len(K) - 2)
            g = V[j] + (V[j + 1] - V[j]) * (Fraction(xi) - K[j]) / (K[j + 1] - K[j])
            assert abs(g - Fraction(yi)) <= Fraction(E) * (1 + Fraction(1, 10**9))
        lo, hi = y - E * (1 - 1e-7), y + E * (1 - 1e-7)
        if links == 2:
            assert _lp_stabbable(x, lo, hi) < 0  # no line
        else:
            assert not _two_links_feasible(x, lo, hi)
        worse += _links_of(x, y, E, False)[0] > links
    assert checked >= 10 and worse >= 1


@pytest.mark.parametrize(("name", "d", "goal"), [("exp", 64, 1e-3), ("runge", 128, 1e-2),
                                                 ("sin2pi", 64, 1e-3)])
def test_the_bracket_meets_its_goal(name, d, goal):
    """exp needs the nets' bound (no subset sum gives its first slope: the net starts
    flat, and the bound proves no width-d net does much better than that); runge needs
    the exact windows (the greedy with vertical windows was 2e-2 off)."""
    target = targets.get(name)
    lower, err, _ = _bracket(target, d)
    assert 0 < lower <= err.upper <= lower * (1 + goal)
    if name == "exp":
        pwl = optimum.lower_bound(target, optimum.samples(target, d), d).value
        assert lower > pwl * (1 + 1 / d)


@pytest.mark.slow
def test_the_bracket_meets_its_goal_where_the_greedy_path_missed():
    """runge at d = 512: the greedy with vertical windows was 2.4e-3 off."""
    target = targets.get("runge")
    lower, err, _ = _bracket(target, 512)
    assert 0 < lower <= err.upper <= lower * (1 + 1e-3)


def test_the_mirrored_square_ends_flat_and_meets_the_same_optimum():
    """x² on [-1, 0]: falling, so the best width-d net ends flat (every unit faces left)
    and the nets' bound comes from the right end; the optimum is the square's."""
    target = targets.from_expr("x**2", (-1.0, 0.0), name="mirrored")
    d = 7
    lower, err, result = _bracket(target, d)
    net_best = 1 / (2 * (2 * d + 1) ** 2)
    assert net_best * (1 - 1e-3) < lower <= net_best <= err.upper <= net_best * (1 + 1e-3)
    assert result.info["breakpoints"] == d
    bound = optimum.net_bound(target, optimum.samples(target, d), d)
    assert bound.sign == 1 and bound.anchor < 0 and bound.witnesses[-1, 2] <= bound.anchor


@pytest.mark.parametrize(("d", "factor"), [(8, 1.3), (16, 1.15)])
def test_x_abs_x_uses_every_breakpoint_with_a_flat_middle(d, factor):
    """x|x| on [-1, 1]: f' falls to 0 and rises again, so the path of d vertices has no
    exact net (its first slope is no subset sum of its slope changes) and the path of
    d - 1 was kept (upper 1.59x the lower end at d = 8, 1.27x at 16); the path flat
    where f' is 0 has an exact net of d breakpoints (1.24x, 1.12x)."""
    target = targets.from_expr("x*abs(x)", (-1.0, 1.0), name="xabsx")
    lower, err, result = _bracket(target, d)
    assert result.info["breakpoints"] == d
    assert 0 < lower <= err.upper <= lower * factor
