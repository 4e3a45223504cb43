"""Backprop's memory trade-off (lecture 3.3): keep every k-th activation, recompute the rest.

:meth:`approx.nn.MLP.loss_and_grad` caches every layer's input ``Z_i`` and
pre-activation ``U_i = Z_i W_i + b_i`` on the way forward, so that the backward pass
``G_i = (G_{i+1} ∘ σ'(U_i)) W_iᵀ`` finds them waiting: memory grows like ``2L`` arrays
of shape (m, n) for ``L`` layers. :func:`loss_and_grad` keeps only the inputs of every
k-th layer (the checkpoints) on the way forward; the backward pass walks the segments
between checkpoints from the last to the first, re-running each segment's forward pass
from its checkpoint with full caching and then back-propagating through it. The
activations held at any time are the ``⌈L/k⌉`` checkpoints plus one segment's ``k``
layers (:func:`cached_arrays`), least near ``k = √(L/2)``: memory ``O(√L)`` for one
extra forward pass.

The recomputation repeats exactly the operations of the first pass on the same inputs,
so the gradients equal those of full caching (to rounding; in practice bit for bit).

:meth:`approx.nn.MLP.loss_and_grad` takes this path when given ``checkpoint_every=k``
with ``k > 1``. This module uses only the layer API (:data:`approx.nn.layers.AFFINE`,
:data:`approx.nn.layers.LAYERS`) and an MLP's ``weights``, ``biases``, ``bias`` and
``activation``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.core import validate
from approx.nn.layers import AFFINE, LAYERS
from approx.nn.losses import Loss, get_loss
from approx.nn.params import Net

__all__ = ["cached_arrays", "loss_and_grad"]

Array = NDArray[np.float64]


def loss_and_grad(
    net: Net, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", every: int = 1
) -> tuple[float, tuple[list[Array], list[Array]]]:
    """The loss and its gradient like :meth:`MLP.loss_and_grad`, keeping every k-th ``Z_i``.

    Parameters
    ----------
    net : MLP
        Any depth; its parameters are read, never written.
    X : array_like of shape (m, n_1), or (m,) when n_1 = 1
    y : array_like
        As for :meth:`MLP.loss_and_grad` (integer labels of shape (m,) for
        ``"softmax"``).
    loss : str or callable
        A name in :data:`approx.nn.LOSSES` or ``(h, y) -> (value, ∂ℓ/∂h)``.
    every : int
        Checkpoint interval k ≥ 1: the inputs of layers 0, k, 2k, … are kept on the way
        forward. ``every = 1`` keeps them all (but, unlike full caching, still recomputes
        each layer's pre-activation in the backward pass); ``every ≥ L`` keeps only
        ``X``.

    Returns
    -------
    loss : float
    grads : tuple of two lists
        ``(grad_W, grad_b)`` shaped like ``net.weights`` and ``net.biases`` (zero bias
        gradients for a net without bias).
    """
    every = validate.integer(every, "every", 1)
    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    Z = np.asarray(X, dtype=np.float64)
    if Z.ndim == 1 and net.sizes[0] == 1:
        Z = Z[:, None]
    if Z.ndim != 2 or Z.shape[1] != net.sizes[0]:
        raise ValueError(f"X must have shape (m, {net.sizes[0]}), got {Z.shape}")
    n_layers = len(net.weights)
    # forward, keeping only the segment starts Z_0, Z_k, Z_2k, …
    checkpoints: list[Array] = []
    for i in range(n_layers):
        if i % every == 0:
            checkpoints.append(Z)
        Z = _layer(net, i, Z)
    value, G = loss_fn(Z, y)
    grad_W: list[Array] = [np.empty(0)] * n_layers
    grad_b: list[Array] = [np.empty(0)] * n_layers
    act = LAYERS[net.activation]
    # backward, one segment [start, stop) at a time, last segment first
    for s in range(len(checkpoints) - 1, -1, -1):
        start, stop = s * every, min((s + 1) * every, n_layers)
        Z = checkpoints.pop()  # the checkpoint is not needed once its segment is done
        affine_caches, act_caches = [], []
        for i in range(start, stop):
            U, cache = AFFINE.forward(Z, net.weights[i], net.biases[i] if net.bias else None)
            affine_caches.append(cache)
            if i < n_layers - 1:
                Z, cache = act.forward(U)
                act_caches.append(cache)
        for i in range(stop - 1, start - 1, -1):
            j = i - start
            D = G if i == n_layers - 1 else act.vjp(act_caches[j], G)[0]
            G, (gW, gb) = AFFINE.vjp(affine_caches[j], D)
            grad_W[i] = gW
            grad_b[i] = gb if gb is not None else np.zeros_like(net.biases[i])
    return value, (grad_W, grad_b)


def _layer(net: Net, i: int, Z: Array) -> Array:
    """``Z_{i+1}`` from ``Z_i`` without keeping anything (σ skipped after the last layer)."""
    U = Z @ net.weights[i]
    if net.bias:
        U += net.biases[i]
    return U if i == len(net.weights) - 1 else LAYERS[net.activation].forward(U)[0]


def cached_arrays(n_layers: int, every: int) -> int:
    """Hidden activations held at the peak of :func:`loss_and_grad`: ``⌈L/k⌉ + 2k − 1``.

    With ``S = ⌈L/k⌉`` segments, the backward pass through a full segment ``s`` holds
    the checkpoints of segments ``0 … s`` (``s + 1`` arrays) and the segment's
    recomputed pre-activations ``U_i`` and outputs ``σ(U_i)`` (``2k``); the last
    segment, of ``r ≤ k`` layers, holds ``S + 2r − 1``. The worst is ``S + 2k − 1``.
    These are arrays of shape (m, n) for hidden width n (the input ``X`` and the logits
    are narrower); gradient temporaries (``G``, ``D``, the loss's ``S − I_y``) come on
    top. Full caching (:meth:`MLP.loss_and_grad`) holds about ``2L``: every ``Z_i`` and
    every ``U_i``.

    Parameters
    ----------
    n_layers : int
        Number of affine layers L.
    every : int
        Checkpoint interval k (values above L act as L).

    Returns
    -------
    int
    """
    n_layers = validate.integer(n_layers, "n_layers", 1)
    every = min(validate.integer(every, "every", 1), n_layers)
    return math.ceil(n_layers / every) + 2 * every - 1
