"""Gradient engines: θ → loss, with ∂loss/∂θ written into a preallocated buffer.

The protocol every engine honours (see :func:`make_engine`): the net's weights are
views into ``theta``; ``engine(X, y)`` returns the loss and writes the gradient into
``grad``; ``loss_only``, ``residuals`` and ``residual_jacobian`` evaluate without the
backward pass; ``p`` is the exponent of the regression loss. Nothing outside an engine
reads its buffers.

Gradients come from :meth:`MLP.loss_and_grad` (the lecture's passes, any MLP), or, for
a 1→d→1 net with a regression loss, from :class:`ShallowEngine`: the same gradient
with preallocated buffers and in-place operations, so a step allocates nothing of size
m×d (fresh large temporaries cost page faults that dominate at large d).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from approx.nn import IN_PLACE, MLP, get_loss, pack, unpack

__all__ = ["GeneralEngine", "ShallowEngine", "make_engine"]

Array = NDArray[np.float64]


class GeneralEngine:
    """Loss and gradient of any MLP through :meth:`MLP.loss_and_grad` (the reference).

    Parameters
    ----------
    net : MLP
        Its weights and biases are replaced by views into ``theta``.
    theta, grad : ndarray of shape (P,)
        Parameter vector (layout of :func:`approx.nn.pack`) and the gradient buffer.
    loss : str
        A regression or classification loss name.
    p : float, optional
        Exponent of the ``"lp"`` loss.
    """

    def __init__(
        self, net: MLP, theta: Array, grad: Array, loss: str = "mse", p: float | None = None
    ) -> None:
        self.net, self.theta, self.grad = net, theta, grad
        self.loss = get_loss(loss, p)
        #: exponent of the regression loss (2 for mse), read by the LM residual transform
        self.p = 2.0 if loss == "mse" else (4.0 if p is None else float(p))
        net.weights, net.biases = unpack(theta, net.sizes, net.bias)

    def _columns(self, X: Array, y: Array) -> tuple[Array, Array]:
        # a 1→d→1 net may be given X and y of shape (m,)
        return (X[:, None], y[:, None]) if X.ndim == 1 else (X, y)

    def __call__(self, X: Array, y: Array) -> float:
        """Loss at the current ``θ`` on ``(X, y)``; the gradient goes into ``grad``."""
        X, y = self._columns(X, y)
        value, (gW, gb) = self.net.loss_and_grad(X, y, self.loss)
        self.grad[:] = pack(gW, gb if self.net.bias else None)
        return value

    def loss_only(self, X: Array, y: Array) -> float:
        """Loss at the current ``θ`` without the backward pass."""
        X, y = self._columns(X, y)
        return self.loss(self.net._forward(X), y)[0]

    def residuals(self, X: Array, y: Array) -> Array:
        """``h(X) − y`` at the current ``θ``: shape (m,) for X of shape (m,), else (m, k)."""
        X2, y2 = self._columns(X, y)
        r = self.net._forward(X2) - y2
        return r[:, 0] if X.ndim == 1 else r

    def residual_jacobian(self, X: Array, y: Array) -> tuple[Array, Array]:
        """Residuals of shape (m k,) and their Jacobian (m k, P) in pack layout."""
        return self.net.residual_jacobian(X, y)


class ShallowEngine:
    """Loss and gradient of a 1→d→1 net under ``"mse"`` or ``"lp"``, without allocation.

    The same quantities as :meth:`MLP.loss_and_grad`, arranged for speed. With
    ``U = x w₀ + b₀`` (m×d), ``A = σ(U)``, ``h = A w₁ + b₁`` and ``G = ∂ℓ/∂h`` (m,):

    - ``∇w₁ = Aᵀ G``, ``∇b₁ = Σ G``;
    - ``D = (G w₁ᵀ) ∘ σ'(U)`` has rank-one structure, so
      ``∇w₀ = xᵀ D = w₁ ∘ (σ'(U)ᵀ (x ∘ G))`` and ``∇b₀ = w₁ ∘ (σ'(U)ᵀ G)``: one
      (2×m)(m×d) product, and D is never formed.

    For ReLU, positive homogeneity gives ``A = M ∘ U`` with the mask ``M = [U > 0]``, so
    ``h = x (M (w₀∘w₁)) + M (b₀∘w₁) + b₁`` and ``∇w₁ = w₀ ∘ (Mᵀ(x∘G)) + b₀ ∘ (Mᵀ G)``:
    the whole step touches only the mask, written over U in place.

    Parameters
    ----------
    net : MLP
        Sizes ``[1, d, 1]``; its weights become views into ``theta``.
    theta, grad : ndarray of shape (P,)
    m : int
        Largest batch the engine will see (buffers are sized for it).
    loss : {"mse", "lp"}
    p : float, optional
        Exponent of ``"lp"``.
    """

    def __init__(
        self,
        net: MLP,
        theta: Array,
        grad: Array,
        m: int,
        loss: str = "mse",
        p: float | None = None,
    ) -> None:
        if net.sizes[0] != 1 or net.sizes[2:] != [1] or len(net.sizes) != 3:
            raise ValueError(f"ShallowEngine needs sizes [1, d, 1], got {net.sizes}")
        if loss not in ("mse", "lp"):
            raise ValueError(f"ShallowEngine supports the losses 'mse' and 'lp', got {loss!r}")
        get_loss(loss, p)  # validates p
        self.p = 2.0 if loss == "mse" else (4.0 if p is None else float(p))
        self.net, self.theta, self.grad = net, theta, grad
        d = net.sizes[1]
        self.relu = net.activation == "relu"
        self.sigma_ = IN_PLACE[net.activation]
        net.weights, net.biases = unpack(theta, net.sizes, net.bias)
        gW, gb = unpack(grad, net.sizes, net.bias)
        self.w0, self.w1 = net.weights[0][0], net.weights[1][:, 0]
        self.b0, self.b1 = net.biases[0], net.biases[1]
        self.gw0, self.gw1 = gW[0][0], gW[1][:, 0]
        self.gb0, self.gb1 = gb[0], gb[1]
        self.U = np.empty((m, d))
        self.Dsig = None if self.relu else np.empty((m, d))
        self.V = np.empty((2, m))  # rows x∘G and G
        self.C = np.empty((d, 2))  # columns w₀∘w₁ and b₀∘w₁ (ReLU)
        self.H = np.empty((m, 2))
        self.T = np.empty((2, d))
        self.h = np.empty(m)
        self.r = np.empty(m)
        self.a = np.empty(m)

    def _forward(self, x: Array, derivative: bool) -> Array:
        """Output h (a view into a buffer) at the current θ; leaves σ'(U) or the mask."""
        mb = x.shape[0]
        U, h = self.U[:mb], self.h[:mb]
        np.multiply(x[:, None], self.w0, out=U)
        if self.net.bias:
            U += self.b0
        if self.relu:
            np.greater(U, 0.0, out=U)  # U now holds the mask M
            np.multiply(self.w0, self.w1, out=self.C[:, 0])
            np.multiply(self.b0, self.w1, out=self.C[:, 1])
            H = self.H[:mb]
            np.matmul(U, self.C, out=H)
            np.multiply(x, H[:, 0], out=h)
            h += H[:, 1]
        else:
            self.sigma_(U, self.Dsig[:mb] if derivative else None)
            np.matmul(U, self.w1, out=h)
        if self.net.bias:
            h += self.b1
        return h

    def _residual_loss(self, x: Array, y: Array) -> tuple[float, Array]:
        mb = x.shape[0]
        r = self.r[:mb]
        np.subtract(self._forward(x, derivative=True), y, out=r)
        if self.p == 2.0:
            return 0.5 * float(np.dot(r, r)) / mb, r
        a = self.a[:mb]
        np.abs(r, out=a)
        return float(np.sum(a**self.p)) / (self.p * mb), r

    def loss_only(self, x: Array, y: Array) -> float:
        """Loss at the current ``θ`` on ``x``, ``y`` of shape (m,)."""
        mb = x.shape[0]
        r = self.r[:mb]
        np.subtract(self._forward(x, derivative=False), y, out=r)
        if self.p == 2.0:
            return 0.5 * float(np.dot(r, r)) / mb
        return float(np.sum(np.abs(r) ** self.p)) / (self.p * mb)

    def residuals(self, x: Array, y: Array) -> Array:
        """``h(x) − y`` of shape (m,) at the current ``θ``: a view, valid until the next call."""
        r = self.r[: x.shape[0]]
        np.subtract(self._forward(x, derivative=False), y, out=r)
        return r

    def residual_jacobian(self, x: Array, y: Array) -> tuple[Array, Array]:
        """Residuals of shape (m,) and their Jacobian (m, P) in pack layout.

        The simplest correct way: the reference :meth:`MLP.residual_jacobian` on the
        net whose weights are views into ``theta``.
        """
        return self.net.residual_jacobian(x[:, None], y)

    def __call__(self, x: Array, y: Array) -> float:
        """Loss at the current ``θ`` on ``x``, ``y`` of shape (m,); gradient into ``grad``."""
        mb = x.shape[0]
        value, r = self._residual_loss(x, y)
        G = self.V[1, :mb]
        if self.p == 2.0:
            np.multiply(r, 1.0 / mb, out=G)
        else:
            a = self.a[:mb]
            a **= self.p - 1.0
            np.copysign(a, r, out=G)
            G *= 1.0 / mb
        np.multiply(x, G, out=self.V[0, :mb])
        self.gb1[...] = G.sum()
        M = self.U[:mb] if self.relu else self.Dsig[:mb]
        np.matmul(self.V[:, :mb], M, out=self.T)
        if self.relu:
            np.multiply(self.w0, self.T[0], out=self.gw1)
            self.gw1 += self.b0 * self.T[1]
        else:
            np.matmul(G, self.U[:mb], out=self.gw1)
        np.multiply(self.w1, self.T[0], out=self.gw0)
        if self.net.bias:
            np.multiply(self.w1, self.T[1], out=self.gb0)
        return value


def make_engine(
    net: MLP, theta: Array, grad: Array, m: int, loss: str = "mse", p: float | None = None
) -> GeneralEngine | ShallowEngine:
    """The fast :class:`ShallowEngine` where it applies, else :class:`GeneralEngine`."""
    if len(net.sizes) == 3 and net.sizes[0] == net.sizes[2] == 1 and loss in ("mse", "lp"):
        return ShallowEngine(net, theta, grad, m, loss, p)
    return GeneralEngine(net, theta, grad, loss, p)
