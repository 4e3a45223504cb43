"""Certified max errors against an independent reference, on targets chosen to break them.

The reference is itself a lower bound of the supremum: a dense grid (10⁷ points) of the
float error to find candidates, a bounded search around the best ones, and at every
candidate the error evaluated at 40 digits with mpmath, the model taken from its exact
float weights. So every enclosure must satisfy ``max(value, reference) ≤ upper`` and
``value ≥ reference · (1 - 1e-9)``.
"""

import math

import mpmath as mp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from approx.analysis.errors import l2_error, max_error_at
from approx.certify import targets as certified
from approx.certify.derivatives import sup_abs_derivative
from approx.models.baselines import ChebyshevModel, SplineModel, chebyshev, cubic_spline
from approx.models.construct import random_features, relu_interpolant, sawtooth_square
from approx.nn import MLP
from approx.problems import targets

mp.mp.dps = 40

_MP = {
    "sin": mp.sin,
    "cos": mp.cos,
    "tan": mp.tan,
    "arcsin": mp.asin,
    "arccos": mp.acos,
    "arctan": mp.atan,
    "sinh": mp.sinh,
    "cosh": mp.cosh,
    "tanh": mp.tanh,
    "exp": mp.exp,
    "log": mp.log,
    "log1p": mp.log1p,
    "sqrt": mp.sqrt,
    "abs": abs,
    "erf": mp.erf,
    "pi": mp.pi,
    "e": mp.e,
}


def f_mp(expr, x):
    """The expression at 40 digits (test code: the strings are ours, so eval is safe)."""
    return eval(expr, {"__builtins__": {}}, {**_MP, "x": mp.mpf(float(x))})


def model_mp(model, x):
    """The model from its exact float weights, at 40 digits."""
    x = mp.mpf(float(x))
    if isinstance(model, MLP):
        sigma = {
            "relu": lambda u: max(u, 0),
            "cos": mp.cos,
            "tanh": mp.tanh,
            "softplus": lambda u: mp.log1p(mp.exp(u)),
        }[model.activation]
        z = [x]
        for k, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            z = [
                sum((zi * mp.mpf(float(w[i, j])) for i, zi in enumerate(z)), mp.mpf(float(b[j])))
                for j in range(w.shape[1])
            ]
            if k < len(model.weights) - 1:
                z = [sigma(u) for u in z]
        return z[0]
    if isinstance(model, ChebyshevModel):
        a, b = model.domain
        t = (2 * x - mp.mpf(a) - mp.mpf(b)) / (mp.mpf(b) - mp.mpf(a))
        return sum(mp.mpf(float(c)) * mp.chebyt(k, t) for k, c in enumerate(model.coef))
    assert isinstance(model, SplineModel)
    knots, coef, scale = model.cubics()
    j = int(np.clip(np.searchsorted(knots, float(x), side="right") - 1, 0, knots.size - 2))
    t = (x - mp.mpf(float(knots[j]))) / (mp.mpf(float(knots[j + 1])) - mp.mpf(float(knots[j])))
    return mp.mpf(scale) * sum(mp.mpf(float(c)) * t**k for k, c in enumerate(coef[j]))


