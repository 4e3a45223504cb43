"""Cos features as certified cells: cos and sin without libm, the argument carried
exactly, derivatives and their bounds, and the enclosure of the max error, all against
40-digit references from the exact float weights."""

import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx import analysis
from approx.analysis.errors import max_error_at
from approx.arith.eft import split
from approx.certify import targets as certified
from approx.certify.adapters import cells_for
from approx.certify.features import (
    _K_LIMIT,
    _P1,
    _P2,
    _P3,
    _PI_ERR,
    FeaturePolys,
    FeatureTaylor,
    _argument,
    _sum2,
    _tree,
    cos_sin,
    feature_cells,
)
from approx.certify.taylor import U
from approx.models.construct import random_features
from approx.nn import MLP
from approx.problems import targets

mp.mp.dps = 40


def significant_bits(v: float) -> int:
    n = Fraction(v).numerator
    return abs(n).bit_length() - (abs(n) & -abs(n)).bit_length() + 1


def test_pieces_of_half_pi():
    # P1 and P2 of 26 bits: k P1, k P2 exact for |k| < 2^27
    assert significant_bits(_P1) <= 26 and significant_bits(_P2) <= 26
    k = _K_LIMIT - 1
    assert Fraction(k * _P1) == Fraction(k) * Fraction(_P1)
    assert Fraction(k * _P2) == Fraction(k) * Fraction(_P2)
    with mp.workdps(80):
        gap = abs(mp.pi / 2 - mp.mpf(_P1) - mp.mpf(_P2) - mp.mpf(_P3))
        assert gap <= _PI_ERR < 1e-32


def adversarial_arguments() -> np.ndarray:
    """Near multiples of π/2 (the nearest floats and their neighbours), large up to the
    reduction's limit, tiny, negative, exactly representable halves, and random."""
    ks = np.array([1, 2, 3, 4, 5, 7, 100, 355, 1000, 12345, 2**17 + 1, 2**20, 2**26, 2**27 - 3])
    near = ks * (np.pi / 2)
    with mp.workdps(60):
        near = np.array([float(k * mp.pi / 2) for k in ks])
    around = np.concatenate(
        [near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf), near + 1e-9]
    )
    tiny = np.array([0.0, 5e-324, 1e-310, 1e-300, 1e-20, 2.0**-30, 1e-8])
    halves = np.arange(-40, 41) / 2.0 + np.array([0.0]).repeat(81)
    large = np.array([1e5, 1e6 + 0.5, 1.6e6, 2.1e8, (2**27 - 1) * 1.5707963267, 123456.789])
    rng = np.random.default_rng(7)
    random = rng.uniform(-2000, 2000, 200)
    u = np.concatenate([around, tiny, halves, large, random])
    return np.concatenate([u, -u])


def test_cos_sin_is_enclosed_and_tight():
    u = adversarial_arguments()
    c, s, ec, es = cos_sin(u)
    for x, ci, si, eci, esi in zip(u, c, s, ec, es, strict=True):
        tc, ts = mp.cos(mp.mpf(float(x))), mp.sin(mp.mpf(float(x)))
        assert abs(ci - tc) <= eci, (x, ci, float(tc), eci)
        assert abs(si - ts) <= esi, (x, si, float(ts), esi)
        # a few rounding units of the result (and far below them near its zeros)
        assert eci <= 6 * U * abs(float(tc)) + 1e-30, (x, eci / U)
        assert esi <= 6 * U * abs(float(ts)) + 1e-30, (x, esi / U)


