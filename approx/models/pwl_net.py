"""A continuous piecewise-linear function as a ``1 → d → 1`` ReLU net, with every unit's
breakpoint inside the domain when the function has ``d`` of them.

With interior knots ``t_1 < … < t_k``, slope changes ``Δ_i`` there and first slope
``m_0``, the function is ``c + Σ_{i∈R} Δ_i relu(x - t_i) + Σ_{i∈L} Δ_i relu(t_i - x)``
for any split of the knots into right-facing units ``R`` and left-facing units ``L``
(``relu(t - x)`` has slope -1 left of ``t`` and 0 right of it: a slope change of +1 at
``t``), provided the first slope is carried: ``m_0 = -Σ_{i∈L} Δ_i``.

- ``k < d``: every knot faces right and one more unit, right-facing with its breakpoint
  at ``a - (b - a)`` (outside the domain, active on all of it), carries ``m_0``
  (as in :func:`approx.models.construct.relu_interpolant`); spare units are dead
  (output weight 0);
- ``k = d`` and a flat last piece: every unit faces left (``L`` is every knot);
- ``k = d`` and a flat inner piece: the units left of it face left, the others right;
- ``k = d`` otherwise: no unit is left for ``m_0``, so ``L`` is chosen among knots ``2 … k`` to
  make ``-Σ_L Δ_i`` as close to ``m_0`` as a subset sum gets (greedy by size, then
  exchanges of one or two knots); the first piece's slope is changed to that sum, so
  the function moves on ``[a, t_1]`` only, by at most ``|residual| · (t_1 - a)``
  (returned, so the caller can compare with a path of ``d - 1`` knots).
"""

from __future__ import annotations

import heapq

import numpy as np
from numpy.typing import NDArray

from approx.nn import MLP

__all__ = ["pwl_net", "subset_sum"]

Array = NDArray[np.float64]

#: rounds of one- and two-item exchanges after the greedy subset sum
_EXCHANGES = 24
#: smallest values whose every toggle set is tried last (meeting in the middle)
_TOGGLES = 36


def subset_sum(values: Array, target: float) -> tuple[NDArray[np.bool_], float]:
    """A subset of ``values`` whose sum is close to ``target``: none or all of them if
    either sums to it exactly, else the best of those two, the Karmarkar–Karp
    differencing (1982) of the values with ``S - 2·target`` added (``S`` their sum: a
    signed sum of zero is a subset summing to ``target``) and a greedy by decreasing
    size, each followed by exchanges (add one, drop one, or swap one in for one out)
    while the residual shrinks. Returns the membership mask and ``target - sum``."""
    v = np.asarray(values, dtype=np.float64)
    # none and all first: a path with a flat first (last) piece has its units all
    # facing right (left), exactly
    best = min(((take, target - float(v[take].sum())) for take in (
        np.zeros(v.size, dtype=bool), np.ones(v.size, dtype=bool))), key=lambda t: abs(t[1]))
    if best[1] == 0:
        return best
    for take in (_differencing(v, target), _greedy(v, target)):
        take, r = _exchange(v, take, target)
        if abs(r) < abs(best[1]):
            best = (take, r)
    return _meet_in_middle(v, best[0], target)


def _meet_in_middle(v: Array, take: NDArray[np.bool_], target: float
                    ) -> tuple[NDArray[np.bool_], float]:
    """Fine-tune by toggling some of the :data:`_TOGGLES` smallest values: the best of
    all toggle sets, found by meeting in the middle (two halves of ``2^(k/2)`` sums
    each, one sorted and searched)."""
    r = target - float(v[take].sum())
    small = np.argsort(np.abs(v))[:_TOGGLES]
    if small.size < 2:
        return take, r
    step = np.where(take[small], -v[small], v[small])  # the residual falls by step
    half = small.size // 2
    i, j, err = _nearest_pair(step[:half], step[half:], r)
    if not err < abs(r):
        return take, r
    bits_a = [(i >> k) & 1 == 1 for k in range(half)]
    bits_b = [(j >> k) & 1 == 1 for k in range(small.size - half)]
    toggled = np.array(bits_a + bits_b, dtype=bool)
    take = take.copy()
    take[small[toggled]] = ~take[small[toggled]]
    return take, target - float(v[take].sum())


