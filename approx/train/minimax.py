"""The minimax finish of a 1→d→1 ReLU net: sequential linear programming in its knot form.

The Lᵖ polish of :mod:`approx.train.knot_form` pulls the fit toward the least max
error, but the max error is not smooth: near its minimum Levenberg–Marquardt on
``|r|ᵖ`` stalls short of it. Here, after an Lᵖ continuation to p = 256
(:func:`~approx.train.knot_form.lp_continuation`), the max error itself is minimised
by Madsen's method for nonlinear minimax problems (K. Madsen, "An algorithm for
minimax solution of overdetermined systems of non-linear equations", J. Inst. Math.
Appl. 16 (1975)): at each step the residuals are linearised in the knots and values,

    r_i + J_i δ,   J_i = (∂r_i/∂τ_c, ∂r_i/∂u_c, ∂r_i/∂τ_{c+1}, ∂r_i/∂u_{c+1})

(the four numbers of the sample's own cell, as in the knot form), together with the
error at each interior knot, ``u_k − f(τ_k)``, whose gradient holds ``−f'(τ_k)``: a
sample's residual, linearised at fixed ``x``, moves with a knot exactly as with the
knot's value, so only these rows see that sliding a kink moves the error at the kink
along ``f``. The step δ minimising the largest linearised residual within a trust
region is a linear program (scipy's HiGHS). A step is taken when the true max error
falls; the region grows after good steps and shrinks after poor ones. At a minimum
no step lowers the linearised max: the error equioscillates (tested on closed forms).

Two knot forms of a width-d net:

- free: d cells on the data range, d − 1 interior knots (one unit carries the first
  slope), as :func:`~approx.train.knot_form.to_theta`;
- flat: d + 1 cells, d interior knots, one cell ``j`` held level. With every kink
  inside the data the first slope must be minus a sum of slope changes (those of the
  units facing left); when cell ``j`` is level the units left of it face left, those
  right of it face right, and the output bias is the level value
  (:func:`to_theta_flat`). One more knot for one constraint: for targets with a
  turning point (or nearly level ends) this form reaches about ((d+1)/d)² less error.

- subset: d + 1 cells, d interior knots, none level: the units at a subset ``L`` of
  the knots face left, the others right, so the first slope is minus the sum of the
  slope changes at ``L`` (:func:`subset_path` finds ``L`` by a subset sum on the
  unconstrained d + 1 cells' fit, then keeps that relation). The level form is the
  case ``L = {1, …, j}``; a monotone target, which has no level cell to offer, gets
  its extra unit only here.

The finish itself (:func:`minimax_finish`) is the exchange of
:mod:`approx.train.exchange` (linear programs on the residual's extremal set in the
lines' coordinates, where the knot-and-value form's linear model fails for all but tiny
steps): from knots equidistributing the samples' curvature, in the level or subset form
(d + 1 cells) and the free one, the best kept by the validation grid, the trained
iterate included (a knot put on each kink of ``f`` the samples show:
:func:`curvature_start`). On small widths the subset path's d + 1 cells also get knot moves
(:func:`~approx.train.exchange.move_knots`: an idle knot removed and a cell split,
the exchange run again), which leave local minima where the knots are shared out
badly between regions. The Lᵖ continuation and Madsen's method below are the finish
before the exchange (:data:`CONTINUATION`, off by default: from the exchange's start they buy
nothing measurable, see :data:`CONTINUATION`). In Madsen's steps only the samples near
the extremes of the residual enter each linear program (every local extremum of ``r``
above :data:`ACTIVE` of the max, with its neighbours, except next to a knot, where the
knot's own row stands), so a step costs O(d) constraints rather than O(m); the step is
accepted on the max over all samples. Madsen's steps stop once they stall
(:data:`MADSEN_STALL`).

The thorough finish (:func:`thorough`; the recipe asks for it when the fit starts from
the construction, up to :data:`THOROUGH_UP_TO` units) spends more on the local minima:
the subset path up to :data:`THOROUGH_SUBSET_UP_TO` units, other subsets screened on it,
each path run again from its fit's knots re-placed to equalise the cells' own errors
(:func:`rebalance`), and on the subset path, up to :data:`RECOUNT_UP_TO` units, one knot
moved from one stretch between inflections to another (:func:`recount`). Each exchange
step changes a knot's slope change by at most half of it, so its sign stays, and the
number of knots between two inflections of ``f`` tends to stay what the start gave:
that count is what the local minima differ by (on sin 3x + 0.3 sin 17x at d = 128, a
start with the optimum's count in each stretch ends at the optimum, the curvature
start's, two stretches off by one, 1.07× above it: both must change at once, and its
twelve stretches are more than :func:`recount` tries). :func:`relevel` changes such
counts in pairs, by each stretch's mass of ``|f''|^½`` over its knots
(:func:`stretch_levels`), and the thorough finish's exchanges add rows at the samples
next to the ends when a step misses an extreme opening there
(:func:`~approx.train.exchange.end_rows`).

The default finish runs :func:`recount` too, up to :data:`RECOUNT_DEFAULT_UP_TO` units
(:func:`_recounted`), but only where the best fit of d + 1 cells holds fewer stretches
than the samples show (:func:`target_stretches`) and d is at least that many, so that a
stretch of ``f`` has no knot of its own (sin 8x² at d = 8: seven stretches, the fit's
knots in five, 1.18× above the optimum; with the move 1.00), or where its stretches'
levels differ by more than :data:`RECOUNT_UNEVEN` (two unequal steps at d = 16: 1.24 →
1.00), or where a kink of ``f`` joins a stretch of the fit, ``f`` bending one way on
one side of it and the other way on the other (:func:`_kink_at_turn`: |x + 0.3| e^x at
d = 16, 1.21 → 1.00). On the quickstart's and the built-in targets none holds, so their
fits are unchanged. Above :data:`SUBSET_UP_TO` units, up to :data:`SUBSET_BEHIND_UP_TO`, it
also takes the subset path where the level path ends more than :data:`BEHIND` above the
free one (:func:`_subset_if_behind`: no cell wants to be level; two unequal bumps at
d = 64: 1.107 → 1.000); on the quickstart's targets the level path wins, so it never
runs there. Above :data:`SUBSET_ABOVE` units the subset path replaces the level one
(:func:`finish_forms`): there the level path's start, its least slope levelled, ended
in local minima that do not equioscillate around inflections (x + 0.2 sin 12x at
d = 256: 1.049 → 1.000); where the subset path ends more than :data:`BEHIND` above the
free one, the level path runs too (:func:`_level_if_behind`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import deadline
from approx.models.pwl_net import subset_sum
from approx.nn import MLP, unpack
from approx.train.exchange import (
    MOVE_SCREEN,
    end_rows,
    evenly_spaced,
    exchange,
    finish_kinks,
    least_cell,
    move_knots,
    rebalanced,
    sample_kinks,
    sides,
)
from approx.train.knot_form import (
    equidistribute,
    knot_form,
    lp_continuation,
    to_theta,
)
from approx.train.link_start import link_start
from approx.train.loop import Engine, Tracker

__all__ = [
    "ACTIVE",
    "BEST_UP_TO",
    "FORMS",
    "LINKS_UP_TO",
    "MADSEN_STEPS",
    "SPLIT_UP_TO",
    "STARTS",
    "START_FLOOR",
    "SUBSET_ABOVE",
    "Fit",
    "apart",
    "as_net",
    "counted",
    "curvature_start",
    "finish_forms",
    "flat_split",
    "madsen",
    "minimax_finish",
    "minimax_fits",
    "rebalance",
    "recount",
    "relevel",
    "stretch_levels",
    "stretches",
    "target_stretches",
    "thorough",
    "to_theta_flat",
    "write",
]

Array = NDArray[np.float64]

#: residuals at least this fraction of the max enter the linear program (at their local
#: extrema, with :data:`NEIGHBOURS` samples on each side)
ACTIVE, NEIGHBOURS = 0.25, 2
#: trust region: knots move at most ``radius`` of the adjacent cells' widths, values at
#: most ``VALUE_SCALE · radius · E``; the radius starts at :data:`START_RADIUS`, stays
#: at most :data:`MAX_RADIUS` (< ½, so knots never cross)
START_RADIUS, MAX_RADIUS, VALUE_SCALE = 0.1, 0.45, 4.0
#: linear programs of Madsen's method at most, per knot form (it stops sooner at a
#: minimax fit: no step lowers the linearised max)
MADSEN_STEPS = 100
#: Madsen's method also stops once :data:`MADSEN_WINDOW` linear programs have lowered
#: the max error by less than this fraction of it (slow, linear convergence where the
#: minimum is not strongly unique)
MADSEN_STALL, MADSEN_WINDOW = 1e-3, 8
#: the paths of :func:`minimax_fits`: the free form (d cells); the flat form opened at
#: a turning knot of the free form's result (not a default path: measured from the
#: exchange it won no row of the built-in targets); and d + 1 free cells (knots
#: re-placed by the curvature) whose most level cell is made level. At widths
#: :data:`SUBSET_FROM` … :data:`SUBSET_UP_TO` and above :data:`SUBSET_ABOVE`
#: :func:`minimax_finish` takes the ``"subset"`` path (:func:`subset_path`) in place of
#: ``"level"``
FORMS = ("free", "level")
#: whether :func:`minimax_fits` runs the Lᵖ continuation and Madsen's steps before the
#: exchange (the finish before the exchange; off: the exchange from the start reaches
#: as low at a fraction of the cost)
CONTINUATION = False
#: whether it runs the exchange of :mod:`approx.train.exchange`
EXCHANGE = True
#: widths up to which it also takes the ``"flat"`` path, when :data:`FORMS` lists it
SPLIT_UP_TO = 64
#: the starts of :func:`minimax_finish`: ``"samples"`` (knots equidistributing the
#: samples' curvature; the fewest-link path through graded ones), ``"links"`` (that path,
#: up to :data:`LINKS_UP_TO` units) and ``"best"`` (the trained net's knot form), the
#: latter up to :data:`BEST_UP_TO` units. Measured with the exchange (five built-in targets, d = 8 …
#: 256, 3 seeds from He weights and one from the construction: 112 fits), the trained
#: start never ended lower; on a target not tuned for (sin(e^{2x}) at d = 8) it ended
#: 1.16× lower, where the samples' start sits in a poor local minimum, but with it up to
#: d = 64 the quickstart's 63 trained fits cost 46 s of CPU instead of 29: not a default
STARTS = ("samples", "links")
BEST_UP_TO = 64
#: the ``"links"`` start (:func:`~approx.train.link_start.link_start`, the fewest-link
#: path through the samples) on evenly spaced samples runs up to this many units, beside
#: the ``"samples"`` one (on graded samples it is the ``"samples"`` start). Alone in its
#: place it ended lower where the curvature start sits in a poor local minimum
#: (tanh(5x)³ at d = 8: 1.087 → 0.989 the optimum; |x − 0.25|^1.3 + 0.5 sin 5x at 16:
#: 1.180 → 0.999) but higher elsewhere (x − sin(2πx)/2π at 64: 1.052 → 1.104); above 64
#: it gained at most 2.6 % (tanh10, exp, kinked and arc targets: every row within 1.01
#: of the optimum either way) for a second finish, half a fit's CPU at d = 1024
LINKS_UP_TO = 64
#: the density floor of the ``"samples"`` start, as a fraction of the mean density
#: (:func:`~approx.train.knot_form.equidistribute`; 0.05 there). The exchange cannot
#: empty a nearly linear stretch of its surplus knots (every other cell would have to
#: shrink at once): with 0.05 tanh10's flat ends kept two to three cells each and its
#: fits ended 2.5–3 % above the optimum at d = 256 … 1024; with 0.01, 0.2–0.3 %
START_FLOOR = 0.01
#: widths from and up to which the ``"subset"`` path replaces the ``"level"`` one (d + 1
#: cells tied by a subset sum instead of made level: :func:`subset_path`). Measured on
#: the built-in targets it ends as low as the level path or lower at every d = 8 … 128
#: (tanh10 at 8 … 64: 1.006–1.015 → 0.960–1.000 of the optimum's upper end), and lower
#: on monotone targets (arctan(5x − 2) at 16: 1.138 → 0.992), but not at d = 4
#: (sin2pi: 1.254 → 2.507). It costs two exchanges, not one: at d = 64 it would add
#: 7 % to the quickstart's trained fits for gains of at most 3.7 % (sin(e^{2x}),
#: arctan(5x − 2)), so it stops at 32 (above, :data:`SUBSET_BEHIND_UP_TO`: only where
#: the level path falls behind the free one)
SUBSET_FROM, SUBSET_UP_TO = 8, 32
#: widths up to which the subset path tries knot moves
#: (:func:`~approx.train.exchange.move_knots`) on its d + 1 cells, where a local
#: minimum costs most (sin(e^{2x}) at d = 8: 1.26 → 0.93 of the optimum's upper end;
#: nothing gained at d = 32 on the targets measured, for up to 1.2 s of moves)
MOVES_UP_TO = 16
#: and only while the unconstrained fit lies within this factor of the other paths' best
BEHIND = 1.01
#: widths above :data:`SUBSET_UP_TO` up to which the default finish also takes the
#: subset path where the level path ends more than :data:`BEHIND` above the free one
#: (:func:`_subset_if_behind`): the level cell then costs more than the unit it adds,
#: and the subset form, of which the level form is one case, may still get that unit
#: (two unequal bumps at d = 64: 1.107 → 1.000 of the optimum's upper end)
SUBSET_BEHIND_UP_TO = 128
#: widths above which the subset path replaces the level one in every finish. The level
#: path's start is the subset path's with its cell of least slope levelled (its two
#: values averaged); on x + 0.2 sin 12x at d = 256 its exchange then stopped 1.049×
#: above the optimum's upper end (1.033× with the linear programs' tolerance at 10⁻⁶ E):
#: the knots between inflections counted as the optimum's, but around three of the
#: seven inflections a cell too narrow next to the inflection's own, its residual never
#: reaching −E, the cells there short of equioscillation and no step out (a start
#: re-placed by :func:`rebalance`, or re-placed around those cells, fell back into it);
#: the free path, d cells, keeps a stretch one knot short, (33/32)² = 1.063 (1.062).
#: From the same start the subset path's unconstrained d + 1 cells equioscillate at
#: the optimum (0.9999× on the samples, 18 linear programs) and its subset relation
#: costs nothing: 1.000 at d = 256 and 512, 1.008 at 1024 (1.011). Measured on 15
#: more targets at d = 256 … 1024 (the built-in ones, --fresh7, --fresh8) it ended as
#: low or lower on every row, the finish about as costly (its two exchanges, the second
#: one from a converged fit, against the level path's one from a levelled start).
#: Where it ends more than :data:`BEHIND` above the free path the level path runs too
#: (:func:`_level_if_behind`; |x|^2.5 (1 + tanh 40x)/2 at d = 256)
SUBSET_ABOVE = 128
#: the thorough finish (:func:`thorough`, a fit started from the construction): the
#: subset path up to this width, :data:`SUBSET_TRIES` subsets screened on it, and up to
#: :data:`REBALANCE_ROUNDS` restarts of each path from its fit's knots re-placed to
#: equalise the cells' own errors (:func:`~approx.train.exchange.rebalanced`)
THOROUGH_SUBSET_UP_TO, SUBSET_TRIES, REBALANCE_ROUNDS = 128, 6, 1
#: widths up to which the finish is thorough when asked (:func:`thorough`): above, the
#: finish met 1.03 of the optimum's upper end without it on every target measured (at
#: most 1.024: sin 3x + 0.3 sin 17x at d = 256), and the restarts would double a
#: d = 1024 fit's cost
THOROUGH_UP_TO = 128
#: :func:`recount`: at most this many stretches between inflections (it tries every
#: transfer of one knot between two of them), rounds at most, exchange steps screening
#: each transfer, and widths up to which it runs (a cost rule: 3–4 s of CPU at d = 8 …
#: 32 on five to seven stretches)
RECOUNT_STRETCHES, RECOUNT_ROUNDS, RECOUNT_SCREEN, RECOUNT_UP_TO = 8, 2, 8, 64

#: :func:`relevel`: up to this many pairs of stretches change counts at once
RELEVEL_PAIRS = 3
#: widths up to which the default finish (not thorough) also runs :func:`recount`, where
#: the best fit of d + 1 cells holds fewer stretches than the samples show
#: (:func:`target_stretches`) and d at least that many (a cost: 0.3–5 s of CPU a fit
#: where it runs, e^{−2x} sin 10x at d = 64 the most; never on the quickstart's
#: targets). Up to 64 until |x|^2.5 (1 + tanh 40x)/2 at d = 256 (above the thorough
#: finish, so from either start): 1, 1 and 254 knots in its three stretches where the
#: optimum has 2, 1 and 253, their levels 2.6× apart, 1.057× above the optimum's upper
#: end; with knots moved 1.000× (a fit 1.5 → 4.0 s of CPU). Of the 40 targets of the
#: benchmark's sets (d = 128, 256, 512, the finish alone) the tests hold on that one
#: alone; there recount would buy 0.5 % at 512 for 9 s of CPU and 0.2 % at 1024 for
#: 58 s (one round), hence 256
RECOUNT_DEFAULT_UP_TO = 256
#: ... or where the stretches' levels differ by more than this factor (at the optimum
#: of the quickstart's targets they differ by up to 1.21: runge at d = 8)
RECOUNT_UNEVEN = 1.3

_THOROUGH: ContextVar[bool] = ContextVar("approx_thorough_finish", default=False)


@contextmanager
def thorough(on: bool = True) -> Iterator[None]:
    """Within this block (with ``on``), :func:`minimax_finish` is thorough: the subset
    path up to :data:`THOROUGH_SUBSET_UP_TO` units (not :data:`SUBSET_UP_TO`), several
    subsets tried on it (:func:`subset_path`), each path restarted from its fit's
    knots re-placed to equalise the cells' own errors (:func:`rebalance`), and knots
    moved between stretches (:func:`recount`). It costs several times the finish (up
    to about 6 s of CPU a fit at d ≤ 128); the recipe asks for it when the fit starts
    from the construction (``init = "construction"``), whose user wants the optimum."""
    token = _THOROUGH.set(on)
    try:
        with end_rows(on):
            yield
    finally:
        _THOROUGH.reset(token)


@dataclass(frozen=True)
class Fit:
    """A continuous piecewise-linear fit: knots ``tau`` (ends fixed), values ``u``, the
    flat cell (None for the free form) and its max error on the samples; ``left``, in
    the subset form (d + 1 cells, none level), marks the interior knots whose units
    face left (the first slope is minus the sum of their slope changes)."""

    tau: Array
    u: Array
    flat: int | None
    error: float
    left: NDArray[np.bool_] | None = None


def _residuals(tau: Array, u: Array, x: Array, y: Array) -> Array:
    return np.interp(x, tau, u) - y


def _active(r: Array, error: float, at_knots: Array) -> Array:
    """Indices of the samples that enter the linear program: the local extrema of ``r``
    above :data:`ACTIVE` of the max with :data:`NEIGHBOURS` on each side, except those
    that near the interior knots (sample ``at_knots[k]`` is the first right of knot k).

    A sample's residual, linearised at fixed ``x``, moves with a knot as the knot's
    value does (within a cell, sliding the kink along the line changes nothing); the
    error at the kink itself moves with ``−f'`` as the kink slides, which only the
    knot's own row sees."""
    m = r.size
    big = np.abs(r) >= ACTIVE * error
    up = np.r_[True, r[1:] >= r[:-1]] & np.r_[r[:-1] >= r[1:], True]
    down = np.r_[True, r[1:] <= r[:-1]] & np.r_[r[:-1] <= r[1:], True]
    peaks = np.flatnonzero(big & (up | down))
    near = np.unique(
        np.clip((peaks[:, None] + np.arange(-NEIGHBOURS, NEIGHBOURS + 1)).reshape(-1), 0, m - 1)
    )
    # the samples next to a knot are left to the knot's own row (:func:`_knot_rows`)
    spans = (at_knots[:, None] + np.arange(-NEIGHBOURS, NEIGHBOURS + 1)).reshape(-1)
    return np.setdiff1d(near, spans)