def float_model(model, domain):
    """The model in floats for the grid search. A one-hidden-layer ReLU net is linear
    between its breakpoints: evaluate it densely there (O(d²)) and interpolate, which is
    exact up to rounding and far cheaper than the dense layer on 10⁷ points."""
    if not (isinstance(model, MLP) and model.activation == "relu" and len(model.sizes) == 3):
        return model
    w, b = model.weights[0][0], model.biases[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -b / w
    knots = np.unique(np.concatenate([t[(t > domain[0]) & (t < domain[1])], domain]))
    values = model(knots)
    return lambda x: np.interp(x, knots, values)


def reference(target, model, n=10_000_000, refine=4):
    """A lower bound of sup |f - model|: grid, local searches, 40-digit evaluations."""
    a, b = target.domain
    best_x, best = [], -1.0
    approx = float_model(model, target.domain)
    for start in range(0, n, 1_000_000):
        x = a + (b - a) * (np.arange(start, min(start + 1_000_000, n)) / (n - 1))
        with np.errstate(all="ignore"):
            e = np.abs(target(x) - approx(x))
        top = np.argsort(np.nan_to_num(e, nan=-1.0))[::-1][:refine]
        best_x += list(x[top])
    candidates = list(best_x)
    h = (b - a) / (n - 1)

    def neg(u, c):
        z = np.array([c + u])
        return -abs(float((target(z) - model(z))[0]))

    for c in best_x:
        res = minimize_scalar(
            neg,
            args=(c,),
            bounds=(max(a, c - h) - c, min(b, c + h) - c),
            method="bounded",
            options={"xatol": 1e-16 * max(1.0, abs(c))},
        )
        candidates.append(float(np.clip(c + res.x, a, b)))
    for c in candidates:
        best = max(best, float(abs(f_mp(target.expr, c) - model_mp(model, c))))
    return best


def check(target, model):
    result = max_error_at(target, model)
    # smooth models vary on the scale of their features, far above a 10⁶-point grid's
    smooth = not (isinstance(model, MLP) and model.activation == "relu")
    ref = reference(target, model, n=2_000_000 if smooth else 10_000_000)
    assert max(result.value, ref) <= result.upper, (result, ref)
    assert result.value >= ref * (1 - 1e-9), (result, ref)
    if result.tight:
        assert result.upper - result.value <= max(
            1e-9 * result.value, 1e-13 * (1 + certified.scale(target))
        )
    # value is attained: the 40-digit error at x agrees with it
    at_x = float(abs(f_mp(target.expr, result.x) - model_mp(model, result.x)))
    assert abs(at_x - result.value) <= 1e-15 * (1 + at_x)
    return result


ADVERSARIAL = [
    # narrow spikes at irrational points, invisible to a coarse grid
    ("exp(-((x - sqrt(2)/3)/1e-6)**2)", (0, 1), lambda t: relu_interpolant(t, 64)),
    ("sin(20*x) + 0.5*exp(-((x - pi/10)/3e-6)**2)", (0, 1), lambda t: relu_interpolant(t, 64)),
    ("sin(20*x) + 0.5*exp(-((x - pi/10)/3e-6)**2)", (0, 1), lambda t: chebyshev(t, 16)),
    ("sin(20*x) + 0.5*exp(-((x - pi/10)/3e-6)**2)", (0, 1), lambda t: cubic_spline(t, 16)),
    # cusps and kinks
    ("sqrt(abs(x - 0.2))", (-1, 1), lambda t: relu_interpolant(t, 64)),
    ("abs(x - 1/3)**1.5 + abs(x + 0.5)", (-1, 1), lambda t: relu_interpolant(t, 40, "adaptive")),
    # a pole just outside the domain
    ("1/(x - 1.0001)", (0, 1), lambda t: relu_interpolant(t, 48, "adaptive")),
    # huge, tiny and far-away domains
    ("sin(x/1000)", (-1e4, 3e4), lambda t: relu_interpolant(t, 50)),
    ("exp(x)", (1, 1 + 1e-9), lambda t: relu_interpolant(t, 5)),
    ("sin(2*pi*x)", (1e6, 1e6 + 1), lambda t: relu_interpolant(t, 40)),
    # steep growth, where a clipped stencil underestimates f''
    ("exp(30*x)", (-1, 0), lambda t: relu_interpolant(t, 64)),
    # smooth models
    ("exp(-x**2) * cos(3*x)", (-2, 3), lambda t: chebyshev(t, 24)),
    (
        "exp(-x**2) * cos(3*x)",
        (-2, 3),
        lambda t: random_features(t, 12, rng=np.random.default_rng(3)),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("expr", "domain", "build"),
    ADVERSARIAL,
    ids=[f"{e}|{d}|{i}" for i, (e, d, _) in enumerate(ADVERSARIAL)],
)
def test_enclosure_against_independent_reference(expr, domain, build):
    target = targets.from_expr(expr, domain)
    check(target, build(target))


def test_deep_bump_invisible_to_a_grid_is_found():
    """A deep net [1, 3, 1, 1] that is 0 except for a bump of width 2.4e-7."""
    c, d = math.pi / 10, 1.2e-7
    net = MLP.from_params(
        [np.ones((1, 3)), np.array([[1 / d], [-2 / d], [1 / d]]), np.ones((1, 1))],
        [np.array([-(c - d), -c, -(c + d)]), np.zeros(1), np.zeros(1)],
    )
    zero = targets.from_expr("0*x", (0, 1))
    result = max_error_at(zero, net)
    peak = float(abs(model_mp(net, c)))
    assert result.value >= peak * (1 - 1e-12)
    assert result.value <= result.upper <= 1 + 1e-9
    assert abs(result.x - c) < d


@pytest.mark.parametrize("m", range(1, 13))
def test_sawtooth_square_error_is_exactly_four_to_the_minus_m_minus_one(m):
    net = sawtooth_square(m)
    assert net.sizes == [1] + [4] * m + [1]
    square = targets.from_expr("x**2", (0, 1))
    result = max_error_at(square, net)
    exact = 2.0 ** (-2 * m - 2)
    assert result.value == exact  # attained, computed exactly
    assert exact <= result.upper <= exact * (1 + 1e-9) + 1e-14
    assert result.tight or result.reason == "rounding"  # the rule, or the floats\' rounding


def test_sawtooth_square_is_the_interpolant():
    m = 5
    x = np.linspace(0, 1, 2**m + 1)
    net = sawtooth_square(m)
    np.testing.assert_array_equal(net(x[:, None]).ravel(), x**2)  # exact at the knots
    mid = (x[:-1] + x[1:]) / 2
    np.testing.assert_allclose(
        net(mid[:, None]).ravel(), mid**2 + 2.0 ** (-2 * m - 2), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize(
    ("expr", "domain", "where"),
    [
        ("1/x", (-1, 1.00003), (0.0,)),
        ("log(abs(x - 0.31337))", (0, 1), (0.31337,)),
        ("tan(x)", (0, 2), (math.pi / 2,)),
        ("sqrt(x - 0.5)", (0, 1), (0.0, 0.5)),
        ("log(x)", (0, 1), (0.0,)),
        ("arcsin(2*x)", (0, 1), (0.5, 1.0)),
        ("1/(x - 0.7)**2", (0, 1), (0.7,)),
        ("exp(1/(x - 0.25))", (0, 1), (0.25,)),
    ],
)
def test_targets_without_finite_sup_are_refused_with_their_interval(expr, domain, where):
    with pytest.raises(ValueError, match="no finite supremum") as info:
        targets.from_expr(expr, domain)
    message = str(info.value)
    lo, hi = (float(v) for v in message.rsplit("[", 1)[1].rstrip("]").split(","))
    assert any(lo <= w <= hi or hi - lo >= 0.1 for w in where), message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("expr", "domain"),
    [
        ("sqrt(x)", (0, 1)),
        ("sqrt(1 - x**2)", (-1, 1)),
        ("arcsin(x)", (-1, 1)),
        ("x**1.5", (0, 1)),
        ("abs(x)**0.5", (-1, 1)),
        ("log1p(x)", (-0.5, 1)),
        ("1/(x - 1.0000001)", (0, 1)),
        ("tanh(1e4*x)", (-1, 1)),
    ],
)
def test_finite_targets_touching_a_domain_edge_are_accepted(expr, domain):
    target = targets.from_expr(expr, domain)
    assert target.ball is not None


def test_sqrt_at_zero_is_enclosed():
    target = targets.from_expr("sqrt(x)", (0, 1))
    net = relu_interpolant(target, 9)
    result = max_error_at(target, net)
    # on the first cell [0, h] the chord of sqrt errs by at most √h/4, attained at h/4
    h = 1 / 8
    assert result.value == pytest.approx(math.sqrt(h) / 4, rel=1e-9)
    assert result.upper <= result.value * (1 + 1e-6)


def test_work_cap_gives_a_wider_but_rigorous_enclosure():
    target = targets.from_expr("sin(20*x) + 0.5*exp(-((x - pi/10)/3e-6)**2)", (0, 1))
    net = relu_interpolant(target, 64)
    full = max_error_at(target, net)
    capped = max_error_at(target, net, max_work=100)
    assert full.reason in ("", "rounding") and capped.reason == "work cap"
    assert capped.value <= full.upper and full.value <= capped.upper
    assert capped.upper >= full.upper


@pytest.mark.parametrize(
    ("d", "max_work", "tight"),
    [(16, 2**24, True), (16, 2**10, False), (128, 2**22, True), (128, 2**11, False)],
)
def test_cos_features_past_the_work_cap_stay_rigorous(d, max_work, tight):
    target = targets.get("runge")
    net = random_features(target, d, rng=np.random.default_rng(0))
    result = max_error_at(target, net, max_work=max_work)
    x = np.linspace(-1, 1, 200_001)
    sampled = float(np.max(np.abs(target(x) - net(x[:, None]).ravel())))
    assert (result.reason in ("", "rounding")) == tight
    assert result.upper >= sampled * (1 - 1e-12) >= 0
    if tight:  # the grid's max (in floats: up to the net's rounding) the value must reach
        noise = 16 * 2.0**-53 * float(np.abs(net.weights[1]).sum())
        assert result.value >= sampled * (1 - 1e-9) - noise
    if tight:
        assert result.upper <= result.value * (1 + 1e-9) + 1e-13


def test_taylor_blocks_enclose_the_function_and_its_derivatives():
    target = targets.from_expr("exp(-x**2) * cos(3*x) + 1/(x - 3.5)", (-2, 3))
    f = certified.taylor(target)
    x = np.linspace(-2, 3, 2001)
    idx = f.cell(x)
    for k, exact in enumerate(
        [
            lambda z: mp.exp(-(z**2)) * mp.cos(3 * z) + 1 / (z - 3.5),
            lambda z: mp.diff(lambda t: mp.exp(-(t**2)) * mp.cos(3 * t) + 1 / (t - 3.5), z, 1),
            lambda z: mp.diff(lambda t: mp.exp(-(t**2)) * mp.cos(3 * t) + 1 / (t - 3.5), z, 2) / 2,
        ]
    ):
        value, err = f.at(x, idx, k)
        for i in range(0, x.size, 97):
            truth = float(exact(mp.mpf(float(x[i]))))
            assert abs(value[i] - truth) <= err[i] * (1 + 1e-12) + 1e-300
        assert np.all(err < 1e-12 * (1 + np.abs(value)))


def test_sup_of_second_derivative_is_enclosed():
    exp3000 = targets.from_expr("exp(3000*x)", (-1, 0))
    lo, hi = sup_abs_derivative(certified.taylor(exp3000), 2, exp3000.domain)
    assert lo <= 9e6 <= hi <= 9e6 * (1 + 1e-9)


def test_a_wide_deep_relu_net_is_enclosed_under_the_cap():
    target = targets.get("sin2pi")
    net = MLP([1, 48, 48, 1], rng=np.random.default_rng(5))
    result = max_error_at(target, net)
    x = np.linspace(-1, 1, 100_001)
    sampled = float(np.max(np.abs(target(x) - net(x[:, None]).ravel())))
    assert result.value >= sampled * (1 - 1e-9)
    assert result.upper >= result.value
    assert np.isfinite(l2_error(target, net))


def test_softplus_net_has_a_rigorous_finite_certificate():
    """A softplus net against its own closed form plus 10⁻² sin 7x: the certificate is
    finite and tight around sup |e| = 10⁻², and checked against the 40-digit reference."""
    target = targets.from_expr(
        "0.3*log1p(exp(2*x)) - 0.5*log1p(exp(1 - 3*x)) + 0.8*log1p(exp(0.5 - x)) - 0.1"
        " + 1e-2*sin(7*x)",
        (-1, 1),
    )
    net = MLP.from_params(
        [np.array([[2.0, -3.0, -1.0]]), np.array([[0.3], [-0.5], [0.8]])],
        [np.array([0.0, 1.0, 0.5]), np.array([-0.1])],
        activation="softplus",
    )
    result = check(target, net)
    assert result.reason in ("", "rounding") and math.isfinite(result.upper)
    assert abs(result.value - 1e-2) <= 1e-14 and result.upper - 1e-2 <= 1e-11


def test_a_capped_deep_net_of_a_bounded_activation_keeps_a_rigorous_upper():
    """Past the work cap a tanh net is bounded a priori by its last layer's weights: here
    large ones behind a second layer of small ones, so any other layer's sum falls short."""
    rng = np.random.default_rng(0)
    net = MLP([1, 3, 3, 1], "tanh", rng=rng)
    net.weights[1][:] = 0.01 * rng.standard_normal((3, 3))
    net.biases[1][:] = [0.3, 0.0, 0.0]
    net.weights[2][:] = 100.0
    target = targets.from_expr("0*x", (-1, 1))
    ref = reference(target, net, n=200_000)
    for max_work in (1, 64, 2**22):
        result = max_error_at(target, net, max_work=max_work)
        assert ref <= result.upper, (max_work, result, ref)


@pytest.mark.parametrize(
    "build",
    [
        lambda f: cubic_spline(f, 9),
        lambda f: chebyshev(f, 9),
        lambda f: random_features(f, 16, "fourier", rng=np.random.default_rng(3)),
    ],
)
def test_a_models_range_from_the_middle_of_a_cell_encloses_it(build):
    # the bound a rough target's cells are first tried with: sup |g| from g's expansion
    # at the cell's middle; against a dense sample of the model, exact in Arb at the best
    # point (a lower bound of the sup on the cell)
    from approx.arith.balls import abs_lower
    from approx.certify.adapters import cells_for
    from approx.certify.branch_bound import _local_range
    from approx.certify.taylor import holding

    f = targets.get("runge")
    model = build(f)
    cells = cells_for(model, f.domain, 2**22)
    assert cells is not None
    g = cells.polys
    rng = np.random.default_rng(0)
    for width in (1e-1, 1e-3, 1e-7):
        lo = np.sort(rng.uniform(-0.95, 0.95 - width, 6))
        lo = lo[np.searchsorted(g.edges, lo, "right") == np.searchsorted(g.edges, lo + width)]
        hi = lo + width
        bound = _local_range(g, lo, hi, holding(g, lo))
        for a, b, ub in zip(lo, hi, bound, strict=True):
            xs = np.linspace(a, b, 4001)
            best = float(xs[np.argmax(np.abs(model(xs)))])
            exact = abs_lower(cells.exact(best))  # |g(best)| exactly, rounded down
            assert exact <= ub, (a, b, exact, ub)
            # and close: the expansion's terms past the value are small on a small cell
            assert ub <= exact + 2 * width * 50 + 1e-12, (a, b, exact, ub)
