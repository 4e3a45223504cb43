"""An independent reference for ``sup |f - f̂|``, written for the tests: none of the
package's expression, ball or certificate code is used.

- The target's text is parsed with :mod:`ast` here and evaluated in :mod:`mpmath` (50
  digits by default; the best point again at 90 to bound the reference's own error),
  with the semantics of the package's real function: constants are the doubles the
  text names, ``pi`` and ``e`` the true constants, a constant exponent the double its
  constant subexpression evaluates to.
- The model is evaluated exactly from its stored floats: nets layer by layer with every
  activation of the registry written out here (relu, sigmoid, tanh, cos, identity,
  softplus), splines from their cubics in each cell's variable, Chebyshev series by the exact map
  onto [-1, 1] and Clenshaw's recurrence at 50 digits. The search takes a ReLU net from
  its exact piecewise-linear form (integer arithmetic on the floats' mantissas: one
  rational per point instead of the whole net in mpmath), checked at the best point
  against the net's definition in rationals (exact where the net in mpmath is not:
  ``x + 1e300 - 1e300`` loses ``x`` at 50 and 90 digits alike).
- The supremum is searched on an mpmath grid of real points (not floats: on a domain a
  few floats wide the sup sits between them), a dense float grid as extra candidates,
  the model's exact breakpoints (ReLU nets, in rationals; spline knots, both pieces),
  then golden-section refinement around the best candidates.
- For ReLU nets against piecewise-linear targets (``x``, float constants, ``+ - abs``,
  products and quotients by constants) :func:`exact_pl_sup` gives the exact supremum as
  a :class:`fractions.Fraction`: the error is linear between rational breakpoints.
"""

from __future__ import annotations

import ast
import bisect
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Any

import mpmath
import numpy as np
from mpmath import mp, mpf
from mpmath.libmp import from_rational, round_nearest

__all__ = [
    "PL",
    "Reference",
    "Undefined",
    "Unevaluable",
    "check_pl",
    "exact_pl_sup",
    "expr_float",
    "expr_mp",
    "is_relu_net",
    "model_breakpoints",
    "model_mp",
    "mpf_fraction",
    "net_arrays",
    "pl_mp",
    "reference_sup",
    "relu_net_exact",
    "relu_net_pl",
    "relu_pl",
    "relu_pl_by_values",
]

DPS = 50
CHECK_DPS = 90


class Undefined(Exception):
    """The real function is not defined (or not finite) at this point."""


class Unevaluable(Exception):
    """An argument too large for mpmath (a periodic function of a number past 2^5000, or
    anything of a number past 2^100000): the reference cannot judge this target."""


#: largest argument magnitudes (in bits) the reference evaluates
_PERIODIC_BITS = 5000
_ANY_BITS = 100_000


# --- the target --------------------------------------------------------------------------

_MP_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    "tan": mpmath.tan,
    "arctan": mpmath.atan,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "tanh": mpmath.tanh,
    "exp": mpmath.exp,
    "abs": mpmath.fabs,
    "erf": mpmath.erf,
}


def _mp_call(name: str, u: Any) -> Any:
    bits = mpmath.mag(u) if u else 0
    if bits > _ANY_BITS or (bits > _PERIODIC_BITS and name in ("sin", "cos", "tan")):
        raise Unevaluable(f"{name} of a number of {bits} bits")
    if name in _MP_FUNCTIONS:
        if name == "tan" and mpmath.cos(u) == 0:
            raise Undefined("tan pole")
        return _MP_FUNCTIONS[name](u)
    if name == "sqrt":
        if u < 0:
            raise Undefined("sqrt of a negative number")
        return mpmath.sqrt(u)
    if name in ("log", "log1p"):
        arg = u if name == "log" else u + 1
        if arg <= 0:
            raise Undefined("log of a number ≤ 0")
        return mpmath.log(u) if name == "log" else mpmath.log1p(u)
    if name in ("arcsin", "arccos"):
        if u < -1 or u > 1:
            raise Undefined(f"{name} outside [-1, 1]")
        return mpmath.asin(u) if name == "arcsin" else mpmath.acos(u)
    raise ValueError(f"unknown function {name}")


