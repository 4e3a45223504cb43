"""The float pieces of deep ReLU nets enclose the exact function, checked in rationals.

The reference carries the net exactly (``fractions.Fraction`` of the stored floats)
through its layers as a continuous piecewise-linear function: values at a sorted grid of
rationals that holds every exact breakpoint. The difference between the net and a float
piece's line is linear between consecutive points of that grid and the piece's ends, so
checking the enclosure at those points checks it everywhere on the domain.
"""

import time
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.nn import MLP
from approx.nn import piecewise as pwmod
from approx.nn.float_pieces import TooManyPieces, float_pieces
from approx.nn.piecewise import piecewise_linear

U = 2.0**-53


def exact_pl(weights, biases, a, b):
    """The net on ``[a, b]`` exactly: (grid, values) as Fractions."""
    grid = [Fraction(a), Fraction(b)]
    units = [list(grid)]  # the input x
    for i, (w, bias) in enumerate(zip(weights, biases, strict=True)):
        pre = []
        for k in range(w.shape[1]):
            ys = [Fraction(float(bias[k]))] * len(grid)
            for j, z in enumerate(units):
                wk = Fraction(float(w[j, k]))
                if wk:
                    ys = [s + wk * v for s, v in zip(ys, z, strict=True)]
            pre.append(ys)
        if i == len(weights) - 1:
            return grid, pre[0]
        cuts = set(grid)
        for ys in pre:
            for x0, x1, y0, y1 in zip(grid, grid[1:], ys, ys[1:], strict=False):
                if (y0 < 0 < y1) or (y1 < 0 < y0):
                    cuts.add(x0 + (x1 - x0) * y0 / (y0 - y1))
        new = sorted(cuts)
        units = [[max(v, Fraction(0)) for v in _interp(grid, ys, new)] for ys in pre]
        grid = new
    raise AssertionError("unreachable")


def _interp(grid, ys, points):
    out, j = [], 0
    for p in points:
        while j < len(grid) - 2 and grid[j + 1] <= p:
            j += 1
        x0, x1, y0, y1 = grid[j], grid[j + 1], ys[j], ys[j + 1]
        out.append(y0 + (y1 - y0) * (p - x0) / (x1 - x0))
    return out


def check_encloses(fp, weights, biases, a, b):
    """Every point of the exact grid and every float piece end, against every piece that
    contains it: ``|g(p) - line_j(p)| ≤ y_err_j + slope_err_j |p - x_j| + slack_j``."""
    assert fp.x[0] == a and fp.x[-1] == b and np.all(np.diff(fp.x) > 0)
    for arr in (fp.y_err, fp.slope_err, fp.slack):
        assert not np.any(np.isnan(arr)) and np.all(arr >= 0)
    grid, values = exact_pl(weights, biases, a, b)
    ends = [Fraction(float(v)) for v in fp.x]
    points = sorted(set(grid) | set(ends))
    g = dict(zip(points, _interp(grid, values, points), strict=True))
    checked = 0
    for j in range(fp.x.size - 1):
        bound = float(fp.y_err[j]), float(fp.slope_err[j]), float(fp.slack[j])
        if not all(np.isfinite(bound)) or not np.isfinite(fp.y[j] + fp.slopes[j]):
            continue  # no enclosure claimed (overflow)
        lo, hi = ends[j], ends[j + 1]
        y0, s = Fraction(float(fp.y[j])), Fraction(float(fp.slopes[j]))
        for p in (q for q in points if lo <= q <= hi):
            tol = Fraction(bound[0]) + Fraction(bound[1]) * (p - lo) + Fraction(bound[2])
            assert abs(g[p] - (y0 + s * (p - lo))) <= tol, (j, float(p))
            checked += 1
    return checked


@st.composite
def deep_nets(draw):
    """Depth 1–6, widths up to 10, weights of every scale (tiny to huge), some zero."""
    depth = draw(st.integers(1, 6))
    sizes = [1] + [draw(st.integers(1, 10)) for _ in range(depth)] + [1]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = st.sampled_from([0, 0, 0, -3, 3, -40, 40, -300, 300, -1070])
    weights, biases = [], []
    for m, n in pairwise(sizes):
        w = np.ldexp(rng.standard_normal((m, n)), draw(scale))
        w[rng.random((m, n)) < 0.1] = 0.0
        weights.append(w * 2 / np.sqrt(m))
        biases.append(np.ldexp(rng.standard_normal(n), draw(scale)))
    return weights, biases


