"""The activation registry: every record's forms agree with each other and with
independent references (central differences, the float forms for the ball forms, the
compiled kernel for the numba codes); softplus, added as one record, against closed
forms, whole-net gradients and mpmath at 40 digits."""

import mpmath as mp
import numpy as np
import pytest
from flint import arb, arb_series
from scipy.optimize import check_grad
from scipy.special import expit

from approx.arith.balls import arb_context, extra_precision
from approx.nn import MLP, pack
from approx.nn import activations as act
from approx.nn.engine import fused_backend, make_engine, numba_available

# ---- the registry and its views --------------------------------------------------------


def test_every_table_is_a_view_of_the_registry():
    names = list(act.REGISTRY)
    assert names[:5] == ["relu", "sigmoid", "tanh", "cos", "identity"]  # choices keep order
    for view, field in [
        (act.ACTIVATIONS, "f"),
        (act.DERIVATIVES, "derivative"),
        (act.IN_PLACE, "in_place"),
        (act.BALL_FORMS, "ball"),
    ]:
        assert list(view) == names
        assert all(view[n] is getattr(act.REGISTRY[n], field) for n in names)
    assert act.BOUNDED == {"sigmoid", "tanh", "cos"}
    assert dict(act.NUMBA_CODES) == {"relu": 0, "sigmoid": 1, "tanh": 2, "cos": 3, "identity": 4}
    assert act.NUMBA_FASTER == ("relu", "identity")
    with pytest.raises(TypeError):
        act.ACTIVATIONS["square"] = np.square  # read-only: a new activation is a record


def test_lookup_and_record_validation():
    assert act.get_activation("tanh") is act.REGISTRY["tanh"].f is np.tanh
    with pytest.raises(ValueError, match="unknown activation 'tahn'; did you mean"):
        act.get("tahn")
    with pytest.raises(ValueError, match="numba_faster needs a numba_code"):
        act.Activation("x", np.abs, np.sign, np.negative, abs, False, numba_faster=True)


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_bounded_flag_is_exact(name):
    u = np.concatenate([np.linspace(-50, 50, 100_001), [-1e6, 1e6]])
    peak = float(np.max(np.abs(act.REGISTRY[name].f(u))))
    assert (peak <= 1.0) == act.REGISTRY[name].bounded


