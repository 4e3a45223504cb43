"""What the theory of the lecture's construction says: the uniform-knot bound and the
asymptotic constant of optimally placed knots."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.analysis.quadrature import gauss_legendre
from approx.arith.balls import U
from approx.certify import targets as certified
from approx.certify.derivatives import integral_sqrt_abs_derivative
from approx.core.validate import integer
from approx.problems.targets import Target, check_target

__all__ = ["adaptive_constant", "uniform_bound"]

Array = NDArray[np.float64]


def uniform_bound(target: Target, d: int) -> float:
    """The uniform-knot bound ``h² / 8 · max|f''|`` with ``h = (b - a)/(d - 1)``.

    The max error of piecewise-linear interpolation at ``d`` equally spaced knots never
    exceeds it: ``max|f''|`` is a rigorous upper bound (tight to ``1e-9``), and the
    product is rounded up. ``inf`` when ``f''`` is unbounded (e.g. ``abs15``).
    """
    check_target(target)
    d = integer(d, "d", minimum=2)
    h = target.width / (d - 1)
    return h * h / 8 * certified.max_abs_second_derivative(target) * (1 + 8 * U)


def adaptive_constant(target: Target, d: int) -> float:
    """The asymptotic max error of optimally placed knots, ``(∫ √|f''|)² / (8 (d - 1)²)``.

    The integral is enclosed (:func:`approx.certify.derivatives.integral_sqrt_abs_derivative`) to a
    relative ``1e-7`` and the midpoint of its enclosure used; where ``f''`` is unbounded
    on a cell narrower than ``2⁻³⁶`` of the domain (``abs15`` at 0) that cell adds its
    Gauss–Legendre estimate instead. An asymptotic constant, not a bound.
    """
    check_target(target)
    d = integer(d, "d", minimum=2)
    lower, upper = integral_sqrt_abs_derivative(certified.taylor(target), 2)
    mass = 0.5 * (lower + upper) if np.isfinite(upper) else lower + _rough_mass(target)
    return mass * mass / (8 * (d - 1) ** 2)


def _rough_mass(target: Target) -> float:
    """Gauss–Legendre estimate of ``∫ √|f''|`` over the target's rough blocks."""
    t = certified.taylor(target)
    total = 0.0
    for i in np.nonzero(t.rough)[0]:

        def root(z: Array) -> Array:
            with np.errstate(all="ignore"):
                r = np.sqrt(np.abs(target.second_derivative(z)))
            return np.where(np.isfinite(r), r, 0.0)

        total += gauss_legendre(root, np.linspace(t.edges[i], t.edges[i + 1], 65))
    return total