DOMAINS = [(-1.5, 2.0), (0.0, 1.0), (1e15, 1e15 + 1), (1.0, 1.0 + 4 * U), (-1e300, 1e300)]


@settings(max_examples=60, deadline=None)
@given(deep_nets(), st.sampled_from(DOMAINS))
def test_float_pieces_enclose_the_exact_net(net, domain):
    weights, biases = net
    fp = float_pieces(weights, biases, *domain)
    check_encloses(fp, weights, biases, *domain)


def _random(sizes, seed=0, gain=3.0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, np.sqrt(2 / m), (m, n)) for m, n in pairwise(sizes)]
    weights[0] *= gain
    biases = [rng.normal(0, 0.3, n) for n in sizes[1:]]
    return weights, biases


@pytest.mark.parametrize("sizes", [[1, 24, 24, 24, 24, 24, 1], [1, 40, 40, 40, 1]])
def test_wider_nets_enclosed_and_tight(sizes):
    weights, biases = _random(sizes)
    fp = float_pieces(weights, biases, -1.0, 1.0)
    assert fp.slopes.size > 10
    assert check_encloses(fp, weights, biases, -1.0, 1.0) > fp.slopes.size
    # radii at the rounding of the net's own terms, not a multiple of the width
    assert fp.slack.max() < 1e-12 and fp.y_err.max() < 1e-13


def test_same_pieces_as_the_exact_path():
    # where both run, the breakpoints agree to rounding and the lines to their radii
    net = MLP.from_params(*_random([1, 32, 32, 32, 1]), activation="relu")
    exact = pwmod._deep(net, -1.0, 1.0, 1 << 40)
    fp = pwmod._floats(net, -1.0, 1.0)
    assert fp.x.size == exact.x.size
    assert np.max(np.abs(fp.x - exact.x)) < 1e-14
    assert np.max(np.abs(fp.slopes - exact.slopes)) < 1e-12
    slack = np.append(fp.slack, fp.slack[-1])
    assert np.all(np.abs(fp.y - exact.y) <= fp.y_err + slack + exact.y_err)


def test_dead_net_is_one_piece():
    weights = [np.array([[1.0, 2.0]]), np.array([[1.0], [1.0]]), np.array([[3.0]])]
    biases = [np.array([-5.0, -9.0]), np.array([0.5]), np.array([0.25])]
    fp = float_pieces(weights, biases, -1.0, 1.0)
    assert fp.slopes.size == 1 and fp.slopes[0] == 0.0
    assert abs(fp.y[0] - 1.75) <= fp.y_err[0] + fp.slack[0]
    check_encloses(fp, weights, biases, -1.0, 1.0)


def test_overflow_gives_infinite_radii_not_an_exception():
    weights = [np.array([[1e300, -1e300]]), np.array([[1e300, 1e300], [1e300, 1.0]]),
               np.array([[1e300], [1.0]])]
    biases = [np.zeros(2), np.zeros(2), np.zeros(1)]
    fp = float_pieces(weights, biases, -1.0, 1.0)
    assert not np.any(np.isnan(fp.slack)) and np.isinf(fp.slack).any()
    check_encloses(fp, weights, biases, -1.0, 1.0)


def test_work_cap_raises_with_the_net_named():
    weights, biases = _random([1, 64, 64, 64, 1])
    with pytest.raises(TooManyPieces, match=r"\[1, 64, 64, 64, 1\].*1000 multiply-adds"):
        float_pieces(weights, biases, -1.0, 1.0, max_work=1000)


def test_piecewise_linear_falls_back_to_floats_for_wide_deep_nets():
    net = MLP.from_params(*_random([1, 256, 256, 256, 256, 256, 1]), activation="relu")
    start = time.process_time()
    pw = piecewise_linear(net, (-1.0, 1.0))
    assert time.process_time() - start < 10
    x = np.linspace(-1.0, 1.0, 20001)
    scale = 1e-12 * (1 + np.max(np.abs(net(x[:, None]))))
    assert np.max(np.abs(pw(x) - net(x[:, None]).ravel())) < scale
    assert pw.slack.max() < 1e-12
