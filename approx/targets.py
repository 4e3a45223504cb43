"""Targets: smooth functions on a closed interval, the things a network approximates.

A :class:`Target` is a vectorised function ``f`` on a closed domain ``[a, b]`` together
with what is known of its second derivative: exact where given, otherwise estimated by
finite differences. Built-ins live in a name-keyed table (:func:`get`, :func:`names`);
users define their own from an expression with :func:`from_expr`, parsed into a safe
evaluator (never ``eval``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx import _validate
from approx._expr import compile_expr

__all__ = ["Target", "from_expr", "get", "names"]

Func = Callable[[NDArray[np.float64]], NDArray[np.float64]]

#: points per unit interval of the grid used to estimate ``max |f''|`` and to check finiteness
_GRID = 20_001


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
        which case :meth:`second_derivative` uses finite differences.
    expr : str or None
        The expression the target was parsed from, if any.
    description : str
        A human-readable formula, e.g. ``"sin(2πx)"``.
    """

    name: str
    func: Func
    domain: tuple[float, float]
    d2: Func | None = None
    expr: str | None = None
    description: str = ""

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

    def max_abs_second_derivative(self) -> float:
        """Estimate ``max |f''|`` over the domain (``inf`` where ``f''`` is unbounded).

        A dense grid, then a bounded local search around the best grid point. Computed
        once per target: every certified max error and every bound uses it.
        """
        return self._max_abs_second_derivative

    @cached_property
    def _max_abs_second_derivative(self) -> float:
        from scipy.optimize import minimize_scalar

        a, b = self.domain
        x = np.linspace(a, b, _GRID)
        with np.errstate(all="ignore"):
            v = np.abs(self.second_derivative(x))
        if not np.all(np.isfinite(v)):
            return float("inf")
        i = int(np.argmax(v))
        lo, hi = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
        res = minimize_scalar(
            lambda t: -abs(float(self.second_derivative(np.array([t]))[0])),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-12 * (b - a)},
        )
        return float(max(v[i], -res.fun))


def _check_domain(domain: object) -> tuple[float, float]:
    """Validate a closed interval ``(a, b)``: two finite reals with ``a < b``."""
    try:
        a, b = domain  # type: ignore[misc]
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        raise ValueError(
            f"domain must be a pair of numbers (a, b) with a < b, got {domain!r}"
        ) from None
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"domain must be finite, got ({a}, {b})")
    if not a < b:
        raise ValueError(f"domain (a, b) needs a < b, got ({a}, {b})")
    return a, b


def check_finite(target: Target) -> None:
    """Refuse a target that is not finite somewhere on its domain, saying where.

    Raises
    ------
    ValueError
        If ``f`` is NaN or infinite at some point of a dense grid over the domain
        (the grid includes both end points).
    """
    a, b = target.domain
    x = np.linspace(a, b, _GRID)
    with np.errstate(all="ignore"):
        y = target(x)
    bad = ~np.isfinite(y)
    if bad.any():
        where = x[bad]
        shown = ", ".join(f"{v:.6g}" for v in where[:3])
        more = f" and {where.size - 3} more points" if where.size > 3 else ""
        raise ValueError(
            f"target {target.name!r} is not finite on its domain [{a:g}, {b:g}]: "
            f"f(x) is {y[bad][0]} at x = {shown}{more}"
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
        ),
        Target(
            "runge",
            lambda x: 1 / (1 + 25 * x * x),
            (-1.0, 1.0),
            d2=lambda x: 50 * (75 * x * x - 1) / (1 + 25 * x * x) ** 3,
            description="1/(1+25x²)",
        ),
        Target("exp", np.exp, (-1.0, 1.0), d2=np.exp, description="eˣ"),
        Target(
            "tanh10",
            lambda x: np.tanh(10 * x),
            (-1.0, 1.0),
            d2=_tanh10_d2,
            description="tanh(10x)",
        ),
        Target(
            "abs15",
            lambda x: np.abs(x) ** 1.5,
            (-1.0, 1.0),
            d2=_abs15_d2,
            description="|x|^1.5 (C¹ only)",
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
    target = _validate.lookup(_BUILTINS, name, "built-in target")
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
        With ``d2=None``: its second derivative is estimated numerically.

    Raises
    ------
    ValueError
        If the expression uses anything outside the grammar (the message says what was
        refused), the domain is invalid, or the function is not finite somewhere on it.
    """
    func = compile_expr(expr)
    target = Target(
        name=name if name is not None else expr.strip(),
        func=func,
        domain=_check_domain(domain),
        expr=expr,
        description=expr.strip(),
    )
    check_finite(target)
    return target
