"""Ball arithmetic helpers (python-flint's Arb) and the float constants every rigorous
computation shares: Arb's working precision, balls from float intervals, and floats that
are rigorously above or below a ball.

The lowest layer of rigorous arithmetic: it knows nothing of targets, models or
certificates (:mod:`approx.certify` builds those on it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from flint import arb, arb_series, ctx

__all__ = [
    "MIN_BLOCK",
    "N_TERMS",
    "PREC",
    "TINY",
    "U",
    "abs_lower",
    "abs_upper",
    "arb_context",
    "ball",
    "down",
    "extra_precision",
    "from_zero",
    "head",
    "hull",
    "upper",
]

#: unit roundoff of float64
U = 2.0**-53
#: smallest positive subnormal: the absolute rounding error of any operation near 0
TINY = 2.0**-1074
#: Arb working precision (bits): coefficient radii far below float64's rounding
PREC = 80
#: Taylor terms per block (the remainder is the coefficient of order ``N_TERMS``)
N_TERMS = 12
#: blocks narrower than this fraction of the domain get no Taylor model (handled in Arb)
MIN_BLOCK = 2.0**-36
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


def down(v: arb) -> float:
    """The largest float ``≤`` the exact value ``v`` (an arb with radius 0)."""
    f = float(v.mid())
    if not arb(f) <= v:
        f = float(np.nextafter(f, -np.inf))
    return f


def upper(v: arb) -> float:
    """A float ``≥`` every point of the ball (``inf`` for a non-finite ball)."""
    if not v.is_finite():
        return math.inf
    return -down(-v.upper())


def abs_upper(v: arb) -> float:
    """A float ``≥ |ξ|`` for every point ``ξ`` of the ball."""
    if not v.is_finite():
        return math.inf
    return -down(-v.abs_upper())


def abs_lower(v: arb) -> float:
    """A float ``≤ |ξ|`` for every point ``ξ`` of the ball (0 if it holds 0)."""
    if not v.is_finite():
        return 0.0
    return max(down(v.abs_lower()), 0.0)



def hull(lo: arb, hi: arb) -> arb:
    """A ball containing ``[lower(lo), upper(hi)]``."""
    lower, upper = lo.lower(), hi.upper()
    mid = (lower + upper) / 2
    return arb(mid.mid(), ((upper - lower) / 2).upper() + mid.rad())


def from_zero(top: arb) -> arb:
    """A ball containing ``[0, upper(top)]`` (its lower end may dip below 0 by the
    rounding of Arb's radius; signs are decided structurally, see :func:`_nonnegative_node`)."""
    return hull(arb(0), top)



@contextmanager
def extra_precision(bits: int) -> Iterator[None]:
    """Arb's working precision raised by ``bits`` (restored on exit)."""
    saved = ctx.prec
    ctx.prec = saved + bits
    try:
        yield
    finally:
        ctx.prec = saved




def head(u: Any) -> arb:
    """The value ball: ``u`` itself, or the constant coefficient of a series."""
    return u[0] if isinstance(u, arb_series) else u
