"""A Remez-type exchange for the minimax continuous piecewise-linear fit with free knots.

The best uniform approximation of ``f`` by a continuous piecewise-linear function with
free knots equioscillates: its error reaches ±E at every knot where the fit kinks
against ``f`` and at one or two interior extremes of every cell (about 2n + 1
alternations for n cells). Here that system is solved by exchanges on the *extremal
set*, as the Remez algorithm does for polynomials and de Boor and Rice's algorithms for
free-knot splines: at each step the current extremal points are found (every interior
local extremum of the residual over the samples of a cell, refined by the parabola
through three samples, and the error at every knot), the fit moves to make them equal
and as small as possible to first order, and the new fit's extremes form the next set.

**Line form.** Each cell carries its line ``ℓ_c(x) = a_c + s_c (x − m_c)`` (``m_c`` the
cell's midpoint when the step starts); the knots are the intersections of consecutive
lines, so continuity holds by construction. In these coordinates an interior extreme
``x*`` of cell ``c`` has the residual ``a_c + s_c (x* − m_c) − f(x*)``, *linear* in the
parameters (``x*`` moves, but the residual is stationary there: the envelope
theorem), and the error at knot ``k`` between cells ``c − 1`` and ``c`` moves as the
weighted mean ``(1 − w) δℓ_{c−1}(τ_k) + w δℓ_c(τ_k)`` with
``w = (s_{c−1} − f′(τ_k)) / (s_{c−1} − s_c)``. The knot-and-value form
(:mod:`approx.train.minimax`) is badly scaled for this: moving a knot at fixed values
changes the fit by the cell's rise times the move, often a hundred times ``E``, so its
linear model holds only for tiny steps; in line form the nonlinearity is the knot
errors' alone, of the order of ``δ²/E``.

**The step** is the linear program ``min t`` subject to ``|r_i + J_i δ| ≤ t`` over the
extremal set (one side only for a residual within :data:`SIGNED` of ±E: the other is
about 2E away; half the rows), each knot's linearised move bounded by ``radius`` of the
cell it enters and its slope change by :data:`KINK_CHANGE` of itself, and the lines'
shifts by ``VALUE_SCALE · radius · E`` (Madsen's trust region: it
grows after good steps, shrinks after poor ones); a step is kept when the error on the
samples and at the knots falls. A level cell (``flat``) keeps slope 0. ``f`` and ``f′``
at a knot come from the quadratic through the three nearest samples; where ``f`` kinks
between two samples (:func:`kinks`), from the quadratics on either side, each a row
(:func:`sides`), so the knot settles on the kink; the kink's tip, which no sample holds,
is an extreme of its own (:func:`kink_points`), in the error and in the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline

__all__ = ["ACTIVE", "EXCHANGE_STEPS", "chord_errors", "end_rows", "evenly_spaced", "exchange",
           "extrema", "finish_kinks", "fit_error", "from_lines", "kink_points", "kinks",
           "least_cell", "line_errors", "move_knots", "moved", "rebalanced", "sample_kinks",
           "sampled", "sides", "spread", "tied", "to_lines"]

Array = NDArray[np.float64]

#: interior extremes of the residual at least this fraction of the max join the set
ACTIVE = 0.25
#: within :func:`end_rows`, the samples next to the data's ends join the set where the
#: residual grows toward the end (:func:`extrema`)
_END_ROWS: ContextVar[bool] = ContextVar("approx_exchange_end_rows", default=False)
#: whether the exchange under way has met such an end (:func:`exchange`)
_ENDS_NOW: ContextVar[bool] = ContextVar("approx_exchange_ends_now", default=False)
#: the kinks of the samples of the exchange under way (:func:`kink_points`: points and
#: ``f`` there from either side; None: not known, and :func:`sides` is asked at every
#: knot)
_KINKS: ContextVar[tuple[Array, Array, Array] | None] = ContextVar(
    "approx_exchange_kinks", default=None)
#: cells in a row, each under an eighth of the mean step, that mark a run split by graded
#: sampling (:func:`finish_kinks`; random samples hold such a run with odds of 10⁻⁷)
REFINED = 8
#: residuals at least this fraction of the max bound the step on their own side only
SIGNED = 0.5
#: linear programs at most per call of :func:`exchange`
EXCHANGE_STEPS = 100
#: trust region: knots move at most ``radius`` (and :data:`KNOT_MOVE`) of the cell they
#: move into (linearised), lines shift by at most ``VALUE_SCALE · radius · E``; ``radius`` starts at
#: :data:`START_RADIUS` and stays at most :data:`MAX_RADIUS`
START_RADIUS, MAX_RADIUS, VALUE_SCALE = 1.0, 4.0, 4.0
#: the radius doubles after a step gaining more than GOOD of the predicted gain, and
#: shrinks fourfold after one gaining less than POOR
GOOD, POOR = 0.75, 0.25
#: a knot moves at most this fraction of the cell it moves into (< ½: knots never cross)
KNOT_MOVE = 0.45
#: a knot's slope change moves by at most this fraction of itself in one step
KINK_CHANGE = 0.5
#: the exchange stops once a kept step gains less than this fraction of the error
STALL = 1e-5
#: or once :data:`WINDOW` linear programs together gained less than :data:`WINDOW_GAIN`
#: of the error (the trust region shrinking onto a minimax fit)
WINDOW, WINDOW_GAIN = 6, 1e-4
#: a path is given up after GIVE_UP_AFTER steps while its error exceeds GIVE_UP times the
#: error another path reached (a monotone convex target's level form never gets there),
#: and after EARLY_AFTER while it exceeds EARLY times that error
GIVE_UP_AFTER, GIVE_UP = 20, 1.5
EARLY_AFTER, EARLY = 10, 2.5
#: a start's knots are kept at least this fraction of the mean cell apart (:func:`spread`)
SPREAD = 1e-2
#: least cell width a step may leave, relative to the data range
MIN_CELL = 1e-6
#: knot moves (:func:`move_knots`): rounds at most, knots removed (least removal cost
#: first) and cells split (largest chord error first) tried per round, linear programs
#: per try (the screen), and for the best try's exchange after it
MOVE_ROUNDS, MOVE_REMOVE, MOVE_SPLIT, MOVE_SCREEN, MOVE_STEPS = 2, 3, 2, 8, 40
#: knot moves are tried only while some knot's removal would change the fit by less
#: than this fraction of its max error (an idle knot: at the local minima measured on
#: ten targets at d = 8, 16 every knot's removal cost 1–8 times the error where the
#: moves gained nothing; 0.04–0.6 where they did, or might)
IDLE = 0.75
#: the linear programs' feasibility tolerances, relative to the max error (at least 1e-10)
TOLERANCE = 1e-3
#: ``f`` kinks between two samples where its slopes extrapolated from either side differ
#: by more than this fraction of the max error per sample spacing (:func:`sides`)
KINKED = 0.01
#: :func:`kinks`: the two sides' slopes differ by more than this many times the interval
#: times their curvatures, and by more than this fraction of the largest slope
#: (:func:`_largest_slope`)
KINK_RATIO, KINK_FLOOR = 5.0, 1e-6


def sampled(x: Array, y: Array, t: Array) -> tuple[Array, Array]:
    """``f(t)`` and ``f′(t)`` from the samples ``(x, y)`` (``x`` sorted, at least 3): the
    quadratic through the three samples nearest ``t``."""
    i = np.clip(np.searchsorted(x, t), 1, x.size - 2)
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    d01 = (y[i] - y[i - 1]) / (x1 - x0)
    d12 = (y[i + 1] - y[i]) / (x2 - x1)
    c2 = (d12 - d01) / (x2 - x0)
    value = y[i - 1] + d01 * (t - x0) + c2 * (t - x0) * (t - x1)
    return value, d01 + c2 * ((t - x0) + (t - x1))


def _one_sided(x: Array, y: Array, i: NDArray[np.intp], t: Array) -> tuple[Array, Array, Array]:
    """The quadratic through the samples ``i``, ``i + 1``, ``i + 2`` at ``t``: value,
    slope and |second derivative|."""
    x0, x1, x2 = x[i], x[i + 1], x[i + 2]
    d01 = (y[i + 1] - y[i]) / (x1 - x0)
    c2 = ((y[i + 2] - y[i + 1]) / (x2 - x1) - d01) / (x2 - x0)
    return (y[i] + d01 * (t - x0) + c2 * (t - x0) * (t - x1), d01 + c2 * (2.0 * t - x0 - x1),
            np.abs(2.0 * c2))


def _two_sides(x: Array, y: Array, t: Array, j: NDArray[np.intp]
               ) -> tuple[Array, Array, Array, Array, NDArray[np.bool_], Array]:
    """At ``t`` in the sample interval ``(x[j − 1], x[j]]`` (``3 ≤ j ≤ x.size − 3``): the
    value and slope of the quadratics through the three samples left of the interval
    and the three right of it, whether ``f`` kinks there (:func:`kinks`' test), and the
    test's ratio."""
    fl, dl, cl = _one_sided(x, y, j - 3, t)
    fr, dr, cr = _one_sided(x, y, j, t)
    jump = np.abs(dr - dl)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = jump / ((x[j] - x[j - 1]) * (cl + cr))
    kinked = score > KINK_RATIO
    if kinked.any():  # (the usual case: none, and the floor's pass over the samples spared)
        kinked &= jump > KINK_FLOOR * _largest_slope(x, y)
    return fl, dl, fr, dr, kinked, score


def _largest_slope(x: Array, y: Array) -> float:
    """The largest slope of the samples' chords, over the cells at least an eighth of
    the mean step wide (all of them where the samples are evenly spaced): the cells that
    graded points split at a singular end are left out, as their slopes grow without
    bound (√(x + 1) + |x − 0.3| at d = 256: 2e6 on a cell 2e-13 wide, and the jump of 2
    at 0.3 fell below the floor; the finish, blind to it, ended 5.6× the optimum)."""
    h = np.diff(x)
    slope = np.abs(np.diff(y) / h)
    wide = h >= float(np.mean(h)) / 8.0
    return float(np.max(slope[wide] if wide.any() else slope))


def kinks(x: Array, y: Array) -> tuple[Array, Array]:
    """Where ``f`` kinks between two samples (``x`` sorted, evenly spaced or nearly):
    the points ``κ`` and the jumps ``J = f′(κ+) − f′(κ−)``.

    At the middle of each sample interval the quadratics through the three samples left
    of it and the three right of it give two slopes; a kink is where they differ by more
    than :data:`KINK_RATIO` times the interval times the two quadratics' curvatures
    (smooth ``f``: the slopes differ by ``O(f‴ h²)``, the curvatures are ``f″``: the
    ratio is at most 1.3 on the benchmark's targets, |x|^1.5 at 0; the interval next to
    a kink has a quadratic across it, whose curvature ``~J/h`` refuses it), and by more
    than :data:`KINK_FLOOR` of the samples' largest slope (rounding). ``κ`` is where the
    two quadratics' tangents there cross (within ``f‴ h³/J`` of the kink)."""
    if x.size < 7:
        return np.empty(0), np.empty(0)
    j = np.arange(3, x.size - 2)
    t = 0.5 * (x[j - 1] + x[j])
    fl, dl, fr, dr, at, score = _two_sides(x, y, t, j)
    if not at.any():  # (the usual case)
        return np.empty(0), np.empty(0)
    # a kink near a sample passes in the next interval too (one quadratic barely across
    # it): of flagged intervals within two of each other, the cleanest (highest ratio)
    score = np.where(at, score, 0.0)
    padded = np.pad(score, 2)
    for k in (0, 1, 3, 4):
        at &= score >= padded[k: k + score.size]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = t[at] + (fr[at] - fl[at]) / (dl[at] - dr[at])
    kappa = np.clip(kappa, x[j[at] - 2], x[j[at] + 1])
    if not kappa.size:
        return np.empty(0), np.empty(0)
    # one kink per interval's width (each κ apart from the one before by more than it)
    once = np.concatenate([[True], np.diff(kappa) > (x[j[at]] - x[j[at] - 1])[1:]])
    return kappa[once], (dr - dl)[at][once]


def finish_kinks(x: Array, y: Array) -> tuple[Array, Array]:
    """:func:`kinks` of the finish's samples, less those inside a run of cells split by
    graded sampling (:data:`REFINED` cells or more in a row, each narrower than an
    eighth of the mean step): graded points never split a kink's cell (their kinks are
    found on the even grid first), so what the kink test finds there is a singular point
    resolved by the split, √|x − 0.4|'s cusp, whose slopes grow without bound on either
    side. Taken for a kink (at d = 64), it got a knot with ``f`` from one side and the
    fit ended 1.40× the optimum (1.02× without). Evenly spaced or random samples:
    :func:`kinks`."""
    kappa, jump = kinks(x, y)
    if kappa.size == 0 or evenly_spaced(x):
        return kappa, jump
    h = np.diff(x)
    fine = np.r_[False, h < float(np.mean(h)) / 8.0, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(fine))
    starts, ends = edges[::2], edges[1::2]  # runs of fine cells [start, end)
    long = (ends - starts) >= REFINED
    inside = np.zeros(h.size, dtype=bool)
    for a, b in zip(starts[long], ends[long], strict=True):
        inside[max(a - 1, 0):b + 1] = True  # (and the cells either side)
    cell = np.clip(np.searchsorted(x, kappa) - 1, 0, h.size - 1)
    keep = ~inside[cell]
    return kappa[keep], jump[keep]


def kink_points(x: Array, y: Array, found: tuple[Array, Array] | None = None
                ) -> tuple[Array, Array, Array]:
    """The kinks ``κ`` of ``f`` between samples (:func:`kinks`, or ``found``) and ``f(κ)``
    from either side (:func:`sides`' quadratics): the tip of a kink lies between
    samples, where no sample sees the residual's extreme once no knot sits on it."""
    kappa = finish_kinks(x, y)[0] if found is None else found[0]
    fl, _, fr, _, _ = sides(x, y, kappa, 0.0)
    return kappa, fl, fr


def sides(x: Array, y: Array, t: Array, error: float
          ) -> tuple[Array, Array, Array, Array, NDArray[np.bool_]]:
    """``f(t)`` and ``f′(t)`` extrapolated from each side of the sample interval holding
    ``t`` (the quadratics through the three samples left of it and the three right of
    it), and where ``f`` kinks in that interval: :func:`kinks`' test, and the two slopes
    at ``t`` differ by more than :data:`KINKED` · ``error`` per sample spacing.

    Between samples the quadratic through the three nearest (:func:`sampled`) rounds a
    kink of ``f`` off: at a knot there it puts ``f`` where neither side of the kink is,
    and ``f′`` between the two slopes. On sqrt(|x| + 0.01), where f′ jumps from −5 to 5
    at x = 0 between two samples, the exchange then took the error at its knot next to
    the kink for about 0.7 of what it is and ended 1.4–2.2× above the optimum at every
    d = 8 … 1024. Where neither test holds the exchange takes :func:`sampled`'s
    ``f``, bit for bit (the absolute test alone held next to 0 on |x|^1.5 at d = 256
    … 1024, and its fits ended up to 2 % higher)."""
    j = np.searchsorted(x, t)  # x[j - 1] < t ≤ x[j]
    ok = (j >= 3) & (j <= x.size - 3)
    j = np.clip(j, 3, x.size - 3)
    fl, dl, fr, dr, kinked, _ = _two_sides(x, y, t, j)
    kinked &= ok & (np.abs(dl - dr) * (x[j] - x[j - 1]) > KINKED * error)
    return fl, dl, fr, dr, kinked


def evenly_spaced(x: Array) -> bool:
    """Whether the sorted samples ``x`` are evenly spaced (to ``1e-6`` of their mean
    step, and a few rounding units of their ends), as uniform ones are; graded samples
    (cells split where ``f`` is not resolved) and random ones are not."""
    h = np.diff(x)
    if h.size == 0:
        return True
    rounding = 8.0 * float(np.spacing(max(abs(x[0]), abs(x[-1]))))
    return float(np.ptp(h)) <= 1e-6 * float(np.mean(h)) + rounding


def least_cell(x: Array, span: float) -> float:
    """The least cell width a step of the exchange may leave: :data:`MIN_CELL` of
    ``span``, or the samples' smallest step where that is narrower and the samples are
    not evenly spaced (graded samples at a singular end: √(x + 1)'s optimal first cell is
    about ``10^-8`` wide at d = 256, as its samples resolve it)."""
    least = MIN_CELL * span
    return least if evenly_spaced(x) else min(least, float(np.min(np.diff(x))))


def fit_error(tau: Array, u: Array, x: Array, y: Array) -> float:
    """The max error of the fit through ``(τ, u)``: at the samples and at the knots
    (where a kink may lie between samples; at a kink of ``f`` between samples the larger
    of the errors from its two sides, :func:`sides`), and, where the kinks of ``f`` are
    known (:func:`exchange`), at each kink's tip from either side (:func:`kink_points`)."""
    r = np.interp(x, tau, u) - y
    worst = float(np.max(np.abs(r)))
    knots = np.abs(u - sampled(x, y, tau)[0])
    found = _KINKS.get()
    if found is not None and found[0].size == 0:
        return max(worst, float(np.max(knots)))
    if found is not None:  # at the kinks of f (between samples: the tip no sample holds)
        at = np.interp(found[0], tau, u)
        tips = np.maximum(np.abs(at - found[1]), np.abs(at - found[2]))
        worst = max(worst, float(np.max(tips)))
    fl, dl, fr, dr, kinked = sides(x, y, tau[1:-1], worst)
    if kinked.any():
        inner = knots[1:-1]
        left, right = np.abs(u[1:-1] - fl), np.abs(u[1:-1] - fr)
        side = _sides_of(tau[1:-1], found, dl - dr, worst)
        inner[kinked] = np.where(side < 0, left, np.where(side > 0, right, np.maximum(
            left, right)))[kinked]
    return max(worst, float(np.max(knots)))


def _sides_of(t: Array, found: tuple[Array, Array, Array] | None, jump: Array,
              error: float) -> Array:
    """Per point of ``t``, the side of its nearest kink (:func:`kink_points`) it lies on:
    −1 left, 1 right; 0 where the kinks are not known (None) or on the kink, where the
    two sides' values differ by at most the linear program's tolerance
    (``|t − κ| · |jump| ≤`` :data:`TOLERANCE` · ``error``, ``jump`` the slopes'
    difference at ``t``). Left of a kink ``f`` is the left quadratic's, right of it the
    right one's: the other, continued past the tip, is no value of ``f``
    (e^{−3|x − 0.1|} at d = 8: a knot 0.6 sample steps off the kink read an error 6 %
    above the max, and the subset path ended 1.30× above where it had)."""
    if found is None or found[0].size == 0:
        return np.zeros(t.size)
    nearest = found[0][np.argmin(np.abs(t[:, None] - found[0][None, :]), axis=1)]
    off = t - nearest
    return np.where(np.abs(off * jump) <= TOLERANCE * error, 0.0, np.sign(off))


@contextmanager
def end_rows(on: bool = True) -> Iterator[None]:
    """Within this block (with ``on``), once a step of :func:`exchange` falls short
    (less than :data:`POOR` of its predicted gain) with the new max one sample inside
    an end of the data, :func:`extrema` also returns, for the rest of that exchange,
    the sample next to each end where the residual still grows toward that end (``|r|``
    at the end above its neighbour's, same sign), at least :data:`ACTIVE` of the max.

    The end then holds the cell's extreme; a step that lowers it opens an interior
    extreme one sample inside, which no row saw, and the step fails however small the
    trust region (the linear model misses the new max). A sample's residual at fixed
    ``x`` is linear in its cell's line, so the row is exact while the sample stays in
    its cell. On (x + 2)/(1.12 − x) at d = 8, the level-first-cell form crawled for 61
    steps to 1.19× the minimax error; with these rows it reaches it. Only the thorough
    finish (:func:`approx.train.minimax.thorough`) asks for them: in the default finish
    the rows, always on, moved fits by up to 0.07 % either way (built-in targets, d = 8
    … 1024), and in the thorough finish, always on, they led sin(e^{2x}) at d = 8 to
    another local minimum (1.044 of the optimum's upper end instead of 0.927)."""
    token = _END_ROWS.set(on)
    try:
        yield
    finally:
        _END_ROWS.reset(token)


def extrema(tau: Array, u: Array, x: Array, y: Array, error: float
            ) -> tuple[Array, Array, Array]:
    """The interior local extremes of the residual ``r = fit − f`` at least
    :data:`ACTIVE` · ``error``: abscissae, residuals and cells. A sample counts when it
    and both neighbours lie in one cell and it is a local extremum of ``r`` (of a
    plateau of ``r``, only its ends: :func:`_plateau_ends`); the vertex of the parabola
    through the three refines it (an extreme at a knot is the knot's)."""
    r = np.interp(x, tau, u) - y
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, tau.size - 2)
    i = np.arange(1, x.size - 1)
    rm, r0, rp = r[:-2], r[1:-1], r[2:]
    keep = (cell[:-2] == cell[1:-1]) & (cell[2:] == cell[1:-1])
    extreme = ((r0 >= rm) & (r0 >= rp)) | ((r0 <= rm) & (r0 <= rp))
    # next to an end whose residual is the cell's extreme: the interior extreme a step
    # may open there (a sample's residual at fixed x is linear in its cell's line)
    rising = np.zeros_like(extreme)
    if _ENDS_NOW.get() and r.size >= 3:
        rising[0] = r[0] * (r[0] - r[1]) > 0.0
        rising[-1] = r[-1] * (r[-1] - r[-2]) > 0.0
    keep &= extreme | rising
    i = _plateau_ends(i[keep & (np.abs(r0) >= ACTIVE * error)], r, cell)
    xm, x0, xp = x[i - 1], x[i], x[i + 1]
    d1 = (r[i] - r[i - 1]) / (x0 - xm)
    c = ((r[i + 1] - r[i]) / (xp - x0) - d1) / (xp - xm)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = 0.5 * (xm + x0) - d1 / (2.0 * c)
    ok = np.isfinite(xs) & (xs > xm) & (xs < xp)
    xs = np.where(ok, xs, x0)
    rs = np.where(ok, r[i - 1] + d1 * (xs - xm) + c * (xs - xm) * (xs - x0), r[i])
    return xs, rs, cell[i]


