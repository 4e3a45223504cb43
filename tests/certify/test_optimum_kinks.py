"""The optimum's bracket on targets whose derivative jumps (kinks): the kinks located
and made samples, the lower bound confirmed and never above achievable errors, the
nets' bound from both ends against brute force, and the built-ins untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog

from approx.analysis.errors import max_error_at
from approx.certify import optimum
from approx.methods import fit
from approx.nn import MLP
from approx.problems import targets

KINKY = {
    "abssin4": ("abs(sin(4*x))", (-1.0, 1.0)),
    "kinkexp": ("exp(-3*abs(x - 0.1))", (-1.0, 1.0)),
    "absq": ("abs(x - 0.3) + x**2", (-1.0, 1.0)),
    "sqrtabs": ("sqrt(abs(x) + 0.01)", (-1.0, 1.0)),
}


def _kinky(name):
    return targets.from_expr(*KINKY[name], name=name)


def _bracket(target, d):
    result = fit("optimal-pwl", target, d, np.random.default_rng(0))
    return result.info["lower"], max_error_at(target, result.model).upper


@pytest.mark.parametrize("d", [8, 64, 512])
def test_the_kinks_are_located_and_made_samples(d):
    s = optimum.samples(_kinky("abssin4"), d)
    assert np.allclose(s.kinks, [-math.pi / 4, 0.0, math.pi / 4], rtol=0, atol=1e-12)
    assert np.all(np.isin(s.kinks, s.x))
    assert np.allclose(optimum.samples(_kinky("kinkexp"), d).kinks, [0.1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["sin2pi", "runge", "exp", "tanh10", "abs15"])
def test_smooth_targets_have_no_kinks(name):
    """abs15 = |x|^1.5: f'' is unbounded at 0 but f' does not jump."""
    target = targets.get(name)
    for d in (8, 64, 512, 4096):
        assert optimum.samples(target, d).kinks.size == 0


@pytest.mark.parametrize("d", [64, 128])
def test_the_bound_on_abs_sin_4x_is_positive_and_confirmed(d):
    """(0 before: the cubic between samples across a kink put the witnesses wrong.)"""
    target = _kinky("abssin4")
    s = optimum.samples(target, d)
    bound = optimum.lower_bound(target, s, d)
    assert bound.value > 0 and bound.witnesses.shape == (d + 1, 3)
    assert optimum.confirmed(target, bound.witnesses, bound.value) == d + 1
    # the refined witnesses beat those at samples only
    at_samples = optimum._discontinuous_bound(target, s, d, None, 0)
    assert 0 < at_samples.value < bound.value


def test_witnesses_at_samples_stand_in_where_the_kinks_are_not_known():
    """The samples of |sin 4x| at d = 128 without their kinks: the cubics between
    samples cross one, the refined witnesses fail the exact check, and the bound falls
    back to witnesses at samples (positive, confirmed, below the bound that knows)."""
    target = _kinky("abssin4")
    d = 128
    s = optimum.samples(target, d)
    blind = optimum.Samples(s.x, s.y, s.curve)
    assert optimum._discontinuous_bound(target, blind, d, None, optimum.LEVELS).value == 0.0
    bound = optimum.lower_bound(target, blind, d)
    assert optimum.confirmed(target, bound.witnesses, bound.value) == d + 1
    assert 0 < bound.value < optimum.lower_bound(target, s, d).value


@pytest.mark.parametrize(("name", "d", "goal"), [
    ("abssin4", 64, 1e-2), ("abssin4", 512, 1e-3), ("kinkexp", 64, 1e-2),
    ("kinkexp", 256, 1e-2), ("kinkexp", 512, 1e-3), ("absq", 128, 1e-2),
    ("absq", 256, 1e-2), ("sqrtabs", 256, 1e-2), ("sqrtabs", 512, 1e-3)])
