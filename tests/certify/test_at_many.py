"""``LocalPolys.at_many``: the orders of a branch-and-bound step in one pass.

It must give exactly :meth:`LocalPolys.at`'s numbers (bit for bit: the enclosure's
results do not change), and those must enclose the exact value, checked here in
rationals (:class:`fractions.Fraction`) independently of the package's arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.analysis.errors import max_error_at
from approx.certify import taylor
from approx.certify.branch_bound import bounded_search
from approx.certify.taylor import LocalPolys, from_coefficients
from approx.models import construct
from approx.problems.targets import from_expr

from . import reference as ref

#: coefficients from subnormal to huge, zeros and both signs
COEF = st.one_of(
    st.just(0.0),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.floats(min_value=5e-324, max_value=1e-300).map(float),
    st.floats(min_value=1e250, max_value=1e300),
    st.floats(-1e-290, 1e-290, allow_nan=False),
)


@st.composite
def polys_and_points(draw: st.DrawFn) -> tuple[LocalPolys, np.ndarray, np.ndarray, np.ndarray]:
    """A LocalPolys of 1-4 cells (degree 1-12, radii, remainders, rough cells, slack) on
    a domain from one float wide to huge, and points of its cells with an order each."""
    cells = draw(st.integers(1, 4))
    n = draw(st.integers(1, 12))
    left = draw(st.floats(-1e6, 1e6, allow_nan=False))
    width = draw(st.sampled_from([0.0, 1e-300, 1e-12, 1.0, 1e3]))
    edges = left + width * np.arange(cells + 1) / cells
    if width == 0.0 or np.any(np.diff(edges) <= 0):  # one float (or a few) wide
        edges = left + np.arange(cells + 1) * math.ulp(left or 1.0)
    coef = np.array(draw(st.lists(COEF, min_size=cells * n, max_size=cells * n))).reshape(cells, n)
    rad = np.abs(coef) * draw(st.sampled_from([0.0, 1e-16, 1.0]))
    centre = (edges[:-1] + edges[1:]) / 2
    p = from_coefficients(edges, centre, coef, rad)
    p.rem = np.array(draw(st.lists(st.sampled_from([0.0, 1e-30, 1.0, 1e300]),
                                   min_size=cells, max_size=cells)))
    p.rough = np.array(draw(st.lists(st.booleans(), min_size=cells, max_size=cells)))
    m = draw(st.integers(1, 12))
    idx = np.array(draw(st.lists(st.integers(0, cells - 1), min_size=m, max_size=m)))
    t = np.array(draw(st.lists(st.floats(0, 1), min_size=m, max_size=m)))
    x = np.clip(edges[idx] + t * (edges[idx + 1] - edges[idx]), edges[idx], edges[idx + 1])
    orders = np.array(draw(st.lists(st.integers(0, n + 1), min_size=m, max_size=m)))
    return p, x, idx.astype(np.intp), orders


@settings(max_examples=150, deadline=None)
@given(polys_and_points())
def test_at_many_is_at_bit_for_bit(case: tuple) -> None:
    p, x, idx, orders = case
    value, error = p.at_many(x, idx, orders)
    saved, taylor.AT_CHUNK = taylor.AT_CHUNK, 2  # in chunks: the same numbers
    try:
        assert all(np.array_equal(u, v, equal_nan=True)
                   for u, v in zip((value, error), p.at_many(x, idx, orders), strict=True))
    finally:
        taylor.AT_CHUNK = saved
    for j in range(x.size):
        v, e = p.at(x[j : j + 1], idx[j : j + 1], int(orders[j]))
        assert np.array_equal(value[j : j + 1], v, equal_nan=True)
        assert np.array_equal(error[j : j + 1], e, equal_nan=True)


def _exact(coef: np.ndarray, centre: float, x: float, k: int) -> Fraction:
    """``p^(k)(x)/k!`` of ``Σ_j coef[j] (x - centre)^j`` in rationals."""
    h = Fraction(x) - Fraction(centre)
    return sum((math.comb(j, k) * Fraction(float(c)) * h ** (j - k)
                for j, c in enumerate(coef) if j >= k), Fraction(0))


@settings(max_examples=150, deadline=None)
@given(polys_and_points())
def test_at_many_encloses_the_exact_value(case: tuple) -> None:
    p, x, idx, orders = case
    p.rad[:], p.rem[:], p.rough[:] = 0.0, 0.0, False  # exact polynomials
    p._shifted.clear()
    value, error = p.at_many(x, idx, orders)
    for j in range(x.size):
        if not (math.isfinite(value[j]) and math.isfinite(error[j])):
            continue  # an infinite bound says nothing, never something wrong
        exact = _exact(p.coef[idx[j]], float(p.centre[idx[j]]), float(x[j]), int(orders[j]))
        assert abs(Fraction(float(value[j])) - exact) <= Fraction(float(error[j]))


@pytest.mark.parametrize(("text", "a"), [
    ("sin(x)", 1.0), ("exp(3*x)", -3.0), ("abs(x - 1)", 1.0), ("sin(x)", 1e300),
    ("x*x", -7.0),
])
def test_a_few_floats_wide_domain_is_enclosed(text: str, a: float) -> None:
    """Constructions on domains two and five floats wide: ``value ≤ sup ≤ upper`` against
    the independent mpmath reference."""
    for floats in (1, 4):
        b = a
        for _ in range(floats):
            b = math.nextafter(b, math.inf)
        target = from_expr(text, (a, b), "t")
        net = construct.relu_interpolant(target, 2)
        worst = max_error_at(target, net)
        truth = ref.reference_sup(text, net, (a, b), extra=(worst.x,))
        assert worst.value <= truth.value + truth.err
        assert truth.value - truth.err <= worst.upper


FUNCS = [
    lambda x: -abs(math.sin(7 * x) + 0.3 * x),
    lambda x: (x - 0.3) ** 2,
    lambda x: -abs(math.cos(40 * x) * math.exp(x)),
    lambda x: abs(x),
    lambda x: 1.0,
    lambda x: float("nan") if x > 0.5 else -x,
    lambda x: -abs(x * (1 - x)) + 1e-17 * math.sin(1e6 * x),
]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(range(len(FUNCS))),
    st.floats(-10, 10),
    st.floats(0, 10),
    st.sampled_from([1e-5, 1e-12, 4 * 2.0**-53, 1e-300]),
)
def test_bounded_search_is_scipys(which: int, x1: float, width: float, xatol: float) -> None:
    """Brent's bounded search gives scipy's minimize_scalar(method="bounded") result,
    bit for bit (the polish of the enclosure's best point keeps its old numbers)."""
    from scipy.optimize import minimize_scalar

    func, x2 = FUNCS[which], x1 + width
    ours = bounded_search(func, x1, x2, xatol)
    theirs = minimize_scalar(func, bounds=(x1, x2), method="bounded",
                             options={"xatol": xatol}).x
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))