def test_cos_sin_of_a_carried_argument():
    """``u`` within ``err`` of ``hi + lo``: the bound covers every such ``u``."""
    rng = np.random.default_rng(3)
    hi = rng.uniform(-5e4, 5e4, 300)
    lo = hi * U * rng.uniform(-1, 1, 300)
    err = np.abs(hi) * U * U * rng.uniform(0, 4, 300)
    c, s, ec, es = cos_sin(hi, lo, err)
    for i in range(hi.size):
        for shift in (-1, 0, 1):
            x = mp.mpf(float(hi[i])) + mp.mpf(float(lo[i])) + shift * mp.mpf(float(err[i]))
            assert abs(c[i] - mp.cos(x)) <= ec[i]
            assert abs(s[i] - mp.sin(x)) <= es[i]
    assert np.all(ec <= 6 * U) and np.all(es <= 6 * U)


def test_cos_sin_refuses_what_it_cannot_reduce():
    u = np.array([2.0**28 * np.pi, 1e300, np.inf, -np.inf, np.nan])
    _, _, ec, es = cos_sin(u)
    assert np.all(np.isinf(ec)) and np.all(np.isinf(es))


def test_argument_is_carried_exactly():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-1, 1, 40), [0.0, 1.0, -1.0, 1e-300, 1e6 + 0.1]])
    w = np.concatenate([rng.normal(0, 3000, 30), [1e-300, 0.0, 2.0**40, -7.0]])
    b = rng.uniform(0, 2 * np.pi, w.size)
    hi, lo, err = _argument(x, (w, *split(w)), b)
    for i in range(x.size):
        for j in range(w.size):
            exact = Fraction(w[j]) * Fraction(x[i]) + Fraction(b[j])  # exactly
            gap = abs(exact - Fraction(hi[i, j]) - Fraction(lo[i, j]))
            assert gap <= Fraction(err[i, j])
            size = abs(float(w[j]) * float(x[i])) + abs(float(b[j]))
            assert err[i, j] <= 4 * U * U * size + 1e-300


def test_sums_are_enclosed():
    """Heavy cancellation: the compensated sum is within its bound, the plain tree within
    γ_depth Σ|terms|."""
    rng = np.random.default_rng(5)
    big = rng.standard_normal((20, 1000)) * 10.0 ** rng.integers(-8, 9, (20, 1000))
    terms = np.concatenate([big, -big[:, ::-1] * (1 + U * rng.standard_normal((20, 1000)))], 1)
    value, err = _sum2(terms)
    tree = _tree(terms)
    depth = (terms.shape[1] - 1).bit_length()
    for i in range(terms.shape[0]):
        exact = sum(Fraction(float(t)) for t in terms[i])
        assert abs(Fraction(float(value[i])) - exact) <= Fraction(float(err[i]))
        assert err[i] <= 2 * U * abs(float(exact)) + 1e-300 + 1e-20 * np.abs(terms[i]).sum()
        slack = depth * U * (1 + 1e-12) * np.abs(terms[i]).sum()
        assert abs(Fraction(float(tree[i])) - exact) <= Fraction(float(slack))


def random_net(rng, d, scale, weight):
    w = rng.normal(0, scale, d)
    b = rng.uniform(0, 2 * np.pi, d)
    v = rng.standard_normal(d) * weight
    return MLP.from_params([w[None, :], v[:, None]], [b, rng.standard_normal(1)], activation="cos")


def derivative_mp(net, x, k):
    """``f̂^(k)(x)/k!`` at 40 digits from the exact float weights."""
    x = mp.mpf(float(x))
    total = mp.mpf(float(net.biases[1][0])) if k == 0 else mp.mpf(0)
    for w, b, v in zip(net.weights[0][0], net.biases[0], net.weights[1][:, 0], strict=True):
        w, b, v = mp.mpf(float(w)), mp.mpf(float(b)), mp.mpf(float(v))
        total += v * w**k * mp.cos(w * x + b + k * mp.pi / 2) / mp.factorial(k)
    return total


