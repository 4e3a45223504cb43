"""A Chebyshev series as certified cells, for the branch-and-bound
(:func:`approx.certify.branch_bound.sup_abs_difference`).

A series of ``d`` terms is one polynomial of degree ``d - 1``; Taylor models of it need
blocks of width ``O(1/d²)`` and cost ``O(d)`` ball operations each, which is why they
cannot certify a converged interpolant. :class:`ChebyshevPolys` gives the
branch-and-bound what it asks of a model instead, at any ``d``:

- point values of ``p^(k)/k!`` by Clenshaw's recurrence in floats over many points at
  once, with a rigorous error bound. The rounding error ``η_j`` committed at step ``j``
  reaches the result multiplied by ``T_j(τ)`` (the recurrence's error equation is solved
  by Chebyshev polynomials of the second kind, and the last step turns them into
  ``τ U_{j-1} - U_{j-2} = T_j``), so ``|error| ≤ Σ_j |η_j|`` with no growth in ``d``.
  The derivative series ``s^k p^(k)/k!`` (``s = 2/(b - a)``) are computed once in Arb.
- bounds of ``|p^(k)|/k!`` over a cell by Cauchy's estimate on a disc around it: the disc
  lies inside a Bernstein ellipse ``E_r``, on which ``|T_j| ≤ r^j``, so
  ``|p^(k)(ξ)|/k! ≤ Σ_j |c_j| r^j / (R - ρ)^k`` for ``ξ`` within ``ρ`` of the disc's
  centre and ``R`` its radius; the best of a ladder of ``r`` is kept. Inside the interval
  the disc may be ``√(1 - t²)`` times wider than at its ends, as Bernstein's inequality
  says the polynomial is smoother there.
- where the floats' rounding is what stands between the bounds, values in
  double-double (:meth:`ChebyshevPolys.precise`: error of order ``u |p|``, not
  ``u Σ|c_j|``), and the exact series in Arb (:meth:`ChebyshevPolys.ball_at`).

The map ``t = (2x - a - b)/(b - a)`` is computed in double-double, ``τ + τ_lo``, with
error-free sums and products; values at ``τ`` are corrected to first order by
``τ_lo · p'(τ)``, and the rest (``δ``, of order ``u² |τ|``, and the second-order term)
is bounded by Cauchy's estimate nearby. On ``[-h, h]`` with ``2h`` a power of two the
map is exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx.arith.balls import TINY, U, arb_context, ball, extra_precision, upper
from approx.arith.eft import two_product, two_sum
from approx.certify.taylor import EndValues
from approx.core import deadline
from approx.models.baselines import ChebyshevModel

__all__ = ["COMPILED_FROM", "ChebyshevPolys", "chebyshev_ball", "clenshaw_point"]

Array = NDArray[np.float64]

#: derivative orders prepared: the branch-and-bound asks for values of orders below
#: its ``ORDER`` (6), each with the next one for the rounding of ``t``, and a global
#: bound one further
_ORDERS = 6
#: Bernstein-ellipse parameters tried by the Cauchy bound: ``r = 1 + 2^e``
_LADDER = 1.0 + 2.0 ** np.arange(-40.0, 4.5)
#: ``A = r + 1/r - 2 = (r - 1)²/r`` for each, rounded down (``r - 1`` is exact for r ≤ 2)
_ROOM = (_LADDER - 1) ** 2 / _LADDER * (1 - 8 * U)
#: cells per term at the start: equal angles ``θ``, ``t = -cos θ``
_CELLS_PER_TERM = 2


def chebyshev_ball(model: ChebyshevModel) -> Callable[..., Any]:
    """The series as a ball function: ``p`` in Arb at ``x`` (an arb or arb_series), the
    real polynomial the stored coefficients define, by Clenshaw's recurrence (``d`` ball
    operations). The map to ``[-1, 1]`` is exact, not rounded.

    At a point of the domain the result is as tight as the working precision
    (:func:`clenshaw_point`); on a ball or a series, Arb's radii grow with the
    recurrence (up to ``(1 + √2)^d`` near the ends): rigorous, often loose.
    """
    a, b = model.domain
    coef = model.coef
    # max |p'| on [-1, 1] ≤ Σ j² |c_j| (Markov), in Arb: no overflow
    markov = sum((abs(arb(float(c))) * j * j for j, c in enumerate(coef)), arb(0))

    def source(x: Any, strict: Any = False) -> Any:
        if isinstance(x, arb) and x.is_exact():
            with extra_precision(64):  # t to far below the working precision
                t = (2 * x - (arb(a) + arb(b))) / (arb(b) - arb(a))
            if abs(t) <= 1:
                return clenshaw_point(coef, t, markov)
        t = (2 * x - (arb(a) + arb(b))) / (arb(b) - arb(a))
        b1, b2 = arb(0) * t, arb(0) * t
        for c in coef[:0:-1]:
            b1, b2 = 2 * t * b1 - b2 + arb(float(c)), b1
        return t * b1 - b2 + arb(float(coef[0]))

    return source


def clenshaw_point(coef: Any, t: arb, markov: float | arb) -> arb:
    """``Σ_j coef_j T_j(t)`` in Arb at ``t`` in ``[-1, 1]`` (a ball of tiny radius).

    Clenshaw's recurrence run on exact midpoints: each step's rounding ``η_j`` (the radius
    Arb gives it) is set aside and the step continues from the midpoint. The recurrence's
    error equation carries ``η_j`` to the result times ``T_j(t)``, ``|T_j| ≤ 1``, so the
    result lies within ``Σ_j |η_j|`` (no growth with the degree, unlike Arb's own radii,
    which ignore the cancellation); ``t``'s radius costs ``markov`` (``≥ max |p'|`` on
    ``[-1, 1]``, e.g. ``Σ_j j² |c_j|``) times it. ``coef`` holds floats or arbs; an arb's
    radius counts once (``|T_j| ≤ 1``).
    """
    tm = arb(t.mid())
    if abs(tm) > 1:
        tm = arb(1) if tm > 0 else arb(-1)
    eta = arb(t.rad()) * arb(markov)  # |p(t) - p(tm)| ≤ |t - tm| max |p'|
    b1, b2 = arb(0), arb(0)
    for c in coef[:0:-1]:
        v = 2 * tm * b1 - b2 + (c if isinstance(c, arb) else arb(float(c)))
        eta += v.rad()
        b1, b2 = arb(v.mid()), b1
    y = tm * b1 - b2 + (coef[0] if isinstance(coef[0], arb) else arb(float(coef[0])))
    eta += y.rad()
    return arb(y.mid(), eta.upper())


class ChebyshevPolys:
    """The cells of a :class:`~approx.models.baselines.ChebyshevModel` (see the module docstring).

    Provides what :func:`~approx.certify.branch_bound.sup_abs_difference` uses of a model:
    ``edges``, ``cell``, ``at``, ``bound``, ``near_edge``, ``ball_at`` and the attributes
    of :class:`~approx.certify.taylor.LocalPolys` (no cell is rough, none has slack).

    Parameters
    ----------
    model : ChebyshevModel
    """

    def __init__(self, model: ChebyshevModel) -> None:
        a, b = model.domain
        self.model = model
        self.domain = (a, b)
        d = model.coef.size
        theta = np.pi * np.arange(_CELLS_PER_TERM * d + 1) / (_CELLS_PER_TERM * d)
        x = a + (1.0 - np.cos(theta)) * ((b - a) / 2)
        self.edges = np.unique(np.clip(np.concatenate([[a], x, [b]]), a, b))
        m = self.edges.size - 1
        self.rough = np.zeros(m, dtype=bool)
        self.slack = np.zeros(m)
        self.capped = False
        self.source = chebyshev_ball(model)
        self.cost = int(d)
        #: operations per cell evaluated in floats, in units of a 12-term polynomial's
        #: (seven Clenshaw passes of d steps each, vectorized over the cells)
        self.float_cost = max(1, d // 16)
        #: the work cap grows with the degree (a series of d terms costs d per point)
        self.cap_scale = max(1, d // 128)
        self.sup = model.term_size * (1 + 4 * d * U) + d * TINY
        self.scale = self.sup
        self._series, self._rad, self._sums, self._balls = _derivative_series(model, _ORDERS + 1)
        self.work = int(d * (_ORDERS + 1) * 4)
        self._ladder_sums = _band_sums(model.coef)
        # a + b and b - a rounded: their exact errors (TwoSum), often 0
        w = b - a
        self._map_error = (abs(two_sum(a, b)[1]) / w, abs(two_sum(b, -a)[1]) / w)
        self._exact_map = _exact_map(a, b)
        self._cache: tuple[Array, Array, Array] | None = None
        self._values = EndValues(lambda x: self._orders(x, 1))

    # --- the map to [-1, 1] -------------------------------------------------------------

    def _t(self, x: Array) -> tuple[Array, Array]:
        """``τ ≈ t(x)`` clipped to ``[-1, 1]`` and a bound ``δ ≥ |τ - t(x)|``."""
        tau, tau_lo, delta = self._t2(x)
        return tau, np.abs(tau_lo) + delta

    def _t2(self, x: Array) -> tuple[Array, Array, Array]:
        """``t(x)`` in double-double: ``τ`` (clipped to ``[-1, 1]``), a correction ``τ_lo``
        and a bound ``δ ≥ |t(x) - τ - τ_lo|`` (of order ``u² |τ|``; where the error-free
        products would overflow, ``τ_lo = 0`` and ``δ`` bounds the plain rounding)."""
        a, b = self.domain
        x = np.asarray(x, dtype=np.float64)
        if self._exact_map:
            tau = np.clip((2 * x) / (b - a), -1.0, 1.0)
            return tau, np.zeros_like(tau), np.zeros_like(tau)
        s_hi, s_lo = two_sum(np.float64(a), np.float64(b))  # a + b = s_hi + s_lo
        w_hi, w_lo = two_sum(np.float64(b), np.float64(-a))  # b - a = w_hi + w_lo
        n_hi, n_lo = two_sum(2 * x, -s_hi)  # 2x - s_hi = n_hi + n_lo
        with np.errstate(all="ignore"):
            tau = n_hi / w_hi
            p_hi, p_lo = two_product(tau, np.full_like(tau, w_hi))
            rest = (n_hi - p_hi) - p_lo  # n_hi - τ w_hi: the first difference is exact
            parts = np.abs(rest) + np.abs(n_lo) + abs(s_lo) + np.abs(tau * w_lo)
            tau_lo = (((rest + n_lo) - s_lo) - tau * w_lo) / w_hi
            # (and the products' low parts may underflow: a few subnormal units over w)
            delta = (5 * U * parts / w_hi + 3 * U * np.abs(tau_lo)) * (1 + 8 * U)
            delta = delta + 16 * TINY / w_hi + 4 * TINY
        # where the split overflowed (|x| near the largest floats): the plain bound
        rel_s, rel_w = self._map_error
        plain = (rel_s + (2 * U + rel_w) * np.abs(tau)) * (1 + 8 * U) + 4 * TINY
        bad = ~(np.isfinite(tau_lo) & np.isfinite(delta))
        tau_lo = np.where(bad, 0.0, tau_lo)
        delta = np.where(bad, plain, delta)
        # clipping to [-1, 1], where t lies, moves τ towards t: fold the change into τ_lo
        clipped = np.clip(tau, -1.0, 1.0)
        tau_lo = tau_lo + (tau - clipped)  # |τ - clipped| is a few ulps, exact
        return clipped, tau_lo, delta + 2 * U * np.abs(tau_lo)

    # --- what the branch-and-bound asks ---------------------------------------------------

    def cell(self, x: Array) -> NDArray[np.intp]:
        """Index of the cell holding each point (the left one at a shared edge)."""
        i = np.searchsorted(self.edges, x, side="left") - 1
        return np.clip(i, 0, self.edges.size - 2)

    def at(self, x: Array, idx: NDArray[np.intp] | None, k: int) -> tuple[Array, Array]:
        """``p^(k)(x)/k!`` at points ``x`` of the domain (value and a rigorous error bound;
        the bound rests on ``|T_j| ≤ 1``, so points outside are refused); ``idx`` is not
        needed: the series is one polynomial. Shapes: ``x`` (m,) → two (m,). The orders
        of one set of points are computed together (and kept for the next call) once an
        order above 0 is asked for; values reuse the points of the previous call (a
        cell's right end is the next one's left end)."""
        if k > _ORDERS - 1:
            raise ValueError(f"derivative order {k} > {_ORDERS - 1} is not prepared")
        x = self._inside(x)
        if self._cache is not None:
            cx, values, errors = self._cache
            if cx.shape == x.shape and np.array_equal(cx, x):
                return values[k], errors[k]
        if k == 0:
            return self._values(x)
        values, errors = self._orders(x, _ORDERS)
        self._cache = (x.copy(), values, errors)
        return values[k], errors[k]

    def _orders(self, x: Array, n: int) -> tuple[Array, Array]:
        """``p^(k)(x)/k!`` for ``k < n`` with error bounds, shapes (n, m): one pass of the
        recurrence over the ``n`` (or, for the rounding of ``t``, ``n + 1``) series."""
        tau, tau_lo, delta = self._t2(x)
        if not (np.any(delta) or np.any(tau_lo)):
            value, err = _clenshaw(self._series[:n], tau)
            return value, err + self._rad[:n, None]
        value, err = _clenshaw(self._series[: n + 1], tau)
        err = err + self._rad[: n + 1, None]
        out = [
            self._shifted(x, k, tau_lo, delta, value[k], err[k], value[k + 1], err[k + 1])
            for k in range(n)
        ]
        return np.array([v for v, _ in out]), np.array([e for _, e in out])

    def evaluate(self, x: Array) -> Array:
        """``p`` at points of the domain in floats (the compiled recurrence where numba
        is installed): the fast evaluation of the final local search."""
        x = np.clip(np.asarray(x, dtype=np.float64), *self.domain)
        return self._orders(x, 1)[0][0]

    def _inside(self, x: Array) -> Array:
        """``x`` as floats, refused unless every point lies in the domain (the bounds rest
        on ``|T_j| ≤ 1``)."""
        x = np.asarray(x, dtype=np.float64)
        a, b = self.domain
        if not np.all((x >= a) & (x <= b)):
            raise ValueError(f"points outside the series' domain [{a!r}, {b!r}]")
        return x

    def _shifted(
        self,
        x: Array,
        k: int,
        tau_lo: Array,
        delta: Array,
        value: Array,
        err: Array,
        q_next: Array,
        q_err: Array,
    ) -> tuple[Array, Array]:
        """``Q_k(t)`` at ``t = τ + τ_lo ± δ`` from ``Q_k(τ) = value ± err`` and
        ``Q_{k+1}(τ) = q_next ± q_err``, and its error bound.

        With ``Q_k' = (k + 1)/s · Q_{k+1}`` (``s = 2/(b - a)``), to first order:
        ``Q_k(t) = Q_k(τ) + τ_lo Q_k'(τ) ± (δ sup|Q_k'| + (|τ_lo| + δ)²/2 sup|Q_k''|)``,
        the sups over ``[τ - |τ_lo| - δ, τ + |τ_lo| + δ]``, where ``Q_{k+1}`` stays within
        ``(|τ_lo| + δ)(k + 2)/s · sup|Q_{k+2}|`` of its value at ``τ`` (Cauchy, on the
        x-interval that the t-interval is).
        """
        half = (self.domain[1] - self.domain[0]) / 2
        inv_s = half * (1 + 2 * U)
        far = np.abs(tau_lo) + delta
        reach = far * inv_s * (1 + 4 * U)
        top = self.bound(x - reach, x + reach, None, k + 2)  # sup|Q_{k+2}| nearby
        with np.errstate(all="ignore"):  # overflow: an infinite bound, the caller's signal
            slope = (k + 1) * half * q_next  # Q_k'(τ), rounded
            slope_err = (k + 1) * inv_s * q_err + 4 * U * np.abs(slope)
            step = tau_lo * slope
            q1 = np.abs(q_next) + q_err + _times(far * (k + 2) * inv_s, top)
            bound1 = (k + 1) * inv_s * q1  # sup|Q_k'| nearby
            bound2 = (k + 1) * (k + 2) * inv_s * inv_s * top  # sup|Q_k''| nearby
            extra = (
                _times(np.abs(tau_lo), slope_err)
                + 2 * U * np.abs(step)
                + _times(delta, bound1)
                + _times(far * far / 2, bound2)
            )
            total = value + step
            err_total = err + extra + U * np.abs(total)
        return total, err_total * (1 + 8 * U)

    def bound(self, lo: Array, hi: Array, idx: NDArray[np.intp], k: int) -> Array:
        """An upper bound of ``|p^(k)(ξ)|/k!`` for ``ξ`` in ``[lo, hi]`` ∩ the domain:
        Cauchy's estimate on the widest disc inside a Bernstein ellipse (see the module
        docstring)."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        if k == 0:
            return np.full(lo.shape, self.sup)
        if k <= _ORDERS and k < self.model.coef.size:
            whole = np.full(lo.shape, self._sums[k])  # Σ|coefficients of s^k p^(k)/k!|
        elif k >= self.model.coef.size:
            return np.zeros(lo.shape)
        else:
            whole = np.full(lo.shape, np.inf)
        t_lo, d_lo = self._t(lo)
        t_hi, d_hi = self._t(hi)
        t_lo = np.maximum(t_lo - d_lo * (1 + 2 * U), -1.0)
        t_hi = np.minimum(t_hi + d_hi * (1 + 2 * U), 1.0)
        m = t_lo + (t_hi - t_lo) / 2
        rho = np.maximum(m - t_lo, t_hi - m) * (1 + 4 * U) + TINY
        am = np.minimum(np.abs(m), 1.0)
        # E_r is |z - 1| + |z + 1| ≤ r + 1/r = 2 + A. A disc of radius R about m lies in it
        # if 2 + 2R ≤ 2 + A, or (inside (-1, 1)) if 2 + R²/(1 - |m| - R) ≤ 2 + A, whose
        # root is R = 2 A (1 - |m|) / (A + √(A² + 4 A (1 - |m|)))
        big = _ROOM[None, :]
        room = (1 - am)[:, None]
        wide = big / 2
        with np.errstate(over="ignore", invalid="ignore"):
            inner = 2 * big * room / (big + np.sqrt(big * big + 4 * big * room))
        radius = np.fmax(wide, inner) * (1 - 16 * U)

        gap = radius - rho[:, None] * (1 + 4 * U)
        total = np.zeros(lo.shape)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lift = np.where(gap > 0, gap ** float(-k), np.inf)  # (cells, ladder)
            # each band of terms takes its own best ellipse; the bands' bounds add up
            for sums in self._ladder_sums:
                ok = np.isfinite(sums)
                if sums[ok].any():
                    total += np.min(lift[:, ok] * sums[ok], axis=1)
        total = total * (1 + 4 * U * (len(self._ladder_sums) + k))
        with np.errstate(over="ignore", under="ignore"):
            # s^k in t-to-x units, rounded up (an absolute term where it is subnormal)
            scale = np.float64(2 / (self.domain[1] - self.domain[0])) ** k
            scale = scale * (1 + 4 * (k + 1) * U) + (k + 1) * TINY
            found = total * scale * (1 + 1e-12) + TINY
        return np.fmin(np.where(np.isnan(found), np.inf, found), whole)

    def precise(self, x: Array) -> tuple[Array, Array]:
        """``p(x)`` at points of the domain with an error bound of order ``u |p| + u² Σ``:
        Clenshaw's recurrence in double-double (:func:`_clenshaw_dd`), for the cells
        whose float rounding is all that keeps them open. Shapes: (m,) → two (m,)."""
        x = self._inside(x)
        tau, tau_lo, delta = self._t2(x)
        hi, lo, err = _clenshaw_dd(self._series[0], tau)
        with np.errstate(all="ignore"):
            value = hi + lo
            err = err + U * np.abs(value)
        if np.any(delta) or np.any(tau_lo):  # first order in τ_lo, as in :meth:`at`
            slope, slope_err = _clenshaw(self._series[1:2], tau)
            value, err = self._shifted(
                x, 0, tau_lo, delta, value, err, slope[0], slope_err[0] + self._rad[1]
            )
        else:
            err = err * (1 + 8 * U)
        return value, np.where(np.isfinite(value), err, np.inf)

    def near_edge(self, lo: Array, hi: Array, idx: NDArray[np.intp]) -> Array:
        """No slack: the series is evaluated as the polynomial it is."""
        return np.zeros(np.shape(lo))

    def point_cell(self, i: int) -> int:
        """-1: :meth:`ball_at` at a point does not depend on the cell it is asked for."""
        return -1

    def ball_at(self, X: Any, i: int) -> Any:
        """The series in Arb at ``X``: an arb, or the arb_series ``x + h`` with ``x`` a
        ball in the domain. Each coefficient ``p^(k)(x)/k!`` is its own derivative series
        at the ball's centre ``m`` by :func:`clenshaw_point` (as tight
        as the working precision), widened by ``ρ (k + 1) sup|p^(k+1)|/(k + 1)!`` over
        the ball (:meth:`bound`), ``ρ`` its radius: no growth with the degree."""
        series = isinstance(X, arb_series)
        coeffs = X.coeffs() if series else [X]
        length = X.prec if series else 1
        plain = len(coeffs) == 1 or (len(coeffs) == 2 and coeffs[1] == 1)
        a, b = self.domain
        if not (plain and length < self._sums.size and coeffs[0].is_finite()):
            return self.source(X)
        x = coeffs[0]
        lo, hi = -upper(-x.lower()), upper(x.upper())  # rounded outwards
        # a cell's ball may reach past the domain by its rounding: the enclosure is of
        # the points of the domain (the only ones the branch-and-bound asks about)
        lo, hi = max(lo, a), min(hi, b)
        if not lo <= hi:
            return self.source(X)
        if lo < hi:
            x = ball(lo, hi)
        mid = arb(x.mid())
        with extra_precision(64):
            t = (2 * mid - (arb(a) + arb(b))) / (arb(b) - arb(a))
        if not abs(t) <= 1:
            return self.source(X)
        inv_s = (b - a) / 2 * (1 + 2 * U)
        edge_lo, edge_hi = np.array([lo]), np.array([hi])
        terms = []
        for k in range(length):
            if k >= len(self._balls):  # past the degree
                terms.append(arb(0))
                continue
            # max |dQ_k/dt| ≤ (k + 1)/s · Σ|Q_{k+1} coefficients|
            term = clenshaw_point(self._balls[k], t, (k + 1) * inv_s * self._sums[k + 1])
            if not x.is_exact():
                slope = float(self.bound(edge_lo, edge_hi, None, k + 1)[0]) * (k + 1)
                term = term + arb(0, upper(arb(slope) * x.rad()))
            terms.append(term)
        return arb_series(terms, prec=length) if series else terms[0]


