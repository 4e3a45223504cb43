"""Relocation: move idle ReLU units of a 1→d→1 net to where the residual is largest.

Everything comes in explicitly: the net (whose weights are views into θ), the inputs,
the residuals at the current θ and the optimizer whose state of the moved units is
reset through :meth:`~approx.train.optimizers.Adam.reset`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.nn import MLP, unpack
from approx.train.optimizers import SGD, Adam

__all__ = ["RELOCATE_SPACING", "RELOCATE_UNTIL", "relocate", "relocate_steps"]

Array = NDArray[np.float64]

#: checkpoints of :func:`relocate`: every 1/20 of the budget up to 90% of it (kinks
#: drift together again while the step size is large), and the least distance from a
#: relocated kink to any other, as a fraction of the uniform knot spacing (hi − lo)/d
RELOCATE_UNTIL, RELOCATE_SPACING = 0.9, 0.5


def relocate_steps(steps: int) -> set[int]:
    """The steps after which :func:`relocate` runs, in a budget of ``steps``."""
    return {k * steps // 20 for k in range(1, round(20 * RELOCATE_UNTIL) + 1)}


def relocate(net: MLP, x: Array, r: Array, opt: SGD | Adam) -> int:
    """Move ReLU units whose kink lies outside the data to where the residual is largest.

    A unit ``max{0, w₀ t + b₀}`` whose kink ``−b₀/w₀`` is not inside the data range is
    affine on the data: zero (dead: it gets no gradient and never recovers) or active on
    every sample. Together such units add one affine function ``α t + β``; one active
    unit is kept and carries it (its output weight becomes ``α/w₀``, the rest of ``β``
    goes into the output bias), so every other one is free. He init leaves many units
    so (a kink −b₀/w₀ with b₀ uniform and w₀ normal often falls outside [−1, 1]), and
    Adam rarely brings them back. Each free unit gets its kink at one of the largest
    local maxima of ``|r|`` (the residuals at the current θ) that
    lie at least ``RELOCATE_SPACING`` uniform knot spacings from every other kink,
    facing the nearer end of the data, with the median input weight of the units with
    an interior kink and output weight 0. The function on the data range is unchanged;
    the moved units' optimizer state is reset (neuron resampling, :meth:`Adam.reset`).

    Parameters
    ----------
    net : MLP
        Sizes ``[1, d, 1]``, ReLU, with biases; its weights are views into the θ that
        ``opt`` updates (in the layout of :func:`approx.nn.pack`), and are changed in place.
    x : ndarray of shape (m,)
        Training inputs.
    r : ndarray of shape (m,)
        Residuals ``net(x) − y`` at the current θ.
    opt : SGD or Adam
        Its state of the moved units' parameters is reset.

    Returns
    -------
    int
        The number of units moved.
    """
    (W0, W1), (b0, b1) = net.weights, net.biases
    w0, w1 = W0[0], W1[:, 0]
    lo, hi = float(x.min()), float(x.max())
    dead, active = _affine_on_data(w0, b0, lo, hi)
    free = dead | active
    if not free.any() or free.all():
        return 0
    keep = _carry_affine_part(w0, w1, b0, b1, active)
    if keep is not None:
        free[keep] = False
    w1[free] = 0.0
    moved = np.flatnonzero(free)
    if moved.size == 0:
        return 0
    kept = np.flatnonzero(~free)
    kinks = -b0[kept] / np.where(w0[kept] == 0.0, 1.0, w0[kept])
    tau = _free_peaks(x, r, kinks, w0.size, moved.size)
    # units without a peak to go to stay where they are, affine on the data, with w₁ = 0
    moved = moved[: tau.size]
    scale = float(np.median(np.abs(w0[~(dead | active)])))
    # facing the nearer end, a unit near an end acts only there (facing the far end it
    # would move the function almost everywhere, and the gradient would balance it out)
    w0[moved] = np.where(tau < (lo + hi) / 2.0, -scale, scale)
    b0[moved] = -w0[moved] * tau
    w1[moved] = 0.0
    _reset_state(net, opt, moved)
    return moved.size


def _affine_on_data(w0: Array, b0: Array, lo: float, hi: float) -> tuple[Array, Array]:
    """The units zero on ``[lo, hi]`` (dead), and those active on all of it."""
    at_lo, at_hi = w0 * lo + b0, w0 * hi + b0
    dead = np.maximum(at_lo, at_hi) <= 0.0
    active = (np.minimum(at_lo, at_hi) >= 0.0) & ~dead
    return dead, active


def _carry_affine_part(w0: Array, w1: Array, b0: Array, b1: Array, active: Array) -> int | None:
    """Put the affine function ``α t + β`` the ``active`` units add together on one of
    them (the steepest; its output weight becomes ``α/w₀``, the rest of ``β`` goes into
    the output bias), and return it; None when none is active, or all are constant (the
    output bias carries them)."""
    if not active.any():
        return None
    keep = int(np.flatnonzero(active)[np.argmax(np.abs(w0[active]))])
    if w0[keep] == 0.0:
        b1[...] += float(np.dot(w1[active], b0[active]))
        return None
    alpha = float(np.dot(w1[active], w0[active]))
    beta = float(np.dot(w1[active], b0[active]))
    w1[keep] = alpha / w0[keep]
    b1[...] += beta - w1[keep] * b0[keep]
    return keep


def _free_peaks(x: Array, r: Array, kinks: Array, units: int, n: int) -> Array:
    """Up to ``n`` places for new kinks: the largest local maxima of ``|r|``, each at least
    ``RELOCATE_SPACING`` uniform knot spacings (of ``units`` knots) from the ``kinks``
    and from each other."""
    lo, hi = float(x.min()), float(x.max())
    by_x = np.argsort(x, kind="stable")
    x, a = x[by_x], np.abs(r)[by_x]
    peaks = np.flatnonzero((a[1:-1] >= a[:-2]) & (a[1:-1] >= a[2:])) + 1
    order = peaks[np.argsort(-a[peaks], kind="stable")]
    # a peak next to a kink (kept or just placed) gets no unit: a peak persists while a
    # fresh unit's w₁ grows, and units piling up there would act as one
    gap = max(2.0 * (hi - lo) / x.size, RELOCATE_SPACING * (hi - lo) / units)
    # blocked[i]: sample i lies within gap of a kink (a difference array over the samples)
    cover = np.zeros(x.size + 1, dtype=np.int64)
    np.add.at(cover, np.searchsorted(x, kinks - gap, side="left"), 1)
    np.add.at(cover, np.searchsorted(x, kinks + gap, side="right"), -1)
    blocked = np.cumsum(cover[:-1]) > 0
    chosen: list[float] = []
    for i in order:
        if not blocked[i]:
            chosen.append(float(x[i]))
            blocked[np.searchsorted(x, x[i] - gap) : np.searchsorted(x, x[i] + gap, "right")] = True
            if len(chosen) == n:
                break
    return np.array(chosen)


def _reset_state(net: MLP, opt: SGD | Adam, moved: NDArray[np.intp]) -> None:
    """Restart the optimizer's state of the ``moved`` units' w₀, b₀, w₁ from the others'."""
    # the positions of each unit's w₀, b₀, w₁ in θ, from the pack layout itself
    (i_W0, i_W1), (i_b0, _) = unpack(np.arange(net.n_params, dtype=np.float64), net.sizes)
    settled = np.ones(net.sizes[1], dtype=bool)
    settled[moved] = False
    for group in (i_W0[0], i_b0, i_W1[:, 0]):
        group = group.astype(np.intp)
        opt.reset(group[moved], group[settled])
