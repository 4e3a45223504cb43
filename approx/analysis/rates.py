"""Convergence rates fitted to ``(d, ε)``: power law or exponential, over the widths where
the error still falls."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["RATE_FLOOR", "Rate", "fit_rate"]

Array = NDArray[np.float64]


class Rate(NamedTuple):
    """Convergence rates fitted to ``(d, ε)``.

    Attributes
    ----------
    power : float
        Slope ``p`` of ``log ε`` against ``log d`` (``ε ∝ d^p``); NaN without a rate.
    exponential : float
        Slope ``q`` of ``log ε`` against ``d`` (``ε ∝ e^{q d}``); NaN without a rate.
    fit : str
        ``"power"`` or ``"exponential"`` (whichever leaves the smaller residual), or
        ``"none"`` when ε does not fall (fewer than 3 widths above the floor, or less
        than a factor 4 overall).
    points : int
        Number of ``(d, ε)`` pairs used.
    not_tight : int
        Pairs left out because their ε is not known to within the enclosure's rule
        (``tight`` False: a lower bound of the sup only, which may fall while the sup rises).
    """

    power: float
    exponential: float
    fit: str
    points: int
    not_tight: int = 0


#: errors below this multiple of max |f| are rounding noise, not convergence
RATE_FLOOR = 1e-12


def fit_rate(
    widths: ArrayLike, errors: ArrayLike, scale: float, tight: ArrayLike | None = None
) -> Rate:
    """Fit power-law and exponential rates over the widths where ε still falls.

    Parameters
    ----------
    widths, errors : array_like of shape (m,)
        One pair per run (replicates repeat a width); non-finite or non-positive errors
        are ignored.
    scale : float
        ``max |f|``: errors below ``RATE_FLOOR · scale`` are rounding noise.
    tight : array_like of bool or None, shape (m,), optional
        Whether each ε is tight (:attr:`approx.analysis.errors.MaxError.tight`); pairs
        whose ε is not are left out and counted (``None`` or NaN entries: not known,
        kept, as for runs recorded before enclosures existed).

    Returns
    -------
    Rate
        Fitted on the widths, in increasing order, up to the last one whose median error
        is below every earlier median by at least 5 % and above the floor; a plateau
        (a spike the widths cannot resolve, or rounding) ends the fit.
    """
    d = np.asarray(widths, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    ok = np.isfinite(e) & (e > max(RATE_FLOOR * scale, np.finfo(float).tiny)) & (d > 0)
    loose = np.zeros(d.shape, dtype=bool)
    if tight is not None:  # False only where known to be False
        loose = np.array([v is False or v is np.False_ or v == 0 for v in tight], dtype=bool)
    not_tight = int((ok & loose).sum())
    d, e = d[ok & ~loose], e[ok & ~loose]
    none = Rate(float("nan"), float("nan"), "none", 0, not_tight)
    if d.size == 0:
        return none
    levels = np.unique(d)
    medians = np.array([np.median(e[d == w]) for w in levels])
    last, running = 0, medians[0]
    for k in range(1, levels.size):
        if medians[k] > 0.95 * running:
            break
        running, last = medians[k], k
    used = levels[: last + 1]
    if used.size < 3 or medians[last] > medians[0] / 4:
        return none
    keep = np.isin(d, used)
    x, y = d[keep], np.log(e[keep])
    power, res_p = _line(np.log(x), y)
    expo, res_e = _line(x, y)
    fit = "power" if res_p <= res_e else "exponential"
    return Rate(power, expo, fit, int(keep.sum()), not_tight)


def _line(x: Array, y: Array) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and the residual sum of squares."""
    A = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(coef[0]), float(np.sum((A @ coef - y) ** 2))