def _times(small: Array, big: Array) -> Array:
    """``small · big`` for error terms: 0 where ``small`` is 0 (whatever ``big``)."""
    return np.where(small == 0, 0.0, small * big)


def _exact_map(a: float, b: float) -> bool:
    """Whether ``(2x - (a + b)) / (b - a)`` is exact in floats for every float ``x`` in
    ``[a, b]``: the domain ``[-h, h]`` with ``2h`` a power of two, far from underflow."""
    if a != -b or b <= 0:
        return False
    mantissa, _ = math.frexp(b - a)
    return mantissa == 0.5 and b > 2.0**-900


def _band_sums(coef: Array) -> Array:
    """``Σ_{j in band} |c_j| r^j`` for each dyadic band of terms (``[0, 8)``, ``[8, 16)``,
    ``[16, 32)``, …) and each ``r`` of the ladder, rounded up; shape (bands, ladder).

    Split in bands, a series whose low terms carry the function and whose high terms are
    rounding noise gets a wide ellipse for the former and a thin one for the latter,
    instead of the thin one for all.
    """
    d = coef.size
    starts = [0] + [1 << e for e in range(3, max(3, d.bit_length()))]
    stops = [*starts[1:], d]
    sums = []
    with np.errstate(over="ignore", invalid="ignore"):
        for lo, hi in zip(starts, stops, strict=True):
            if lo >= hi:
                continue
            s = np.zeros(_LADDER.size)
            for c in np.abs(coef[lo:hi])[::-1]:  # Horner on non-negative terms
                s = s * _LADDER + c
            s = s * _LADDER**lo  # r^lo: exact powers of r are not needed, a bound is
            sums.append(s * (1 + (2 * d + 8) * U) + d * TINY)
    return np.nan_to_num(np.array(sums), nan=np.inf)