def _nearest_pair(first: Array, second: Array, r: float) -> tuple[int, int, float]:
    """Subsets ``i`` of ``first`` and ``j`` of ``second`` (bit ``k`` = item ``k``) whose
    sums ``a_i + b_j`` come nearest ``r``, and ``|r - a_i - b_j|``: the first such ``i``,
    and for it the ``j`` of an ``argsort`` of the ``b`` sums next to where ``r - a_i``
    would be inserted (the nearer neighbour, the lower one on a tie).

    The sums come sorted from :func:`_sorted_sums` (the same sums, bit for bit: each
    is added up in the same order); where two ``b`` sums are equal, which of them an
    ``argsort`` puts first is its own, so the sums are then sorted by ``argsort``."""
    a_sorted, a_index = _sorted_sums(first)  # (a permutation of the sums, NaN or not)
    sorted_b, order = _sorted_sums(second)
    if not (np.diff(sorted_b) > 0).all():
        b = _subset_sums(second)
        order = np.argsort(b)
        sorted_b = b[order]
    # r - a is non-increasing along a_sorted (rounding is monotone): searched reversed,
    # the keys are sorted, which a binary search walks far faster than scattered ones
    want = (r - a_sorted)[::-1]
    pos = np.clip(np.searchsorted(sorted_b, want), 0, sorted_b.size - 1)
    lower = np.maximum(pos - 1, 0)
    err_hi, err_lo = np.abs(want - sorted_b[pos]), np.abs(want - sorted_b[lower])
    pick = np.empty(a_index.size, dtype=np.intp)
    err = np.empty(a_index.size)
    back = a_index[::-1]  # the subset of first each key came from
    pick[back] = np.where(err_lo < err_hi, lower, pos)
    err[back] = np.minimum(err_lo, err_hi)
    i = int(np.argmin(err))
    return i, int(order[pick[i]]), float(err[i])


def _sorted_sums(step: Array) -> tuple[Array, NDArray[np.intp]]:
    """The sums of :func:`_subset_sums` in increasing order and their subsets: sorted
    sums of the first ``k`` items, and the same plus item ``k`` (sorted too: rounding
    is monotone), merged (a stable sort of two sorted runs is a merge)."""
    sums, subsets = np.zeros(1), np.zeros(1, dtype=np.intp)
    for k, value in enumerate(step):
        both = np.concatenate((sums, sums + value))
        merged = np.argsort(both, kind="stable")
        sums = both[merged]
        subsets = np.concatenate((subsets, subsets + (1 << k)))[merged]
    return sums, subsets


def _subset_sums(step: Array) -> Array:
    """All ``2^k`` sums of subsets of ``step``; subset ``m`` (bit ``k`` = item ``k``) at
    index ``m``."""
    sums = np.zeros(1)
    for value in step:
        sums = np.concatenate((sums, sums + value))
    return sums


def _differencing(v: Array, target: float) -> NDArray[np.bool_]:
    """Karmarkar–Karp: repeatedly replace the two largest by their difference (the
    second put on the other side); signs are read back down the merge tree."""
    items = np.append(v, v.sum() - 2 * target)
    n = items.size
    parent = np.full(2 * n, -1)
    flip = np.zeros(2 * n, dtype=bool)
    heap = [(-abs(float(w)), i) for i, w in enumerate(items)]
    value = [abs(float(w)) for w in items] + [0.0] * n
    negative = [bool(w < 0) for w in items] + [False] * n
    heapq.heapify(heap)
    node = n
    while len(heap) > 1:
        _, x = heapq.heappop(heap)
        _, y = heapq.heappop(heap)
        parent[x], parent[y] = node, node
        flip[y] = True
        value[node] = value[x] - value[y]
        heapq.heappush(heap, (-value[node], node))
        node += 1
    sign = np.ones(node)
    for i in range(node - 2, -1, -1):
        sign[i] = sign[parent[i]] * (-1.0 if flip[i] else 1.0)
    sign[:n] *= np.where(negative[:n], -1.0, 1.0)
    # sign·items sums to about 0, so the values on the added item's side sum to target
    side = sign[:n - 1] == sign[n - 1]
    return side


def _greedy(v: Array, target: float) -> NDArray[np.bool_]:
    """Greedy by decreasing size: take a value when it brings the sum closer."""
    take = np.zeros(v.size, dtype=bool)
    total = 0.0
    for i in np.argsort(-np.abs(v)):
        if abs(target - total - v[i]) < abs(target - total):
            take[i] = True
            total += v[i]
    return take


