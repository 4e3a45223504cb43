"""Diagnostics of one-hidden-layer ReLU nets: unit counts, optimal density, alternation."""

from __future__ import annotations

import numpy as np
import pytest

from approx.analysis import diagnostics
from approx.models.construct import adaptive_knots, relu_interpolant
from approx.nn import MLP
from approx.problems.targets import Target, from_expr


def _net(w, b, v, c=0.0) -> MLP:
    w, b, v = (np.asarray(t, dtype=float) for t in (w, b, v))
    return MLP.from_params([w[None, :], v[:, None]], [b, np.array([c])], activation="relu")


def _pwl_net(knots, values) -> MLP:
    """The net equal to the continuous piecewise-linear interpolant of (knots, values) on
    [knots[0], knots[-1]]: one unit at knots[0] carries the first slope, one unit per
    interior knot its change of slope."""
    knots, values = np.asarray(knots, dtype=float), np.asarray(values, dtype=float)
    slopes = np.diff(values) / np.diff(knots)
    v = np.r_[slopes[0], np.diff(slopes)]
    return _net(np.ones(v.size), -knots[:-1], v, values[0])


def _square() -> Target:
    return Target("sq", lambda x: np.asarray(x, dtype=float) ** 2, (0.0, 1.0),
                  d2=lambda x: np.full_like(np.asarray(x, dtype=float), 2.0))


def test_unit_counts_on_a_hand_built_net():
    above = np.nextafter(0.75, 1.0)  # one ulp of 0.75 past the breakpoint 0.75: mergeable
    w = [1, 1, 1, 0, 1, -1, 1, 1, -1]
    tau = [0.5, 0.5, 2.0, 0.3, 0.25, 0.75, 0.0, above, 0.75 + 1e-9]
    b = [-wi * t for wi, t in zip(w, tau, strict=True)]
    b[3] = 1.0  # w = 0: a constant
    v = [1, 2, 1, 1, 0, 1, 1, 3, 1]  # v[4] = 0: nothing
    counts = diagnostics.unit_counts(_net(w, b, v), (0.0, 1.0))
    # zero: units 3 (w = 0) and 4 (v = 0); outside: 2 (τ = 2) and 6 (τ = a, not inside);
    # merged: 1 (0.5 twice) and 7 (an ulp above 0.75); 0.75 + 1e-9 stands apart
    assert counts == diagnostics.UnitCounts(zero=2, outside=2, merged=2, inside=3)
    inside = diagnostics.breakpoints_inside(_net(w, b, v), (0.0, 1.0))
    assert inside.tolist() == [0.5, 0.5, 0.75, above, 0.75 + 1e-9]


def test_unit_counts_of_the_constructions_and_a_bad_net():
    target = _square()
    # 9 knots, 9 units: the offset unit (breakpoint a − (b − a), weight f(a) / (b − a)),
    # a ramp at a, one per interior knot; f(a) = 0 for x² on [0, 1]: a zero unit
    net = relu_interpolant(target, 9)
    counts = diagnostics.unit_counts(net, target.domain)
    assert counts == diagnostics.UnitCounts(zero=1, outside=1, merged=0, inside=7)
    other = from_expr("exp(x)", (0.0, 1.0))
    assert diagnostics.unit_counts(relu_interpolant(other, 9), other.domain) == (
        diagnostics.UnitCounts(zero=0, outside=2, merged=0, inside=7))
    with pytest.raises(ValueError, match="1 → d → 1"):
        diagnostics.unit_counts(MLP([1, 3, 3, 1], rng=np.random.default_rng(0)), (0, 1))
    with pytest.raises(ValueError, match="1 → d → 1"):
        diagnostics.unit_counts(MLP([1, 3, 1], activation="tanh"), (0, 1))
    assert not diagnostics.is_shallow_relu(MLP([2, 3, 1]))
    assert diagnostics.is_shallow_relu(net)


@pytest.mark.parametrize("n", [1, 4, 8, 25])
def test_the_best_pwl_of_x_squared_equioscillates_at_2n_plus_1_points(n):
    """On uniform pieces of width h, x² minus the chord shifted down by h²/8 is +h²/8 at
    every knot and −h²/8 at every midpoint: the shifted chords meet at the knots, so
    they form one continuous function, the best on every piece and so the best."""
    knots = np.linspace(0.0, 1.0, n + 1)
    h = 1.0 / n
    net = _pwl_net(knots, knots**2 - h * h / 8)
    alt = diagnostics.alternation(*diagnostics.error_curve(_square(), net))
    assert alt.count == 2 * n + 1
    # the level of the free-knot optimum with n − 1 breakpoints inside is exactly h²/8
    level = diagnostics.free_knot_level(diagnostics.optimal_density(_square()), n - 1)
    assert level == pytest.approx(h * h / 8, rel=1e-12)
    assert alt.max == pytest.approx(h * h / 8, rel=1e-12)
    np.testing.assert_allclose(alt.x, np.linspace(0.0, 1.0, 2 * n + 1), atol=1e-12)
    assert np.all(alt.error[::2] > 0) and np.all(alt.error[1::2] < 0)


