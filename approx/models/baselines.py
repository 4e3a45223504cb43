"""Classical references at equal parameter count: Chebyshev interpolation and cubic splines.

Both models follow the :class:`approx.models.Model` protocol: callable on ``x`` of shape
(m,), an ``n_params`` count, and plain arrays for saving (``to_arrays``/``from_arrays``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev as C
from numpy.typing import ArrayLike, NDArray

from approx.core import validate
from approx.problems.targets import Target, check_target

__all__ = ["ChebyshevModel", "SplineModel", "chebyshev", "cubic_spline"]

Array = NDArray[np.float64]


class ChebyshevModel:
    """A Chebyshev series ``p(x) = Σ_{k=0}^{d-1} c_k T_k(t)``, ``t = (2x - a - b)/(b - a)``.

    Parameters
    ----------
    coef : array_like of shape (d,)
        The coefficients ``c_k``.
    domain : tuple of float
        The interval ``(a, b)`` mapped onto ``[-1, 1]``.
    """

    model_kind = "chebyshev"

    def __init__(self, coef: ArrayLike, domain: tuple[float, float]) -> None:
        self.coef = np.array(coef, dtype=np.float64).reshape(-1)
        if self.coef.size < 1:
            raise ValueError("a Chebyshev model needs at least one coefficient")
        a, b = validate.interval(domain, "domain")
        if not (np.isfinite(b - a) and np.isfinite(2 * a) and np.isfinite(2 * b)):
            raise ValueError(f"domain {domain!r} is too wide for the map onto [-1, 1] in floats")
        self.domain = (a, b)

    @property
    def n_params(self) -> int:
        """The ``d`` coefficients ``c_k`` (the domain is fixed by the target, not fitted)."""
        return int(self.coef.size)

    @property
    def term_size(self) -> float:
        """``Σ |c_k|``: bounds ``|p|`` on the domain and sets the scale of its rounding."""
        with np.errstate(over="ignore"):  # inf when the terms overflow
            return float(np.sum(np.abs(self.coef)))

    def __call__(self, x: ArrayLike) -> Array:
        """Evaluate at ``x`` of shape (m,) by Clenshaw's recurrence; returns shape (m,)."""
        a, b = self.domain
        t = (2 * np.asarray(x, dtype=np.float64) - (a + b)) / (b - a)
        return C.chebval(t, self.coef)

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """Plain arrays for ``numpy.savez``: kind, coefficients, domain."""
        return {
            "model": np.array(self.model_kind),
            "coef": self.coef,
            "domain": np.array(self.domain),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> ChebyshevModel:
        """Inverse of :meth:`to_arrays`."""
        a, b = np.asarray(arrays["domain"], dtype=np.float64)
        return cls(arrays["coef"], (a, b))

    def __repr__(self) -> str:
        return f"ChebyshevModel(d={self.coef.size}, domain={self.domain})"


class SplineModel:
    """The not-a-knot cubic spline through ``(knots[j], values[j])``.

    The model is the piecewise cubic it evaluates, written in each cell's own variable
    so that nothing overflows on cells of any width: on ``[knots[j], knots[j+1]]``,

    ``s(x) = scale · Σ_k coef[j, k] t^k``,  ``t = (x - knots[j]) / (knots[j+1] - knots[j])``

    with ``t`` the exact real ratio (``0 ≤ t ≤ 1``), ``scale`` a power of two with
    ``max |values| < 2 scale`` and ``coef[j, 0] = values[j] / scale``. The float ``coef`` are
    computed once from the stored knots and values (:meth:`cubics`); the real function
    they define is the model whose max error is certified. In powers of ``x - knots[j]``
    the coefficients would divide by the cell's width cubed and overflow on cells
    ``1e-103`` wide.

    Parameters
    ----------
    knots : array_like of shape (d,)
        Strictly increasing, ``d ≥ 2``.
    values : array_like of shape (d,)
        The spline's values at the knots.
    """

    model_kind = "spline"

    def __init__(self, knots: ArrayLike, values: ArrayLike) -> None:
        self.knots = np.array(knots, dtype=np.float64).reshape(-1)
        self.values = np.array(values, dtype=np.float64).reshape(-1)
        if self.knots.size < 2 or self.knots.size != self.values.size:
            raise ValueError(
                f"need ≥ 2 knots and as many values, got {self.knots.size} and {self.values.size}"
            )
        if not (np.all(np.isfinite(self.knots)) and np.all(np.diff(self.knots) > 0)):
            raise ValueError("a spline's knots must be finite and strictly increasing")
        self._coef, self._scale = _local_cubics(self.knots, self.values)
        self._columns = np.ascontiguousarray(self._coef.T)  # one gather per power

    @property
    def n_params(self) -> int:
        """The ``d`` values at the knots (the knots are fixed by the uniform rule, and a
        not-a-knot cubic spline is determined by its values there)."""
        return int(self.values.size)

    def __call__(self, x: ArrayLike) -> Array:
        """Evaluate at ``x`` of shape (m,); returns shape (m,). A knot takes the cubic to
        its right (the last knot the last cubic's)."""
        x = np.asarray(x, dtype=np.float64)
        j = np.clip(np.searchsorted(self.knots, x, side="right") - 1, 0, self.knots.size - 2)
        lo, hi = self.knots[j], self.knots[j + 1]
        with np.errstate(over="ignore", invalid="ignore"):
            width = hi - lo
            t = np.where(np.isfinite(width), (x - lo) / width, (x / 2 - lo / 2) / (hi / 2 - lo / 2))
            c = self._columns
            return (((c[3][j] * t + c[2][j]) * t + c[1][j]) * t + c[0][j]) * self._scale

    def cubics(self) -> tuple[Array, Array, float]:
        """The cubics the model evaluates: ``(knots, coef, scale)``, ``coef`` of shape
        (d - 1, 4); see the class docstring for the function they define."""
        return self.knots, self._coef, self._scale

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """Plain arrays for ``numpy.savez``: kind, knots, values."""
        return {"model": np.array(self.model_kind), "knots": self.knots, "values": self.values}

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> SplineModel:
        """Inverse of :meth:`to_arrays`."""
        return cls(arrays["knots"], arrays["values"])

    def __repr__(self) -> str:
        return f"SplineModel(d={self.knots.size}, domain=({self.knots[0]}, {self.knots[-1]}))"


def _local_cubics(knots: Array, values: Array) -> tuple[Array, float]:
    """The not-a-knot spline's cubics in each cell's variable ``t`` (``SplineModel``):
    solved on knots mapped onto ``[0, 1]`` and values divided by a power of two near
    their largest, so that its coefficients are of the size of the values' differences
    whatever the knots' spacing or the values' size (the solve is affine invariant)."""
    top = float(np.max(np.abs(values)))
    # |values| < 2 scale (scale = 2^(e-1) for top = m 2^e, 1/2 ≤ m < 1): multiplying the
    # values by a power of two multiplies scale by it and leaves the coefficients alone
    exponent = math.frexp(top)[1] - 1 if top > 0 and math.isfinite(top) else 0
    scale = math.ldexp(1.0, exponent)
    y = values / scale
    with np.errstate(over="ignore"):
        span = knots[-1] - knots[0]
        u = (knots - knots[0]) / span if math.isfinite(span) else knots / 2 - knots[0] / 2
    if not np.all(np.diff(u) > 0):  # knots too close to tell apart after the map
        u = knots
    du = np.diff(u)
    from scipy.interpolate import CubicSpline  # (scipy's interpolation loads slowly)

    with np.errstate(over="ignore", invalid="ignore"):
        c = CubicSpline(u, y, bc_type="not-a-knot").c[::-1].T * du[:, None] ** np.arange(4)
    c[:, 0] = y[:-1]
    return np.ascontiguousarray(c), scale


def chebyshev(target: Target, d: int) -> ChebyshevModel:
    """The degree ``d - 1`` polynomial interpolating ``f`` at the ``d`` Chebyshev points.

    The points are those of the first kind, ``t_j = cos(π (j + 1/2) / d)`` mapped to
    ``[a, b]`` (the roots of ``T_d``; the ends are not interpolated). The coefficients
    come from a type-II discrete cosine transform of the values, ``O(d log d)``.

    Parameters
    ----------
    target : Target
    d : int
        Number of coefficients, ``d ≥ 1``.

    Returns
    -------
    ChebyshevModel
    """
    check_target(target)
    d = validate.integer(d, "d", 1)
    a, b = target.domain
    t = np.cos(np.pi * (np.arange(d) + 0.5) / d)
    values = target(0.5 * (a + b) + 0.5 * (b - a) * t)
    # DCT-II of the values at the roots of T_d gives d·c_k (2d·c_0 for the constant term)
    from scipy.fft import dct

    coef = dct(values, type=2) / d
    coef[0] /= 2
    return ChebyshevModel(coef, (a, b))


def cubic_spline(target: Target, d: int) -> SplineModel:
    """The not-a-knot cubic spline interpolating ``f`` at ``d`` equally spaced knots.

    Parameters
    ----------
    target : Target
    d : int
        Number of knots, ``d ≥ 2`` (two knots give the chord, three a parabola).

    Returns
    -------
    SplineModel
    """
    check_target(target)
    d = validate.integer(d, "d", 2)
    knots = np.linspace(*target.domain, d)
    return SplineModel(knots, target(knots))
