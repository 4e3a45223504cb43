"""Soundness at the edges: ``value ≤ sup |f - f̂| ≤ upper`` on domains one to a few floats
wide, far from 0, among subnormals and up to 1e300, against references written here:
exact rationals (:mod:`fractions`) for piecewise-linear errors, mpmath at 50 digits for
smooth ones. ``value`` must be ``|e(x)|`` at the returned ``x``, never more.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approx.analysis.errors import max_error_at
from approx.models.baselines import cubic_spline
from approx.models.construct import relu_interpolant
from approx.nn import MLP
from approx.problems.targets import from_expr

U = 2.0**-52  # the spacing of the floats in [1, 2)


# --- independent references -------------------------------------------------------------------


def shallow_exact(net: MLP, x: Fraction) -> Fraction:
    """A 1 → d → 1 ReLU net at the rational ``x``, exactly, from its float weights."""
    w, b = net.weights[0][0], net.biases[0]
    v, c = net.weights[1][:, 0], net.biases[1][0]
    total = Fraction(float(c))
    for wi, bi, vi in zip(w, b, v, strict=True):
        z = Fraction(float(wi)) * x + Fraction(float(bi))
        if z > 0:
            total += Fraction(float(vi)) * z
    return total


def shallow_breakpoints(net: MLP, a: float, b: float) -> list[Fraction]:
    """The ends and every exact breakpoint ``-b_i / w_i`` inside: where a piecewise-linear
    error takes its largest absolute value."""
    points = {Fraction(a), Fraction(b)}
    for wi, bi in zip(net.weights[0][0], net.biases[0], strict=True):
        if wi != 0:
            tau = -Fraction(float(bi)) / Fraction(float(wi))
            if Fraction(a) < tau < Fraction(b):
                points.add(tau)
    return sorted(points)


def deep_pieces(net: MLP, a: float, b: float) -> list[Fraction]:
    """The ends and every exact breakpoint of a ReLU net of any depth on ``[a, b]``: each
    layer's units are affine on each piece; a unit's zero inside a piece splits it."""
    F = lambda v: Fraction(float(v))  # noqa: E731
    pieces = [(Fraction(a), Fraction(b), [Fraction(1)], [Fraction(0)])]  # (lo, hi, s, c)
    for w, bias in zip(net.weights[:-1], net.biases[:-1], strict=True):
        out = []
        units = range(w.shape[1])
        for lo, hi, s, c in pieces:
            ps = [sum((si * F(w[i, k]) for i, si in enumerate(s)), Fraction(0)) for k in units]
            pc = [sum((ci * F(w[i, k]) for i, ci in enumerate(c)), F(bias[k])) for k in units]
            zeros = {-pc[k] / ps[k] for k in units if ps[k]}
            for left, right in itertools.pairwise(
                [lo, *sorted(z for z in zeros if lo < z < hi), hi]
            ):
                m = (left + right) / 2
                on = [ps[k] * m + pc[k] > 0 for k in units]
                ons = [ps[k] if on[k] else Fraction(0) for k in units]
                onc = [pc[k] if on[k] else Fraction(0) for k in units]
                out.append((left, right, ons, onc))
        pieces = out
    return sorted({Fraction(a), Fraction(b), *(lo for lo, _, _, _ in pieces)})


def net_exact(net: MLP, x: Fraction) -> Fraction:
    """A ReLU net of any depth at the rational ``x``, exactly."""
    z = [x]
    for layer, (w, bias) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = [
            sum((z[i] * Fraction(float(w[i, k])) for i in range(len(z))), Fraction(float(bias[k])))
            for k in range(w.shape[1])
        ]
        if layer < len(net.weights) - 1:
            z = [max(v, Fraction(0)) for v in z]
    return z[0]


def linear_sup(net: MLP, p: float, q: float, a: float, b: float) -> Fraction:
    """``sup |p x + q - net(x)|`` over ``[a, b]``, exactly."""
    line = lambda x: Fraction(p) * x + Fraction(q)  # noqa: E731
    return max(abs(line(x) - net_exact(net, x)) for x in deep_pieces(net, a, b))


def mp(x: float | Fraction) -> mpmath.mpf:
    x = Fraction(x)
    return mpmath.mpf(x.numerator) / x.denominator


def smooth_sup(error, a: float, b: float, breaks: list[float], n: int = 400) -> mpmath.mpf:
    """The largest ``|error|`` on a grid of real (not float) points of each piece between
    ``breaks`` (with ``a`` and ``b``), refined around the best point by golden sections."""
    mpmath.mp.dps = 50
    edges = sorted({a, b, *[t for t in breaks if a < t < b]})
    best, where = mpmath.mpf(0), None
    for lo, hi in itertools.pairwise(edges):
        L, H = mp(lo), mp(hi)
        for j in range(n + 1):
            x = L + (H - L) * j / n
            v = abs(error(x))
            if v > best:
                best, where = v, (max(L, x - (H - L) / n), min(H, x + (H - L) / n))
    if where is None:  # 0 everywhere on the grid
        return best
    lo, hi = where
    for _ in range(120):  # golden-section search on the bracket of the best grid point
        m1, m2 = lo + (hi - lo) * 0.382, lo + (hi - lo) * 0.618
        if abs(error(m1)) > abs(error(m2)):
            hi = m2
        else:
            lo = m1
    return max(best, abs(error((lo + hi) / 2)))


def spline_error(target_mp, model):
    """The spline as it evaluates (float cubics in each cell's variable ``t``): ``f - s``
    at real points, in mpmath."""
    knots, coef, scale = model.cubics()

    def error(x):
        # the piece by exact comparison (float(x) may round onto the next knot)
        j = sum(1 for k in knots[1:-1] if mp(float(k)) <= x)
        t = (x - mp(float(knots[j]))) / (mp(float(knots[j + 1])) - mp(float(knots[j])))
        s = mpmath.mpf(0)
        for c in coef[j, ::-1]:
            s = s * t + mp(float(c))
        return target_mp(x) - s * mp(scale)

    return error


def above(v: mpmath.mpf) -> Fraction:
    """A rational just above a 50-digit reference (its last digits are rounded)."""
    return Fraction(str(v)) * (1 + Fraction(1, 10**40)) + Fraction(1, 10**300)


def below(v: mpmath.mpf) -> Fraction:
    """A rational just below a 50-digit reference."""
    return max(Fraction(str(v)) * (1 - Fraction(1, 10**40)) - Fraction(1, 10**300), Fraction(0))


def check(result, sup, exact_at_x) -> None:
    """``value ≤ |e(x)| ≤ sup ≤ upper`` (``sup`` and ``|e(x)|`` from the references)."""
    assert math.isfinite(result.value) and not math.isnan(result.upper), result
    assert Fraction(result.value) <= exact_at_x, (result, exact_at_x)
    assert exact_at_x <= sup
    assert result.upper == math.inf or sup <= Fraction(result.upper), (result, float(sup))


# --- the rows ------------------------------------------------------------------------


def test_a_breakpoint_between_the_floats_of_a_three_float_domain():
    # 0*x on [1, 1 + 3u]; units breaking at 1 + u, 1 + 2u (weight 0) and 1 + 20u/7, whose
    # output reaches 4/7 at b: the cell [1 + 2u, 1 + 3u] has its rounded middle on 1 + 2u
    a, b = 1.0, 1 + 3 * U
    target = from_expr("0*x", (a, b))
    v3 = float(Fraction(4, 7)) / U
    net = MLP.from_params(
        [[[1.0, 1.0, 7.0]], [[0.0], [0.0], [v3]]], [[-(1 + U), -(1 + 2 * U), -(7 + 20 * U)], [0.0]]
    )
    result = max_error_at(target, net)
    sup = linear_sup(net, 0.0, 0.0, a, b)
    assert abs(sup - Fraction(4, 7)) < Fraction(1, 10**15)
    check(result, sup, abs(shallow_exact(net, Fraction(result.x))))
    assert result.value == float(Fraction(v3) * Fraction(U))  # attained at b, exactly
    assert not result.tight


def test_a_cubic_spike_on_three_floats():
    a, b = 1.5 - U, 1.5 + U
    c = 9.134385233318143e46
    target = from_expr(f"{c!r}*(x-1.5)**3", (a, b))
    model = cubic_spline(target, 3)
    result = max_error_at(target, model)
    error = spline_error(lambda x: mp(c) * (x - mpmath.mpf(1.5)) ** 3, model)
    sup = smooth_sup(error, a, b, list(model.knots))
    assert abs(sup - mpmath.mpf("0.38490")) < 1e-4  # 2/(3√3) of the cubic's scale
    check(result, above(sup), below(abs(error(mp(result.x)))))


def _frac(x: mpmath.mpf) -> Fraction:
    x = mpmath.mpf(x)
    m, e = x.man_exp  # of |x|
    return (-1 if x < 0 else 1) * Fraction(int(m)) * (Fraction(2) ** int(e))


def test_an_exponential_one_float_per_piece_near_1e15():
    a, b = 1e15 + 0.125, 1e15 + 1.125
    target = from_expr("exp(1.6*(x-1e15))", (a, b))
    net = relu_interpolant(target, 9)
    result = max_error_at(target, net)

    def error(x):  # 1.6 is the double the expression means
        return mpmath.exp(mp(1.6) * (x - mp(1e15))) - mp(shallow_exact(net, _frac(x)))

    breaks = [float(t) for t in shallow_breakpoints(net, a, b)]
    sup = smooth_sup(error, a, b, breaks)
    assert abs(sup - mpmath.mpf("0.17158")) < 1e-5
    at_x = abs(error(mp(result.x)))
    check(result, above(sup), below(at_x))


def test_sin_near_1e15_with_every_float_a_knot():
    a, b = 1e15, 1e15 + 1
    target = from_expr("sin(x)", (a, b))
    model = cubic_spline(target, 9)
    result = max_error_at(target, model)
    error = spline_error(mpmath.sin, model)
    sup = smooth_sup(error, a, b, list(model.knots), n=100)
    assert abs(sup - mpmath.mpf("5.42e-6")) < 1e-8
    check(result, above(sup), below(abs(error(mp(result.x)))))


# --- the crashes: huge domains ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "domain"),
    [("sin(x/1e199)", (-1e200, 1e200)), ("x", (-1e200, 1e200)), ("sin(x)", (-1e300, 1e300))],
)
def test_huge_domains_are_enclosed_not_crashed(expr, domain):
    target = from_expr(expr, domain)
    net = relu_interpolant(target, 16)
    result = max_error_at(target, net)
    assert result.value <= result.upper < math.inf, result
    # the reference at the net's knots, the returned point and points between (mpmath
    # reduces sin's argument exactly): never above the upper bound
    mpmath.mp.dps = 50
    f = {
        "x": lambda x: x,
        "sin(x)": mpmath.sin,
        "sin(x/1e199)": lambda x: mpmath.sin(x / mp(1e199)),
    }
    points = [Fraction(t) for t in np.linspace(*domain, 97)] + shallow_breakpoints(net, *domain)
    for x in [*points, Fraction(result.x)]:
        e = abs(f[expr](mp(x)) - mp(shallow_exact(net, x)))
        assert e <= result.upper
    at_x = abs(f[expr](mp(result.x)) - mp(shallow_exact(net, Fraction(result.x))))
    assert result.value <= at_x


# --- property: tiny domains anywhere, ReLU nets of any floats, exactly -----------------------


def _advance(a: float, k: int) -> float:
    for _ in range(k):
        a = float(np.nextafter(a, np.inf))
    return a


offsets = st.one_of(
    st.sampled_from([1.0, 1e15, -1e15 - 2.0, 0.0, 2.0**-1070, -(2.0**-1040), 1e300, 3.0]),
    st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False),
)
magnitudes = st.sampled_from([1.0, 3.0, 1e-3, 1e8, 1e15, 2.0**52, 1e-300, 1e300])


@st.composite
def tiny_problems(draw):
    """A domain 1 to 8 floats wide, a line ``p x + q`` and a ReLU net of one or two
    hidden layers whose breakpoints lie near (rarely on) the floats of the domain, of
    any weights."""
    a = draw(offsets)
    b = _advance(a, draw(st.integers(1, 8)))
    floats = [_advance(a, k) for k in range(9)]
    d = draw(st.integers(1, 4))
    w, bias, v = [], [], []
    for _ in range(d):
        t = draw(st.sampled_from(floats))
        wi = draw(magnitudes) * draw(st.sampled_from([1.0, -1.0, 7.0, -3.0]))
        shift = draw(st.sampled_from([0.0, 0.5, 0.25, 20 / 7, -1.0]))
        bi = -wi * t - wi * shift * float(np.spacing(abs(t)) or 2.0**-1074)
        w.append(wi)
        bias.append(bi)
        v.append(draw(magnitudes) * draw(st.sampled_from([1.0, -1.0, 0.0, 4 / 7])))
    c = draw(st.sampled_from([0.0, 1.0, -a]))
    p = draw(st.sampled_from([0.0, 1.0, -2.5]))
    q = draw(st.sampled_from([0.0, 1.0, -a]))
    if not draw(st.booleans()):
        return a, b, p, q, MLP.from_params([[w], [[vi] for vi in v]], [bias, [c]])
    # a second hidden layer, its units' zeros placed near a float of the domain
    e = draw(st.integers(1, 3))
    w2 = np.array(
        [
            [draw(magnitudes) * draw(st.sampled_from([1.0, -1.0])) for _ in range(e)]
            for _ in range(d)
        ]
    )
    t = draw(st.sampled_from(floats))
    with np.errstate(all="ignore"):
        z = np.maximum(np.array(w) * t + np.array(bias), 0.0) @ w2
    b2 = np.where(np.isfinite(z), -z, 0.0) * draw(st.sampled_from([1.0, 1 + 2**-50, 0.5]))
    v2 = [[draw(magnitudes) * draw(st.sampled_from([1.0, -1.0, 4 / 7]))] for _ in range(e)]
    return a, b, p, q, MLP.from_params([[w], w2, v2], [bias, b2, [c]])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_relu_nets_on_tiny_domains_are_enclosed_exactly(problem):
    a, b, p, q, net = problem
    if not all(np.all(np.isfinite(x)) for x in [*net.weights, *net.biases]):
        return  # the weights themselves overflowed: no real function to certify
    target = from_expr(f"{p!r}*x + {q!r}", (a, b))
    result = max_error_at(target, net)
    sup = linear_sup(net, p, q, a, b)
    x = Fraction(result.x)
    assert Fraction(a) <= x <= Fraction(b)
    at_x = abs(Fraction(p) * x + Fraction(q) - net_exact(net, x))
    check(result, sup, at_x)
