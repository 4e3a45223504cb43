"""The reference checks itself: its fast exact breakpoints of a ReLU net (integer
arithmetic on the stored floats' mantissas) against the slow exact ones (rational values
at every breakpoint), on nets with ties, zeros, huge and tiny weights."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

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
