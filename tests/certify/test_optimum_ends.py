"""The optimum's samples at a singular end (``√(x + 1)`` at ``-1``): cells split where
``f`` sags from its chords far more than elsewhere, a bracket as tight as on smooth
targets, and targets without such an end sampled as before."""

from __future__ import annotations

import numpy as np
import pytest

from approx.analysis.errors import max_error_at
from approx.certify import optimum
from approx.methods import fit
from approx.problems import targets

STEEP = targets.from_expr("sqrt(x + 1)*cos(2*x)", (-1.0, 1.0), name="sqrtend")


def _bracket(target, d):
    result = fit("optimal-pwl", target, d, np.random.default_rng(0))
    return result.info, max_error_at(target, result.model).upper


@pytest.mark.parametrize("name", ["sin2pi", "runge", "exp", "tanh10", "abs15"])
@pytest.mark.parametrize("d", [8, 64, 512])
def test_targets_without_a_singular_end_split_no_cell(name, d, monkeypatch):
    target = targets.get(name)
    s = optimum.samples(target, d)
    monkeypatch.setattr(optimum, "SAG_ROUNDS", 0)
    plain = optimum.samples(target, d)
    np.testing.assert_array_equal(s.x, plain.x)
    np.testing.assert_array_equal(s.curve, plain.curve)


def test_a_piecewise_linear_target_splits_no_cell(monkeypatch):
    # its cells sag by rounding only (the median sag about 0): no split
    target = targets.from_expr("1 - abs(x)", (-1.0, 1.0), name="tent")
    s = optimum.samples(target, 1)
    monkeypatch.setattr(optimum, "SAG_ROUNDS", 0)
    np.testing.assert_array_equal(s.x, optimum.samples(target, 1).x)


def test_cells_at_a_singular_end_are_split_until_their_sag_is_near_the_others():
    s = optimum.samples(STEEP, 64)
    with np.errstate(all="ignore"):
        mid = STEEP(0.5 * (s.x[:-1] + s.x[1:]))
    sag = np.abs(mid - 0.5 * (s.y[:-1] + s.y[1:]))
    assert np.max(sag) <= optimum.SAG_RATIO * np.median(sag)
    # the first cell: √t sags 0.207 √h on [0, h], so h is below 1e-8 here (1.2e-6 before)
    assert s.x[1] - s.x[0] < 1e-8


@pytest.mark.parametrize("d", [64, 256])
def test_the_bracket_is_tight_at_a_singular_end(d):
    # before the split: at d = 256 the path's band stopped at the sag of the first
    # cell (9.5e-5), the net used 100 breakpoints and was 8× above the lower end
    info, upper = _bracket(STEEP, d)
    assert info["lower"] > 0
    assert upper / info["lower"] - 1 <= 2e-2
    assert info["breakpoints"] >= d - 1
