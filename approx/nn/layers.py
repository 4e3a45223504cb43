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

The same rules also come in a form that writes into given buffers
(:func:`affine_forward_into`, :func:`affine_vjp_into`, :func:`activation_vjp_into`,
:func:`affine_param_jacobian_into`): the engine (:mod:`approx.nn.engine`) runs them over a
preallocated workspace, and the allocating pair above is a thin wrapper around them, so
each formula is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.nn.activations import ACTIVATIONS, DERIVATIVES

__all__ = [
    "AFFINE",
    "LAYERS",
    "Layer",
    "activation_forward",
    "activation_vjp",
    "activation_vjp_into",
    "affine_forward",
    "affine_forward_into",
    "affine_param_jacobian_into",
    "affine_vjp",
    "affine_vjp_into",
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
    y = np.empty((x.shape[0], W.shape[1]))
    affine_forward_into(x, W, b, y)
    return y, (x, W, b is not None)


def affine_forward_into(x: Array, W: Array, b: Array | None, out: Array) -> None:
    """``out = x W + b`` written into ``out`` of shape (m, n_out) (C-contiguous)."""
    np.matmul(x, W, out=out)
    if b is not None:
        out += b


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
    g_x = np.empty_like(x, dtype=np.float64)
    g_W = np.empty_like(W)
    g_b = np.empty(W.shape[1]) if has_bias else None
    affine_vjp_into(x, W, g, g_x, g_W, g_b)
    return g_x, (g_W, g_b)


def affine_vjp_into(
    x: Array, W: Array, g: Array, g_x: Array | None, g_W: Array | None, g_b: Array | None
) -> None:
    """:func:`affine_vjp` written into buffers: ``g_x = g Wᵀ``, ``g_W = xᵀ g``, ``g_b = 1ᵀ g``.

    Parameters
    ----------
    x : ndarray of shape (m, n_in)
        The layer's input.
    W : ndarray of shape (n_in, n_out)
    g : ndarray of shape (m, n_out)
        ``∂ℓ/∂y``.
    g_x : ndarray of shape (m, n_in), or None
        Receives ``∂ℓ/∂x``; ``None`` skips it (the first layer needs no input gradient).
    g_W : ndarray of shape (n_in, n_out), or None
        ``None`` skips it (a Jacobian pass needs only the input gradient).
    g_b : ndarray of shape (n_out,), or None for a layer without bias
    """
    if g_W is not None:
        np.matmul(x.T, g, out=g_W)
    if g_b is not None:
        np.sum(g, axis=0, out=g_b)
    if g_x is not None:
        np.matmul(g, W.T, out=g_x)


def affine_param_jacobian_into(x: Array, g: Array, J_W: Array, J_b: Array | None) -> None:
    """Per-sample parameter gradients of the affine layer: :func:`affine_vjp` without ``1ᵀ``.

    The VJP sums ``x_j ⊗ g_j`` over the samples; a Jacobian needs each sample's term
    on its own row.

    Parameters
    ----------
    x : ndarray of shape (m, n_in)
    g : ndarray of shape (m, n_out)
        Row ``j`` is ``∂r_j/∂y_j`` for one output ``r_j`` of sample ``j``.
    J_W : ndarray of shape (m, n_in, n_out)
        Receives ``x_j ⊗ g_j`` (may be a strided view into a Jacobian's columns).
    J_b : ndarray of shape (m, n_out), or None
        Receives ``g`` (the bias enters every sample with derivative one).
    """
    np.multiply(x[:, :, None], g[:, None, :], out=J_W)
    if J_b is not None:
        J_b[...] = g


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
        g_u = np.array(g, dtype=np.float64)
        activation_vjp_into(derivative(u, y), g_u)
        return g_u, ()

    vjp.__doc__ = f"``g ∘ {name}'(u)``; an activation has no parameters."
    return vjp


def activation_vjp_into(dsigma: Array, g: Array) -> None:
    """An activation's VJP in place: ``g ← g ∘ σ'(u)``, given ``dsigma = σ'(u)`` (same shape)."""
    g *= dsigma


AFFINE = Layer("affine", affine_forward, affine_vjp)

LAYERS: dict[str, Layer] = {
    "affine": AFFINE,
    **{name: Layer(name, activation_forward(name), activation_vjp(name)) for name in ACTIVATIONS},
}


def get_layer(name: str) -> Layer:
    """Return the layer called ``name``; unknown names list the known ones."""
    return validate.lookup(LAYERS, name, "layer")