# ---- float forms ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_derivative_matches_central_differences(name):
    rng = np.random.default_rng([1, len(name)])
    u = rng.uniform(-6, 6, 500)
    u = u[np.abs(u) > 1e-3]  # the ReLU kink stays out of the stencil
    record, h = act.REGISTRY[name], 1e-6
    numeric = (record.f(u + h) - record.f(u - h)) / (2 * h)
    np.testing.assert_allclose(record.derivative(u, record.f(u)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(act.REGISTRY))
@pytest.mark.parametrize("with_derivative", [True, False])
def test_in_place_form_equals_the_plain_forms(name, with_derivative):
    record = act.REGISTRY[name]
    rng = np.random.default_rng([2, len(name)])
    u = np.concatenate([rng.standard_normal((7, 5)) * 4, [[0.0, -800.0, 800.0, 1e-300, -40.0]]])
    y = u.copy()
    d = np.full_like(u, np.nan) if with_derivative else None
    record.in_place(y, d)
    np.testing.assert_array_equal(y, record.f(u))
    if with_derivative:
        np.testing.assert_array_equal(d, record.derivative(u, record.f(u)))


# ---- ball forms -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_every_ball_form_encloses_its_float_form(name):
    """σ(arb(u)) holds the float σ(u) up to its rounding, and the series' slope holds σ'."""
    record = act.REGISTRY[name]
    rng = np.random.default_rng([5, len(name)])
    u = rng.uniform(-30, 30, 200)
    u = u[np.abs(u) > 1e-6]  # off the ReLU kink, where σ' is not a derivative
    y = record.f(u)
    dy = record.derivative(u, y)
    with arb_context():
        for t, value, slope in zip(u, y, dy, strict=True):
            ball = record.ball(arb(t))
            series = record.ball(arb_series([arb(t), arb(1)]))
            assert ball.is_finite() and series[0].is_finite()
            for b, v in [(ball, value), (series[0], value), (series[1], slope)]:
                assert (b + arb(0, 4e-16 * (1 + abs(v)))).contains(arb(v)), (name, t, b, v)


# ---- the compiled kernel ----------------------------------------------------------------


@pytest.mark.skipif(not numba_available(), reason="numba not installed (no wheel here)")
@pytest.mark.parametrize("name", list(act.REGISTRY))
def test_numba_codes_are_exactly_the_kernels_activations(name):
    """An activation with a code runs the kernel's branch for it, which computes this
    record's σ; one without runs the numpy pass, whatever backend is asked for."""
    record = act.REGISTRY[name]
    compiled = record.numba_code is not None
    assert fused_backend("numba", name) == ("numba" if compiled else "numpy")
    assert fused_backend("auto", name) == ("numba" if record.numba_faster else "numpy")
    rng = np.random.default_rng([9, len(name)])
    net = MLP([1, 17, 1], name, rng=rng)
    net.biases = [rng.standard_normal(b.shape) for b in net.biases]
    x, y = rng.standard_normal(300), rng.standard_normal(300)
    theta = net.pack()
    engine = make_engine(net, theta, np.zeros_like(theta), 300, backend="numba")
    assert engine.name == ("fused-numba" if compiled else "fused-numpy")
    hidden = act.REGISTRY[name].f(np.outer(x, net.weights[0]) + net.biases[0])
    expected = hidden @ net.weights[1][:, 0] + net.biases[1][0] - y
    np.testing.assert_allclose(engine.residuals(x, y), expected, rtol=1e-12, atol=1e-13)


# ---- softplus: one record, checked against closed forms, torch and mpmath ---------------

mp.mp.dps = 40

SOFTPLUS = act.get("softplus")
#: σ(u) = log(1 + e^u) at 40 digits, written independently of the package's forms
SOFTPLUS_MP = lambda t: mp.log1p(mp.exp(t))  # noqa: E731

#: points where softplus' float and ball forms are stressed: 0, tiny, the overflow of e^u
#: (u > 709.78), its underflow (u < -745), and far beyond
EXTREMES = [0.0, 5e-324, 1e-300, 1e-8, 0.5, 3.0, 36.0, 40.0, 700.0, 710.0, 1e3, 1e300]


def encloses(ball, value):
    """Whether ``ball`` holds mpmath's ``value`` up to the 40 digits mpmath vouches for
    (its 45 digits parsed at 256 bits, the ball widened by 10⁻³⁸ of the value)."""
    with extra_precision(256):
        exact = arb(mp.nstr(value, 45, min_fixed=1, max_fixed=0))
        return (ball + arb(0, 1e-38 * float(abs(value)))).contains(exact)


def random_points(rng, n, top=3.0):
    """Both signs, magnitudes 10⁻³ … 10^top, log-uniform."""
    return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-3, top, n)


def test_softplus_equals_its_closed_form_to_rounding():
    rng = np.random.default_rng(3)
    u = np.concatenate([random_points(rng, 400, top=2.8), [0.0, 1e-300, -1e-300, 700, -700]])
    y = SOFTPLUS.f(u)
    exact = np.array([float(SOFTPLUS_MP(mp.mpf(t))) for t in u])
    np.testing.assert_allclose(y, exact, rtol=4e-16, atol=0)
    # σ' is the logistic function, to full relative accuracy also where it is ≈ e^u ≪ 1
    np.testing.assert_allclose(SOFTPLUS.derivative(u, y), expit(u), rtol=4e-15, atol=0)
    # no overflow past e^u's range, no underflow to 0 before e^u's
    big = np.array([1e3, 1e300, np.inf, -1e3, -700.0])
    with np.errstate(over="raise", invalid="raise"):  # e^-1000 underflows, rightly
        assert np.array_equal(SOFTPLUS.f(big)[:3], big[:3])
        assert SOFTPLUS.f(big)[3] == 0.0 and SOFTPLUS.f(big)[4] > 0.0


