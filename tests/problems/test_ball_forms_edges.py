"""Ball forms at the edges: finite wherever the function is, of the right sign, and
enclosing mpmath's values at 50 digits (references written here, not the package's).

Every input of the "finite targets refused" row of the edge-case report is a regression
test, end to end: accepted by ``from_expr``, and ``max_error_at`` with a ReLU
construction and a Chebyshev series gives a finite upper bound that is above an exact
reference (the model evaluated from its stored floats in mpmath, on a refined grid) and a
value below the exact error at the returned point. What has no finite supremum is still
refused.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from flint import arb, arb_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approx.analysis import max_error_at
from approx.arith.balls import arb_context, extra_precision
from approx.arith.elementary import span
from approx.models import baselines
from approx.models.construct import relu_interpolant
from approx.nn.activations import BALL_FORMS
from approx.problems.expr import compile_ball
from approx.problems.targets import from_expr

DPS = 50
mp.mp.dps = DPS


def _sigmoid(t):
    return 1 / (1 + mp.exp(-t))


def _softplus(t):
    return mp.log1p(mp.exp(t)) if t < 0 else t + mp.log1p(mp.exp(-t))


#: the report's refused targets: expression, domain, the function in mpmath
REFUSED_BEFORE = [
    ("tanh(1e5*x)", (-1.0, 1.0), lambda t: mp.tanh(100000 * t)),
    ("tanh(3e5*x)", (-1.0, 1.0), lambda t: mp.tanh(300000 * t)),
    ("tanh(1e6*(x-1/3))", (0.0, 1.0), lambda t: mp.tanh(10**6 * (t - mp.mpf(1 / 3)))),
    ("x**65", (-1.0, 1.0), lambda t: t**65),
    ("x**66", (-1.0, 1.0), lambda t: t**66),
    ("sin(x)**200", (-1.0, 2.0), lambda t: mp.sin(t) ** 200),
    ("sqrt(x*x)", (-1.0, 1.0), lambda t: abs(t)),
    ("(x*x)**0.5", (-1.0, 1.0), lambda t: abs(t)),
    ("log(x*x + 1e-300)", (-1.0, 1.0), lambda t: mp.log(t * t + mp.mpf(1e-300))),
    ("1/(x**2 + 1e-300)", (-1.0, 1.0), lambda t: 1 / (t * t + mp.mpf(1e-300))),
    # powers far beyond what a ball of x^k near 1 holds with its sign
    ("x**1e20", (-1.0, 1.0), lambda t: t ** (10**20)),
    ("x**-1e20", (1.0, 2.0), lambda t: t ** (-(10**20))),
]


def _relu_net_exact(net, t):
    """A ReLU net of one input at ``t``, exactly from its stored floats (50 digits)."""
    z = [mp.mpf(t)]
    last = len(net.weights) - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = [
            mp.fsum(z[j] * mp.mpf(float(w[j, k])) for j in range(len(z)))
            + (mp.mpf(float(b[k])) if net.bias else 0)
            for k in range(w.shape[1])
        ]
        if i < last:
            z = [max(v, 0) for v in z]
    return z[0]


def _chebyshev_exact(model, t):
    """A Chebyshev series at ``t`` by Clenshaw's recurrence in mpmath."""
    a, b = (mp.mpf(v) for v in model.domain)
    s = (2 * mp.mpf(t) - (a + b)) / (b - a)
    b1 = b2 = mp.mpf(0)
    for c in model.coef[:0:-1]:
        b1, b2 = 2 * s * b1 - b2 + mp.mpf(float(c)), b1
    return s * b1 - b2 + mp.mpf(float(model.coef[0]))


def _reference_sup(f, g, domain, extra, n=200):
    """``max |f - g|`` on a grid of ``n`` points refined around its best three, plus the
    points ``extra``."""
    a, b = domain
    grid = np.linspace(a, b, n)
    errors = [abs(f(mp.mpf(float(t))) - g(float(t))) for t in grid]
    best = max(errors)
    h = (b - a) / (n - 1)
    for i in np.argsort([-float(e) for e in errors])[:3]:
        for t in np.linspace(max(a, grid[i] - h), min(b, grid[i] + h), 30):
            best = max(best, abs(f(mp.mpf(float(t))) - g(float(t))))
    for t in extra:
        best = max(best, abs(f(mp.mpf(float(t))) - g(float(t))))
    return best


@pytest.mark.parametrize(
    ("expr", "domain", "f"), REFUSED_BEFORE, ids=[r[0] for r in REFUSED_BEFORE]
)
def test_finite_targets_are_accepted_and_certified(expr, domain, f):
    target = from_expr(expr, domain)
    models = [
        (relu_interpolant(target, 64), _relu_net_exact),
        (baselines.chebyshev(target, 32), _chebyshev_exact),
    ]
    for model, exact in models:
        result = max_error_at(target, model)
        assert math.isfinite(result.upper), (expr, model)

        def g(t, model=model, exact=exact):
            return exact(model, t)

        at_x = abs(f(mp.mpf(result.x)) - g(result.x))
        assert mp.mpf(result.value) <= at_x, (expr, model, result)
        reference = _reference_sup(f, g, domain, [result.x, *domain])
        assert reference <= mp.mpf(result.upper), (expr, model, result, reference)


