"""split_lstsq against scipy's truncated SVD: full-rank, rank-deficient and random-feature
designs; determinism; bad shapes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.models.least_squares import split_lstsq


def _residual(design_t: np.ndarray, y: np.ndarray, coef: np.ndarray) -> float:
    return float(np.linalg.norm(coef @ design_t - y))


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 40), st.integers(0, 60))
def test_full_rank_designs_give_the_least_squares_solution(seed: int, m: int, extra: int) -> None:
    rng = np.random.default_rng(seed)
    design = rng.standard_normal((m + extra, m)) * rng.uniform(0.1, 10, m)
    y = rng.standard_normal(m + extra)
    coef = split_lstsq(np.ascontiguousarray(design.T), y, 1e-13)
    exact = sl.lstsq(design, y)[0]
    assert np.allclose(coef, exact, rtol=1e-9, atol=1e-9 * np.abs(exact).max())


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 30), st.floats(1e-10, 1e-3))
def test_nearly_dependent_columns_fit_as_well_as_the_truncated_svd(
    seed: int, m: int, spread: float
) -> None:
    # pairs of columns a spread apart, well above the cut-off (near it, which directions
    # count is a matter of scaling), and two exact duplicates
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((4 * m, m))
    design = np.hstack([base, base + spread * rng.standard_normal((4 * m, m)), base[:, :2]])
    y = rng.standard_normal(4 * m)
    coef = split_lstsq(np.ascontiguousarray(design.T), y, 1e-13)
    svd = sl.lstsq(design, y, cond=1e-13)[0]
    design_t = np.ascontiguousarray(design.T)
    best = _residual(design_t, y, svd)
    assert np.all(np.isfinite(coef))
    # the residuals' own rounding grows with the coefficients (1/spread at most)
    rounding = 1e-13 * (np.abs(coef).sum() + np.abs(svd).sum()) * np.abs(design).max()
    assert _residual(design_t, y, coef) <= best * (1 + 1e-6) + 1e-12 * np.linalg.norm(y) + rounding


def test_random_fourier_features_match_the_truncated_svd_at_the_samples() -> None:
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 512)
    w, b = rng.normal(0, 100, 150), rng.uniform(0, 2 * np.pi, 150)
    design_t = np.vstack([np.cos(np.outer(w, x) + b[:, None]), np.ones(x.size)])
    y = np.exp(np.sin(3 * x))
    coef = split_lstsq(design_t, y, 2e-14)
    svd = sl.lstsq(design_t.T, y, cond=1e-13)[0]
    assert _residual(design_t, y, coef) <= 2 * _residual(design_t, y, svd) + 1e-13
    again = split_lstsq(design_t.copy(), y.copy(), 2e-14)
    assert np.array_equal(coef, again)  # the same inputs, bit for bit


def test_a_wide_design_is_refused() -> None:
    with pytest.raises(ValueError, match="tall design"):
        split_lstsq(np.ones((5, 3)), np.ones(3), 1e-13)
