"""Safe parsing of user expressions in ``x`` into vectorised numpy functions.

The expression is parsed with :mod:`ast` and checked against a whitelist before a
closure over numpy ufuncs is built from the tree; nothing is ever passed to
``eval`` or ``exec``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["FUNCTIONS", "compile_expr"]

Func = Callable[[NDArray[np.float64]], NDArray[np.float64]]

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
    "erf": special.erf,
}
CONSTANTS = {"pi": np.pi, "e": np.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_LENGTH = 2000


def compile_expr(expr: str) -> Func:
    """Compile ``expr`` into a function of a float64 array ``x``.

    Parameters
    ----------
    expr : str
        A formula in ``x`` (see :func:`approx.targets.from_expr` for the grammar).

    Returns
    -------
    callable
        Maps an ndarray ``x`` to ``f(x)`` of the same shape (float64).

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
    build = _compile(tree.body, expr)

    def func(x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            out = np.asarray(build(x), dtype=np.float64)
        return np.broadcast_to(out, x.shape).copy() if out.shape != x.shape else out

    return func


def _compile(node: ast.AST, expr: str) -> Callable[[NDArray[np.float64]], object]:
    """Turn one whitelisted node into a closure; refuse every other node."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"in {expr!r}: constant {value!r} is not allowed (only numbers)")
        value = np.float64(value)  # numpy scalars overflow to inf instead of raising
        return lambda x: value
    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x: x
        if node.id in CONSTANTS:
            value = np.float64(CONSTANTS[node.id])
            return lambda x: value
        if node.id in FUNCTIONS:
            raise ValueError(f"in {expr!r}: function {node.id!r} must be called, e.g. {node.id}(x)")
        raise ValueError(
            f"in {expr!r}: name {node.id!r} is not allowed; use x, pi, e and the functions "
            f"{', '.join(FUNCTIONS)}"
        )
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ValueError(
                f"in {expr!r}: operator {type(node.op).__name__} is not allowed (only + - * / **)"
            )
        left, right = _compile(node.left, expr), _compile(node.right, expr)
        return lambda x: op(left(x), right(x))
    if isinstance(node, ast.UnaryOp):
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ValueError(f"in {expr!r}: unary operator {type(node.op).__name__} is not allowed")
        operand = _compile(node.operand, expr)
        return lambda x: op(operand(x))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ValueError(
                f"in {expr!r}: only calls of the listed functions are allowed, "
                f"not {ast.unparse(node.func)!r}"
            )
        name = node.func.id
        if name not in FUNCTIONS:
            raise ValueError(
                f"in {expr!r}: function {name!r} is not allowed; allowed functions are "
                f"{', '.join(FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1:
            raise ValueError(f"in {expr!r}: {name}() takes exactly one positional argument")
        fn = FUNCTIONS[name]
        arg = _compile(node.args[0], expr)
        return lambda x: fn(arg(x))
    raise ValueError(f"in {expr!r}: {type(node).__name__} ({ast.unparse(node)!r}) is not allowed")