def _plateau_ends(i: NDArray[np.intp], r: Array, cell: NDArray[np.intp]) -> NDArray[np.intp]:
    """The samples ``i`` less those inside a plateau of the residual ``r`` within a cell
    (two samples each side with its value and cell): there the linearised residual is
    linear in x, so the plateau's ends bound it. A level fit over level samples made
    every sample a row (|x|^2.5 (1 + tanh 40x)/2 at d = 1024: 33 000 of 39 000 rows
    from its level tail, the linear programs 6× larger)."""
    inside = (i >= 2) & (i <= r.size - 3)
    j = i[inside]
    plateau = r[j + 1] == r[j]
    if not plateau.any():  # (the usual case: no two samples' residuals equal)
        return i
    for k in (-2, -1, 1, 2):
        plateau &= (r[j + k] == r[j]) & (cell[j + k] == cell[j])
    inside[inside] = plateau
    return i[~inside]


def to_lines(tau: Array, u: Array) -> tuple[Array, Array, Array]:
    """The line form of ``(τ, u)``: midpoints ``m``, values ``a`` there, slopes ``s``."""
    return 0.5 * (tau[:-1] + tau[1:]), 0.5 * (u[:-1] + u[1:]), np.diff(u) / np.diff(tau)


def from_lines(m: Array, a: Array, s: Array, lo: float, hi: float) -> tuple[Array, Array]:
    """Knots (the intersections of consecutive lines, ends ``lo``, ``hi``) and values of
    the line form; parallel neighbours give non-finite knots."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (a[1:] - a[:-1] - s[1:] * m[1:] + s[:-1] * m[:-1]) / (s[:-1] - s[1:])
    tau = np.concatenate(([lo], inner, [hi]))
    u = np.append(a + s * (tau[:-1] - m), a[-1] + s[-1] * (hi - m[-1]))
    return tau, u


def _rows(m: Array, s: Array, tau: Array, u: Array, x: Array, y: Array, error: float
          ) -> tuple[Any, Array, Any]:
    """The linearised extremal set: the Jacobian in the columns ``(δa_0, δs_0, δa_1, …)``,
    the residuals, and the knots' linearised moves times ``s_{c−1} − s_c``, both as
    rows (:class:`approx.train._lp.Rows`, columns in order within a row)."""
    from approx.train import _lp

    n = m.size
    xs, rs, c = extrema(tau, u, x, y, error)
    fk, dk = sampled(x, y, tau)
    found = _KINKS.get()
    if found is not None and found[0].size:  # the kinks of f: rows of their own
        xs, rs, c = _kink_rows(found, tau, u, x, (xs, rs, c))
    if found is None or found[0].size:
        fl, dl, fr, dr, kinked = sides(x, y, tau[1:-1], error)
    else:  # (the usual case: no kink among the samples)
        fl = dl = fr = dr = fk[1:-1]
        kinked = np.zeros(n - 1, dtype=bool)
    # a knot next to a kink of f: the row of its side of the kink, of each side where
    # the kinks are not known or it sits on one (the larger error holds)
    side = _sides_of(tau[1:-1], found, dl - dr, error)
    twice = kinked & (side == 0)
    right = kinked & (side > 0)
    cl = np.concatenate([np.arange(n - 1), np.flatnonzero(twice)])
    fi = np.concatenate([np.where(right, fr, np.where(kinked, fl, fk[1:-1])), fr[twice]])
    di = np.concatenate([np.where(right, dr, np.where(kinked, dl, dk[1:-1])), dr[twice]])
    inner, ds = tau[1:-1][cl], (s[:-1] - s[1:])[cl]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = (s[:-1][cl] - di) / ds
    w = np.where(np.isfinite(w), w, 0.5)
    # rows: the extremes (their cell's value and slope), the left end, the interior
    # knots (the lines on both sides, weighted), the right end
    cells = np.c_[2 * c, 2 * c + 1]
    knots = np.c_[2 * cl, 2 * cl + 1, 2 * cl + 2, 2 * cl + 3]
    counts = np.concatenate([np.full(xs.size + 1, 2), np.full(cl.size, 4), [2]])
    J = _lp.Rows(
        np.concatenate([[0], np.cumsum(counts)]).astype(np.int32),
        np.concatenate([cells.ravel(), [0, 1], knots.ravel(), [2 * n - 2, 2 * n - 1]]
                       ).astype(np.int32),
        np.concatenate([np.c_[np.ones(xs.size), xs - m[c]].ravel(), [1.0, tau[0] - m[0]],
                        np.c_[1.0 - w, (1.0 - w) * (inner - m[cl]), w,
                              w * (inner - m[cl + 1])].ravel(),
                        [1.0, tau[-1] - m[-1]]]),
        2 * n,
    )
    at, knots = tau[1:-1], knots[: n - 1]
    moves = _lp.Rows(
        4 * np.arange(n, dtype=np.int32), knots.ravel().astype(np.int32),
        np.c_[np.ones(n - 1), at - m[:-1], -np.ones(n - 1), m[1:] - at].ravel(), 2 * n,
    )
    r = np.concatenate([rs, [u[0] - fk[0]], u[1:-1][cl] - fi, [u[-1] - fk[-1]]])
    return J, r, moves


def _kink_rows(found: tuple[Array, Array, Array], tau: Array, u: Array, x: Array,
               extremes: tuple[Array, Array, NDArray[np.intp]]
               ) -> tuple[Array, Array, NDArray[np.intp]]:
    """The extremal set ``(xs, rs, c)`` with the kinks ``found`` (:func:`kink_points`)
    added: at each kink ``κ``, the residual of its cell's line against ``f(κ)`` from
    either side, exact in the line since ``κ`` does not move; where a knot lies within
    a sample step of ``κ``, of both lines meeting there (the fit at ``κ`` is either
    line's, as the knot ends on one side or the other). On e^{−3|x − 0.1|} at d = 64
    the knot next to the kink stopped 0.16 sample steps off it, the kink's tip inside
    its cell unseen, and the fit ended 7 % above its own max error on the samples."""
    kappa, fl, fr = found
    step = (x[-1] - x[0]) / (x.size - 1)
    even = evenly_spaced(x)
    points, cells, values = [], [], []
    for i, k in enumerate(kappa):
        if not even:  # (graded samples: the step at the kink)
            j = int(np.clip(np.searchsorted(x, k), 1, x.size - 1))
            step = float(x[j] - x[j - 1])
        near = 1 + int(np.argmin(np.abs(tau[1:-1] - k))) if tau.size > 2 else 0
        cell = int(np.clip(np.searchsorted(tau, k, side="right") - 1, 0, tau.size - 2))
        for c in {cell} | ({near - 1, near} if near and abs(tau[near] - k) <= step else set()):
            points += [k, k]
            cells += [c, c]
            values += [fl[i], fr[i]]
    at, c = np.array(points), np.array(cells, dtype=np.intp)
    r = u[c] + (u[c + 1] - u[c]) / (tau[c + 1] - tau[c]) * (at - tau[c]) - np.array(values)
    xs, rs, cs = extremes
    return np.r_[xs, at], np.r_[rs, r], np.r_[cs, c]


def _step(m: Array, a: Array, s: Array, tau: Array, u: Array, x: Array, y: Array,
          error: float, radius: float, flat: int | None, tie: Array | None = None
          ) -> tuple[Array, Array, float]:
    """The linear program's lines and predicted max error (``error`` if it fails); with
    ``tie``, the slopes' changes keep ``tie · s`` (:func:`exchange`)."""
    from approx.train import _lp

    n = m.size
    J, r, moves = _rows(m, s, tau, u, x, y, error)
    h, ds = np.diff(tau), s[:-1] - s[1:]
    # knot k moves by −(δℓ_{c−1} − δℓ_c)(τ_k)/ds: at most KNOT_MOVE of the cell it enters
    step = min(radius, KNOT_MOVE) * np.abs(ds)
    left, right = step * h[:-1], step * h[1:]
    upper, lower = np.where(ds > 0, left, right), np.where(ds > 0, right, left)
    # and its slope change by at most KINK_CHANGE of itself (the knot stays where the
    # linear model puts it, to a factor)
    cl = np.arange(n - 1)
    kinks = _lp.Rows(2 * np.arange(n, dtype=np.int32),
                     np.c_[2 * cl + 1, 2 * cl + 3].astype(np.int32).ravel(),
                     np.tile([1.0, -1.0], n - 1), 2 * n)
    kink = KINK_CHANGE * min(radius, 1.0) * np.abs(ds)
    # a residual near ±E bounds the step on its own side only (the other side is 2E away)
    signed = np.abs(r) >= SIGNED * error
    up, down = ~(signed & (r < 0)), ~(signed & (r > 0))
    A = _lp.stack(
        _lp.take(J, up, border=-1.0), _lp.take(J, down, -1.0, border=-1.0),
        moves, _lp.take(moves, scale=-1.0), kinks, _lp.take(kinks, scale=-1.0),
    )
    b = np.concatenate([-r[up], r[down], upper, lower, kink, kink])
    cost = np.zeros(2 * n + 1)
    cost[-1] = 1.0
    shift = VALUE_SCALE * radius * error
    bounds = np.empty((2 * n + 1, 2))
    bounds[0:-1:2] = (-shift, shift)
    bounds[1:-1:2, 0], bounds[1:-1:2, 1] = -2.0 * shift / h, 2.0 * shift / h
    if flat is not None:
        bounds[2 * flat + 1] = 0.0
    bounds[-1] = (0.0, np.inf)
    # HiGHS's feasibility tolerances are absolute (1e-7 by default): about E itself at
    # d = 1024, where the program then stops short of the minimax fit
    tol = _tolerance(error)
    eq = {}
    if tie is not None:
        row = np.zeros((1, 2 * n + 1))
        row[0, 1:-1:2] = tie
        eq = {"A_eq": row, "b_eq": np.zeros(1)}
    z = _lp.solve(cost, A, b, bounds, **eq, tolerance=tol)
    if z is None:
        return a, s, error
    return a + z[0:-1:2], s + z[1:-1:2], float(z[-1])


def spread(tau: Array, u: Array, flat: int | None = None, x: Array | None = None
           ) -> tuple[Array, Array]:
    """``(τ, u)`` with every interior knot closer than :data:`SPREAD` of the mean cell to a
    neighbour moved to the middle of its neighbours (the value there interpolated), the
    knots of cell ``flat`` kept: such a knot's lines are nearly parallel, its position
    ill-conditioned (a start from the samples' curvature can leave one at an end). On
    samples ``x`` not evenly spaced (graded at a singular end), closer than
    :data:`SPREAD` of the sample step there: the optimum's cells at ``√(x + 1)``'s end
    are ``10^-10`` wide at d = 1024, where the mean cell's fraction (``2·10^-5``)
    spread the start's first ten knots out again."""
    tau, u = tau.copy(), u.copy()
    small = SPREAD * (tau[-1] - tau[0]) / (tau.size - 1)
    if x is not None and not evenly_spaced(x):
        j = np.clip(np.searchsorted(x, tau[1:-1]), 1, x.size - 1)
        small = np.minimum(small, SPREAD * (x[j] - x[j - 1]))
    h = np.diff(tau)
    keep = () if flat is None else (flat, flat + 1)
    close = np.minimum(h[:-1], h[1:]) < small
    for k in np.flatnonzero(close) + 1:
        if k not in keep:
            middle = 0.5 * (tau[k - 1] + tau[k + 1])
            u[k] = np.interp(middle, tau, u)
            tau[k] = middle
    return tau, u


def tied(s: Array, tie: Array) -> Array:
    """The slopes ``s`` with ``tie · s = 0``: the slope of an end cell, else of the first
    tied cell, changed (its line turns about its midpoint). ``tie`` holds −1, 0 or 1
    per cell (:func:`exchange`)."""
    s = s.copy()
    rho = float(tie @ s)
    if rho != 0.0:
        c = next((c for c in (0, s.size - 1) if tie[c] != 0), int(np.flatnonzero(tie)[0]))
        s[c] -= rho / tie[c]
    return s


def exchange(tau: Array, u: Array, x: Array, y: Array, steps: int = EXCHANGE_STEPS,
             flat: int | None = None, rival: float = np.inf, tie: Array | None = None
             ) -> tuple[Array, Array, float, int]:
    """Exchange steps from the fit through ``(τ, u)`` (ends fixed) on samples ``(x, y)``
    (``x`` sorted), cell ``flat`` (if any) made and kept level; given up after
    :data:`GIVE_UP_AFTER` steps while the error stays above :data:`GIVE_UP` times
    ``rival`` (the error another path reached). ``tie`` (a coefficient per cell, −1, 0
    or 1): the slopes are made (:func:`tied`) and kept to ``tie · s = 0``, a linear
    relation such as a net's first slope being minus a subset sum of its slope changes.

    Returns
    -------
    tau, u : ndarray
        The knots and values of the fit of least max error found.
    error : float
        Its max error (:func:`fit_error`).
    used : int
        Linear programs solved.
    """
    token = _ENDS_NOW.set(False)
    known = _KINKS.get()
    kinky = _KINKS.set(kink_points(x, y) if known is None else known)
    try:
        return _exchange(tau, u, x, y, steps, flat, rival, tie)
    finally:
        _KINKS.reset(kinky)
        _ENDS_NOW.reset(token)


@contextmanager
def sample_kinks(x: Array, y: Array) -> Iterator[tuple[Array, Array]]:
    """Within this block, every exchange is on the samples ``(x, y)``: their kinks
    (:func:`kinks`: points and jumps, yielded) are found once, not at each call of
    :func:`exchange`."""
    found = finish_kinks(x, y)
    token = _KINKS.set(kink_points(x, y, found))
    try:
        yield found
    finally:
        _KINKS.reset(token)


def _tolerance(error: float) -> float:
    """The linear program's feasibility tolerance at max error ``error`` (:data:`TOLERANCE`
    of it, not below 1e-10)."""
    return max(1e-10, TOLERANCE * error)


def _loose(tau: Array, s: Array, error: float) -> Array:
    """The interior knots of ``(τ, s)`` whose lines do not place them (the others NaN):
    the linear program bounds a knot's move times its slope change ``|s_{c−1} − s_c|``
    to :data:`KNOT_MOVE` of the cell it enters, but only to its tolerance
    (:func:`_tolerance`), so a knot whose slope change times its shorter cell is within
    ``tol / KNOT_MOVE`` may land anywhere, or nowhere (parallel lines: a unit with no
    kink). exp(−80 (x − 0.9)²) at d = 512: the samples exactly level over 60 % of the
    domain, a few knots of the start there, and every step was refused as disordered
    (1.40× the optimum's upper end; with them kept, 1.02×)."""
    tol = _tolerance(error)
    h = np.diff(tau)
    loose = np.abs(s[:-1] - s[1:]) * KNOT_MOVE * np.minimum(h[:-1], h[1:]) <= tol
    return np.where(loose, tau[1:-1], np.nan)


def _pinned(tau: Array, m: Array, a: Array, s: Array, at: Array) -> tuple[Array, Array]:
    """The knots of the line form ``(m, a, s)`` with interior knot k kept at ``at[k]``
    where that is a number (:func:`_loose`), the values on the lines."""
    tau = tau.copy()
    keep = np.isfinite(at)
    tau[1:-1][keep] = at[keep]
    u = np.append(a + s * (tau[:-1] - m), a[-1] + s[-1] * (tau[-1] - m[-1]))
    return tau, u


def _missed_end(tau: Array, u: Array, x: Array, y: Array) -> bool:
    """Whether the max residual on the samples sits one sample inside an end."""
    worst = int(np.argmax(np.abs(np.interp(x, tau, u) - y)))
    return worst in (1, x.size - 2)


def _exchange(tau: Array, u: Array, x: Array, y: Array, steps: int, flat: int | None,
              rival: float, tie: Array | None) -> tuple[Array, Array, float, int]:
    """:func:`exchange`'s loop."""
    lo, hi = float(tau[0]), float(tau[-1])
    tau, u = spread(tau, u, flat, x)
    if flat is not None:  # the level cell at its mean value, the knots kept
        u[flat] = u[flat + 1] = 0.5 * (u[flat] + u[flat + 1])
    m, a, s = to_lines(tau, u)
    if tie is not None:
        s = tied(s, tie)
        tau, u = from_lines(m, a, s, lo, hi)
    error = fit_error(tau, u, x, y) if np.all(np.diff(tau) > 0) else np.inf
    radius, used, trail = START_RADIUS, 0, [error]
    least = least_cell(x, hi - lo)
    while used < steps and radius > 1e-9 and np.isfinite(error):
        deadline.check()
        a1, s1, predicted = _step(m, a, s, tau, u, x, y, error, radius, flat, tie)
        used += 1
        gain = error - predicted
        if gain <= 1e-12 * error:
            break  # no step lowers the linearised max: an equioscillating fit
        if tie is not None:  # the relation to rounding, not to the solver's tolerance
            s1 = tied(s1, tie)
        t1, u1 = from_lines(m, a1, s1, lo, hi)
        with np.errstate(invalid="ignore"):  # (non-finite knots: parallel lines)
            ordered = bool(np.all(np.diff(t1) > least))
            if not ordered:  # knots the lines cannot place stay where they were
                t1, u1 = _pinned(t1, m, a1, s1, _loose(tau, s, error))
                ordered = bool(np.all(np.diff(t1) > least))
        new = fit_error(t1, u1, x, y) if ordered else np.inf
        ratio = (error - new) / gain
        if ratio < POOR and _END_ROWS.get() and ordered and _missed_end(t1, u1, x, y):
            _ENDS_NOW.set(True)  # (for the rest of this exchange: reset by exchange)
        if ratio > 0.0:
            tau, u, error = t1, u1, new
            m, a, s = to_lines(tau, u)
            if flat is not None:
                s[flat] = 0.0
        radius = min(2.0 * radius, MAX_RADIUS) if ratio > GOOD else (
            radius / 4.0 if ratio < POOR else radius)
        trail.append(error)
        if 0.0 < ratio and gain < STALL * error:
            break
        if used >= WINDOW and trail[-1 - WINDOW] - error < WINDOW_GAIN * error:
            break
        if (used >= GIVE_UP_AFTER and error > GIVE_UP * rival) or (
                used >= EARLY_AFTER and error > EARLY * rival):
            break
    return tau, u, error, used


def chord_errors(tau: Array, x: Array, y: Array) -> Array:
    """Per cell, the error of the best line of the chord's slope through the samples
    ``(x, y)`` in it (``(max − min)/2`` of ``y`` minus the chord through ``f`` at the
    knots): what the cell would cost on its own."""
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, tau.size - 2)
    dev = y - np.interp(x, tau, np.interp(tau, x, y))
    return _half_ranges(cell, dev, tau.size - 1, 0.0)


