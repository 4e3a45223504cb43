"""Safe parsing of user expressions in ``x``, compiled two ways.

The expression is parsed with :mod:`ast` and checked against a whitelist; nothing is
ever passed to ``eval`` or ``exec``. One walk over the tree builds a closure per node
for a *backend*:

- :func:`compile_expr`: numpy ufuncs on float64 arrays (fast, rounded);
- :func:`compile_ball`: Arb ball arithmetic (python-flint) on an ``arb`` or an
  ``arb_series``. Evaluated on a ball ``X`` the result encloses ``f(ξ)`` for every
  ``ξ ∈ X``; evaluated on the series ``X + t`` truncated at ``t^n`` its coefficient ``k``
  encloses ``f^(k)(ξ)/k!`` for every ``ξ ∈ X``: the raw material of every certificate.

Ball semantics at the edges of a function's domain: ``sqrt``, ``log``, ``arcsin``,
``arccos``, division and non-integer powers are defined on part of the line only. In
*strict* mode (used once, to validate a target) an argument ball that is not inside
the domain raises :class:`DomainIssue`, saying whether it is certainly outside or only
not yet known to be inside. Otherwise the domain is taken as validated: the ball is
clipped to the domain (so ``sqrt(x)`` on ``[0, 1]`` gives ``[0, 1]`` where Arb alone
gives NaN) and derivative coefficients that may be unbounded there become NaN, which
callers read as "no bound of this order". ``abs`` of a ball that holds 0 keeps its first
derivative (``|f'| ≤ |u'|``), so Lipschitz bounds still hold at a kink.

Finite wherever the function is: on a wide ball (a cell of the finiteness proof, a
rough cell) the operations and monotone functions are taken from the ball's ends and
integer powers of any size by repeated squaring with the sign handled
(:mod:`approx.arith.elementary`), and ``u*u`` is compiled as the square ``u²``, so
``tanh(1e6*x)``, ``x**66``, ``sqrt(x*x)`` and ``1/(x*x + 1e-300)`` have finite
enclosures on ``[-1, 1]``. Arb's ``arb_series`` (python-flint 0.9) has no sinh, cosh,
tanh, log1p or abs: they are written through exp and log here, tanh without a divisor
that can hold 0.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx.arith import elementary
from approx.arith.balls import from_zero, hull
from approx.arith.balls import head as value_ball
from approx.arith.elementary import binary, int_power, is_wide, monotone, with_head

__all__ = ["FUNCTIONS", "DomainIssue", "compile_ball", "compile_expr", "parse"]

Func = Callable[[NDArray[np.float64]], NDArray[np.float64]]
#: ``False`` (the domain is validated), or the set of calls (by text) whose argument has
#: been shown to lie in its domain on the current ball; every other call is checked
Strict = bool | frozenset[str]
#: a ball-compiled expression: ``(x, strict) -> value`` with x an arb or arb_series
BallFunc = Callable[[Any, Strict], Any]

FUNCTIONS: dict[str, Callable[[NDArray[np.float64]], NDArray[np.float64]]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "erf": lambda x: _erf()(x),
}


@functools.cache
def _erf() -> Callable[[Any], Any]:
    """``scipy.special.erf``, imported when first used (scipy.special loads slowly)."""
    from scipy.special import erf

    return erf
CONSTANTS = {"pi": np.pi, "e": np.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_BINARY_BY_SYMBOL = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_MAX_LENGTH = 2000
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class DomainIssue(Exception):
    """In strict ball mode: an argument ball is not known to lie in a function's domain.

    Attributes
    ----------
    what : str
        E.g. ``"sqrt(1 - x**2)"``: the call whose argument was refused.
    definite : bool
        True when the argument is certainly outside the domain somewhere on the ball.
    argument : callable
        The argument's own ball function, so a caller can examine it (values at points,
        monotonicity) to settle an undecided case.
    inside : callable
        ``inside(value) -> bool | None`` for a point value of the argument: True if it is
        certainly in the domain, False if certainly not, None if undecided.
    """

    def __init__(
        self, what: str, definite: bool, argument: BallFunc, inside: Callable[[arb], bool | None]
    ) -> None:
        super().__init__(what)
        self.what, self.definite, self.argument, self.inside = what, definite, argument, inside


def parse(expr: str) -> ast.expr:
    """Parse ``expr`` and check it against the grammar; returns the tree's body.

    Raises
    ------
    ValueError
        If the text is not a valid expression or uses anything outside the grammar;
        the message names what was refused.
    """
    if not isinstance(expr, str):
        raise ValueError(f"expression must be a string, got {type(expr).__name__}")
    if not expr.strip():
        raise ValueError("expression is empty")
    if len(expr) > _MAX_LENGTH:
        raise ValueError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"expression {expr!r} is not valid: {err.msg}") from None
    _check(tree.body, expr)
    return tree.body


def _check(node: ast.AST, expr: str) -> None:
    """Refuse every node outside the grammar, naming it."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"in {expr!r}: constant {value!r} is not allowed (only numbers)")
        if not np.isfinite(float(value)):
            raise ValueError(f"in {expr!r}: constant {value!r} is not finite")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ValueError(f"in {expr!r}: function {node.id!r} must be called, e.g. {node.id}(x)")
        if node.id != "x" and node.id not in CONSTANTS:
            raise ValueError(
                f"in {expr!r}: name {node.id!r} is not allowed; use x, pi, e and the functions "
                f"{', '.join(FUNCTIONS)}"
            )
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ValueError(
                f"in {expr!r}: operator {type(node.op).__name__} is not allowed (only + - * / **)"
            )
        _check(node.left, expr)
        _check(node.right, expr)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ValueError(f"in {expr!r}: unary operator {type(node.op).__name__} is not allowed")
        _check(node.operand, expr)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ValueError(
                f"in {expr!r}: only calls of the listed functions are allowed, "
                f"not {ast.unparse(node.func)!r}"
            )
        if node.func.id not in FUNCTIONS:
            raise ValueError(
                f"in {expr!r}: function {node.func.id!r} is not allowed; allowed functions are "
                f"{', '.join(FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1:
            raise ValueError(f"in {expr!r}: {node.func.id}() takes exactly one positional argument")
        _check(node.args[0], expr)
    else:
        raise ValueError(
            f"in {expr!r}: {type(node).__name__} ({ast.unparse(node)!r}) is not allowed"
        )


def compile_expr(expr: str) -> Func:
    """Compile ``expr`` into a function of a float64 array ``x``.

    Parameters
    ----------
    expr : str
        A formula in ``x`` (see :func:`approx.problems.targets.from_expr` for the grammar).

    Returns
    -------
    callable
        Maps an ndarray ``x`` to ``f(x)`` of the same shape (float64).

    Raises
    ------
    ValueError
        If the text is not a valid expression or uses anything outside the grammar.
    """
    build = _numpy(parse(expr))

    def func(x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            out = np.asarray(build(x), dtype=np.float64)
        return np.broadcast_to(out, x.shape).copy() if out.shape != x.shape else out

    return func


def _numpy(node: ast.AST) -> Callable[[NDArray[np.float64]], object]:
    """The numpy closure of a checked node."""
    if isinstance(node, ast.Constant):
        value = np.float64(node.value)  # numpy scalars overflow to inf instead of raising
        return lambda x: value
    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x: x
        value = np.float64(CONSTANTS[node.id])
        return lambda x: value
    if isinstance(node, ast.BinOp):
        op = _BINARY[type(node.op)]
        left, right = _numpy(node.left), _numpy(node.right)
        return lambda x: op(left(x), right(x))
    if isinstance(node, ast.UnaryOp):
        uop = _UNARY[type(node.op)]
        operand = _numpy(node.operand)
        return lambda x: uop(operand(x))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    fn = FUNCTIONS[node.func.id]
    arg = _numpy(node.args[0])
    return lambda x: fn(arg(x))


def compile_ball(expr: str) -> BallFunc:
    """Compile ``expr`` into Arb ball arithmetic: ``f(x, strict=False)``.

    ``x`` is an ``arb`` (a point or a ball) or an ``arb_series`` ``X + t``; the result has
    the same type. See the module docstring for the meaning of ``strict``.
    """
    return _ball(parse(expr), expr)


def _depends_on_x(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(node))


def _ball(node: ast.AST, expr: str) -> BallFunc:
    """The ball closure of a checked node."""
    if isinstance(node, ast.Constant):
        value = arb(float(node.value))  # the double the numpy backend also uses
        return lambda x, strict=False: value
    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x, strict=False: x
        # the constants themselves, not their doubles: pi is π
        const = arb.pi if node.id == "pi" else arb.const_e
        return lambda x, strict=False: const()
    if isinstance(node, ast.UnaryOp):
        operand = _ball(node.operand, expr)
        if isinstance(node.op, ast.USub):
            return lambda x, strict=False: -operand(x, strict)
        return operand
    if isinstance(node, ast.BinOp):
        left, right = _ball(node.left, expr), _ball(node.right, expr)
        what = ast.unparse(node)
        if isinstance(node.op, ast.Div):
            return lambda x, strict=False: _divide(
                left(x, strict), right(x, strict), strict, what, right
            )
        if isinstance(node.op, ast.Pow):
            return _power(node, left, right, what)
        if isinstance(node.op, ast.Mult) and _same(node.left, node.right):
            # u*u is u², which is ≥ 0 also where u's ball holds 0
            return lambda x, strict=False: int_power(left(x, strict), 2)
        symbol = _SYMBOLS[type(node.op)]
        return lambda x, strict=False: _arith(left(x, strict), right(x, strict), symbol)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    arg = _ball(node.args[0], expr)
    rule = _BALL_FUNCTIONS[node.func.id]
    what = ast.unparse(node)
    if node.func.id == "sqrt" and _nonnegative_node(node.args[0]):
        # the argument is ≥ 0 by its form (e.g. abs(...)): no domain to check
        return lambda x, strict=False: rule(arg(x, strict), False, what, arg)
    return lambda x, strict=False: rule(arg(x, strict), strict, what, arg)


def _same(a: ast.AST, b: ast.AST) -> bool:
    """True when two subtrees are the same expression (so ``a*b`` is a square)."""
    return ast.dump(a) == ast.dump(b)


def _arith(u: Any, v: Any, symbol: str) -> Any:
    """``u symbol v`` for ``+ - *`` (and ``/`` once the divisor is known non-zero): Arb's
    operation, with the value ball from the interval operation where an operand's value
    ball is wide (its sign is then kept: ``[0, t] + 1e-300`` stays ``> 0``)."""
    out = _BINARY_BY_SYMBOL[symbol](u, v)
    a, b = value_ball(u), value_ball(v)
    if is_wide(a) or is_wide(b):
        return with_head(out, binary(a, b, symbol))
    return out


def _nonnegative_node(node: ast.AST) -> bool:
    """True when the node is ≥ 0 wherever it is defined, by its form alone.

    Ball arithmetic cannot say so itself: the hull ``[0, t]`` of an ``abs`` is stored as a
    midpoint and a rounded-up radius, whose lower end dips just below 0.
    """
    if isinstance(node, ast.Constant):
        return float(node.value) >= 0
    if isinstance(node, ast.Name):
        return node.id in CONSTANTS
    if isinstance(node, ast.Call):
        return node.func.id in ("abs", "sqrt", "exp", "cosh", "arccos")  # type: ignore[union-attr]
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow) and not _depends_on_x(node.right):
            p = float(_numpy(node.right)(np.zeros(1)))
            return p != int(p) or int(p) % 2 == 0 or _nonnegative_node(node.left)
        if isinstance(node.op, ast.Mult) and _same(node.left, node.right):
            return True
        if isinstance(node.op, ast.Add | ast.Mult | ast.Div):
            return _nonnegative_node(node.left) and _nonnegative_node(node.right)
    return False


# --- ball rules ---------------------------------------------------------------------------


def _like(u: Any, coeffs: list[arb]) -> Any:
    """A result of ``u``'s type: a series of ``u``'s length with these leading coefficients
    (the rest NaN, i.e. unbounded), or the value ball."""
    if not isinstance(u, arb_series):
        return coeffs[0]
    n = u.prec
    full = (coeffs + [arb.nan()] * n)[:n]
    return arb_series(full, prec=n)


def _check_domain(
    u: Any,
    strict: Strict,
    what: str,
    argument: BallFunc,
    inside: Callable[[arb], bool | None],
) -> bool:
    """True when the value ball of ``u`` is certainly inside the domain; in strict mode
    raise :class:`DomainIssue` otherwise, unless ``what`` is among the calls already
    shown to be in their domain (``strict`` is then that set)."""
    verdict = inside(value_ball(u))
    if verdict is True:
        return True
    if strict is False or (isinstance(strict, frozenset) and what in strict):
        return False
    raise DomainIssue(what, verdict is False, argument, inside)


def _nonnegative(v: arb) -> bool | None:
    if v >= 0:
        return True
    return False if v < 0 else None


def _positive(v: arb) -> bool | None:
    if v > 0:
        return True
    return False if v <= 0 else None


def _unit(v: arb) -> bool | None:
    if v >= -1 and v <= 1:
        return True
    return False if (v < -1 or v > 1) else None


def _nonzero(v: arb) -> bool | None:
    if v > 0 or v < 0:
        return True
    return False if v == 0 else None


def _sqrt(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    if _check_domain(u, strict, what, argument, _nonnegative):
        return _monotone(u, "sqrt")
    # validated domain: the argument is ≥ 0, so clip the ball; f' is unbounded at 0
    top = value_ball(u).upper()
    if top < 0:
        return _like(u, [arb.nan()])
    return _like(u, [from_zero(top.sqrt())])


def _log(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    if _check_domain(u, strict, what, argument, _positive):
        return _monotone(u, "log")
    return _like(u, [arb.nan()])  # a validated log argument is > 0: only balls reach here


def _log1p(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    return _log(1 + u, strict, what, lambda x, s=False: 1 + argument(x, s))


def _unit_function(name: str) -> Callable[[Any, Strict, str, BallFunc], Any]:
    """arcsin and arccos: defined on [-1, 1], with unbounded derivatives at ±1."""

    def rule(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
        head = value_ball(u)
        if _check_domain(u, strict, what, argument, _unit) and head > -1 and head < 1:
            return getattr(u, name)()
        # validated domain: the argument lies in [-1, 1]; f is monotone there
        lo = max(float(np.nextafter(float(head.lower()), -np.inf)), -1.0)
        hi = min(float(np.nextafter(float(head.upper()), np.inf)), 1.0)
        ends = [getattr(arb(v), name)() for v in (lo, hi)]
        if all(e.is_finite() for e in ends):
            value = hull(*sorted(ends, key=float))
        else:
            value = hull(arb(-1), arb(1)) * arb.pi()  # the whole range of either function
        return _like(u, [value])

    return rule


def _abs(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    head = value_ball(u)
    if head > 0:
        return u
    if head < 0:
        return -u
    top = max(head.lower().abs_upper(), head.upper().abs_upper())
    coeffs = [from_zero(arb(top))]
    if isinstance(u, arb_series) and u.prec > 1:
        slope = u[1].abs_upper()
        coeffs.append(arb(0, slope))  # |f'| = |u'| on each side of the kink
    return _like(u, coeffs)


def _monotone(u: Any, name: str) -> Any:
    """Arb's method ``name`` (a function monotone on the whole line, or on the part of it
    where ``u`` is known to lie), with the value ball from the ends where it is wide."""
    out = getattr(u, name)()
    head = value_ball(u)
    if is_wide(head):
        return with_head(out, monotone(head, getattr(arb, name)))
    return out


def _sinh(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    out = (elementary.exp(u) - elementary.exp(-u)) / 2
    return with_head(out, monotone(value_ball(u), arb.sinh))


def _cosh(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    out = (elementary.exp(u) + elementary.exp(-u)) / 2
    head = value_ball(u)
    if not is_wide(head):
        return out
    # even, increasing in |u|: from the ends of |u|'s ball
    top = head.abs_upper().cosh()
    bottom = arb(1) if not (head > 0 or head < 0) else head.abs_lower().cosh()
    return with_head(out, elementary.span(bottom, top))


def _arctan(u: Any, strict: Strict, what: str, argument: BallFunc) -> Any:
    out = _monotone(u, "atan")
    if isinstance(u, arb_series):
        return elementary.bounded_series(u, out, value_ball(out), "atan")
    return out


def _method(name: str) -> Callable[[Any, Strict, str, BallFunc], Any]:
    return lambda u, strict, what, argument: getattr(u, name)()


def _function(fn: Callable[[Any], Any]) -> Callable[[Any, Strict, str, BallFunc], Any]:
    return lambda u, strict, what, argument: fn(u)


_BALL_FUNCTIONS: dict[str, Callable[[Any, Strict, str, BallFunc], Any]] = {
    "sin": _method("sin"),
    "cos": _method("cos"),
    "tan": _method("tan"),  # a pole inside the ball gives a non-finite enclosure
    "arcsin": _unit_function("asin"),
    "arccos": _unit_function("acos"),
    "arctan": _arctan,
    "sinh": _sinh,
    "cosh": _cosh,
    "tanh": _function(elementary.tanh),
    "exp": _function(elementary.exp),
    "log": _log,
    "log1p": _log1p,
    "sqrt": _sqrt,
    "abs": _abs,
    "erf": _function(elementary.erf),
}
assert set(_BALL_FUNCTIONS) == set(FUNCTIONS)


def _divide(u: Any, v: Any, strict: Strict, what: str, denominator: BallFunc) -> Any:
    if _check_domain(v, strict, what, denominator, _nonzero):
        return _arith(u, v, "/")
    return _like(u if isinstance(u, arb_series) else v, [arb.nan()])


def _power(node: ast.BinOp, left: BallFunc, right: BallFunc, what: str) -> BallFunc:
    """``u ** p``: integer constant exponents by multiplication (any sign of u), other
    constants through exp and log with ``u ≥ 0`` (``u > 0`` for ``p ≤ 0``), and exponents
    that depend on x with ``u > 0``."""
    if not _depends_on_x(node.right):
        p = float(_numpy(node.right)(np.zeros(1)))  # checked grammar: a constant
        if p == int(p):  # any size: by repeated squaring
            k = int(p)
            if k >= 0:
                return lambda x, strict=False: int_power(left(x, strict), k)
            # (1/u)^|k|: u ≠ 0 is the domain, and u^|k| may be far beyond what a ball
            # can hold with its sign (x**-1e20 near 1)
            return lambda x, strict=False: int_power(
                _divide(arb(1), left(x, strict), strict, what, left), -k
            )
        exponent = arb(p)
        domain = _nonnegative if p > 0 else _positive
        known = p > 0 and _nonnegative_node(node.left)

        def power(x: Any, strict: Strict = False) -> Any:
            u = left(x, strict)
            head = value_ball(u)
            if head > 0:
                return elementary.exp(exponent * _monotone(u, "log"))
            _check_domain(u, False if known else strict, what, left, domain)
            top = head.upper()
            if top < 0 or p <= 0:
                return _like(u, [arb.nan()])
            coeffs = [from_zero(top**exponent)]
            if isinstance(u, arb_series) and u.prec > 1 and p >= 1:
                # (u^p)' = p u^(p-1) u' with 0 ≤ u ≤ top
                coeffs.append(arb(0, (exponent * top ** (exponent - 1) * u[1].abs_upper()).upper()))
            return _like(u, coeffs)

        return power

    def general(x: Any, strict: Strict = False) -> Any:
        u, v = left(x, strict), right(x, strict)
        if _check_domain(u, strict, what, left, _positive):
            return elementary.exp(_arith(v, _monotone(u, "log"), "*"))
        return _like(u if isinstance(u, arb_series) else v, [arb.nan()])

    return general
