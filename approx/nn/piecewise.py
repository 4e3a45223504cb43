"""The piecewise-linear view of a 1-D ReLU network of any depth, with its rounding bounded.

One hidden layer: ``g(x) = Σ_i v_i max{0, w_i x + b_i} + c`` is linear between its
breakpoints ``τ_i = -b_i / w_i``. Crossing ``τ_i`` from left to right changes the slope
by ``v_i |w_i|`` and the intercept by ``sign(w_i) v_i b_i`` (a unit with ``w_i > 0``
switches on, one with ``w_i < 0`` switches off). Sorting the breakpoints and accumulating
those changes gives every piece's line: ``O(d log d)`` work and ``O(d)`` memory, where
evaluating the dense layer at the ``d`` breakpoints would cost ``O(d²)``.

The accumulation is *exact*: every float is a dyadic rational, so the products
``v_i w_i``, ``v_i b_i`` and their prefix sums are held as Python integers over a common
power of two. Each piece's line is then the real function the stored weights define, not
what a particular summation order rounds it to; only the final conversion to float
rounds, and its error is recorded (:attr:`PiecewiseLinear.y_err`, ``slope_err``).

The float breakpoint ``t_i = fl(τ_i)`` is the correctly rounded quotient, so it is
within half an ulp of ``τ_i``, and rounding is monotone: between two consecutive distinct
float breakpoints lies an open interval on which the net is exactly the line computed
for it. Only within half an ulp of a float breakpoint may the net follow another line
(several ``τ`` that round to one float); there it differs from the piece's line by at
most ``(|slope| + local Lipschitz constant) · ulp``, recorded as
:attr:`PiecewiseLinear.slack`.

Deeper nets (:func:`piecewise_linear` on sizes ``[1, n_1, …, n_L, 1]``): the breakpoints
are carried through the layers. On each piece every unit's pre-activation is an affine
function of ``x`` with exact coefficients (dyadic: integers over a power of two, so a
layer is an integer matrix product per piece); its zero inside the piece splits the
piece, and the unit is then on or off on each part. This is exact but costs Python
integer arithmetic: past :data:`DEEP_WORK` integer operations (a fraction of a second)
the pieces are carried in floats instead, with rigorous radii
(:mod:`approx.nn.float_pieces`: the lines of every unit on every piece as two floats
from products exact in any summation order, a uniform radius per piece that covers
their rounding and the parts near each float breakpoint where a unit's state may be
the wrong one). Those radii sit near the rounding of the net's own evaluation (about
``10⁻¹³`` for random nets of depth 5 and width 256 on [-1, 1], ``10⁻¹⁵`` for trained
ones, growing like ``|W|`` from layer to layer: ``6·10⁻⁹`` at depth 10), so the
certificates of ReLU nets of depth up to 10 at widths up to 256 are tight and take
about a second of CPU. Past :data:`~approx.nn.float_pieces.FLOAT_WORK` multiply-adds
:class:`TooManyPieces` is raised.
"""

from __future__ import annotations

import functools
import math
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import NamedTuple

import numpy as np
from flint import arb
from numpy.typing import ArrayLike, NDArray

from approx.arith.eft import two_product
from approx.core import deadline, validate
from approx.nn import MLP
from approx.nn.float_pieces import FLOAT_WORK, TooManyPieces, float_pieces

