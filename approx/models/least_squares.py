"""Least squares for wide random features, from closed-form Gram matrices.

ReLU features: :func:`ridge_lstsq` returns the Tikhonov solution
``c = argmin ‖A c - y‖² + λ ‖c‖²`` with ``λ = (τ σ₁)²`` (``σ₁`` the design's largest
singular value, estimated by power iteration: :func:`damping`): the components of ``c``
along the right singular vectors are ``σ_k/(σ_k² + λ) · u_kᵀy``, so directions with
``σ_k ≫ τ σ₁`` are fitted as plain least squares would, and those below ``τ σ₁`` are
damped smoothly
instead of cut off (a truncated SVD's ``1[σ_k > τ σ₁]/σ_k``). The norm ``‖c‖`` is at
most ``‖y‖/(2 τ σ₁)`` by construction, whatever the design; small weights keep the float
evaluation of the net quiet, which is what lets its certificate be tight.

The solution is computed in ``O(d³/3)`` (a Cholesky factorisation of ``G + λ I``,
``G = AᵀA``) and a few ``O(n d)`` steps of iterative refinement against the design
itself (``c ← c + (G + λI)⁻¹ (Aᵀ(y - A c) - λ c)``), so the rounding of ``G`` (about
``u ‖G‖``, below ``λ`` by two orders at ``τ ≥ 1e-7``) slows the refinement but does not
enter the result. For ReLU features on equally spaced samples, :func:`relu_gram` forms
``G`` in ``O(d²)`` from prefix sums of the samples and their squares (each feature is
affine on an index range), instead of the ``n d²`` of a matrix product.

Cos features need directions down to ``1e-13 σ₁`` (smooth targets are fitted to
rounding), out of reach of anything built on ``G`` alone in double precision.
:func:`deflated_lstsq` returns the truncated-SVD solution instead (``1[σ_k > cut σ₁]/σ_k``,
as :func:`scipy.linalg.lstsq` with ``cond=cut``), without an SVD of the whole design:

1. ``R``, the Cholesky factor of ``G + λI`` with ``λ = (τ σ₁)²``, ``τ = 1e-5``
   (:data:`DEFLATE_TAU`; ``G`` from :func:`cos_gram`, in ``O(d²)`` by Dirichlet kernels,
   checked against the design on two random vectors: where they differ by more than a
   hundredth of ``λ``, as on a domain far from 0 for its width, ``G = AᵀA`` instead);
2. ``Q``, an orthonormal basis of about the ``k`` right singular directions with
   ``σ < τ σ₁`` (``k`` estimated by the trace of ``λ(G + λI)⁻¹``, plus a tenth and 32;
   about 750 of 4097 at d = 4096 on 8192 samples, most of them below the cut): two steps
   of inverse iteration with ``G + λI`` from the unit vectors of the smallest pivots of
   ``R`` (the start and the first step in single precision);
3. the truncated SVD of ``A Q`` (the design itself, ``O(n d k)``) with the cut
   ``cut σ₁``, through its Householder QR factorisation (its orthogonal factor kept as
   reflectors): the exact least-squares solution within ``span Q``, its directions
   below the cut left out;
4. :data:`ROUNDS` rounds of two steps ``c ← c + (G + λI)⁻¹ Aᵀ(y - A c)`` (which shrink
   the error along a direction with ``σ ≫ τ σ₁`` by ``λ/(σ² + λ)`` each) and one exact
   solve in ``span Q`` for the residual.

Where ``span Q`` holds the small directions (the inverse iteration shrinks the others
by ``(λ/(σ² + λ))²``), this is the truncated-SVD solution up to rounding; along the
directions at the cut itself, where both are rounding-sensitive, the two differ. Where
``k`` is half the columns or more (wide designs, ``n < d``), and for designs of at most
:data:`PLAIN_UP_TO` columns, it is the plain truncated SVD. The design itself comes from
:func:`cos_design` (angle addition: a tenth of a second at d = 4096 on 8192 samples).
Measured there (one BLAS thread, CPU seconds of the whole
:func:`~approx.models.construct.random_features` call, ``bench_features.py --phases``):
4.5–4.8 s instead of 30 s for the SVD and 8–9 s before the design by angle addition,
the Gram's addition formula and its factorisation in place, the single-precision start
of the inverse iteration and the subspace of about 860 columns instead of 900 (design
0.1, Gram 0.2, Cholesky 0.5, subspace 1.5, ``A Q`` with its QR and SVD and the Lanczos
estimate of ``σ₁`` 2.1, the rounds 0.2; user time 4.3–4.5 s; the first large fit of a
process can take up to 1 s more in the kernel, faulting in fresh memory); 1.0–1.1 s at
d = 2048. The certified max error is within 0.89–1.06 of the SVD's on the built-in
targets (seeds 0 and 1, d = 2048 and 4096), ``‖c‖`` equal to 3 digits (abs15: up to 7 %
larger), but for one certificate: where the error is rounding noise the two nets'
certificates can differ more, and at d = 2048 (seed 1) tanh10's attained error is 0.61×
the SVD's (8.7e-14 against 1.44e-13), but its enclosure stops at its work cap, 3.1e-11
against 1.5e-13 (as before these changes; with 8 times the work it reached 1.44e-13).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sl
from numpy.typing import NDArray
from scipy.linalg import lapack

from approx.core.threads import one_thread

__all__ = ["DEFLATE_TAU", "PLAIN_UP_TO", "REFINE", "ROUNDS", "cos_design", "cos_gram",
           "damping", "deflated_lstsq", "relu_gram", "ridge_lstsq"]

Array = NDArray[np.float64]

#: most refinement steps against the design; it stops earlier once a step changes the
#: solution by less than a rounding unit of its norm
REFINE = 12
#: power iterations for the estimate of the largest eigenvalue of G (the ridge fit)
_POWER = 30
#: Lanczos steps for the deflated fit's estimate of it, on which its cut depends (power
#: iteration converges slowly where the two largest are close: 12 steps were 8 % low on
#: a design of 383 columns whose second eigenvalue was 0.89 of the first, and the cut
#: kept a direction the SVD's dropped, ‖c‖ 12 times the SVD's)
_LANCZOS = 16
#: shifts tried by the Cholesky factorisation (λ, 4λ, …) before giving up (a Gram
#: matrix with non-finite entries)
_RETRIES = 24
#: rows of the Gram matrix formed at once by :func:`relu_gram` and :func:`cos_gram`
#: (bounded memory)
_BLOCK = 256
#: rows of the design of :func:`cos_design` that share one ``α_p`` (its cost: about
#: ``2 (n/P + P) d`` sines and cosines)
_ROWS = 64
#: :func:`cos_gram` forms the Dirichlet kernel from its reduced angle, not by the
#: addition formula, where ``|sin(θ/2)|`` is below this: the formula's rounding error,
#: about ``3 u / sin²(θ/2)``, stays below ``5e-11`` (``u`` the unit roundoff)
_DIRECT = 1 / 256
#: damping of the preconditioner of :func:`deflated_lstsq` relative to ``σ₁``: the
#: directions below about ``τ σ₁`` are fitted in the subspace, those above by the
#: preconditioned steps (which shrink their error by ``λ/(σ² + λ)`` each)
DEFLATE_TAU = 1e-5
#: designs of at most this many columns are fitted by :func:`deflated_lstsq` with the
#: plain truncated SVD: it costs under a second there (0.9 s at 1025 columns on 8192
#: samples), and the deflated fit, whose gain there is small, can differ from it at the
#: rounding level along the directions at the cut (with the fit's first version, its
#: certified error of sin2pi at d = 256 on 8192 samples was 1.6× the SVD's, 0.94–1.17×
#: at d = 512 … 4096 but for one enclosure stopped by its work cap, see the module
#: docstring)
PLAIN_UP_TO = 1024
#: rounds of :func:`deflated_lstsq` (two preconditioned steps and a subspace solve each;
#: a third changed the certified errors at d = 4096 by under 15 %, for 0.1 s)
ROUNDS = 2
#: probes of the estimate of the subspace's dimension, and the share and columns added
#: to it (measured at d = 2048 and 4096 on 8192 samples, with the first inverse step in
#: single precision: a tenth and 32 columns certify as a tenth and 64 did; a tenth and
#: 16 did too, but ‖c‖ of abs15 grew to 1.47× the SVD's at d = 2048; with 16 columns
#: alone the certified error grew up to 2.1× the SVD's, 151× for runge with seed 1)
_PROBES = 32
_SLACK = 1.1
_MARGIN = 32
#: sign vectors on which the closed-form Gram matrix is checked against the design, and
#: the largest gap allowed relative to ``λ ‖v‖`` (measured on 8192 samples at d = 2048:
#: 1e-4 on [-1, 1], 4e-3 on [10, 11], 0.04 on [100, 101], 0.2 on [1000, 1002], where the
#: residual was already 21 times the SVD's, 200 on [10⁶, 10⁶ + 2]); past it the design's
#: own product is the Gram matrix (2.9 s of CPU at d = 4096)
_CHECKS = 2
_AGREE = 1e-2
#: steps of inverse iteration (``(G + λI)⁻¹``) that purify the subspace
_INVERSE = 2
#: the inverse steps after the start ``R⁻¹ E`` done in single precision, as the start is
#: (see :func:`_small_subspace`)
_SINGLE_STEPS = 1


def ridge_lstsq(design: Array, y: Array, tau: float, gram: Array | None = None) -> Array:
    """``argmin ‖design c - y‖² + (τ σ₁)² ‖c‖²`` (see the module docstring).

    Parameters
    ----------
    design : ndarray of shape (n, m)
        The design, finite.
    y : ndarray of shape (n,)
        The right-hand side.
    tau : float
        The damping relative to the largest singular value, ``0 < τ < 1``; at least
        about ``1e-7`` so that ``λ`` stands above the rounding of ``G``.
    gram : ndarray of shape (m, m), optional
        ``designᵀ design`` when the caller has it (it steers the refinement only: the
        residuals are always computed from the design); by default a matrix product.

    Returns
    -------
    ndarray of shape (m,)
        The coefficients. The same inputs give the same result (one BLAS thread).
    """
    with one_thread():
        if gram is None:
            gram = design.T @ design
        lam = damping(gram, tau)
        if not lam > 0:
            return np.zeros(design.shape[1])
        factor = _factor(gram, lam)
        coef = np.zeros(design.shape[1])
        for _ in range(REFINE):
            step = sl.cho_solve(factor, design.T @ (y - design @ coef) - lam * coef,
                                check_finite=False)
            coef = coef + step
            if np.linalg.norm(step) <= 2 * np.finfo(float).eps * np.linalg.norm(coef):
                break
    return coef


def damping(gram: Array, tau: float) -> float:
    """The ``λ`` of :func:`ridge_lstsq`: ``τ² ρ``, with ``ρ`` the power-iteration estimate
    of ``σ₁² = ‖G‖₂`` (a lower bound to a few percent; where ``σ₁ ≈ σ₂`` it converges
    slowly, so this, not ``(τ σ₁)²`` exactly, is the problem solved).

    Parameters
    ----------
    gram : ndarray of shape (m, m)
        ``Gᵀ = G = AᵀA``, positive semi-definite up to rounding.
    tau : float
        The damping relative to the largest singular value.

    Returns
    -------
    float
        ``λ ≥ 0`` (0 for a zero design).
    """
    return tau**2 * _largest_eigenvalue(gram)


def _factor(gram: Array, lam: float) -> tuple[Array, bool]:
    """Cholesky factor of ``gram + μ I`` with ``μ = λ``, or 4λ, 16λ, … where the rounded
    ``gram`` has eigenvalues below ``-λ`` (the refinement still converges to the
    solution for ``λ``, more slowly)."""
    mu = lam
    diagonal = np.diag(gram)
    for _ in range(_RETRIES):
        # (symmetric: its transpose is the same matrix, in LAPACK's order, factored in
        # place without a copy to Fortran order)
        shifted = gram.T.copy(order="F")
        np.fill_diagonal(shifted, diagonal + mu)
        try:
            return sl.cho_factor(shifted, lower=False, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            mu *= 4
    raise np.linalg.LinAlgError("the Gram matrix is not positive semi-definite within rounding")


def _factor_in_place(gram: Array, lam: float) -> tuple[Array, bool]:
    """Cholesky factor of ``gram + λ I``, written over ``gram`` (symmetric: its
    transpose, in LAPACK's order, is factored); raises LinAlgError, ``gram`` then
    overwritten, where it is not positive definite."""
    shifted = gram.T
    shifted.flat[:: gram.shape[0] + 1] += lam
    return sl.cho_factor(shifted, lower=False, overwrite_a=True, check_finite=False)


def _largest_eigenvalue(gram: Array) -> float:
    """The largest eigenvalue of the positive semi-definite ``gram``, by power iteration
    from the all-ones vector (a lower bound, to a few percent)."""
    v = np.ones(gram.shape[0]) / np.sqrt(gram.shape[0])
    value = 0.0
    for _ in range(_POWER):
        u = gram @ v
        value = float(np.linalg.norm(u))
        if not value > 0:
            return 0.0
        v = u / value
    return value


def _top_eigenvalue(gram: Array, steps: int) -> float:
    """The largest eigenvalue of the positive semi-definite ``gram``: the largest Ritz
    value of ``steps`` Lanczos steps from the all-ones vector, with full
    reorthogonalisation (a lower bound; its error shrinks with the steps like a
    Chebyshev polynomial's, much faster than power iteration's where the two largest
    eigenvalues are close)."""
    m = gram.shape[0]
    basis = np.empty((min(steps, m), m))
    v = np.ones(m) / np.sqrt(m)
    diagonal, off = [], []
    for k in range(basis.shape[0]):
        basis[k] = v
        u = gram @ v
        diagonal.append(float(v @ u))
        for _ in range(2):  # (twice is enough: Kahan's rule)
            u -= basis[: k + 1].T @ (basis[: k + 1] @ u)
        norm = float(np.linalg.norm(u))
        if not norm > 1e-14 * max(abs(diagonal[0]), abs(diagonal[-1]), 1e-300):
            break
        off.append(norm)
        v = u / norm
    if not np.all(np.isfinite(diagonal)):
        return 0.0
    k = len(diagonal)
    return float(sl.eigvalsh_tridiagonal(np.array(diagonal), np.array(off[: k - 1]),
                                         select="i", select_range=(k - 1, k - 1),
                                         check_finite=False)[0]) if k > 1 else diagonal[0]


def relu_gram(x: Array, w: Array, b: Array, design: Array | None = None) -> Array:
    """``AᵀA`` of the design ``A = [relu(x wᵀ + b), 1]`` for ``w_i = ±1``, in ``O(d²)``.

    Feature ``i`` is ``w_i x + b_i`` on the samples where that is positive, a range of
    indices (a suffix for ``w_i = 1``, a prefix for ``-1``; found from the rounded
    values themselves), and 0 elsewhere; the product of two is a quadratic in ``x`` on
    the ranges' overlap, summed from prefix sums of ``x`` and ``x²``. The last row and
    column are the constant feature's.

    Parameters
    ----------
    x : ndarray of shape (n,)
        The samples, increasing.
    w, b : ndarray of shape (d,)
        The hidden layer's weights (each ±1) and biases.
    design : ndarray of shape (n, d) or (n, d + 1), optional
        The features' values at ``x`` when the caller has them (their first ``d``
        columns are read, to count where each is positive); by default recomputed.

    Returns
    -------
    ndarray of shape (d + 1, d + 1)
        The Gram matrix, symmetric; within a few rounding units of ``n max x²`` of the
        product of the design with itself.
    """
    n, d = x.size, w.size
    rises = w > 0
    # where the rounded pre-activation is positive: count of samples from either end
    values = np.outer(x, w) + b if design is None else design[:, :d]
    count = np.count_nonzero(values > 0, axis=0)
    lo = np.where(rises, n - count, 0)
    hi = np.where(rises, n, count)
    p0 = np.arange(n + 1, dtype=np.float64)
    p1 = np.concatenate(([0.0], np.cumsum(x)))
    p2 = np.concatenate(([0.0], np.cumsum(x * x)))
    gram = np.empty((d + 1, d + 1))
    for s in range(0, d, _BLOCK):  # the upper triangle's blocks of rows, then mirrored
        rows, cols = slice(s, min(s + _BLOCK, d)), slice(s, d)
        start = np.maximum(lo[rows, None], lo[None, cols])
        stop = np.maximum(np.minimum(hi[rows, None], hi[None, cols]), start)
        s0, s1, s2 = (p[stop] - p[start] for p in (p0, p1, p2))
        wi, bi, wj, bj = w[rows, None], b[rows, None], w[None, cols], b[None, cols]
        gram[rows, cols] = wi * wj * s2 + (wi * bj + wj * bi) * s1 + bi * bj * s0
        gram[cols, rows] = gram[rows, cols].T
    gram[:d, d] = gram[d, :d] = w * (p1[hi] - p1[lo]) + b * (p0[hi] - p0[lo])
    gram[d, d] = float(n)
    return gram


def deflated_lstsq(design: Array, y: Array, cut: float, gram: Array | Callable[[], Array],
                   tau: float = DEFLATE_TAU, plain_up_to: int = PLAIN_UP_TO) -> Array:
    """The truncated-SVD least-squares solution (cut ``cut σ₁``) of a design whose small
    singular directions are few, without an SVD of the design (see the module docstring).

    Parameters
    ----------
    design : ndarray of shape (n, m)
        The design, finite.
    y : ndarray of shape (n,) or (n, p)
        The right-hand side(s).
    cut : float
        The relative cut-off: directions with ``σ ≤ cut σ₁`` are not fitted.
    gram : ndarray of shape (m, m), or a function returning it
        ``designᵀ design`` to a few rounding units (it builds the preconditioner and the
        subspace only: every residual is computed from the design); a function is
        called only where the deflated path runs, not for the plain SVD.
    tau : float
        The ridge damping relative to ``σ₁`` of the preconditioner; the directions
        below about ``τ σ₁`` are fitted in the subspace.
    plain_up_to : int
        Designs of at most this many columns get the plain truncated SVD
        (:func:`scipy.linalg.lstsq`).

    Returns
    -------
    ndarray of shape (m,) or (m, p)
        The coefficients. The same inputs give the same result (one BLAS thread).
    """
    with one_thread():
        if design.shape[1] <= plain_up_to:
            return sl.lstsq(design, y, cond=cut, check_finite=False)[0]
        owned = callable(gram)  # (then the Gram matrix is factored in place)
        if callable(gram):
            gram = gram()
        rho = _top_eigenvalue(gram, _LANCZOS)
        if rho > 0 and not _agrees(design, gram, tau**2 * rho):  # (the design's own)
            gram = None  # (freed before its replacement: the peak memory stays the same)
            gram, owned = design.T @ design, True
            rho = _top_eigenvalue(gram, _LANCZOS)
        if not rho > 0:
            return np.zeros(design.shape[1:2] + y.shape[1:])
        lam = tau**2 * rho
        try:
            factor = _factor_in_place(gram, lam) if owned else _factor(gram, lam)
        except np.linalg.LinAlgError:  # (not positive definite within λ: no shortcut)
            return sl.lstsq(design, y, cond=cut, check_finite=False)[0]
        del gram
        size = _subspace_size(factor, lam)
        if 2 * size >= design.shape[1]:  # most of the space: the plain truncated SVD
            return sl.lstsq(design, y, cond=cut, check_finite=False)[0]
        basis = _small_subspace(factor, size)
        # the SVD of A Q through its QR factorisation (A Q = Q_B R_B, R_B = U S Vᵀ); Q_B
        # is kept as its Householder reflectors (applied to each residual, never formed)
        (reflectors, scales), r = sl.qr(design @ basis, mode="raw", overwrite_a=True,
                                        check_finite=False)
        u, s, vt = sl.svd(r, check_finite=False)
        keep = s > cut * np.sqrt(rho)
        # the subspace's truncated-SVD solve of a residual: r ↦ Q V_k S_k⁻¹ U_kᵀ Q_Bᵀ r
        solve_in = basis @ (vt[keep].T / s[keep])
        project = _Reflected(reflectors, scales, np.ascontiguousarray(u[:, keep].T))
        return _alternate(design, y, factor, solve_in, project)


def _agrees(design: Array, gram: Array, lam: float) -> bool:
    """Whether ``gram`` acts as ``designᵀ design`` on :data:`_CHECKS` fixed random sign
    vectors ``v`` to within :data:`_AGREE` ``λ ‖v‖`` (a check, not a proof).

    A closed-form Gram matrix is that of the exact samples; the design's entries are
    rounded to a few units of ``|w x|``, so on a domain far from 0 for its width the two
    differ by more than ``λ``, where the preconditioned steps no longer converge to the
    design's least-squares solution (on ``[10⁶, 10⁶ + 2]`` at d = 2048: a residual
    4800 times the truncated SVD's)."""
    probes = np.random.default_rng(1).choice(np.array([-1.0, 1.0]),
                                             (design.shape[1], _CHECKS))
    with np.errstate(all="ignore"):
        gap = design.T @ (design @ probes) - gram @ probes
        size = float(np.max(np.linalg.norm(gap, axis=0)))
    return size <= _AGREE * lam * np.sqrt(design.shape[1])