def _depends_on_x(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(node))


def _float_const(node: ast.AST) -> float:
    """A constant subexpression in doubles (how the package reads a constant exponent)."""
    with np.errstate(all="ignore"):
        return float(expr_float(node)(np.zeros(1))[0])


def _mp_node(node: ast.AST) -> Callable[[Any], Any]:
    if isinstance(node, ast.Constant):
        value = float(node.value)
        return lambda x: mpf(value)
    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x: x
        return (lambda x: +mp.pi) if node.id == "pi" else (lambda x: mpmath.e + 0)
    if isinstance(node, ast.UnaryOp):
        operand = _mp_node(node.operand)
        return (lambda x: -operand(x)) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        arg = _mp_node(node.args[0])
        return lambda x: _mp_call(name, arg(x))
    assert isinstance(node, ast.BinOp)
    left, right = _mp_node(node.left), _mp_node(node.right)
    if isinstance(node.op, ast.Add):
        return lambda x: left(x) + right(x)
    if isinstance(node.op, ast.Sub):
        return lambda x: left(x) - right(x)
    if isinstance(node.op, ast.Mult):
        return lambda x: left(x) * right(x)
    if isinstance(node.op, ast.Div):
        return lambda x: _mp_div(left(x), right(x))
    assert isinstance(node.op, ast.Pow)
    if _depends_on_x(node.right):
        return lambda x: _mp_general_power(left(x), right(x))
    p = _float_const(node.right)
    return lambda x: _mp_power(left(x), p)


def _mp_div(u: Any, v: Any) -> Any:
    if v == 0:
        raise Undefined("division by 0")
    return u / v


def _mp_power(u: Any, p: float) -> Any:
    if p == int(p):
        k = int(p)
        if k < 0 and u == 0:
            raise Undefined("0 to a negative power")
        return u**k
    if u < 0 or (u == 0 and p < 0):
        raise Undefined("non-integer power of a negative number")
    return u ** mpf(p) if u != 0 else mpf(0)


def _mp_general_power(u: Any, v: Any) -> Any:
    if u <= 0:
        raise Undefined("power with a base ≤ 0 and an exponent that depends on x")
    return mpmath.exp(v * mpmath.log(u))


def expr_mp(text: str) -> Callable[[Any], Any]:
    """``f`` in mpmath at the current precision; raises :class:`Undefined` where the real
    function is undefined."""
    return _mp_node(ast.parse(text.strip(), mode="eval").body)


_NP_FUNCTIONS = {
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "abs": np.abs,
}


def _np_call(name: str) -> Callable[[Any], Any]:
    if name == "erf":
        return np.vectorize(math.erf, otypes=[float])
    return _NP_FUNCTIONS.get(name) or getattr(np, name)


def expr_float(node: ast.AST | str) -> Callable[[np.ndarray], np.ndarray]:
    """``f`` in doubles (for candidate points only; never a reported value)."""
    if isinstance(node, str):
        node = ast.parse(node.strip(), mode="eval").body
    if isinstance(node, ast.Constant):
        value = np.float64(node.value)
        return lambda x: value + 0 * x
    if isinstance(node, ast.Name):
        if node.id == "x":
            return lambda x: x
        value = np.float64(math.pi if node.id == "pi" else math.e)
        return lambda x: value + 0 * x
    if isinstance(node, ast.UnaryOp):
        operand = expr_float(node.operand)
        return (lambda x: -operand(x)) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        fn = _np_call(node.func.id)  # type: ignore[attr-defined]
        arg = expr_float(node.args[0])
        return lambda x: fn(arg(x))
    assert isinstance(node, ast.BinOp)
    left, right = expr_float(node.left), expr_float(node.right)
    ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
    if type(node.op) in ops:
        op = ops[type(node.op)]
        return lambda x: op(left(x), right(x))
    return lambda x: np.power(left(x), right(x))


# --- the model ---------------------------------------------------------------------------