__all__ = [
    "PiecewiseLinear", "TooManyPieces", "exact_value", "max_deviation", "piecewise_linear",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class PiecewiseLinear:
    """A continuous piecewise-linear function on a closed interval, with rounding radii.

    Attributes
    ----------
    x : ndarray of shape (p + 1,)
        Strictly increasing float breakpoints; ``x[0] = a`` and ``x[-1] = b``.
    y : ndarray of shape (p + 1,)
        ``y[j]`` is piece ``j``'s line at ``x[j]`` (``y[p]``: the last line at ``b``).
    slopes : ndarray of shape (p,)
        Slope of each piece's line.
    y_err, slope_err : ndarray of shape (p + 1,) and (p,)
        Bounds on the distance from ``y`` and ``slopes`` to the exact values.
    slack : ndarray of shape (p,)
        On ``[x[j], x[j+1]]`` the net is within ``slack[j]`` of piece ``j``'s exact line.
    """

    x: Array
    y: Array
    slopes: Array
    y_err: Array | None = None
    slope_err: Array | None = None
    slack: Array | None = None

    @property
    def domain(self) -> tuple[float, float]:
        """The closed interval ``(a, b)``."""
        return float(self.x[0]), float(self.x[-1])

    @property
    def n_pieces(self) -> int:
        """Number ``p`` of linear pieces."""
        return int(self.slopes.size)

    def __call__(self, x: ArrayLike) -> Array:
        """Evaluate at points of the domain by linear interpolation between breakpoints.

        Parameters
        ----------
        x : array_like of shape (m,)
            Points in ``[a, b]``; outside it the end values are held constant
            (:func:`numpy.interp`), unlike the net itself.

        Returns
        -------
        ndarray of shape (m,)
        """
        return np.interp(np.asarray(x, dtype=np.float64), self.x, self.y)

    def max_deviation(self, t: Array, v: Array) -> float:
        """``max |self(t) - v|``, bit for bit, without the temporary arrays.

        Parameters
        ----------
        t, v : ndarray of shape (m,), float64
            Points (held at the end values outside the domain, as :meth:`__call__`) and
            the values to compare with; ``m >= 1``.

        Returns
        -------
        float
            The largest absolute deviation; NaN if any is NaN (as :func:`numpy.max`).
            Computed in one compiled pass (:mod:`approx.nn._interp_numba`) in a process
            that has loaded numba already (a training worker), else in numpy.
        """
        return _max_deviation(self.x, self.y, t, v)


def _max_deviation(x: Array, y: Array, t: Array, v: Array) -> float:
    """``max |numpy.interp(t, x, y) - v|`` (:meth:`PiecewiseLinear.max_deviation`)."""
    kernel = _deviation_kernel() if "numba" in sys.modules else None
    if kernel is None or t.size == 0 or t.dtype != np.float64 or v.dtype != np.float64:
        return float(np.max(np.abs(np.interp(np.asarray(t, dtype=np.float64), x, y) - v)))
    return float(kernel(t, x, y, v))


def max_deviation(net: MLP, domain: tuple[float, float], t: Array, v: Array) -> float:
    """``piecewise_linear(net, domain).max_deviation(t, v)``, bit for bit, computing
    only the pieces' breakpoints and values for a net of one hidden layer (not their
    slopes and radii, nor keeping them): what a training monitor asks a hundred times a
    fit.

    Parameters
    ----------
    net, domain
        As for :func:`piecewise_linear` (and the same errors).
    t, v : ndarray of shape (m,), float64
        As for :meth:`PiecewiseLinear.max_deviation`.

    Returns
    -------
    float
    """
    net, a, b = _check(net, domain)
    if len(net.sizes) != 3:
        return piecewise_linear(net, domain).max_deviation(t, v)
    lines = _shallow_lines(net, a, b)
    return _max_deviation(lines.x, lines.y, t, v)


@functools.cache
def _deviation_kernel() -> Callable[[Array, Array, Array, Array], float] | None:
    try:
        from approx.nn._interp_numba import max_abs_deviation
    except ImportError:  # (a numba that does not import: the numpy form)
        return None
    return max_abs_deviation


def _check(net: object, domain: object) -> tuple[MLP, float, float]:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an approx.nn.MLP, got {type(net).__name__}")
    if len(net.sizes) < 3 or net.sizes[0] != 1 or net.sizes[-1] != 1:
        raise ValueError(f"need a net of sizes [1, ..., 1] with a hidden layer, got {net.sizes}")
    if net.activation != "relu":
        raise ValueError(f"need a ReLU net, got activation {net.activation!r}")
    a, b = validate.interval(domain, "domain")
    for w in [*net.weights, *net.biases]:
        if not np.all(np.isfinite(w)):
            raise ValueError("the net has non-finite weights")
    return net, a, b


def piecewise_linear(net: MLP, domain: tuple[float, float]) -> PiecewiseLinear:
    """The breakpoints, values and slopes of a scalar ReLU net on ``domain``.

    Parameters
    ----------
    net : MLP
        Sizes ``[1, n_1, …, n_L, 1]``, ``L ≥ 1``, activation ``"relu"``. For ``L = 1``:
        units with ``w_i = 0`` add the constant ``v_i max{0, b_i}``; several units may
        share a breakpoint; breakpoints outside the open domain only shape the first piece.
    domain : tuple of float
        The closed interval ``(a, b)``, ``a < b``.

    Returns
    -------
    PiecewiseLinear
        Agrees with ``net(x)`` on ``[a, b]`` to rounding; with the radii, it encloses the
        exact function the weights define (exactly up to the final rounding for one
        hidden layer and cheap deep nets; otherwise within its ``slack``).

    Raises
    ------
    TypeError
        If ``net`` is not an :class:`~approx.nn.MLP`.
    ValueError
        If the net is not a scalar ReLU net with a hidden layer, has non-finite weights,
        or the domain is invalid; :class:`TooManyPieces` (a ``ValueError``) when a deep
        net's float pieces would cost more than
        :data:`~approx.nn.float_pieces.FLOAT_WORK` multiply-adds.
    """
    net, a, b = _check(net, domain)
    key = _key(net, a, b)
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    if len(net.sizes) == 3:
        pw = _shallow(net, a, b)
    else:
        try:
            pw = _deep(net, a, b, DEEP_WORK)  # read at call time: tests may lower it
        except TooManyPieces:  # exact pieces too dear: floats with rigorous radii
            pw = _floats(net, a, b)
    for array in (pw.x, pw.y, pw.slopes, pw.y_err, pw.slope_err, pw.slack):
        if array is not None:
            array.flags.writeable = False  # shared by the callers that ask again
    if pw.x.size <= RECENT_PIECES:  # (a deep net's millions of pieces are not kept)
        _RECENT[key] = pw
        if len(_RECENT) > RECENT:
            _RECENT.popitem(last=False)
    return pw


#: the pieces of the last few nets are kept (read-only): measuring one run asks for
#: them three times (the enclosure, the L2 error and the diagnostics)
RECENT = 4
#: ... when they have at most this many breakpoints (a few MB kept at most)
RECENT_PIECES = 1 << 16
_RECENT: OrderedDict[tuple[object, ...], PiecewiseLinear] = OrderedDict()


def _key(net: MLP, a: float, b: float) -> tuple[object, ...]:
    """What the pieces depend on: the weights' bits, the domain's, and the work caps."""
    arrays = tuple((w.dtype.str, w.shape, w.tobytes()) for w in [*net.weights, *net.biases])
    return (a.hex(), b.hex(), bool(net.bias), DEEP_WORK, FLOAT_WORK, arrays)


def _floats(net: MLP, a: float, b: float, max_work: int = FLOAT_WORK) -> PiecewiseLinear:
    """The float pieces of :mod:`approx.nn.float_pieces` as a :class:`PiecewiseLinear`."""
    biases = list(net.biases) if net.bias else [np.zeros(w.shape[1]) for w in net.weights]
    fp = float_pieces(list(net.weights), biases, a, b, max_work)
    return PiecewiseLinear(
        x=fp.x, y=fp.y, slopes=fp.slopes, y_err=fp.y_err, slope_err=fp.slope_err, slack=fp.slack
    )


# --- exact dyadic arithmetic ------------------------------------------------------------------


def _split(values: Array) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Integer mantissas (Python ints) and exponents: ``values = m · 2^e`` exactly."""
    m, e = np.frexp(values)
    return np.ldexp(m, 53).astype(np.int64).astype(object), (e - 53).astype(np.int64)


def _common(m: NDArray[np.object_], e: NDArray[np.int64]) -> tuple[NDArray[np.object_], int]:
    """The same numbers over one power of two: ``m · 2^e = n · 2^base``."""
    base = int(e.min()) if e.size else 0
    return m << (e - base).astype(object), base


def _products(p: Array, q: Array) -> tuple[NDArray[np.object_], int]:
    """Exact products ``p[i] q[i]`` as integers over a common power of two."""
    mp, ep = _split(p)
    mq, eq = _split(q)
    return _common(mp * mq, ep + eq)


def _to_floats(n: NDArray[np.object_], exp: int) -> tuple[Array, Array]:
    """``n · 2^exp`` as floats and bounds on their error (one unit of the shifted
    integer, the conversion's rounding, and underflow)."""
    bits = int(np.max(np.abs(n))).bit_length() if n.size else 0
    shift = max(bits - 62, 0)
    small = (n >> shift) if shift else n
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.ldexp(small.astype(np.float64), exp + shift)
        # the bits shifted out
        truncated = float(np.ldexp(1.0, exp + shift)) if shift else 0.0
        err = truncated + np.spacing(np.abs(values)) + 2.0**-1074
    # past the largest float: the value is ±inf and its error unbounded
    return values, np.where(np.isfinite(values) & np.isfinite(err), err, np.inf)


class _Lines(NamedTuple):
    """What :func:`_shallow_lines` computes on the way to a net's pieces."""

    x: Array
    y: Array
    y_err: Array
    S: NDArray[np.object_]  # the pieces' slopes, exact: S · 2^e_sw
    e_sw: int
    v: Array  # the moving units' output weights,
    w: Array  # input weights,
    t: Array  # and breakpoints
    idx: NDArray[np.intp]  # the units whose breakpoints are inside, in order
    first: NDArray[np.intp]  # where each distinct breakpoint starts among them


def _shallow(net: MLP, a: float, b: float) -> PiecewiseLinear:
    """One hidden layer: sort, then exact prefix sums (see the module docstring)."""
    x, y, y_err, S, e_sw, v, w, t, idx, first = _shallow_lines(net, a, b)
    slopes, slope_err = _to_floats(S, e_sw)

    # slack near each float breakpoint: the units whose exact breakpoints round to it
    abs_sw = np.abs(v * w) * (1 + 4 * 2.0**-53)
    group = np.zeros(x.size)
    if idx.size:
        group[1:-1] = np.add.reduceat(abs_sw[idx], first)
    group[0] = abs_sw[t == a].sum()
    group[-1] = abs_sw[t == b].sum()
    return PiecewiseLinear(
        x=x, y=y, slopes=slopes, y_err=y_err, slope_err=slope_err, slack=_slack(x, group)
    )


def _shallow_lines(net: MLP, a: float, b: float) -> _Lines:
    """The breakpoints and the values there of one hidden layer's pieces, and what the
    rest of :func:`_shallow` needs."""
    w = net.weights[0][0]
    v = net.weights[1][:, 0]
    bias = net.biases[0] if net.bias else np.zeros_like(w)
    c = float(net.biases[1][0]) if net.bias else 0.0
    moving = w != 0
    # constant units: v max{0, b}
    const_v, const_b = v[~moving], np.maximum(bias[~moving], 0.0)
    w, v, bias = w[moving], v[moving], bias[moving]
    with np.errstate(over="ignore"):
        t = -bias / w  # correctly rounded; ±inf when |τ| overflows, beyond any domain
    on_at_a = np.where(w > 0, t <= a, t > a)
    inside = (t > a) & (t < b)
    order = np.argsort(t[inside], kind="stable")
    idx = np.nonzero(inside)[0][order]
    knots, first = np.unique(t[idx], return_index=True)

    # exact slope terms v w and intercept terms v b (with the constants) as integers
    sw, e_sw = _products(v, w)
    sb, e_sb = _products(np.concatenate([v, const_v, [1.0]]), np.concatenate([bias, const_b, [c]]))
    sb_units = sb[: v.size]
    start_s = int(np.sum(sw[on_at_a])) if on_at_a.any() else 0
    start_b = (int(np.sum(sb_units[on_at_a])) if on_at_a.any() else 0) + int(np.sum(sb[v.size :]))
    rising = w[idx] > 0
    ds = np.where(rising, sw[idx], -sw[idx])
    db = np.where(rising, sb_units[idx], -sb_units[idx])
    ends = np.append(first[1:], idx.size) - 1
    S = (
        np.concatenate([[start_s], start_s + np.cumsum(ds)[ends]])
        if idx.size
        else np.array([start_s], dtype=object)
    )
    B = (
        np.concatenate([[start_b], start_b + np.cumsum(db)[ends]])
        if idx.size
        else np.array([start_b], dtype=object)
    )

    x = np.concatenate(([a], knots, [b]))
    # value of piece j's line at its left end x[j], and of the last line at b
    mx, ex = _split(x)
    X, e_x = _common(mx, ex)
    line = np.append(np.arange(x.size - 1), x.size - 2)
    base = min(e_sw + e_x, e_sb)
    Y = (S[line] * X << (e_sw + e_x - base)) + (B[line] << (e_sb - base))
    y, y_err = _to_floats(Y, base)
    return _Lines(x, y, y_err, S, e_sw, v, w, t, idx, first)


def _slack(x: Array, group: Array) -> Array:
    """Distance from piece ``j``'s line to the net on ``[x[j], x[j+1]]``.

    The exact breakpoints that round to the float ``x[j]`` lie within half a spacing of
    it; only between them and ``x[j]`` may the net follow another line, whose slope
    differs from the piece's by at most ``group[j]`` (the slope changes at that float).
    """
    reach = group * np.spacing(np.abs(x))  # twice the half spacing, for safety
    return reach[:-1] + reach[1:] + 2.0**-1074


#: integer multiply-adds allowed for the exact pieces of a deep net (a fraction of a
#: second; those of the units that are off are not done, nor counted); past them the
#: pieces are carried in floats with rigorous radii (:mod:`approx.nn.float_pieces`)
DEEP_WORK = 1 << 21


#: an exact piece of a layer's outputs: its ends, and the slopes and intercepts of every
#: unit as integers over a power of two each: (left, right, s, e_s, c, e_c)
_Piece = tuple[Fraction, Fraction, NDArray[np.object_], int, NDArray[np.object_], int]
#: an exact piece of the output: (left, right, slope, intercept)
_Line = tuple[Fraction, Fraction, Fraction, Fraction]
#: a layer's weights and biases as integers over a power of two each
_Layer = tuple[NDArray[np.object_], int, NDArray[np.object_], int]


def _dyadic(values: Array) -> tuple[NDArray[np.object_], int]:
    """Floats (any shape) as Python integers over one power of two, exactly."""
    m, e = _split(np.ravel(values))
    n, base = _common(m, e)
    return n.reshape(np.shape(values)), base


def _aligned(
    p: NDArray[np.object_], ep: int, q: NDArray[np.object_], eq: int
) -> tuple[NDArray[np.object_], NDArray[np.object_], int]:
    """``p 2^ep`` and ``q 2^eq`` over the smaller of the two powers."""
    e = min(ep, eq)
    return p << (ep - e), q << (eq - e), e


def _deep(net: MLP, a: float, b: float, max_work: int = DEEP_WORK) -> PiecewiseLinear:
    """Several hidden layers: carry exact pieces through the layers (module docstring).

    Every slope and intercept is a dyadic rational (sums of products of the weights), held
    as Python integers over a power of two, so a layer is an integer matrix product per
    piece; only the breakpoints are general rationals. Raises :class:`TooManyPieces` past
    ``max_work`` integer multiply-adds."""
    layers: list[_Layer] = []
    for w, bias in zip(net.weights, net.biases, strict=True):
        wi, ew = _dyadic(np.asarray(w, dtype=np.float64))
        bi, eb = _dyadic(np.asarray(bias, dtype=np.float64) if net.bias else np.zeros(w.shape[1]))
        layers.append((wi, ew, bi, eb))
    one = np.array([1], dtype=object)
    pieces: list[_Piece] = [(Fraction(a), Fraction(b), one, 0, one * 0, 0)]
    work = 0
    for layer in layers[:-1]:
        work += sum(_nonzero(p[2]) + _nonzero(p[4]) for p in pieces) * layer[0].shape[1]
        if work > max_work:
            raise TooManyPieces(
                f"the exact pieces of this {net.sizes} net would take more than {max_work} "
                "integer operations"
            )
        pieces = [q for piece in pieces for q in _through_layer(piece, layer)]
    wi, ew, bi, eb = layers[-1]
    lines = []
    for lo, hi, sl, es, c, ec in pieces:
        slope = _fraction(int(np.dot(sl, wi[:, 0])), es + ew)
        pc, bb, e = _aligned(np.array([np.dot(c, wi[:, 0])], dtype=object), ec + ew, bi, eb)
        lines.append((lo, hi, slope, _fraction(int(pc[0] + bb[0]), e)))
    return _rounded(lines, b)


def _nonzero(v: NDArray[np.object_]) -> int:
    return int(np.count_nonzero(v != 0))


def _sparse_dot(v: NDArray[np.object_], w: NDArray[np.object_]) -> NDArray[np.object_]:
    """``v w`` over the nonzero entries of ``v`` only (the units that are on)."""
    nz = np.flatnonzero(v != 0)
    if not nz.size:
        return np.zeros(w.shape[1], dtype=np.int64).astype(object)
    return np.dot(v[nz], w[nz])


def _fraction(n: int, e: int) -> Fraction:
    """``n 2^e`` exactly."""
    return Fraction(n << e) if e >= 0 else Fraction(n, 1 << -e)


def _through_layer(piece: _Piece, layer: _Layer) -> list[_Piece]:
    """A piece through one ReLU layer: cut where a unit's input changes sign."""
    deadline.check()
    left, right, s, es, c, ec = piece
    wi, ew, bi, eb = layer
    ps, eps = _sparse_dot(s, wi), es + ew
    cw, bb, epc = _aligned(_sparse_dot(c, wi), ec + ew, bi, eb)
    pc = cw + bb
    # the zeros -pc/ps 2^(epc - eps) inside the piece
    shift = epc - eps
    cuts = set()
    for k in np.nonzero(ps != 0)[0]:
        num, den = -pc[k], ps[k]
        cut = Fraction(num << shift, den) if shift >= 0 else Fraction(num, den << -shift)
        if left < cut < right:
            cuts.add(cut)
    A, B, _ = _aligned(ps, eps, pc, epc)
    zero = ps * 0
    out = []
    for lo, hi in pairwise([left, *sorted(cuts), right]):
        mid = (lo + hi) / 2  # mid = p / q, q > 0: the sign of A p + B q
        on = (A * mid.numerator + B * mid.denominator) > 0
        out.append((lo, hi, np.where(on, ps, zero), eps, np.where(on, pc, zero), epc))
    return out


def _rounded(lines: list[_Line], b: float) -> PiecewiseLinear:
    """The exact lines at float breakpoints: each float piece takes the exact line that
    spans its interior, with errors and the slack of hidden short pieces bounded."""
    fb = Fraction(b)
    rounded = [float(lo) for lo, _, _, _ in lines]
    x_list, chosen = [], []
    for k, r in enumerate(rounded):
        if x_list and x_list[-1] == r:
            chosen[-1] = k
        elif not x_list or r > x_list[-1]:
            x_list.append(r)
            chosen.append(k)
    if x_list[-1] >= b:  # breakpoints rounding to b add no piece
        x_list.pop()
        chosen.pop()
    x = np.array([*x_list, b])
    slopes_exact = [lines[k][2] for k in chosen]
    values = [
        lines[k][2] * Fraction(xj) + lines[k][3] for k, xj in zip(chosen, x_list, strict=True)
    ]
    values.append(lines[chosen[-1]][2] * fb + lines[chosen[-1]][3])
    slopes, slope_err = _fractions_to_floats(slopes_exact)
    y, y_err = _fractions_to_floats(values)
    # a float breakpoint that some exact breakpoint only rounds to may hide short pieces
    # of any slope: bound their difference by twice the largest slope
    lip = 2 * max(abs(_float(s)) for _, _, s, _ in lines) * (1 + 1e-12)
    inexact = {r for (lo, _, _, _), r in zip(lines, rounded, strict=True) if Fraction(r) != lo}
    group = np.array([lip if xj in inexact else 0.0 for xj in x])
    return PiecewiseLinear(
        x=x, y=y, slopes=slopes, y_err=y_err, slope_err=slope_err, slack=_slack(x, group)
    )


def _fractions_to_floats(values: list[Fraction]) -> tuple[Array, Array]:
    """Correctly rounded floats and a bound on their error (one ulp)."""
    out = np.array([_float(v) for v in values])
    err = np.array([math.ulp(v) if math.isfinite(v) else math.inf for v in out])
    return out, err + 2.0**-1074


def _float(v: Fraction) -> float:
    """``v`` correctly rounded, or ``±inf`` past the largest float."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def exact_value(net: MLP, x: float) -> arb:
    """The net's value at the float ``x`` as an Arb ball of radius at most ``1e-30``
    relative (0 when exact).

    One hidden layer: each unit's ``v (w x + b)`` is split into exact float parts
    (Dekker's product), the signs of ``w x + b`` are decided exactly, and the exact sum
    is rounded twice by :func:`math.fsum` (a head and the remainder). Deeper nets:
    rational arithmetic, one product per weight.
    """
    if len(net.sizes) == 3:
        fast = _shallow_value(net, float(x))
        if fast is not None:
            return fast
    z, ez = _dyadic(np.array([float(x)]))
    last = len(net.weights) - 1
    for layer, w in enumerate(net.weights):
        wi, ew = _dyadic(np.asarray(w, dtype=np.float64))
        bias = np.asarray(net.biases[layer], dtype=np.float64) if net.bias else np.zeros(w.shape[1])
        bi, eb = _dyadic(bias)
        z, bb, ez = _aligned(_sparse_dot(z, wi), ez + ew, bi, eb)
        z = z + bb
        if layer < last:
            z = np.where(z > 0, z, z * 0)
    value = _fraction(int(z[0]), ez)
    return arb(value.numerator) / arb(value.denominator)


def _shallow_value(net: MLP, x: float) -> arb | None:
    """:func:`exact_value` for one hidden layer; None when magnitudes leave the range in
    which the float splits are exact."""
    w = net.weights[0][0]
    v = net.weights[1][:, 0]
    bias = net.biases[0] if net.bias else np.zeros_like(w)
    c = float(net.biases[1][0]) if net.bias else 0.0
    parts = np.abs(np.concatenate([w * x, v, bias, w, [x]]))
    parts = parts[parts > 0]
    if parts.size and (parts.max() > 2.0**400 or parts.min() < 2.0**-400):
        return None
    h, low = two_product(w, np.full_like(w, x))
    # the sign of h + low + b: fsum decides it exactly
    approx_z = h + bias
    unsure = np.abs(approx_z) <= 4 * 2.0**-53 * (np.abs(h) + np.abs(bias)) + 2.0**-1000
    on = approx_z > 0
    for i in np.nonzero(unsure)[0]:
        on[i] = math.fsum((h[i], low[i], bias[i])) > 0
    terms = [two_product(v[on], part[on]) for part in (h, low, bias)]
    flat = np.concatenate([np.concatenate(t) for t in terms] + [np.array([c])])
    parts = flat.tolist()
    head = math.fsum(parts)
    tail = math.fsum([*parts, -head])  # the exact remainder, rounded once more
    rest = math.fsum([*parts, -head, -tail])
    radius = 0.0 if rest == 0 else math.ulp(tail) / 2 + 2.0**-1074
    return arb(head) + arb(tail, radius)