class _Reflected:
    """``r ↦ U_kᵀ (Q_Bᵀ r)[:k]`` with ``Q_B`` given by its Householder reflectors (as
    :func:`scipy.linalg.qr` with ``mode="raw"`` returns them): the residual's
    coordinates along the kept left singular vectors of ``A Q``."""

    def __init__(self, reflectors: Array, scales: Array, u: Array) -> None:
        self.reflectors, self.scales, self.u = reflectors, scales, u
        self.lwork = int(lapack.dormqr("L", "T", reflectors, scales, reflectors[:, :1],
                                       -1)[1][0])

    def __call__(self, residual: Array) -> Array:
        columns = residual.reshape(residual.shape[0], -1)
        rotated = lapack.dormqr("L", "T", self.reflectors, self.scales, columns,
                                max(self.lwork, columns.shape[1]))[0]
        coords = self.u @ rotated[: self.u.shape[1]]
        return coords.reshape(coords.shape[:1] + residual.shape[1:])


def _alternate(design: Array, y: Array, factor: tuple[Array, bool], solve_in: Array,
               project: Callable[[Array], Array]) -> Array:
    """:data:`ROUNDS` rounds of two preconditioned steps on the whole design and one
    exact solve in the subspace, each from the current residual (the last one ends
    the fit; it stops earlier once a round changes the solution by less than
    ``1e-14`` of its norm)."""
    coef = np.zeros(design.shape[1:2] + y.shape[1:])
    for _ in range(ROUNDS):
        before = coef
        for _ in range(2):
            coef = coef + sl.cho_solve(factor, design.T @ (y - design @ coef),
                                       check_finite=False)
        coef = coef + solve_in @ project(y - design @ coef)
        if np.linalg.norm(coef - before) <= 1e-14 * np.linalg.norm(coef):
            break
    return coef


