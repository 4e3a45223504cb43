"""Proving a target finite on its closed domain, or naming where it is not.

:func:`check_finite` bisects the domain in Arb ball arithmetic until every cell's
enclosure of ``f`` is finite with every call inside its domain; a call whose argument
only touches the edge of its domain (``sqrt(x)`` on a cell at 0) is settled by the
argument's values at the cell's ends and its monotonicity there. What cannot be settled
down to a cell of ``2⁻⁴⁸`` of the domain is refused with that cell.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np
from flint import arb, arb_series

from approx.arith.balls import MIN_BLOCK, abs_lower, abs_upper, arb_context, ball
from approx.core import deadline
from approx.core.errors import ApproxError
from approx.problems.expr import BallFunc, DomainIssue, compile_ball, parse

__all__ = [
    "FLOAT_LIMIT",
    "TargetRefused",
    "check_domain_width",
    "check_finite",
    "check_float_range",
]

#: the float form's intermediate values must stay below this: the largest float, less a
#: margin for the float evaluation's own rounding (relative, far below it)
FLOAT_LIMIT = float(np.finfo(np.float64).max) * (1 - 2.0**-20)


class TargetRefused(ApproxError, ValueError):
    """A target that cannot be certified on its domain; the message says where and why."""


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
                deadline.check()
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
            if not lo < m < hi or hi - lo <= MIN_BLOCK * (b - a) * 2.0**-12:
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
    raise TargetRefused(
        f"target {name!r} has no finite supremum on its domain [{a:g}, {b:g}]: "
        f"{what} in [{lo!r}, {hi!r}]"
    )


def check_domain_width(domain: tuple[float, float], name: str) -> None:
    """Refuse a domain whose width ``b - a`` overflows the floats (every cell, grid and
    knot spacing is measured in it)."""
    a, b = domain
    if not math.isfinite(b - a):
        raise TargetRefused(
            f"target {name!r}: the domain [{a:g}, {b:g}] is wider than the largest float "
            "(b - a overflows); use a narrower domain"
        )


def check_float_range(
    expr: str, domain: tuple[float, float], name: str, max_cells: int = 4000
) -> None:
    """Refuse an expression whose float (numpy) form overflows somewhere on the domain,
    even where the function itself is finite (``exp(x)*exp(-x)`` on ``[700, 720]``).

    Every subexpression (innermost first) is enclosed in Arb on the domain, bisected
    until its enclosure stays below :data:`FLOAT_LIMIT` on every cell: proven, not
    sampled. The whole expression is :func:`check_finite`'s.

    Raises
    ------
    TargetRefused
        Naming the subexpression, where it passes the largest float (or could not be
        shown to stay below it), and how large it gets there.
    """
    tree = parse(expr)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.expr) and not isinstance(n, ast.Name)]
    seen = set()
    for node in reversed(nodes[1:]):  # the root is check_finite's; descendants first
        text = ast.unparse(node)
        if text not in seen:
            seen.add(text)
            _below_limit(compile_ball(text), text, domain, name, max_cells)


def _enclose(fn: BallFunc, X: Any) -> arb:
    """``fn`` on ``X`` (validated-domain semantics); NaN where Arb refuses."""
    try:
        return fn(X, False)
    except (DomainIssue, ValueError, ZeroDivisionError):
        return arb.nan()


def _below_limit(
    fn: BallFunc, text: str, domain: tuple[float, float], name: str, max_cells: int
) -> None:
    """Prove ``|fn| ≤ FLOAT_LIMIT`` on the domain by bisection, or refuse naming ``text``."""
    a, b = domain
    stack, cells = [(a, b)], 0
    with arb_context():
        while stack:
            lo, hi = stack.pop()
            cells += 1
            if cells % 256 == 0:
                deadline.check()
            v = _enclose(fn, ball(lo, hi))
            if v.is_finite() and abs_upper(v) <= FLOAT_LIMIT:
                continue
            m = lo + (hi - lo) / 2
            for x in (lo, hi, m):
                point = _enclose(fn, arb(x))
                if not point.is_finite() or abs_lower(point) > FLOAT_LIMIT:
                    size = (
                        f"is {point.mid().str(4, radius=False)}"
                        if point.is_finite()
                        else "is not finite"
                    )
                    raise TargetRefused(
                        f"target {name!r}: its float form overflows on [{a:g}, {b:g}]: "
                        f"{text} {size} at x = {x!r}, past the largest float"
                    )
            if cells >= max_cells or not lo < m < hi:
                raise TargetRefused(
                    f"target {name!r}: could not show that {text} stays below the largest "
                    f"float on [{lo!r}, {hi!r}] (its float form may overflow there)"
                )
            stack += [(m, hi), (lo, m)]
