"""Fewest-link continuous paths through vertical bands at float samples, and the
smallest band with at most ``d`` links, found by bisection.

At samples ``x[0] < x[1] < …`` with values ``y``, each sample carries the segment
``[y_i − E + curve_i, y_i + E − curve_i]`` (``curve``: the sag of ``f`` from its chords
next to the sample, so that the path stays within ``E`` between samples too, up to the
variation of ``f''``). The greedy cover of the segments by groups that one line stabs
(on-line line fitting between data ranges: O'Rourke 1981, "An on-line algorithm for
fitting straight lines between data ranges", CACM 24(9); the numba kernel
:mod:`approx.models._linkpath_numba`) is run with continuity and *windows* (Suri 1986, "A
linear time algorithm for minimum link paths inside a simple polygon", CVGIP 35; for
functions Imai & Iri 1986, "Computational-geometric methods for polygonal
approximations of a curve", CVGIP 36; Hakimi & Schmeichel 1991, "Fitting polygonal
functions to a set of points in the plane", CVGIP 53; Goodrich 1995, "Efficient
piecewise-linear function approximation using the uniform metric", DCG 14): when a group
breaks, its blocked extreme line (the least-slope one if the breaking segment lies below
it) is the group's link, and the next group holds every line that crosses it between its
pivot on the inner side and the breaking point; the vertices are where consecutive links
cross. Each link then reaches as far as any path with as many links can, so the count of
links is the fewest through the segments (against LPs on small cases in the tests; the
greedy with vertical windows, ``exact=False``, needs up to one more).
:func:`continuous_fit` bisects on ``E`` to the smallest band with at most ``d + 1``
links.

Nothing here is rigorous: the float values only guide the path. The optimum's bracket
(:mod:`approx.certify.optimum`) certifies the net built from a path like any model, and
proves its lower bound from exactly checked witnesses; the minimax finish of trained nets
(:mod:`approx.train.minimax`) starts from the path through its training samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FINE",
    "LEVELS",
    "Path",
    "Samples",
    "bisect",
    "bracket",
    "continuous_fit",
    "kernel",
    "links",
    "sags",
    "span",
    "vertices",
]

Array = NDArray[np.float64]

#: points per level of the kernel's search of a gap where a group breaks, and levels
FINE, LEVELS = 8, 4
#: bisection steps on E at most (it stops at a relative width of 1e-9)
STEPS = 64
#: samples from which :func:`continuous_fit` first estimates the band on every 8th one
COARSE_FROM = 1 << 17


@dataclass(frozen=True)
class Samples:
    """Sample points (strictly increasing), float values of ``f`` there (a guide only:
    where a bound rests on them they are enclosed again, as by
    :func:`approx.certify.optimum.enclose`), ``curve[i]``, an estimate of the sag of
    ``f`` from its chords next to sample ``i`` (the upper side's margin between
    samples), and ``kinks``, the samples (abscissae, sorted) where ``f'``
    was found to jump (as by :func:`approx.certify.optimum.find_kinks`)."""

    x: Array
    y: Array
    curve: Array
    kinks: Array = field(default_factory=lambda: np.empty(0))

    @property
    def size(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True)
class Path:
    """A continuous piecewise-linear function: vertices ``(knots[j], values[j])``,
    ``knots[0] = a`` and ``knots[-1] = b``; ``band`` is the half-width it was fitted to
    at the samples."""

    knots: Array
    values: Array
    band: float


def kernel():
    """The numba kernel :func:`~approx.models._linkpath_numba.greedy_cover` (compiled
    when first used)."""
    from approx.models._linkpath_numba import greedy_cover

    return greedy_cover


def sags(x: Array, y: Array, mid: Array | None = None,
         kinks: NDArray[np.intp] | None = None) -> Array:
    """``|second difference|/8`` of the values at each sample's two neighbouring triples:
    about the gap between ``f`` and its chord on the cells next to the sample; with the
    values ``mid`` at the cells' midpoints, at least the gap there (where ``f''`` is
    not smooth, as ``|x|^1.5`` at 0, second differences underestimate it). The second
    difference centred on a sample of ``kinks`` (indices) is left out: it measures
    the jump of ``f'`` (a path can turn there), not a sag, and the midpoint gaps of the
    sample's two cells, on either side of the kink, still bound the chord's error."""
    c = np.zeros(x.size)
    if mid is not None and mid.size == x.size - 1:
        with np.errstate(all="ignore"):
            gap = np.abs(mid - 0.5 * (y[:-1] + y[1:]))
        gap = np.where(np.isfinite(gap), gap, 0.0)
        c[:-1] = gap
        c[1:] = np.maximum(c[1:], gap)
    if x.size < 3:
        return c
    h0, h1 = np.diff(x)[:-1], np.diff(x)[1:]
    with np.errstate(all="ignore"):
        slope0 = (y[1:-1] - y[:-2]) / h0
        slope1 = (y[2:] - y[1:-1]) / h1
        sag = np.abs(slope1 - slope0) * h0 * h1 / (h0 + h1) / 4
    sag = np.where(np.isfinite(sag), sag, 0.0)
    if kinks is not None:
        inner = kinks[(kinks > 0) & (kinks < x.size - 1)]
        sag[inner - 1] = 0.0
    c[1:-1] = np.maximum(c[1:-1], sag)
    out = c.copy()
    out[:-1] = np.maximum(out[:-1], c[1:])
    out[1:] = np.maximum(out[1:], c[:-1])
    return out


def bisect(feasible, lo: float, hi: float, steps: int = STEPS, rtol: float = 1e-9
            ) -> tuple[float, float]:
    """Shrink ``[lo, hi]`` with ``feasible(hi)`` and not ``feasible(lo)`` kept."""
    for _ in range(steps):
        mid = 0.5 * lo + 0.5 * hi if lo == 0 or hi > 4 * lo else math.sqrt(lo) * math.sqrt(hi)
        if not lo < mid < hi:
            break
        if feasible(mid):
            hi = mid
        else:
            lo = mid
        if hi - lo <= rtol * hi:
            break
    return lo, hi


def span(s: Samples) -> float:
    """A band half-width at which one line covers every sample (a constant does)."""
    return 0.5 * (float(np.max(s.y)) - float(np.min(s.y))) * (1 + 1e-6) + 1e-300


def bracket(ok, near: float | None, lo: float, hi: float, d: int, spread: float = 0.0
             ) -> tuple[float, float]:
    """A bracket ``[lo, hi]`` with ``ok(hi)`` and not ``ok(lo)``, narrowed around ``near``
    (a value expected within a few ``1/d`` of the answer) when it can be."""
    if near is None or not lo < near < hi:
        return lo, hi
    width = max(8.0 / max(d, 1), spread)
    for _ in range(4):
        a, b = max(lo, near * (1 - width)), min(hi, near * (1 + width))
        if ok(b) and not ok(a):
            return a, b
        width *= 4
    return lo, hi


def continuous_fit(s: Samples, d: int, near: float | None = None,
                   first_stop: float = math.inf,
                   within: tuple[float, float] | None = None, rtol: float = 1e-7,
                   exact: bool = True) -> Path:
    """A continuous path with at most ``d`` interior vertices within a band of the sample
    values narrowed by :attr:`Samples.curve`, at the smallest band found by bisection
    (see the module docstring). ``near``: a band expected within a few ``1/d`` of the
    answer; ``first_stop``: where the first link must end at the latest (the path's
    phase); ``within``: a bracket (infeasible, feasible) to bisect in, if it is one;
    ``rtol``: the bisection's relative resolution; ``exact``: with windows (the fewest
    links; not with a ``first_stop``), else the greedy with vertical windows."""
    greedy = kernel()
    limit = d + 1
    exact = exact and math.isinf(first_stop)

    def path_at(E: float) -> Path | None:
        groups, starts, _, lines, turns = greedy(s.x, s.y, s.curve, E, True, limit, FINE,
                                                 LEVELS, s.kinks, first_stop, exact)
        if groups > limit:
            return None
        if not exact:
            return vertices(starts[:groups], lines[:groups], float(s.x[-1]), E)
        return links(starts[:groups], lines[:groups], turns[:groups], s.x[0], s.x[-1], E)

    def feasible(E: float) -> bool:
        return path_at(E) is not None

    floor = float(np.max(s.curve)) * (1 + 1e-12)
    top = 2 * span(s) + 2 * floor
    if feasible(floor):
        top = floor
    spread = 0.0
    if near is None and within is None and s.size >= COARSE_FROM:
        # a first estimate on every 8th sample (its sags 64 times larger: a few % above)
        # (the kinks stay samples)
        every = np.union1d(np.arange(0, s.size, 8), np.searchsorted(s.x, s.kinks))
        coarse = Samples(s.x[every], s.y[every], s.curve[every] * 64, s.kinks)
        near, spread = continuous_fit(coarse, d, rtol=1e-3, exact=exact).band, 0.05
    if within is not None and within[0] >= floor and feasible(within[1]) and not feasible(
            within[0]):
        (lo, hi), rtol = within, max(rtol, 1e-7)
    else:
        lo, hi = bracket(feasible, near, floor, top, d, spread)
    _, E = bisect(feasible, lo, hi, rtol=rtol)
    path = path_at(E)
    assert path is not None  # feasible(hi) holds throughout the bisection
    return path


def links(starts: Array, lines: Array, turns: Array, a: float, b: float, E: float
           ) -> Path | None:
    """The path of the exact windows: each group's link is its blocked extreme line
    (the last group's, the mean of its two), the vertices where consecutive links
    cross; None if they do not cross in increasing order inside ``(a, b)``, or if a
    group restarted on a vertical window instead (``turns`` not 1 or 2)."""
    g = starts.size
    if np.any((turns[:-1] != 1) & (turns[:-1] != 2)):
        return None
    value = np.where(turns == 2, lines[:, 2], lines[:, 0])
    slope = np.where(turns == 2, lines[:, 3], lines[:, 1])
    value[-1] = 0.5 * (lines[-1, 0] + lines[-1, 2])
    slope[-1] = 0.5 * (lines[-1, 1] + lines[-1, 3])
    with np.errstate(all="ignore"):
        cross = (value[1:] - value[:-1] + slope[:-1] * starts[:-1] - slope[1:] * starts[1:]) / (
            slope[:-1] - slope[1:])
    knots = np.concatenate(([a], cross, [b]))
    if not (np.all(np.isfinite(knots)) and np.all(np.diff(knots) > 0)):
        return None
    at = np.append(np.arange(g), g - 1)
    values = value[at] + slope[at] * (knots - starts[at])
    return Path(knots, values, E)


def vertices(starts: Array, lines: Array, b: float, E: float) -> Path:
    """Vertices chosen backwards: in the last group the mean of its extreme lines, then
    in each group the convex combination of them through the next vertex."""
    g = starts.size
    knots = np.append(starts, b)
    values = np.empty(g + 1)
    values[g] = 0.5 * (lines[-1, 0] + lines[-1, 1] * (b - starts[-1])
                       + lines[-1, 2] + lines[-1, 3] * (b - starts[-1]))
    for j in range(g - 1, -1, -1):
        span = knots[j + 1] - knots[j]
        e1 = lines[j, 0] + lines[j, 1] * span
        e2 = lines[j, 2] + lines[j, 3] * span
        alpha = 0.5 if e1 == e2 else min(1.0, max(0.0, (values[j + 1] - e2) / (e1 - e2)))
        values[j] = alpha * lines[j, 0] + (1 - alpha) * lines[j, 2]
    return Path(knots, values, E)
