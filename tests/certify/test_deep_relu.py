"""Deep ReLU nets of every depth are certified finite and tight, and soundly: against the
exact supremum (rationals) where the reference can afford it, and against mpmath at the
returned point where it cannot."""

import time
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest

from approx.analysis.errors import max_error_at
from approx.nn import MLP, piecewise
from approx.problems.targets import from_expr

from . import reference as ref


def random_relu(sizes, seed=0, gain=3.0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 1.5 / np.sqrt(m), (m, n)) for m, n in pairwise(sizes)]
    weights[0] *= gain
    biases = [rng.normal(0, 0.5, n) for n in sizes[1:]]
    return MLP.from_params(weights, biases, activation="relu")


@pytest.mark.slow  # the certificate takes 2-4 s of CPU; the mpmath reference ~20 s
def test_depth_5_width_256_is_finite_and_tight():
    text, domain = "sin(6.283185307179586*x)", (-1.0, 1.0)
    target = from_expr(text, domain)
    net = random_relu([1, 256, 256, 256, 256, 256, 1])
    start = time.process_time()
    found = max_error_at(target, net)
    took = time.process_time() - start
    assert np.isfinite(found.upper) and found.tight, found
    assert found.upper - found.value <= 1e-9 * found.value
    assert took < 10
    # value ≤ |e(x)| at the returned x (mpmath at 90 digits, from the stored floats)
    exact, err = ref.error_at(text, net, found.x)
    assert found.value <= exact - err


@pytest.mark.parametrize(
    ("sizes", "text"),
    [
        ([1, 12, 12, 12, 12, 1], "0*x"),
        ([1, 10, 10, 10, 10, 10, 10, 1], "x/3"),
        ([1, 16, 16, 16, 16, 16, 1], "abs(x - 0.25)"),
    ],
)
@pytest.mark.parametrize("floats", [False, True])
def test_value_sup_upper_in_exact_rationals(sizes, text, floats, monkeypatch):
    domain = (-1.0, 1.0)
    if floats:  # the float pieces, whatever the net's size
        monkeypatch.setattr(piecewise, "DEEP_WORK", 0)
    net = random_relu(sizes, seed=len(sizes))
    found = max_error_at(from_expr(text, domain), net)
    sup, _ = ref.exact_pl_sup(text, net, domain)
    assert Fraction(found.value) <= sup <= Fraction(found.upper)
    assert found.tight, found


def test_huge_weights_through_the_float_pieces_do_not_crash(monkeypatch):
    monkeypatch.setattr(piecewise, "DEEP_WORK", 0)
    net = random_relu([1, 8, 8, 8, 1])
    net.weights[1] = net.weights[1] * 1e300
    net.weights[2] = net.weights[2] * 1e300
    found = max_error_at(from_expr("x", (-1.0, 1.0)), net)
    assert not found.tight and found.reason == "non-finite" and found.upper == np.inf