def _sigma(name: str) -> Callable[[Any], Any]:
    table: dict[str, Callable[[Any], Any]] = {
        "relu": lambda u: u if u > 0 else mpf(0),
        "sigmoid": lambda u: 1 / (1 + mpmath.exp(-u)),
        "tanh": mpmath.tanh,
        "cos": mpmath.cos,
        "identity": lambda u: u,
        "softplus": lambda u: u + mpmath.log1p(mpmath.exp(-u)) if u > 0 else mpmath.log1p(
            mpmath.exp(u)
        ),
    }
    return table[name]


def net_arrays(model: Any) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    arrays = model.to_arrays()
    n = sum(1 for k in arrays if k.startswith("W"))
    weights = [np.asarray(arrays[f"W{i}"], dtype=np.float64) for i in range(n)]
    use_bias = bool(arrays["bias"])
    biases = [
        np.asarray(arrays[f"b{i}"], dtype=np.float64) if use_bias else np.zeros(w.shape[1])
        for i, w in enumerate(weights)
    ]
    return weights, biases, str(arrays["activation"])


def model_mp(model: Any) -> Callable[..., Any]:
    """``f̂`` in mpmath from the model's stored floats: ``g(x, side=+1)``; ``side=-1``
    takes the left piece at a spline knot (the left limit, which the sup includes)."""
    kind = str(model.to_arrays()["model"])
    if kind == "mlp":
        weights, biases, activation = net_arrays(model)
        ws = [[[mpf(float(v)) for v in row] for row in w.T] for w in weights]
        bs = [[mpf(float(v)) for v in b] for b in biases]
        sigma = _sigma(activation)
        last = len(ws) - 1

        def net(x: Any, side: int = 1) -> Any:
            z = [x]
            for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
                u = [mpmath.fdot(z, col) + bk for col, bk in zip(w, b, strict=True)]
                z = u if i == last else [sigma(v) for v in u]
            return z[0]

        return net
    if kind == "spline":
        knots, coef, scale = model.cubics()
        ks = [float(k) for k in knots]
        cs = [[mpf(float(c)) for c in row] for row in coef]
        sc = mpf(float(scale))

        def spline(x: Any, side: int = 1) -> Any:
            # the cubic in the cell's variable t = (x - k_j)/(k_{j+1} - k_j), exactly
            j = bisect.bisect_right(ks, x) - 1 if side > 0 else bisect.bisect_left(ks, x) - 1
            j = min(max(j, 0), len(ks) - 2)
            t = (x - mpf(ks[j])) / (mpf(ks[j + 1]) - mpf(ks[j]))
            total = mpf(0)
            for c in reversed(cs[j]):
                total = total * t + c
            return total * sc

        return spline
    assert kind == "chebyshev", kind
    a, b = (float(v) for v in model.domain)
    coef = [mpf(float(c)) for c in model.coef]

    def series(x: Any, side: int = 1) -> Any:
        t = (2 * x - mpf(a) - mpf(b)) / (mpf(b) - mpf(a))
        b1 = b2 = mpf(0)
        for c in reversed(coef[1:]):
            b1, b2 = 2 * t * b1 - b2 + c, b1
        return t * b1 - b2 + coef[0]

    return series


def model_cost(model: Any) -> int:
    """Operations of one mpmath evaluation (sets the reference's grid size)."""
    return int(model.n_params) + 4


def model_breakpoints(model: Any, domain: tuple[float, float]) -> list[Fraction]:
    """The model's exact breakpoints inside the domain: a ReLU net's kinks (rational),
    a spline's knots; none for smooth models."""
    if str(model.to_arrays()["model"]) == "spline":
        return [Fraction(float(k)) for k in model.knots]
    pl = relu_net_pl(model, domain)
    return [] if pl is None else pl.x


def is_relu_net(model: Any) -> bool:
    """Whether the model is a ReLU net (piecewise linear: the reference has it exactly)."""
    arrays = model.to_arrays()
    return str(arrays["model"]) == "mlp" and str(arrays["activation"]) == "relu"


def relu_net_pl(model: Any, domain: tuple[float, float]) -> PL | None:
    """A ReLU net as its exact :class:`PL` on the domain (:func:`relu_pl`); None for
    any other model."""
    if not is_relu_net(model):
        return None
    weights, biases, _ = net_arrays(model)
    return relu_pl(weights, biases, domain)


