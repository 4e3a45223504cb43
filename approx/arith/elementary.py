"""Ball forms of elementary functions that stay finite wherever the function is.

Arb's midpoint-radius balls are tight on narrow arguments but lose the shape of a wide
one: ``exp([-10, 10])`` comes back as ``[-22025, 22027]``, a ball ``[-1, 1]`` times
itself holds ``-1``, and ``1 - 2/(e^{2u} + 1)`` on ``u ∈ [-1e5, 1e5]`` divides by a
ball that holds 0. The forms here are finite and of the right sign on every ball:

- :func:`span` builds the ball of an interval with one end *exact* (the lower end of an
  interval at or above 0, else the upper one), so ``[0, t]`` is certainly ``≥ 0`` and
  ``[1e-300, 1]`` certainly ``> 0``;
- on a *wide* ball (fewer than :data:`WIDE_BITS` correct bits) the arithmetic operations
  and the monotone functions are evaluated at the ball's two ends (:func:`binary`,
  :func:`monotone`), integer powers from the ends with the sign handled
  (:func:`int_power`: even powers of a ball holding 0 start at 0);
- on a series ``X + t`` the constant coefficient is the value ball's form and the others
  come from formulas that cannot divide by 0: ``e^u = e^{u_0} e^{u - u_0}`` with the
  first factor a ball, ``tanh u = (1 - g)/(1 + g)`` with ``g = e^{-2u}``, ``u ≥ 0``
  (:func:`tanh`, :func:`sigmoid`, :func:`softplus`).

A series coefficient that cannot be bounded is NaN (no bound of that order), never a
wrong finite number.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from flint import arb, arb_series, ctx

from approx.arith.balls import hull

__all__ = [
    "CAUCHY",
    "WIDE_BITS",
    "binary",
    "bounded_series",
    "erf",
    "exp",
    "int_power",
    "is_wide",
    "monotone",
    "sigmoid",
    "softplus",
    "span",
    "tanh",
    "with_head",
]

#: a ball with fewer correct bits than this is evaluated from its ends
WIDE_BITS = 8
#: the most bits an exact end of :func:`span` may take (beyond it the end is rounded)
MAX_EXACT_BITS = 1 << 13


def is_wide(u: arb) -> bool:
    """True for a finite ball with fewer than :data:`WIDE_BITS` correct bits (any ball
    around 0 that is not a point)."""
    return u.rel_accuracy_bits() < WIDE_BITS and u.rad() != 0 and u.is_finite()


def _bits(v: arb) -> tuple[int, int]:
    """The exponents of the highest and lowest bit of an exact non-zero ``v``."""
    man, exp = v.man_exp()
    low = int(exp)
    return low + abs(int(man)).bit_length(), low


def _exact_ball(anchor: arb, half: arb, sign: int) -> arb | None:
    """The ball ``(anchor + sign·R) ± R`` with ``R`` the stored radius of ``half``, its
    midpoint exact (so the ball's end at ``anchor`` is ``anchor`` itself); None when that
    would take more than :data:`MAX_EXACT_BITS` bits."""
    radius = half.rad()
    tops, lows = zip(*(_bits(v) for v in (anchor, radius) if not v.is_zero()), strict=True)
    need = max(tops) - min(lows) + 4
    if need > MAX_EXACT_BITS:
        return None
    saved = ctx.prec
    ctx.prec = max(saved, need)
    try:
        mid = anchor + radius if sign > 0 else anchor - radius
        out = mid + half
    finally:
        ctx.prec = saved
    return out if mid.is_exact() else None


def span(lo: arb, hi: arb) -> arb:
    """A ball containing ``[lower(lo), upper(hi)]`` whose lower end is exactly
    ``lower(lo)`` when that is ``≥ 0``, and whose upper end is exactly ``upper(hi)`` when
    the interval is ``≤ 0`` (so the sign of the interval is the sign of the ball)."""
    lo, hi = lo.lower(), hi.upper()
    plain = hull(lo, hi)
    if not (lo.is_finite() and hi.is_finite()) or lo == hi or _same_sign(plain, lo, hi):
        return plain
    half = arb(0, ((hi - lo) / 2).upper())
    top = hi <= 0 and not lo >= 0
    out = _exact_ball(hi, half, -1) if top else _exact_ball(lo, half, 1)
    if out is None and (lo >= 0 or hi <= 0):
        # the end takes too many bits to be exact: keep the sign, at least, with an end
        # at 0
        reach = (hi if lo >= 0 else -lo) / 2
        out = _exact_ball(arb(0), arb(0, reach.upper()), 1 if lo >= 0 else -1)
    return plain if out is None else out


def _same_sign(ball: arb, lo: arb, hi: arb) -> bool:
    """True when ``ball`` is as certainly ``> 0``, ``≥ 0``, ``< 0`` or ``≤ 0`` as the
    interval ``[lo, hi]`` is."""
    if lo > 0:
        return bool(ball > 0)
    if lo == 0:
        return bool(ball >= 0)
    if hi < 0:
        return bool(ball < 0)
    if hi == 0:
        return bool(ball <= 0)
    return True


def _lowest(values: list[arb]) -> arb:
    """The least lower end of the balls (exact arbs compare exactly)."""
    out = values[0].lower()
    for v in values[1:]:
        if v.lower() < out:
            out = v.lower()
    return out


def _highest(values: list[arb]) -> arb:
    out = values[0].upper()
    for v in values[1:]:
        if v.upper() > out:
            out = v.upper()
    return out


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def binary(a: arb, b: arb, op: str) -> arb:
    """``a op b`` (op one of ``+ - * /``) on balls: Arb's own result unless an operand is
    wide and that result holds 0, then the interval operation from the ends, as a
    :func:`span` (``[0, 1] + 1e-300`` is ``> 0``). A divisor that holds 0 gives Arb's own
    (non-finite) result."""
    fn = _OPS[op]
    direct = fn(a, b)
    if direct > 0 or direct < 0 or not (is_wide(a) or is_wide(b)):
        return direct  # the interval's sign is kept (the ends agree to rounding)
    if not (a.is_finite() and b.is_finite()):
        return direct
    if op == "/" and not (b > 0 or b < 0):
        return direct
    if op in "+-":
        if op == "+":
            lo, hi = a.lower() + b.lower(), a.upper() + b.upper()
        else:
            lo, hi = a.lower() - b.upper(), a.upper() - b.lower()
        return span(lo, hi)
    ends = [fn(x, y) for x in (a.lower(), a.upper()) for y in (b.lower(), b.upper())]
    return span(_lowest(ends), _highest(ends))


def monotone(u: arb, f: Callable[[arb], arb], increasing: bool = True) -> arb:
    """``f`` on a ball, for ``f`` monotone on it: Arb's ``f(u)`` unless ``u`` is wide,
    then the :func:`span` of ``f`` at its two ends."""
    if not is_wide(u):
        return f(u)
    lo, hi = f(u.lower()), f(u.upper())
    if not increasing:
        lo, hi = hi, lo
    return span(lo, hi)


def with_head(s: Any, value: arb) -> Any:
    """A series ``s`` with its constant coefficient replaced by ``value`` (another
    enclosure of the same function's values); an arb is replaced outright."""
    if not isinstance(s, arb_series):
        return value
    return arb_series([value] + [s[k] for k in range(1, s.prec)], prec=s.prec)


def _head(u: Any) -> arb:
    return u[0] if isinstance(u, arb_series) else u


def _nan_like(u: arb_series, value: arb) -> arb_series:
    return arb_series([value] + [arb.nan()] * (u.prec - 1), prec=u.prec)


# --- integer powers -------------------------------------------------------------------------


def _point_power(a: arb, k: int) -> arb:
    """``a^k`` for an exact ``a`` and ``k ≥ 0``, with its sign."""
    magnitude = abs(a) ** k
    return -magnitude if (a < 0 and k % 2) else magnitude


def _ball_power(u: arb, k: int) -> arb:
    """``u^k`` on a ball from its ends: monotone for odd ``k``; for even ``k`` of a ball
    holding 0 the lower end is 0."""
    if u.rad() == 0 or not u.is_finite():
        return _point_power(u, k) if u.is_finite() else u**k
    lo, hi = _point_power(u.lower(), k), _point_power(u.upper(), k)
    if k % 2 or u > 0:
        return span(lo, hi)
    if u < 0:
        return span(hi, lo)
    return span(arb(0), _highest([lo, hi]))


def _series_power(u: arb_series, k: int) -> arb_series:
    """``u^k`` by repeated squaring (any size of ``k``)."""
    out = None
    base = u
    while k:
        if k & 1:
            out = base if out is None else out * base
        k >>= 1
        if k:
            base = base * base
    assert out is not None
    return out


def int_power(u: Any, k: int) -> Any:
    """``u^k`` for an integer ``k ≥ 0`` of any size, on an arb or an arb_series: the value
    ball from the ends (:func:`_ball_power`), the series by repeated squaring."""
    if k == 0:
        return u * 0 + 1
    if k == 1:
        return u
    if not isinstance(u, arb_series):
        return _ball_power(u, k)
    return with_head(_series_power(u, k), _ball_power(u[0], k))


# --- exp and the saturating functions ---------------------------------------------------------


def _exp_value(u: arb) -> arb:
    return monotone(u, arb.exp)


def exp(u: Any) -> Any:
    """``e^u``: on a series with a wide value ball, ``e^{u_0} · e^{u - u_0}`` with
    ``e^{u_0}`` the value ball's form, so the coefficients scale with the function's size
    on the ball (Arb's own series holds negative values there)."""
    if not isinstance(u, arb_series):
        return _exp_value(u)
    if not is_wide(u[0]):
        return u.exp()
    value = _exp_value(u[0])
    if not value.is_finite():
        return _nan_like(u, value)
    rest = arb_series([arb(0)] + [u[k] for k in range(1, u.prec)], prec=u.prec).exp()
    return with_head(value * rest, value)


def _tanh_value(u: arb) -> arb:
    return monotone(u, arb.tanh)


#: ``(M, r)`` with ``|f^(j)(y)| / j! ≤ M r^-j`` at every real ``y`` and ``j ≥ 1`` (Cauchy's
#: estimate on the disc of radius ``r``): tanh, ``|tanh z| ≤ tan 1`` where ``|Im z| ≤ 1``;
#: the logistic function ``(1 + tanh(z/2))/2``; erf, ``|erf(a + ib)| ≤ 1 + 2|b|e^{b²}/√π``;
#: arctan, ``|atan^(j)| ≤ (j - 1)!``
CAUCHY = {
    "tanh": (1.5574077246549025, 1.0),  # tan 1 = 1.55740772465490223..., rounded up
    "sigmoid": (1.2787038623274515, 2.0),
    "erf": (4.068, 1.0),
    "atan": (1.0, 1.0),
}


def bounded_series(u: arb_series, out: Any, value: arb, name: str) -> Any:
    """A series of a function with bounded derivatives (:data:`CAUCHY`) composed with
    ``u``, whose value ball is wide: every coefficient is also bounded by the majorant
    ``Σ_j M (V/r)^j`` with ``V = Σ_{i≥1} |u_i| t^i``, so none is NaN or loose where the
    formula ``out`` divided by a wide ball. ``out`` is returned as it is on a narrow
    value ball."""
    if not is_wide(u[0]):
        return out
    m, r = CAUCHY[name]
    n = u.prec
    v = arb_series([arb(0)] + [u[i].abs_upper() / r for i in range(1, n)], prec=n)
    total, power = v, v
    for _ in range(2, n):
        power = power * v
        total = total + power
    coeffs = [value]
    for k in range(1, n):
        bound = arb(0, (m * total[k]).upper()) if total[k].is_finite() else arb.nan()
        c = out[k] if isinstance(out, arb_series) else arb(0)
        if c.is_finite() and bound.is_finite():
            c = c.intersection(bound)
        coeffs.append(c if c.is_finite() else bound)
    return arb_series(coeffs, prec=n)


def _one_sided(u: arb_series, value: arb, form: Callable[[arb_series], Any]) -> Any:
    """``form(u)`` with the value ball ``value`` where ``u``'s is wide; NaN orders where
    python-flint refuses (a wide ball beyond Arb's exponent range)."""
    try:
        out = form(u)
    except (ValueError, ZeroDivisionError):
        return _nan_like(u, value)
    return with_head(out, value) if is_wide(u[0]) else out


def tanh(u: Any) -> Any:
    """``tanh u``, finite on every ball; on a series, ``(1 - g)/(1 + g)`` with
    ``g = e^{-2|u|}`` on the side of the value ball's midpoint (``1 + g ≥ 1``)."""
    if not isinstance(u, arb_series):
        return _tanh_value(u)
    if not u[0].mid() >= 0:
        return -tanh(-u)
    value = _tanh_value(u[0])
    out = _one_sided(u, value, lambda v: (1 - exp(-2 * v)) / (1 + exp(-2 * v)))
    return bounded_series(u, out, value, "tanh")


def sigmoid(u: Any) -> Any:
    """The logistic function ``1/(1 + e^{-u})``, finite on every ball; on a series,
    ``1/(1 + g)`` or ``g/(1 + g)`` with ``g = e^{-|u|}`` on the side of the value ball's
    midpoint."""
    if not isinstance(u, arb_series):
        return monotone(u, _logistic_point)
    value = monotone(u[0], _logistic_point)
    if u[0].mid() >= 0 or not is_wide(u[0]):  # e^{-u} finite on a narrow ball
        out = _one_sided(u, value, lambda v: 1 / (1 + exp(-v)))
    else:
        out = _one_sided(u, value, lambda v: exp(v) / (1 + exp(v)))
    return bounded_series(u, out, value, "sigmoid")


def _logistic_point(v: arb) -> arb:
    """``1/(1 + e^{-v})`` on a narrow ball; ``e^v/(1 + e^v)`` where ``e^{-v}`` is beyond
    Arb's range."""
    out = 1 / (1 + (-v).exp())
    if out.is_finite():
        return out
    w = v.exp()
    return w / (1 + w)


def _softplus_point(u: arb) -> arb:
    """``log(1 + e^u)`` on a narrow ball, tight at any finite argument."""
    if u > 0:  # e^u may be huge: σ(u) = u + σ(−u)
        return u + (-u).exp().log1p()
    return u.exp().log1p()


def softplus(u: Any) -> Any:
    """``log(1 + e^u)``, finite on every finite ball; on a series,
    ``max(u, 0) + log(1 + e^{-|u|})`` on the side of the value ball's midpoint."""
    if not isinstance(u, arb_series):
        return monotone(u, _softplus_point)
    value = monotone(u[0], _softplus_point)
    try:
        if u[0].mid() >= 0:
            out = u + (1 + exp(-u)).log()
        else:
            out = (1 + exp(u)).log()
    except (ValueError, ZeroDivisionError):
        return _nan_like(u, value)
    return with_head(out, value)


def erf(u: Any) -> Any:
    """The error function: Arb's series, with the value ball from the ends."""
    if not isinstance(u, arb_series):
        return monotone(u, arb.erf)
    value = monotone(u[0], arb.erf)
    return bounded_series(u, with_head(u.erf(), value), value, "erf")
