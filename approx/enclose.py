"""Rigorous enclosures with Arb ball arithmetic: the ground every certificate stands on.

Three tools, each rigorous (every rounding is accounted for, by Arb or by an explicit
bound on a float computation):

- :func:`check_finite` proves a ball-compiled function finite on a closed interval, or
  names the sub-interval where it is not (a pole, a logarithm of 0, a square root of a
  negative number), by bisection;
- :class:`LocalPolys` is a piecewise polynomial with error radii: on each cell,
  ``f(x) ∈ Σ_k (c_k ± r_k) h^k ± rem·|h|^n ± slack`` with ``h = x - centre``. A target
  becomes one by *Taylor models* (:func:`taylor_blocks`: Arb's ``arb_series`` at a block's
  centre gives ``f^(k)(c)/k!``, and over the whole block encloses ``f^(n)(ξ)/n!``);
  a ReLU net, a spline or a line is one exactly. Float evaluation of a cell's
  polynomial (any derivative) carries a running error bound, so millions of points cost
  numpy time, not Arb time;
- :func:`sup_abs_difference` is the branch-and-bound for ``sup |f - g|`` over an interval
  given both as :class:`LocalPolys`: on a cell ``[l, r]``
  ``sup |e| ≤ max(|e(l)|, |e(r)|) + (r - l)² / 8 · sup |e''|``, with ``sup |e''|`` from the
  Taylor expansion of ``e''`` at the cell's midpoint (so it cancels where ``g ≈ f``, as
  for a spline) and a crude bound on ``e''''``. Cells whose bound cannot beat the best
  value found by more than the tolerance are dropped; the rest are split in four.
  Blocks with no Taylor model (a kink, ``sqrt`` at 0, ``|x|^1.5`` at 0) are handled cell
  by cell in Arb with lower-order bounds: ``f''``, else a Lipschitz bound from ``f'``,
  else the range of ``f``.

Work is counted in operations (cell evaluations and Arb evaluations weighted by their
size), never in seconds, so a capped result is the same on every machine. When the cap
is hit the enclosure is still rigorous, only wider, and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flint import arb, arb_series, ctx
from numpy.typing import NDArray

from approx import _deadline
from approx._expr import BallFunc, DomainIssue, hull

__all__ = [
    "Enclosure",
    "LocalPolys",
    "arb_context",
    "check_finite",
    "from_coefficients",
    "integral_sqrt_abs_derivative",
    "mlp_ball",
    "sup_abs_derivative",
    "sup_abs_difference",
    "taylor_blocks",
]

Array = NDArray[np.float64]

#: unit roundoff of float64
U = 2.0**-53
#: smallest positive subnormal: the absolute rounding error of any operation near 0
_TINY = 2.0**-1074
#: Arb working precision (bits): coefficient radii far below float64's rounding
PREC = 80
#: Taylor terms per block (the remainder is the coefficient of order ``N_TERMS``)
N_TERMS = 12
#: blocks narrower than this fraction of the domain get no Taylor model (handled in Arb)
_MIN_BLOCK = 2.0**-36
#: the default work cap, in operations: a cell evaluated in floats counts 1, one
#: evaluation of a ball function counts ``ARB_WEIGHT`` times its size (a ball series
#: operation costs about that many float operations evaluated in numpy)
MAX_WORK = 2**24
ARB_WEIGHT = 256
#: the cap for a target's own Taylor blocks: built once per target and process, reused
#: by every enclosure against it
TARGET_WORK = 2**28
#: a ball function this small (a target's formula) is evaluated even past the cap
_CHEAP = 256


@contextmanager
def arb_context() -> Iterator[None]:
    """Arb's working precision and series length for the enclosures (restored on exit)."""
    saved = ctx.prec, ctx.cap
    ctx.prec, ctx.cap = PREC, N_TERMS + 2
    try:
        yield
    finally:
        ctx.prec, ctx.cap = saved


def ball(lo: float, hi: float) -> arb:
    """A ball containing the closed interval ``[lo, hi]`` (floats)."""
    return hull(arb(lo), arb(hi))


def _down(v: arb) -> float:
    """The largest float ``≤`` the exact value ``v`` (an arb with radius 0)."""
    f = float(v.mid())
    if not arb(f) <= v:
        f = float(np.nextafter(f, -np.inf))
    return f


def upper(v: arb) -> float:
    """A float ``≥`` every point of the ball (``inf`` for a non-finite ball)."""
    if not v.is_finite():
        return math.inf
    return -_down(-v.upper())


def abs_upper(v: arb) -> float:
    """A float ``≥ |ξ|`` for every point ``ξ`` of the ball."""
    if not v.is_finite():
        return math.inf
    return -_down(-v.abs_upper())


def abs_lower(v: arb) -> float:
    """A float ``≤ |ξ|`` for every point ``ξ`` of the ball (0 if it holds 0)."""
    if not v.is_finite():
        return 0.0
    return max(_down(v.abs_lower()), 0.0)


# --- finiteness ---------------------------------------------------------------------------