@settings(max_examples=150, deadline=None)
@given(polys_and_points())
def test_the_compiled_pass_is_the_numpy_pass_bit_for_bit(case: tuple) -> None:
    """:mod:`approx.certify._horner_numba` (used once numba is loaded) gives the numpy
    form's values and bounds exactly, signs of zeros included (``at_many`` and ``bound``
    at every order)."""
    pytest.importorskip("numba")
    p, x, idx, orders = case
    compiled = taylor._kernel()
    assert compiled is not None
    ours = tuple(compiled(x.astype(np.float64), idx, orders.astype(np.intp), *p._kernel_arrays(),
                    taylor._binomials(p.n)))
    saved = taylor._compiled
    taylor._compiled = lambda: None  # the numpy form
    try:
        theirs = tuple(p.at_many(x, idx, orders))
    finally:
        taylor._compiled = saved
    lo = p.edges[idx]  # [lo, x] within each point's cell
    for k in range(p.n + 2):
        ours += (taylor._bound_kernel()(lo, x.astype(np.float64), idx, k, *p._kernel_arrays(),
                                        taylor._binomials(p.n)),)
        theirs += (_numpy_bound(p, lo, x, idx, k),)
    for u, v in zip(ours, theirs, strict=True):
        assert np.array_equal(u, v, equal_nan=True)
        assert np.array_equal(np.signbit(u), np.signbit(v))


def _numpy_bound(p: LocalPolys, lo: np.ndarray, hi: np.ndarray, idx: np.ndarray,
                 k: int) -> np.ndarray:
    saved = taylor._compiled
    taylor._compiled = lambda: None  # the numpy form
    try:
        return p.bound(lo, hi, idx, k)
    finally:
        taylor._compiled = saved


def test_a_first_product_that_underflows_is_in_the_bound():
    # found by the hypothesis test above: c2 (x - centre)² with c2 = 2.2e-313 at
    # h = -1.1e-16 underflows to 0 in the first step of Horner's scheme, whose factor
    # the underflow test never saw: value 0 with bound 0, the exact value 2.7e-345
    edges = np.array([0.0, 2.0**-52])
    p = from_coefficients(edges, np.array([2.0**-53]), np.array([[0.0, 0.0, 2.22507386e-313]]))
    x, idx = np.array([0.0]), np.array([0], dtype=np.intp)
    exact = _exact(p.coef[0], float(p.centre[0]), 0.0, 0)
    assert exact > 0
    for value, error in (p.at(x, idx, 0), p.at_many(x, idx, np.array([0]))):
        assert abs(Fraction(float(value[0])) - exact) <= Fraction(float(error[0]))
