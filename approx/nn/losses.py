"""Losses on the network output, each returning its value and ``G_{L+1} = ∂ℓ/∂h``.

A loss is a function ``(h, y) -> (value, G)`` where ``h`` of shape ``(m, k)`` is the
network output. :data:`LOSSES` maps names to them; :func:`get_loss` also builds the
parametrised ones (``"lp"`` with its exponent ``p``).

Each formula is written once, in a form that writes ``G`` into a given buffer
(:data:`LOSSES_INTO`, :func:`get_loss_into`: ``(h, y, G) -> value``, inputs trusted);
the engine calls that form on its workspace, and the public functions check their inputs,
allocate ``G`` and call it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.core import validate

__all__ = [
    "LOSSES",
    "LOSSES_INTO",
    "LP_EXPONENT",
    "Loss",
    "LossInto",
    "check_labels",
    "get_loss",
    "get_loss_into",
    "lp",
    "lp_into",
    "mse",
    "mse_into",
    "mse_of",
    "softmax",
    "softmax_into",
]

Array = NDArray[np.float64]
Loss = Callable[[Array, ArrayLike], tuple[float, Array]]
LossInto = Callable[[Array, Array, Array], float]


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
    G = np.empty_like(h, dtype=np.float64)
    return mse_into(h, _as_targets(h, y), G), G


def mse_into(h: Array, y: Array, G: Array) -> float:
    """:func:`mse` with ``G`` written into a buffer; ``h``, ``y``, ``G`` of one shape (m, …)."""
    np.subtract(h, y, out=G)
    value = mse_of(G)
    G /= h.shape[0]
    return value


def mse_of(r: Array) -> float:
    """The mean squared error ``(1/2m) Σ r²`` of the residuals ``r`` (shape (m, …)), summed
    as :func:`mse_into` sums it."""
    return 0.5 * float(np.vdot(r, r)) / r.shape[0]


#: the exponent of the lp loss when none is given
LP_EXPONENT = 4.0


def lp(h: Array, y: ArrayLike, p: float = LP_EXPONENT) -> tuple[float, Array]:
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
    G = np.empty_like(h, dtype=np.float64)
    return lp_into(h, _as_targets(h, y), G, p), G


def lp_into(h: Array, y: Array, G: Array, p: float = LP_EXPONENT) -> float:
    """:func:`lp` with ``G`` written into a buffer; ``h``, ``y``, ``G`` of one shape (m, …)."""
    np.subtract(h, y, out=G)  # r
    m = h.shape[0]
    psi = np.abs(G)
    psi **= p - 1.0
    np.copysign(psi, G, out=psi)  # ψ(r) = |r|^(p−1) sign r, so ψ(r)·r = |r|^p
    value = float(np.vdot(psi, G)) / (p * m)
    np.divide(psi, m, out=G)
    return value


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
    labels = check_labels(y, *h.shape)
    G = np.empty_like(h, dtype=np.float64)
    return softmax_into(h, labels, G), G


def check_labels(y: ArrayLike, m: int, k: int) -> NDArray[np.integer]:
    """Class labels of shape (m,), integers in ``0 … k−1``, or a ``ValueError``."""
    labels = np.asarray(y)
    if labels.shape != (m,):
        raise ValueError(f"softmax labels must have shape ({m},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"softmax labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"softmax labels must lie in 0 … {k - 1}")
    return labels


def softmax_into(h: Array, labels: NDArray[np.integer], G: Array) -> float:
    """:func:`softmax` with ``G`` (m, k) written into a buffer; labels trusted.

    Temporaries of size m (row maxima, sums, the picked logits) are allocated; nothing of
    size m × k besides ``G``.
    """
    m = h.shape[0]
    np.subtract(h, h.max(axis=1, keepdims=True), out=G)  # shifted logits
    rows = np.arange(m)
    picked = G[rows, labels]
    np.exp(G, out=G)
    z = G.sum(axis=1)
    value = float(np.mean(np.log(z) - picked))
    G /= z[:, None]
    G[rows, labels] -= 1.0
    G /= m
    return value


LOSSES: dict[str, Loss] = {"mse": mse, "lp": lp, "softmax": softmax}
LOSSES_INTO: dict[str, LossInto] = {"mse": mse_into, "lp": lp_into, "softmax": softmax_into}


def _exponent(name: str, p: float | None) -> float | None:
    """The validated exponent of loss ``name`` (``None`` for losses that take none)."""
    validate.lookup(LOSSES, name, "loss")
    if name != "lp":
        if p is not None:
            raise ValueError(f"loss {name!r} takes no exponent p")
        return None
    return LP_EXPONENT if p is None else validate.finite_float(p, "the lp loss's exponent p", 2.0)


def get_loss(name: str, p: float | None = None) -> Loss:
    """Return the loss called ``name`` (``p`` is the exponent of ``"lp"``, default 4).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones), an exponent given to a
        loss that takes none, or ``p < 2``.
    """
    p = _exponent(name, p)
    return LOSSES[name] if p is None else partial(lp, p=p)


def get_loss_into(name: str, p: float | None = None) -> LossInto:
    """The in-place form ``(h, y, G) -> value`` of loss ``name``; checks as :func:`get_loss`."""
    p = _exponent(name, p)
    return LOSSES_INTO[name] if p is None else partial(lp_into, p=p)