def check_finite(
    fn: BallFunc, domain: tuple[float, float], name: str, max_cells: int = 20_000
) -> None:
    """Prove ``fn`` finite on the closed interval, or refuse naming where it is not.

    Bisects the domain until every cell's enclosure is finite with every call inside its
    domain. A call whose argument is not yet known to be inside on a cell (``sqrt(x)`` on
    a cell touching 0) is settled by the argument's values at the cell's ends and its
    monotonicity there: a monotone argument inside at both ends is inside throughout.

    Raises
    ------
    ValueError
        ``target NAME has no finite supremum on [a, b]: ... in [l, r]``.
    """
    a, b = domain
    stack = [(a, b, frozenset[str]())]
    cells = 0
    with arb_context():
        while stack:
            lo, hi, proven = stack.pop()
            cells += 1
            if cells > max_cells:
                _refuse(
                    name,
                    domain,
                    f"could not show f finite (gave up after {max_cells} cells)",
                    lo,
                    hi,
                )
            if cells % 256 == 0:
                _deadline.check()
            X = ball(lo, hi)
            try:
                v = fn(X, proven)
                if v.is_finite() and abs_upper(v) < np.finfo(np.float64).max:
                    continue
                issue = None
                m = lo + (hi - lo) / 2
                try:
                    point = fn(arb(m), proven)
                except DomainIssue:
                    point = arb(0)
                if not (point.is_finite() and abs_upper(point) < np.finfo(np.float64).max):
                    _refuse(name, domain, f"f({m!r}) is not finite as a float", lo, hi)
            except DomainIssue as err:
                if err.definite and _point_outside(fn, err, lo, hi, proven):
                    _refuse(name, domain, f"{err.what} is undefined", lo, hi)
                issue = err
            if issue is not None and _settled(issue, lo, hi, proven):
                stack.append((lo, hi, proven | {issue.what}))
                continue
            m = lo + (hi - lo) / 2
            if not lo < m < hi or hi - lo <= _MIN_BLOCK * (b - a) * 2.0**-12:
                what = "f is not finite" if issue is None else f"{issue.what} is undefined"
                _refuse(name, domain, what, lo, hi)
            stack += [(m, hi, proven), (lo, m, proven)]


def _point_outside(
    fn: BallFunc, issue: DomainIssue, lo: float, hi: float, proven: frozenset[str]
) -> bool:
    """A definite issue on a ball is definite at one of its points: find it at an end or
    the middle (otherwise the caller bisects on)."""
    for x in (lo, hi, lo + (hi - lo) / 2):
        try:
            value = issue.argument(arb(x), proven)
        except DomainIssue:
            continue
        if issue.inside(value) is False:
            return True
    return False


def _settled(issue: DomainIssue, lo: float, hi: float, proven: frozenset[str]) -> bool:
    """True when the argument of ``issue`` is monotone on ``[lo, hi]`` and inside the
    domain at both ends (for a denominator: of one sign at both ends)."""
    try:
        ends = [issue.argument(arb(x), proven) for x in (lo, hi)]
        slope = issue.argument(arb_series([ball(lo, hi), 1], prec=2), proven)
    except (DomainIssue, ValueError, ZeroDivisionError):
        return False
    slope = slope[1] if isinstance(slope, arb_series) else arb(0)
    if not (slope > 0 or slope < 0 or slope == 0):
        return False
    if not all(issue.inside(v) is True for v in ends):
        return False
    # a non-zero denominator must keep its sign: the domain must be an interval
    return not ((ends[0] > 0 and ends[1] < 0) or (ends[0] < 0 and ends[1] > 0))


def _refuse(name: str, domain: tuple[float, float], what: str, lo: float, hi: float) -> None:
    a, b = domain
    raise ValueError(
        f"target {name!r} has no finite supremum on its domain [{a:g}, {b:g}]: "
        f"{what} in [{lo!r}, {hi!r}]"
    )


# --- piecewise polynomials with error radii -------------------------------------------------


