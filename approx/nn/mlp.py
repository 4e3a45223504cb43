"""The multilayer perceptron of the lecture: ``Z_{i+1} = σ(Z_i W_i + b_i)``.

Besides evaluation, :meth:`MLP.loss_and_grad` runs the lecture's backpropagation
(forward caching every ``Z_i``, backward through ``G_i = (G_{i+1} ∘ σ'(Z_i W_i)) W_iᵀ``),
and :meth:`MLP.residual_jacobian` gives the per-sample Jacobian Levenberg–Marquardt
needs. :func:`pack` and :func:`unpack` flatten the parameters into one vector for
scipy's optimizers and the gradient checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.core import validate
from approx.nn import checkpoint
from approx.nn.activations import IN_PLACE, get_activation
from approx.nn.engine import build_engine, engine_for
from approx.nn.losses import Loss, check_labels, get_loss_into
from approx.nn.params import n_params, pack, unpack

__all__ = ["MLP", "pack", "unpack"]

Array = NDArray[np.float64]

#: largest temporary (bytes) a forward pass may allocate; larger batches are chunked.
#: Far below the 64 MB memory budget on purpose: a block that stays in the CPU cache
#: between the affine map, σ and the next product is evaluated about 1.5× faster.
CHUNK_BYTES = 4 * 2**20


class MLP:
    """A fully connected network with a linear output layer.

    ``Z_1 = X``, ``Z_{i+1} = σ(Z_i W_i + b_i)`` for the hidden layers and
    ``h(X) = Z_L W_L + b_L`` for the last one.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n_1, ..., n_{L+1}]``: input dimension, hidden widths, output
        dimension. At least two entries, all ≥ 1.
    activation : str
        Name of the hidden activation, a key of :data:`approx.nn.activations.ACTIVATIONS`.
    bias : bool
        Whether the layers have biases. Without them ``biases`` holds zero arrays that
        training leaves untouched.
    rng : numpy.random.Generator, optional
        Draws He-initialised weights (``N(0, 2/n_i)``); without it all weights are zero,
        ready to be set by a constructor.

    Attributes
    ----------
    weights : list of ndarray
        ``W_i`` of shape ``(n_i, n_{i+1})``.
    biases : list of ndarray
        ``b_i`` of shape ``(n_{i+1},)``.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        bias: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1:
                raise ValueError(f"every layer width must be an integer ≥ 1, got {sizes}")
        get_activation(activation)
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.bias = bool(bias)
        self.weights: list[Array] = []
        self.biases: list[Array] = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            if rng is None:
                w = np.zeros((n_in, n_out))
            else:
                w = rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)
            self.weights.append(w)
            self.biases.append(np.zeros(n_out))

    @classmethod
    def from_params(
        cls,
        weights: Sequence[ArrayLike],
        biases: Sequence[ArrayLike] | None = None,
        activation: str = "relu",
    ) -> MLP:
        """Build a network from given weights (and biases); shapes are checked."""
        ws = [np.array(w, dtype=np.float64) for w in weights]
        if not ws or any(w.ndim != 2 for w in ws):
            raise ValueError("weights must be a non-empty list of 2-D arrays")
        sizes = [ws[0].shape[0]] + [w.shape[1] for w in ws]
        for i, (w, n_in) in enumerate(zip(ws, sizes[:-1], strict=True)):
            if w.shape[0] != n_in:
                raise ValueError(f"weights[{i}] has shape {w.shape}, expected ({n_in}, ...)")
        net = cls(sizes, activation=activation, bias=biases is not None)
        net.weights = ws
        if biases is not None:
            bs = [np.array(b, dtype=np.float64).reshape(-1) for b in biases]
            if [b.size for b in bs] != sizes[1:]:
                raise ValueError(f"biases have sizes {[b.size for b in bs]}, expected {sizes[1:]}")
            net.biases = bs
        return net

    model_kind = "mlp"

    def to_arrays(self) -> dict[str, Array]:
        """Plain arrays that describe the net, for ``numpy.savez`` (no pickling needed)."""
        arrays: dict[str, Array] = {
            "model": np.array(self.model_kind),
            "activation": np.array(self.activation),
            "bias": np.array(self.bias),
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"W{i}"] = w
            arrays[f"b{i}"] = b
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> MLP:
        """Inverse of :meth:`to_arrays`."""
        n = sum(1 for k in arrays if k.startswith("W"))
        net = cls.from_params(
            [arrays[f"W{i}"] for i in range(n)],
            [arrays[f"b{i}"] for i in range(n)],
            activation=str(arrays["activation"]),
        )
        net.bias = bool(arrays["bias"])
        return net

    @property
    def n_params(self) -> int:
        """Number of trainable scalars (biases counted only when the net has them)."""
        return n_params(self.sizes, self.bias)

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, activation={self.activation!r}, bias={self.bias})"

    def __call__(self, X: ArrayLike) -> Array:
        """Evaluate the network.

        Parameters
        ----------
        X : array_like of shape (m, n_1), or (m,) when n_1 = 1
            Inputs, one per row.

        Returns
        -------
        ndarray of shape (m, n_{L+1}), or (m,) when the input was 1-D and n_{L+1} = 1
        """
        X = np.asarray(X, dtype=np.float64)
        flat = X.ndim == 1
        if flat:
            if self.sizes[0] != 1:
                raise ValueError(
                    f"1-D input needs an input width of 1, the net has {self.sizes[0]}"
                )
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (m, {self.sizes[0]}), got {X.shape}")
        out = np.empty((X.shape[0], self.sizes[-1]))
        rows = max(1, CHUNK_BYTES // (8 * max(self.sizes)))
        for start in range(0, X.shape[0], rows):
            out[start : start + rows] = self._forward(X[start : start + rows])
        return out[:, 0] if flat and self.sizes[-1] == 1 else out

    def _forward(self, Z: Array) -> Array:
        # σ is applied in place: Z @ w is already a fresh array, so no copy is needed
        sigma_ = IN_PLACE[self.activation]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            Z = Z @ w
            if self.bias:
                Z += b
            if i < last:
                sigma_(Z, None)
        return Z

    def check_inputs(self, X: ArrayLike) -> Array:
        """``X`` as a float64 array of shape (m, n_0) (a 1-D array for a net of one
        input); ``ValueError`` for any other shape."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and self.sizes[0] == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have shape (m, {self.sizes[0]}), got {X.shape}")
        return X

    def loss_and_grad(
        self, X: ArrayLike, y: ArrayLike, loss: str | Loss = "mse", checkpoint_every: int = 1
    ) -> tuple[float, tuple[list[Array], list[Array]]]:
        """The loss over a batch and its gradient, by the lecture's backpropagation.

        Forward: ``Z_1 = X``, ``Z_{i+1} = σ(Z_i W_i + b_i)`` (no σ after the last
        layer), caching every ``Z_i``. Backward, with ``G_i = ∂ℓ/∂Z_i``: start from
        ``G_{L+1} = ∂ℓ/∂h`` given by the loss, then for ``i = L … 1``

        - ``D = G_{i+1} ∘ σ'(Z_i W_i + b_i)`` (the activation's VJP),
        - ``∇W_i = Z_iᵀ D``, ``∇b_i = 1ᵀ D``, ``G_i = D W_iᵀ`` (the affine VJP).

        The passes run in :mod:`approx.nn.engine` over buffers kept per batch shape (a
        1→d→1 net under ``"mse"``/``"lp"`` takes the fused pass, equal to rounding).

        Parameters
        ----------
        X : array_like of shape (m, n_1), or (m,) when n_1 = 1
        y : array_like
            Targets of shape (m, n_{L+1}) (or (m,) when n_{L+1} = 1) for regression
            losses; integer labels of shape (m,) for ``"softmax"``.
        loss : str or callable
            A name in :data:`approx.nn.losses.LOSSES`, or a function
            ``(h, y) -> (value, ∂ℓ/∂h)``.
        checkpoint_every : int
            Backprop's memory trade-off (lecture 3.3). 1 (the default) caches every
            layer's activations; ``k > 1`` keeps only the inputs of layers 0, k, 2k, … on
            the way forward and recomputes each segment in the backward pass
            (:func:`approx.nn.checkpoint.loss_and_grad`): about ``⌈L/k⌉ + 2k`` arrays
            held instead of ``2L``, least near ``k = √(L/2)``, for one more forward
            pass. The gradients are the same to rounding.

        Returns
        -------
        loss : float
        grads : tuple of two lists
            ``(grad_W, grad_b)`` shaped like ``weights`` and ``biases``, fresh arrays the
            caller owns; for a net without bias ``grad_b`` holds zeros.
        """
        checkpoint_every = validate.integer(checkpoint_every, "checkpoint_every", 1)
        X = self.check_inputs(X)
        m, k = X.shape[0], self.sizes[-1]
        if isinstance(loss, str):
            get_loss_into(loss)  # an unknown name fails here, listing the known ones
            if loss == "softmax":
                y = check_labels(y, m, k)
            else:
                y = self._check_targets(y, m, "targets y")
        if checkpoint_every > 1:
            return checkpoint.loss_and_grad(self, X, y, loss, checkpoint_every)
        engine = engine_for(self, m, loss)
        grad = np.zeros(self.n_params)
        grad_W, grad_b = unpack(grad, self.sizes, self.bias)
        engine.bind(self.weights, self.biases, grad_W, grad_b)
        try:
            value = engine(X, y)
        finally:
            engine.bind(None, None)
        return value, (grad_W, grad_b)

    def _check_targets(self, y: ArrayLike, m: int, what: str) -> Array:
        k = self.sizes[-1]
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim == 1 and k == 1:
            Y = Y[:, None]
        if Y.shape != (m, k):
            raise ValueError(
                f"{what} must have shape ({m}, {k}) (or ({m},) when k = 1), got {Y.shape}"
            )
        return Y

    def residual_jacobian(self, X: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
        """Residuals ``h(X) − y`` and their Jacobian in the parameters, by backprop.

        All samples are propagated at once: each sample's output depends only on its
        own row, so seeding ``G_{L+1}`` with ones gives, row by row, every sample's own
        ``G_i``; the per-sample weight gradients are then the outer products
        ``Z_i[j] ⊗ D[j]`` (see :meth:`approx.nn.engine.LayeredEngine.residual_jacobian`).

        Parameters
        ----------
        X : array_like of shape (m, n_1), or (m,) when n_1 = 1
        y : array_like of shape (m, k), or (m,) when k = n_{L+1} = 1

        Returns
        -------
        r : ndarray of shape (m k,)
            Residuals, sample-major (row ``j k + c`` is output ``c`` of sample ``j``).
        J : ndarray of shape (m k, n_params)
            ``∂r/∂θ`` with columns in the order of :func:`pack`.
        """
        X = self.check_inputs(X)
        m = X.shape[0]
        Y = self._check_targets(y, m, "y")
        # a fresh engine: its buffers become the arrays returned, owned by the caller
        engine = build_engine(self.sizes, self.activation, self.bias, m)
        engine.bind(self.weights, self.biases)
        r, J = engine.residual_jacobian(X, Y)
        return r.reshape(-1), J

    def pack(self) -> Array:
        """The parameters as one flat vector (a copy), in the order of :func:`pack`."""
        return pack(self.weights, self.biases if self.bias else None)

    def unpack(self, theta: ArrayLike) -> None:
        """Set the parameters from a flat vector made by :meth:`pack` (copied)."""
        self.weights, biases = unpack(np.array(theta, dtype=np.float64), self.sizes, self.bias)
        self.biases = biases