def _exchange(v: Array, take: NDArray[np.bool_], target: float
              ) -> tuple[NDArray[np.bool_], float]:
    """One- and two-item exchanges while they reduce the residual."""
    take = take.copy()
    for _ in range(_EXCHANGES):
        r = target - float(v[take].sum())
        move = _best_exchange(v, take, r)
        if move is None:
            break
        add, drop = move
        if add >= 0:
            take[add] = True
        if drop >= 0:
            take[drop] = False
    return take, target - float(v[take].sum())


def _best_exchange(v: Array, take: NDArray[np.bool_], r: float) -> tuple[int, int] | None:
    """The exchange (index added or -1, index dropped or -1) that best reduces the
    residual ``r``, or None if none does."""
    out_i, in_i = np.flatnonzero(~take), np.flatnonzero(take)
    best, move = abs(r), None
    if out_i.size:
        j = out_i[np.argmin(np.abs(r - v[out_i]))]
        if abs(r - v[j]) < best:
            best, move = abs(r - v[j]), (int(j), -1)
    if in_i.size:
        j = in_i[np.argmin(np.abs(r + v[in_i]))]
        if abs(r + v[j]) < best:
            best, move = abs(r + v[j]), (-1, int(j))
    if out_i.size and in_i.size:
        order = np.argsort(v[out_i])
        sorted_out = v[out_i][order]
        want = r + v[in_i]  # v_out - v_in ≈ r
        pos = np.clip(np.searchsorted(sorted_out, want), 1, sorted_out.size - 1)
        for cand in (pos - 1, pos):
            cand = np.minimum(cand, sorted_out.size - 1)
            err = np.abs(want - sorted_out[cand])
            k = int(np.argmin(err))
            if err[k] < best:
                best, move = float(err[k]), (int(out_i[order[cand[k]]]), int(in_i[k]))
    return move


def pwl_net(knots: Array, values: Array, width: int) -> tuple[MLP, float]:
    """The net of the continuous piecewise-linear function through ``(knots, values)``.

    Parameters
    ----------
    knots : ndarray of shape (k + 2,)
        ``a = knots[0] < … < knots[-1] = b``.
    values : ndarray of shape (k + 2,)
        The function's values there.
    width : int
        Hidden units, ``width ≥ k`` (and ``≥ 1``).

    Returns
    -------
    net : MLP
        Sizes ``[1, width, 1]``, ReLU.
    shift : float
        A bound (up to rounding) of how far the net moves from the function: 0 when
        ``k < width``, else ``|residual| · (t_1 - a)`` of the subset sum.

    Raises
    ------
    ValueError
        If there are more interior knots than units, or the knots do not increase.
    """
    t = np.asarray(knots, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    k = t.size - 2
    if k > width or width < 1 or not np.all(np.diff(t) > 0):
        raise ValueError(f"{k} interior knots need at least {k} units (got {width}), "
                         "increasing")
    a, b = t[0], t[-1]
    m = np.diff(y) / np.diff(t)
    delta = np.diff(m)
    face = np.ones(k)  # +1 right-facing, -1 left-facing
    shift = 0.0
    if k < width:
        span = b - a
        change = np.concatenate((delta, [m[0]], np.zeros(width - k - 1)))
        start = np.concatenate((t[1:-1], [a - span], np.full(width - k - 1, b)))
        face = np.ones(width)
        c = y[0] - m[0] * span
    elif m[-1] == 0:  # a flat last piece: every unit faces left, exactly
        face = -np.ones(k)
        change, start = delta, t[1:-1]
        c = y[-1]
    elif np.any(m[1:-1] == 0):  # a flat inner piece: units left of it face left, exactly
        j = int(np.flatnonzero(m[1:-1] == 0)[0]) + 1
        face[:j] = -1.0
        change, start = delta, t[1:-1]
        c = y[j]
    else:
        left, residual = subset_sum(delta[1:], -m[0])
        face[1:][left] = -1.0
        m0 = -float(delta[1:][left].sum())
        y0 = y[1] - m0 * (t[1] - a)
        delta = delta.copy()
        delta[0] = m[1] - m0
        shift = abs(residual) * (t[1] - a)
        change, start = delta, t[1:-1]
        c = y0 - float(np.sum(np.where(face < 0, delta * (start - a), 0.0)))
    w = np.abs(change)
    w = np.where(w > 0, w, 1.0)
    out = np.where(np.abs(change) > 0, np.sign(change), 0.0)
    W1 = (face * w)[None, :]
    b1 = -face * w * start
    return MLP.from_params([W1, out[:, None]], [b1, np.array([c])], activation="relu"), shift