@dataclass
class LocalPolys:
    """A function given cell by cell as a polynomial with rigorous error radii.

    On cell ``i`` (``edges[i] ≤ x ≤ edges[i+1]``), with ``h = x - centre[i]``,
    ``n = coef.shape[1]``: the function lies in
    ``Σ_k (coef[i, k] ± rad[i, k]) h^k ± rem[i] |h|^n ± slack[i]``, where ``rem[i]`` bounds
    ``|f^(n)(ξ)| / n!`` on the cell (0 for an exact polynomial) and ``slack[i]`` bounds the
    distance to a polynomial that the rest describes (a ReLU net's pieces rounded to
    float ends). Derivatives are enclosed without the slack (see :attr:`slack`).

    Attributes
    ----------
    edges : ndarray of shape (m + 1,)
    centre, rem, slack : ndarray of shape (m,)
    coef, rad : ndarray of shape (m, n)
    rough : ndarray of shape (m,) of bool
        Cells without a polynomial: evaluated through :attr:`source` in Arb.
    source : callable or None
        The ball function itself, for rough cells and exact point values.
    scale : float
        A size of the function's values (for the absolute tolerance).
    work : int
        Operations spent building it.
    capped : bool
        Whether building hit the work cap (rough cells then also cover unfinished work).
    cost : int
        Operations per evaluation of :attr:`source` (its size).
    sup : float
        An a-priori upper bound of ``|f|`` on the whole domain (``inf`` if none is known):
        the bound of last resort once the work cap is hit.
    """

    edges: Array
    centre: Array
    coef: Array
    rad: Array
    rem: Array
    slack: Array
    rough: NDArray[np.bool_]
    source: BallFunc | None = None
    scale: float = 0.0
    work: int = 0
    capped: bool = False
    cost: int = 1
    sup: float = math.inf
    _shifted: dict[int, tuple[Array, Array, Array]] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.coef.shape[1])

    def cell(self, x: Array) -> NDArray[np.intp]:
        """Index of the cell holding each point (the left one at a shared edge)."""
        i = np.searchsorted(self.edges, x, side="left") - 1
        return np.clip(i, 0, self.centre.size - 1)

    def _order(self, k: int) -> tuple[Array, Array, Array]:
        """Coefficients of ``f^(k)/k!`` around the centres: ``C(i, k) c_i`` (rounded) with
        their radii, and the remainder factor ``C(n, k) rem``."""
        if k not in self._shifted:
            n = self.n
            i = np.arange(k, n)
            binom = np.array([math.comb(int(j), k) for j in i], dtype=np.float64)
            c = self.coef[:, k:] * binom
            r = (self.rad[:, k:] * binom + U * np.abs(c)) * (1 + 4 * U)
            self._shifted[k] = (c, r, self.rem * math.comb(n, k))
        return self._shifted[k]

    def at(self, x: Array, idx: NDArray[np.intp], k: int) -> tuple[Array, Array]:
        """``f^(k)(x)/k!`` at points ``x`` of cells ``idx``: value and error bound.

        The bound covers the radii, the remainder, Horner's rounding (a running error
        bound, Higham's Algorithm 5.1) and the rounding of ``h = x - centre``. Rough cells
        give NaN values and infinite bounds. Shapes: ``x``, ``idx`` (m,) → two (m,).
        """
        if k >= self.n:
            return self._beyond(idx)
        c, r, rem = self._order(k)
        c, r, rem = c[idx], r[idx], rem[idx]
        h = x - self.centre[idx]
        a = np.abs(h)
        y = c[:, -1].copy()
        mu = np.abs(y) / 2
        ra = r[:, -1].copy()
        dh = np.zeros_like(y)  # Σ j |c_j| |h|^(j-1): the sensitivity to h
        ay = np.abs(y)
        for j in range(c.shape[1] - 2, -1, -1):
            dh = dh * a + ay
            y = y * h + c[:, j]
            mu = mu * a + np.abs(y)
            ra = ra * a + r[:, j]
            ay = ay * a + np.abs(c[:, j])
        tail = rem * a ** (self.n - k)
        err = (2.01 * U * mu + ra + tail + 1.01 * U * dh * a) * (1 + 8 * U) + 64 * _TINY
        rough = self.rough[idx]
        if rough.any():
            y = np.where(rough, np.nan, y)
            err = np.where(rough, np.inf, err)
        return y, err

    def bound(self, lo: Array, hi: Array, idx: NDArray[np.intp], k: int) -> Array:
        """An upper bound of ``|f^(k)(ξ)| / k!`` for ``ξ`` in ``[lo, hi]`` ⊂ cell ``idx``."""
        if k >= self.n:
            return self._beyond(idx)[1]
        c, r, rem = self._order(k)
        c, r, rem = c[idx], r[idx], rem[idx]
        centre = self.centre[idx]
        reach = np.maximum(np.abs(lo - centre), np.abs(hi - centre)) * (1 + 4 * U)
        s = np.abs(c[:, -1]) + r[:, -1]
        for j in range(c.shape[1] - 2, -1, -1):
            s = s * reach + (np.abs(c[:, j]) + r[:, j])
        s = (s + rem * reach ** (self.n - k)) * (1 + 4 * self.n * U) + 64 * _TINY
        return np.where(self.rough[idx], np.inf, s)

    def near_edge(self, lo: Array, hi: Array, idx: NDArray[np.intp]) -> Array:
        """The slack of cells ``idx`` for sub-intervals ``[lo, hi]``: it applies only within
        half a float spacing of a cell's ends, so only to sub-intervals that touch them."""
        touch = (lo == self.edges[idx]) | (hi == self.edges[idx + 1])
        return np.where(touch, self.slack[idx], 0.0)

    def _beyond(self, idx: NDArray[np.intp]) -> tuple[Array, Array]:
        """Orders past the polynomial's degree: 0 for exact polynomials, else unknown."""
        exact = (self.rem[idx] == 0) & ~self.rough[idx]
        return np.where(exact, 0.0, np.nan), np.where(exact, 0.0, np.inf)

    def ball_at(self, X: Any, i: int) -> Any:
        """The enclosure of cell ``i`` in Arb at ``X`` (an arb or arb_series in the cell)."""
        if self.rough[i]:
            assert self.source is not None
            return self.source(X, False)
        h = X - arb(self.centre[i])
        total = arb(0)
        for j in range(self.n - 1, -1, -1):
            total = total * h + arb(self.coef[i, j], self.rad[i, j])
        radius = self.rem[i] * abs_upper(_head(h)) ** self.n + self.slack[i]
        if radius > 0 or not math.isfinite(radius):
            total = total + arb(0, radius)
        return total