def _subspace_size(factor: tuple[Array, bool], lam: float) -> int:
    """Columns of the deflation subspace: the Hutchinson estimate of the number of
    eigenvalues of ``G`` below ``λ`` (``trace λ (G + λI)⁻¹``, :data:`_PROBES` fixed
    Rademacher probes), plus a tenth and :data:`_MARGIN`."""
    m = factor[0].shape[0]
    probes = np.random.default_rng(0).choice(np.array([-1.0, 1.0]), (m, _PROBES))
    upper = factor[0]  # (the factor is upper triangular: G + λI = RᵀR)
    half = sl.solve_triangular(upper, probes, trans="T", check_finite=False)
    estimate = lam * float(np.mean(np.sum(half * half, axis=0)))
    return min(int(np.ceil(_SLACK * estimate)) + _MARGIN, m)


def _small_subspace(factor: tuple[Array, bool], size: int) -> Array:
    """An orthonormal basis of ``size`` columns near the span of the eigenvectors of
    ``G`` below ``λ``: ``(G + λI)⁻² R⁻¹ E`` with ``E`` the unit vectors of the ``size``
    smallest pivots of the factor ``R`` (columns nearly dependent on the ones before
    them), columns rescaled between steps, then orthonormalised.

    ``R⁻¹ E`` and the first step are solved in single precision (:data:`_SINGLE_STEPS`;
    half the time of a double-precision solve). Their rounding
    (about ``κ(R) u₃₂ ≈ 6e-3`` relative) is that of an inverse with a backward error, so
    it lies mostly along the small directions themselves, and what it adds along the
    others the last step, in double precision, damps as it damps the start's own
    directions above ``τ σ₁``. Measured at d = 2048 and 4096 on 8192 samples (with a
    margin of 32 columns): certified errors within 0.89–1.06 of the SVD's (with the
    first step in double precision and 16 columns: 0.87–1.14); with both steps in single
    precision, 4·10⁴ to 10⁵ times the SVD's."""
    upper = factor[0]
    pivots = np.abs(np.diag(upper))
    chosen = np.sort(np.argsort(pivots, kind="stable")[:size])
    single = upper.astype(np.float32)
    start = np.zeros((upper.shape[0], size), dtype=np.float32, order="F")
    start[chosen, np.arange(size)] = 1.0
    z = sl.solve_triangular(single, start, overwrite_b=True, check_finite=False)
    for step in range(_INVERSE):
        z = z / np.linalg.norm(z, axis=0)
        if step < _SINGLE_STEPS:
            z = sl.cho_solve((single, False), z, overwrite_b=True, check_finite=False)
        else:
            z = sl.cho_solve(factor, z.astype(np.float64), overwrite_b=True,
                             check_finite=False)
    return sl.qr(z, mode="economic", overwrite_a=True, check_finite=False)[0]


