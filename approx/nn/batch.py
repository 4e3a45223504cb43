"""Many 1→d→1 nets on the same samples at once: one engine call for a batch of nets.

A sweep trains replicates and widths of one recipe on the same training points. Their
steps differ only in the weights, so :class:`BatchEngine` holds the nets' parameter
vectors end to end in one flat ``theta`` (and their gradients in one ``grad``) and
computes every net's loss and gradient in one call: with numba, one compiled call for
the forward passes of all nets (:func:`~approx.nn._fused_numba.forward_batch`), the
losses, and one for the backward passes; with numpy, each net's own fused pass in turn.
An elementwise update (SGD, Adam) of the flat vectors then steps every net at once.

**Bit for bit the nets one at a time.** Each net of a batch runs exactly the floating-point
operations it runs alone in :class:`~approx.nn.engine.FusedEngine`: the compiled batch
kernels call the single-net kernels on each net's slice; each net's loss is the same
function on its own row; the numpy backend calls each net's own engine. The widths of
a batch may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.nn.backend import FUSED_LOSSES, fused_backend, is_shallow
from approx.nn.engine import FusedEngine, make_engine
from approx.nn.mlp import MLP

__all__ = ["BatchEngine", "batchable"]

Array = NDArray[np.float64]


def batchable(net: MLP, loss: str) -> bool:
    """Whether ``net`` can join a :class:`BatchEngine`: 1→d→1 with biases, under a loss
    the fused engine handles."""
    return is_shallow(net.sizes) and net.bias and loss in FUSED_LOSSES


class BatchEngine:
    """R nets 1→dᵢ→1 (one activation, biases), their parameters in one flat vector.

    Parameters
    ----------
    nets : sequence of MLP
        The nets; their weights and biases become views into :attr:`theta` (as
        :func:`~approx.nn.engine.make_engine` does for one).
    m : int
        Rows of every batch of samples.
    loss : {"mse", "lp"}
    p : float, optional
        Exponent of ``"lp"``.
    backend : {"auto", "numpy", "numba"}, optional
        As :func:`~approx.nn.backend.fused_backend`: the one each net alone would use.

    Attributes
    ----------
    theta, grad : ndarray of shape (Σ Pᵢ,)
        The parameters and gradients of the nets end to end (pack layout each).
    starts : ndarray of int, shape (R + 1,)
        Net i's slice is ``starts[i] : starts[i + 1]``.
    engines : list of FusedEngine
        Net i's own engine, bound to its slices (its residuals, its loss alone).
    name : str
        The engine every net runs on (``"fused-numba"`` or ``"fused-numpy"``).
    """

    def __init__(
        self,
        nets: Sequence[MLP],
        m: int,
        loss: str = "mse",
        p: float | None = None,
        backend: str | None = None,
    ) -> None:
        if not nets:
            raise ValueError("a batch needs at least one net")
        activation = nets[0].activation
        for net in nets:
            if not batchable(net, loss) or net.activation != activation:
                raise ValueError("a batch holds 1→d→1 nets with biases, of one activation, "
                                 f"under a loss in {FUSED_LOSSES}")
        sizes = [net.n_params for net in nets]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.theta = np.concatenate([net.pack() for net in nets])
        self.grad = np.zeros_like(self.theta)
        self.engines: list[FusedEngine] = []
        for net, a, b in zip(nets, self.starts[:-1], self.starts[1:], strict=True):
            engine = make_engine(net, self.theta[a:b], self.grad[a:b], m, loss, p,
                                 backend=backend)
            assert isinstance(engine, FusedEngine)
            self.engines.append(engine)
        self.backend = fused_backend(backend, activation)
        self.name = self.engines[0].name
        self.m = m
        self.values = np.empty(len(nets))
        self._H = np.empty((len(nets), m))
        self._G = np.empty((len(nets), m))
        self._code = getattr(self.engines[0]._kernels, "code", -1)
        self._mse = loss == "mse"

    def __len__(self) -> int:
        return len(self.engines)

    def slice(self, i: int) -> slice:
        """Net i's slice of :attr:`theta` and :attr:`grad`."""
        return slice(int(self.starts[i]), int(self.starts[i + 1]))

    def __call__(self, x: Array, y: Array) -> Array:
        """Every net's loss on ``(x, y)`` (shape (R,), a buffer reused by the next call);
        the gradients go into :attr:`grad`.

        Parameters
        ----------
        x, y : ndarray of shape (m,)
            Contiguous samples; ``m`` as given at construction (fewer rows run each
            net's own engine in turn).
        """
        if self.backend != "numba" or x.size != self.m:
            for i, engine in enumerate(self.engines):
                self.values[i] = engine(x, y)
            return self.values
        from approx.nn._fused_numba import backward_batch, forward_batch

        H, G = self._H, self._G
        loss_into: Any = self.engines[0]._loss_into
        forward_batch(x, self.theta, self.starts, self._code, H)
        if self._mse:  # mse_into on every row: the same operations, elementwise ones batched
            np.subtract(H, y, out=G)
            for i in range(len(self.engines)):
                self.values[i] = 0.5 * float(np.vdot(G[i], G[i])) / self.m
            G /= self.m
        else:
            for i in range(len(self.engines)):
                self.values[i] = loss_into(H[i], y, G[i])
        backward_batch(x, G, self.theta, self.starts, self._code, self.grad)
        return self.values