def _head(v: Any) -> arb:
    return v[0] if isinstance(v, arb_series) else v


def from_coefficients(
    edges: Array,
    centre: Array,
    coef: Array,
    rad: Array | None = None,
    slack: Array | None = None,
    source: BallFunc | None = None,
) -> LocalPolys:
    """A :class:`LocalPolys` of exact polynomials (``rem = 0``), e.g. pieces of a model."""
    m = centre.size
    coef = np.asarray(coef, dtype=np.float64)
    return LocalPolys(
        edges=np.asarray(edges, dtype=np.float64),
        centre=np.asarray(centre, dtype=np.float64),
        coef=coef,
        rad=np.zeros_like(coef) if rad is None else np.asarray(rad, dtype=np.float64),
        rem=np.zeros(m),
        slack=np.zeros(m) if slack is None else np.asarray(slack, dtype=np.float64),
        rough=np.zeros(m, dtype=bool),
        source=source,
        scale=float(np.max(np.abs(coef[:, 0]))) if m else 0.0,
    )


def taylor_blocks(
    fn: BallFunc,
    domain: tuple[float, float],
    scale: float,
    *,
    cost: int = 16,
    max_work: int = MAX_WORK,
    min_blocks: int = 1,
    sup: float = math.inf,
) -> LocalPolys:
    """Taylor models of ``fn`` on blocks that bisect ``domain`` adaptively.

    A block ``[l, r]`` with centre ``c`` and radius ``ρ`` is kept when every coefficient
    ``f^(k)(c)/k!`` (``k < N_TERMS``) and the enclosure ``A`` of ``f^(n)(ξ)/n!`` over the
    block are finite and ``|A| ρ^n ≤ 2^-56 · scale``; otherwise it is halved, down to
    :data:`_MIN_BLOCK` of the domain, below which it is *rough* (no polynomial).

    Parameters
    ----------
    fn : callable
        Ball function, validated on the domain.
    domain : tuple of float
    scale : float
        A size of ``|f|`` (e.g. its max on a grid): sets the remainder's tolerance,
        ``2^-56`` of the largest of it and the values at the blocks' centres so far
        (kept as the result's :attr:`LocalPolys.scale`).
    cost : int
        Operations per evaluation of ``fn`` (its size), counted against ``max_work``;
        when the cap is reached the unfinished blocks become rough.
    min_blocks : int
        Start from this many equal blocks (a function that oscillates on a known scale
        saves the bisection's first levels).
    sup : float
        An a-priori bound of ``|f|`` on the domain, if one is known (see
        :attr:`LocalPolys.sup`).
    """
    a, b = domain
    n = N_TERMS
    tol = 2.0**-56 * max(scale, _TINY)
    floor = _MIN_BLOCK * (b - a)
    starts = np.linspace(a, b, min_blocks + 1)
    stack = list(zip(starts[-2::-1], starts[:0:-1], strict=True))
    rows: list[tuple[float, float, float, list[float], list[float], float, bool]] = []
    work = 0
    capped = False
    with arb_context():
        while stack:
            lo, hi = stack.pop()
            c = lo + (hi - lo) / 2
            if work >= max_work:
                capped = True
                rows.append((lo, hi, c, [], [], math.inf, True))
                continue
            work += 2 * cost * ARB_WEIGHT
            if len(rows) % 64 == 0:
                _deadline.check()
            rho = max(c - lo, hi - c) * (1 + 4 * U)
            at_c = _series(fn, arb(c), n)
            over = _series(fn, ball(lo, hi), n + 1)
            coeffs = [_coef(at_c, k) for k in range(n)]
            remainder = abs_upper(_coef(over, n))
            if coeffs[0].is_finite():
                # the size of f is what is attained, also where a grid missed it
                scale = max(scale, abs_lower(coeffs[0]))
                tol = 2.0**-56 * max(scale, _TINY)
            ok = all(v.is_finite() for v in coeffs) and remainder * rho**n <= tol
            if ok:
                mids = [float(v.mid()) for v in coeffs]
                rads = [
                    upper(v.rad()) + abs_upper(v.mid() - m)
                    for v, m in zip(coeffs, mids, strict=True)
                ]
                rows.append((lo, hi, c, mids, rads, remainder * (1 + 4 * U), False))
            elif hi - lo <= floor or not lo < c < hi:
                rows.append((lo, hi, c, [], [], math.inf, True))
            else:
                stack += [(c, hi), (lo, c)]
    m = len(rows)
    coef = np.full((m, n), np.nan)
    rad = np.full((m, n), np.inf)
    for i, row in enumerate(rows):
        if not row[6]:
            coef[i], rad[i] = row[3], row[4]
    return LocalPolys(
        edges=np.array([row[0] for row in rows] + [b]),
        centre=np.array([row[2] for row in rows]),
        coef=coef,
        rad=rad,
        rem=np.array([row[5] for row in rows]),
        slack=np.zeros(m),
        rough=np.array([row[6] for row in rows], dtype=bool),
        source=fn,
        scale=scale,
        work=work,
        capped=capped,
        cost=cost,
        sup=sup,
    )