@pytest.mark.parametrize(
    ("d", "scale", "weight"), [(7, 5.0, 1.0), (40, 300.0, 1e6), (300, 50.0, 1e-3)]
)
def test_derivatives_are_enclosed(d, scale, weight):
    rng = np.random.default_rng(d)
    net = random_net(rng, d, scale, weight)
    cells = FeaturePolys(net, (-1.0, 1.0))
    x = np.concatenate([[-1.0, 1.0, 0.0], rng.uniform(-1, 1, 5)])
    for k in range(16):
        value, err = cells.at(x, cells.cell(x), k)
        for i, xi in enumerate(x):
            truth = derivative_mp(net, xi, k)
            assert abs(value[i] - truth) <= err[i], (k, xi, value[i], float(truth), err[i])
        # a few rounding units of the terms' size, whatever d
        depth = (d - 1).bit_length()
        assert np.all(err <= (depth + 8) * U * cells._sums[k] + 1e-300)
    # the value alone (no cached orders) is as tight as a compensated sum makes it
    fresh = FeaturePolys(net, (-1.0, 1.0))
    value, err = fresh.at(x, fresh.cell(x), 0)
    assert np.all(err <= 8 * U * cells._sums[0] + 1e-300)


@pytest.mark.parametrize("k", [2, 6])
def test_derivative_bounds_hold_over_cells(k):
    rng = np.random.default_rng(11)
    net = random_net(rng, 30, 40.0, 1.0)
    cells = FeaturePolys(net, (-1.0, 1.0))
    lo = np.sort(rng.uniform(-1, 0.9, 6))
    hi = lo + 10.0 ** rng.uniform(-4, -1, 6)
    bound = cells.bound(lo, hi, cells.cell(lo), k)
    for i in range(lo.size):
        for xi in np.linspace(lo[i], hi[i], 7):
            assert abs(derivative_mp(net, xi, k)) <= bound[i]
    # on short cells the expansion at the middle follows the terms' cancellation, far
    # below the global Σ|v_i| |w_i|^k / k!
    short = cells.bound(np.array([0.3]), np.array([0.3 + 1e-3]), None, k)
    assert short[0] < 0.5 * cells._sums[k]


def runge_mp(x):
    return 1 / (1 + 25 * x * x)


TARGETS_MP = {
    "sin2pi": lambda x: mp.sin(2 * mp.pi * x),
    "runge": runge_mp,
    "abs15": lambda x: abs(x) ** mp.mpf(1.5),
}


def reference(target, mp_target, net, n=100_001):
    """A lower bound of sup |f - f̂|: the grid's best points at 40 digits."""
    a, b = target.domain
    x = np.linspace(a, b, n)
    e = np.abs(target(x) - net(x))
    top = x[np.argsort(e)[-3:]]
    assert np.allclose([float(mp_target(mp.mpf(float(t)))) for t in top], target(top), atol=1e-15)
    return max(float(abs(mp_target(mp.mpf(float(t))) - derivative_mp(net, t, 0))) for t in top)


@pytest.mark.parametrize("name", list(TARGETS_MP))
@pytest.mark.parametrize("d", [16, 64, 256])
def test_random_features_are_certified_tight(name, d):
    target = targets.get(name)
    net = random_features(target, d, rng=np.random.default_rng(0))
    result = max_error_at(target, net)
    ref = reference(target, TARGETS_MP[name], net, n=20_001 if d == 256 else 100_001)
    size = cells_for(net, target.domain, 2**22).size
    tolerance = max(1e-9 * result.value, analysis.ATOL_ULPS * U * (certified.scale(target) + size))
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding
    assert max(result.value, ref) <= result.upper <= result.value + tolerance
    # both are lower bounds of the sup, and the sup is within the tolerance of value
    assert result.value >= ref - tolerance
    # the value is attained: the 40-digit error at x agrees with it
    at_x = abs(TARGETS_MP[name](mp.mpf(result.x)) - derivative_mp(net, result.x, 0))
    assert abs(float(at_x) - result.value) <= 1e-15 * (1 + float(at_x))