def test_kinky_brackets_meet_their_goal(name, d, goal):
    lower, upper = _bracket(_kinky(name), d)
    assert 0 < lower <= upper <= lower * (1 + goal)


@pytest.mark.parametrize(("name", "d"), [("kinkexp", 8), ("kinkexp", 16), ("abssin4", 16)])
def test_the_lower_end_is_below_the_trained_nets(name, d):
    """Nets trained from random weights, certified: achievable errors (at d = 8 on
    e^{-3|x - 0.1|} within 1.2 % of the lower end, which the nets' bound from both ends
    gives)."""
    target = _kinky(name)
    lower, _ = _bracket(target, d)
    for seed in range(2):
        net = fit("trained", target, d, np.random.default_rng(seed)).model
        assert lower <= max_error_at(target, net).upper


def _best_one_unit(f, x):
    """The best net of one unit on the points x by brute force: for each breakpoint t
    on a grid and each facing, the least max error of c + s·relu(±(x - t)) (an LP in
    c, s); returns the net."""
    best, net = math.inf, None
    for t in np.linspace(x[0], x[-1], 161)[1:-1]:
        for face in (1.0, -1.0):
            r = np.maximum(face * (x - t), 0.0)
            ones = np.ones_like(x)
            A = np.vstack([np.column_stack([ones, r, -ones]), np.column_stack([-ones, -r, -ones])])
            b = np.concatenate([f, -f])
            res = linprog([0, 0, 1], A_ub=A, b_ub=b, bounds=[(None, None)] * 3)
            if res.status == 0 and res.fun < best:
                c, s, _ = res.x
                best = res.fun
                net = MLP.from_params([[[face]], [[s]]], [[-face * t], [c]])
    return net


def test_the_nets_bound_from_both_ends_against_brute_force():
    """The tent 1 - |x| on [-1, 1] at width 1: a continuous function with one
    breakpoint fits it exactly (the free bound is 0), but a net of one unit is linear
    on one side of its breakpoint and flat on the other, both within E of f: the line
    runs between two values at most E (at the end where f = 0 and on the flat part,
    which meets f = 0 at the other end), so at the peak 1 - E ≤ E: the optimum is 1/2,
    which the best net found by brute force reaches (certified). The bound from both
    ends is positive and never above it (its triple starts where f has moved by 2E
    from the ends: about 1/4 here)."""
    target = targets.from_expr("1 - abs(x)", (-1.0, 1.0), name="tent")
    s = optimum.samples(target, 1)
    assert optimum.lower_bound(target, s, 1).value == 0.0
    bound = optimum.net_bound(target, s, 1)
    x = np.linspace(-1.0, 1.0, 2001)
    net = _best_one_unit(1.0 - np.abs(x), x)
    achieved = max_error_at(target, net).upper
    assert 0.5 <= achieved <= 0.5 + 1e-9
    assert 0.2 < bound.value <= 0.5
    lower, upper = _bracket(target, 1)
    assert lower == bound.value and 0.5 <= upper


#: brackets on main before kinks were handled (4e22197, optimal-pwl then
#: approx.analysis.errors.max_error_at(...).upper): targets without kinks keep them
UNCHANGED = {
    ("sin2pi", 64): (0.0012995686616919398, 0.0012996132293961627),
    ("runge", 128): (6.004913178165559e-05, 6.015870795286955e-05),
    ("exp", 64): (6.6277931674208e-05, 6.628803277598821e-05),
    ("tanh10", 64): (0.00016847514381326353, 0.00016848103774883553),
    ("abs15", 128): (2.0077606283902346e-05, 2.0080093090718755e-05),
    ("abs15", 512): (1.2673338970564663e-06, 1.267488243924677e-06),
}


@pytest.mark.parametrize(("name", "d"), sorted(UNCHANGED))
def test_targets_without_kinks_keep_their_brackets_bit_for_bit(name, d):
    assert _bracket(targets.get(name), d) == UNCHANGED[(name, d)]