def _series(fn: BallFunc, X: arb, n: int) -> Any:
    """``fn`` on the series ``X + t`` of length ``n``; all NaN where python-flint refuses
    (a series division by a ball that holds 0)."""
    try:
        return fn(arb_series([X, 1], prec=n), False)
    except (ValueError, ZeroDivisionError):
        return arb_series([arb.nan()] * n, prec=n)


def _coef(s: Any, k: int) -> arb:
    """Coefficient ``k`` of a series (a constant function's result is an arb)."""
    if isinstance(s, arb_series):
        return s[k]
    return s if k == 0 else arb(0)


# --- branch and bound ------------------------------------------------------------------------


@dataclass(frozen=True)
class Enclosure:
    """``value ≤ sup |f - g| ≤ upper``; ``value = |f(x) - g(x)|`` up to its own rounding.

    ``tight`` says the requested tolerance was met; otherwise the work cap was reached or
    the cells could not be split further, and ``upper`` is rigorous but wider.
    """

    x: float
    value: float
    upper: float
    tight: bool
    work: int


def sup_abs_difference(
    f: LocalPolys,
    g: LocalPolys,
    domain: tuple[float, float],
    *,
    rtol: float,
    atol: float,
    max_work: int = MAX_WORK,
    exact_at: Callable[[float], arb] | None = None,
    polish: Callable[[Array], Array] | None = None,
) -> Enclosure:
    """Enclose ``sup_{a ≤ x ≤ b} |f(x) - g(x)|`` by branch-and-bound.

    Parameters
    ----------
    f, g : LocalPolys
        The two functions (a target and a model), each covering the domain.
    domain : tuple of float
    rtol, atol : float
        Stop once ``upper - value ≤ max(rtol · value, atol)`` can be guaranteed.
    max_work : int
        Cap on operations (cell evaluations, and Arb evaluations weighted by their size).
    exact_at : callable, optional
        ``x -> ball of f(x) - g(x)`` evaluated exactly (e.g. the model from its float
        weights); used for the final value. Without it the value is the best lower bound
        found by the float evaluations.
    polish : callable, optional
        ``f - g`` in floats on an array: a bounded scalar search on the cell of the best
        point moves it onto the local maximum (the tolerance ends the branch-and-bound
        once the *bound* is close; the value then gets as close as rounding allows). Its
        result is kept only if the exact value there is larger.

    Returns
    -------
    Enclosure
    """
    a, b = domain
    edges = np.union1d(f.edges, g.edges)
    edges = edges[(edges >= a) & (edges <= b)]
    lo, hi = edges[:-1], edges[1:]
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    best, best_x = -1.0, a
    settled = 0.0  # the largest bound of a dropped cell
    work = f.work + g.work
    tight = not (f.capped or g.capped)
    t = np.array([0.25, 0.5, 0.75])

    def tolerance() -> float:
        return max(rtol * max(best, 0.0), atol)

    arb_cost = ARB_WEIGHT * 4 * (f.cost + g.cost)  # one rough cell: 4 ball evaluations
    while lo.size:
        _deadline.check()
        mid = lo + (hi - lo) / 2
        fi, gi = f.cell(mid), g.cell(mid)
        rough = f.rough[fi] | g.rough[gi]
        ub = np.empty(lo.size)
        excess = np.zeros(lo.size)
        # cheap cells: polynomials in float with error bounds
        s = ~rough
        if s.any():
            ub[s], excess[s], (lb, x_lb) = _float_bounds(f, g, lo[s], hi[s], fi[s], gi[s], t)
            if math.isfinite(g.sup):  # a model bounded a priori: never bound it by more
                ub[s] = np.minimum(ub[s], _fallback(f, g, lo[s], hi[s], fi[s], gi[s]))
            if lb > best:
                best, best_x = lb, x_lb
            work += int(s.sum())
        late = []
        for i in np.nonzero(rough)[0]:
            if work >= max_work:  # past the cap: the cheap a-priori bound, rigorous still
                late.append(i)
                continue
            ub[i], lb, x_lb = _arb_bounds(f, g, float(lo[i]), float(hi[i]), int(fi[i]), int(gi[i]))
            work += arb_cost
            if lb > best:
                best, best_x = lb, x_lb
        if late:
            j = np.array(late)
            ub[j] = _fallback(f, g, lo[j], hi[j], fi[j], gi[j])
        ub = np.where(np.isnan(ub), np.inf, ub)
        cut = best + tolerance()
        drop = ub <= cut
        # cells a few ulps wide cannot be split, nor can a model's slack at a piece's end
        # be split away: such cells keep their bound
        width = hi - lo
        stuck = ~drop & (
            (width <= 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))) | (ub - excess <= cut)
        )
        tight = tight and not stuck.any()
        final = drop | stuck
        if work >= max_work:
            final[:] = True
            tight = tight and bool(drop.all())
        if final.any():
            settled = max(settled, float(ub[final].max()))
        lo, hi, width = lo[~final], hi[~final], width[~final]
        if lo.size:
            inner = lo[:, None] + width[:, None] * t
            lo = np.column_stack([lo, inner]).ravel()
            hi = np.column_stack([inner, hi]).ravel()
    value, x = max(best, 0.0), best_x
    if exact_at is not None:
        candidates = [best_x]
        if polish is not None:
            candidates.append(_polish(polish, best_x, f, g))
        with arb_context():
            for c in candidates:
                exact = abs_lower(exact_at(c))
                if exact > value:
                    value, x = exact, c
    upper_bound = max(settled, value)
    if upper_bound - value > max(rtol * value, atol) * (1 + 1e-9):
        tight = False
    return Enclosure(
        x=float(x), value=float(value), upper=float(upper_bound), tight=tight, work=work
    )