def test_the_work_cap_keeps_wide_features_rigorous():
    target = targets.get("runge")
    net = random_features(target, 256, rng=np.random.default_rng(1))
    full = max_error_at(target, net)
    capped = max_error_at(target, net, max_work=2**8)
    assert full.reason in ("", "rounding") and capped.reason == "work cap"
    assert capped.value <= full.upper and full.value <= capped.upper < math.inf


def test_only_shallow_cos_nets_take_the_float_cells():
    rng = np.random.default_rng(2)
    shallow = random_net(rng, 8, 3.0, 1.0)
    deep = MLP([1, 4, 4, 1], activation="cos", rng=rng)
    tanh = MLP([1, 4, 1], activation="tanh", rng=rng)
    domain = (-1.0, 1.0)
    assert isinstance(cells_for(shallow, domain, 2**22).polys, (FeaturePolys, FeatureTaylor))
    for net in (deep, tanh):
        polys = cells_for(net, domain, 2**22).polys
        assert not isinstance(polys, (FeaturePolys, FeatureTaylor))


def test_a_domain_far_from_zero():
    """Arguments near 10⁸: the reduction carries them; the target's float evaluation is
    only an estimate there, so the reference is at 40 digits from the grid's best points."""
    target = targets.from_expr("sin(2*pi*x)", (1e6, 1e6 + 1))
    net = random_features(target, 32, rng=np.random.default_rng(0))
    result = max_error_at(target, net)
    ref = reference(target, lambda x: mp.sin(2 * mp.pi * x), net, n=20_001)
    size = cells_for(net, target.domain, 2**22).size
    tolerance = max(1e-9 * result.value, analysis.ATOL_ULPS * U * (certified.scale(target) + size))
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding
    assert max(result.value, ref) <= result.upper <= result.value + tolerance


def test_the_compiled_cos_sin_matches_the_numpy_form(monkeypatch):
    # the same operations in the same order: bit-equal values and bounds
    pytest.importorskip("numba")
    from approx.certify import features

    hi = np.concatenate([adversarial_arguments(), [np.nan, np.inf, -np.inf, 3e8]])
    rng = np.random.default_rng(2)
    lo = rng.normal(0, 1e-16, hi.size) * np.where(np.isfinite(hi), np.abs(hi), 0)
    err = np.abs(rng.normal(0, 1e-18, hi.size))
    monkeypatch.setattr(features, "_COMPILED_FROM", 0)
    compiled = cos_sin(hi, lo, err)
    monkeypatch.setattr(features, "_COMPILED_FROM", 1 << 62)
    plain = cos_sin(hi, lo, err)
    for a, b in zip(compiled, plain, strict=True):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize(
    ("d", "scale", "weight", "domain"),
    [
        (7, 5.0, 1.0, (-1.0, 1.0)),
        (40, 300.0, 1e6, (-1.0, 1.0)),
        (300, 50.0, 1e-3, (-1.0, 1.0)),
        (64, 2000.0, 1.0, (-0.3, 0.7)),
        (33, 40.0, 1.0, (1e3, 1e3 + 2.5)),
    ],
)
def test_grid_taylor_models_enclose_the_net(d, scale, weight, domain, monkeypatch):
    """The grid's Taylor models (cos and sin rotated from cell to cell) enclose every
    derivative of the net at points of their cells, against 40 digits from the floats."""
    pytest.importorskip("numba")
    from approx.certify import features

    monkeypatch.setattr(features, "_GRID_FROM", 1)
    rng = np.random.default_rng(d)
    net = random_net(rng, d, scale, weight)
    cells = feature_cells(net, domain)
    assert isinstance(cells, FeatureTaylor)
    n = cells.centre.size
    # cells across several rotation windows, their ends and random points within
    picks = np.unique(np.concatenate([[0, n - 1], rng.integers(0, n, 6), [min(n - 1, 17)]]))
    inside = rng.uniform(cells.edges[picks], cells.edges[picks + 1])
    x = np.concatenate([cells.edges[picks], cells.edges[picks + 1], inside])
    idx = np.concatenate([picks, picks, picks])
    for k in range(6):
        value, err = cells.at(x, idx, k)
        for i, xi in enumerate(x):
            truth = derivative_mp(net, xi, k)
            assert abs(value[i] - truth) <= err[i], (k, xi, value[i], float(truth), err[i])
        # the rotation and the blocked sums cost a few dozen rounding units of the terms
        assert np.all(err <= 1e-12 * (cells.sup * float(np.max(np.abs(net.weights[0]))) ** k + 1))
    # the remainder is below a rounding unit of the terms: the cells' models are sharp
    rho = np.max(np.maximum(cells.centre - cells.edges[:-1], cells.edges[1:] - cells.centre))
    assert cells.rem[0] * rho**cells.n <= 4 * U * cells.sup


