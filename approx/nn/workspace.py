"""The buffers of one forward and backward pass, allocated once per batch shape.

Backprop caches every layer's output ``Z_{i+1} = σ(Z_i W_i + b_i)`` and σ' at its
pre-activation for the backward pass, and hands ``G_{i+1}`` from layer to layer. Fresh
m × n arrays on every step cost page faults that dominate at large widths, so a
:class:`Workspace` holds them for batches of up to ``m`` rows and the passes write into
views of it.

Memory is ``m · (2 Σ_hidden n_i + n_{L+1} + 2 max_i n_{i+1})`` floats: one activation
and one derivative buffer per hidden layer (the lists :attr:`Workspace.acts` and
:attr:`Workspace.dsigma`, indexed by layer), the output, and two gradient buffers used in
turn. The per-layer lists are the seam for checkpointing: a pass that keeps only every
k-th layer's activations allocates those entries and one segment's worth of recompute
buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["Workspace"]

Array = NDArray[np.float64]


class Workspace:
    """Preallocated buffers for a layered net of widths ``sizes`` and batches of ≤ ``m`` rows.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n_1, …, n_{L+1}]``.
    m : int
        Largest batch.

    Attributes
    ----------
    acts : list of ndarray
        ``acts[i]`` of shape (m, n_{i+2}) holds ``Z_{i+2}`` (layer ``i``'s output; the
        last entry is the network output h).
    dsigma : list of ndarray
        ``dsigma[i]`` of shape (m, n_{i+2}): σ' at layer ``i``'s pre-activation (hidden
        layers only).
    """

    def __init__(self, sizes: Sequence[int], m: int) -> None:
        self.sizes, self.m = list(sizes), int(m)
        outs = self.sizes[1:]
        self.acts = [np.empty((m, n)) for n in outs]
        self.dsigma = [np.empty((m, n)) for n in outs[:-1]]
        # G_{i+1} of layer i lives in grads[(L−1−i) % 2]: consecutive layers alternate
        self._grads = (np.empty(m * max(outs)), np.empty(m * max(outs)))
        self._jacobian: Array | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held (the Jacobian buffer included once it has been asked for)."""
        arrays = [*self.acts, *self.dsigma, *self._grads]
        extra = 0 if self._jacobian is None else self._jacobian.nbytes
        return sum(a.nbytes for a in arrays) + extra

    def grad(self, i: int, mb: int) -> Array:
        """The buffer for ``G_{i+2} = ∂ℓ/∂Z_{i+2}`` (layer ``i``'s output), shape (mb, n_{i+2})."""
        last = len(self.sizes) - 2
        flat = self._grads[(last - i) % 2]
        return flat[: mb * self.sizes[i + 1]].reshape(mb, self.sizes[i + 1])

    def jacobian(self, mb: int, k: int, n_params: int) -> Array:
        """A buffer of shape (mb, k, n_params) for the residual Jacobian (allocated on demand)."""
        if self._jacobian is None:
            self._jacobian = np.empty(self.m * k * n_params)
        return self._jacobian[: mb * k * n_params].reshape(mb, k, n_params)