def _polish(e: Callable[[Array], Array], x: float, f: LocalPolys, g: LocalPolys) -> float:
    """The local maximum of ``|e|`` near ``x`` on the cell (both polynomials smooth) holding it."""
    from scipy.optimize import minimize_scalar

    edges = np.union1d(f.edges, g.edges)
    j = int(np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2))
    left, right = float(edges[j]), float(edges[j + 1])
    centre = x
    res = minimize_scalar(
        lambda u: -abs(float(e(np.array([centre + u]))[0])),
        bounds=(left - centre, right - centre),
        method="bounded",
        options={"xatol": 4 * U * max(abs(left), abs(right), right - left)},
    )
    return float(np.clip(centre + res.x, left, right))


def _fallback(
    f: LocalPolys,
    g: LocalPolys,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
) -> Array:
    """``sup |f| + sup |g|`` on cells from what costs nothing more: the polynomial's crude
    bound, a small source in Arb, or the whole function's a-priori :attr:`LocalPolys.sup`."""
    parts = []
    for p, i in ((f, fi), (g, gi)):
        bound = p.bound(lo, hi, i, 0) + p.slack[i]
        if p.source is not None and p.cost <= _CHEAP:
            for k in np.nonzero(~np.isfinite(bound))[0]:
                with arb_context():
                    bound[k] = abs_upper(p.source(ball(float(lo[k]), float(hi[k])), False))
        parts.append(np.minimum(bound, p.sup))
    return (parts[0] + parts[1]) * (1 + 4 * U)


def _float_bounds(
    f: LocalPolys,
    g: LocalPolys,
    lo: Array,
    hi: Array,
    fi: NDArray[np.intp],
    gi: NDArray[np.intp],
    t: Array,
) -> tuple[Array, Array, tuple[float, float]]:
    """Upper bounds of ``|f - g|`` on cells, the part of them that is slack (splitting
    cannot remove it), and the best rigorous lower bound at a point.

    Per cell: ``e = f - g`` at both ends and at the quarter points (value and error),
    ``e''`` from its Taylor expansion at the midpoint to second order with a crude bound of
    ``e''''`` over the cell:
    ``sup|e''|/2 ≤ |E₂(m)| + 3 |E₃(m)| ρ + 6 B₄ ρ²`` (``E_k = e^(k)/k!``, ``ρ`` the half width).
    """
    width = hi - lo
    mid = lo + width / 2
    rho = width / 2 * (1 + 4 * U)

    def diff(x: Array, k: int) -> tuple[Array, Array]:
        fv, fe = f.at(x, fi, k)
        gv, ge = g.at(x, gi, k)
        v = fv - gv
        return v, (fe + ge + U * np.abs(v)) * (1 + 4 * U)

    e_lo, err_lo = diff(lo, 0)
    e_hi, err_hi = diff(hi, 0)
    e2, err2 = diff(mid, 2)
    e3, err3 = diff(mid, 3)
    b4 = f.bound(lo, hi, fi, 4) + g.bound(lo, hi, gi, 4)
    half_e2 = np.abs(e2) + err2 + 3 * (np.abs(e3) + err3) * rho + 6 * b4 * rho * rho
    slack = f.near_edge(lo, hi, fi) + g.near_edge(lo, hi, gi)
    ends = np.maximum(np.abs(e_lo) + err_lo, np.abs(e_hi) + err_hi)
    ub = (ends + half_e2 * width * width / 4 + slack) * (1 + 8 * U)
    excess = slack * (1 + 8 * U)
    # lower bounds at the ends and the quarter points
    xs = [lo, hi] + [lo + width * s for s in t]
    best, best_x = -1.0, float(lo[0])
    for j, x in enumerate(xs):
        if j == 0:
            v, e = e_lo, err_lo
        elif j == 1:
            v, e = e_hi, err_hi
        else:
            v, e = diff(x, 0)
        lb = (np.abs(v) - e - slack) * (1 - 4 * U)
        i = int(np.argmax(lb))
        if lb[i] > best:
            best, best_x = float(lb[i]), float(x[i])
    return ub, excess, (best, best_x)


