"""Targets: functions on a closed interval, the things a network approximates.

A :class:`Target` is a vectorised function ``f`` on a closed domain ``[a, b]`` together
with its *ball* form: the same formula compiled to Arb ball arithmetic
(:func:`approx.problems.expr.compile_ball`), from which :mod:`approx.certify` draws rigorous
enclosures of ``f``, ``f'`` and ``f''`` over any sub-interval. Built-ins keep their
closed forms (and exact ``f''`` for numpy use) and live in a name-keyed table
(:func:`get`, :func:`names`); users define their own from an expression with
:func:`from_expr`, parsed into a safe evaluator (never ``eval``) and refused unless it is
*proven* finite on the whole closed domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.core import validate
from approx.problems.expr import BallFunc, compile_ball, compile_expr
from approx.problems.finite import check_domain_width, check_float_range
from approx.problems.finite import check_finite as prove

__all__ = ["Target", "check_target", "from_expr", "get", "names"]

Func = Callable[[NDArray[np.float64]], NDArray[np.float64]]

#: grid points of the finiteness check of a target without ball form
_GRID = 4097


@dataclass(frozen=True)
class Target:
    """A real function on a closed interval.

    Parameters
    ----------
    name : str
        Short name used in tables and plots.
    func : callable
        Vectorised ``f``: maps an ndarray of shape ``(m,)`` to an ndarray of shape ``(m,)``.
    domain : tuple of float
        The closed interval ``(a, b)`` with ``a < b``.
    d2 : callable or None
        The exact second derivative, vectorised like ``func``; ``None`` when unknown, in
        which case :meth:`second_derivative` uses finite differences (for knot placement
        and plots; every bound uses :attr:`ball`).
    expr : str or None
        The expression the target was parsed from, if any.
    description : str
        A human-readable formula, e.g. ``"sin(2πx)"``.
    ball : callable or None
        The formula in Arb ball arithmetic, ``ball(x, strict)`` (see
        :func:`approx.problems.expr.compile_ball`); ``None`` for a function given only as numpy
        code, which then has no certified max error.
    """

    name: str
    func: Func
    domain: tuple[float, float]
    d2: Func | None = None
    expr: str | None = None
    description: str = ""
    ball: BallFunc | None = None

    def __post_init__(self) -> None:
        a, b = _check_domain(self.domain)
        object.__setattr__(self, "domain", (a, b))

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Evaluate ``f`` at ``x`` (any shape); returns float64 of the same shape."""
        x = np.asarray(x, dtype=np.float64)
        return np.broadcast_to(np.asarray(self.func(x), dtype=np.float64), x.shape)

    @property
    def width(self) -> float:
        """Length ``b - a`` of the domain."""
        return self.domain[1] - self.domain[0]

    def with_domain(self, domain: tuple[float, float]) -> Target:
        """Return the same function on another closed interval (checked for finiteness)."""
        new = replace(self, domain=_check_domain(domain))
        check_finite(new)
        return new

    def second_derivative(self, x: ArrayLike) -> NDArray[np.float64]:
        """Evaluate ``f''`` at ``x``: exact when known, else a central difference.

        The finite-difference stencil stays inside the domain (it is shifted inward near
        the ends), so targets undefined outside ``[a, b]`` are handled.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.d2 is not None:
            return np.broadcast_to(np.asarray(self.d2(x), dtype=np.float64), x.shape)
        a, b = self.domain
        h = 1e-4 * (b - a)
        centre = np.clip(x, a + 2 * h, b - 2 * h)
        # five-point stencil, fourth order in h, evaluated around the (shifted) centre
        f = self.func
        return (
            -f(centre + 2 * h)
            + 16 * f(centre + h)
            - 30 * f(centre)
            + 16 * f(centre - h)
            - f(centre - 2 * h)
        ) / (12 * h * h)


def check_target(target: object) -> None:
    """Refuse anything but a :class:`Target` with a ``TypeError``."""
    if not isinstance(target, Target):
        raise TypeError(
            f"target must be an approx.problems.targets.Target, got {type(target).__name__}"
        )


def _check_domain(domain: object) -> tuple[float, float]:
    """Validate a closed interval ``(a, b)``: two finite reals with ``a < b``."""
    return validate.interval(domain, "domain")

def check_finite(target: Target) -> None:
    """Refuse a target that is not finite everywhere on its closed domain, saying where.

    Proven with ball arithmetic over the whole interval, not sampled on a grid
    (:func:`approx.problems.finite.check_finite`): a pole between two grid points, a logarithm
    of 0 or a square root of a negative number anywhere is found.

    Raises
    ------
    ValueError
        Naming the sub-interval where ``f`` is not finite (or not shown to be).
    """
    if target.ball is not None:
        prove(target.ball, target.domain, target.name)
        return
    a, b = target.domain
    x = np.linspace(a, b, _GRID)
    with np.errstate(all="ignore"):
        y = target(x)
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"target {target.name!r} is not finite on its domain [{a:g}, {b:g}]: "
            f"f(x) is {y[bad][0]} at x = {x[bad][0]:.6g}"
        )


def _abs15_d2(x: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return 0.75 / np.sqrt(np.abs(x))


def _tanh10_d2(x: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.tanh(10 * x)
    return -200 * t * (1 - t * t)


_BUILTINS: dict[str, Target] = {
    t.name: t
    for t in [
        Target(
            "sin2pi",
            lambda x: np.sin(2 * np.pi * x),
            (-1.0, 1.0),
            d2=lambda x: -4 * np.pi**2 * np.sin(2 * np.pi * x),
            description="sin(2πx)",
            ball=compile_ball("sin(2*pi*x)"),
        ),
        Target(
            "runge",
            lambda x: 1 / (1 + 25 * x * x),
            (-1.0, 1.0),
            d2=lambda x: 50 * (75 * x * x - 1) / (1 + 25 * x * x) ** 3,
            description="1/(1+25x²)",
            ball=compile_ball("1/(1 + 25*x**2)"),
        ),
        Target(
            "exp", np.exp, (-1.0, 1.0), d2=np.exp, description="eˣ", ball=compile_ball("exp(x)")
        ),
        Target(
            "tanh10",
            lambda x: np.tanh(10 * x),
            (-1.0, 1.0),
            d2=_tanh10_d2,
            description="tanh(10x)",
            ball=compile_ball("tanh(10*x)"),
        ),
        Target(
            "abs15",
            lambda x: np.abs(x) ** 1.5,
            (-1.0, 1.0),
            d2=_abs15_d2,
            description="|x|^1.5 (C¹ only)",
            ball=compile_ball("abs(x)**1.5"),
        ),
    ]
}


def names() -> list[str]:
    """Names of the built-in targets, in table order."""
    return list(_BUILTINS)


def get(name: str, domain: tuple[float, float] | None = None) -> Target:
    """Return the built-in target ``name``, optionally on another ``domain``.

    Raises
    ------
    ValueError
        If ``name`` is not a built-in (the message lists the known names), or the domain
        is invalid or makes the target non-finite.
    """
    target = validate.lookup(_BUILTINS, name, "built-in target")
    return target if domain is None else target.with_domain(domain)


def from_expr(expr: str, domain: tuple[float, float], name: str | None = None) -> Target:
    """Build a target from an expression in ``x``, e.g. ``"exp(-x**2) * cos(3*x)"``.

    Parameters
    ----------
    expr : str
        The formula. Grammar: the variable ``x``, numbers, ``pi``, ``e``,
        ``+ - * / **``, unary signs, parentheses and the functions sin cos tan arcsin
        arccos arctan sinh cosh tanh exp log log1p sqrt abs erf.
    domain : tuple of float
        The closed interval ``(a, b)``, ``a < b``.
    name : str, optional
        Name for tables and plots; defaults to the expression itself.

    Returns
    -------
    Target
        With ``d2=None`` (knot placement estimates ``f''`` numerically) and the ball
        form of the same expression, from which every bound is enclosed.

    Raises
    ------
    ValueError
        If the expression uses anything outside the grammar (the message says what was
        refused), the domain is invalid, or the function has no finite supremum on the
        closed domain: a pole, a logarithm of 0 or of a negative number, a square root of
        a negative number, anywhere (the message names the sub-interval). Also (a
        :class:`~approx.problems.finite.TargetRefused`) when ``b - a`` overflows, or the
        float form overflows somewhere although the function may be finite: a
        subexpression passes the largest float (the message names it).
    """
    try:
        with np.errstate(all="ignore"):  # overflow is checked for, not warned about
            func = compile_expr(expr)  # first: it refuses what is not an expression
            target = Target(
                name=name if name is not None else expr.strip(),
                func=func,
                domain=_check_domain(domain),
                expr=expr,
                description=expr.strip(),
                ball=compile_ball(expr),
            )
            check_domain_width(target.domain, target.name)
            check_finite(target)
            check_float_range(expr, target.domain, target.name)
    except RecursionError:
        raise ValueError("expression is nested too deeply to evaluate") from None
    except OverflowError:  # e.g. 9**9**9**9: an exponent beyond any float
        raise ValueError("expression has a value too large for a float (it overflows); "
                         "rewrite it within about ±1e308") from None
    return target
