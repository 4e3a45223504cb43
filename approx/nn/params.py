"""The flat parameter vector θ: :func:`pack` a net's weights and biases, :func:`unpack` views.

The layout ``[W_1, b_1, W_2, b_2, …]`` (weights raveled row-major, biases left out for a
net without them) is shared by scipy's optimizers, the gradient checks, the engine's
gradient buffer and the residual Jacobian's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["Net", "n_params", "pack", "unpack"]

Array = NDArray[np.float64]


class Net(Protocol):
    """What the passes read of a net (an :class:`approx.nn.MLP` is one): its layer widths,
    activation, whether it has biases, and its parameter arrays."""

    sizes: list[int]
    activation: str
    bias: bool
    weights: list[Array]
    biases: list[Array]


def n_params(sizes: Sequence[int], bias: bool = True) -> int:
    """Length of θ for layer widths ``sizes`` (biases counted only when ``bias``)."""
    return sum(a * b + (b if bias else 0) for a, b in pairwise(sizes))


def pack(weights: Sequence[Array], biases: Sequence[Array] | None = None) -> Array:
    """Flatten parameter lists into one vector ``[W_1, b_1, W_2, b_2, …]``.

    Parameters
    ----------
    weights : list of ndarray of shapes (n_i, n_{i+1})
    biases : list of ndarray of shapes (n_{i+1},), optional
        Left out of the vector when ``None`` (a net without bias).

    Returns
    -------
    ndarray of shape (P,)
        ``P = Σ n_i n_{i+1}`` (plus ``Σ n_{i+1}`` with biases); weights are raveled
        row-major.
    """
    if biases is None:
        return np.concatenate([np.ravel(w) for w in weights])
    if len(biases) != len(weights):
        raise ValueError(f"got {len(weights)} weight matrices but {len(biases)} bias vectors")
    return np.concatenate(
        [a for w, b in zip(weights, biases, strict=True) for a in (np.ravel(w), np.ravel(b))]
    )


def unpack(
    theta: Array, sizes: Sequence[int], bias: bool = True
) -> tuple[list[Array], list[Array]]:
    """Inverse of :func:`pack`: views into ``theta`` shaped like the parameters.

    Parameters
    ----------
    theta : ndarray of shape (P,)
    sizes : sequence of int
        Layer widths ``[n_1, …, n_{L+1}]``.
    bias : bool
        Whether ``theta`` holds biases; if not, the returned biases are fresh zeros.

    Returns
    -------
    weights, biases : lists of ndarray
        Views into ``theta`` (writing to them writes to ``theta``), except zero biases.
    """
    theta = np.asarray(theta)
    sizes = list(sizes)
    expected = n_params(sizes, bias)
    if theta.shape != (expected,):
        raise ValueError(
            f"theta must have shape ({expected},) for sizes {sizes}, got {theta.shape}"
        )
    weights, biases, at = [], [], 0
    for n_in, n_out in pairwise(sizes):
        weights.append(theta[at : at + n_in * n_out].reshape(n_in, n_out))
        at += n_in * n_out
        if bias:
            biases.append(theta[at : at + n_out])
            at += n_out
        else:
            biases.append(np.zeros(n_out))
    return weights, biases
