"""numba kernel of the on-line line fitting between vertical segments (O'Rourke 1981),
run as a greedy cover of a sequence of samples by groups that one line stabs, with each
group's end located between samples by refinement.

Samples ``x[0] < x[1] < …`` with float values ``y`` carry vertical segments
``[y_i - E, y_i + E]``. A group is grown one segment at a time while a line stabs all of
them: the set of such lines is kept as O'Rourke's two convex chains (the lower hull of
the upper ends, the upper hull of the lower ends) with the two extreme lines through
them (the line of least slope passes through an upper end on the left and a lower end
on the right, the line of greatest slope through a lower end and an upper end), as in
the optimal piecewise-linear models of Ferragina & Vinciguerra's PGM-index (2020);
amortised O(1) per segment. A segment that no line of the group stabs with the others
lies wholly below the least-slope line or wholly above the greatest-slope line past its
pivot, so the group's two pivots and the new segment are three segments that no line
stabs: the *Helly witness* of the break, returned (by abscissa) so that the caller can
check it exactly.

When sample ``i`` breaks a group, the gap from the last point accepted to ``x[i]`` is
searched ``levels`` times, each time at ``fine`` equally spaced points, with values
from the cubic through the samples ``i-2 … i+1`` (a guide, not a bound: the caller
checks every witness with rigorous values; samples on the far side of a sample where
``f'`` jumps are left out, as a cubic across a kink is off by about the jump times the
spacing there), so the group ends within
``(x[i] - x[i-1]) / fine^levels`` of where it can.

Two modes:

- *discontinuous* (``continuous=False``): the next group starts at the point that broke
  the last one; greedy is optimal for the number of groups;
- *continuous* (``continuous=True``): the next group starts at the last point of the
  previous one, its segment replaced by the *window* of the values there of the
  previous group's lines (from the least-slope line's value to the greatest-slope
  line's: past their lower and upper pivots every stabbing line lies between them), so
  consecutive lines meet on that vertical: a continuous path;
- *exact windows* (``continuous=True, exact=True``): the next group holds the lines
  crossing the blocked extreme line of the previous group between its pivot and the
  breaking point (:func:`_window`), the fewest links.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["greedy_cover"]

Array = NDArray[np.float64]

# state slots of the integer state array
_K, _UTOP, _LTOP, _USTART, _LSTART = 0, 1, 2, 3, 4


@numba.njit(cache=True, nogil=True)
def _slope(ax: float, ay: float, bx: float, by: float) -> float:  # pragma: no cover
    return (by - ay) / (bx - ax)


@numba.njit(cache=True, nogil=True)
def _below(ax: float, ay: float, bx: float, by: float, cx: float, cy: float
           ) -> bool:  # pragma: no cover
    """Whether the turn a → b → c is clockwise or straight (c on or below line ab)."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax) <= 0


@numba.njit(cache=True, nogil=True)
def _put(points, i: int, px: float, py: float) -> None:  # pragma: no cover
    points[i, 0] = px
    points[i, 1] = py


@numba.njit(cache=True, nogil=True)
def _start(st, hull, rect, px: float, top: float, bot: float) -> None:  # pragma: no cover
    """Begin a group with the segment ``[bot, top]`` at ``px``."""
    _put(rect, 0, px, top)
    _put(rect, 1, px, bot)
    _put(hull[0], 0, px, top)
    _put(hull[1], 0, px, bot)
    st[:] = 0
    st[_K] = 1
    st[_UTOP] = 1
    st[_LTOP] = 1