def _half_ranges(cell: NDArray[np.intp], dev: Array, n: int, start: float) -> Array:
    """Per cell ``c < n``, ``(max − min)/2`` of ``dev`` over the samples in it, the max
    taken from ``start`` and the min from ``−start`` (0 counts the knots' own zero
    deviation; −∞ leaves an empty cell at −∞)."""
    top, bottom = np.full(n, start), np.full(n, -start)
    np.maximum.at(top, cell, dev)
    np.minimum.at(bottom, cell, dev)
    return 0.5 * (top - bottom)


def moved(tau: Array, u: Array, k: int, c: int, x: Array, y: Array) -> tuple[Array, Array]:
    """``(τ, u)`` with interior knot ``k`` removed (its neighbours' values kept) and cell
    ``c`` (numbered before the removal) split at its middle, the new knot on ``f``: a
    kink the exchange can move (a knot without one has nothing to move it by)."""
    middle = 0.5 * (tau[c] + tau[c + 1])
    t1 = np.sort(np.append(np.delete(tau, k), middle))
    u1 = np.interp(t1, np.delete(tau, k), np.delete(u, k))
    u1[np.searchsorted(t1, middle)] = sampled(x, y, np.array([middle]))[0][0]
    return t1, u1


def move_knots(tau: Array, u: Array, x: Array, y: Array, error: float
               ) -> tuple[Array, Array, float, int]:
    """Knot moves from an exchange's fit ``(τ, u)`` (d cells, none level) of max error
    ``error``, a local minimum where the knots are shared out badly between regions.
    While a knot is idle (its removal would change the fit by
    ``|Δs| h_l h_r/(h_l + h_r)`` < :data:`IDLE` · ``error``): remove one of the
    :data:`MOVE_REMOVE` knots whose removal changes the fit least, split one of the
    :data:`MOVE_SPLIT` cells that would cost most on their own (:func:`chord_errors`),
    run :data:`MOVE_SCREEN` exchange steps from each such move, continue the best one
    (:data:`MOVE_STEPS` steps at most) and keep it if lower; :data:`MOVE_ROUNDS` rounds
    at most, while they gain. The free-knot heuristics of de Boor and Rice, and of
    Jupp, move knots the same way on least-squares splines. Returns knots, values, max
    error and linear programs used."""
    used = 0
    for _ in range(MOVE_ROUNDS):
        h, s = np.diff(tau), np.diff(u) / np.diff(tau)
        cost = np.abs(np.diff(s)) * h[:-1] * h[1:] / (h[:-1] + h[1:])
        if cost.size == 0 or not cost.min() < IDLE * error:
            break
        tries = []
        for k in np.argsort(cost)[:MOVE_REMOVE] + 1:
            for c in np.argsort(-chord_errors(tau, x, y))[:MOVE_SPLIT]:
                if c not in (k - 1, k):
                    t1, u1 = moved(tau, u, int(k), int(c), x, y)
                    t1, u1, e1, n = exchange(t1, u1, x, y, MOVE_SCREEN, rival=error)
                    tries.append((e1, t1, u1))
                    used += n
        if not tries:
            break
        _, t1, u1 = min(tries, key=lambda t: t[0])
        t1, u1, e1, n = exchange(t1, u1, x, y, MOVE_STEPS, rival=error)
        used += n
        if not e1 < (1.0 - WINDOW_GAIN) * error:
            break
        tau, u, error = t1, u1, e1
    return tau, u, error, used