# --- exact piecewise-linear functions ----------------------------------------------------


@dataclass
class PL:
    """A continuous piecewise-linear function: values ``y`` at sorted rational ``x``,
    linear in between (exact)."""

    x: list[Fraction]
    y: list[Fraction]

    def at(self, points: list[Fraction]) -> list[Fraction]:
        out = []
        for p in points:
            j = min(max(bisect.bisect_right(self.x, p) - 1, 0), len(self.x) - 2)
            x0, x1 = self.x[j], self.x[j + 1]
            y0, y1 = self.y[j], self.y[j + 1]
            out.append(y0 + (y1 - y0) * (p - x0) / (x1 - x0))
        return out


def _merge(*fs: PL) -> list[Fraction]:
    return sorted(set().union(*(f.x for f in fs)))


def _crossings(x: list[Fraction], y: list[Fraction]) -> list[Fraction]:
    """Zeros strictly inside the pieces where the linear function changes sign."""
    out = []
    for x0, x1, y0, y1 in zip(x, x[1:], y, y[1:], strict=False):
        if (y0 < 0 < y1) or (y1 < 0 < y0):
            out.append(x0 + (x1 - x0) * y0 / (y0 - y1))
    return out


def relu_pl(
    weights: list[np.ndarray], biases: list[np.ndarray], domain: tuple[float, float]
) -> PL:
    """A ReLU net (scalar in and out) as an exact :class:`PL` on the domain.

    The activation pattern is enumerated layer by layer in integer arithmetic: every
    stored float is a dyadic rational, so on a piece where the pattern is fixed each
    pre-activation is ``(A x + B) / 2**s`` with integers ``A``, ``B`` (one ``s`` per
    layer); a unit's kink is the rational ``-B / A`` and every sign is the sign of an
    integer. Nothing is rounded. :func:`relu_pl_by_values` computes the same :class:`PL`
    from exact values at the breakpoints (slower; the tests compare the two).

    Parameters
    ----------
    weights, biases
        The net's layers as stored (``weights[i]`` of shape ``(m, n)``).
    domain
        ``(a, b)`` with ``a < b``.

    Returns
    -------
    PL
        Every kink of every unit inside the domain (and the ends), with the net's exact
        values there.
    """
    lo, hi = Fraction(domain[0]), Fraction(domain[1])
    one, zero = np.array([1], dtype=object), np.array([0], dtype=object)
    pieces: list[_Piece] = [_Piece(lo, hi, one, zero)]  # the input x, shift 0
    shift, last = 0, len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        w_int, w_shift = _dyadic(w)
        b_int, b_shift = _dyadic(b)
        new_shift = max(shift + w_shift, b_shift)
        pre = [_affine(p, w_int, b_int << (new_shift - b_shift), new_shift - shift - w_shift)
               for p in pieces]
        shift = new_shift
        pieces = pre if i == last else [q for p in pre for q in _split_relu(p)]
    return _pl_of(pieces, shift)


@dataclass
class _Piece:
    """Units affine on ``[lo, hi]``: unit ``k`` is ``(a[k] x + b[k]) / 2**s`` (integers)."""

    lo: Fraction
    hi: Fraction
    a: np.ndarray
    b: np.ndarray


def _dyadic(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Floats as integers over one power of two: ``values == ints / 2**k`` exactly."""
    pairs = [float(v).as_integer_ratio() for v in np.ravel(values)]
    k = max((d.bit_length() - 1 for _, d in pairs), default=0)
    ints = [n << (k - d.bit_length() + 1) for n, d in pairs]
    return np.array(ints, dtype=object).reshape(np.shape(values)), k


def _affine(p: _Piece, w_int: np.ndarray, b_int: np.ndarray, up: int) -> _Piece:
    """The next layer's pre-activations on ``p`` (``p`` holds this layer's outputs):
    ``W^T z + b``, with ``W^T z`` scaled up by ``2**up`` onto the bias' denominator."""
    live = np.flatnonzero((p.a != 0) | (p.b != 0))
    if live.size == 0:
        return _Piece(p.lo, p.hi, b_int * 0, b_int.copy())
    z = np.stack([p.a[live], p.b[live]], axis=1)
    prod = w_int[live].T @ z
    return _Piece(p.lo, p.hi, prod[:, 0] << up, (prod[:, 1] << up) + b_int)


