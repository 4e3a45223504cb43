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

__all__ = ["CANDIDATES", "FINEST", "FRACTION", "PEAKS", "PEAK_FRACTION", "RATIO", "ROUNDS",
           "SPLIT", "peak", "resolving", "split_unresolved", "thin", "with_peaks"]

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
                sags = np.fmax(sags, _sag_at(f, x[:-1], x[1:], y[:-1], y[1:], q))
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


def _sag_at(f: Callable[[Array], Array], a: Array, b: Array, fa: Array, fb: Array,
            q: float) -> Array:
    """``|f − chord|`` at the fraction ``q`` of the cells ``[a, b]`` (``f`` there
    ``fa``, ``fb``)."""
    return np.abs(f(a + q * (b - a)) - ((1.0 - q) * fa + q * fb))


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
    step = (x[-1] - x[0]) / (x.size - 1)
    x, y, _ = split_unresolved(f, x, y, sag=fraction * error, kinks=kinks, quarters=True)
    return with_peaks(f, x, y, max(PEAK_FRACTION * fraction * error, QUIET * float(np.ptp(y))),
                      0.5 * step)


#: :func:`resolving` adds the peak of each split cell sagging by more than this fraction
#: of the sag it splits at (:func:`with_peaks`)
PEAK_FRACTION = 1.0 / 8.0


def with_peaks(f: Callable[[Array], Array], x: Array, y: Array, sag: float,
               narrower: float) -> Array:
    """The sorted points ``x`` (values ``y``) with, in each cell narrower than
    ``narrower`` (the cells a split made) that still sags from its chord by more than
    ``sag`` (measured at its quarter points and midpoint), the float where ``f``
    departs furthest from the chord (:func:`peak`) if ``f`` there lies outside the
    range of its values at the cell's ends (a tip: an extremum of ``f`` no sample
    sees), at most :data:`PEAKS` tips, the largest sags first.

    A split cell holding a cusp's tip sags up to the sag it splits at, ``E/32``, and
    cells stop splitting ``2^-48`` of the span wide, where ``√|x − c|`` still sags
    ``√(2^-48)``, 6e-8 on [−1, 1]: the trained nets' error peaked at the tips, where no
    sample saw it, 3.6 % above the rest on √|cos 4x| at d = 256 and 8 % on √|x − 0.4|
    at d = 1024. With the tips samples the fit holds them to the level too."""
    cells = np.flatnonzero(np.diff(x) < narrower)
    if not cells.size:
        return x
    sags = np.zeros(cells.size)
    with np.errstate(all="ignore"):
        for q in (0.25, 0.5, 0.75):
            sags = np.fmax(sags, _sag_at(f, x[cells], x[cells + 1], y[cells], y[cells + 1], q))
    sags = np.where(np.isfinite(sags), sags, 0.0)
    order = np.argsort(-sags, kind="stable")[:CANDIDATES]
    cells, sags = cells[order], sags[order]
    cells = cells[sags > sag]
    found = [(i, p) for i in cells if (p := peak(f, x[i], x[i + 1], y[i], y[i + 1])) is not None]
    if not found:
        return x
    cell, peaks = (np.array(v) for v in zip(*found, strict=True))
    with np.errstate(all="ignore"):
        at = f(peaks)
    low, high = np.minimum(y[cell], y[cell + 1]), np.maximum(y[cell], y[cell + 1])
    return np.union1d(x, peaks[(at < low) | (at > high)][:PEAKS])


#: at most this many tips are added (:func:`with_peaks`), the cells of largest sag
#: first, of at most :data:`CANDIDATES` cells searched (a singular end's split cells
#: sag too, but hold no tip)
PEAKS, CANDIDATES = 64, 1024


def peak(f: Callable[[Array], Array], a: float, b: float, fa: float, fb: float
         ) -> float | None:
    """The float in ``(a, b)`` where ``f`` departs furthest from the chord through
    ``(a, fa)`` and ``(b, fb)``; None if ``f`` is not finite there.

    Zooms on 33 points, keeping around each of the :data:`BEAM` largest local maxima of
    the departure the two cells either side, until each bracket holds at most 64
    floats, then evaluates all of them. A cusp's tip in a cell not centred on it is
    one of two local maxima (the chord also crosses the long side's arc). A guide for
    the samples: a departure with more peaks than the beam may be found at a lesser one.
    """
    brackets = [(a, b)]
    for _ in range(64):
        if all(hi - lo <= 64 * _ulp(lo, hi) for lo, hi in brackets):
            break
        found = []
        for lo, hi in brackets:
            if hi - lo <= 64 * _ulp(lo, hi):  # (narrow enough: kept as it is)
                found.append((np.inf, lo, hi))
                continue
            grid = np.linspace(lo, hi, 33)
            off = _departure(f, grid, a, b, fa, fb)
            padded = np.pad(off, 1, constant_values=-np.inf)
            tops = np.flatnonzero((off >= padded[:-2]) & (off >= padded[2:]) & (off > -np.inf))
            found += [(off[i], grid[max(i - 1, 0)], grid[min(i + 1, 32)]) for i in tops]
        found.sort(key=lambda item: -item[0])
        brackets = [(lo, hi) for _, lo, hi in found[:BEAM]]
    grid = np.unique(np.concatenate([_all_floats(lo, hi) for lo, hi in brackets] or [[a]]))
    off = _departure(f, grid, a, b, fa, fb)
    if not np.any(off > -np.inf):
        return None
    best = float(grid[int(np.argmax(off))])
    return best if a < best < b else None


#: the local maxima of the departure :func:`peak` follows at each zoom
BEAM = 4


def _ulp(lo: float, hi: float) -> float:
    """The float spacing at the end of ``[lo, hi]`` nearer zero (the finer one)."""
    return float(np.spacing(min(abs(lo), abs(hi))))


def _all_floats(lo: float, hi: float) -> Array:
    """The floats from ``lo`` to ``hi`` (at most 130 of them)."""
    floats = [lo]
    while floats[-1] < hi and len(floats) < 130:
        floats.append(float(np.nextafter(floats[-1], np.inf)))
    return np.asarray(floats)


def _departure(f: Callable[[Array], Array], grid: Array, a: float, b: float, fa: float,
               fb: float) -> Array:
    """``|f − chord|`` on ``grid``, −inf where not finite."""
    with np.errstate(all="ignore"):
        off = np.abs(f(grid) - (fa + (grid - a) * ((fb - fa) / (b - a))))
    return np.where(np.isfinite(off), off, -np.inf)


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
