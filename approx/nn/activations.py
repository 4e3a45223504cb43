"""Elementwise activations, keyed by name, each with its derivative.

``ACTIVATIONS[name](u)`` is σ(u); ``DERIVATIVES[name](u, y)`` is σ'(u) given the
pre-activation ``u`` and the output ``y = σ(u)`` (whichever is cheaper is used).
``IN_PLACE[name](u, d)`` does both without allocating: it overwrites ``u`` with σ(u)
and, when ``d`` is given, fills it with σ'(u); fast paths use it so that large
hidden matrices are not reallocated on every step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from approx.core import validate

__all__ = ["ACTIVATIONS", "BOUNDED", "DERIVATIVES", "IN_PLACE", "get_activation"]

Array = NDArray[np.float64]


def _relu(u: Array) -> Array:
    return np.maximum(u, 0.0)


def _sigmoid(u: Array) -> Array:
    # 0.5 (1 + tanh(u/2)) is the logistic function without overflow for large |u|
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _identity(u: Array) -> Array:
    return u


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": _relu,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "cos": np.cos,
    "identity": _identity,
}

DERIVATIVES: dict[str, Callable[[Array, Array], Array]] = {
    # derivative at the kink u = 0 is taken as 0, as in every mainstream framework
    "relu": lambda u, y: (u > 0).astype(u.dtype),
    "sigmoid": lambda u, y: y * (1.0 - y),
    "tanh": lambda u, y: 1.0 - y * y,
    "cos": lambda u, y: -np.sin(u),
    "identity": lambda u, y: np.ones_like(u),
}


def _relu_(u: Array, d: Array | None) -> None:
    np.maximum(u, 0.0, out=u)
    if d is not None:
        np.greater(u, 0.0, out=d)


def _sigmoid_(u: Array, d: Array | None) -> None:
    u *= 0.5
    np.tanh(u, out=u)
    u += 1.0
    u *= 0.5
    if d is not None:
        np.subtract(1.0, u, out=d)
        d *= u


def _tanh_(u: Array, d: Array | None) -> None:
    np.tanh(u, out=u)
    if d is not None:
        np.multiply(u, u, out=d)
        np.subtract(1.0, d, out=d)


def _cos_(u: Array, d: Array | None) -> None:
    if d is not None:
        np.sin(u, out=d)
        np.negative(d, out=d)
    np.cos(u, out=u)


def _identity_(u: Array, d: Array | None) -> None:
    if d is not None:
        d.fill(1.0)


IN_PLACE: dict[str, Callable[[Array, Array | None], None]] = {
    "relu": _relu_,
    "sigmoid": _sigmoid_,
    "tanh": _tanh_,
    "cos": _cos_,
    "identity": _identity_,
}


#: activations bounded by 1 in absolute value (a net of them is bounded by its last
#: layer's weights)
BOUNDED = frozenset({"sigmoid", "tanh", "cos"})


def get_activation(name: str) -> Callable[[Array], Array]:
    """Return the activation called ``name``; unknown names list the known ones."""
    return validate.lookup(ACTIVATIONS, name, "activation")
