"""Least squares for tall, numerically rank-deficient designs in about one Gram product.

:func:`split_lstsq` solves ``min ‖A x - y‖`` for an ``n × m`` design ``A`` (``n ≥ m``)
whose columns are nearly dependent, as random features are (many cos features of
nearby frequencies, ReLU features whose breakpoints share a gap between samples),
keeping the directions whose singular values lie above a cut-off and dropping those
below, as a truncated SVD does, at the cost of one Gram product (``n m²`` operations)
and an ``m³/3`` factorisation instead of the SVD's several ``n m²``:

1. ``G = AᵀA`` (BLAS ``syrk``), its columns scaled to unit norm;
2. a pivoted Cholesky factorisation of ``G`` (LAPACK ``pstrf``) stopped where the
   remaining columns' norms, after projection on the span of the chosen ones, fall
   below ``√τ`` (:data:`TAU`): the chosen columns ``S`` are well conditioned, the rest
   ``N`` are within ``√τ`` of their span;
3. the least squares on ``S`` by the semi-normal equations ``RᵀR x = A_Sᵀ y`` with
   :data:`REFINE` steps of refinement on the residual computed from ``A`` (Björck's
   corrected semi-normal equations: accurate as long as ``κ(A_S)² u < 1``);
4. the part of ``A_N`` outside the span of ``A_S``, ``B = (I - P_S) A_N``, is small but
   not nil: its leading directions carry what a truncated SVD keeps below ``√τ``. Its
   range is found by a randomized range finder (Halko, Martinsson and Tropp 2011):
   ``B Ω`` for a Gaussian ``Ω`` of a fixed seed, projected off ``span(A_S)`` twice,
   orthonormalised to ``Q``; the SVD of the small ``QᵀB`` then gives ``x_N``, keeping the
   singular values above ``cut · σ̂`` (``σ̂`` an estimate of the scaled design's largest
   singular value by power iteration); where the sketch fills up with kept directions,
   all of ``B`` is taken instead;
5. ``x_S`` solved again against ``y - A_N x_N``.

**Limitation.** Without power iterations, a sketch of ``k`` columns under-estimates the
smaller of ``B``'s leading singular values where they decay slowly, so it may keep fewer
directions than a truncated SVD would and still look roomy: random Fourier features
fitted to sin2pi at d = 4096 keep 42 directions of a 63-column sketch (certified ε
1.1e-12, the SVD's 4.5e-13), where all of ``B`` keeps more than 127 (ε 3.3e-13, at about
three times the cost).

This is not the minimum-norm solution: the components on ``S`` are whatever fits
best, the components on ``N`` the minimum-norm solution of the reduced problem. The
fit at the samples matches the truncated SVD's to within the cut-off (measured on
random features: ``benchmarks/bench_features.py --solvers``). The operations run in a
fixed order on one BLAS thread: the same inputs give the same result.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
from numpy.typing import NDArray

from approx.core.threads import one_thread

__all__ = ["REFINE", "TAU", "split_lstsq"]

Array = NDArray[np.float64]

#: stopping tolerance of the pivoted Cholesky factorisation on the unit-scaled Gram
#: matrix: columns whose squared norm off the chosen ones' span is below it go to the
#: reduced problem (step 4). Smaller keeps more columns in the semi-normal equations
#: (whose refinement needs ``κ(A_S)² u < 1``), larger leaves more to the sketch
TAU = 1e-8
#: refinement steps of the corrected semi-normal equations (each ``4 n |S|`` operations)
REFINE = 4
#: projections of the sketch off ``span(A_S)`` (twice is enough, as for Gram-Schmidt)
_PROJECT = 2
#: power iterations for the estimate of the largest singular value (a lower bound)
_POWER = 12
#: the sketch's columns beyond a sixteenth of the reduced problem's, and the margin (half
#: of it) that must stay free of kept directions, else all of ``B`` is taken
_SKETCH = 16
#: the sketch's seed: the solution is a deterministic function of the inputs
_SEED = 20


def split_lstsq(
    design_t: Array, y: Array, cut: float, gram: Array | None = None, tau: float = TAU
) -> Array:
    """Least-squares coefficients for ``design_t.T @ x ≈ y`` (see the module docstring).

    Parameters
    ----------
    design_t : ndarray
        The design transposed, shape ``(m, n)`` with ``m ≤ n``, C-contiguous (each
        column of the design a contiguous row); finite.
    y : ndarray
        The right-hand side, shape ``(n,)``.
    cut : float
        Relative cut-off: directions of the reduced problem whose singular values are
        below ``cut`` times the scaled design's largest are dropped.
    gram : ndarray, optional
        ``design_t @ design_t.T`` (its upper triangle is read, and overwritten), when
        the caller has it; by default computed (BLAS ``syrk``). It steers
        the factorisation only: residuals are always computed from the design, so an
        error of ``δ`` relative to its diagonal slows the refinement by a factor about
        ``δ / τ`` per step.
    tau : float
        The pivoted Cholesky factorisation's stopping tolerance (:data:`TAU`): smaller
        puts more columns in the semi-normal equations (faster where the design's
        singular values decay gradually, as ReLU features' do; their refinement
        converges while ``κ(A_S)² u < 1``).

    Returns
    -------
    ndarray
        The coefficients, shape ``(m,)``.
    """
    m, n = design_t.shape
    if m > n:
        raise ValueError(f"split_lstsq takes a tall design (m ≤ n), got m = {m}, n = {n}")
    with one_thread():
        if gram is None:
            gram = sl.blas.dsyrk(1.0, design_t, trans=0, lower=0)
        scale = np.sqrt(np.maximum(np.diag(gram), 0.0))
        scale[scale == 0] = 1.0
        gram /= scale[:, None]
        gram /= scale[None, :]
        top = _largest_singular_value(gram)
        factor, piv, rank, _ = sl.lapack.dpstrf(gram, tol=tau, lower=0, overwrite_a=1)
        del gram
        chosen, rest = piv[:rank] - 1, piv[rank:] - 1
        solver = _SemiNormal(np.triu(factor[:rank, :rank]), design_t, chosen, scale)
        del factor
        coef = np.zeros(m)
        if rest.size:
            a_n = design_t[rest] / scale[rest, None]
            x_n = _reduced(solver, a_n, y, cut * top)
            coef[rest] = x_n / scale[rest]
            y = y - x_n @ a_n
        coef[chosen] = solver.fit(y) / scale[chosen]
    return coef


def _largest_singular_value(gram: Array) -> float:
    """``√λ_max`` of the symmetric ``gram`` (upper triangle stored), by power iteration
    from the all-ones vector: a lower bound, within a few percent."""
    v = np.ones(gram.shape[0]) / np.sqrt(gram.shape[0])
    value = 0.0
    for _ in range(_POWER):
        u = sl.blas.dsymv(1.0, gram, v, lower=0)
        value = float(np.linalg.norm(u))
        if value == 0:
            return 0.0
        v = u / value
    return float(np.sqrt(value))


class _SemiNormal:
    """Least squares on well-conditioned columns (``chosen``, scaled by ``scale``) of
    the design: ``RᵀR = A_SᵀA_S`` from the Cholesky factor, refined on the residual
    computed from the design itself (whole rows, no copy of the chosen ones)."""

    def __init__(self, r: Array, design_t: Array, chosen: NDArray[np.intp], scale: Array) -> None:
        self.r = r
        self.design_t = design_t
        self.chosen = chosen
        self.scale = scale[chosen]

    def solve(self, rhs: Array) -> Array:
        """``(RᵀR)⁻¹ rhs`` (one or several columns)."""
        half = sl.solve_triangular(self.r, rhs, trans=1, check_finite=False)
        return sl.solve_triangular(self.r, half, check_finite=False)

    def inner(self, v: Array) -> Array:
        """``A_Sᵀ v`` for ``v`` of shape (n,) or (n, k)."""
        full = self.design_t @ v
        return full[self.chosen] / (self.scale if v.ndim == 1 else self.scale[:, None])

    def times(self, x: Array) -> Array:
        """``A_S x`` for ``x`` of shape (|S|,), or ``x A_Sᵀ`` rows for shape (k, |S|)."""
        full = np.zeros((*x.shape[:-1], self.design_t.shape[0]))
        full[..., self.chosen] = x / self.scale
        return full @ self.design_t

    def fit(self, y: Array) -> Array:
        """``argmin ‖A_S x - y‖`` by the corrected semi-normal equations."""
        x = self.solve(self.inner(y))
        for _ in range(REFINE):
            x = x + self.solve(self.inner(y - self.times(x)))
        return x

    def project(self, rows: Array, passes: int = _PROJECT) -> Array:
        """``rows`` (k, n) with their components in ``span(A_S)`` removed."""
        for _ in range(passes):
            rows = rows - self.times(self.solve(self.inner(rows.T)).T)
        return rows


def _reduced(solver: _SemiNormal, a_n: Array, y: Array, floor: float) -> Array:
    """``x_N``: the truncated minimum-norm solution of ``B x_N ≈ (I - P_S) y`` with
    ``B = (I - P_S) A_N``, from a randomized range finder of ``B`` (rows of ``a_n`` are
    the columns of ``A_N``); singular values of ``B`` at or below ``floor`` dropped.
    ``Q`` is orthogonal to ``span(A_S)``, so ``Qᵀ (I - P_S) y = Qᵀ y``."""
    count = a_n.shape[0]
    k = min(count, _SKETCH + count // 16)
    rng = np.random.default_rng(_SEED)
    omega = rng.standard_normal((count, count))  # drawn once: the same columns as k grows
    while True:
        q = solver.project(omega[:, :k].T @ a_n, 1)  # rows: B Ω, off span(A_S)
        q = solver.project(np.linalg.qr(q.T)[0].T)
        h = q @ a_n.T  # QᵀB (Q ⟂ span(A_S))
        u, s, vt = np.linalg.svd(h, full_matrices=False)
        keep = s > floor
        if k == count or keep.sum() <= k - _SKETCH // 2:
            break
        k = count  # the sketch is full: B itself (a second sketch would cost as much)
    g = u[:, keep].T @ (q @ y)
    return vt[keep].T @ (g / s[keep])