@pytest.mark.parametrize(
    ("expr", "domain"),
    [
        ("1/x", (-1.0, 1.0)),
        ("log(x)", (0.0, 1.0)),
        ("1/(x*x)", (-1.0, 1.0)),
        ("log(x*x)", (-1.0, 1.0)),
        ("x**-66", (-1.0, 1.0)),
        ("x**-1e20", (0.0, 1.0)),
        ("1/tanh(1e5*x)", (-1.0, 1.0)),
        ("sqrt(-(x*x))", (-1.0, 1.0)),
    ],
)
def test_what_has_no_finite_supremum_is_still_refused(expr, domain):
    with pytest.raises(ValueError, match="no finite supremum"):
        from_expr(expr, domain)


# --- the ball forms on arbitrary balls ------------------------------------------------------


def _power(k):
    return lambda t: t**k


#: expression (or activation) → (mpmath function, bounded on every ball, a range it keeps)
FORMS = {
    "tanh(x)": (mp.tanh, True, (-1, 1)),
    "erf(x)": (mp.erf, True, (-1, 1)),
    "arctan(x)": (mp.atan, True, (-2, 2)),
    "tanh(1e5*x)": (lambda t: mp.tanh(100000 * t), True, (-1, 1)),
    "x*x": (lambda t: t * t, True, (0, None)),
    "sin(x)*sin(x)": (lambda t: mp.sin(t) ** 2, True, (0, 1)),
    "x**2": (_power(2), True, (0, None)),
    "x**65": (_power(65), True, (None, None)),
    "x**66": (_power(66), True, (0, None)),
    "x**1001": (_power(1001), True, (None, None)),
    "sqrt(x*x)": (abs, True, (0, None)),
    "log(x*x + 1e-300)": (lambda t: mp.log(t * t + mp.mpf(1e-300)), True, (-691, None)),
    "1/(x**2 + 1e-300)": (lambda t: 1 / (t * t + mp.mpf(1e-300)), True, (0, 1e300)),
    "exp(x)": (mp.exp, False, (0, None)),
    "sinh(x)": (mp.sinh, False, (None, None)),
    "cosh(x)": (mp.cosh, False, (1, None)),
    "sigmoid": (_sigmoid, True, (0, 1)),
    "activation tanh": (mp.tanh, True, (-1, 1)),
    "softplus": (_softplus, True, (0, None)),
}


def _form(name):
    if name in ("sigmoid", "softplus"):
        return BALL_FORMS[name]
    if name == "activation tanh":
        return BALL_FORMS["tanh"]
    ball = compile_ball(name)
    return lambda u: ball(u, False)


def _encloses(ball, value):
    """Whether ``ball`` holds mpmath's ``value`` up to the digits mpmath vouches for."""
    with extra_precision(256):
        exact = arb(mp.nstr(value, DPS - 5, min_fixed=1, max_fixed=0))
        return (ball + arb(0, 10.0 ** (10 - DPS)) * abs(exact)).contains(exact)


@st.composite
def balls(draw):
    """A ball ``mid ± rad``: mids from 0 to 1e300 of both signs, radii from 0 to far
    beyond the mid (so balls straddle 0), and the points to check inside it."""
    sign = draw(st.sampled_from([-1.0, 1.0]))
    mid = draw(st.sampled_from([0.0, 1.0, 1 / 3])) if draw(st.booleans()) else 0.0
    mid = sign * (mid or 10.0 ** draw(st.floats(-300, 300)))
    kind = draw(st.sampled_from(["point", "relative", "absolute"]))
    if kind == "point":
        rad = 0.0
    elif kind == "relative":
        rad = abs(mid) * 10.0 ** draw(st.floats(-16, 1)) or 1e-300
    else:
        rad = 10.0 ** draw(st.floats(-300, 300))
    fractions = draw(st.lists(st.floats(-1, 1), min_size=1, max_size=4))
    return mid, rad, [-1.0, 1.0, 0.0, *fractions]


def _points(mid, rad, fractions):
    """Floats inside the ball ``mid ± rad`` (rounded towards the mid)."""
    out = []
    for s in fractions:
        t = mp.mpf(mid) + mp.mpf(rad) * s
        f = float(t)
        if abs(mp.mpf(f) - mp.mpf(mid)) > mp.mpf(rad):
            f = float(np.nextafter(f, mid))
        out.append(f)
    return out


