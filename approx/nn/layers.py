"""Layers with an explicit vector–Jacobian product, the building blocks of backprop.

Every layer is a pair of functions:

- ``forward(x, *params) -> (y, cache)`` computes the output and keeps what the
  backward pass will need;
- ``vjp(cache, g) -> (g_x, param_grads)`` takes ``g = ∂ℓ/∂y`` and returns
  ``∂ℓ/∂x`` and the gradients of the layer's parameters (a tuple, empty for an
  activation). This is the vector–Jacobian product ``gᵀ (∂y/∂x)``: each layer only
  multiplies the incoming gradient by its own derivative.

:data:`LAYERS` maps a name to its :class:`Layer`; the activations are the entries of
:data:`approx.nn.activations.ACTIVATIONS`, so one table governs both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx import _validate
from approx.nn.activations import ACTIVATIONS, DERIVATIVES

__all__ = [
    "AFFINE",
    "LAYERS",
    "Layer",
    "activation_forward",
    "activation_vjp",
    "affine_forward",
    "affine_vjp",
    "get_layer",
]

Array = NDArray[np.float64]
Cache = tuple[Any, ...]


@dataclass(frozen=True)
class Layer:
    """A differentiable layer: a forward function and its vector–Jacobian product."""

    name: str
    forward: Callable[..., tuple[Array, Cache]]
    vjp: Callable[[Cache, Array], tuple[Array, tuple[Array | None, ...]]]


def affine_forward(x: Array, W: Array, b: Array | None = None) -> tuple[Array, Cache]:
    """``y = x W + b``.

    Parameters
    ----------
    x : ndarray of shape (m, n_in)
    W : ndarray of shape (n_in, n_out)
    b : ndarray of shape (n_out,), optional

    Returns
    -------
    y : ndarray of shape (m, n_out)
    cache : tuple
        ``(x, W, has_bias)`` for :func:`affine_vjp`.
    """
    y = x @ W
    if b is not None:
        y += b
    return y, (x, W, b is not None)


def affine_vjp(cache: Cache, g: Array) -> tuple[Array, tuple[Array, Array | None]]:
    """Backward rule of :func:`affine_forward`.

    Parameters
    ----------
    cache : tuple
        From :func:`affine_forward`.
    g : ndarray of shape (m, n_out)
        ``∂ℓ/∂y``.

    Returns
    -------
    g_x : ndarray of shape (m, n_in)
        ``g Wᵀ``.
    grads : tuple
        ``(∂ℓ/∂W, ∂ℓ/∂b) = (xᵀ g, 1ᵀ g)``, of shapes ``(n_in, n_out)`` and ``(n_out,)``;
        the bias gradient is ``None`` for a layer without bias.
    """
    x, W, has_bias = cache
    return g @ W.T, (x.T @ g, g.sum(axis=0) if has_bias else None)


def activation_forward(name: str) -> Callable[[Array], tuple[Array, Cache]]:
    """The forward function ``u -> (σ(u), (u, σ(u)))`` of activation ``name``."""
    sigma = ACTIVATIONS[name]

    def forward(u: Array) -> tuple[Array, Cache]:
        y = sigma(u)
        return y, (u, y)

    forward.__doc__ = f"``y = {name}(u)`` elementwise; the cache is ``(u, y)``."
    return forward


def activation_vjp(name: str) -> Callable[[Cache, Array], tuple[Array, tuple[()]]]:
    """The vector–Jacobian product ``(cache, g) -> (g ∘ σ'(u), ())`` of activation ``name``.

    The Jacobian of an elementwise map is diagonal, so its VJP is a product with σ'.
    """
    derivative = DERIVATIVES[name]

    def vjp(cache: Cache, g: Array) -> tuple[Array, tuple[()]]:
        u, y = cache
        return g * derivative(u, y), ()

    vjp.__doc__ = f"``g ∘ {name}'(u)``; an activation has no parameters."
    return vjp


AFFINE = Layer("affine", affine_forward, affine_vjp)

LAYERS: dict[str, Layer] = {
    "affine": AFFINE,
    **{name: Layer(name, activation_forward(name), activation_vjp(name)) for name in ACTIVATIONS},
}


def get_layer(name: str) -> Layer:
    """Return the layer called ``name``; unknown names list the known ones."""
    return _validate.lookup(LAYERS, name, "layer")
