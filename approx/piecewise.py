"""The piecewise-linear view of a one-hidden-layer ReLU network.

A net ``g(x) = Σ_i v_i max{0, w_i x + b_i} + c`` of sizes ``[1, d, 1]`` is linear between
its breakpoints ``t_i = -b_i / w_i``. Crossing ``t_i`` from left to right changes the
slope by ``v_i |w_i|`` whatever the sign of ``w_i`` (a unit with ``w_i > 0`` switches on,
one with ``w_i < 0`` switches off). So sorting the breakpoints and accumulating those
slope changes with ``cumsum`` gives every piece's slope, and a second ``cumsum`` of
slope × length gives the values at the breakpoints: ``O(d log d)`` work and ``O(d)``
memory, where evaluating the dense ``d``-wide layer at the ``d`` breakpoints would cost
``O(d²)``. Evaluation through :func:`numpy.interp` then costs ``O(log d)`` per point
instead of ``O(d)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.nn import MLP

__all__ = ["PiecewiseLinear", "piecewise_linear"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class PiecewiseLinear:
    """A continuous piecewise-linear function on a closed interval.

    Attributes
    ----------
    x : ndarray of shape (p + 1,)
        Strictly increasing breakpoints; ``x[0] = a`` and ``x[-1] = b`` are the domain ends.
    y : ndarray of shape (p + 1,)
        Values at ``x``.
    slopes : ndarray of shape (p,)
        Slope on each piece ``[x[j], x[j+1]]`` (accumulated from the units' slope changes,
        so more accurate than differencing ``y`` on short pieces).
    """

    x: Array
    y: Array
    slopes: Array

    @property
    def domain(self) -> tuple[float, float]:
        """The closed interval ``(a, b)``."""
        return float(self.x[0]), float(self.x[-1])

    @property
    def n_pieces(self) -> int:
        """Number ``p`` of linear pieces."""
        return int(self.slopes.size)

    def __call__(self, x: ArrayLike) -> Array:
        """Evaluate at points of the domain by linear interpolation between breakpoints.

        Parameters
        ----------
        x : array_like of shape (m,)
            Points in ``[a, b]``; outside it the end values are held constant
            (:func:`numpy.interp`), unlike the net itself.

        Returns
        -------
        ndarray of shape (m,)
        """
        return np.interp(np.asarray(x, dtype=np.float64), self.x, self.y)


def piecewise_linear(net: MLP, domain: tuple[float, float]) -> PiecewiseLinear:
    """The breakpoints, values and slopes of a ``[1, d, 1]`` ReLU net on ``domain``.

    Parameters
    ----------
    net : MLP
        Sizes ``[1, d, 1]``, activation ``"relu"``. Units with ``w_i = 0`` add the constant
        ``v_i max{0, b_i}``; several units may share a breakpoint; breakpoints outside the
        open domain only shape the first piece.
    domain : tuple of float
        The closed interval ``(a, b)``, ``a < b``.

    Returns
    -------
    PiecewiseLinear
        Agrees with ``net(x)`` on ``[a, b]`` to rounding.

    Raises
    ------
    TypeError
        If ``net`` is not an :class:`~approx.nn.MLP`.
    ValueError
        If the net is not a one-hidden-layer scalar ReLU net, or the domain is invalid.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an approx.nn.MLP, got {type(net).__name__}")
    if len(net.sizes) != 3 or net.sizes[0] != 1 or net.sizes[2] != 1:
        raise ValueError(f"need a net of sizes [1, d, 1], got {net.sizes}")
    if net.activation != "relu":
        raise ValueError(f"need a ReLU net, got activation {net.activation!r}")
    a, b = _check_domain(domain)

    w = net.weights[0][0]
    v = net.weights[1][:, 0]
    bias = net.biases[0] if net.bias else np.zeros_like(w)
    c = float(net.biases[1][0]) if net.bias else 0.0

    # the value at a costs one O(d) evaluation; everything right of it is accumulated.
    # Sums run in extended precision (where the platform has it) so the accumulated
    # values do not drift by more than the dense layer's own rounding.
    ext = np.longdouble
    y_a = float(np.sum(np.maximum(w * a + bias, 0.0).astype(ext) * v)) + c
    moving = w != 0
    w, v, bias = w[moving], v[moving], bias[moving]
    # a tiny |w| sends its breakpoint to ±inf, which the comparisons below handle as
    # "always on" or "never on", exactly as the dense layer behaves on the domain
    with np.errstate(over="ignore"):
        t = -bias / w
    # units active just right of a: rising ones already switched on, falling ones not yet off
    on_at_a = np.where(w > 0, t <= a, t > a)
    slope_a = np.sum((v[on_at_a] * w[on_at_a]).astype(ext))

    inside = (t > a) & (t < b)
    t_in = t[inside]
    change = (v * np.abs(w))[inside]
    order = np.argsort(t_in, kind="stable")
    t_in, change = t_in[order], change[order]
    knots, first = np.unique(t_in, return_index=True)
    change = np.add.reduceat(change.astype(ext), first) if knots.size else change.astype(ext)

    x = np.concatenate(([a], knots, [b]))
    slopes = slope_a + np.concatenate(([0.0], np.cumsum(change)))
    y = y_a + np.concatenate(([0.0], np.cumsum(slopes * np.diff(x))))
    return PiecewiseLinear(x=x, y=y.astype(np.float64), slopes=slopes.astype(np.float64))


def _check_domain(domain: object) -> tuple[float, float]:
    """Validate a closed interval ``(a, b)``: two finite reals with ``a < b``."""
    try:
        a, b = domain  # type: ignore[misc]
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        raise ValueError(f"domain must be a pair of numbers (a, b), got {domain!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a < b):
        raise ValueError(f"domain must be finite with a < b, got ({a}, {b})")
    return a, b