def _derivative_series(
    model: ChebyshevModel, orders: int
) -> tuple[Array, Array, Array, list[list[arb]]]:
    """Chebyshev coefficients of ``Q_k = s^k p^(k)/k!`` (in ``t``) for ``k ≤ orders``.

    Returns the coefficients rounded to floats (shape ``(orders + 1, d)``, zero-padded),
    a bound of their rounding summed over each series (``Σ_j |error_j|``, which bounds
    the error at any ``t`` in ``[-1, 1]``), ``Σ_j |Q_k coefficients|`` rounded up, and
    the coefficients as balls.
    """
    a, b = model.domain
    d = model.coef.size
    mids = np.zeros((orders + 1, d))
    rads = np.zeros(orders + 1)
    sums = np.zeros(orders + 1)
    balls: list[list[arb]] = []
    with arb_context():
        s = arb(2) / (arb(b) - arb(a))
        c = [arb(float(v)) for v in model.coef]
        for k in range(orders + 1):
            if not c:
                break
            deadline.check()  # each order costs O(d) ball operations
            balls.append(c)
            mid = np.array([float(v.mid()) for v in c])
            mids[k, : mid.size] = mid
            rads[k] = sum(
                upper(v.rad()) + upper(abs(v.mid() - arb(m))) for v, m in zip(c, mid, strict=True)
            )
            sums[k] = upper(sum((abs(v) for v in c), arb(0)))
            # derivative in t: c'_{j-1} = c'_{j+1} + 2 j c_j, then c'_0 / 2; times s/(k+1)
            n = len(c)
            der = [arb(0)] * (n + 1)
            for j in range(n - 1, 0, -1):
                der[j - 1] = der[j + 1] + 2 * j * c[j]
            der[0] = der[0] / 2
            factor = s / (k + 1)
            c = [v * factor for v in der[: n - 1]]
    return mids, rads * (1 + 4 * U), sums, balls