def _arb_bounds(
    f: LocalPolys, g: LocalPolys, lo: float, hi: float, fi: int, gi: int
) -> tuple[float, float, float]:
    """Bounds of ``|f - g|`` on one cell in Arb, for cells without a float polynomial.

    ``e''`` over the cell if it is bounded; else a Lipschitz bound from ``e'``; else the
    range of ``e``. Returns ``(upper bound, lower bound, point of the lower bound)``.
    """
    with arb_context():

        def e(X: Any) -> Any:
            return f.ball_at(X, fi) - g.ball_at(X, gi)

        points = [lo, hi, lo + (hi - lo) / 2]
        values = [e(arb(x)) for x in points]
        lows = [abs_lower(v) for v in values]
        j = int(np.argmax(lows))
        ends = max(abs_upper(values[0]), abs_upper(values[1]))
        try:
            series = e(arb_series([ball(lo, hi), 1], prec=3))
        except (ValueError, ZeroDivisionError):  # a series division by a ball holding 0
            series = arb_series([arb.nan()] * 3, prec=3)
        w = (hi - lo) * (1 + 4 * U)
        bounds = [abs_upper(_coef(series, 0))]
        second = abs_upper(_coef(series, 2))
        if math.isfinite(second):
            bounds.append(ends + 2 * second * w * w / 8)
        first = abs_upper(_coef(series, 1))
        if math.isfinite(first):
            bounds.append((abs_upper(values[0]) + abs_upper(values[1]) + first * w) / 2)
    return min(bounds) * (1 + 8 * U), lows[j], points[j]


# --- derivatives of one function -------------------------------------------------------------


def _derivative_ranges(
    f: LocalPolys, lo: Array, hi: Array, k: int
) -> tuple[Array, Array, Array, Array]:
    """Per cell: ``|f^(k)|`` at the midpoint (value, error) and a bound on its variation.

    ``f^(k)(x) = k!·(F_k(m) + (k+1) F_{k+1}(m) t + C(k+2, 2) F_{k+2}(ξ) t²)`` with
    ``F_j = f^(j)/j!`` and ``|t| ≤ ρ``. Returns ``(value, err, spread, idx)``: ``f^(k)``
    lies within ``value ± (err + spread)`` on the cell.
    """
    mid = lo + (hi - lo) / 2
    rho = (hi - lo) / 2 * (1 + 4 * U)
    idx = f.cell(mid)
    scale = math.factorial(k)
    v, e = f.at(mid, idx, k)
    v1, e1 = f.at(mid, idx, k + 1)
    b2 = f.bound(lo, hi, idx, k + 2)
    spread = (np.abs(v1) + e1) * (k + 1) * rho + math.comb(k + 2, 2) * b2 * rho * rho
    return v * scale, e * scale * (1 + 4 * U), spread * scale * (1 + 8 * U), idx


def _rough_derivative(f: LocalPolys, lo: float, hi: float, k: int) -> arb:
    """Enclosure of ``f^(k)`` over ``[lo, hi]`` from the source in Arb."""
    assert f.source is not None
    with arb_context():
        return _coef(_series(f.source, ball(lo, hi), k + 1), k) * math.factorial(k)


def sup_abs_derivative(
    f: LocalPolys,
    k: int,
    domain: tuple[float, float],
    *,
    rtol: float = 1e-9,
    max_work: int = MAX_WORK,
) -> tuple[float, float]:
    """Enclose ``max |f^(k)|`` over the domain: ``(lower, upper)``; upper is ``inf`` where
    ``f^(k)`` is unbounded (a rough cell whose enclosure is not finite).

    Branch-and-bound on the blocks of ``f``, split in four, pruned against the best value.
    """
    lo, hi = f.edges[:-1].copy(), f.edges[1:].copy()
    best, settled, work = 0.0, 0.0, 0
    while lo.size:
        _deadline.check()
        idx = f.cell(lo + (hi - lo) / 2)
        rough = f.rough[idx]
        ub = np.empty(lo.size)
        shrinks = np.zeros(lo.size)  # the part of a bound that splitting removes
        if (~rough).any():
            v, e, spread, _ = _derivative_ranges(f, lo[~rough], hi[~rough], k)
            ub[~rough] = np.abs(v) + e + spread
            shrinks[~rough] = spread
            best = max(best, float(np.max(np.abs(v) - e)))
        for i in np.nonzero(rough)[0]:
            r = _rough_derivative(f, float(lo[i]), float(hi[i]), k)
            ub[i] = abs_upper(r)
            if not math.isfinite(ub[i]):
                return best, math.inf
        work += lo.size
        cut = best * (1 + rtol)
        tiny = hi - lo <= 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi)))
        final = (ub <= cut) | (shrinks <= rtol * best) | tiny
        if work >= max_work:
            final[:] = True
        if final.any():
            settled = max(settled, float(ub[final].max()))
        lo, hi = lo[~final], hi[~final]
        w = hi - lo
        inner = lo[:, None] + w[:, None] * np.array([0.25, 0.5, 0.75])
        lo = np.column_stack([lo, inner]).ravel()
        hi = np.column_stack([inner, hi]).ravel()
    return best, max(settled, best)