@numba.njit(cache=True, nogil=True)
def _add(st, hull, rect, px: float, top: float, bot: float) -> int:  # pragma: no cover
    """Add the segment ``[bot, top]`` at ``px``; 0 if the group still has a line, 1 if
    the segment is below the least-slope line, 2 if above the greatest-slope line."""
    if st[_K] == 1:
        _put(rect, 2, px, bot)
        _put(rect, 3, px, top)
        _put(hull[0], 1, px, top)
        _put(hull[1], 1, px, bot)
        st[_UTOP] = 2
        st[_LTOP] = 2
        st[_K] = 2
        return 0
    s1 = _slope(rect[0, 0], rect[0, 1], rect[2, 0], rect[2, 1])
    s2 = _slope(rect[1, 0], rect[1, 1], rect[3, 0], rect[3, 1])
    if _slope(rect[2, 0], rect[2, 1], px, top) < s1:
        return 1
    if _slope(rect[3, 0], rect[3, 1], px, bot) > s2:
        return 2
    up, lo = hull[0], hull[1]
    if _slope(rect[1, 0], rect[1, 1], px, top) < s2:
        # the new upper end lowers the greatest slope: pivot on the lower chain
        bi = st[_LSTART]
        best = _slope(lo[bi, 0], lo[bi, 1], px, top)
        for j in range(st[_LSTART] + 1, st[_LTOP]):
            v = _slope(lo[j, 0], lo[j, 1], px, top)
            if v > best:
                break
            best = v
            bi = j
        _put(rect, 1, lo[bi, 0], lo[bi, 1])
        _put(rect, 3, px, top)
        st[_LSTART] = bi
        t = st[_UTOP]
        while t >= st[_USTART] + 2 and _below(up[t - 2, 0], up[t - 2, 1], up[t - 1, 0],
                                              up[t - 1, 1], px, top):
            t -= 1
        _put(up, t, px, top)
        st[_UTOP] = t + 1
    if _slope(rect[0, 0], rect[0, 1], px, bot) > s1:
        # the new lower end raises the least slope: pivot on the upper chain
        bi = st[_USTART]
        best = _slope(up[bi, 0], up[bi, 1], px, bot)
        for j in range(st[_USTART] + 1, st[_UTOP]):
            if up[j, 0] >= px:
                break
            v = _slope(up[j, 0], up[j, 1], px, bot)
            if v < best:
                break
            best = v
            bi = j
        _put(rect, 0, up[bi, 0], up[bi, 1])
        _put(rect, 2, px, bot)
        st[_USTART] = bi
        t = st[_LTOP]
        while t >= st[_LSTART] + 2 and not _below(lo[t - 2, 0], lo[t - 2, 1], lo[t - 1, 0],
                                                  lo[t - 1, 1], px, bot):
            t -= 1
        _put(lo, t, px, bot)
        st[_LTOP] = t + 1
    st[_K] += 1
    return 0


@numba.njit(cache=True, nogil=True)
def _cubic(x: Array, y: Array, kinks: Array, i: int, t: float) -> float:  # pragma: no cover
    """The value at ``t`` of the cubic (quadratic at the ends) through samples near
    the cell ``[x[i-1], x[i]]``, all on the cell's side of the ``kinks`` (sorted
    abscissae of samples where ``f'`` jumps: a cubic across one is wrong near it)."""
    n = x.size
    lo, hi = 0, n - 1
    if kinks.size:
        k = np.searchsorted(kinks, x[i - 1], side="right")
        if k > 0:
            lo = min(i - 1, np.searchsorted(x, kinks[k - 1]))
        if k < kinks.size:
            hi = max(i, np.searchsorted(x, kinks[k], side="right") - 1)
    a = max(lo, min(i - 2, hi - 3))
    b = min(hi + 1, a + 4)
    total = 0.0
    for p in range(a, b):
        w = 1.0
        for q in range(a, b):
            if q != p:
                w *= (t - x[q]) / (x[p] - x[q])
        total += w * y[p]
    return total


@numba.njit(cache=True, nogil=True)
def _lines(rect, xs: float, out) -> None:  # pragma: no cover
    """The two extreme lines as (value at ``xs``, slope), least slope first."""
    s1 = _slope(rect[0, 0], rect[0, 1], rect[2, 0], rect[2, 1])
    s2 = _slope(rect[1, 0], rect[1, 1], rect[3, 0], rect[3, 1])
    out[0] = rect[0, 1] + s1 * (xs - rect[0, 0])
    out[1] = s1
    out[2] = rect[1, 1] + s2 * (xs - rect[1, 0])
    out[3] = s2