def _clenshaw_dd(coef: Array, tau: Array) -> tuple[Array, Array, Array]:
    """``Σ_j coef_j T_j(τ)`` (``|τ| ≤ 1``) by Clenshaw's recurrence in double-double:
    ``b_j`` kept as ``hi + lo``, the products ``2τ · hi`` and the sums error-free (Dekker,
    TwoSum), only the low parts' arithmetic rounded. Each step's error ``η_j`` is a few
    rounding units of its low parts, ``O(u² |b_j|)``, and reaches the result times
    ``T_j(τ)`` as in :func:`_clenshaw`. Returns ``hi``, ``lo`` and the bound ``Σ_j |η_j|``
    of ``|hi + lo - Σ_j coef_j T_j(τ)|`` (shapes (m,))."""
    d = coef.size
    zeros = np.zeros(tau.size)
    b1h, b1l, b2h, b2l, eta = zeros, zeros, zeros, zeros, zeros.copy()
    with np.errstate(all="ignore"):
        for j in range(d - 1, -1, -1):
            if j % 512 == 0:
                deadline.check()
            factor = 2 * tau if j > 0 else tau  # the last step: τ b_1 - b_2 + c_0
            p_h, p_l = two_product(factor, b1h)
            cross = factor * b1l
            s_h, s_l = two_sum(np.full(tau.size, coef[j]), p_h)
            b_h, e = two_sum(s_h, -b2h)
            t1 = p_l + cross
            t2 = t1 + s_l
            t3 = t2 + e
            low = t3 - b2l
            b_h, b_l = two_sum(b_h, low)
            eta += np.abs(cross) + np.abs(t1) + np.abs(t2) + np.abs(t3) + np.abs(low)
            b1h, b1l, b2h, b2l = b_h, b_l, b1h, b1l
        err = 1.01 * U * eta + 8 * (d + 1) * TINY
    return b1h, b1l, err


