"""The method kind ``optimal-pwl``: the best one-hidden-layer ReLU net of width ``d`` we
can build, with a rigorous lower bound of what any such net can reach.

A width-``d`` net is, on the domain, a continuous piecewise-linear function with at most
``d`` breakpoints; :mod:`approx.certify.optimum` finds a near-optimal such function (a
minimum-link continuous path with windows, bisected on its band) and a rigorous lower
bound of the best one's error (exactly checked Helly witnesses of a discontinuous
greedy cover). :func:`approx.models.pwl_net.pwl_net` turns the path into a net; when
the path uses all ``d`` breakpoints, the first slope is a subset sum of the slope
changes (left-facing units), and when that sum cannot come close (e.g. a convex
increasing ``f``: every slope change is positive, the first slope too) the path of
``d - 1`` breakpoints with one unit for the first slope, the paths with a flat
first or last piece (:func:`~approx.certify.optimum.flat_fit`: all units face one way)
and, where ``f'`` dips inside (e.g. ``x|x|``), with a flat inner piece
(:func:`~approx.certify.optimum.middle_flat_fit`: the units left of it face left)
are built too and the best kept; then the lower bound is also
:func:`~approx.certify.optimum.net_bound`'s, which proves that no width-``d`` net does
better than about the flat path (``d`` one-way turns beyond where ``f`` has moved by
``2E``, or ``d`` turns between the two ends of which one only turns the way both ends
need), and the larger bound is kept.

The run's certified max error (``max_error_upper``) is the bracket's upper end; the
lower end travels in the fit's info as ``lower``. Both are rigorous for the target as
enclosed by its ball form.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from approx.certify import optimum
from approx.methods.registry import Fit
from approx.models.pwl_net import pwl_net
from approx.problems.targets import Target

__all__ = ["fit_optimal"]

#: a subset-sum shift of the first piece above this fraction of the band triggers the
#: comparison with the path of d - 1 breakpoints
_SHIFT_TOLERANCE = 1e-5
#: the widest net for which every phase of the path is tried
_ALL_PHASES = 2048


def _phases(width: int) -> tuple[float, ...]:
    """The phases tried: all of :data:`~approx.certify.optimum.PHASES` up to width
    :data:`_ALL_PHASES`, the first two beyond, each only if it has a chance (each
    costs a bisection over the samples)."""
    return optimum.PHASES if width <= _ALL_PHASES else optimum.PHASES[:2]


def _reachable(path: optimum.Path) -> bool:
    """Whether minus the first slope lies between the sums of the negative and of the
    positive slope changes after the first knot (else no subset sum comes close, e.g. a
    convex increasing f, and phasing the path of d breakpoints is no use), and, where
    both the subset (the left-facing units) and the rest of those changes must sum
    below 0 (above 0), there are two changes below 0 (above 0) to share (a peak with
    convex sides has one: no subset sum comes close either)."""
    m = np.diff(path.values) / np.diff(path.knots)
    rest = np.diff(m)[1:]
    low, high = rest[rest < 0].sum(), rest[rest > 0].sum()
    subset, others = -m[0], rest.sum() + m[0]
    if not low <= subset <= high:
        return False
    for sign in (1, -1):
        if sign * subset > 0 and sign * others > 0 and np.count_nonzero(sign * rest > 0) < 2:
            return False
    return True


def _spare(target: Target, s: optimum.Samples, width: int, path: optimum.Path,
           bound: optimum.Bound, cost: Callable[[optimum.Path], float]
           ) -> tuple[optimum.Path, optimum.Bound, float]:
    """No subset sum gives ``path``'s first slope: the best (by ``cost``) of it, the
    path of ``width - 1`` breakpoints (one unit carries the first slope), the path
    with a flat first or last piece, at the end where ``path`` is flatter, and, where
    ``path`` is flatter inside than at both ends, the path with a flat piece there
    (:func:`~approx.certify.optimum.middle_flat_fit`; the last two need no subset
    sum); and the better of ``bound``
    and :func:`~approx.certify.optimum.net_bound`. Also returns the seconds of the
    latter."""
    fewer = optimum.continuous_fit(s, width - 1, near=path.band * (1 + 2 / width))
    mark = time.perf_counter()
    spare = optimum.net_bound(target, s, width, near=fewer.band)
    seconds = time.perf_counter() - mark
    candidates = [path, fewer]
    slopes = np.abs(np.diff(path.values) / np.diff(path.knots))
    side = 1 if slopes[0] <= slopes[-1] else -1  # flat where f is flatter
    flat = optimum.flat_fit(s, width, side, near=fewer.band)
    if flat is not None:
        candidates.append(flat)
    inner = 1 + int(np.argmin(slopes[1:-1])) if path.knots.size > 3 else 0
    if inner and slopes[inner] < min(slopes[0], slopes[-1]):
        # flatter inside than at either end (f' dips, as in x|x|): flat there
        centre = 0.5 * (path.knots[inner] + path.knots[inner + 1])
        middle = optimum.middle_flat_fit(s, width, centre, near=fewer.band)
        if middle is not None:
            candidates.append(middle)
    best = min(candidates, key=cost)
    return best, spare if spare.value > bound.value else bound, seconds


def fit_optimal(target: Target, width: int, rng: np.random.Generator,
                per_piece: int | None = None) -> Fit:
    """The ``optimal-pwl`` fit of ``target`` at ``width`` (``rng`` unused: deterministic).

    Info: ``lower`` (the proven lower bound of the width-``width`` optimum), ``band``
    (the path's half-width at the samples), ``breakpoints`` (inside the domain),
    ``samples``, ``seconds_lower`` and ``seconds_fit``.

    Raises
    ------
    ValueError
        If the target has no ball form or its values leave the float range.
    """
    if target.ball is None:
        raise ValueError(f"method kind 'optimal-pwl' needs a target with a ball form; "
                         f"{target.name!r} has none")
    start = time.perf_counter()
    s = optimum.samples(target, width, per_piece)
    path = optimum.continuous_fit(s, width)
    fitted = time.perf_counter()
    bound = optimum.lower_bound(target, s, width, near=path.band)
    bounded = time.perf_counter()
    skip = width > _ALL_PHASES

    def cost(p: optimum.Path) -> float:
        """The band, or the net's error at the samples of the first piece (with their
        sags) where the subset sum moves it off the path (floats: a guide)."""
        net, shift = pwl_net(p.knots, p.values, width)
        if shift == 0 or p.knots.size < 3:
            return p.band
        first = s.x <= p.knots[1]
        moved = np.abs(net(s.x[first][:, None]).ravel() - s.y[first]) + s.curve[first]
        return max(p.band, float(np.max(moved)))

    if _reachable(path) and cost(path) > path.band * (1 + optimum.GOOD_ENOUGH):
        # the subset sum moves the net off the path: the greedy's paths and their
        # phases are other candidates, whose slope changes may sum better
        greedy = optimum.continuous_fit(s, width, near=path.band, exact=False)
        greedy = optimum.phased_fit(s, width, greedy, bound.value, _phases(width), skip, cost)
        if cost(greedy) < cost(path):
            path = greedy
    if cost(path) > path.band * (1 + _SHIFT_TOLERANCE):
        path, bound, seconds = _spare(target, s, width, path, bound, cost)
        bounded += seconds
    net, _ = pwl_net(path.knots, path.values, width)
    done = time.perf_counter()
    info = {
        "lower": bound.value,
        "band": path.band,
        "breakpoints": int(path.knots.size - 2),
        "samples": s.size,
        "seconds_fit": (fitted - start) + (done - bounded),
        "seconds_lower": bounded - fitted,
    }
    return Fit(net, net.n_params, info=info)