def _sign_at(p: _Piece, x: Fraction) -> np.ndarray:
    """The sign of every unit of ``p`` at the rational ``x`` (exact: integer signs)."""
    v = p.a * x.numerator + p.b * x.denominator
    return (v > 0).astype(np.int8) - (v < 0).astype(np.int8)


def _split_relu(p: _Piece) -> list[_Piece]:
    """``relu`` of the units of ``p``: ``p`` cut at every kink strictly inside it.

    A unit whose signs at the ends differ strictly has its only zero ``-b/a`` strictly
    inside; one whose signs agree or vanish at an end has none strictly inside (or is
    identically 0). Between consecutive cuts no unit changes sign, so its sign at the
    midpoint is its sign on the whole open sub-piece, and ``relu`` is the unit or 0 on
    the closed one (by continuity).
    """
    crossing = np.flatnonzero(_sign_at(p, p.lo) * _sign_at(p, p.hi) < 0)
    cuts = sorted({Fraction(-p.b[k], p.a[k]) for k in crossing})
    ends = [p.lo, *cuts, p.hi]
    out = []
    for lo, hi in pairwise(ends):
        on = _sign_at(p, (lo + hi) / 2) > 0
        out.append(_Piece(lo, hi, np.where(on, p.a, 0), np.where(on, p.b, 0)))
    return out


def _pl_of(pieces: list[_Piece], shift: int) -> PL:
    """The output unit on consecutive pieces as a :class:`PL`; its values from both
    pieces at each inner breakpoint must agree (the net is continuous)."""

    def value(p: _Piece, x: Fraction) -> Fraction:
        return Fraction(p.a[0] * x.numerator + p.b[0] * x.denominator,
                        x.denominator << shift)

    xs, ys = [pieces[0].lo], [value(pieces[0], pieces[0].lo)]
    for p, q in pairwise(pieces):
        assert p.hi == q.lo and value(p, p.hi) == value(q, q.lo), "not continuous"
        xs.append(p.hi)
        ys.append(value(p, p.hi))
    xs.append(pieces[-1].hi)
    ys.append(value(pieces[-1], pieces[-1].hi))
    return PL(xs, ys)


def relu_pl_by_values(
    weights: list[np.ndarray], biases: list[np.ndarray], domain: tuple[float, float]
) -> PL:
    """A ReLU net as an exact :class:`PL`, the slow way: every unit's exact values at
    every breakpoint so far, layer by layer (a cross-check of :func:`relu_pl`)."""
    xs = [Fraction(domain[0]), Fraction(domain[1])]
    layer = [PL(xs, list(xs))]  # the input x
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        grid = layer[0].x
        pre = []
        for k in range(w.shape[1]):
            ys = [Fraction(float(b[k]))] * len(grid)
            for j, unit in enumerate(layer):
                wk = Fraction(float(w[j, k]))
                if wk:
                    ys = [s + wk * v for s, v in zip(ys, unit.y, strict=True)]
            pre.append(ys)
        if i == last:
            return PL(list(grid), pre[0])
        new = sorted(set(grid).union(*(_crossings(grid, ys) for ys in pre)))
        layer = [PL(new, [max(v, Fraction(0)) for v in PL(list(grid), ys).at(new)]) for ys in pre]
    raise AssertionError("unreachable")


def relu_net_exact(
    weights: list[np.ndarray], biases: list[np.ndarray]
) -> Callable[[Fraction], Fraction]:
    """A ReLU net's exact value at rational points.

    Parameters
    ----------
    weights, biases
        The net's layers as stored.

    Returns
    -------
    callable
        ``x -> f̂(x)``: the net's definition, layer by layer in
        :class:`~fractions.Fraction` (without :func:`relu_pl`'s pieces: a cross-check
        of it, and the exact value at one point without the whole PL).
    """
    layers = [
        ([[Fraction(float(v)) for v in col] for col in w.T], [Fraction(float(v)) for v in b])
        for w, b in zip(weights, biases, strict=True)
    ]

    def at(x: Fraction) -> Fraction:
        z = [x]
        for i, (cols, bias) in enumerate(layers):
            u = [
                sum((c * v for c, v in zip(col, z, strict=True) if v), bk)
                for col, bk in zip(cols, bias, strict=True)
            ]
            z = u if i == len(layers) - 1 else [max(v, Fraction(0)) for v in u]
        return z[0]

    return at