def cos_design(domain: tuple[float, float], n: int, w: Array, b: Array) -> Array:
    """The design ``A = [cos(x wᵀ + b), 1]`` on ``n`` equally spaced samples of ``domain``
    (ends included), by the angle-addition formula.

    With ``x_k = a + k h`` and ``k = P p + q`` (``P`` = :data:`_ROWS`),
    ``cos(w x_k + b) = cos α_p cos β_q - sin α_p sin β_q`` for ``α_p = w x_{Pp} + b`` and
    ``β_q = w q h``: ``2 (n/P + P) d`` sines and cosines and three flops an entry instead
    of ``n d`` cosines, written block by block into the result.

    Parameters
    ----------
    domain : (float, float)
        ``(a, b)``, ``a < b``.
    n : int
        Number of samples, ``≥ 2``.
    w, b : ndarray of shape (d,)
        The hidden layer's weights and biases.

    Returns
    -------
    ndarray of shape (n, d + 1)
        The design, C-ordered, its last column ones. An entry differs from the cosine of
        the exact sample's pre-activation by a few rounding units of
        ``|w| max(|a|, |b|) + |b|`` (as the cosine of the rounded ``np.outer(x, w) + b``
        does: the two differ at the ``1e-12`` level for ``|w| ≈ 10⁴``).
    """
    d = w.size
    h = (domain[1] - domain[0]) / (n - 1)
    design = np.empty((n, d + 1))
    design[:, d] = 1.0
    beta = np.multiply.outer(np.arange(min(_ROWS, n)) * h, w)
    cos_beta, sin_beta = np.cos(beta), np.sin(beta)
    scratch = np.empty_like(beta)
    for start in range(0, n, _ROWS):
        rows = min(_ROWS, n - start)
        alpha = w * (domain[0] + start * h) + b
        block = design[start:start + rows, :d]
        np.multiply(cos_beta[:rows], np.cos(alpha), out=block)
        np.multiply(sin_beta[:rows], np.sin(alpha), out=scratch[:rows])
        block -= scratch[:rows]
    return design


