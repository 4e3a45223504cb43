"""Exact constructions: the lecture's ±ReLU interpolant, random features, Yarotsky's net.

:func:`relu_interpolant` writes the piecewise-linear interpolant of ``f`` at ``d`` knots
as ``f̂(x) = Σ_{i=1..d} s_i max{0, w_i x + b_i}`` with ``s_i = ±1`` (lecture 2.3,
universal approximation); :func:`random_features` fixes a random hidden layer (cos or
ReLU features, lecture 1.4) and fits only the output layer by least squares;
:func:`sawtooth_square` is the first deep construction (lecture 2.4's question, why go
deeper): ``x²`` on ``[0, 1]`` to ``4^{-m-1}`` with ``m`` layers of width 4, where one
hidden layer needs ``2^m`` units.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.nn import ACTIVATIONS, MLP
from approx.problems.targets import Target, check_target

__all__ = [
    "FEATURES",
    "KNOTS",
    "adaptive_knots",
    "random_features",
    "relu_interpolant",
    "sawtooth_square",
    "uniform_knots",
]

Array = NDArray[np.float64]

#: density floor of adaptive knots, as a fraction of the mean of √|f''|: regions where
#: f is nearly linear still get at least this share of the knots per unit length
ADAPTIVE_FLOOR = 0.05
#: sub-cells per knot cell of the graded grids on which adaptive knots are refined
_SUBCELLS = 16
#: passes of the equidistribution on graded grids after the first, uniform grid
_PASSES = 2
#: Gaussian frequency scale of Fourier features as a fraction of the Nyquist frequency
#: π (n - 1) / (b - a) of an n-point grid, n = min(d, n_samples)
_FOURIER_SCALE = 0.5
#: relative cut-off of singular values in the truncated-SVD fit of cos features
#: (:func:`approx.models.least_squares.deflated_lstsq`): the directions below it are
#: combinations that (nearly) vanish at the samples and so only shape the fit between
#: them; keeping them lets the fit spike between samples
_RCOND = 1e-13
#: damping of the ridge fit of ReLU features relative to the design's largest singular
#: value (:func:`approx.models.least_squares.ridge_lstsq`): directions below it, e.g.
#: features whose breakpoints share a gap between two samples, are damped smoothly; at
#: d = 4096 on 8192 samples this fits every built-in target better than a truncated SVD
#: at 1e-8, with smaller weights
_RIDGE = 1e-7
#: targets whose values reach past ``2^±_SCALE_PAST`` are fitted scaled by a power of two
#: (see :func:`_output_weights`); others exactly as they are
_SCALE_PAST = 256


def uniform_knots(target: Target, d: int) -> Array:
    """The ``d`` equally spaced knots ``x_j = a + (j - 1)(b - a)/(d - 1)``.

    Returns
    -------
    ndarray of shape (d,)
        Strictly increasing, ``x[0] = a`` and ``x[-1] = b`` exactly.
    """
    check_target(target)
    d = validate.integer(d, "d", 2)
    a, b = target.domain
    return np.linspace(a, b, d)


def adaptive_knots(target: Target, d: int) -> Array:
    """``d`` knots that equidistribute ``ρ = max{√|f''|, floor · mean √|f''|}``.

    Piecewise-linear interpolation on a cell of width ``h`` errs by about
    ``h² |f''| / 8``; with ``d`` knots the largest such error is smallest when every cell
    carries the same mass of ``√|f''|``, giving the asymptotic error
    ``(∫ √|f''|)² / (8 (d - 1)²)``. The floor (:data:`ADAPTIVE_FLOOR` of the mean density)
    keeps knots in regions where ``f`` is nearly linear.

    The mass is integrated by the midpoint rule on a fine grid (``f''`` is never evaluated
    at a grid node, so an integrable singularity there, like ``|x|^{-1/2}`` of ``abs15``
    at 0, is never hit; a non-finite midpoint value is replaced by the largest finite one)
    and inverted by linear interpolation of the cumulative mass. A first pass uses a
    uniform grid; each later pass uses a graded grid of :data:`_SUBCELLS` sub-cells per
    knot cell, so the grid is finest where the knots are (near singularities).

    Returns
    -------
    ndarray of shape (d,)
        Strictly increasing, ``x[0] = a`` and ``x[-1] = b`` exactly. Uniform knots when
        ``f''`` vanishes on the whole domain.
    """
    check_target(target)
    d = validate.integer(d, "d", 2)
    a, b = target.domain
    grid = np.linspace(a, b, max(2**14, _SUBCELLS * d) + 1)
    knots = _equidistribute(target, grid, d)
    for _ in range(_PASSES):
        if knots is None:
            break
        grid = _graded(knots, _SUBCELLS)
        knots = _equidistribute(target, grid, d)
    return np.linspace(a, b, d) if knots is None else knots


def _graded(knots: Array, k: int) -> Array:
    """Split every cell of ``knots`` into ``k`` equal sub-cells; returns shape (k(d-1)+1,)."""
    t = np.arange(k) / k
    inner = knots[:-1, None] + t * np.diff(knots)[:, None]
    return np.append(inner.ravel(), knots[-1])


def _equidistribute(target: Target, grid: Array, d: int) -> Array | None:
    """Knots splitting ``grid``'s mass of the floored density into equal parts, or None.

    ``None`` when ``√|f''|`` has no positive finite mass (``f`` linear).
    """
    mid = 0.5 * (grid[:-1] + grid[1:])
    with np.errstate(all="ignore"):
        rho = np.sqrt(np.abs(target.second_derivative(mid)))
    finite = np.isfinite(rho)
    if not finite.any():
        return None
    rho = np.where(finite, rho, rho[finite].max())
    width = np.diff(grid)
    mass = float(rho @ width)
    if not (mass > 0 and np.isfinite(mass)):
        return None
    rho = np.maximum(rho, ADAPTIVE_FLOOR * mass / (grid[-1] - grid[0]))
    cum = np.concatenate(([0.0], np.cumsum(rho * width)))
    knots = np.interp(np.linspace(0.0, cum[-1], d), cum, grid)
    knots[0], knots[-1] = grid[0], grid[-1]
    if not np.all(np.diff(knots) > 0):
        raise ValueError(
            f"adaptive knots for target {target.name!r} collapsed at d = {d}: "
            "the grid cannot resolve the density; use uniform knots"
        )
    return knots


#: knot placement rules of :func:`relu_interpolant`, by name
KNOTS = {"uniform": uniform_knots, "adaptive": adaptive_knots}


def relu_interpolant(target: Target, d: int, knots: str = "uniform") -> MLP:
    """The lecture's ±ReLU sum that interpolates ``f`` at ``d`` knots.

    With knots ``a = x_1 < … < x_d = b``, values ``y_j = f(x_j)`` and segment slopes
    ``m_j = (y_{j+1} - y_j)/(x_{j+1} - x_j)``, the interpolant is written as
    ``f̂(x) = Σ_{i=1..d} s_i max{0, w_i x + b_i}``, ``s_i ∈ {-1, +1}``, ``w_i ≥ 0``,
    zero output bias. Every unit is *active to the right of its breakpoint*, so at ``x``
    only units with breakpoints ``≤ x`` contribute:

    - unit 1 (the offset unit) has its breakpoint at ``a - L`` with ``L = b - a``, so it
      is active on the whole domain, and carries ``y_1 (x - a + L)/L``, which equals
      ``y_1`` at ``a`` and at most ``2|y_1|`` anywhere on the domain;
    - unit 2 is a ramp starting at ``a`` with slope ``m_1 - y_1/L``; units 1 and 2
      together give the first segment's affine function ``y_1 + m_1 (x - a)`` on all of
      ``[a, b]``;
    - unit ``j + 1`` (``j = 2 … d-1``) is a ramp starting at the knot ``x_j`` carrying
      the slope change ``Δ_j = m_j - m_{j-1}``: ``w = |Δ_j|``, ``s = sign Δ_j``.

    Why this form is well conditioned: the terms are bounded by ``2|y_1|``,
    ``(|m_1| L + |y_1|)`` and ``|Δ_j| (x - x_j)``, so their absolute sum is at most about
    ``3 max|f| + L (max|f'| + ∫|f''|)``, independent of ``d``; the slope changes are
    differences of rounded slopes, so the sum telescopes to the interpolant with errors
    of order ``eps · Σ |y_{j+1} - y_j|``, not ``eps · d``. The value ``y_1`` is never
    formed by cancelling large terms (as it would be with a unit whose breakpoint lies far
    from ``a``).

    Parameters
    ----------
    target : Target
        The function ``f`` and its domain ``[a, b]``.
    d : int
        Number of hidden units and of knots, ``d ≥ 2``.
    knots : {"uniform", "adaptive"}
        Knot placement: :func:`uniform_knots` or :func:`adaptive_knots`.

    Returns
    -------
    MLP
        Sizes ``[1, d, 1]``, ReLU, output weights ``s_i`` of shape (d, 1), output bias 0.

    Raises
    ------
    TypeError
        If ``target`` is not a Target or ``d`` is not an integer.
    ValueError
        If ``d < 2`` or ``knots`` is not a known placement.
    """
    check_target(target)
    d = validate.integer(d, "d", 2)
    place = validate.lookup(KNOTS, knots, "knots")
    x = place(target, d)
    y = target(x)
    a, b = target.domain
    span = b - a
    m = np.diff(y) / np.diff(x)
    change = np.concatenate(([y[0] / span, m[0] - y[0] / span], np.diff(m)))
    start = np.concatenate(([a - span, a], x[1:-1]))
    w = np.abs(change)
    s = np.where(change < 0, -1.0, 1.0)
    return MLP.from_params([w[None, :], s[:, None]], [-w * start, np.zeros(1)], activation="relu")


#: hidden activations of :func:`random_features`, by feature name
FEATURES = {"fourier": "cos", "relu": "relu"}


def random_features(
    target: Target,
    d: int,
    features: str = "fourier",
    *,
    rng: np.random.Generator,
    n_samples: int = 2048,
) -> MLP:
    """A net with a fixed random hidden layer and least-squares output weights.

    - ``"fourier"``: ``cos(ω_i x + φ_i)`` with ``ω_i ~ N(0, σ²)`` and ``φ_i ~ U[0, 2π)``.
      The scale ``σ = π (n - 1) / (2 (b - a))`` with ``n = min(d, n_samples)`` is half
      the Nyquist frequency of an ``n``-point grid on the domain: it grows
      with ``d`` so the features resolve finer detail as they become more numerous (a
      fixed ``σ`` makes them nearly collinear and the error stalls early), yet stays well
      inside what ``d`` coefficients and the sample grid can pin down, so the fit does
      not oscillate between samples.
    - ``"relu"``: ``max{0, ±(x - t_i)}`` with breakpoints ``t_i ~ U[a, b]`` and random
      directions ±1 (weights ``w_i = ±1``, biases ``-w_i t_i``).

    The output weights and output bias minimise the squared error at ``n_samples``
    equally spaced points of ``[a, b]`` (ends included):

    - cos features: the truncated-SVD solution (singular values below ``1e-13`` of the
      largest cut off, :data:`_RCOND`), computed without an SVD of the whole design by
      :func:`approx.models.least_squares.deflated_lstsq`: a Cholesky-preconditioned fit
      (Gram matrix in closed form) and an exact truncated-SVD solve in the subspace of
      the design's small singular directions (about a fifth of them), cost
      ``O(d³ + n_samples · d²/5)`` (4.5–5 s of CPU for the whole call at d = 4096 on
      8192 samples, one BLAS thread; 30 s for the SVD; the plain SVD for ``d < 1024`` and
      where that subspace would hold half the columns, as for ``n_samples < d``). The
      design comes from :func:`approx.models.least_squares.cos_design` (angle addition):
      its entries differ from ``np.cos(np.outer(x, w) + b)`` by a few rounding units of
      ``|w x|`` (about 1e-12 at ``|w| ≈ 10⁴``), as both differ from the exact cosines;
    - ReLU features: the ridge solution ``argmin ‖A c - y‖² + (τ σ₁)² ‖c‖²`` with
      ``τ = 1e-7`` (:data:`_RIDGE`, :func:`approx.models.least_squares.ridge_lstsq`):
      a Cholesky factorisation of the Gram matrix (formed in closed form in ``O(d²)``)
      refined against the design, cost ``O(d³/3 + n_samples · d)`` (about 3 s at
      d = 4096 on 8192 samples).

    Parameters
    ----------
    target : Target
        The function ``f`` and its domain ``[a, b]``.
    d : int
        Number of hidden units, ``d ≥ 1``.
    features : {"fourier", "relu"}
        The kind of random feature.
    rng : numpy.random.Generator
        The only source of randomness: the same seed gives bit-identical weights.
        Draws, in order, the ``d`` frequencies (or breakpoints) and then the ``d``
        phases (or directions).
    n_samples : int
        Number of least-squares sample points, ``≥ 2``.

    Returns
    -------
    MLP
        Sizes ``[1, d, 1]``, activation ``"cos"`` or ``"relu"``, with output bias.

    Raises
    ------
    TypeError
        If ``target``, ``d``, ``rng`` or ``n_samples`` has the wrong type.
    ValueError
        If ``d < 1``, ``n_samples < 2`` or ``features`` is unknown, or for Fourier
        features on a domain so narrow (about ``1e-304`` wide) that their frequencies,
        or their products with the samples, leave the float range.
    """
    check_target(target)
    d = validate.integer(d, "d", 1)
    activation = validate.lookup(FEATURES, features, "features")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n_samples = validate.integer(n_samples, "n_samples", 2)
    a, b = target.domain
    if features == "fourier":
        sigma = _FOURIER_SCALE * np.pi * max(min(d, n_samples) - 1, 1) / (b - a)
        w = rng.normal(0.0, sigma, d)
        with np.errstate(all="ignore"):
            if not np.isfinite(4 * np.max(np.abs(w)) * max(abs(a), abs(b), 1.0)):
                raise ValueError(f"Fourier features on the domain {target.domain} (width "
                                 f"{b - a:.3g}): their frequencies (scale {sigma:.3g}) "
                                 "leave the float range")
        bias = rng.uniform(0.0, 2 * np.pi, d)
    else:
        breaks = rng.uniform(a, b, d)
        w = rng.choice(np.array([-1.0, 1.0]), d)
        bias = -w * breaks
    x = np.linspace(a, b, n_samples)
    coef = _output_weights(_design(x, w, bias, features), target(x), x, w, bias, features)
    return MLP.from_params([w[None, :], coef[:-1, None]], [bias, coef[-1:]], activation=activation)


def _design(x: Array, w: Array, bias: Array, features: str) -> Array:
    """The features' values at the samples ``x`` and a column of ones (last)."""
    if features == "fourier":  # (equally spaced samples: by angle addition)
        from approx.models.least_squares import cos_design

        return cos_design((x[0], x[-1]), x.size, w, bias)
    return np.column_stack([ACTIVATIONS["relu"](np.outer(x, w) + bias), np.ones(x.size)])


def _output_weights(
    design: Array, y: Array, x: Array, w: Array, bias: Array, features: str
) -> Array:
    """The output weights and bias (last) of :func:`random_features` for its design.

    Values past ``2^±``:data:`_SCALE_PAST` are fitted scaled by a power of two, the
    coefficients scaled back (exactly: the same result, where nothing overflows):
    ``Aᵀy`` of values near ``1e305`` on 4096 samples overflowed, and the fit of
    ``1e305 sin 3x`` by ReLU features at d = 1100 had non-finite weights."""
    top = float(np.max(np.abs(y), initial=0.0))
    k = 0
    if np.isfinite(top) and (top > 2.0**_SCALE_PAST or 0 < top < 2.0**-_SCALE_PAST):
        k = int(np.frexp(top)[1])
        y = np.ldexp(y, -k)
    # (scipy.linalg loads slowly: only these fits need it)
    if features == "relu":
        from approx.models.least_squares import relu_gram, ridge_lstsq

        coef = ridge_lstsq(design, y, _RIDGE, relu_gram(x, w, bias, design))
    else:
        from approx.models.least_squares import cos_gram, deflated_lstsq

        coef = deflated_lstsq(design, y, _RCOND,
                              lambda: cos_gram((x[0], x[-1]), x.size, w, bias))
    with np.errstate(over="ignore"):
        return np.ldexp(coef, k)


def sawtooth_square(m: int) -> MLP:
    """Yarotsky's deep ReLU network for ``x²`` on ``[0, 1]``, with max error ``2^{-2m-2}``.

    The hat ``g(y) = 2 relu(y) - 4 relu(y - 1/2) + 2 relu(y - 1)`` maps ``[0, 1]`` onto
    itself; its ``s``-fold composition ``g_s`` is a sawtooth with ``2^{s-1}`` teeth. The
    piecewise-linear interpolant of ``x²`` at the ``2^m + 1`` points ``k 2^{-m}`` is
    ``f_m(x) = x - Σ_{s=1..m} g_s(x) / 4^s``, and its error ``(x - x_k)(x_{k+1} - x)`` peaks
    at ``h²/4 = 2^{-2m-2}`` in the middle of every cell. Hidden layer ``s`` holds the
    running sum ``f_{s-1} = x - Σ_{i<s} g_i/4^i`` (≥ x² ≥ 0, so the ReLU passes it) and the
    three ReLUs of ``g_s``; the output layer adds the last term. Every weight is a power
    of two or a small integer, so the float net is exactly this function.

    Parameters
    ----------
    m : int
        Number of hidden layers (of width 4), ``1 ≤ m ≤ 24``.

    Returns
    -------
    MLP
        Sizes ``[1, 4, …, 4, 1]`` (``m`` hidden layers), ReLU, with biases.
    """
    m = validate.integer(m, "m", 1)
    if m > 24:
        raise ValueError(f"m must be ≤ 24 (the error 4^-(m+1) is then below rounding), got {m}")
    hat = np.array([0.0, 2.0, -4.0, 2.0])
    shifts = np.array([0.0, 0.0, -0.5, -1.0])
    weights = [np.ones((1, 4))]
    biases = [shifts]
    for s in range(1, m + 1):
        running = np.array([1.0, 0.0, 0.0, 0.0]) - hat / 4.0**s  # f_s = f_{s-1} - g_s / 4^s
        if s == m:
            weights.append(running[:, None])
            biases.append(np.zeros(1))
        else:
            weights.append(np.column_stack([running, hat, hat, hat]))
            biases.append(shifts)
    return MLP.from_params(weights, biases, activation="relu")
