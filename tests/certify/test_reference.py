"""The reference checks itself: its fast exact breakpoints of a ReLU net (integer
arithmetic on the stored floats' mantissas) against the slow exact ones (rational values
at every breakpoint), on nets with ties, zeros, huge and tiny weights; its search through
the exact piecewise-linear net against the search through the net in mpmath; and a
wrong breakpoint or wrong values are caught. (The net is built with the package's
:class:`~approx.nn.MLP`; the reference reads only its stored arrays.)"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from mpmath import mp, mpf

from approx.nn import MLP

from . import reference as ref

U = 2.0**-52


def _random_net(
    sizes: list[int], seed: int, scale: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """He-like weights and biases of a net of the given layer sizes."""
    rng = np.random.default_rng(seed)
    weights = [scale * rng.normal(0, 1.5 / np.sqrt(m), (m, n)) for m, n in pairwise(sizes)]
    biases = [rng.normal(0, 0.5, n) for n in sizes[1:]]
    return weights, biases


def _same(weights: list[np.ndarray], biases: list[np.ndarray], domain: tuple[float, float]):
    """Both constructions give the same breakpoints and the same values, exactly."""
    fast = ref.relu_pl(weights, biases, domain)
    slow = ref.relu_pl_by_values(weights, biases, domain)
    assert fast.x == slow.x
    assert fast.y == slow.y
    return fast


@pytest.mark.parametrize(
    "sizes", [[1, 1], [1, 5, 1], [1, 8, 8, 1], [1, 6, 6, 6, 1], [1, 4, 4, 4, 4, 4, 1]]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("domain", [(-1.0, 1.0), (0.25, 3.0), (-7.0, -6.5)])
def test_random_nets_give_the_same_exact_pl(sizes, seed, domain):
    _same(*_random_net(sizes, seed, scale=3.0), domain)


def test_ties_zeros_and_a_kink_on_a_kink():
    # units 0 and 1 break at the same x = 1/4, unit 2 is identically 0; in the second
    # layer unit 0 touches 0 at x = 1/4 without a change of sign and unit 1 changes sign
    # exactly there (at a breakpoint, not inside a piece); one output weight is 0
    w0 = np.array([[4.0, 4.0, 0.0, -2.0]])
    b0 = np.array([-1.0, -1.0, 0.0, 0.5])
    w1 = np.array([[1.0, 0.5], [1.0, 0.0], [3.0, 1.0], [1.0, -1.0]])
    b1 = np.zeros(2)
    w2 = np.array([[1.0], [0.0]])
    pl = _same([w0, w1, w2], [b0, b1, np.zeros(1)], (-1.0, 1.0))
    assert len(pl.x) == len(set(pl.x))


def test_a_three_float_domain():
    # the first row of issue 15: kinks at 1 + u, 1 + 2u and 1 + 20u/7
    net = [np.array([[1.0, 1.0, 7.0]]), np.array([[0.0], [0.0], [1.0 / U]])]
    biases = [np.array([-(1 + U), -(1 + 2 * U), -(7 + 20 * U)]), np.zeros(1)]
    pl = _same(net, biases, (1.0, 1 + 3 * U))
    assert len(pl.x) == 5


def test_huge_and_tiny_weights():
    # the fuzzer's net: weights from 1e-300 to 1e300 (integers of thousands of bits)
    weights = [
        np.array([[1e300, -3.0, 1e-300, 2.5, -1e-300]]),
        np.array([[805968.0278520745], [1e300], [1e-300], [-1e300], [1e-300]]),
    ]
    biases = [
        np.array([-419914.69491084956, -7.80937663607018, 32074.06016767875,
                  1.281798572591295e-133, -1e300]),
        np.array([1e-300]),
    ]
    _same(weights, biases, (-1.0, 1.0))
    _same(weights, biases, (1e15, 1e15 + 1.0))


def test_a_net_without_biases():
    weights, _ = _random_net([1, 7, 7, 1], 5)
    _same(weights, [np.zeros(7), np.zeros(7), np.zeros(1)], (-2.0, 3.0))


# --- a wrong PL is caught ------------------------------------------------------------------


def _relu_mlp(sizes: list[int], seed: int) -> MLP:
    return MLP.from_params(*_random_net(sizes, seed, scale=3.0), activation="relu")


def test_an_mpf_is_read_exactly():
    assert ref.mpf_fraction(mpf(0)) == 0
    assert ref.mpf_fraction(mpf(-0.75)) == Fraction(-3, 4)
    assert ref.mpf_fraction(-mpf(3) * 2**70) == -3 * 2**70
    with mp.workdps(50):
        for x in (mpf("0.1"), -mpf(1) / 3, mpf(10) ** 300, -mpf(10) ** -300):
            q = ref.mpf_fraction(x)
            with mp.workprec(q.numerator.bit_length() + q.denominator.bit_length() + 8):
                assert mpf(q.numerator) / q.denominator == x  # both exact at this precision
            assert q.denominator & (q.denominator - 1) == 0  # a power of two


def test_check_pl_accepts_the_net_and_catches_a_moved_breakpoint():
    net, domain = _relu_mlp([1, 8, 8, 1], 3), (-1.0, 1.0)
    pl = ref.relu_net_pl(net, domain)
    assert pl is not None and len(pl.x) > 4
    with mp.workdps(ref.DPS):
        points = [mpf(p.numerator) / p.denominator for p in pl.x]
        points += [(u + v) / 2 for u, v in pairwise(points)]
    for x in points:
        ref.check_pl(pl, net, x)
    # the third breakpoint a third of the way to the fourth, its value kept
    i = 2
    moved = ref.PL(list(pl.x), list(pl.y))
    moved.x[i] += (pl.x[i + 1] - pl.x[i]) / 3
    with mp.workdps(ref.DPS):
        between = mpf(moved.x[i].numerator) / moved.x[i].denominator
    with pytest.raises(AssertionError, match="exact PL"):
        ref.check_pl(moved, net, between)
    with pytest.raises(AssertionError, match="exact PL"):
        ref.check_pl(moved, net, (points[i] + points[i + 1]) / 2)


def test_reference_sup_catches_wrong_model_values(monkeypatch):
    text, domain = "sin(5*x)*exp(-x**2)", (-1.0, 1.0)
    net = _relu_mlp([1, 16, 16, 1], 4)
    right = ref.reference_sup(text, net, domain, budget=40_000)
    # the ReLU net's exact PL agrees with the mpmath net: the same best value as the
    # search through the mpmath net (the PL's breakpoints as candidates in both)
    monkeypatch.setattr(ref, "relu_net_pl", lambda model, domain: None)
    monkeypatch.setattr(ref, "model_breakpoints", lambda model, domain: right_pl.x)
    right_pl = ref.relu_pl(*ref.net_arrays(net)[:2], domain)
    slow = ref.reference_sup(text, net, domain, budget=40_000)
    assert abs(slow.value - right.value) <= slow.err + right.err
    monkeypatch.undo()
    # every value of the PL off by 1e-30: the check at the best point fails
    good = ref.relu_pl

    def off(weights, biases, domain):
        pl = good(weights, biases, domain)
        return ref.PL(pl.x, [y + Fraction(1, 10**30) for y in pl.y])

    monkeypatch.setattr(ref, "relu_pl", off)
    with pytest.raises(AssertionError, match="exact PL"):
        ref.reference_sup(text, net, domain, budget=40_000)


def test_the_exact_pl_keeps_what_the_net_in_mpmath_loses():
    # relu(relu(x) + 1e300 * relu(1) - 1e300) is relu(x): the net in mpmath loses relu(x)
    # against 1e300 at 50 and at 90 digits alike (a fuzzer's net did this at 6e587)
    net = MLP.from_params(
        [[[1.0, 0.0]], [[1.0], [1e300]], [[1.0]]], [[0.0, 1.0], [-1e300], [0.0]],
        activation="relu",
    )
    text, domain = "0*x", (-1.0, 1.0)
    pl = ref.relu_net_pl(net, domain)
    assert pl is not None and pl.x == [-1, 0, 1] and pl.y == [0, 0, 1]
    g = ref.model_mp(net)
    for dps in (ref.DPS, ref.CHECK_DPS):
        with mp.workdps(dps):
            assert g(mpf("0.75")) == 0  # wrong: the net is 0.75 there
    ref.check_pl(pl, net, mpf("0.75"))
    value, err = ref.error_at(text, net, 0.75)
    assert value == 0.75 and err < 1e-44  # f's own bound: a unit of the 45th digit
    best = ref.reference_sup(text, net, domain)
    assert best.value == 1 and best.err < 1e-40
    assert ref.exact_pl_sup(text, net, domain) == (1, 1)
