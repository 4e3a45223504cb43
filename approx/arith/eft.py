"""Error-free transformations of floats: sums and products kept exactly as two floats.

Knuth's TwoSum and the Veltkamp–Dekker product (no fused multiply-add needed), on
numpy arrays or scalars. They are exact barring overflow: ``split`` needs
``|a| < 2^996``; callers that may exceed it check for non-finite results.
"""

from __future__ import annotations

from typing import Any

__all__ = ["split", "two_product", "two_sum"]

#: Veltkamp's splitting constant 2^27 + 1 (halves of 26 bits)
SPLITTER = 134217729.0


def two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """``s = fl(a + b)`` and ``e`` with ``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a: Any) -> tuple[Any, Any]:
    """``a = hi + lo`` exactly, each of at most 26 significant bits (Veltkamp)."""
    t = SPLITTER * a
    hi = t - (t - a)
    return hi, a - hi


def two_product(a: Any, b: Any) -> tuple[Any, Any]:
    """``p = fl(a b)`` and ``e`` with ``a b = p + e`` exactly (Dekker)."""
    p = a * b
    a_hi, a_lo = split(a)
    b_hi, b_lo = split(b)
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