#: terms from which the compiled recurrence is used (the numpy loop's cost per step is
#: then mostly its overhead; below, a short run does not pay for loading numba)
COMPILED_FROM = 512


@functools.cache
def _compiled() -> Callable[[Array, Array], tuple[Array, Array]] | None:
    """The compiled recurrence (:mod:`approx.certify._clenshaw_numba`), or None without
    numba."""
    try:
        from approx.certify._clenshaw_numba import clenshaw_sums
    except ImportError:  # numba is optional: the numpy loop
        return None
    return clenshaw_sums


def _clenshaw(series: Array, tau: Array) -> tuple[Array, Array]:
    """``Σ_j series[i, j] T_j(τ)`` for each row ``i`` and point ``τ`` (``|τ| ≤ 1``), and a
    bound of the rounding error of Clenshaw's recurrence: ``Σ_j |η_j|`` (see the module
    docstring), each ``η_j`` at most a rounding unit of the step's three results.

    Shapes: ``series`` (K, d), ``tau`` (m,) → two (K, m).
    """
    K, d = series.shape
    if d >= COMPILED_FROM and (kernel := _compiled()) is not None:
        y, mu = kernel(np.ascontiguousarray(series), np.ascontiguousarray(tau))
        err = (1.01 * U * mu + 3 * (d + 1) * TINY) * (1 + 4 * U)
        return y, np.where(np.isfinite(y), err, np.inf)
    two_tau = 2 * tau
    b1 = np.zeros((K, tau.size))
    b2 = np.zeros((K, tau.size))
    mu = np.zeros((K, tau.size))
    with np.errstate(all="ignore"):  # an overflow gives inf or NaN: the caller's signal
        for j in range(d - 1, 0, -1):
            if j % 512 == 0:  # at large d and many points one call takes seconds
                deadline.check()
            p = two_tau * b1
            s = series[:, j : j + 1] + p
            b = s - b2
            mu += np.abs(p) + np.abs(s) + np.abs(b)
            b1, b2 = b, b1
        p = tau * b1
        s = series[:, 0:1] + p
        y = s - b2
        mu += np.abs(p) + np.abs(s) + np.abs(y)
        err = (1.01 * U * mu + 3 * (d + 1) * TINY) * (1 + 4 * U)
    return y, np.where(np.isfinite(y), err, np.inf)