@pytest.mark.parametrize("name", sorted(FORMS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ball=balls())
def test_ball_form_holds_mpmath_and_is_finite_where_bounded(name, ball):
    mid, rad, fractions = ball
    f, bounded, (low, high) = FORMS[name]
    with arb_context():
        value = _form(name)(arb(mid, rad))
        if bounded or (abs(mid) + rad < 700):
            assert value.is_finite(), (name, mid, rad, value)
        if not value.is_finite():
            return
        # the function's range, kept by its ball up to the rounding of Arb's radii (30
        # bits, a few times over)
        slack = 2.0**-25 * float(value.rad()) + 1e-15
        if low is not None:
            assert value.lower() >= low - slack * max(1, abs(low)), (name, mid, rad, value)
        if high is not None:
            assert value.upper() <= high + slack * max(1, abs(high)), (name, mid, rad, value)
        for t in _points(mid, rad, fractions):
            assert _encloses(value, f(mp.mpf(t))), (name, mid, rad, t, value)


#: derivatives in closed form (mpmath): f, f', f''/2
SERIES = {
    "tanh(x)": lambda t: (mp.tanh(t), mp.sech(t) ** 2, -mp.tanh(t) * mp.sech(t) ** 2),
    "erf(x)": lambda t: (
        mp.erf(t),
        2 / mp.sqrt(mp.pi) * mp.exp(-t * t),
        -2 * t / mp.sqrt(mp.pi) * mp.exp(-t * t),
    ),
    "arctan(x)": lambda t: (mp.atan(t), 1 / (1 + t * t), -t / (1 + t * t) ** 2),
    "exp(x)": lambda t: (mp.exp(t), mp.exp(t), mp.exp(t) / 2),
    "x*x": lambda t: (t * t, 2 * t, mp.mpf(1)),
    "x**65": lambda t: (t**65, 65 * t**64, 65 * 32 * t**63),
    "x**66": lambda t: (t**66, 66 * t**65, 33 * 65 * t**64),
    # σ(t)σ(-t), sech²: no cancellation where σ or tanh is within 10^-50 of 1
    "sigmoid": lambda t: (
        _sigmoid(t),
        _sigmoid(t) * _sigmoid(-t),
        _sigmoid(t) * _sigmoid(-t) * (_sigmoid(-t) - _sigmoid(t)) / 2,
    ),
    "softplus": lambda t: (_softplus(t), _sigmoid(t), _sigmoid(t) * _sigmoid(-t) / 2),
    "activation tanh": lambda t: (mp.tanh(t), mp.sech(t) ** 2, -mp.tanh(t) * mp.sech(t) ** 2),
}


SATURATING = ("tanh(x)", "erf(x)", "arctan(x)", "sigmoid", "activation tanh")


@pytest.mark.parametrize("name", sorted(SERIES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mid=st.floats(-50, 50),
    rad=st.sampled_from([0.0, 1e-6, 0.1, 3.0, 40.0, 1e5]),
    fractions=st.lists(st.floats(-1, 1), min_size=1, max_size=3),
)
def test_series_form_holds_the_derivatives_at_every_point_of_the_ball(name, mid, rad, fractions):
    """On ``X + t`` the coefficient ``k`` holds ``f^(k)(ξ)/k!`` for every ``ξ`` in ``X``
    (or is NaN: no bound of that order); the constant one is finite for bounded f."""
    with arb_context():
        series = _form(name)(arb_series([arb(mid, rad), 1], prec=3))
        if name not in ("exp(x)", "x**65", "x**66", "x*x") or abs(mid) + rad < 700:
            assert series[0].is_finite(), (name, mid, rad, series)
        if name in SATURATING:  # every derivative is bounded: so is every coefficient
            assert all(series[k].is_finite() for k in range(3)), (name, mid, rad, series)
        for t in _points(mid, rad, [-1.0, 1.0, 0.0, *fractions]):
            exact = SERIES[name](mp.mpf(t))
            for k in range(3):
                if series[k].is_finite():
                    assert _encloses(series[k], exact[k]), (name, mid, rad, t, k, series)


def test_saturating_series_are_tight_where_saturated():
    """Far on one side of 0 the series of tanh(u) are ≈ e^{-2u}-small beyond the constant,
    even on a wide ball (a Taylor model of tanh(1e6(x - 1/3)) far from 1/3 is one block)."""
    with arb_context():
        u = arb_series([arb(5e5, 4e5), 10**6], prec=6)
        for name in ("tanh(x)", "activation tanh", "sigmoid"):
            series = _form(name)(u)
            assert all(series[k].is_finite() for k in range(6)), (name, series)
            tail = [series[k].abs_upper() for k in range(1, 6)]
            assert all(v < arb(10) ** -40000 for v in tail), (name, series)


@settings(max_examples=200, deadline=None)
@given(
    lo=st.floats(-1e300, 1e300),
    width=st.floats(0, 1e300),
    at_zero=st.booleans(),
)
def test_span_holds_its_ends_and_keeps_their_sign(lo, width, at_zero):
    lo = 0.0 if at_zero else lo
    hi = lo + width
    if not math.isfinite(hi):
        return
    with arb_context():
        ball = span(arb(lo), arb(hi))
        assert ball.contains(arb(lo)) and ball.contains(arb(hi)), (lo, hi, ball)
        if lo >= 0:
            assert ball >= 0 and (lo == 0 or ball > 0), (lo, hi, ball)
        if hi <= 0:
            assert ball <= 0 and (hi == 0 or ball < 0), (lo, hi, ball)
