"""Losses on the network output, each returning its value and ``G_{L+1} = ∂ℓ/∂h``.

A loss is a function ``(h, y) -> (value, G)`` where ``h`` of shape ``(m, k)`` is the
network output. :data:`LOSSES` maps names to them; :func:`get_loss` also builds the
parametrised ones (``"lp"`` with its exponent ``p``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx import _validate

__all__ = ["LOSSES", "Loss", "get_loss", "lp", "mse", "softmax"]

Array = NDArray[np.float64]
Loss = Callable[[Array, ArrayLike], tuple[float, Array]]


def _as_targets(h: Array, y: ArrayLike) -> Array:
    """Regression targets as shape ``(m, k)`` like ``h`` (``(m,)`` accepted when k = 1)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1 and h.shape[1] == 1:
        y = y[:, None]
    if y.shape != h.shape:
        raise ValueError(f"targets y must have shape {h.shape} (or ({h.shape[0]},)), got {y.shape}")
    return y


def mse(h: Array, y: ArrayLike) -> tuple[float, Array]:
    """Half mean squared error ``(1/2m) Σ_j ‖h(x_j) − y_j‖²``.

    Parameters
    ----------
    h : ndarray of shape (m, k)
        Network outputs.
    y : array_like of shape (m, k), or (m,) when k = 1
        Targets.

    Returns
    -------
    value : float
    G : ndarray of shape (m, k)
        ``(h − y) / m``.
    """
    r = h - _as_targets(h, y)
    m = h.shape[0]
    return 0.5 * float(np.vdot(r, r)) / m, r / m


def lp(h: Array, y: ArrayLike, p: float = 4.0) -> tuple[float, Array]:
    """Mean p-th power error ``(1/pm) Σ_j Σ_c |h_c(x_j) − y_jc|^p`` (p = 2 is :func:`mse`).

    As ``p`` grows its minimiser approaches the minimiser of the max error.

    Parameters
    ----------
    h : ndarray of shape (m, k)
    y : array_like of shape (m, k), or (m,) when k = 1
    p : float
        Exponent, ≥ 2 (so the loss is differentiable with a continuous gradient).

    Returns
    -------
    value : float
    G : ndarray of shape (m, k)
        ``|h − y|^(p−1) sign(h − y) / m``.
    """
    r = h - _as_targets(h, y)
    m = h.shape[0]
    a = np.abs(r)
    ap1 = a ** (p - 1.0)
    return float(np.vdot(ap1, a)) / (p * m), np.copysign(ap1, r) / m


def softmax(h: Array, y: ArrayLike) -> tuple[float, Array]:
    """Softmax cross-entropy ``(1/m) Σ_j [log Σ_c exp h_c(x_j) − h_{y_j}(x_j)]``.

    Computed stably by subtracting each row's maximum before exponentiating.

    Parameters
    ----------
    h : ndarray of shape (m, k)
        Logits.
    y : array_like of int, shape (m,)
        Class labels in ``0 … k−1``.

    Returns
    -------
    value : float
    G : ndarray of shape (m, k)
        ``(S − I_y) / m``: softmax probabilities minus the one-hot labels, over m.
    """
    labels = np.asarray(y)
    m, k = h.shape
    if labels.shape != (m,):
        raise ValueError(f"softmax labels must have shape ({m},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"softmax labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"softmax labels must lie in 0 … {k - 1}")
    shifted = h - h.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(m)
    value = float(np.mean(log_z - shifted[rows, labels]))
    S = np.exp(shifted - log_z[:, None])
    S[rows, labels] -= 1.0
    return value, S / m


LOSSES: dict[str, Loss] = {"mse": mse, "lp": lp, "softmax": softmax}


def get_loss(name: str, p: float | None = None) -> Loss:
    """Return the loss called ``name`` (``p`` is the exponent of ``"lp"``, default 4).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones), an exponent given to a
        loss that takes none, or ``p < 2``.
    """
    loss = _validate.lookup(LOSSES, name, "loss")
    if name != "lp":
        if p is not None:
            raise ValueError(f"loss {name!r} takes no exponent p")
        return loss
    p = 4.0 if p is None else _validate.finite_float(p, "the lp loss's exponent p", 2.0)
    return partial(lp, p=p)
