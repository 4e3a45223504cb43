"""What is certified of a target itself, computed once per target and process: its
Taylor models, the estimate of ``max |f|`` that scales tolerances, and a rigorous bound
of ``max |f''|``.

The :class:`~approx.problems.targets.Target` is plain data; these facts are derived from
its ball form here and kept in a cache keyed by the target (dropped with it).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from flint import arb

from approx.arith.balls import down
from approx.certify.derivatives import sup_abs_derivative
from approx.certify.taylor import TARGET_WORK, LocalPolys, taylor_blocks
from approx.problems.targets import Target

__all__ = [
    "constant_error",
    "grid_scale",
    "max_abs_second_derivative",
    "rescaled_domain",
    "scale",
    "scaled",
    "taylor",
]

#: grid points of the estimate of max |f| that scales tolerances and rate floors
GRID = 4097

_CACHE: weakref.WeakKeyDictionary[Target, dict[str, Any]] = weakref.WeakKeyDictionary()


def _cached(target: Target, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (target, key) in this process."""
    facts = _CACHE.setdefault(target, {})
    if key not in facts:
        facts[key] = compute()
    return facts[key]


def taylor(target: Target) -> LocalPolys:
    """Taylor models of ``f`` on blocks of the domain (built once; see
    :func:`approx.certify.taylor.taylor_blocks`).

    Raises
    ------
    ValueError
        For a target without ball form: nothing can be enclosed.
    """
    if target.ball is None:
        raise ValueError(f"target {target.name!r} has no ball form: nothing can be enclosed")
    ball = target.ball
    return _cached(
        target,
        "taylor",
        lambda: taylor_blocks(ball, target.domain, grid_scale(target), max_work=TARGET_WORK),
    )


def scaled(target: Target, s: float) -> Target:
    """The target times ``s``, a power of two (exact in floats and in Arb barring under-
    and overflow of the numpy form): built once per (target, s), so its Taylor models
    are too. For a target whose values or Taylor coefficients overflow the floats (a
    spike ``1e300`` high), cells of ``s f`` stay finite where those of ``f`` do not."""
    ball, func, factor = target.ball, target.func, arb(s)

    def build() -> Target:
        def scaled_ball(x: Any, strict: bool) -> Any:
            assert ball is not None
            return ball(x, strict) * factor

        def scaled_func(x: Any) -> Any:
            with np.errstate(over="ignore", under="ignore"):
                return func(x) * s

        return dataclasses.replace(
            target, func=scaled_func, d2=None, ball=None if ball is None else scaled_ball
        )

    return _cached(target, f"scaled {s!r}", build)


def rescaled_domain(target: Target, s: float) -> Target:
    """The target read in ``u = s x`` (``s`` a power of two): ``u -> f(u / s)`` on
    ``[s a, s b]``, exact in floats and in Arb where ``s a`` and ``s b`` are (the caller
    checks); built once per (target, s), so its Taylor models are too. Per unit of ``u``
    the derivatives of ``f`` on a domain ``1e-150`` wide are those of a domain about 1
    wide: finite."""
    ball, func, factor = target.ball, target.func, arb(s)
    a, b = target.domain

    def build() -> Target:
        def rescaled_ball(x: Any, strict: bool) -> Any:
            assert ball is not None
            return ball(x / factor, strict)

        def rescaled_func(x: Any) -> Any:
            with np.errstate(over="ignore", under="ignore"):
                return func(np.asarray(x, dtype=np.float64) / s)

        return dataclasses.replace(
            target,
            func=rescaled_func,
            domain=(a * s, b * s),
            d2=None,
            ball=None if ball is None else rescaled_ball,
        )

    return _cached(target, f"rescaled domain {s!r}", build)


def grid_scale(target: Target) -> float:
    """The largest finite ``|f|`` on a grid of :data:`GRID` points (0 if none is finite)."""

    def compute() -> float:
        with np.errstate(all="ignore"):
            v = np.abs(target(np.linspace(*target.domain, GRID)))
        v = v[np.isfinite(v)]
        return float(v.max()) if v.size else 0.0

    return _cached(target, "grid_scale", compute)


def scale(target: Target) -> float:
    """An estimate of ``max |f|``, never a bound: the largest of ``|f|`` on a grid of
    :data:`GRID` points and at the centres of the Taylor blocks (which crowd into narrow
    features a grid misses). The size against which tolerances and rounding floors are
    measured."""
    if target.ball is None:
        return grid_scale(target)
    return max(grid_scale(target), taylor(target).scale)


def max_abs_second_derivative(target: Target) -> float:
    """An upper bound of ``max |f''|`` over the domain.

    Tight to a relative ``1e-9`` unless ``f''`` is small against ``f`` itself: the
    Taylor models' remainder (``2⁻⁵⁶ max |f|`` per block) then sets the gap, e.g.
    ``4e-8`` relative for ``1e10 + sin(2πx)``.

    Rigorous (from the Taylor models of :func:`taylor`; ``inf`` where ``f''`` is
    unbounded, e.g. ``abs15`` at 0). Computed once per target. Without a ball form:
    ``nan``.
    """
    if target.ball is None:
        return float("nan")
    return _cached(
        target, "d2", lambda: sup_abs_derivative(taylor(target), 2, target.domain)[1]
    )


def constant_error(target: Target) -> float:
    """A rigorous lower bound of the best constant's max error,
    ``min_c max |f − c| = (max f − min f) / 2`` (``c`` the midpoint of the range).

    Half of ``f(a) − f(b)``, enclosed in Arb and rounded down, where ``a`` and ``b`` are
    where the float values are largest and smallest among a grid of :data:`GRID` points
    and the centres of the Taylor blocks (which crowd into narrow features a grid
    misses). A bound from below because ``f(a) − f(b) ≤ max f − min f``; tight to the
    sampling (``f'' h² / 8`` at a smooth extremum, ``h`` the spacing). A fit whose
    certified error is not below it is no better than a constant, as far as its
    certificate shows. Computed once per target; NaN without a ball form.
    """
    if target.ball is None:
        return float("nan")
    ball = target.ball

    def compute() -> float:
        x = np.concatenate([np.linspace(*target.domain, GRID), taylor(target).centre])
        with np.errstate(all="ignore"):
            v = np.asarray(target(x), dtype=np.float64)
        finite = np.isfinite(v)
        if not finite.any():
            return float("nan")
        x, v = x[finite], v[finite]
        a, b = float(x[np.argmax(v)]), float(x[np.argmin(v)])
        gap = (ball(arb(a), False) - ball(arb(b), False)) / 2
        if not gap.is_finite():
            return float("nan")
        return max(down(gap.lower()), 0.0)

    return _cached(target, "constant_error", compute)