def line_errors(tau: Array, x: Array, y: Array) -> Array:
    """Per cell, the max error of a line through the samples ``(x, y)`` in it: the
    lesser of the chord's slope and the least-squares slope, each line at its best
    offset (``(max − min)/2`` of ``y − s x``). The chord's slope is the best one where
    ``f`` is convex or concave in the cell; the least-squares one is close to the best
    across an inflection, where the chord's may be far off. Cells without samples: 0."""
    n = tau.size - 1
    cell = np.clip(np.searchsorted(tau, x, side="right") - 1, 0, n - 1)
    count = np.bincount(cell, minlength=n).astype(float)
    sx, sy = np.bincount(cell, x, n), np.bincount(cell, y, n)
    sxx, sxy = np.bincount(cell, x * x, n), np.bincount(cell, x * y, n)
    chord = np.diff(np.interp(tau, x, y)) / np.diff(tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        ls = (count * sxy - sx * sy) / (count * sxx - sx * sx)
    best = np.full(n, np.inf)
    for s in (chord, np.where(np.isfinite(ls), ls, chord)):
        best = np.minimum(best, _half_ranges(cell, y - s[cell] * x, n, -np.inf))
    return np.where(np.isfinite(best), best, 0.0)


def rebalanced(tau: Array, x: Array, y: Array) -> tuple[Array, Array]:
    """As many knots as ``τ``, re-placed to equalise the cells' own errors
    (:func:`line_errors`), values on the samples: de Boor's equidistribution of local
    errors for free-knot splines. Where a cell's best line errs by ``e_c`` with width
    ``h_c`` and the error grows as the width squared, a cell of width ``h_c/√e_c`` (up
    to a common factor) errs by the same amount everywhere, so the knots split the mass
    of the density ``√e_c/h_c`` into equal parts (cells erring by less than 10⁻³ of the
    largest are counted at that floor). The exchange's local minima keep the knots the
    start shared out between regions (a few too many where ``f''`` changes sign, a few
    too few elsewhere) while every cell equioscillates at one error; the cells' *own*
    errors, free of the continuity that ties each to its neighbours, show where."""
    e = line_errors(tau, x, y)
    if not float(e.max()) > 0.0:
        return tau, np.interp(tau, x, y)
    mass = np.concatenate(([0.0], np.cumsum(np.sqrt(np.maximum(e, 1e-3 * float(e.max()))))))
    new = np.interp(np.linspace(0.0, mass[-1], tau.size), mass, tau)
    new[0], new[-1] = tau[0], tau[-1]
    return new, np.interp(new, x, y)