def test_a_perturbed_net_alternates_less():
    n, h = 8, 1.0 / 8
    knots = np.linspace(0.0, 1.0, n + 1)
    values = knots**2 - h * h / 8
    # raised by a tenth of h²/8: only the midpoints' −(1.1) h²/8 reach the max
    alt = diagnostics.alternation(*diagnostics.error_curve(_square(), _pwl_net(
        knots, values + 0.1 * h * h / 8)))
    assert alt.count == 1 and alt.max == pytest.approx(1.1 * h * h / 8, rel=1e-12)
    # one knot raised: its +h²/8 drops out, the midpoints beside it sink
    raised = values.copy()
    raised[4] += 0.1 * h * h / 8
    assert diagnostics.alternation(*diagnostics.error_curve(_square(), _pwl_net(
        knots, raised))).count == 1


def test_a_net_that_wastes_pieces_on_the_right_alternates_on_the_left_only():
    """m pieces of width h on [0, 1/2] (the best there, ±h²/8), 2m of width h/2 on
    [1/2, 1] (±h²/32, the first one between 7h²/1024 and h²/8): 3m pieces, but only the
    left half's 2m + 1 points reach the max; the best 3m pieces would give 6m + 1."""
    m = 5
    h = 0.5 / m
    left = np.linspace(0.0, 0.5, m + 1)
    right = np.linspace(0.5, 1.0, 2 * m + 1)[1:]
    knots = np.r_[left, right]
    values = np.r_[left**2 - h * h / 8, right**2 - h * h / 32]
    alt = diagnostics.alternation(*diagnostics.error_curve(_square(), _pwl_net(knots, values)))
    assert alt.count == 2 * m + 1
    assert alt.x.max() == pytest.approx(0.5)
    # at tol 0.8 (|e| ≥ h²/40) the right half's ±h²/32 count too, but its first piece
    # stays positive (from h²/8 down to 7h²/1024, up to h²/32): 2 per later piece
    assert diagnostics.alternation(*diagnostics.error_curve(_square(), _pwl_net(
        knots, values)), tol=0.8).count == 2 * m + 1 + 2 * (2 * m - 1)


def test_alternation_edge_cases():
    x = np.linspace(0, 1, 5)
    assert diagnostics.alternation(x, np.zeros(5)).count == 0
    assert diagnostics.alternation(x, np.full(5, np.nan)).count == 0
    alt = diagnostics.alternation(x, np.array([1.0, np.nan, -1.0, -0.99, 1.0]))
    assert alt.count == 3 and alt.x.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="tol"):
        diagnostics.alternation(x, x, tol=1.0)


def test_optimal_density_is_normalised_to_closed_forms():
    # x⁴ on [0, 1]: √|f''| = √12 x, mass √12 / 2, so ρ = 2x and the cdf is x²
    target = Target("x4", lambda x: np.asarray(x, dtype=float) ** 4, (0.0, 1.0),
                    d2=lambda x: 12 * np.asarray(x, dtype=float) ** 2)
    density = diagnostics.optimal_density(target, n=1000)
    mid, rho, cdf = density.mid, density.rho, density.cdf
    assert density.mass == pytest.approx(12**0.5 / 2, rel=1e-6)
    np.testing.assert_allclose(rho, 2 * mid, rtol=1e-12)
    np.testing.assert_allclose(cdf, np.linspace(0, 1, 1001) ** 2, atol=1e-12)
    assert np.sum(rho) / 1000 == pytest.approx(1.0, rel=1e-12)
    # x² on [2, 5]: uniform, ρ = 1/3 (an expression target: f'' estimated numerically)
    density = diagnostics.optimal_density(from_expr("x**2", (2.0, 5.0)), n=300)
    mid, rho, cdf = density.mid, density.rho, density.cdf
    np.testing.assert_allclose(rho, 1 / 3, rtol=1e-5)
    assert cdf[0] == 0 and cdf[-1] == 1 and np.all(np.diff(cdf) > 0)
    # a linear target has none
    line = Target("line", lambda x: 3 * np.asarray(x, dtype=float), (0.0, 1.0),
                  d2=lambda x: np.zeros_like(np.asarray(x, dtype=float)))
    assert diagnostics.optimal_density(line) is None


def test_the_adaptive_construction_follows_the_optimal_density():
    """Two implementations agree: the adaptive knots equidistribute √|f''| (exp has no
    zero of f'', so the floor plays no part): their empirical cdf is the density's."""
    target = from_expr("exp(2*x)", (0.0, 1.0))
    d = 64
    net = relu_interpolant(target, d, knots="adaptive")
    tau = diagnostics.breakpoints_inside(net, target.domain)
    np.testing.assert_allclose(tau, adaptive_knots(target, d)[1:-1], rtol=1e-12)
    nodes = np.linspace(0.0, 1.0, 2**14 + 1)
    cdf = diagnostics.optimal_density(target).cdf
    np.testing.assert_allclose(np.interp(tau, nodes, cdf), np.arange(1, d - 1) / (d - 1),
                               atol=1e-4)