def _jacobian(tau: Array, u: Array, xs: Array) -> Any:
    """The residuals' Jacobian at ``xs`` in the columns ``δτ_1 … δτ_{k−2}, δu_0 … δu_{k−1}``
    (the end knots fixed): a sparse matrix, four entries a row at most."""
    from scipy import sparse

    k = tau.size
    cell = np.clip(np.searchsorted(tau, xs, side="right") - 1, 0, k - 2)
    h = np.diff(tau)[cell]
    lam = (xs - tau[cell]) / h
    s = np.diff(u)[cell] / h
    n_tau = k - 2
    everywhere = np.ones(xs.size, dtype=bool)
    parts = [  # (column, value, where the column exists)
        (cell - 1, -s * (1.0 - lam), cell >= 1),
        (cell, -s * lam, cell + 1 <= k - 2),
        (n_tau + cell, 1.0 - lam, everywhere),
        (n_tau + cell + 1, lam, everywhere),
    ]
    rows = np.concatenate([np.flatnonzero(ok) for _, _, ok in parts])
    cols = np.concatenate([col[ok] for col, _, ok in parts])
    vals = np.concatenate([val[ok] for _, val, ok in parts])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(xs.size, n_tau + k))


def _knot_rows(tau: Array, u: Array, x: Array, y: Array) -> tuple[Any, Array]:
    """The residuals at the interior knots, ``u_k − f(τ_k)``, and their gradient rows:
    1 in ``u_k``'s column, ``−f'(τ_k)`` in ``τ_k``'s (``f`` and ``f'`` from the samples,
    linearly interpolated)."""
    from scipy import sparse

    k = tau.size
    inner = tau[1:-1]
    slope = np.diff(y) / np.diff(x)
    i = np.clip(np.searchsorted(x, inner) - 1, 0, x.size - 2)
    r = u[1:-1] - np.interp(inner, x, y)
    rows = np.concatenate([np.arange(k - 2), np.arange(k - 2)])
    cols = np.concatenate([np.arange(k - 2), k - 2 + np.arange(1, k - 1)])
    vals = np.concatenate([-slope[i], np.ones(k - 2)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(k - 2, 2 * k - 2)), r


def _step(fit: Fit, x: Array, y: Array, r: Array, radius: float) -> tuple[Array, Array, float]:
    """The linear program's step from ``fit``: new knots, values, and the predicted max
    ``min_δ max_i |r_i + J_i δ|`` over the active samples within the trust region."""
    from scipy import sparse

    from approx.train import _lp

    tau, u, k = fit.tau, fit.u, fit.tau.size
    idx = _active(r, fit.error, np.searchsorted(x, tau[1:-1]))
    J_k, r_k = _knot_rows(tau, u, x, y)
    J = sparse.vstack([_jacobian(tau, u, x[idx]), J_k]).tocsr()
    rs = np.concatenate([r[idx], r_k])
    n = J.shape[1] + 1  # and t, the linearised max
    t_col = sparse.csr_matrix(np.ones((rs.size, 1)))
    A = sparse.vstack([sparse.hstack([J, -t_col]), sparse.hstack([-J, -t_col])]).tocsr()
    b = np.concatenate([-rs, rs])
    c = np.zeros(n)
    c[-1] = 1.0
    h = np.diff(tau)
    v_bound = VALUE_SCALE * radius * fit.error
    bounds = [(-radius * h[i - 1], radius * h[i]) for i in range(1, k - 1)]
    bounds += [(-v_bound, v_bound)] * k + [(0.0, None)]
    eq = {}
    if fit.flat is not None:  # the flat cell stays flat: δu_j = δu_{j+1}
        row = np.zeros((1, n))
        row[0, k - 2 + fit.flat], row[0, k - 1 + fit.flat] = 1.0, -1.0
        eq = {"A_eq": row, "b_eq": np.zeros(1)}
    z = _lp.solve(c, A, b, bounds, **eq)
    if z is None:
        return tau, u, fit.error
    new_tau = tau.copy()
    new_tau[1:-1] += z[: k - 2]
    return new_tau, u + z[k - 2 : 2 * k - 2], float(z[-1])


def madsen(fit: Fit, x: Array, y: Array, steps: int, offer=None) -> tuple[Fit, int]:
    """Madsen's trust-region minimax steps from ``fit``, ``steps`` linear programs at
    most: the fit of least max error on ``(x, y)`` and the steps used. ``offer(fit)``
    is called at each accepted step."""
    radius = START_RADIUS
    r = _residuals(fit.tau, fit.u, x, y)
    used, trail = 0, [fit.error]
    least = least_cell(x, float(fit.tau[-1] - fit.tau[0]))
    while used < steps and radius > 1e-9:
        deadline.check()
        if len(trail) > MADSEN_WINDOW and trail[-1 - MADSEN_WINDOW] - fit.error < (
            MADSEN_STALL * fit.error
        ):
            break
        tau, u, predicted = _step(fit, x, y, r, radius)
        used += 1
        gain = fit.error - predicted
        if gain <= 1e-13 * fit.error:
            break  # no step lowers the linearised max: a (local) minimax fit
        r_new = _residuals(tau, u, x, y)
        error = float(np.max(np.abs(r_new)))
        if np.min(np.diff(tau)) <= least:
            error = np.inf  # a cell about to vanish: its unit's weights would blow up
        ratio = (fit.error - error) / gain
        if ratio > 0.0:
            fit, r = Fit(tau, u, fit.flat, error), r_new
            if offer is not None:
                offer(fit)
        if ratio > 0.75:
            radius = min(2.0 * radius, MAX_RADIUS)
        elif ratio < 0.25:
            radius /= 4.0
        trail.append(fit.error)
    return fit, used


#: width of the flat cell :func:`flat_split` opens, as a fraction of the cells next to
#: the knot it replaces
FLAT_START = 0.5


def flat_split(tau: Array, u: Array, x: Array, y: Array) -> Fit:
    """The flat form from the free ``(τ, u)``: one more knot, a flat cell at an extremum.

    A continuous piecewise-linear fit has its local extrema at knots: each knot where
    the slope changes sign, and each end, is a candidate to be replaced by a flat cell
    from ``τ_k − δ_l`` to ``τ_k + δ_r`` (δ = :data:`FLAT_START` of each neighbouring
    cell; one side only at an end) at the level of the fit around it; the candidate of
    least max error is returned. A short flat cell would be a stationary point:
    widening it changes the fit by the slope times the move, about zero there.
    """
    s = np.diff(u) / np.diff(tau)
    turn = np.flatnonzero(s[:-1] * s[1:] <= 0.0) + 1  # interior knots where s changes sign
    candidates = [_opened(tau, u, int(k), x, y) for k in (*turn, 0, tau.size - 1)]
    return min(candidates, key=lambda fit: fit.error)


def _opened(tau: Array, u: Array, k: int, x: Array, y: Array) -> Fit:
    """Knot ``k`` of ``(τ, u)`` replaced by a flat cell (:func:`flat_split`)."""
    h = np.diff(tau)
    last = tau.size - 1
    a = tau[k] - FLAT_START * h[k - 1] if k > 0 else tau[0]
    b = tau[k] + FLAT_START * h[k] if k < last else tau[-1]
    level = float(np.mean(np.interp([a, tau[k], tau[k], b], tau, u)))
    inner = [a, b] if 0 < k < last else ([b] if k == 0 else [a])
    new_tau = np.concatenate([tau[: max(k, 1)], inner, tau[min(k + 1, last) :]])
    new_u = np.interp(new_tau, tau, u)
    flat = int(np.searchsorted(new_tau, a))
    new_u[flat] = new_u[flat + 1] = level
    return Fit(new_tau, new_u, flat, _max_error(new_tau, new_u, x, y))


def to_theta_flat(fit: Fit, theta: Array, sizes: list[int]) -> None:
    """Write the flat form into a 1→d→1 ReLU net's arrays (d = interior knots).

    Unit ``k`` breaks at the interior knot ``τ_{k+1}`` with output weight the slope
    change there; units left of the flat cell face left (``max{0, τ − x}``), those
    right of it face right, and the output bias is the flat value: on the data range
    the net is the piecewise-linear function through ``(τ, u)``.
    """
    (W0, W1), (b0, b1) = unpack(theta, sizes)
    tau, u, j = fit.tau, fit.u, fit.flat
    interior = tau[1:-1]
    left = np.arange(1, tau.size - 1) <= j if fit.left is None else fit.left
    sign = np.where(left, -1.0, 1.0)
    s = np.diff(u) / np.diff(tau)
    W0[0] = sign
    b0[:] = -sign * interior
    W1[:, 0] = np.diff(s)
    # the subset form: at τ_0 only the units facing left are active
    b1[0] = u[j] if fit.left is None else u[0] - float(np.diff(s)[left] @ (interior[left] - tau[0]))


class _Quiet:
    """A tracker that keeps nothing: the flat form's continuation runs on d + 1 cells,
    which are not yet a width-d net."""

    monitor = None

    def offer(self, loss: float, step: int, force: bool = False) -> None:
        pass


def _start(form: str, tau: Array, u: Array, fits: list[Fit], x: Array, y: Array,
           level: tuple[Array, Array] | None) -> Fit:
    """The start of path ``form`` (:func:`minimax_fits`) from the free ``(τ, u)``."""
    if form == "flat":  # from the free form's minimax fit, when there is one
        free = next((f for f in fits if f.flat is None), Fit(tau, u, None, 0.0))
        return flat_split(free.tau, free.u, x, y)
    if form in ("level", "subset"):
        t1, u1 = equidistribute(tau, u, tau.size + 1) if level is None else level
        u1 = u1.copy()
        if form == "subset":
            return Fit(t1, u1, None, 0.0)
        if CONTINUATION:  # the level cell is chosen after the continuation
            return Fit(t1, u1, None, 0.0)
        j = _least_slope(t1, u1)
        u1[j] = u1[j + 1] = 0.5 * (u1[j] + u1[j + 1])
        return Fit(t1, u1, j, 0.0)
    return Fit(tau, u, None, 0.0)


def _least_slope(tau: Array, u: Array) -> int:
    """The cell of least slope of the fit through ``(τ, u)``: the one the level path makes
    level."""
    return int(np.argmin(np.abs(np.diff(u) / np.diff(tau))))


def _continued(start: Fit, form: str, x: Array, y: Array, steps: int) -> tuple[Fit, int]:
    """The Lᵖ continuation and Madsen's steps from ``start`` (the ``"level"`` path's
    level cell chosen after the continuation)."""
    dummy = MLP([1, start.tau.size - 1, 1], "relu")  # the continuation writes into a net
    t1, u1, n = lp_continuation(
        start.tau, start.u, x, y, _Quiet(), dummy.pack(), dummy.sizes, steps, start.flat
    )
    j = start.flat if form == "flat" else None
    if form == "level":
        j = int(np.argmin(np.abs(np.diff(u1))))
    if j is not None:
        u1 = u1.copy()
        u1[j] = u1[j + 1] = 0.5 * (u1[j] + u1[j + 1])
    fit, k = madsen(Fit(t1, u1, j, _max_error(t1, u1, x, y)), x, y, MADSEN_STEPS)
    return fit, n + k


def minimax_fits(
    tau: Array, u: Array, x: Array, y: Array, steps: int, forms: tuple[str, ...] = FORMS,
    level: tuple[Array, Array] | None = None,
) -> tuple[list[Fit], int]:
    """The fits of least max error on ``(x, y)`` reached from the free ``(τ, u)`` along
    each path of ``forms`` (:data:`FORMS`): the exchange of
    :mod:`approx.train.exchange` (:data:`~approx.train.exchange.EXCHANGE_STEPS` linear
    programs at most), after, with :data:`CONTINUATION`, the Lᵖ continuation
    (:func:`~approx.train.knot_form.lp_continuation`, ``steps`` evaluations) and
    :func:`madsen` (:data:`MADSEN_STEPS` linear programs at most). ``"free"``: d cells.
    ``"flat"``: the free path's result (or ``(τ, u)`` without one) opened by
    :func:`flat_split` (a level cell at a turning knot). ``"subset"``: :func:`subset_path`
    from the ``"level"`` path's knots. ``"level"``: one cell more
    (``level``, or the knots re-placed by :func:`~approx.train.knot_form.equidistribute`,
    which keeps a symmetric fit symmetric), its most level cell made level (after the
    continuation, with it). ``x`` sorted. Returns the fits (one per path) and the
    evaluations and linear programs used.
    """
    fits, used = [], 0
    for form in forms:
        fit, error = _start(form, tau, u, fits, x, y, level), np.inf
        if CONTINUATION:
            fit, n = _continued(fit, form, x, y, steps)
            used += n
        if form == "subset":
            rival = min((f.error for f in fits), default=np.inf)
            fit, n = subset_path(fit, x, y, rival)
            if _THOROUGH.get():  # counts first, then the knots re-placed within them
                fit, m = recount(fit, x, y, rival)
                fit, k = rebalance(fit, form, x, y, rival)
                fit, j = relevel(fit, x, y, rival)
                n += k + m + j
            fits.append(fit)
            used += n
            continue
        if EXCHANGE:
            rival = min((f.error for f in fits), default=np.inf)
            t1, u1, error, n = exchange(fit.tau, fit.u, x, y, flat=fit.flat, rival=rival)
            used += n
            if np.isfinite(error):  # (never above its start: it keeps only gains)
                fit = Fit(t1, u1, fit.flat, error)
        if not (CONTINUATION or (EXCHANGE and np.isfinite(error))):  # the start as it is
            fit = Fit(fit.tau, fit.u, fit.flat, _max_error(fit.tau, fit.u, x, y))
        elif _THOROUGH.get() and form in ("free", "level"):
            fit, n = rebalance(fit, form, x, y, min((f.error for f in fits), default=np.inf))
            used += n
        fits.append(fit)
    if not _THOROUGH.get():
        used += _subset_if_behind(fits, tau, u, x, y, level)
        used += _level_if_behind(fits, tau, u, x, y, level) + _recounted(fits, x, y)
    return fits, used


def _level_if_behind(fits: list[Fit], tau: Array, u: Array, x: Array, y: Array,
                     level: tuple[Array, Array] | None) -> int:
    """The default finish's level path above :data:`SUBSET_ABOVE` units, where the
    subset path takes its place (:func:`finish_forms`), only where the subset path's fit
    lies more than :data:`BEHIND` above the free path's (its d + 1 free cells, which
    should buy one unit, stuck short of it): the level path from its start
    (:func:`_start`), its result joining ``fits``, where :func:`_recounted` may then
    take it up. On |x|^2.5 (1 + tanh 40x)/2 at d = 256 the subset path ended 2.9 %
    above the free one (its knots in stretches of 1, 1 and 254 where the optimum has 2,
    1 and 253), the level path within 1 % of it, and the recount from there at the
    optimum. Returns the linear programs used."""
    free = [f for f in fits if f.flat is None and f.left is None]
    wide = [f for f in fits if f.left is not None]
    if not (free and wide) or any(f.flat is not None for f in fits):
        return 0
    rival = min(f.error for f in free)
    if not (free[0].tau.size - 1 > SUBSET_ABOVE and min(f.error for f in wide) > BEHIND * rival):
        return 0
    start = _start("level", tau, u, fits, x, y, level)
    t1, u1, error, used = exchange(start.tau, start.u, x, y, flat=start.flat, rival=rival)
    if np.isfinite(error):
        fits.append(Fit(t1, u1, start.flat, error))
    return used


def _subset_if_behind(fits: list[Fit], tau: Array, u: Array, x: Array, y: Array,
                      level: tuple[Array, Array] | None) -> int:
    """The default finish's subset path above :data:`SUBSET_UP_TO` units, up to
    :data:`SUBSET_BEHIND_UP_TO`: only where the level path's fit lies more than
    :data:`BEHIND` above the free path's (the level cell, which should buy one unit,
    about ((d + 1)/d)² less error, costs more than that: a target with no cell that
    wants to be level, such as two unequal bumps, T7 or a softplus), from the level
    path's start (:func:`_start` from the free ``(τ, u)`` and ``level``); its result
    joins ``fits``. On targets whose level path wins (sin2pi, runge, tanh10: the
    quickstart's; runge at d = 128 ties, 1.00003×) it never runs, so their fits are
    unchanged. Returns the linear programs used."""
    free = [f for f in fits if f.flat is None and f.left is None]
    flat = [f for f in fits if f.flat is not None]
    if not (free and flat):
        return 0
    d = free[0].tau.size - 1
    rival = min(f.error for f in free)
    behind = min(f.error for f in flat) > BEHIND * rival
    if not (behind and SUBSET_UP_TO < d <= SUBSET_BEHIND_UP_TO):
        return 0
    fit, used = subset_path(_start("subset", tau, u, fits, x, y, level), x, y, rival)
    fits.append(fit)
    return used


def _recounted(fits: list[Fit], x: Array, y: Array) -> int:
    """The default finish's :func:`recount` (up to :data:`RECOUNT_DEFAULT_UP_TO` units):
    from the best fit of d + 1 cells (level or subset form), unless it lies more than
    :data:`BEHIND` above another path's (exp at d = 64: a level form's first cell
    makes stretches of 1, 1 and 62 knots, 2.2× above the free form), only where its knots lie
    in fewer stretches than the samples show (:func:`target_stretches`) and d is at
    least that many, or where its stretches' levels (:func:`stretch_levels`) differ by
    more than the factor :data:`RECOUNT_UNEVEN` (those holding a kink of ``f`` left
    out: :func:`_uneven`), or where a kink of ``f`` joins a stretch of the fit
    (:func:`_kink_at_turn`); its result joins ``fits`` if lower.
    Returns the linear programs used."""
    wide = [f for f in fits if f.flat is not None or f.left is not None]
    if not wide:
        return 0
    best = min(wide, key=lambda f: f.error)
    d = best.tau.size - 2
    if d > RECOUNT_DEFAULT_UP_TO or best.error > BEHIND * min(f.error for f in fits):
        return 0
    ends, counts, levels = stretch_levels(best, x, y)
    if not (counts.size < target_stretches(x, y) <= d or _uneven(ends, levels, x, y)
            or _kink_at_turn(ends, counts, x, y)):
        return 0
    new, used = recount(best, x, y, min(f.error for f in fits), RECOUNT_DEFAULT_UP_TO)
    if new.error < best.error:
        fits.append(new)
    return used


def _uneven(ends: Array, levels: Array, x: Array, y: Array) -> bool:
    """Whether the levels of the stretches between ``ends`` (:func:`stretch_levels`)
    differ by more than the factor :data:`RECOUNT_UNEVEN`, those of the stretches that
    hold a kink of ``f`` (:func:`~approx.train.exchange.kinks`) left out: there the
    samples' second difference, ``J/h`` over one sample step, reads a mass of ``√(J h)``
    that no count of knots changes (the knot on the kink is a stretch of its own). On
    |sin 4x| those stretches read 2.5× the others' level, and :func:`recount` then ran
    for nothing: a fit from He weights 3.4, 4.5 and 9.1 s of CPU at d = 32, 64 and 128
    (0.2, 0.3 and 0.8 s without, every error the same to three digits)."""
    if not levels.max() > RECOUNT_UNEVEN * levels.min():
        return False
    held = np.zeros(levels.size, dtype=bool)
    kappa = finish_kinks(x, y)[0]
    held[np.clip(np.searchsorted(ends, kappa) - 1, 0, levels.size - 1)] = True
    smooth = levels[~held]
    return smooth.size > 0 and bool(smooth.max() > RECOUNT_UNEVEN * smooth.min())


def _kink_at_turn(ends: Array, counts: NDArray[np.intp], x: Array, y: Array) -> bool:
    """Whether a kink of ``f`` (:func:`~approx.train.exchange.kinks`) lies in a stretch
    (between ``ends``, holding ``counts`` knots: :func:`stretches`) of more than one
    knot, among two or more stretches: its knot's slope change then shares its sign
    with one side's run, so ``f`` turns there (concave on one side, convex on the
    other), and neither test above sees the count by it: the stretches are as many as
    the samples show, and the one holding the kink is left out of :func:`_uneven`. On
    |x + 0.3| e^x at d = 16 (concave left of the kink, convex right of it) the subset
    path from the curvature start keeps its 2 knots left of the kink's and 13 right of
    it and ends 1.21× above the optimum's certified upper end, the free path too; with
    one knot moved left (3 and 12), at it. Where the kink's knot is a stretch of its
    own (|sin 4x|, e^{−3|x − 0.1|}, √(|x| + 0.01): both sides bend the same way) this
    does not hold."""
    if counts.size < 2:
        return False
    kappa = finish_kinks(x, y)[0]
    held = np.clip(np.searchsorted(ends, kappa) - 1, 0, counts.size - 1)
    return bool(np.any(counts[held] > 1))


def stretches(fit: Fit) -> tuple[Array, NDArray[np.intp]]:
    """The stretches of ``fit`` between its inflections: the runs of interior knots whose
    slope changes share a sign. Returns their ends (the fit's ends and the middles of
    the cells between two runs) and how many knots each holds."""
    ds = np.diff(np.diff(fit.u) / np.diff(fit.tau))
    if ds.size == 0:
        return fit.tau[[0, -1]], np.zeros(1, dtype=np.intp)
    positive = ds > 0
    first = np.flatnonzero(np.r_[True, positive[1:] != positive[:-1]])
    counts = np.diff(np.r_[first, ds.size])
    inner = fit.tau[1:-1]
    cuts = 0.5 * (inner[first[1:] - 1] + inner[first[1:]])
    return np.r_[fit.tau[0], cuts, fit.tau[-1]], counts


#: a second difference of the samples counts toward their sign pattern
#: (:func:`target_stretches`) when at least this fraction of the largest one, and
#: above ROUNDING times the samples' largest magnitude over the sample step (a slope's
#: rounding)
CURVATURE_FLOOR, ROUNDING = 1e-6, 1e-13


def target_stretches(x: Array, y: Array) -> int:
    """How many stretches between inflections the samples ``(x, y)`` of ``f`` show (``x``
    sorted): one more than the sign changes of their slopes' differences (those below
    :data:`CURVATURE_FLOOR` of the largest or at the level of the slopes' rounding
    skipped, so a straight stretch does not count)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 = np.diff(np.diff(y) / np.diff(x))
        # a slope's rounding: a few units of y's magnitude over the sample step
        noise = ROUNDING * float(np.max(np.abs(y))) / np.minimum(np.diff(x)[1:], np.diff(x)[:-1])
    real = np.isfinite(d2) & (np.abs(d2) > noise)
    if not np.any(real):
        return 1
    d2 = d2[real]
    sign = np.sign(d2[np.abs(d2) > CURVATURE_FLOOR * float(np.max(np.abs(d2)))])
    return 1 + int(np.count_nonzero(sign[1:] != sign[:-1]))


def counted(x: Array, y: Array, ends: Array, counts: NDArray[np.intp]) -> tuple[Array, Array]:
    """A start with ``counts[r]`` interior knots between ``ends[r]`` and ``ends[r+1]``,
    placed there by the samples' curvature
    (:func:`~approx.train.knot_form.equidistribute`), values on the samples."""
    inner = []
    for r, n in enumerate(counts):
        inside = (x >= ends[r]) & (x <= ends[r + 1])
        if n > 0 and np.count_nonzero(inside) >= 3:
            inner.append(equidistribute(x[inside], y[inside], int(n) + 2, START_FLOOR)[0][1:-1])
        elif n > 0:
            inner.append(np.linspace(ends[r], ends[r + 1], int(n) + 2)[1:-1])
    tau = np.r_[x[0], np.concatenate(inner) if inner else [], x[-1]]
    return apart(tau, np.interp(tau, x, y), x, y)


def recount(fit: Fit, x: Array, y: Array, rival: float = np.inf, up_to: int | None = None
            ) -> tuple[Fit, int]:
    """The subset path from starts with one knot moved between two of the fit's
    stretches (:func:`stretches`): each such start is screened by
    :data:`RECOUNT_SCREEN` exchange steps on its d + 1 free cells, the best is run
    through :func:`subset_path` and kept if it ends lower; :data:`RECOUNT_ROUNDS` at
    most, and only with 2 to :data:`RECOUNT_STRETCHES` stretches, up to ``up_to`` units
    (None: :data:`RECOUNT_UP_TO`). The exchange keeps each stretch's count (a step never
    flips a knot's slope change); these starts change it. Returns the fit and the
    linear programs used."""
    used, up_to = 0, RECOUNT_UP_TO if up_to is None else up_to
    for _ in range(RECOUNT_ROUNDS):
        ends, counts = stretches(fit)
        if not (2 <= counts.size <= RECOUNT_STRETCHES and counts.sum() <= up_to):
            break
        tries = []
        for a in np.flatnonzero(counts > 0):
            for b in range(counts.size):
                if b != a:
                    moved_counts = counts.copy()
                    moved_counts[a] -= 1
                    moved_counts[b] += 1
                    tau, u = counted(x, y, ends, moved_counts)
                    *_, error, n = exchange(tau, u, x, y, RECOUNT_SCREEN, rival=rival)
                    tries.append((error, tau, u))
                    used += n
        if not tries:
            break
        _, tau, u = min(tries, key=lambda t: t[0])
        new, n = subset_path(Fit(tau, u, None, 0.0), x, y, rival)
        used += n
        if not new.error < fit.error:
            break
        fit = new
    return fit, used


def stretch_levels(fit: Fit, x: Array, y: Array) -> tuple[Array, NDArray[np.intp], Array]:
    """The fit's stretches (:func:`stretches`: ends, counts) and each one's level, the
    spacing its count gives it: ``M_r / n_r``, with ``M_r`` the stretch's mass of
    ``|f''|^½`` (from the samples) and ``n_r`` its knots. The best error of a stretch
    with ``n`` knots falls as ``(M_r / n)² / 16``, so a stretch of high level holds too
    few knots for its curvature, one of low level too many. The curvature start shares
    the knots out by the cumulative mass, which rounds each stretch's count by where
    the others' ended (sin 3x + 0.3 sin 17x at d = 128: 10 and 14 knots where the
    shares are 10.5 and 13.3, and the optimum has 11 and 13)."""
    ends, counts = stretches(fit)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.abs(np.gradient(np.gradient(y, x), x)))
    root = np.where(np.isfinite(root), root, 0.0)
    mass = np.r_[0.0, np.cumsum(0.5 * (root[1:] + root[:-1]) * np.diff(x))]
    return ends, counts, np.diff(np.interp(ends, x, mass)) / np.maximum(counts, 1)


def relevel(fit: Fit, x: Array, y: Array, rival: float = np.inf) -> tuple[Fit, int]:
    """The subset path from starts whose counts of knots per stretch move by the
    stretches' levels (:func:`stretch_levels`): for k = 1 … :data:`RELEVEL_PAIRS`,
    one knot from each of the k inner stretches of least level (holding 2 knots or
    more) to each of the k of highest, all at once; each start screened by
    :data:`RECOUNT_SCREEN` exchange steps, the best run through :func:`subset_path` and
    kept if it ends lower. The end stretches stay out (a knot taken from one of
    sin 3x + 0.3 sin 17x's at d = 128 ended 1.32× higher). Where the max sits in twin
    stretches (an odd or even target), one move alone leaves it in the twin, which
    :func:`recount` cannot pass; and at 12 stretches its every single move is too many
    to screen. Returns the fit and the linear programs used."""
    ends, counts, levels = stretch_levels(fit, x, y)
    inner = np.arange(1, counts.size - 1)
    if inner.size < 2:
        return fit, 0
    tries, used, seen = [], 0, set()
    by_level = inner[np.argsort(levels[inner], kind="stable")]
    for k in range(1, min(RELEVEL_PAIRS, inner.size // 2) + 1):
        low = [r for r in by_level if counts[r] >= 2][:k]
        high = by_level[::-1][:k]
        if len(low) < k or set(low) & set(high):
            continue
        moved_counts = counts.copy()
        moved_counts[low] -= 1
        moved_counts[high] += 1
        if moved_counts.tobytes() in seen:
            continue
        seen.add(moved_counts.tobytes())
        tau, u = counted(x, y, ends, moved_counts)
        *_, error, n = exchange(tau, u, x, y, RECOUNT_SCREEN, rival=rival)
        tries.append((error, tau, u))
        used += n
    if not tries:
        return fit, used
    _, tau, u = min(tries, key=lambda t: t[0])
    new, n = subset_path(Fit(tau, u, None, 0.0), x, y, rival)
    return (new if new.error < fit.error else fit), used + n


def rebalance(fit: Fit, form: str, x: Array, y: Array, rival: float = np.inf
              ) -> tuple[Fit, int]:
    """Path ``form`` (``"free"``, ``"level"`` or ``"subset"``) run again from the knots
    of ``fit`` re-placed to equalise the cells' own errors
    (:func:`~approx.train.exchange.rebalanced`: de Boor's equidistribution), up to
    :data:`REBALANCE_ROUNDS` times while it ends lower. The exchange keeps the share of
    knots each region had at the start; this moves many at once. Returns the fit of
    least error and the linear programs used."""
    used = 0
    for _ in range(REBALANCE_ROUNDS):
        tau, u = apart(*rebalanced(fit.tau, x, y), x, y)
        if form == "subset":
            new, n = subset_path(Fit(tau, u, None, 0.0), x, y, rival)
        else:
            flat = None
            if form == "level":  # the least slope made level, as :func:`_start` does
                flat = _least_slope(tau, u)
                u[flat] = u[flat + 1] = 0.5 * (u[flat] + u[flat + 1])
            t1, u1, error, n = exchange(tau, u, x, y, flat=flat, rival=rival)
            new = Fit(t1, u1, flat, error)
        used += n
        if not new.error < fit.error:
            break
        fit = new
    return fit, used


def subset_path(start: Fit, x: Array, y: Array, rival: float = np.inf) -> tuple[Fit, int]:
    """The subset form from ``start`` (d + 1 cells): the exchange on the d + 1 cells
    unconstrained (the fit is then no width-d net), a subset ``L`` of its interior knots
    whose slope changes sum to about minus its first slope
    (:func:`~approx.models.pwl_net.subset_sum`), and the exchange again with that
    relation kept, ``s_0 + Σ_{k∈L} (s_k − s_{k−1}) = 0`` (a width-d net whose units at
    ``L`` face left). The level form is the case ``L = {1, …, j}`` (cell j level);
    here ``L`` is free: a monotone target, with no level cell to offer, still gets one
    unit more than the free form (about ((d + 1)/d)² less error). Up to
    :data:`MOVES_UP_TO` units, knot moves on the unconstrained fit
    (:func:`~approx.train.exchange.move_knots`) unless it lies more than
    :data:`BEHIND` above ``rival`` (the least error of the other paths). Returns the
    fit and the linear programs used."""
    t1, u1, error, used = exchange(start.tau, start.u, x, y, rival=rival)
    # moves only where this path is not behind another (within BEHIND): a cost rule,
    # runge at d = 16 spent 0.5 s of moves for nothing 4 % behind the free form
    if start.tau.size - 2 <= MOVES_UP_TO and error < BEHIND * rival:
        t1, u1, error, n = move_knots(t1, u1, x, y, error)
        used += n
    s = np.diff(u1) / np.diff(t1)
    if not np.all(np.isfinite(s)):  # (knots collapsed: every unit faces right)
        s = np.zeros_like(s)
    left, _ = subset_sum(np.diff(s), -float(s[0]))
    t2, u2, error, n = exchange(t1, u1, x, y, rival=rival, tie=_tie(left))
    fit = Fit(t2, u2, None, error, left)
    if _THOROUGH.get():
        other, k = _other_subsets(t1, u1, s, left, x, y, rival)
        n += k
        if other is not None and other.error < fit.error:
            fit = other
    return fit, used + n


def _tie(left: NDArray[np.bool_]) -> Array:
    """The coefficients per cell of ``s_0 + Σ_{k∈L} (s_k − s_{k−1}) = 0``."""
    tie = np.zeros(left.size + 1)
    tie[0] = 1.0
    k = np.flatnonzero(left) + 1
    tie[k] += 1.0
    tie[k - 1] -= 1.0
    return tie


def _other_subsets(tau: Array, u: Array, s: Array, left: NDArray[np.bool_], x: Array,
                   y: Array, rival: float) -> tuple[Fit | None, int]:
    """Subsets ``L`` other than ``left`` for :func:`subset_path` (the thorough finish):
    the single knots, the first knots ``{1, …, j}`` and the last ones whose slope
    changes sum closest to ``−s_0`` (:data:`SUBSET_TRIES` in all), each screened by
    :data:`~approx.train.exchange.MOVE_SCREEN` exchange steps, the best continued. The
    subset whose sum is closest need not be the one whose relation costs least once
    the fit moves: on 1/((x − 1.1)(x + 1.3)) at d = 8, 1.09 against 0.995 of the
    optimum's upper end."""
    ds, target = np.diff(s), -float(s[0])
    n = ds.size
    masks = [np.arange(n) == k for k in np.argsort(np.abs(ds - target))[:2]]
    firsts, lasts = np.cumsum(ds), np.cumsum(ds[::-1])
    masks += [np.arange(n) <= j for j in np.argsort(np.abs(firsts - target))[:2]]
    masks += [np.arange(n) >= n - 1 - j for j in np.argsort(np.abs(lasts - target))[:2]]
    tries, used, seen = [], 0, {left.tobytes()}
    for mask in masks[:SUBSET_TRIES]:
        if mask.tobytes() in seen:
            continue
        seen.add(mask.tobytes())
        t1, u1, error, k = exchange(tau, u, x, y, MOVE_SCREEN, rival=rival, tie=_tie(mask))
        tries.append((error, mask, t1, u1))
        used += k
    if not tries:
        return None, used
    error, mask, t1, u1 = min(tries, key=lambda t: t[0])
    if not np.isfinite(error):
        return None, used
    t1, u1, error, k = exchange(t1, u1, x, y, rival=rival, tie=_tie(mask))
    return Fit(t1, u1, None, error, mask), used + k


def write(fit: Fit, theta: Array, sizes: list[int]) -> None:
    """Write ``fit`` into the parameters ``theta`` of a 1→d→1 ReLU net (pack layout):
    d cells in the free form (:func:`~approx.train.knot_form.to_theta`), d + 1 in the
    flat form (:func:`to_theta_flat`)."""
    if fit.flat is None and fit.left is None:
        to_theta(fit.tau, fit.u, theta, sizes)
    else:
        to_theta_flat(fit, theta, sizes)


def as_net(fit: Fit) -> MLP:
    """The 1→d→1 ReLU net of ``fit`` (:func:`write`)."""
    d = fit.tau.size - 1 - (fit.flat is not None or fit.left is not None)
    net = MLP([1, d, 1], "relu")
    theta = net.pack()
    write(fit, theta, net.sizes)
    net.unpack(theta)
    return net


def minimax_finish(engine: Engine, X: Array, y: Array, tracker: Tracker, steps: int) -> int:
    """The minimax finish of a 1→d→1 ReLU net: :func:`minimax_fits` along each path of
    :data:`FORMS` from each of :data:`STARTS`, each result offered to the tracker
    (whose monitor keeps the best, the trained iterate included).

    The starts: ``"samples"``, knots equidistributing the samples' own ``|f''|^½``
    (:func:`~approx.train.knot_form.equidistribute` applied to the samples, density
    floored at :data:`START_FLOOR` of its mean: the
    adaptive construction's rule, from the data; d + 1 of them for the free form,
    d + 2 for the level one) with the samples' values there, and on samples not evenly
    spaced (graded) the fewest-link path through them instead
    (:func:`~approx.train.link_start.link_start`); ``"links"``, that path on evenly
    spaced samples too, up to :data:`LINKS_UP_TO` units; ``"best"``, the knot form
    of the tracker's best iterate (many local minima of the max error exist, since it
    is not convex in the knots: the two starts may end in different ones). Above
    :data:`SPLIT_UP_TO` units no ``"flat"`` path; from :data:`SUBSET_FROM` to
    :data:`SUBSET_UP_TO` units and above :data:`SUBSET_ABOVE` the ``"subset"`` path in
    place of ``"level"`` (:func:`finish_forms`). Within
    :func:`thorough` (the recipe from the construction), up to :data:`THOROUGH_UP_TO`
    units: the subset path up to :data:`THOROUGH_SUBSET_UP_TO`, other subsets tried,
    each path restarted by :func:`rebalance`, and the subset path's knots moved
    between stretches by :func:`recount`. Returns the evaluations and linear programs
    used.
    """
    net, theta = engine.net, engine.theta
    order = np.argsort(X.reshape(-1), kind="stable")
    x, y1 = X.reshape(-1)[order], y.reshape(-1)[order]
    np.copyto(theta, tracker.best)
    used = 0
    d = net.sizes[1]
    deep = _THOROUGH.get() and d <= THOROUGH_UP_TO
    forms = finish_forms(d, deep)
    with thorough(deep), sample_kinks(x, y1) as found:
        for start in STARTS:
            used += _from_start(start, engine, x, y1, X, y, tracker, steps, forms, found)
    return used


def finish_forms(d: int, deep: bool = False) -> tuple[str, ...]:
    """The paths of :func:`minimax_finish` at width ``d`` (``deep``: the thorough
    finish): :data:`FORMS`, without ``"flat"`` above :data:`SPLIT_UP_TO` units, the
    ``"subset"`` path in place of ``"level"`` from :data:`SUBSET_FROM` to
    :data:`SUBSET_UP_TO` units (:data:`THOROUGH_SUBSET_UP_TO` when ``deep``) and above
    :data:`SUBSET_ABOVE`."""
    forms = FORMS if d <= SPLIT_UP_TO else tuple(form for form in FORMS if form != "flat")
    if SUBSET_FROM <= d <= (THOROUGH_SUBSET_UP_TO if deep else SUBSET_UP_TO) or d > SUBSET_ABOVE:
        forms = tuple("subset" if form == "level" else form for form in forms)
    return forms


def _from_start(start: str, engine: Engine, x: Array, y1: Array, X: Array, y: Array,
                tracker: Tracker, steps: int, forms: tuple[str, ...],
                found: tuple[Array, Array] | None = None) -> int:
    """:func:`minimax_finish` from one of its starts: the fits offered to the tracker;
    returns the evaluations and linear programs used."""
    net, theta = engine.net, engine.theta
    d = net.sizes[1]
    if start == "best" and d > BEST_UP_TO:
        return 0
    even = evenly_spaced(x)
    if start == "links" and not (even and d <= LINKS_UP_TO):
        return 0
    level = None
    if start == "best":
        tau, u = knot_form(net, float(x[0]), float(x[-1]))
    else:  # the curvature start on evenly spaced samples, else the fewest-link path
        start_at = curvature_start if start == "samples" and even else link_start
        tau, u = start_at(x, y1, d + 1, found)
        level = start_at(x, y1, d + 2, found)
    fits, used = minimax_fits(tau, u, x, y1, steps, forms, level)
    for fit in fits:
        write(fit, theta, net.sizes)
        tracker.offer(engine.loss_only(X, y), 0, force=True)
    return used


def curvature_start(x: Array, y: Array, n: int, found: tuple[Array, Array] | None = None
                    ) -> tuple[Array, Array]:
    """``n`` knots equidistributing the samples' ``|f''|^½`` (floored at
    :data:`START_FLOOR`), cells at least :data:`APART` sample steps wide, values on the
    samples; with a knot at each kink of ``f`` between samples
    (:func:`~approx.train.exchange.kinks`).

    A kink's second difference, ``J/h`` over a sample step ``h``, holds a mass of about
    ``√(J h)`` of the density: at d = 256 two to three knots of sqrt(|x| + 0.01) (f′
    jumps by 10 at 0) crowded within a few samples of the kink, where the optimum has
    one, and the exchange, which keeps the knots' counts between inflections, ended
    1.44× above the optimum. The density is taken of ``f − Σ (J/2)|x − κ|`` instead
    (the kinks removed, ``f″`` unchanged elsewhere) and the knot nearest each kink
    moved onto it. ``found``: the kinks, if known (:func:`~approx.train.exchange.kinks`).
    (The finish starts on graded samples from
    :func:`~approx.train.link_start.link_start` instead: the density of evenly spaced
    samples, even from divided differences in the split cells, misplaces the cells at
    a singular end.)"""
    kappa, jump = finish_kinks(x, y) if found is None else found
    if kappa.size == 0:
        return apart(*equidistribute(x, y, n, START_FLOOR), x, y)
    smooth = y - 0.5 * np.abs(x[:, None] - kappa[None, :]) @ jump
    empty = flat_to_kinks(x, y, kappa)
    tau = equidistribute(x, smooth, n, START_FLOOR, empty)[0]
    for k in kappa:
        i = 1 + int(np.argmin(np.abs(tau[1:-1] - k)))
        if tau[i - 1] < k < tau[i + 1]:
            tau[i] = k
    tau = _respaced(tau, kappa, x, smooth, empty)
    tau, u = apart(tau, np.interp(tau, x, y), x, y)
    # the value at a kink from one side (the samples' chord across it misses its tip)
    at = np.isin(tau, kappa)
    u[at] = sides(x, y, tau[at], 0.0)[0]
    return tau, u


def flat_to_kinks(x: Array, y: Array, kappa: Array) -> Array:
    """The stretches ``[a, b]`` (rows) where the samples are exactly affine (every
    second difference exactly 0) from an end of the samples or a kink ``κ`` to a
    kink: a flat or straight part ending in kinks needs no knot inside, where the
    start's floored density put some (5 of d = 1024 in each flat part of
    max(0, 1 − 4x²), 1.048× the optimum; now 1.000). A part that bends away smoothly
    keeps the floor (|x|^2.5 (1 + tanh 40x)/2, exactly 0 below −0.48: emptied too,
    the fit ended 1.37× the optimum at d = 512)."""
    zero = np.r_[False, np.diff(y, 2) == 0.0, False]
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    runs = edges.reshape(-1, 2)
    step = 2.0 * (x[-1] - x[0]) / (x.size - 1)
    out = []
    for first, last in runs:  # zero second differences at samples first + 1 … last
        a, b = x[first], x[last + 1]
        near = [np.any(np.abs(kappa - z) <= step) for z in (a, b)]
        ends = [first == 0 or near[0], last + 1 == x.size - 1 or near[1]]
        if all(ends) and any(near):
            out.append((a, b))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def _respaced(tau: Array, kappa: Array, x: Array, smooth: Array, empty: Array) -> Array:
    """The knots ``τ`` of :func:`curvature_start`, those on the kinks ``κ`` kept and the
    others re-placed to split the mass of each stretch between them equally, as many
    in each as before (:func:`~approx.train.knot_form.equidistribute` with anchors):
    the knot moved onto a kink leaves a cell up to 1.5 wide beside it, from which the
    exchange levelled every cell at unequal widths (the flat top
    (1 − 4x² + |1 − 4x²|)/2 at d = 512: 1.14× the optimum; its counts, shared by the
    stretches' mass instead, took |sin 4x| at 256 from 1.000 to 1.019)."""
    on = np.isin(tau[1:-1], kappa)
    anchors = tau[1:-1][on]
    if not anchors.size:
        return tau
    counts = np.diff(np.flatnonzero(np.r_[True, on, True])) - 1
    return equidistribute(x, smooth, tau.size, START_FLOOR, empty, anchors, counts)[0]


#: least width of a start's cell, in sample steps (:func:`apart`)
APART = 2.0


def apart(tau: Array, u: Array, x: Array, y: Array) -> tuple[Array, Array]:
    """The start ``(τ, u)`` with its cells at least :data:`APART` sample steps of ``x``
    wide (knots pushed right, then left; values from the samples there). A cell with
    no sample inside gives the exchange nothing to fit it by: at a steep end the
    samples' one-sided second difference reads ``|f′|/δ`` and crowds knots together
    (log(x + 1.05) at d = 1024: three cells inside one sample step, and the fit ended
    1.94× above the optimum)."""
    if not evenly_spaced(x):  # in the samples' own steps
        index = np.arange(x.size, dtype=np.float64)
        steps = _pushed_apart(np.interp(tau, x, index), APART)
        if steps is None:
            return tau, u
        tau = np.interp(steps, index, x)
        return tau, np.interp(tau, x, y)
    least = APART * (x[-1] - x[0]) / (x.size - 1)
    pushed = _pushed_apart(tau, least)
    return (tau, u) if pushed is None else (pushed, np.interp(pushed, x, y))


def _pushed_apart(tau: Array, least: float) -> Array | None:
    """The knots ``τ`` with their cells at least ``least`` wide (pushed right, then
    left; the ends kept); None where they are already, or cannot be."""
    if not np.min(np.diff(tau)) < least or least * (tau.size - 1) >= tau[-1] - tau[0]:
        return None
    tau = tau.copy()
    for i in range(1, tau.size - 1):
        tau[i] = max(tau[i], tau[i - 1] + least)
    for i in range(tau.size - 2, 0, -1):
        tau[i] = min(tau[i], tau[i + 1] - least)
    return tau


def _max_error(tau: Array, u: Array, x: Array, y: Array) -> float:
    return float(np.max(np.abs(_residuals(tau, u, x, y))))
