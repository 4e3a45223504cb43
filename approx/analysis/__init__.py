"""Analysis: how good a fitted model is, and what the theory predicts.

Rooms:

- :mod:`~approx.analysis.errors`: the certified max error (:func:`max_error_at`: a model's
  certification adapter and the branch-and-bound of :mod:`approx.certify`), its attained
  value (:func:`max_error`) and an L2 estimate (:func:`l2_error`);
- :mod:`~approx.analysis.theory`: the construction's rigorous bound, rounding included
  (:func:`uniform_bound`), and an estimate, the asymptotic constant of optimal knots
  (:func:`adaptive_constant`);
- :mod:`~approx.analysis.rates`: power-law or exponential rates fitted to ``(d, ε)``;
- :mod:`~approx.analysis.quadrature`: composite Gauss–Legendre over given panels.
"""

from approx.analysis.errors import (
    ATOL_ULPS,
    RTOL,
    TIGHT_REASONS,
    MaxError,
    l2_error,
    max_error,
    max_error_at,
)
from approx.analysis.rates import RATE_FLOOR, Rate, fit_rate
from approx.analysis.theory import adaptive_constant, uniform_bound

__all__ = [
    "ATOL_ULPS",
    "RATE_FLOOR",
    "RTOL",
    "TIGHT_REASONS",
    "MaxError",
    "Rate",
    "adaptive_constant",
    "fit_rate",
    "l2_error",
    "max_error",
    "max_error_at",
    "uniform_bound",
]
