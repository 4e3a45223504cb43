"""Grids that resolve a target: cells split where ``f`` sags from its chord far more
than on the grid's typical cell.

A grid spaced for the smooth part of ``f`` does not resolve a singular point such as
``√(x + 1)``'s at ``-1`` (``f''`` like ``(x + 1)^{-3/2}``): on a cell ``[0, h]`` the
square root sags ``0.21 √h`` below its chord, where a smooth ``f`` sags ``f'' h²/8``.
:func:`split_unresolved` splits such cells until their sag is within :data:`RATIO`
times the median cell's. The optimum's samples (:mod:`approx.certify.optimum`) and the
training points of ``sampling = "graded"`` (:mod:`approx.train.recipe`) are both graded
so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["FINEST", "FRACTION", "RATIO", "ROUNDS", "SPLIT", "resolving", "split_unresolved",
           "thin"]

Array = NDArray[np.float64]

#: a cell whose chord sag exceeds RATIO times the median cell's is split into SPLIT
#: equal cells, for up to ROUNDS rounds
RATIO, SPLIT, ROUNDS = 256.0, 16, 12
#: the narrowest cell made so, relative to the span (points that close still differ by
#: about 2^5 rounding units of the span's ends)
FINEST = 2.0**-48
#: :func:`resolving` splits cells sagging by more than this fraction of the error a
#: best net of the given width reaches
FRACTION = 1.0 / 32.0
#: sags below this fraction of the range of ``f`` are rounding, not sags (a
#: piecewise-linear ``f`` has no cell to split)
QUIET = 2.0**-40


def split_unresolved(
    f: Callable[[Array], Array],
    x: Array,
    y: Array,
    values: Callable[[Array], Array] | None = None,
    ratio: float = RATIO,
    rounds: int = ROUNDS,
    finest: float = FINEST,
    sag: float | None = None,
    kinks: Array | None = None,
    quarters: bool = False,
) -> tuple[Array, Array, Array]:
    """The sorted points ``x`` (values ``y``) with every cell split into :data:`SPLIT`
    equal ones where ``f`` sags from the cell's chord by more than ``ratio`` times the
    median cell's sag and by more than :data:`QUIET` of the range of ``y``, for up to
    ``rounds`` rounds, into cells no narrower than ``finest`` of the span, and at most
    as many points added as ``x`` has (the cells of largest sag first): a singular
    point takes about 15 a round, a grid too coarse everywhere would grow 16-fold a round.

    Parameters
    ----------
    f : callable
        The function, vectorised; called on the cells' midpoints with float warnings
        silenced (a non-finite midpoint value counts as no sag).
    x, y : ndarray
        Sorted points, at least two, and ``f``'s values there.
    values : callable, optional
        ``f``'s values at new points (default ``f``): a caller that checks them (finite,
        in range) passes its own.
    ratio, rounds, finest : float, int, float
        As above.
    sag : float, optional
        A cell is split where its sag exceeds this (and :data:`QUIET` of the range)
        instead of ``ratio`` times the median.
    kinks : ndarray, optional
        Points whose cells are never split (kinks of ``f``, which a caller locates
        otherwise: a kink's cell sags ``J h/4``, however fine).
    quarters : bool
        Measure the sag at the cells' quarter points too, not at their midpoints only:
        the midpoint misses a cusp ``√|x − c|`` whose ``c`` lies a tenth of the cell from
        an end (there ``f`` meets its chord's mean at the midpoint exactly).

    Returns
    -------
    x, y, mid : ndarray
        The points, the values, and ``f`` at the midpoints of the cells. Unchanged
        (``mid`` aside) where no cell sags so.
    """
    values = values or f
    with np.errstate(all="ignore"):
        mid = f(0.5 * (x[:-1] + x[1:]))
    tol = (x[-1] - x[0]) * finest
    room = x.size  # points that may be added in all
    for _ in range(rounds):
        with np.errstate(all="ignore"):
            sags = np.abs(mid - 0.5 * (y[:-1] + y[1:]))
            for q in (0.25, 0.75) if quarters else ():
                at = f(x[:-1] + q * np.diff(x))
                sags = np.fmax(sags, np.abs(at - ((1.0 - q) * y[:-1] + q * y[1:])))
        sags = np.where(np.isfinite(sags), sags, 0.0)
        most = ratio * float(np.median(sags)) if sag is None else sag
        wide = (sags > max(most, QUIET * float(np.ptp(y)))) & (np.diff(x) > SPLIT * tol)
        if kinks is not None and kinks.size:
            wide[np.clip(np.searchsorted(x, kinks) - 1, 0, wide.size - 1)] = False
        cells = np.flatnonzero(wide)
        if cells.size > room // (SPLIT - 1):  # the largest sags first, within the budget
            cells = np.sort(cells[np.argsort(-sags[cells], kind="stable")[:room // (SPLIT - 1)]])
        if not cells.size:
            break
        t = np.arange(1, SPLIT) / SPLIT
        added = (x[cells, None] + t * (x[cells + 1] - x[cells])[:, None]).ravel()
        size = x.size
        x = thin(np.union1d(x, added), finest)
        room -= x.size - size
        y = values(x)
        with np.errstate(all="ignore"):
            mid = f(0.5 * (x[:-1] + x[1:]))
    return x, y, mid


def resolving(f: Callable[[Array], Array], x: Array, units: int,
              fraction: float = FRACTION, kinks: Array | None = None,
              y: Array | None = None) -> Array:
    """The evenly spaced points ``x`` with cells split (:func:`split_unresolved`, the sag
    measured at each cell's quarter points and midpoint) where
    ``f`` sags from the chord by more than ``fraction`` of ``E = (∫√|f''|)²/(16 d²)``,
    the error of the best continuous piecewise-linear function with ``d = units``
    breakpoints as ``d`` grows, estimated from ``x``'s second differences
    (``Σ √|Δ²f| → ∫√|f''|``; a singular point adds what its cells sag, a finite amount).

    On a smooth ``f`` the cells of ``x`` sag far less (``h² |f''|/8`` with ``h`` about
    ``1/(64 d)``): nothing is split. A singular point is resolved to that fraction:
    ``√(x + 1)`` at −1, where the first cell sags ``0.21 √h``.

    Parameters
    ----------
    f : callable
        The function, vectorised.
    x : ndarray
        Evenly spaced sorted points, at least three.
    units : int
        The width ``d`` (units of the net the points train).
    fraction : float
        Of ``E``, :data:`FRACTION` by default.
    kinks : ndarray, optional
        Points whose cells are left as they are (:func:`split_unresolved`).
    y : ndarray, optional
        ``f(x)``, where the caller has it.
    """
    y = f(x) if y is None else y
    with np.errstate(all="ignore"):
        second = np.abs(np.diff(y, 2))
    mass = float(np.sum(np.sqrt(second[np.isfinite(second)])))
    error = mass**2 / (16.0 * units**2)
    return split_unresolved(f, x, y, sag=fraction * error, kinks=kinks, quarters=True)[0]


def thin(x: Array, closest: float = 2.0**-36) -> Array:
    """Sorted unique points, dropping any closer than ``closest`` of the span to the last
    one kept (rounding residues such as ``-0.5 + 0.5 ≈ 1e-17`` beside 0), so that slopes
    between neighbours are meaningful; the two ends are kept."""
    x = np.unique(x)
    if x.size < 3:
        return x
    tol = (x[-1] - x[0]) * closest
    keep = np.ones(x.size, dtype=bool)
    close = np.flatnonzero(np.diff(x) < tol) + 1
    if close.size:
        last = x[0]
        for i in range(1, x.size):
            if x[i] - last < tol and i != x.size - 1:
                keep[i] = False
            else:
                last = x[i]
    return x[keep]