def cos_gram(domain: tuple[float, float], n: int, w: Array, b: Array) -> Array:
    """``AᵀA`` of the design ``A = [cos(x wᵀ + b), 1]`` on ``n`` equally spaced samples of
    ``domain`` (ends included), in ``O(d²)``.

    With ``x_k = c + (k - (n-1)/2) h`` (``c`` the domain's centre, ``h`` the spacing),
    ``cos α cos β = (cos(α - β) + cos(α + β))/2`` and each sum over ``k`` is
    ``cos ψ · D_n(θ)``, ``D_n(θ) = sin(nθ/2)/sin(θ/2)`` the Dirichlet kernel, with
    ``θ = (w_i ∓ w_j) h`` and ``ψ = (w_i ∓ w_j) c + b_i ∓ b_j``. The two sines of
    ``D_n`` come from each feature's by the addition formula
    (``sin(u ∓ v) = sin u cos v ∓ cos u sin v``), but where ``|sin(θ/2)| < ``
    :data:`_DIRECT` (there the difference cancels): those entries are computed from
    ``θ`` itself, reduced modulo ``2π``.

    Parameters
    ----------
    domain : (float, float)
        ``(a, b)``, ``a < b``.
    n : int
        Number of samples, ``≥ 2``.
    w, b : ndarray of shape (d,)
        The hidden layer's weights and biases.

    Returns
    -------
    ndarray of shape (d + 1, d + 1)
        The Gram matrix, symmetric, of the exact samples (not of their rounding); within
        about ``1e-12 n`` of the product of the rounded design with itself for
        ``|w| (b - a) ≤ 10⁵``. The last row and column are the constant feature's.
    """
    d = w.size
    h = (domain[1] - domain[0]) / (n - 1)
    alpha = w * (0.5 * (domain[0] + domain[1])) + b
    ca, sa = np.cos(alpha), np.sin(alpha)
    half = 0.5 * h * w
    sines = (np.sin(n * half), np.cos(n * half), np.sin(half), np.cos(half))
    gram = np.empty((d + 1, d + 1))
    for s in range(0, d, _BLOCK):  # the upper triangle's blocks of rows, then mirrored
        rows, cols = slice(s, min(s + _BLOCK, d)), slice(s, d)
        cc = ca[rows, None] * ca[None, cols]
        ss = sa[rows, None] * sa[None, cols]
        minus, plus = _dirichlet_pair(w, h, n, sines, rows, cols)
        gram[rows, cols] = 0.5 * ((cc + ss) * minus + (cc - ss) * plus)
        gram[cols, rows] = gram[rows, cols].T
    gram[:d, d] = gram[d, :d] = ca * _dirichlet(w * h, n)
    gram[d, d] = float(n)
    return gram