def pl_expr(text: str, domain: tuple[float, float]) -> PL | None:
    """A piecewise-linear target as an exact :class:`PL`; None when the text is not one
    (anything but x, float constants, + - abs, products/quotients by constants)."""
    try:
        return _pl_node(ast.parse(text.strip(), mode="eval").body, domain)
    except _NotPL:
        return None


class _NotPL(Exception):
    pass


def _const_pl(node: ast.AST) -> Fraction | None:
    """The exact value of a constant subexpression (None if it depends on x)."""
    if _depends_on_x(node):
        return None
    if isinstance(node, ast.Constant):
        return Fraction(float(node.value))
    if isinstance(node, ast.UnaryOp):
        v = _const_pl(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call) and node.func.id == "abs":  # type: ignore[attr-defined]
        return abs(_const_pl(node.args[0]))
    if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Pow):
        u, v = _const_pl(node.left), _const_pl(node.right)
        if isinstance(node.op, ast.Add):
            return u + v
        if isinstance(node.op, ast.Sub):
            return u - v
        if isinstance(node.op, ast.Mult):
            return u * v
        if v == 0:
            raise _NotPL
        return u / v
    raise _NotPL


def _pl_node(node: ast.AST, domain: tuple[float, float]) -> PL:
    c = _const_pl(node)
    xs = [Fraction(domain[0]), Fraction(domain[1])]
    if c is not None:
        return PL(xs, [c, c])
    if isinstance(node, ast.Name) and node.id == "x":
        return PL(xs, list(xs))
    if isinstance(node, ast.UnaryOp):
        f = _pl_node(node.operand, domain)
        return PL(f.x, [-v for v in f.y]) if isinstance(node.op, ast.USub) else f
    if isinstance(node, ast.Call) and node.func.id == "abs":  # type: ignore[attr-defined]
        f = _pl_node(node.args[0], domain)
        grid = sorted(set(f.x).union(_crossings(f.x, f.y)))
        return PL(grid, [abs(v) for v in f.at(grid)])
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add | ast.Sub):
            f, g = _pl_node(node.left, domain), _pl_node(node.right, domain)
            grid = _merge(f, g)
            sign = 1 if isinstance(node.op, ast.Add) else -1
            return PL(grid, [u + sign * v for u, v in zip(f.at(grid), g.at(grid), strict=True)])
        if isinstance(node.op, ast.Mult | ast.Div):
            k = _const_pl(node.right)
            if k is not None:
                f = _pl_node(node.left, domain)
                if isinstance(node.op, ast.Div):
                    if k == 0:
                        raise _NotPL
                    k = 1 / k
                return PL(f.x, [k * v for v in f.y])
            k = _const_pl(node.left)
            if k is not None and isinstance(node.op, ast.Mult):
                f = _pl_node(node.right, domain)
                return PL(f.x, [k * v for v in f.y])
    raise _NotPL


def exact_pl_sup(text: str, model: Any, domain: tuple[float, float]) -> tuple[Fraction, Fraction]:
    """``(sup |f - f̂|, x)`` exactly, for a piecewise-linear target and a ReLU net."""
    f = pl_expr(text, domain)
    assert f is not None, text
    weights, biases, activation = net_arrays(model)
    assert activation == "relu" or len(weights) == 1
    g = relu_pl(weights, biases, domain)
    grid = _merge(f, g)
    errors = [abs(u - v) for u, v in zip(f.at(grid), g.at(grid), strict=True)]
    best = max(range(len(grid)), key=errors.__getitem__)
    return errors[best], grid[best]


