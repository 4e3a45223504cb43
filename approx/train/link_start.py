"""The minimax finish's start on graded samples: the fewest-link path through them.

Where graded training points split cells (a singular end such as √(1 − x) eˣ's or
arccos x's, a cusp √|x − 0.4|), the optimum's pieces shrink towards the singular point
far faster than the asymptotic density ``|f''|^½`` says: its last cell on √(1 − x) eˣ
at d = 1024 is 3.5e-13 wide, 16 times narrower than the widest cell whose free best
line errs by the optimum's error, because continuity with the neighbouring piece and
the unbounded slope make the end cell's constrained error far larger than its free one.
From knots equidistributing the samples' curvature, the exchange levelled every cell
with the end knots too far out and stopped 1.2–1.4 times above the optimum
(√(1 − x) eˣ 1.20 at d = 1024, arccos x 1.22 and 1.37 at 512 and 1024, the cusp 1.14 at
1024). The path of fewest links through the bands ``[y − E + sag, y + E − sag]`` at the
samples (:func:`approx.models.link_path.continuous_fit`, Imai–Iri's greedy with windows,
bisected on ``E``; ``sag`` the samples' own sag from their chords,
:func:`approx.models.link_path.sags`, so that it stays within ``E`` between samples too)
places those cells where continuity puts them: it is the best continuous
piecewise-linear fit of the samples with as many pieces, up to the sags, and the
exchange only refines it. It needs no target: the samples alone.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.models.link_path import Samples, continuous_fit, sags
from approx.train.exchange import sides

__all__ = ["link_start"]

Array = NDArray[np.float64]


def link_start(x: Array, y: Array, n: int, found: tuple[Array, Array] | None = None
               ) -> tuple[Array, Array]:
    """``n`` knots and values of the path with at most ``n − 1`` links of least band
    through the samples ``(x, y)`` (``x`` sorted, ``n ≥ 2``), the band at each sample
    narrowed by its sag from the chords next to it.

    ``found``: the kinks of ``f`` between samples (points and jumps, as from
    :func:`~approx.train.exchange.finish_kinks`): each becomes a sample, with ``f`` there
    from its left side (:func:`~approx.train.exchange.sides`), where the path may turn,
    and its second difference, which measures the jump, not a sag, is left out. A path
    with fewer links is given more knots by halving its widest cells."""
    kappa = np.empty(0) if found is None else found[0]
    kappa = kappa[(kappa > x[0]) & (kappa < x[-1]) & ~np.isin(kappa, x)]
    if kappa.size:
        y = np.concatenate([y, sides(x, y, kappa, 0.0)[0]])
        x = np.concatenate([x, kappa])
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    at = np.searchsorted(x, kappa)
    path = continuous_fit(Samples(x, y, sags(x, y, kinks=at), kappa), n - 2)
    tau, u = path.knots, path.values
    while tau.size < n:
        i = int(np.argmax(np.diff(tau)))
        tau = np.insert(tau, i + 1, 0.5 * (tau[i] + tau[i + 1]))
        u = np.insert(u, i + 1, 0.5 * (u[i] + u[i + 1]))
    return tau, u