@numba.njit(cache=True, nogil=True)
def _search(st, hull, rect, x: Array, y: Array, kinks: Array, i: int, last_x: float,
            pad: float, fine: int, levels: int, out) -> int:  # pragma: no cover
    """Sample ``i`` broke the group: add points of the gap from ``last_x`` on until one
    breaks it. ``out`` receives (breaking x, its value, last accepted x); returns how it
    broke (1 or 2)."""
    bx, by = x[i], y[i]
    r = 0
    ax = last_x
    for _ in range(levels):
        for q in range(1, fine):
            tx = ax + (bx - ax) * q / fine
            if not (last_x < tx < bx):
                continue
            ty = _cubic(x, y, kinks, i, tx)
            rr = _add(st, hull, rect, tx, ty + pad, ty - pad)
            if rr != 0:
                bx, by, r = tx, ty, rr
                break
            last_x = tx
        ax = last_x
    out[0] = bx
    out[1] = by
    out[2] = last_x
    return r


@numba.njit(cache=True, nogil=True)
def _window(st, hull, rect, x: Array, y: Array, band: Array, r: int, H: float, bx: float,
            top: float, bot: float) -> float:  # pragma: no cover
    """Restart the group on the *window* of the one that ``r`` broke at ``bx`` (after
    Suri's windows): the blocked extreme line (least slope if ``r`` is 1), from its
    pivot on the inner side (a lower end if ``r`` is 1) up to ``bx``. A line that is
    beyond the inner ends at the pivot and at the samples from there to ``bx`` (within
    ``H`` of them: a bound that only drops lines too steep to matter), and meets the
    segment at ``bx``, crosses the blocked line before ``bx`` (at the pivot it is on the
    inner side of it, at ``bx`` on the outer side, where the segment is), and a path
    that follows the blocked line up to the crossing and then the new line meets every
    segment ``[bot, top]`` at ``bx`` (added last). Returns the pivot's abscissa, the
    new group's start, or NaN if a segment could not be added (``H`` too small for
    the lines needed, or rounding), so that the caller retries or falls back."""
    k = 2 if r == 1 else 3
    px, py = rect[k, 0], rect[k, 1]
    if r == 1:
        _start(st, hull, rect, px, py + H, py)
    else:
        _start(st, hull, rect, px, py, py - H)
    j = np.searchsorted(x, px, side="right")
    while j < x.size and x[j] < bx:
        if r == 1:
            rr = _add(st, hull, rect, x[j], y[j] - band[j] + H, y[j] - band[j])
        else:
            rr = _add(st, hull, rect, x[j], y[j] + band[j], y[j] + band[j] - H)
        if rr != 0:
            return np.nan
        j += 1
    if _add(st, hull, rect, bx, top, bot) != 0:
        return np.nan
    return px


@numba.njit(cache=True, nogil=True)
def _close(rect, r: int, bx: float, start: float, witness, line) -> None:  # pragma: no cover
    """Record a broken group's Helly witness (its two pivots and the breaking point)
    and its two extreme lines at ``start``."""
    p0, p1 = (0, 2) if r == 1 else (1, 3)
    witness[0] = rect[p0, 0]
    witness[1] = rect[p1, 0]
    witness[2] = bx
    _lines(rect, start, line)


@numba.njit(cache=True, nogil=True)
def _exact_restart(st, hull, rect, x: Array, y: Array, band: Array, r: int, H: float,
                   bx: float, top: float, bot: float) -> float:  # pragma: no cover
    """:func:`_window` with ``H``, else 64 ``H``, else 4096 ``H``; NaN if none works."""
    saved = rect.copy()
    for attempt in range(3):
        px = _window(st, hull, rect, x, y, band, r, H * 64.0**attempt, bx, top, bot)
        if px == px:
            return px
        rect[:] = saved
    return np.nan


@numba.njit(cache=True, nogil=True)
def _vertical_restart(st, hull, rect, line, dx: float, at: float, bx: float, top: float,
                      bot: float) -> None:  # pragma: no cover
    """Start a group on the vertical window at ``at`` (``dx`` past the last group's
    start) of the last group's two extreme ``line``, then add ``[bot, top]`` at ``bx``."""
    w1 = line[0] + line[1] * dx
    w2 = line[2] + line[3] * dx
    _start(st, hull, rect, at, max(w1, w2), min(w1, w2))
    _add(st, hull, rect, bx, top, bot)


