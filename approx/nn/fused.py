"""The 1→d→1 net's three layers (affine, σ, affine) fused into one pass, in numpy.

For ``h = σ(x w₀ + b₀) w₁ + b₁`` with ``x`` of shape (m,), the layered VJPs give, with
``U = x w₀ᵀ + b₀`` (m × d), ``G = ∂ℓ/∂h`` (m,) and ``D = (G w₁ᵀ) ∘ σ'(U)``:

- ``∇w₁ = σ(U)ᵀ G``, ``∇b₁ = Σ G``;
- ``∇w₀ = xᵀ D = w₁ ∘ (σ'(U)ᵀ (x ∘ G))`` and ``∇b₀ = 1ᵀ D = w₁ ∘ (σ'(U)ᵀ G)``: D has
  rank-one structure, so one (2 × m)(m × d) product gives both and D is never formed.

For ReLU, positive homogeneity gives ``σ(U) = M ∘ U`` with the mask ``M = [U > 0]``, so
``h = x (M (w₀ ∘ w₁)) + M (b₀ ∘ w₁) + b₁`` and ``∇w₁ = w₀ ∘ (Mᵀ (x ∘ G)) + b₀ ∘ (Mᵀ G)``:
both passes touch only the mask.

The rows are processed in blocks of :data:`BLOCK_BYTES` so that U stays in the cache
between the elementwise steps and the products: a regression loss is a mean of per-row
terms, so each block runs forward, loss and backward before the next, and the workspace
is a block whatever m. :mod:`approx.nn._fused_numba` computes the same in compiled loops.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.nn.activations import IN_PLACE
from approx.nn.losses import LossInto

__all__ = ["BLOCK_BYTES", "NumpyFused", "shallow_jacobian_into"]

Array = NDArray[np.float64]

#: bytes of one block of U (rows × d floats): the L2 cache of one core, where the elementwise
#: steps and the products find it (measured best among 32 KB … 8 MB at d = 64 … 4096)
BLOCK_BYTES = 2**20


class NumpyFused:
    """Forward and backward of a 1→d→1 net over batches of up to ``m`` rows, in numpy.

    Parameters
    ----------
    d : int
        Hidden width.
    m : int
        Largest batch.
    activation : str
        A key of :data:`approx.nn.activations.IN_PLACE`.
    """

    def __init__(self, d: int, m: int, activation: str) -> None:
        self.relu = activation == "relu"
        self.sigma_ = IN_PLACE[activation]
        self.rows = max(1, min(m, BLOCK_BYTES // (8 * d)))
        self.U = np.empty((self.rows, d))
        self.S = None if self.relu else np.empty((self.rows, d))  # σ'(U)
        self.C = np.empty((d, 2))  # columns w₀∘w₁ and b₀∘w₁ (ReLU)
        self.H = np.empty((self.rows, 2))
        self.V = np.empty((2, self.rows))  # rows x∘G and G of a block
        self.T = np.empty((2, d))  # σ'(U)ᵀ (x∘G) and σ'(U)ᵀ G, summed over blocks
        self.Tb = np.empty((2, d))
        self.a = np.empty(d)

    def _pre(self, x: Array, w0: Array, b0: Array) -> Array:
        U = self.U[: x.size]
        np.multiply(x[:, None], w0, out=U)
        U += b0
        return U

    def _block_forward(
        self, xb: Array, w0: Array, b0: Array, w1: Array, hb: Array, derivative: bool
    ) -> None:
        """``hb = σ(U) w₁`` for one block; leaves the mask (ReLU) or σ(U) and σ'(U) behind."""
        U = self._pre(xb, w0, b0)
        if self.relu:
            np.greater(U, 0.0, out=U)  # U now holds the mask M
            H = self.H[: xb.size]
            np.matmul(U, self.C, out=H)
            np.multiply(xb, H[:, 0], out=hb)
            hb += H[:, 1]
        else:
            self.sigma_(U, self.S[: xb.size] if derivative else None)
            np.matmul(U, w1, out=hb)

    def _block_backward(self, xb: Array, Gb: Array, gw1: Array, first: bool) -> None:
        """Add one block's ``σ'(U)ᵀ [x∘G, G]`` to T (and ``σ(U)ᵀ G`` to ``gw1``)."""
        n = xb.size
        if self.relu:
            Ds = self.U[:n]
        else:
            Ds = self.S[:n]
            np.matmul(Gb, self.U[:n], out=self.a)  # σ(U)ᵀ G for this block
            if first:
                gw1[...] = self.a
            else:
                gw1 += self.a
        V = self.V[:, :n]
        np.multiply(xb, Gb, out=V[0])
        V[1] = Gb
        np.matmul(V, Ds, out=self.T if first else self.Tb)
        if not first:
            self.T += self.Tb

    def _products(self, w0: Array, b0: Array, w1: Array) -> None:
        if self.relu:
            np.multiply(w0, w1, out=self.C[:, 0])
            np.multiply(b0, w1, out=self.C[:, 1])

    def forward(self, x: Array, w0: Array, b0: Array, w1: Array, b1: float, h: Array) -> None:
        """``h = σ(x w₀ᵀ + b₀) w₁ + b₁`` written into ``h``; all arrays of shape (m,) or (d,)."""
        self._products(w0, b0, w1)
        for s in range(0, x.size, self.rows):
            self._block_forward(x[s : s + self.rows], w0, b0, w1, h[s : s + self.rows], False)
        h += b1

    def loss_and_grad(
        self,
        x: Array,
        y: Array,
        loss_into: LossInto,
        params: tuple[Array, Array, Array, float],
        h: Array,
        G: Array,
        grads: tuple[Array, Array, Array],
    ) -> tuple[float, float]:
        """Loss and gradients, block by block: forward, loss, backward while U is in cache.

        A regression loss is a mean over rows of a function of each row's residual, so a
        block's ``G`` is its own: the block's loss (a mean over its ``n`` rows) enters
        with weight ``n/m`` and its ``G`` is scaled by the same.

        Parameters
        ----------
        x, y : ndarray of shape (m,)
        loss_into : callable
            ``(h, y, G) -> value``, from :func:`approx.nn.losses.get_loss_into`.
        params : tuple
            ``(w₀, b₀, w₁, b₁)``, arrays of shape (d,) and a float.
        h, G : ndarray of shape (m,)
            Receive the outputs and ``∂ℓ/∂h``.
        grads : tuple of ndarray of shape (d,)
            Receive ``(∇w₀, ∇b₀, ∇w₁)``.

        Returns
        -------
        value : float
        sum_G : float
            ``Σ G = ∇b₁``.
        """
        w0, b0, w1, b1 = params
        gw0, gb0, gw1 = grads
        m, value = x.size, 0.0
        self._products(w0, b0, w1)
        for s in range(0, m, self.rows):
            xb, hb, Gb = x[s : s + self.rows], h[s : s + self.rows], G[s : s + self.rows]
            n = xb.size
            self._block_forward(xb, w0, b0, w1, hb, True)
            hb += b1
            if n == m:
                value = loss_into(hb, y, Gb)
            else:
                value += loss_into(hb, y[s : s + n], Gb) * (n / m)
                Gb *= n / m
            self._block_backward(xb, Gb, gw1, s == 0)
        T = self.T
        if self.relu:
            np.multiply(w0, T[0], out=gw1)
            np.multiply(b0, T[1], out=self.a)
            gw1 += self.a
        np.multiply(w1, T[0], out=gw0)
        np.multiply(w1, T[1], out=gb0)
        return value, float(G.sum())