def mpf_fraction(x: Any) -> Fraction:
    """A finite mpmath number as the rational it is, exactly."""
    x = mpf(x)
    man, exp = x.man_exp  # the mantissa without its sign
    man = -man if x < 0 else man
    return Fraction(man << exp) if exp >= 0 else Fraction(man, 1 << -exp)


def pl_mp(pl: PL) -> Callable[..., Any]:
    """``f̂`` in mpmath from its exact :class:`PL` (a ReLU net).

    Parameters
    ----------
    pl
        The model as an exact continuous piecewise-linear function.

    Returns
    -------
    callable
        ``g(x, side=+1)``: the exact value at the rational that the mpmath number ``x``
        is, rounded once to the current precision (``side`` changes nothing: the
        function is continuous).
    """
    return _exact_mp(lambda q: pl.at([q])[0])


def _exact_mp(exact: Callable[[Fraction], Fraction]) -> Callable[..., Any]:
    """``g(x, side=+1)`` in mpmath from a function exact on rationals: its value at the
    rational that ``x`` is, rounded once to the current precision (the last few
    rationals remembered: :func:`error_at` asks for one point at two precisions)."""
    exact = functools.lru_cache(maxsize=4)(exact)

    def g(x: Any, side: int = 1) -> Any:
        y = exact(mpf_fraction(x))
        return mp.make_mpf(from_rational(y.numerator, y.denominator, mp.prec, round_nearest))

    return g


def check_pl(pl: PL, model: Any, x: Any) -> None:
    """Assert that a ReLU net's exact :class:`PL` has the net's exact value at ``x``.

    The value is computed by :func:`relu_net_exact` (the net's definition in rationals,
    without :func:`relu_pl`'s pieces). Not by the net in mpmath: a pre-activation whose
    terms cancel (``x + 1e300 - 1e300``) loses ``x`` at 50 and at 90 digits alike, so
    their agreement says nothing there (the fuzzer's nets have such weights).

    Parameters
    ----------
    pl
        The net's PL on a domain holding ``x``.
    model
        The net.
    x
        An mpmath number (or a float).

    Raises
    ------
    AssertionError
        When the two rationals differ.
    """
    weights, biases, _ = net_arrays(model)
    q = mpf_fraction(x)
    (y,) = pl.at([q])
    exact = relu_net_exact(weights, biases)(q)
    assert y == exact, f"at {x}: the exact PL {_show(y)}, the net {_show(exact)}"


def _show(q: Fraction) -> str:
    """A rational of any size for a message."""
    with mp.workdps(20):
        return mpmath.nstr(mpf(q.numerator) / q.denominator, 17)


# --- the search --------------------------------------------------------------------------


@dataclass
class Reference:
    """The reference's best value ``|e(x)|`` (at 90 digits) and a bound of its own error;
    ``undefined`` counts grid points where the target's real function is undefined."""

    x: Any
    value: Any
    err: Any
    undefined: int


def _error_fn(text: str, model: Any, pl: PL | None = None) -> Callable[[Any, int], Any]:
    """``e(x, side) = |f(x) - f̂(x)|`` in mpmath. A ReLU net's ``f̂`` is exact, rounded
    once: from ``pl`` when given (its :class:`PL`), else from its definition in
    rationals at the point; any other model is evaluated in mpmath from its floats."""
    f = expr_mp(text)
    if pl is not None:
        g = pl_mp(pl)
    elif is_relu_net(model):
        g = _exact_mp(relu_net_exact(*net_arrays(model)[:2]))
    else:
        g = model_mp(model)

    def e(x: Any, side: int = 1) -> Any:
        return abs(f(x) - g(x, side))

    return e


def error_at(text: str, model: Any, x: Any, dps: int = CHECK_DPS) -> tuple[Any, Any]:
    """``|e(x)|`` at ``dps`` digits, and a bound of its error (the change from 50 digits
    fewer, plus a unit of the last digit). A ReLU net's value is exact (rounded once)."""
    e = _error_fn(text, model)
    with mp.workdps(dps - 40):
        low = e(mpf(x))
    with mp.workdps(dps):
        high = e(mpf(x))
        err = abs(high - low) * 2 + abs(high) * mpf(10) ** (-(dps - 45))
    return high, err