def test_grid_cells_where_the_domain_ends_on_a_cell_edge(monkeypatch):
    """``a = (m + 1/2) H``: the end cell is empty and dropped, and every cell keeps its
    own centre's model (the value at points of the first and last cells, at 40 digits)."""
    pytest.importorskip("numba")
    from approx.certify import features

    monkeypatch.setattr(features, "_GRID_FROM", 1)
    rng = np.random.default_rng(9)
    net = random_net(rng, 24, 20.0, 1.0)
    first = feature_cells(net, (-1.0, 1.0))
    H = float(first.centre[1] - first.centre[0])
    domain = (0.5 * H, 0.5 * H + 37 * H + 0.3 * H)
    cells = feature_cells(net, domain)
    assert isinstance(cells, FeatureTaylor)
    assert cells.edges[0] == domain[0] and cells.edges[-1] == domain[1]
    assert cells.centre.size == cells.edges.size - 1
    assert np.all(
        (cells.centre - cells.edges[:-1] <= H / 2) & (cells.edges[1:] - cells.centre <= H / 2)
    )
    x = np.concatenate([cells.edges, (cells.edges[:-1] + cells.edges[1:]) / 2])
    value, err = cells.at(x, cells.cell(x), 0)
    for i, xi in enumerate(x):
        assert abs(value[i] - derivative_mp(net, xi, 0)) <= err[i]


@given(
    d=st.integers(1, 24),
    log_scale=st.floats(-1.0, 3.5),
    log_weight=st.floats(-3.0, 3.0),
    start=st.sampled_from([-1.0, 0.3, -7.25, 1e3]),
    log_width=st.floats(-6.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=12, deadline=None)
def test_grid_cells_enclose_drawn_nets(d, log_scale, log_weight, start, log_width, seed):
    """Hypothesis-drawn nets and domains: every derivative the grid's cells give encloses
    the 40-digit truth, and the certified max error against ``sin(3x)`` is at least the
    40-digit error at a grid of points (and at least its own value)."""
    pytest.importorskip("numba")
    from approx.certify import features

    rng = np.random.default_rng(seed)
    net = random_net(rng, d, 10.0**log_scale, 10.0**log_weight)
    domain = (start, start + 10.0**log_width)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "_GRID_FROM", 1)
        cells = feature_cells(net, domain)
        assert isinstance(cells, FeatureTaylor)
        x = np.concatenate([cells.edges[:64], cells.edges[-64:], rng.uniform(*domain, 8)])
        idx = cells.cell(x)
        for k in range(4):
            value, err = cells.at(x, idx, k)
            for i, xi in enumerate(x):
                assert abs(value[i] - derivative_mp(net, xi, k)) <= err[i]
        target = targets.from_expr("sin(3*x)", domain)
        result = max_error_at(target, net)
    grid = np.linspace(*domain, 41)
    truth = max(abs(mp.sin(3 * mp.mpf(float(t))) - derivative_mp(net, t, 0)) for t in grid)
    assert truth <= mp.mpf(result.upper)
    assert result.value <= result.upper