def shallow_jacobian_into(
    x: Array, w0: Array, b0: Array, w1: Array, activation: str, bias: bool, J: Array
) -> None:
    """``∂h_j/∂θ`` of a 1→d→1 net for every sample, in the column order of :func:`pack`.

    ``∂h_j/∂w0ₖ = x_j w1ₖ σ'(u_jk)``, ``∂h_j/∂b0ₖ = w1ₖ σ'(u_jk)``,
    ``∂h_j/∂w1ₖ = σ(u_jk)``, ``∂h_j/∂b₁ = 1``.

    Parameters
    ----------
    x : ndarray of shape (m,)
    w0, b0, w1 : ndarray of shape (d,)
    activation : str
    bias : bool
        Whether θ holds the biases (columns ``[w₀, b₀, w₁, b₁]``, else ``[w₀, w₁]``).
    J : ndarray of shape (m, 3d + 1) or (m, 2d)
        Receives the Jacobian.
    """
    d = w0.size
    cw0, cw1 = J[:, :d], J[:, 2 * d : 3 * d] if bias else J[:, d:]
    cb0 = J[:, d : 2 * d] if bias else np.empty_like(cw0)
    np.multiply(x[:, None], w0, out=cw1)
    cw1 += b0
    IN_PLACE[activation](cw1, cb0)  # σ(U) into the w₁ columns, σ'(U) into the b₀ ones
    cb0 *= w1
    np.multiply(x[:, None], cb0, out=cw0)
    if bias:
        J[:, 3 * d] = 1.0
