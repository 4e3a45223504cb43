"""Elementwise activations, keyed by name, each with its derivative.

``ACTIVATIONS[name](u)`` is σ(u); ``DERIVATIVES[name](u, y)`` is σ'(u) given the
pre-activation ``u`` and the output ``y = σ(u)`` (whichever is cheaper is used).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["ACTIVATIONS", "DERIVATIVES", "get_activation"]

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


def get_activation(name: str) -> Callable[[Array], Array]:
    """Return the activation called ``name``; unknown names list the known ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; known activations are: {', '.join(ACTIVATIONS)}"
        ) from None