def test_softplus_net_gradient_passes_check_grad():
    rng = np.random.default_rng(4)
    for sizes in ([2, 5, 4, 1], [1, 9, 1], [3, 6, 2]):  # layered, fused, several outputs
        net = MLP(sizes, "softplus", rng=rng)
        net.biases = [rng.standard_normal(b.shape) for b in net.biases]
        X, y = rng.standard_normal((11, sizes[0])), rng.standard_normal((11, sizes[-1]))

        def f(theta, net=net, X=X, y=y):
            net.unpack(theta)
            return net.loss_and_grad(X, y, "mse")[0]

        def g(theta, net=net, X=X, y=y):
            net.unpack(theta)
            gW, gb = net.loss_and_grad(X, y, "mse")[1]
            return pack(gW, gb)

        theta = net.pack()
        scale = max(1.0, float(np.linalg.norm(g(theta))))
        assert check_grad(f, g, theta, epsilon=1e-7) <= 1e-5 * scale


def test_softplus_ball_encloses_mpmath_at_any_argument():
    rng = np.random.default_rng(6)
    points = [*EXTREMES, *(-t for t in EXTREMES), *random_points(rng, 60)]
    with arb_context():
        for t in points:
            ball = SOFTPLUS.ball(arb(t))
            exact = SOFTPLUS_MP(mp.mpf(t))
            assert ball.is_finite() and encloses(ball, exact), (t, ball)
            # tight: relative to the value, also where it is e^u ≈ 10⁻⁴³⁴
            if exact != 0:
                assert float(ball.rad()) <= 1e-20 * float(abs(exact)), (t, ball)


def test_softplus_ball_of_a_wide_ball_is_its_image():
    rng = np.random.default_rng(7)
    cases = [(0.0, 1e300), (0.0, 1.0), (1.0, 3.0), (-800.0, 10.0), (900.0, 1e3)]
    cases += [
        (float(m), float(abs(m)) * r)
        for m, r in zip(random_points(rng, 40), rng.uniform(0, 2, 40), strict=True)
    ]
    with arb_context():
        for mid, rad in cases:
            ball = SOFTPLUS.ball(arb(mid, rad))
            assert ball.is_finite(), (mid, rad)
            # σ increases: its image is spanned by the ends (taken just inside them)
            for t in (mid - rad * (1 - 1e-12), mid, mid + rad * (1 - 1e-12)):
                assert encloses(ball, SOFTPLUS_MP(mp.mpf(t))), (mid, rad, t)


def test_softplus_series_encloses_the_taylor_coefficients():
    """Composed with u(x) = u₀ + a x + b x², the series holds (σ∘u)^(k)(0)/k! for k ≤ 6."""
    rng = np.random.default_rng(8)
    points = [*EXTREMES[:-1], *(-t for t in EXTREMES[:-1]), *random_points(rng, 20)]
    with arb_context():
        for t in points:
            a, b = rng.standard_normal(2)
            series = SOFTPLUS.ball(arb_series([arb(t), arb(a), arb(b)]))
            # numerical differentiation cancels in σ's value: beyond |u| ≈ 100 the
            # coefficients (≈ e^-|u|) need as many digits as e^|u| has, plus 40
            with mp.workdps(40 + int(abs(t) / 2.3)):
                exact = mp.taylor(
                    lambda x, t=t, a=a, b=b: SOFTPLUS_MP(t + mp.mpf(a) * x + mp.mpf(b) * x**2),
                    0,
                    6,
                )
            for k, coef in enumerate(exact):
                assert series[k].is_finite() and encloses(series[k], coef), (t, k)
            # value and slope keep their relative accuracy where they are tiny (u ≪ 0)
            for k in (0, 1):
                assert float(series[k].rad()) <= 1e-20 * float(abs(exact[k])), (t, k)