def integral_sqrt_abs_derivative(
    f: LocalPolys, k: int, *, rtol: float = 1e-7, max_work: int = MAX_WORK
) -> tuple[float, float]:
    """Enclose ``∫ |f^(k)|^(1/2)`` over the domain: ``(lower, upper)``.

    Per cell the range of ``f^(k)`` gives lower and upper Riemann sums of the root, and
    where ``f^(k)`` keeps its sign the midpoint rule with its error bound gives a third-
    order tighter pair; the cells contributing most to the gap are split until the gap
    is ``rtol`` of the lower sum or the work cap is hit. A rough cell whose ``f^(k)`` is
    not bounded contributes 0 to the lower sum and makes the upper one infinite.
    """
    lo, hi = f.edges[:-1].copy(), f.edges[1:].copy()
    work = 0
    while True:
        _deadline.check()
        idx = f.cell(lo + (hi - lo) / 2)
        rough = f.rough[idx]
        low, high = np.zeros(lo.size), np.full(lo.size, np.inf)
        splittable = np.zeros(lo.size, dtype=bool)  # whose gap shrinks when split
        if (~rough).any():
            sl, sh = lo[~rough], hi[~rough]
            v, e, spread, idx = _derivative_ranges(f, sl, sh, k)
            splittable[~rough] = spread > e
            a = np.abs(v)
            # first order: the root of the range of |f^(k)| over the cell
            lo1 = np.sqrt(np.maximum(a - e - spread, 0.0))
            hi1 = np.sqrt(a + e + spread)
            # second order, where f^(k) keeps its sign (m > 0): the midpoint rule for
            # g = |f^(k)|^(1/2) errs by at most w²/24 · sup|g''|, with
            # |g''| ≤ |f^(k+2)| / (2 m^(1/2)) + |f^(k+1)|² / (4 m^(3/2))
            m = a - e - spread
            d1 = f.bound(sl, sh, idx, k + 1) * math.factorial(k + 1)
            d2 = f.bound(sl, sh, idx, k + 2) * math.factorial(k + 2)
            with np.errstate(all="ignore"):
                curv = d2 / (2 * np.sqrt(m)) + d1 * d1 / (4 * m * np.sqrt(m))
                rule = (sh - sl) ** 2 / 24 * curv
            mid_lo = np.sqrt(np.maximum(a - e, 0.0)) - rule
            mid_hi = np.sqrt(a + e) + rule
            good = (m > 0) & np.isfinite(rule)
            low[~rough] = np.where(good, np.maximum(mid_lo, lo1), lo1) * (1 - 8 * U)
            high[~rough] = np.where(good, np.minimum(mid_hi, hi1), hi1) * (1 + 8 * U)
        for i in np.nonzero(rough)[0]:
            r = _rough_derivative(f, float(lo[i]), float(hi[i]), k)
            low[i] = math.sqrt(abs_lower(r)) * (1 - 4 * U)
            high[i] = math.sqrt(abs_upper(r)) * (1 + 4 * U)
        w = hi - lo
        lower = float(np.sum(low * w)) * (1 - lo.size * U)
        # rough cells are already as narrow as blocks go: they are never split
        gaps = np.where(rough, 0.0, (high - low) * w)
        upper = lower + float(np.sum((high - low)[rough] * w[rough]) + np.sum(gaps)) * (
            1 + lo.size * U
        )
        work += lo.size
        if np.sum(gaps) <= rtol * lower or work >= max_work:
            return lower, upper
        # split the cells holding half of the gap
        order = np.argsort(gaps)[::-1]
        cum = np.cumsum(gaps[order])
        n_split = int(np.searchsorted(cum, 0.5 * cum[-1])) + 1
        split = np.zeros(lo.size, dtype=bool)
        split[order[:n_split]] = True
        split &= splittable & (w > 8 * np.spacing(np.maximum(np.abs(lo), np.abs(hi))))
        if not split.any():
            return lower, upper
        m = lo[split] + w[split] / 2
        lo = np.concatenate([lo[~split], lo[split], m])
        hi = np.concatenate([hi[~split], m, hi[split]])


# --- models as ball functions ---------------------------------------------------------------


def _sigmoid(u: Any) -> Any:
    return 1 / (1 + (-u).exp())


def _relu_ball(u: Any) -> Any:
    head = _head(u)
    if head > 0:
        return u
    if head < 0:
        return u * 0
    return (
        hull(arb(0), head.upper())
        if not isinstance(u, arb_series)
        else arb_series(
            [hull(arb(0), head.upper()), arb(0, abs_upper(u[1]))] + [arb.nan()] * (u.prec - 2),
            prec=u.prec,
        )
    )


#: activations in ball arithmetic, by the names of :data:`approx.nn.ACTIVATIONS`
BALL_ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "relu": _relu_ball,
    "sigmoid": _sigmoid,
    "tanh": lambda u: 1 - 2 / ((2 * u).exp() + 1),
    "cos": lambda u: u.cos(),
    "identity": lambda u: u,
}


def mlp_ball(net: Any) -> BallFunc:
    """A scalar MLP as a ball function of ``x`` (an arb or arb_series), from its float
    weights exactly: ``O(n_params)`` ball operations per evaluation."""
    sigma = BALL_ACTIVATIONS[net.activation]
    weights = [[[arb(float(v)) for v in row] for row in w] for w in net.weights]
    biases = [[arb(float(v)) for v in b] for b in net.biases]

    def fn(x: Any, strict: Any = False) -> Any:
        z = [x]
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            out = []
            for k in range(len(b)):
                s = b[k]
                for i, zi in enumerate(z):
                    s = s + zi * w[i][k]
                out.append(s if layer == len(weights) - 1 else sigma(s))
            z = out
        return z[0]

    return fn