@numba.njit(cache=True, nogil=True)
def greedy_cover(
    x: Array, y: Array, pad: Array, E: float, continuous: bool, limit: int,
    fine: int, levels: int, kinks: Array, first_stop: float = np.inf, exact: bool = False,
) -> tuple[int, Array, Array, Array, Array]:  # pragma: no cover
    """Greedy cover of the segments ``[y - (E - pad), y + (E - pad)]`` at ``x`` by groups;
    ``kinks`` (sorted abscissae of samples where ``f'`` jumps, maybe none) bound the
    samples whose cubic guides the search of a gap (:func:`_cubic`).

    Returns
    -------
    groups : int
        Number of groups (stops once it exceeds ``limit``).
    starts : array of shape (n,)
        ``starts[g]``: abscissa of group ``g``'s first point (first ``groups`` entries).
    witness : array of shape (n, 3)
        ``witness[g]``: the abscissae of three points no line stabs that ended group ``g``
        (NaN for the last group).
    lines : array of shape (n, 4)
        Per group, the least- and greatest-slope lines at its end, each as (value at
        the group's first point, slope).
    turns : array of shape (n,)
        How each group broke: 1 (a segment below the least-slope line), 2 (above the
        greatest-slope one), -1 (made to end by ``first_stop``), 0 (the last group).

    With ``continuous`` and ``exact``, a group that breaks by 1 or 2 restarts on the
    window of :func:`_window` (its first point is the pivot there), and the blocked
    extreme line is that group's link: consecutive links cross on the window. The
    window keeps the lines within ``H = 64 E`` of the inner ends, enough where ``f`` is
    smooth (consecutive links differ by about ``f'' h`` in slope over a window of about
    a piece ``h``: ``16 E``); a link across a kink turns by the jump of ``f'``, and
    with ``kinks`` the range of ``y`` is added to ``H`` (|x - 0.3| + x² at d = 64: the
    band 1.8 % above the lower bound with ``64 E``, 3e-5 with that).
    """
    n = x.size
    cap = min(n, limit + 1)
    starts, turns = np.zeros(cap), np.zeros(cap, dtype=np.int64)
    witness = np.full((cap, 3), np.nan)
    lines = np.zeros((cap, 4))
    hull = np.empty((2, n + 2 * levels * fine + 4, 2))
    rect = np.empty((4, 2))
    st = np.zeros(5, dtype=np.int64)
    found = np.empty(3)
    band = E - pad
    # a link after a kink may turn by its jump: see the docstring
    H = 64.0 * abs(E) + ((np.max(y) - np.min(y)) if kinks.size else 0.0)
    groups = 1
    starts[0] = x[0]
    _start(st, hull, rect, x[0], y[0] + band[0], y[0] - band[0])
    last_x = x[0]
    i = 1
    while i < n:
        if groups == 1 and x[i] > first_stop and st[_K] >= 2:
            r = -1  # the first group is made to end here
            found[0], found[1], found[2] = x[i], y[i], last_x
        else:
            r = _add(st, hull, rect, x[i], y[i] + band[i], y[i] - band[i])
            if r == 0:
                last_x = x[i]
                i += 1
                continue
            rr = _search(st, hull, rect, x, y, kinks, i, last_x, band[i], fine, levels,
                         found)
            r = rr if rr != 0 else r
        bx, by, last_x = found[0], found[1], found[2]
        g = groups - 1
        _close(rect, r, bx, starts[g], witness[g], lines[g])
        turns[g] = r
        groups += 1
        if groups > limit:
            return groups, starts, witness, lines, turns
        px = np.nan
        if continuous and exact and r > 0 and H > 0:
            px = _exact_restart(st, hull, rect, x, y, band, r, H, bx, by + band[i],
                                by - band[i])
        if px == px:
            starts[groups - 1] = px
        elif continuous:  # the next group starts on the window at the last point
            turns[g] = -r
            starts[groups - 1] = last_x
            _vertical_restart(st, hull, rect, lines[g], last_x - starts[g], last_x, bx,
                              by + band[i], by - band[i])
        else:
            starts[groups - 1] = bx
            _start(st, hull, rect, bx, by + band[i], by - band[i])
        last_x = bx
        if bx == x[i]:
            i += 1
    g = groups - 1
    if st[_K] >= 2:
        _lines(rect, starts[g], lines[g])
    else:
        lines[g, 0] = lines[g, 2] = 0.5 * (rect[0, 1] + rect[1, 1])
    return groups, starts, witness, lines, turns
