"""A reference for the best width-d one-hidden-layer ReLU net, computed here: an
estimate, not a certified optimum (the package's ``optimal-pwl`` method, when it
exists, is the certified one).

For a target and width d, on a grid of ``max(16384, 128 (d + 1))`` points:

- ``upper``: the certified max error (:func:`approx.analysis.errors.max_error`) of the
  best of several width-d nets found by :func:`approx.train.minimax.minimax_fits`
  (the exchange of :mod:`approx.train.exchange`, in the free form of d cells and the
  level form of d + 1 cells) from five starts: knots equidistributing the target's own
  ``|f''|^½`` (the adaptive construction's), the same jittered twice, uniform knots,
  and knots equidistributing the samples' curvature, with twice the trained recipe's
  budget; and the best d + 1 free cells below with their most level cell made level
  and Madsen's steps again. A real width-d net,
  so the width-d optimum is at most this; it is a local search, so it may sit above
  the optimum;
- ``free``: the least grid max error found the same way for d + 1 free cells (d
  interior knots, no constraint): no width-d net does better than the d + 1 cell
  optimum, which this estimates (from above, on the grid);
- ``asymptotic``: ``(∫ √|f''|)² / (16 (d + 1)²)``, the large-d optimum of d + 1 cells.

The ratios of ``bench_quality.py`` divide by ``upper``; ``free`` and ``asymptotic``
show how far below it the true optimum can be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from approx.analysis.errors import max_error
from approx.models.construct import KNOTS
from approx.train.knot_form import equidistribute
from approx.train.minimax import MADSEN_STEPS, Fit, as_net, madsen, minimax_fits

#: continuation budget per start and form (the recipe's finish_steps is 300)
STEPS = 600


@dataclass(frozen=True)
class Reference:
    """The estimates of one (target, d): see the module docstring."""

    upper: float
    free: float
    asymptotic: float


def _starts(target, x, y, cells):
    """Adaptive, uniform and sample-equidistributed knots, and the adaptive knots
    jittered twice (by up to a third of their cells, seeded): symmetric starts can
    sit on a stationary point of the max error."""
    tau_a = KNOTS["adaptive"](target, cells + 1)
    tau_u = np.linspace(x[0], x[-1], cells + 1)
    yield tau_a, np.interp(tau_a, x, y)
    yield tau_u, np.interp(tau_u, x, y)
    yield equidistribute(x, y, cells + 1)
    rng = np.random.default_rng(cells)
    for _ in range(2):
        h = np.diff(tau_a)
        shift = rng.uniform(-1.0, 1.0, cells - 1) * np.minimum(h[:-1], h[1:]) / 3.0
        tau_j = np.concatenate([tau_a[:1], tau_a[1:-1] + shift, tau_a[-1:]])
        yield tau_j, np.interp(tau_j, x, y)


def asymptotic(target, cells: int) -> float:
    """``(∫ √|f''|)² / (16 cells²)`` by the trapezoid rule on 2¹⁶ points (``f''`` from
    the target's ``d2`` or second differences)."""
    a, b = target.domain
    x = np.linspace(a, b, 2**16 + 1)
    if target.d2 is not None:
        with np.errstate(all="ignore"):
            f2 = np.abs(target.d2(x))
        f2[~np.isfinite(f2)] = 0.0
    else:
        f = target(x)
        f2 = np.abs(np.gradient(np.gradient(f, x), x))
    root = np.sqrt(f2)
    integral = float(np.sum(0.5 * (root[1:] + root[:-1]) * np.diff(x)))
    return integral**2 / (16.0 * cells**2)


def reference(target, d: int, steps: int = STEPS) -> Reference:
    """The estimates for ``target`` at width ``d``."""
    a, b = target.domain
    x = np.linspace(a, b, max(16384, 128 * (d + 1)))
    y = target(x)
    best_net, best_grid, free = None, np.inf, np.inf
    for tau, u in _starts(target, x, y, d):
        for fit in minimax_fits(tau, u, x, y, steps)[0]:
            if fit.error < best_grid:
                best_grid, best_net = fit.error, as_net(fit)
    for tau, u in _starts(target, x, y, d + 1):
        fit = minimax_fits(tau, u, x, y, steps, ("free",))[0][0]
        free = min(free, fit.error)
        # the d + 1 cells' fit with its most level cell made level: a width-d net
        j = int(np.argmin(np.abs(np.diff(fit.u))))
        level = fit.u.copy()
        level[j] = level[j + 1] = 0.5 * (level[j] + level[j + 1])
        start = Fit(fit.tau, level, j, float(np.max(np.abs(np.interp(x, fit.tau, level) - y))))
        flat = madsen(start, x, y, MADSEN_STEPS)[0]
        if flat.error < best_grid:
            best_grid, best_net = flat.error, as_net(flat)
    return Reference(max_error(target, best_net), free, asymptotic(target, d + 1))