def _dirichlet_pair(w: Array, h: float, n: int, sines: tuple[Array, ...], rows: slice,
                    cols: slice) -> tuple[Array, Array]:
    """``D_n((w_i - w_j) h)`` and ``D_n((w_i + w_j) h)`` for ``i`` in ``rows``, ``j`` in
    ``cols``, from the features' ``sin(n w h/2), cos(n w h/2), sin(w h/2), cos(w h/2)``
    (``sines``), the entries with a small denominator from :func:`_dirichlet`."""
    big_s, big_c, small_s, small_c = sines
    big = (big_s[rows, None] * big_c[None, cols], big_c[rows, None] * big_s[None, cols])
    small = (small_s[rows, None] * small_c[None, cols], small_c[rows, None] * small_s[None, cols])
    result = []
    for sign in (-1.0, 1.0):
        denominator = small[0] + sign * small[1]
        close = np.abs(denominator) < _DIRECT
        np.copyto(denominator, 1.0, where=close)
        value = np.add(big[0], sign * big[1])
        value /= denominator
        i, j = np.nonzero(close)
        value[i, j] = _dirichlet((w[rows][i] + sign * w[cols][j]) * h, n)
        result.append(value)
    return result[0], result[1]


def _dirichlet(theta: Array, n: int) -> Array:
    """``Σ_k cos((k - (n-1)/2) θ) = sin(nθ/2)/sin(θ/2)`` (``n`` at ``θ = 0``), with ``θ``
    reduced modulo ``2π`` first (a shift by ``2π m`` multiplies the sum by
    ``(-1)^{m(n-1)}``)."""
    turns = np.round(theta / (2 * np.pi))
    half = 0.5 * (theta - 2 * np.pi * turns)
    den = np.sin(half)
    value = np.sin(n * half) / np.where(den == 0, 1.0, den)
    value = np.where(den == 0, float(n), value)
    if n % 2 == 0:
        value = np.where(turns % 2 != 0, -value, value)
    return value