def _golden(e: Callable[[Any], Any], lo: Any, hi: Any, iters: int) -> tuple[Any, Any]:
    """Golden-section search for a local max of ``e`` on ``[lo, hi]``; best point seen."""
    r = (mpmath.sqrt(5) - 1) / 2
    c, d = hi - r * (hi - lo), lo + r * (hi - lo)
    fc, fd = _safe(e, c), _safe(e, d)
    best = max((fc, c), (fd, d), key=lambda t: t[0])
    for _ in range(iters):
        if fc > fd:
            hi, d, fd = d, c, fc
            c = hi - r * (hi - lo)
            fc = _safe(e, c)
        else:
            lo, c, fc = c, d, fd
            d = lo + r * (hi - lo)
            fd = _safe(e, d)
        best = max(best, (fc, c), (fd, d), key=lambda t: t[0])
    return best[1], best[0]


def _safe(e: Callable[[Any], Any], x: Any, side: int = 1) -> Any:
    try:
        v = e(x, side)
    except (Undefined, ZeroDivisionError, ValueError, OverflowError):
        return mpf(-1)
    return v if mpmath.isfinite(v) else mpmath.inf


def reference_sup(
    text: str,
    model: Any,
    domain: tuple[float, float],
    *,
    budget: int = 400_000,
    top: int = 20,
    iters: int = 40,
    extra: tuple[float, ...] = (),
) -> Reference:
    """The reference's best ``|f - f̂|`` on the domain (see the module docstring).

    ``budget`` (in operations) sets the mpmath grid: ``budget / cost`` points, at least
    64 and at most 2000; ``extra`` adds candidate points (e.g. the certificate's x).
    A ReLU net is evaluated by its exact :class:`PL` (:func:`pl_mp`), which is checked
    against the net's exact value at the best point (:func:`check_pl`).
    """
    a, b = domain
    cost = model_cost(model) + text.count("(") * 4 + 8
    n = int(min(max(budget // cost, 64), 2000))
    pl = relu_net_pl(model, domain)
    breaks = model_breakpoints(model, domain) if pl is None else pl.x
    e = _error_fn(text, model, pl)
    with mp.workdps(DPS):
        A, B = mpf(a), mpf(b)
        cands: list[tuple[Any, Any, int]] = []
        undefined = 0
        points = [A + (B - A) * i / n for i in range(n + 1)]
        points += [mpf(v) for v in _float_candidates(text, model, domain, max(top, 8))]
        points += [mpf(v) for v in extra if a <= v <= b]
        for x in points:
            v = _safe(e, x)
            undefined += v < 0
            cands.append((v, x, 1))
        for p in breaks:
            if Fraction(a) <= p <= Fraction(b):
                x = mpf(p.numerator) / p.denominator
                cands += [(_safe(e, x, 1), x, 1), (_safe(e, x, -1), x, -1)]
        cands.sort(key=lambda t: t[0], reverse=True)
        h = (B - A) / n
        best = cands[0]
        for v, x, _ in cands[:top]:
            if not mpmath.isfinite(v):
                break
            xr, vr = _golden(e, max(A, x - h), min(B, x + h), iters)
            if vr > best[0]:
                best = (vr, xr, 1)
    v, x, side = best
    if not mpmath.isfinite(v) or v < 0:
        return Reference(x, v, mpf(0), undefined)
    with mp.workdps(CHECK_DPS):
        check = _safe(e, mpf(x), side)
    if pl is not None:
        check_pl(pl, model, x)
    err = abs(check - v) * 2 + abs(check) * mpf(10) ** (-(DPS - 5))
    return Reference(x, check, err, undefined)


def _float_candidates(
    text: str, model: Any, domain: tuple[float, float], k: int, n: int = 8193
) -> list[float]:
    """The ``k`` best points of a dense float grid (candidates only)."""
    a, b = domain
    x = np.unique(np.clip(np.linspace(a, b, n), a, b))
    with np.errstate(all="ignore"):
        err = np.abs(np.asarray(expr_float(text)(x), dtype=float) - model(x))
    err = np.where(np.isnan(err), -1.0, err)
    idx = np.argsort(err)[::-1][:k]
    return [float(x[i]) for i in idx]
