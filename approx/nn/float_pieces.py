"""The pieces of a deep ReLU net in floats, with rigorous radii (any depth, any width).

Where the exact pieces of :mod:`approx.nn.piecewise` cost too much (Python integers
through every layer), the pieces are carried through the layers in floats, vectorized
over all pieces of a layer at once. On a piece ``[lo, hi]`` each unit's input is
enclosed as ``c + s (x - m) ± ρ`` for every ``x`` of the piece: ``c``, ``s`` floats,
``m`` the domain's midpoint and ``ρ`` a rigorous uniform radius.

**A layer's products.** ``z W + b`` is computed by scaling each row of the lines and
each column of ``W`` by a power of two into ``(-1, 1)`` and cutting it into two slices,
integers of at most ``β`` bits (``(n + 1) 2^{2β} ≤ 2^{53}``) at weights ``2^{-β}`` and
``2^{-2β}``, and a remainder: the products of slices are sums of integers below
``2^{53}``, exact in any order of summation, with or without fused multiply-adds (any
BLAS), and are added without rounding (error-free sums); the products with a remainder
are ``2^{-2β}`` of the terms and their rounding is bounded a priori by
``γ_n = n u / (1 - n u)`` times the size of their terms. So each unit's line is carried
as two floats whose sum is the real product to about ``2^{-2β} γ_n`` of the terms, for
every summation order, plus an underflow term. The input radii add ``|W|ᵀ ρ``.

**ReLU.** A piece is split at each unit's float zero ``m - c/s`` inside it. On each part
the unit is on or off by the sign of its line at the part's midpoint. Its output is then
enclosed by its line (on) or 0 (off), with radius ``ρ + max(0, -min ŷ)`` (on) or
``max(0, max ŷ + ρ)`` (off), ``ŷ`` the unit's line, whose extremes over the part are at its
ends, evaluated with a bound on their rounding: ReLU is 1-Lipschitz, and where the state
is wrong (only between the float zero and the true one) the line is within this of 0. A
unit that is off with its line below ``-ρ`` all over the part contributes exactly 0.

At the output each piece is a line with float coefficients and a uniform radius (the
:class:`~approx.nn.piecewise.PiecewiseLinear` ``slack``). Past :data:`FLOAT_WORK`
multiply-adds (pieces × inputs × outputs summed over the layers)
:class:`TooManyPieces` is raised. A net whose real function, or a line on the way,
leaves the floats gets infinite radii (no certificate), not an exception.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from approx.arith.eft import two_product, two_sum
from approx.core import deadline
from approx.core.errors import ApproxError

__all__ = ["FLOAT_WORK", "FloatPieces", "TooManyPieces", "float_pieces"]

Array = NDArray[np.float64]

U = 2.0**-53
TINY = 2.0**-1074

#: multiply-adds allowed for the float pieces of a deep net, counted as pieces × inputs
#: × outputs over the layers (about 6·10⁸ a second of CPU: the cap is some 7 s; a random
#: net of depth 6 and width 256 takes 2.4·10⁸, one of depth 6 and width 512 1.8·10⁹)
FLOAT_WORK = 1 << 32
#: pieces carried through a layer at once (bounds the memory: chunk × width floats)
CHUNK = 2048


class TooManyPieces(ApproxError, ValueError):
    """A deep net whose pieces would cost more than the allowed work."""


class FloatPieces(NamedTuple):
    """A deep ReLU net on ``[a, b]`` as float lines with uniform radii.

    ``x`` (``p + 1`` floats, strictly increasing, ``x[0] = a``, ``x[-1] = b``); on
    ``[x[j], x[j+1]]`` the net is within ``slack[j]`` of the line
    ``y[j] + slopes[j] (t - x[j])`` up to ``y_err[j]`` (the rounding of ``y[j]``);
    ``y[p]`` is the last line at ``b``. ``slope_err`` bounds the distance from
    ``slopes`` to the enclosing line's slope (the low float of its two).
    """

    x: Array
    y: Array
    slopes: Array
    y_err: Array
    slope_err: Array
    slack: Array


class _Layer(NamedTuple):
    w: Array  # (n_in + 1, n_out): the weights, then the biases as a last row
    abs_w: Array  # |weights| (n_in, n_out)


class _Lines(NamedTuple):
    """Pieces ``[lo, hi]`` and each unit's line ``(c + cl) + (s + sl)(x - m) ± r`` on them
    (the line's coefficients as unevaluated sums of two floats)."""

    lo: Array
    hi: Array
    c: Array
    cl: Array
    s: Array
    sl: Array
    r: Array


class _Frame(NamedTuple):
    m: float  # the domain's midpoint
    h: float  # an upper bound of |x - m| on the domain


def float_pieces(
    weights: list[Array], biases: list[Array], a: float, b: float, max_work: int = FLOAT_WORK
) -> FloatPieces:
    """The float pieces of a ReLU net ``[1, n_1, …, n_L, 1]`` on ``[a, b]`` (module docstring).

    Parameters
    ----------
    weights, biases : list of ndarray
        Finite float weights ``(n_{k-1}, n_k)`` and biases ``(n_k,)`` of each layer.
    a, b : float
        The domain, ``a < b``.
    max_work : int
        Multiply-adds allowed.

    Raises
    ------
    TooManyPieces
        Past ``max_work`` multiply-adds.
    """
    layers = [
        _Layer(
            np.vstack([np.asarray(w, dtype=np.float64), np.asarray(bias, dtype=np.float64)]),
            np.abs(np.asarray(w, dtype=np.float64)),
        )
        for w, bias in zip(weights, biases, strict=True)
    ]
    m = a / 2 + b / 2
    h = max(m - a, b - m) * (1 + 4 * U) + TINY
    frame = _Frame(m, h)
    one, zero = np.ones((1, 1)), np.zeros((1, 1))
    start = _Lines(np.array([a]), np.array([b]), m * one, zero, one, zero, zero)
    budget = [max_work, max_work]  # allowed, left
    sizes = [1, *(w.shape[1] for w in weights)]
    with np.errstate(all="ignore"):
        out = list(_through(start, layers, frame, budget, sizes))
        return _assemble(out, frame, b)


def _through(
    lines: _Lines, layers: list[_Layer], frame: _Frame, budget: list[int], sizes: list[int]
):
    """Carry pieces through the remaining layers, in chunks; yield the output lines."""
    layer, rest = layers[0], layers[1:]
    for start in range(0, lines.lo.size, CHUNK):
        deadline.check()
        chunk = _Lines(*(v[start : start + CHUNK] for v in lines))
        budget[1] -= chunk.lo.size * layer.w.shape[0] * layer.w.shape[1]
        if budget[1] < 0:
            raise TooManyPieces(
                f"the pieces of this {sizes} ReLU net would take more than "
                f"{budget[0]} multiply-adds"
            )
        pre = _affine(chunk, layer, frame)
        if not rest:
            yield pre
            continue
        for group in _groups(pre, frame):
            yield from _through(_relu(pre, group, frame), rest, frame, budget, sizes)


def _affine(lines: _Lines, layer: _Layer, frame: _Frame) -> _Lines:
    """The pre-activations ``z W + b`` of every unit on every piece, with radii: the high
    floats of the lines through :func:`_split_product`, the low ones in plain floats
    (their rounding, ``γ_n`` of terms ``u`` smaller, joins the radius)."""
    p, n = lines.c.shape
    ones = np.ones((p, 1))
    rows = np.vstack([np.hstack([lines.c, ones]), np.hstack([lines.s, 0 * ones])])
    y, y_lo, err = _split_product(rows, layer.w)
    low = np.vstack([lines.cl, lines.sl]) @ layer.w[:-1]
    lo = y_lo + low
    gamma = 1.01 * (n + 2) * U
    spread = (lines.r + gamma * (np.abs(lines.cl) + np.abs(lines.sl) * frame.h)) @ layer.abs_w
    err = err + U * np.abs(lo) * 1.01
    r = spread * (1 + gamma) + (err[:p] + err[p:] * frame.h) * (1 + 4 * U) + TINY
    c, cl, s, sl = y[:p], lo[:p], y[p:], lo[p:]
    finite = np.isfinite(r) & np.isfinite(c) & np.isfinite(s) & np.isfinite(cl) & np.isfinite(sl)
    return _Lines(lines.lo, lines.hi, c, cl, s, sl, np.where(finite, r, np.inf))


def _split_product(a: Array, b: Array) -> tuple[Array, Array, Array]:
    """``a @ b`` as two floats ``hi + lo`` and a bound on the error of their sum that
    holds for any summation order.

    Rows of ``a`` and columns of ``b`` are scaled by powers of two into ``(-1, 1)`` and
    cut into two ``β``-bit integer slices and a remainder (module docstring): the
    products of slices whose weights add to at most ``2^{-3β}`` are exact, the rest is
    ``2^{-2β}`` of the terms, rounded."""
    n = a.shape[1]
    beta = (53 - math.ceil(math.log2(n))) // 2 if n > 1 else 26
    ea = np.frexp(np.max(np.abs(a), axis=1, initial=0.0))[1]
    eb = np.frexp(np.max(np.abs(b), axis=0, initial=0.0))[1]
    ia, ja, qa = _slices(np.ldexp(a, -ea[:, None]), beta)
    ib, jb, qb = _slices(np.ldexp(b, -eb[None, :]), beta)
    high = np.ldexp(ia @ ib, -2 * beta)  # sums of integers below 2^53: exact
    s1, e1 = two_sum(np.ldexp(ia @ jb, -3 * beta), np.ldexp(ja @ ib, -3 * beta))
    s2, e2 = two_sum(high, s1)  # high + s1 + e1 exactly: s2 + e2 + e1
    ra, rb = np.ldexp(ja, -2 * beta) + qa, np.ldexp(jb, -2 * beta) + qb  # exact remainders
    low = np.ldexp(ia @ qb + qa @ ib, -beta) + ra @ rb
    tail = low + (e1 + e2)
    v, v_lo = two_sum(s2, tail)
    # |ia qb|, |qa ib| ≤ 2^-β-1 a term: each product's rounding ≤ γ_n n 2^-β-1, their
    # sum's u n 2^-β (all times 2^-β); ra rb ≤ 2^-2β-2 a term, rounded by γ_n; the
    # additions of the tail u of its parts; underflow anywhere a few subnormals a term
    k = float(n)
    bound = 2.0 ** (-2 * beta) * k * (k + 3) * U * 1.05 + 16 * k * TINY
    err = (bound + 2.1 * U * (np.abs(low) + np.abs(e1) + np.abs(e2))) * (1 + 4 * U)
    scale = ea[:, None] + eb[None, :]
    y, y_lo = np.ldexp(v, scale), np.ldexp(v_lo, scale)
    e = np.ldexp(err, scale) * (1 + 2 * U) + 2 * TINY
    finite = np.isfinite(y) & np.isfinite(y_lo) & np.isfinite(e)
    return y, y_lo, np.where(finite, e, np.inf)


def _slices(x: Array, beta: int) -> tuple[Array, Array, Array]:
    """``x = i 2^-β + j 2^-2β + q`` exactly for ``|x| < 1``: integers ``|i|, |j| ≤ 2^β``
    and ``|q| ≤ 2^{-2β-1}`` (each cut rounds to a coarser grid; the rest is a float)."""
    i = np.rint(np.ldexp(x, beta))
    r = x - np.ldexp(i, -beta)
    j = np.rint(np.ldexp(r, 2 * beta))
    return i, j, r - np.ldexp(j, -2 * beta)


def _line_at(c: Array, cl: Array, s: Array, sl: Array, t: Array, m: float) -> tuple[Array, Array]:
    """``(c + cl) + (s + sl)(t - m)`` at floats ``t`` (broadcast over columns), nearly
    exactly: the value and a bound on its error (error-free sums and products, the rest
    ``u`` smaller)."""
    d, d_lo = two_sum(t, -m)  # exactly t - m
    d, d_lo = d[:, None], d_lo[:, None]
    p, e = two_product(s, d)
    sigma, tau = two_sum(c, p)
    parts = (cl, e, s * d_lo, sl * d, sl * d_lo)
    rest = sum(parts[1:], parts[0])
    size = sum((np.abs(q) for q in parts[1:]), np.abs(parts[0]))
    value = sigma + (tau + rest)
    err = 2.2 * U * (np.abs(value) + np.abs(tau)) + 5.5 * U * size
    return value, (err * (1 + 4 * U) + 16 * TINY)


def _groups(pre: _Lines, frame: _Frame):
    """The parents' split points, grouped so that each group has at most ``CHUNK``
    children: yields (parent index, left, right) arrays per group."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = frame.m - pre.c / pre.s
    inside = (t > pre.lo[:, None]) & (t < pre.hi[:, None])
    rows, cols = np.nonzero(inside)
    p = pre.lo.size
    idx = np.concatenate([rows, np.arange(p), np.arange(p)])
    pts = np.concatenate([t[rows, cols], pre.lo, pre.hi])
    order = np.lexsort((pts, idx))
    idx, pts = idx[order], pts[order]
    keep = np.ones(idx.size, dtype=bool)
    keep[1:] = (idx[1:] != idx[:-1]) | (pts[1:] != pts[:-1])
    idx, pts = idx[keep], pts[keep]
    same = idx[:-1] == idx[1:]
    parent, left, right = idx[:-1][same], pts[:-1][same], pts[1:][same]
    for start in range(0, parent.size, CHUNK):
        sl = slice(start, start + CHUNK)
        yield parent[sl], left[sl], right[sl]


def _relu(pre: _Lines, group: tuple[NDArray[np.intp], Array, Array], frame: _Frame) -> _Lines:
    """Each unit on or off on each part, with the radius of that choice (module docstring)."""
    parent, left, right = group
    c, cl, s, sl, r = (v[parent] for v in (pre.c, pre.cl, pre.s, pre.sl, pre.r))
    yl, el = _line_at(c, cl, s, sl, left, frame.m)
    yr, er = _line_at(c, cl, s, sl, right, frame.m)
    on = (yl + yr) > 0
    # rigorous extremes of the line over the part (at its ends); the errors include a
    # rounding unit of the value for the sums below
    top = np.maximum(yl + el, yr + er)
    bottom = np.minimum(yl - el, yr - er)
    radius = np.where(on, r + np.maximum(0.0, -bottom), np.maximum(0.0, top + r)) * (1 + 4 * U)
    radius = np.where(np.isnan(radius), np.inf, radius)
    keep = [np.where(on, v, 0.0) for v in (c, cl, s, sl)]
    return _Lines(left, right, *keep, radius)


def _assemble(out: list[_Lines], frame: _Frame, b: float) -> FloatPieces:
    """The output lines, at the pieces' left ends (and the last one at ``b``)."""
    lo = np.concatenate([o.lo for o in out])
    c, cl, s, sl, r = (
        np.concatenate([getattr(o, k)[:, 0] for o in out]) for k in ("c", "cl", "s", "sl", "r")
    )
    x = np.append(lo, b)
    line = np.append(np.arange(lo.size), lo.size - 1)
    y, y_err = _line_at(*(v[line, None] for v in (c, cl, s, sl)), x, frame.m)
    y, y_err = y[:, 0], y_err[:, 0]
    finite = np.isfinite(y) & np.isfinite(y_err)
    y_err = np.where(finite, y_err, np.inf)
    slack = np.where(np.isfinite(r) & np.isfinite(s), r, np.inf)
    slope_err = np.abs(sl) * (1 + 2 * U) + TINY
    slope_err = np.where(np.isfinite(slope_err) & np.isfinite(s), slope_err, np.inf)
    return FloatPieces(x, y, s, y_err, slope_err, slack)
