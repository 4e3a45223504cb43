"""The best continuous piecewise-linear approximation with ``d`` breakpoints in the
uniform norm: a rigorous lower bound of its error, and a near-optimal path.

A ``1 → d → 1`` ReLU net with an output bias is, on ``[a, b]``, a continuous
piecewise-linear function with at most ``d`` breakpoints; so no width-``d`` net beats
``E*(d) = min max |f - g|`` over such ``g`` (free knots), and :func:`lower_bound`
encloses it from below.

**Samples** (:func:`samples`). ``x`` is a graded grid: the cells of
:func:`approx.models.construct.adaptive_knots` at ``d + 2`` knots (which equidistribute
``√|f''|``, as the optimal pieces do asymptotically) each split into equal sub-cells, so
every piece of a near-optimal function holds about as many samples wherever it lies:
:data:`PER_PIECE` (64) per cell, twice that while the total stays within
:data:`DENSE_SAMPLES` (2^18: up to d ≈ 2000), and never fewer than 2^14 samples in all
nor more than 2^21. Points closer than ``2^-36`` of the domain are merged. Where
``f'`` jumps (a *kink*, as ``|sin 4x|`` at 0 and ``±π/4``), no sample would lie on it and
the cubic between samples, the sags from second differences and the exact windows
would all be wrong there (a bound of 0 at d = 64, 128 on ``|sin 4x|``, paths 1-30 %
above the optimum): :func:`find_kinks` locates the kinks between samples, each is made a
sample, the cubics stay on one side of it, the second difference centred on it is no
sag, and the windows keep the lines that turn by its jump. Targets without kinks are
sampled and fitted as before, bit for bit. The float values of ``f`` only *guide* the
greedy; nothing rigorous rests on them.

**Adaptive refinement of the breaks.** Where a sample breaks a group, the greedy
searches the gap from the last accepted point to it at :data:`FINE` (8) equally spaced
points, then the sub-gap where the group broke, :data:`LEVELS` (4) times, with values
from the cubic through the four nearest samples: each group ends within ``8^-4`` of a
sample spacing of where it can. Without this, a cover dropping continuity gains up to a
sample spacing per piece (a relative error of about ``2/per_piece`` in ``E``: 3 % at 64
samples per piece); with it, what remains of the sampling is the resolution of the
interior extremes, about ``(1/per_piece)²``.

**Lower bound** (:func:`lower_bound`). If some continuous ``g`` with ``d`` breakpoints
had ``|f - g| ≤ E`` on the domain, then on any three points ``x_0 < x_1 < x_2`` with no
breakpoint of ``g`` strictly between ``x_0`` and ``x_2``, one line (``g``'s piece) would be
within ``E`` of ``f`` at all three. So ``k`` triples whose spans have disjoint interiors,
at each of which no line is within ``E`` of ``f``, prove that ``g`` has at least ``k``
breakpoints: ``k = d + 1`` triples prove ``E*(d) > E`` (a certificate that does not
depend on how the triples were found). They are found by the greedy cover of the
samples' segments ``[y_i - E, y_i + E]`` by consecutive groups that one line stabs,
dropping continuity (on-line line fitting between data ranges: O'Rourke 1981, "An
on-line algorithm for fitting straight lines between data ranges", CACM 24(9); greedy is
optimal for the number of groups, so at the right ``E`` it finds ``d + 1`` breaks if
any cover does): each break's *Helly witness* is the group's two pivots and the point
that broke it (Helly's theorem for the 2-variable LP of a line: segments are stabbable
iff every three are). ``E`` is found by bisection on the float greedy (the largest ``E``
where it still breaks ``d + 1`` times); then every triple is checked **exactly**
(:func:`confirmed`): ``f`` enclosed at its three abscissae (:func:`enclose`: the target's
Taylor models in floats with a running error bound, or its ball form in Arb on cells
without one), the check in :class:`fractions.Fraction` of those floats and ``E``
(:func:`stabbable`), at ``E`` lowered by a relative margin (1e-8, then 1e-7, … until the
triples pass) so that the enclosures' radii fit. Nothing in the bound rests on float
rounding. (The bound drops continuity: for convex or concave stretches of ``f`` both
optima agree; near inflections the continuous one may be larger, so the bound can be
loose there by a fraction of a piece.)

**Lower bound of the nets** (:func:`net_bound`). A width-``d`` net whose ``d``
breakpoints are all inside has its first slope fixed by its units: left of every
breakpoint the right-facing units are off and each left-facing unit (slope change
``Δ_i`` at its breakpoint) has slope ``-Δ_i``. So when ``f`` is convex and increasing
(``exp``; the first slope must be positive, every slope change of a near-best path is
positive), no subset sum supplies the first slope and the net has a breakpoint to
spare. Proof of the bound: let ``a' > a`` with ``f(a') - f(a) > 2E``, and ``d`` triples
in ``[a', b]``, their spans' interiors disjoint, at each of which the middle segment lies
wholly below every line through the outer two (:func:`kink` is +1, checked exactly).
If a width-``d`` net ``g`` had ``|f - g| ≤ E`` on ``[a, b]``, then on each triple
``g(x_1) < `` the chord of ``g`` at ``x_1``, so ``g`` is not concave on ``[x_0, x_2]``: it has a
point of positive slope change strictly inside, which needs a unit with its
breakpoint there. ``d`` disjoint spans and ``d`` units: each unit's breakpoint lies in
one span, beyond ``a'``, with a positive slope change ``Δ_i`` (it alone makes the change
there). On ``[a, a']`` every unit is then linear, the right-facing ones zero and the
left-facing ones of slope ``-Δ_i < 0``: ``g(a') ≤ g(a)``. But ``g(a') ≥ f(a') - E > f(a) +
E ≥ g(a)``: no such net. Mirrored (``-1``: middle above, ``f`` falling from the end) and
at the right end (right-facing units, mirrored) alike. The ``d`` triples are those of
the discontinuous greedy run from the first sample where ``f`` has moved by ``2E`` from
the end (so about the bound of ``d - 1`` breakpoints, on a domain shorter by about
``2E/|f'(a)|``), bisected on ``E`` and checked exactly as above, with the rise from the
end checked in rationals of enclosures. Where the net's path keeps all ``d``
breakpoints (slope changes of both signs), there are no such triples and this bound
is 0, unless both ends need a unit turning the same way and one triple at most turns
that way (a peak with convex sides, ``e^{-3|x - 0.1|}``: :func:`_ends_bound`, the same
proof from both ends at once). The proof's extreme case is reached by a path that is
flat up to ``a'`` and has ``d`` pieces on ``[a', b]`` (:func:`flat_fit`): for ``x²`` on
``[0, 1]`` both give ``E = 1/(2 (2d + 1)²)`` (``√(8E)·d = 1 - √(2E)``), and the bracket
is as tight as for the paths of free knots.

**Near-optimal path** (:func:`continuous_fit`, from :mod:`approx.models.link_path`,
which the minimax finish of trained nets shares). The same greedy with continuity and
*windows* (Suri 1986, "A linear time algorithm for minimum link paths inside a simple
polygon", CVGIP 35; for functions Imai & Iri 1986, "Computational-geometric methods for
polygonal approximations of a curve", CVGIP 36; Hakimi & Schmeichel 1991, "Fitting
polygonal functions to a set of points in the plane", CVGIP 53; Goodrich 1995,
"Efficient piecewise-linear function approximation using the uniform metric", DCG 14):
when a group breaks, its blocked extreme line (the least-slope one if the breaking
segment lies below it) is the group's link, and the next group holds every line that
crosses it between its pivot on the inner side and the breaking point (the window:
beyond the inner ends from the pivot on, through the breaking segment and onwards), not
only those through a vertical window at the group's end; the vertices are where
consecutive links cross. Each link then reaches as far as any path with as many links
can, so the count of links is the fewest through the segments (against LPs on small
cases in the tests; the greedy with vertical windows, :func:`phased_fit`'s, needs up to
one more). It is bisected on ``E`` to the smallest band with at most ``d + 1`` links.
The band is narrowed at each sample by the sag of ``f`` from its chords on the
neighbouring cells (from second differences, and at least ``f``'s gap from the chord at
each cell's midpoint), so the path stays within the band between samples too, up to the
variation of ``f''``. The path's error is not claimed here: the net built from it is
certified like any model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import arb
from numpy.typing import NDArray

from approx.arith.balls import arb_context, upper
from approx.certify import targets as target_facts
from approx.models.construct import adaptive_knots
from approx.models.link_path import (
    FINE,
    LEVELS,
    Path,
    Samples,
    bisect,
    bracket,
    continuous_fit,
    kernel,
    links,
    sags,
    span,
)
from approx.problems import grading
from approx.problems.grading import split_unresolved, thin
from approx.problems.targets import Target
from approx.train.exchange import kinks as sampled_kinks

__all__ = [
    "FINE",
    "GOOD_ENOUGH",
    "LEVELS",
    "PER_PIECE",
    "Bound",
    "Path",
    "Samples",
    "confirmed",
    "continuous_fit",
    "enclose",
    "find_kinks",
    "flat_fit",
    "kink",
    "lower_bound",
    "middle_flat_fit",
    "net_bound",
    "phased_fit",
    "samples",
    "stabbable",
]

Array = NDArray[np.float64]

#: sub-cells per cell of the adaptive grid of d + 2 knots on which the samples lie: at
#: least PER_PIECE, and up to twice that while the samples stay within DENSE_SAMPLES
PER_PIECE = 64
DENSE_SAMPLES = 1 << 18
#: phases tried by :func:`phased_fit`, as fractions of the first link of the greedy path
PHASES = (0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.5, 0.4)
#: the band's distance to the lower bound below which no more phases are tried
GOOD_ENOUGH = 2e-4
#: fewest and most samples
MIN_SAMPLES, MAX_SAMPLES = 1 << 14, 1 << 21
#: relative margins below the greedy's threshold at which its triples are checked
_MARGINS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
#: a cell whose chord sag exceeds SAG_RATIO times the median cell's is split, for up to
#: SAG_ROUNDS rounds, into cells no narrower than SAG_FINEST of the domain
#: (:func:`_steep_ends`, :func:`approx.problems.grading.split_unresolved`)
SAG_RATIO, SAG_ROUNDS, SAG_FINEST = grading.RATIO, grading.ROUNDS, grading.FINEST
#: scales (the sample spacing over 16^k) at which a candidate kink is refined and its
#: jump of f' checked (:func:`find_kinks`)
KINK_SCALES = 4


@dataclass(frozen=True)
class Bound:
    """A proven lower bound ``value`` of ``E*(d)`` (or, from :func:`net_bound`, of the
    error of every width-``d`` net): ``witnesses`` (shape (k, 3), abscissae) are triples
    of points, their spans' interiors disjoint, at each of which no line is within
    ``value`` of ``f`` (checked exactly): ``k ≥ d + 1`` of them, or ``k = d`` for
    :func:`net_bound`; ``samples`` points were used."""

    value: float
    samples: int
    witnesses: Array
    #: a bound of :func:`net_bound`: its ``d`` witnesses lie beyond ``anchor`` (from the
    #: end where ``f`` rises or falls by more than ``2·value``) and all turn ``sign``
    anchor: float = math.nan
    sign: int = 0


def samples(target: Target, d: int, per_piece: int | None = None) -> Samples:
    """The graded sample grid of the module docstring, with float values of ``f``.

    Raises
    ------
    ValueError
        If ``f`` is not finite at some sample in floats (values beyond the float range).
    """
    a, b = target.domain
    if per_piece is None:
        per_piece = max(PER_PIECE, min(2 * PER_PIECE, DENSE_SAMPLES // (d + 2)))
    cells = max(2, min(d + 2, MAX_SAMPLES // per_piece))
    per = min(max(per_piece, -(-MIN_SAMPLES // cells)), max(1, MAX_SAMPLES // cells))
    try:
        knots = adaptive_knots(target, cells)
    except ValueError:
        knots = np.linspace(a, b, cells)
    t = np.arange(per) / per
    x = (knots[:-1, None] + t * np.diff(knots)[:, None]).ravel()
    x = thin(np.clip(np.append(x, [a, b]), a, b))
    y = _values(target, x)
    at = find_kinks(target, x, y)
    if at.size:
        x, at = _with_kinks(x, at)
        y = _values(target, x)
    x, y, mid = _steep_ends(target, x, y)
    return Samples(x, y, sags(x, y, mid, np.searchsorted(x, at)), at)


def _steep_ends(target: Target, x: Array, y: Array) -> tuple[Array, Array, Array]:
    """The samples with cells split where ``f`` sags from its chord by more than
    :data:`SAG_RATIO` times the median cell's sag (each into ``grading.SPLIT``, for up
    to :data:`SAG_ROUNDS` rounds, into cells no narrower than :data:`SAG_FINEST` of the
    domain (√t sags by ``0.21 √h`` on a cell ``[0, h]``: at d = 4096 the optimum's first
    piece on ``√(x + 1)`` is about ``10^-14`` wide), and not where the
    sag is below ``2^-40`` of the range of ``f``), with the values and the values at the
    cells' midpoints.

    The adaptive grid equidistributes ``√|f''|`` on a grid of its own, which does not
    resolve a singularity at an end such as ``√(x + 1)``'s at ``-1`` (``f''`` like
    ``(x + 1)^{-3/2}``): there its first cells sagged ``10^4–10^5`` times the median cell,
    and as the path's band is narrowed by the sags, its band could not go below the
    largest (``√(x + 1) cos 2x`` at d = 256: 100 breakpoints used, the net 8× above the
    lower bound; 1.4 % after, 0.2 % at d = 4096). On the built-in targets the largest
    sag is at most 65 times the median (``|x|^1.5`` at d = 8), so nothing is split
    there."""
    return split_unresolved(target, x, y, lambda z: _values(target, z), SAG_RATIO,
                            SAG_ROUNDS, SAG_FINEST)


def _values(target: Target, x: Array) -> Array:
    """Float values of ``f`` at ``x``.

    Raises
    ------
    ValueError
        If some value is not finite or beyond ``1e300``.
    """
    with np.errstate(all="ignore"):
        y = target(x)
    if not np.all(np.isfinite(y)) or float(np.max(np.abs(y))) > 1e300:
        raise ValueError(
            f"target {target.name!r}: f is not finite in floats at some sample (values "
            "near or beyond the float range); no bracket of its optimum"
        )
    return y


def find_kinks(target: Target, x: Array, y: Array) -> Array:
    """Where ``f'`` jumps, located to about the float resolution (sorted, strictly inside
    the samples' span by more than ``2^-36`` of it): the candidates between samples of
    :func:`approx.train.exchange.kinks`, each refined by :func:`_refine_kink`, which
    keeps only those whose jump persists at :data:`KINK_SCALES` finer scales (a jump
    of ``f'``, not a steep ``f''`` as that of ``|x|^1.5`` at 0). A guide for the samples
    (nothing rigorous rests on it)."""
    found, _ = sampled_kinks(x, y)
    tol = (x[-1] - x[0]) * 2.0**-36
    out = []
    for guess in found:
        j = int(np.clip(np.searchsorted(x, guess), 1, x.size - 1))
        kappa = _refine_kink(target, float(guess), float(x[j] - x[j - 1]))
        if kappa is not None and x[0] + tol < kappa < x[-1] - tol:
            out.append(kappa)
    return np.unique(np.asarray(out, dtype=np.float64))


def _refine_kink(target: Target, kappa: float, h: float) -> float | None:
    """The kink near ``kappa`` (``h``: the sample spacing there) where the tangents of the
    quadratics through ``f`` at ``kappa - h·(1, 2, 3)`` and at ``kappa + h·(1, 2, 3)`` cross,
    at the scales ``h / 16^k`` in turn; None unless the jump of those tangents' slopes
    keeps its sign and at least half its size over the scales and each step moves
    ``kappa`` by less than the scale (a kink: the jump stays; ``f`` smooth or a steep
    ``f''``: it shrinks with the scale)."""
    offsets = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    first = 0.0
    for k in range(KINK_SCALES):
        step = h / 16.0**k
        u = kappa + step * offsets
        with np.errstate(all="ignore"):
            v = np.asarray(target(u), dtype=np.float64)
        if not np.all(np.isfinite(v)):
            return None
        fl, dl = _end_tangent(u[:3], v[:3], kappa)
        fr, dr = _end_tangent(u[3:], v[3:], kappa)
        jump = dr - dl
        first = jump if k == 0 else first
        if not (jump * first > 0 and abs(jump) >= 0.5 * abs(first)):
            return None
        move = (fr - fl) / (dl - dr)
        if not abs(move) < step:
            return None
        kappa += move
    return kappa


def _end_tangent(u: Array, v: Array, t: float) -> tuple[float, float]:
    """Value and slope at ``t`` of the quadratic through the three points ``(u, v)``."""
    d01 = (v[1] - v[0]) / (u[1] - u[0])
    c2 = ((v[2] - v[1]) / (u[2] - u[1]) - d01) / (u[2] - u[0])
    return (float(v[0] + d01 * (t - u[0]) + c2 * (t - u[0]) * (t - u[1])),
            float(d01 + c2 * (2.0 * t - u[0] - u[1])))


def _with_kinks(x: Array, at: Array) -> tuple[Array, Array]:
    """The samples ``x`` with each kink of ``at`` a sample: a sample within ``2^-36`` of
    the span of a kink stands for it (the ends are not replaced), else the kink is
    added. Returns the samples and the kinks as samples."""
    tol = (x[-1] - x[0]) * 2.0**-36
    j = np.clip(np.searchsorted(x, at), 1, x.size - 1)
    near = np.where(at - x[j - 1] <= x[j] - at, j - 1, j)
    close = (np.abs(x[near] - at) < tol) & (near > 0) & (near < x.size - 1)
    at = np.unique(np.where(close, x[near], at))
    return np.union1d(x, at), at


def enclose(target: Target, x: Array) -> tuple[Array, Array]:
    """Floats ``lo ≤ f(x) ≤ hi`` at the floats ``x``, rigorously: from the target's Taylor
    models (floats with a running error bound), or from its ball form in Arb where a cell
    has none. Non-finite where nothing finite is known.

    Raises
    ------
    ValueError
        If the target has no ball form.
    """
    polys = target_facts.taylor(target)
    idx = polys.cell(x)
    with np.errstate(all="ignore"):
        y, err = polys.at(x, idx, 0)
        lo = np.nextafter(y - err, -np.inf)
        hi = np.nextafter(y + err, np.inf)
    bad = ~(np.isfinite(lo) & np.isfinite(hi))
    if bad.any():
        lo, hi = lo.copy(), hi.copy()
        with arb_context():
            for i in np.flatnonzero(bad):
                v = target.ball(arb(float(x[i])), False)
                hi[i], lo[i] = upper(v), -upper(-v)
    return lo, hi


def stabbable(x: tuple[float, float, float], lo: tuple[float, ...], hi: tuple[float, ...],
              E: float) -> bool:
    """Whether some line meets the three vertical segments ``[lo_k - E, hi_k + E]`` at
    ``x_0 < x_1 < x_2``, decided exactly in rationals (:func:`kink` is 0)."""
    return kink(x, lo, hi, E) == 0


def kink(x: tuple[float, float, float], lo: tuple[float, ...], hi: tuple[float, ...],
         E: float) -> int:
    """How no line meets the three vertical segments ``[lo_k - E, hi_k + E]`` at
    ``x_0 < x_1 < x_2`` (``lo ≤ hi``, ``E ≥ 0``), decided exactly in rationals: +1 if
    the middle segment lies wholly below every line through the outer two (then every
    function through the three segments turns up somewhere strictly between ``x_0`` and
    ``x_2``: a continuous piecewise-linear one has a breakpoint there with a positive
    slope change), -1 if wholly above (a negative one), 0 if some line meets all three
    (or the points are not three distinct increasing ones).

    A line through the outer two segments takes, at ``x_1``, values filling
    ``[(L_0 (x_2 - x_1) + L_2 (x_1 - x_0)), (U_0 (x_2 - x_1) + U_2 (x_1 - x_0))] / (x_2 - x_0)``;
    the two cases are that interval lying above ``U_1`` or below ``L_1`` (they exclude
    each other, as ``L ≤ U``).
    """
    X = [Fraction(v) for v in x]
    e = Fraction(E)
    L = [Fraction(v) - e for v in lo]
    U = [Fraction(v) + e for v in hi]
    A, B = X[2] - X[1], X[1] - X[0]
    D = X[2] - X[0]
    if not (A > 0 and B > 0):
        return 0  # not three distinct increasing points: no witness
    if L[0] * A + L[2] * B > U[1] * D:
        return 1
    if U[0] * A + U[2] * B < L[1] * D:
        return -1
    return 0


def confirmed(target: Target, witnesses: Array, E: float, sign: int = 0) -> int:
    """How many of the triples ``witnesses`` (abscissae, shape (k, 3)), taken in order
    while their spans' interiors stay disjoint, are proven exactly to admit no line
    within ``E`` of ``f`` (values enclosed by :func:`enclose`); each such triple's span
    holds a breakpoint of every continuous piecewise-linear function within ``E``. With
    ``sign`` ±1, only triples whose :func:`kink` is ``sign`` count (the breakpoint's
    slope change then has that sign)."""
    if witnesses.size == 0:
        return 0
    w = np.sort(witnesses, axis=1)
    if not np.all(np.isfinite(w)):
        return 0
    lo, hi = enclose(target, w.ravel())
    lo, hi = lo.reshape(w.shape), hi.reshape(w.shape)
    count, right = 0, -math.inf
    for g in range(w.shape[0]):
        xs = tuple(float(v) for v in w[g])
        if xs[0] < right or not (np.all(np.isfinite(lo[g])) and np.all(np.isfinite(hi[g]))):
            break
        turn = kink(xs, tuple(lo[g].tolist()), tuple(hi[g].tolist()), E)
        if turn == 0 or (sign != 0 and turn != sign):
            break
        count, right = count + 1, xs[2]
    return count


def lower_bound(target: Target, s: Samples, d: int, near: float | None = None) -> Bound:
    """The largest ``E`` found by bisection at which ``d + 1`` triples, found by the
    discontinuous greedy and each checked exactly (:func:`confirmed`), prove that no
    continuous piecewise-linear function with ``d`` breakpoints is within ``E`` of ``f``
    (so ``E*(d) > E``); 0 if none is found. The greedy searches the gaps where groups
    break with :data:`LEVELS` levels; if those witnesses fail the check at every margin
    (the cubic between samples wrong, as across a kink of ``f`` not found), once more
    with none (witnesses at samples only, about ``1/per_piece²`` lower)."""
    for levels in (LEVELS, 0):
        found = _discontinuous_bound(target, s, d, near, levels)
        if found.value > 0:
            return found
    return found


def _discontinuous_bound(target: Target, s: Samples, d: int, near: float | None,
                         levels: int) -> Bound:
    """:func:`lower_bound` with the gaps searched ``levels`` times."""
    greedy = kernel()
    limit = d + 2
    none = np.zeros(s.size)

    def run(E: float):
        return greedy(s.x, s.y, none, E, False, limit, FINE, levels, s.kinks)

    empty = Bound(0.0, s.size, np.zeros((0, 3)))
    if run(0.0)[0] < limit:
        return empty
    feasible = lambda E: run(E)[0] < limit  # noqa: E731
    lo, _ = bisect(feasible, *bracket(feasible, near, 0.0, span(s), d), rtol=1e-7)
    groups, _, witness, _, _ = run(lo)
    if groups < limit:
        return empty
    # the greedy's last points break their groups by a hair: the triples are checked
    # at a slightly smaller E, so that the enclosures' radii fit in the margin
    for eta in _MARGINS:
        E = lo * (1 - eta)
        if confirmed(target, witness[: d + 1], E) == d + 1:
            return Bound(E, s.size, witness[: d + 1].copy())
    return empty


def net_bound(target: Target, s: Samples, d: int, near: float | None = None) -> Bound:
    """A lower bound of the max error of every ``1 → d → 1`` ReLU net that uses the
    subset-sum constraint on its first slope (see *Lower bound of the nets* in the
    module docstring): the better of the domain's two ends, each the largest ``E``
    found by bisection at which ``d`` triples turning one way, beyond the point where
    ``f`` has risen (or fallen) by ``2E`` from that end, are proven exactly; a bound of
    value 0 if none is."""
    best = Bound(0.0, s.size, np.zeros((0, 3)))
    if d < 1 or s.size < 4:
        return best
    both = _ends_bound(target, s, d, near)
    for found in (_end_bound(target, s, d, 1, near, both.value),
                  _end_bound(target, s, d, -1, near, both.value), both):
        if found.value > best.value:
            best = found
    return best


def _ends_run(s: Samples, f: Callable[[Array], Array], E: float, d: int
              ) -> tuple[int, int, int, Array] | None:
    """The samples ``j < k``, the first where ``y`` has moved by more than ``2E`` from
    ``y[0]`` and the last from ``y[-1]``, where both ends need a unit turning the same
    way ``sign`` (``f`` rising from ``a`` needs a left-facing unit turning down, -1;
    rising towards ``b`` a right-facing one turning up, +1; falling, the opposite), and
    ``d`` witnesses of the discontinuous greedy on ``x[j … k]`` of which at most one
    turns ``sign`` by the floats of ``f`` (a guide); None if there are none such."""
    moved0 = np.flatnonzero(np.abs(s.y - s.y[0]) > 2 * E)
    moved1 = np.flatnonzero(np.abs(s.y - s.y[-1]) > 2 * E)
    if moved0.size == 0 or moved1.size == 0:
        return None
    j, k = int(moved0[0]), int(moved1[-1])
    sign = -int(np.sign(s.y[j] - s.y[0]))
    if sign != int(np.sign(s.y[-1] - s.y[k])) or k - j < 3:
        return None
    groups, _, witness, _, _ = kernel()(s.x[j: k + 1], s.y[j: k + 1], np.zeros(k + 1 - j), E,
                                      False, d + 1, FINE, LEVELS, s.kinks)
    if groups < d + 1:
        return None
    w, turns = _float_turns(f, witness[:d])
    if np.any(turns == 0) or np.count_nonzero(turns == sign) > 1:
        return None
    return j, k, sign, w


def _float_turns(f: Callable[[Array], Array], witness: Array) -> tuple[Array, Array]:
    """The triples ``witness`` with each row sorted, and the sign of their chord minus
    their middle value of ``f`` (floats: +1 where ``f`` turns up there, -1 down; a
    guide only, the exact check is :func:`kink`'s)."""
    w = np.sort(witness, axis=1)
    with np.errstate(all="ignore"):
        v = f(w)
        chord = (v[:, 0] * (w[:, 2] - w[:, 1]) + v[:, 2] * (w[:, 1] - w[:, 0])) / (
            w[:, 2] - w[:, 0])
    return w, np.sign(chord - v[:, 1])


def _ends_bound(target: Target, s: Samples, d: int, near: float | None) -> Bound:
    """A lower bound of every width-``d`` net's max error from both ends at once: let
    ``a < a' < b' < b`` with ``f`` moving by more than ``2E`` on ``[a, a']`` and on
    ``[b', b]``, and ``d`` triples in ``[a', b']``, their spans' interiors disjoint, at
    each of which no line is within ``E`` of ``f`` (:func:`kink` nonzero, checked
    exactly). A net ``g`` within ``E`` of ``f`` has then one unit's breakpoint in each
    span, its slope change of the triple's sign (as in :func:`net_bound`'s proof), so
    every unit is linear on ``[a, a']`` and on ``[b', b]``: there the left-facing units
    ``L`` give ``g`` the slope ``-Σ_L Δ_i`` and the right-facing ones ``R`` the slope
    ``Σ_R Δ_i``. ``f`` rising on ``[a, a']`` by more than ``2E`` makes ``g`` rise: ``L``
    holds a unit with ``Δ_i < 0``; rising on ``[b', b]``, ``R`` holds one with
    ``Δ_i > 0`` (falling: the opposite signs). Where both ends need a unit turning the
    same way and at most one triple turns that way (a peak with convex sides,
    e^{-3|x - 0.1|}: one triple turning down, at the peak), ``L`` and ``R`` cannot both
    hold it: no such net. ``E`` is the largest found by bisection; the triples' turns
    and the ends' moves are checked exactly (:func:`kink`, :func:`_moved`)."""
    empty = Bound(0.0, s.size, np.zeros((0, 3)))
    def f(u: Array) -> Array:
        return np.asarray(target(u), dtype=np.float64)

    feasible = lambda E: _ends_run(s, f, E, d) is None  # noqa: E731
    if d < 1 or s.size < 8 or feasible(0.0):
        return empty
    lo, _ = bisect(feasible, *bracket(feasible, near, 0.0, span(s), d), rtol=1e-7)
    found = _ends_run(s, f, lo, d)
    if found is None:
        return empty
    j, k, sign, w = found
    a, b = target.domain
    inner = float(s.x[j]), float(s.x[k])
    if not (np.all(w[:, 0] >= inner[0]) and np.all(w[:, 2] <= inner[1])):
        return empty
    for eta in _MARGINS:
        E = lo * (1 - eta)
        if _moved(target, a, inner[0], -sign, E) and _moved(target, inner[1], b, sign, E):
            turns = _turns(target, w, E)
            if np.all(turns != 0) and np.count_nonzero(turns == sign) <= 1:
                return Bound(E, s.size, w.copy())
    return empty


def _turns(target: Target, w: Array, E: float) -> NDArray[np.int64]:
    """:func:`kink` of each triple of ``w`` (rows sorted, in order), decided exactly on
    enclosed values, while the triples' spans stay disjoint; 0 from the first triple
    that overlaps the one before or has a value not enclosed in finite floats."""
    lo, hi = enclose(target, w.ravel())
    lo, hi = lo.reshape(w.shape), hi.reshape(w.shape)
    turns = np.zeros(w.shape[0], dtype=np.int64)
    right = -math.inf
    for g in range(w.shape[0]):
        if not (w[g, 0] >= right and np.all(np.isfinite(lo[g])) and np.all(np.isfinite(hi[g]))):
            break
        turns[g] = kink(tuple(float(v) for v in w[g]), tuple(lo[g].tolist()),
                        tuple(hi[g].tolist()), E)
        right = w[g, 2]
    return turns


def _end_run(x: Array, y: Array, kinks: Array, f: Callable[[Array], Array], E: float, d: int
             ) -> tuple[int, int, Array] | None:
    """In a frame whose end is ``x[0]`` (``kinks``: its kink samples): the first sample
    ``j`` where ``y`` has risen (``sign`` +1) or fallen (-1) by more than ``2E`` from
    ``y[0]``, and ``d`` witnesses of the discontinuous greedy from ``j`` on whose middle
    values ``f`` (floats, a guide) lie below (+1) or above (-1) their chords; None if
    there are none such."""
    rise = y - y[0]
    up, down = np.flatnonzero(rise > 2 * E), np.flatnonzero(rise < -2 * E)
    if up.size == 0 and down.size == 0:
        return None
    j, sign = (int(up[0]), 1) if down.size == 0 or (up.size and up[0] < down[0]) else (
        int(down[0]), -1)
    if x.size - j < 3:
        return None
    groups, _, witness, _, _ = kernel()(x[j:], y[j:], np.zeros(x.size - j), E, False, d + 1,
                                      FINE, LEVELS, kinks)
    if groups < d + 1:
        return None
    w, turns = _float_turns(f, witness[:d])
    if not np.all(sign * turns > 0):
        return None
    return j, sign, w


def _end_bound(target: Target, s: Samples, d: int, side: int, near: float | None,
               beat: float = 0.0) -> Bound:
    """:func:`net_bound` at the left end (``side`` 1) or, mirrored, the right end (-1);
    a bound of value 0 at once if the greedy finds no certificate at ``beat`` (a bound
    found otherwise), as the bisection would end below it."""
    x = s.x if side > 0 else -s.x[::-1]
    y = s.y if side > 0 else s.y[::-1]
    kinks = s.kinks if side > 0 else -s.kinks[::-1]

    def f(u: Array) -> Array:
        return np.asarray(target(side * u), dtype=np.float64)

    empty = Bound(0.0, s.size, np.zeros((0, 3)))
    feasible = lambda E: _end_run(x, y, kinks, f, E, d) is None  # noqa: E731
    if feasible(beat):
        return empty
    lo, _ = bisect(feasible, *bracket(feasible, near, 0.0, span(s), d), rtol=1e-7)
    found = _end_run(x, y, kinks, f, lo, d)
    if found is None:
        return empty
    j, sign, w = found
    anchor = float(side * x[j])
    rows = np.sort(side * w, axis=1)[::side]
    end = target.domain[0] if side > 0 else target.domain[1]
    beyond = rows[:, 0] >= anchor if side > 0 else rows[:, 2] <= anchor
    if not np.all(beyond):
        return empty
    for eta in _MARGINS:
        E = lo * (1 - eta)
        if _moved(target, end, anchor, sign, E) and confirmed(target, rows, E, sign) == d:
            return Bound(E, s.size, rows.copy(), anchor, sign)
    return empty


def _moved(target: Target, end: float, anchor: float, sign: int, E: float) -> bool:
    """Whether ``sign·(f(anchor) - f(end)) > 2E``, proven in rationals of enclosures."""
    lo, hi = enclose(target, np.array([end, anchor]))
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return False
    if sign > 0:
        return Fraction(float(lo[1])) - Fraction(float(hi[0])) > 2 * Fraction(E)
    return Fraction(float(lo[0])) - Fraction(float(hi[1])) > 2 * Fraction(E)


def flat_fit(s: Samples, d: int, side: int, near: float | None = None) -> Path | None:
    """A path with at most ``d`` interior vertices whose first piece (``side`` 1) or
    last piece (-1) is flat: the longest flat start the band allows, then the path with
    windows from its end; at the smallest band found by bisection, None if there is
    none. The net of such a path needs no subset sum (its first or last slope is 0:
    every unit faces right, or every unit left), and it is the structure
    :func:`net_bound` proves best (for ``x²`` on ``[0, 1]`` both are
    ``1/(2 (2d + 1)²)``)."""
    x = s.x if side > 0 else -s.x[::-1]
    y = s.y if side > 0 else s.y[::-1]
    pad = s.curve if side > 0 else s.curve[::-1]
    kinks = s.kinks if side > 0 else -s.kinks[::-1]
    greedy = kernel()

    def path_at(E: float) -> Path | None:
        band = E - pad
        lo, hi = np.maximum.accumulate(y - band), np.minimum.accumulate(y + band)
        j = int(np.searchsorted(lo > hi, True)) - 1  # the last point a flat line stabs
        yj, half = 0.5 * (lo[j] + hi[j]), 0.5 * (hi[j] - lo[j])
        if j >= x.size - 1:  # one flat line
            return Path(np.array([s.x[0], s.x[-1]]), np.array([yj, yj]), E)
        if j < 1:
            return None
        py = np.concatenate(([yj], y[j + 1:]))
        pp = np.concatenate(([E - half], pad[j + 1:]))
        px = x[j:]
        groups, starts, _, lines, turns = greedy(px, py, pp, E, True, d, FINE, LEVELS,
                                                 kinks, math.inf, True)
        if groups > d:
            return None
        rest = links(starts[:groups], lines[:groups], turns[:groups], px[0], px[-1], E)
        if rest is None:
            return None
        knots = np.concatenate(([x[0]], rest.knots))
        values = np.concatenate(([rest.values[0]], rest.values))
        if side < 0:
            knots, values = -knots[::-1], values[::-1]
        return Path(knots, values, E)

    return _smallest_band(s, d, near, path_at)


def middle_flat_fit(s: Samples, d: int, centre: float, near: float | None = None
                    ) -> Path | None:
    """A path with at most ``d`` interior vertices with a flat piece around ``centre``
    (inside the domain): the flat line stabbing the band on the longest run of samples
    grown from ``centre`` outwards, nearest first, then a path with windows from each of
    its ends, both starting exactly on the flat line; at the smallest band found by
    bisection, None if there is none. The net of such a path needs no subset sum: the
    units left of the flat piece face left, the others right (e.g. ``x|x|``, whose
    ``f'`` falls to 0 and rises again, so a path of ``d`` vertices with a sloped middle
    piece has no exact net)."""
    c = int(np.clip(np.searchsorted(s.x, centre), 1, s.size - 2))
    by_distance = np.argsort(np.abs(s.x - s.x[c]), kind="stable")
    greedy = kernel()

    def side_path(x: Array, y: Array, pad: Array, kinks: Array, level: float, E: float,
                  limit: int) -> tuple[int, Path | None]:
        """The path with windows from ``(x[0], level)`` over ``x``: links and path."""
        py = np.concatenate(([level], y[1:]))
        pp = np.concatenate(([E], pad[1:]))
        groups, starts, _, lines, turns = greedy(x, py, pp, E, True, limit, FINE, LEVELS,
                                                 kinks, math.inf, True)
        if groups > limit:
            return groups, None
        return groups, links(starts[:groups], lines[:groups], turns[:groups], x[0], x[-1],
                              E)

    def path_at(E: float) -> Path | None:
        band = E - s.curve[by_distance]
        lo = np.maximum.accumulate(s.y[by_distance] - band)
        hi = np.minimum.accumulate(s.y[by_distance] + band)
        run = int(np.searchsorted(lo > hi, True))  # the samples a flat line stabs
        if run < 2:
            return None
        level = 0.5 * (lo[run - 1] + hi[run - 1])
        i, j = int(by_distance[:run].min()), int(by_distance[:run].max())
        # a side with no samples beyond the flat piece is the lone vertex at the end
        right_links, right = 0, Path(s.x[j:j + 1], np.array([level]), E)
        if j < s.size - 1:
            right_links, right = side_path(s.x[j:], s.y[j:], s.curve[j:], s.kinks, level, E,
                                           d)
        left = Path(-s.x[i:i + 1], np.array([level]), E)
        if i > 0 and right is not None:
            _, left = side_path(-s.x[i::-1], s.y[i::-1], s.curve[i::-1], -s.kinks[::-1],
                                level, E, d - right_links)
        if left is None or right is None:
            return None
        knots = np.concatenate((-left.knots[::-1], right.knots))
        values = np.concatenate((left.values[::-1], right.values))
        values[left.knots.size - 1:left.knots.size + 1] = level  # exactly flat
        return Path(knots, values, E)

    return _smallest_band(s, d, near, path_at)



def _smallest_band(s: Samples, d: int, near: float | None,
                   path_at: Callable[[float], Path | None]) -> Path | None:
    """``path_at`` at the smallest band found by bisection between the samples' largest
    sag and a band one flat line meets, None if it has no path even there."""
    floor = float(np.max(s.curve)) * (1 + 1e-12)
    top = 2 * span(s) + 2 * floor
    if path_at(top) is None:
        return None
    feasible = lambda E: path_at(E) is not None  # noqa: E731
    _, E = bisect(feasible, *bracket(feasible, near, floor, top, d), rtol=1e-7)
    return path_at(E)

def phased_fit(s: Samples, d: int, path: Path, lower: float,
               phases: tuple[float, ...] = PHASES, skip: bool = False,
               score: Callable[[Path], float] | None = None) -> Path:
    """The best of ``path`` and the paths whose first link ends by ``phase`` of
    ``path``'s first link: the greedy places its links from the left, and where the
    links fall against ``f``'s inflections costs it a fraction of a link, so shifting
    them all can gain it back. Best by ``score`` (default: the band), never below the
    band; each is bisected between ``lower`` and the best score so far; no more are
    tried once that is within 2e-4 of ``lower``. With ``skip``, a phase that needs more
    links at the best score is not bisected (the greedy's count is not strictly
    monotone in the band, so this can miss a better phase)."""
    rate = score if score is not None else (lambda p: p.band)
    best, best_score = path, rate(path)
    first = path.knots[0] + (path.knots[1] - path.knots[0]) * np.asarray(phases)
    greedy = kernel()
    for stop in first:
        if not lower * (1 + GOOD_ENOUGH) < best_score:
            break
        if skip and greedy(s.x, s.y, s.curve, best_score, True, d + 1, FINE, LEVELS, s.kinks,
                           float(stop))[0] > d + 1:
            continue
        candidate = continuous_fit(s, d, first_stop=float(stop), within=(lower, best_score))
        if candidate.band < best_score and (value := rate(candidate)) < best_score:
            best, best_score = candidate, value
    return best
