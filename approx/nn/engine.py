"""One backprop engine: θ → loss, with ∂loss/∂θ written into a preallocated buffer.

Every gradient in the package comes from here: :meth:`MLP.loss_and_grad`,
:meth:`MLP.residual_jacobian` and the optimizers alike. The protocol (shared with
``approx.train``):

    engine = make_engine(net, theta, grad, m, loss="mse", p=None)
    engine(X, y) -> float                  # loss; ∂loss/∂θ written into grad
    engine.loss_only(X, y) -> float        # no backward pass
    engine.residuals(X, y) -> ndarray      # h(X) − y, a view valid until the next call
    engine.residual_jacobian(X, y) -> (r, J)   # J = ∂r/∂θ (mb·k, P), pack layout
    engine.p                               # exponent of the regression loss (2 for mse)

``net.weights`` / ``net.biases`` become views into ``theta``, so the caller updates θ in
place and the engine sees it. Batches have at most ``m`` rows.

Two engines implement it:

- :class:`LayeredEngine`, any MLP: the lecture's passes, each layer through its VJP
  rule (:mod:`approx.nn.layers`) over a :class:`~approx.nn.workspace.Workspace`, so a
  step allocates no m × n array;
- :class:`FusedEngine`, a 1→d→1 net under ``"mse"`` or ``"lp"``: the three layers fused
  (:mod:`approx.nn.fused`), in numpy or, when numba is installed, in compiled loops
  (:mod:`approx.nn._fused_numba`) that never leave the L1 cache. Both are tested equal
  to the layered engine to rounding.

Which fused backend runs: ``backend=`` of :func:`make_engine`, else the environment
variable ``APPROX_ENGINE`` (``auto``, ``numpy`` or ``numba``), else ``auto`` (numba when
importable, for the activations it runs faster: ReLU and the identity; an activation
without a numba code in its record always runs numpy; see :mod:`approx.nn.backend`).
``engine.name`` (``"layered"``, ``"fused-numpy"``, ``"fused-numba"``) says which ran, and
:func:`engine_name` says which would, for run metadata: the last bits of a gradient
differ between them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.nn.activations import IN_PLACE
from approx.nn.backend import (
    BACKENDS,
    ENV_VAR,
    FUSED_LOSSES,
    NUMBA_FASTER,
    engine_name,
    fused_backend,
    is_shallow,
    numba_available,
)
from approx.nn.fused import NumpyFused, shallow_jacobian_into
from approx.nn.layers import (
    activation_vjp_into,
    affine_forward_into,
    affine_param_jacobian_into,
    affine_vjp_into,
)
from approx.nn.losses import LP_EXPONENT, Loss, LossInto, get_loss_into, mse_into, mse_of
from approx.nn.params import Net, n_params, unpack
from approx.nn.workspace import Workspace

if TYPE_CHECKING:
    from approx.nn._fused_numba import NumbaFused

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "FUSED_LOSSES",
    "NUMBA_FASTER",
    "Engine",
    "FusedEngine",
    "LayeredEngine",
    "build_engine",
    "cached_engines",
    "clear_engine_cache",
    "engine_for",
    "engine_name",
    "fused_backend",
    "is_shallow",
    "make_engine",
    "numba_available",
]

Array = NDArray[np.float64]


def _exponent(loss: str, p: float | None) -> float:
    # 2 for mse, the lp exponent (default 4); no regression exponent for softmax
    if loss == "mse":
        return 2.0
    return (LP_EXPONENT if p is None else float(p)) if loss == "lp" else float("nan")


def _wrap(loss: Loss) -> LossInto:
    """An allocating loss ``(h, y) -> (value, G)`` in the in-place form."""

    def into(h: Array, y: Any, G: Array) -> float:
        value, g = loss(h, y)
        g = np.asarray(g, dtype=np.float64)
        if g.shape != G.shape:
            raise ValueError(f"the loss returned ∂ℓ/∂h of shape {g.shape}, expected {G.shape}")
        G[...] = g
        return float(value)

    return into


class Engine:
    """What both engines share: the loss, the bound parameters, the protocol's methods.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths.
    activation : str
    bias : bool
    m : int
        Largest batch.
    loss : str or callable
        A loss name, or an allocating loss ``(h, y) -> (value, ∂ℓ/∂h)``.
    p : float, optional
        Exponent of ``"lp"``.

    Attributes
    ----------
    name : str
        Which engine this is (recorded in run metadata).
    p : float
        Exponent of the regression loss (2 for ``"mse"``; NaN for ``"softmax"`` and a
        custom loss).
    theta, grad : ndarray of shape (P,) or None
        The vectors bound by :func:`make_engine`.
    """

    name = "engine"

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str,
        bias: bool,
        m: int,
        loss: str | Loss = "mse",
        p: float | None = None,
    ) -> None:
        self.sizes, self.activation, self.bias = list(sizes), activation, bool(bias)
        self.m = validate.integer(m, "the engine's batch size m", 1)
        self.n_params = n_params(self.sizes, self.bias)
        if isinstance(loss, str):
            self._loss_into = get_loss_into(loss, p)
            self.p = _exponent(loss, p)
        else:
            self._loss_into = _wrap(loss)
            self.p = float("nan")
        #: how targets arrive: class labels, regression values, or as a custom loss takes them
        self._targets = "labels" if loss == "softmax" else "custom" if callable(loss) else "values"
        self.theta: Array | None = None
        self.grad: Array | None = None
        self.net: Net | None = None
        self.bind(None, None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the engine's buffers."""
        raise NotImplementedError

    def bind(
        self,
        weights: Sequence[Array] | None,
        biases: Sequence[Array] | None,
        grad_W: Sequence[Array] | None = None,
        grad_b: Sequence[Array] | None = None,
    ) -> None:
        """Point the engine at parameter arrays and gradient arrays (shapes as the net's).

        Gradients for biases are written only when the net has biases.
        """
        self.weights, self.biases = weights, biases
        self.grad_W, self.grad_b = grad_W, grad_b

    # loss_only and residuals, on top of _inputs, _forward(X, derivative) -> h, _grad_buffer
    def _inputs(self, X: Array, y: Any) -> tuple[Array, Any]:
        raise NotImplementedError

    def _check_rows(self, mb: int) -> None:
        if mb > self.m:
            raise ValueError(f"a batch of {mb} rows exceeds the engine's size m = {self.m}")

    def __call__(self, X: Array, y: Any) -> float:
        """Loss at the bound parameters on the batch; ∂loss/∂θ goes into the bound gradients."""
        raise NotImplementedError

    def loss_only(self, X: Array, y: Any) -> float:
        """Loss at the bound parameters on the batch, without the backward pass."""
        X, y = self._inputs(X, y)
        h = self._forward(X, derivative=False)
        return self._loss_into(h, y, self._grad_buffer(h.shape[0]))

    def residuals(self, X: Array, y: Array) -> Array:
        """``h(X) − y``, a view: shape (mb,) when y has shape (mb,) and k = 1, else (mb, k)."""
        flat = np.ndim(y) == 1 and self.sizes[-1] == 1
        X, y = self._inputs(X, y)
        h = self._forward(X, derivative=False)
        r = self._r[: h.shape[0]]
        np.subtract(h, y, out=r)
        return r[:, 0] if flat and r.ndim == 2 else r


class LayeredEngine(Engine):
    """Any MLP, layer by layer through the VJP rules of :mod:`approx.nn.layers`.

    Forward: ``U = Z_i W_i + b_i`` into the workspace, σ applied in place with σ'(U) kept
    beside it. Backward, from ``G_{L+1} = ∂ℓ/∂h``: ``D = G_{i+1} ∘ σ'(U)`` in place (the
    activation's VJP), then ``∇W_i = Z_iᵀ D``, ``∇b_i = 1ᵀ D``, ``G_i = D W_iᵀ`` (the
    affine VJP) straight into the gradient arrays and the next buffer.
    """

    name = "layered"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ws = Workspace(self.sizes, self.m)
        self._r = np.empty((self.m, self.sizes[-1]))
        self.sigma_ = IN_PLACE[self.activation]

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        return self.ws.nbytes + self._r.nbytes

    def _inputs(self, X: Array, y: Any) -> tuple[Array, Any]:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        self._check_rows(X.shape[0])
        if self._targets == "values":
            y = np.asarray(y, dtype=np.float64)
            if y.ndim == 1:
                y = y[:, None]
        return X, y

    def _grad_buffer(self, mb: int) -> Array:
        return self.ws.grad(len(self.sizes) - 2, mb)

    def __call__(self, X: Array, y: Any) -> float:
        """Loss at the bound parameters on the batch; ∂loss/∂θ goes into the bound gradients."""
        X, y = self._inputs(X, y)
        h = self._forward(X, derivative=True)
        G = self._grad_buffer(h.shape[0])
        value = self._loss_into(h, y, G)
        self._backward(X, G)
        return value

    def _forward(self, X: Array, derivative: bool) -> Array:
        mb, last = X.shape[0], len(self.sizes) - 2
        Z = X
        for i in range(last + 1):
            out = self.ws.acts[i][:mb]
            affine_forward_into(Z, self.weights[i], self.biases[i] if self.bias else None, out)
            if i < last:
                self.sigma_(out, self.ws.dsigma[i][:mb] if derivative else None)
            Z = out
        return Z

    def _backward(self, X: Array, G: Array) -> None:
        mb, last = X.shape[0], len(self.sizes) - 2
        for i in range(last, -1, -1):
            if i < last:
                activation_vjp_into(self.ws.dsigma[i][:mb], G)  # D = G ∘ σ'(U)
            Z = X if i == 0 else self.ws.acts[i - 1][:mb]
            G_in = None if i == 0 else self.ws.grad(i - 1, mb)
            g_b = self.grad_b[i] if self.bias else None
            affine_vjp_into(Z, self.weights[i], G, G_in, self.grad_W[i], g_b)
            G = G_in

    def residual_jacobian(self, X: Array, y: Array) -> tuple[Array, Array]:
        """Residuals ``r`` (mb·k,) and ``J = ∂r/∂θ`` (mb·k, P), sample-major; J is a view.

        Each sample's output depends only on its own row, so seeding ``G_{L+1}`` with the
        unit vector of output ``c`` on every row and running the VJPs backward gives each
        sample's own ``D``; the affine layers then write the per-sample outer products
        ``Z_i[j] ⊗ D[j]`` (the VJP without its sum over samples) into J's columns.
        """
        X, y = self._inputs(X, y)
        h = self._forward(X, derivative=True)
        mb, k, last = X.shape[0], self.sizes[-1], len(self.sizes) - 2
        r = self._r[:mb]
        np.subtract(h, y, out=r)
        J = self.ws.jacobian(mb, k, self.n_params)
        starts = np.cumsum([0] + [a * b + (b if self.bias else 0) for a, b in pairwise(self.sizes)])
        for c in range(k):
            G = self._grad_buffer(mb)
            G.fill(0.0)
            G[:, c] = 1.0
            for i in range(last, -1, -1):
                if i < last:
                    activation_vjp_into(self.ws.dsigma[i][:mb], G)
                n_in, n_out = self.sizes[i], self.sizes[i + 1]
                at = starts[i]
                J_W = _view(J[:, c, at : at + n_in * n_out], (mb, n_in, n_out))
                J_b = J[:, c, at + n_in * n_out : starts[i + 1]] if self.bias else None
                Z = X if i == 0 else self.ws.acts[i - 1][:mb]
                affine_param_jacobian_into(Z, G, J_W, J_b)
                if i > 0:
                    G_in = self.ws.grad(i - 1, mb)
                    affine_vjp_into(Z, self.weights[i], G, G_in, None, None)
                    G = G_in
        return r.reshape(-1), J.reshape(mb * k, self.n_params)


def _view(a: Array, shape: tuple[int, ...]) -> Array:
    """``a`` reshaped without copying (a copy would silently drop the writes)."""
    v = a.reshape(shape)
    if not np.may_share_memory(v, a):
        raise AssertionError("a Jacobian block could not be reshaped in place")
    return v


class FusedEngine(Engine):
    """A 1→d→1 net under ``"mse"`` or ``"lp"``: affine, σ, affine and the loss fused.

    The same quantities as :class:`LayeredEngine` (see :mod:`approx.nn.fused` for the
    algebra); inputs ``X`` and ``y`` of shape (mb,) or (mb, 1).

    Parameters
    ----------
    d : int
        Hidden width.
    activation, bias, m, loss, p
        As :class:`Engine`.
    backend : {"auto", "numpy", "numba"}, optional
        See :func:`fused_backend`.
    """

    def __init__(
        self,
        d: int,
        activation: str,
        bias: bool,
        m: int,
        loss: str = "mse",
        p: float | None = None,
        backend: str | None = None,
    ) -> None:
        if loss not in FUSED_LOSSES:
            raise ValueError(f"the fused engine handles the losses {FUSED_LOSSES}, got {loss!r}")
        super().__init__([1, d, 1], activation, bias, m, loss, p)
        self.backend = fused_backend(backend, activation)
        self.name = f"fused-{self.backend}"
        self._kernels: NumpyFused | NumbaFused
        if self.backend == "numba":
            from approx.nn._fused_numba import NumbaFused

            self._kernels = NumbaFused(activation)
        else:
            self._kernels = NumpyFused(d, m, activation)
        self._h = np.empty(m)
        self._G = np.empty(m)
        self._r = np.empty(m)
        self._gb0 = np.empty(d)  # receives ∇b₀ when θ holds no biases
        self._J: Array | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        own = 8 * (3 * self.m + self.sizes[1])
        if self.backend == "numpy":
            own += sum(a.nbytes for a in vars(self._kernels).values() if hasattr(a, "nbytes"))
        return own + (0 if self._J is None else self._J.nbytes)

    def bind(
        self,
        weights: Sequence[Array] | None,
        biases: Sequence[Array] | None,
        grad_W: Sequence[Array] | None = None,
        grad_b: Sequence[Array] | None = None,
    ) -> None:
        super().bind(weights, biases, grad_W, grad_b)
        if weights is None or biases is None:
            return
        self.w0 = np.ascontiguousarray(weights[0][0])
        self.w1 = np.ascontiguousarray(weights[1][:, 0])
        self.b0, self.b1 = np.ascontiguousarray(biases[0]), biases[1]
        if grad_W is not None and grad_b is not None:
            # gradient views must be the caller's memory: refuse rather than copy
            self.gw0, self.gw1 = _row(grad_W[0][0]), _row(grad_W[1][:, 0])
            self.gb0 = _row(grad_b[0]) if self.bias else self._gb0
            self.gb1 = grad_b[1]

    def _inputs(self, X: Array, y: Any) -> tuple[Array, Array]:
        x = np.ascontiguousarray(X, dtype=np.float64).reshape(-1)
        self._check_rows(x.size)
        return x, np.ascontiguousarray(y, dtype=np.float64).reshape(-1)

    def _grad_buffer(self, mb: int) -> Array:
        return self._G[:mb]

    def _forward(self, x: Array, derivative: bool) -> Array:
        h = self._h[: x.size]
        self._kernels.forward(x, self.w0, self.b0, self.w1, float(self.b1[0]), h)
        return h

    def __call__(self, X: Array, y: Any) -> float:
        """Loss at the bound parameters on the batch; ∂loss/∂θ goes into the bound gradients."""
        x, y = self._inputs(X, y)
        mb = x.size
        value, total = self._kernels.loss_and_grad(
            x,
            y,
            self._loss_into,
            (self.w0, self.b0, self.w1, float(self.b1[0])),
            self._h[:mb],
            self._G[:mb],
            (self.gw0, self.gb0, self.gw1),
        )
        if self.bias:
            self.gb1[0] = total
        return value

    @property
    def fuses_adam(self) -> bool:
        """Whether :meth:`adam_steps` runs here: the numba backend, the mean squared
        error, a net with biases bound to ``theta`` by :func:`make_engine`."""
        theta = self.theta
        return (self.backend == "numba" and self._loss_into is mse_into and self.bias
                and theta is not None and theta.size == 3 * self.sizes[1] + 1
                and np.shares_memory(self.w0, theta[: self.sizes[1]]))

    def adam_steps(self, X: Array, y: Any, moments: tuple[Array, Array],
                   keeps: tuple[float, float], shifts: Array, sizes: Array,
                   stop_below: float, R: Array, values: Array) -> int:
        """Full-batch Adam steps on ``θ`` in one compiled call (where :attr:`fuses_adam`):
        this engine's call then Adam's update, ``shifts.size`` times, bit for bit, with
        ``values[j]`` step j's loss (``R``: a buffer of at least as many rows of m).

        See :func:`approx.nn._fused_numba.adam_steps` for the arguments (the moments,
        ``keeps = (1 − β₁, 1 − β₂)``, the terms added to √v and the step sizes) and for
        where it stops early; returns the number of steps taken.
        """
        from approx.nn._fused_numba import adam_steps

        x, y = self._inputs(X, y)
        mb = x.size
        n = np.size(shifts)
        theta = self.theta
        if theta is None or not self.fuses_adam:
            raise ValueError("adam_steps needs a fused numba engine under mse with biases, "
                             "bound by make_engine")
        # the compiled loop checks no index: every array is checked here
        if not (all(_is_vector(a, theta.size) for a in moments)
                and _is_vector(shifts, n) and _is_vector(sizes, n) and _is_vector(values, None)
                and values.size >= n and R.dtype == np.float64 and R.ndim == 2
                and R.flags.c_contiguous and R.shape[0] >= n and R.shape[1] == mb):
            raise ValueError("adam_steps: moments of θ's size, one shift and size per step, "
                             "and (steps, m) residual rows, all contiguous float64")
        G = self._G[:mb]
        taken = int(adam_steps(x, y, self.theta, self.grad, self._kernels.code,  # type: ignore[union-attr]
                               self._h[:mb], G, R, *moments, *keeps, shifts, sizes, stop_below))
        for j in range(taken):  # each loss as the call sums it (in the buffer it sums in)
            np.copyto(G, R[j])
            values[j] = mse_of(G)
        G /= mb  # (as the last step left it)
        return taken

    def residual_jacobian(self, X: Array, y: Array) -> tuple[Array, Array]:
        """Residuals ``r`` (mb,) and ``J = ∂r/∂θ`` (mb, P) in pack layout; J is a view."""
        x, y = self._inputs(X, y)
        r = self.residuals(x, y)
        if self._J is None:
            self._J = np.empty((self.m, self.n_params))
        J = self._J[: x.size]
        shallow_jacobian_into(x, self.w0, self.b0, self.w1, self.activation, self.bias, J)
        return r, J


def _is_vector(a: Any, size: int | None) -> bool:
    """Whether ``a`` is a contiguous float64 vector (of ``size`` entries, if given)."""
    return (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.ndim == 1
            and a.flags.c_contiguous and (size is None or a.size == size))


def _row(a: Array) -> Array:
    if not a.flags.c_contiguous:
        raise ValueError("gradient arrays must be contiguous (views from approx.nn.unpack)")
    return a


def build_engine(
    sizes: Sequence[int],
    activation: str,
    bias: bool,
    m: int,
    loss: str | Loss = "mse",
    p: float | None = None,
    backend: str | None = None,
    fused: bool = True,
) -> Engine:
    """The engine for these widths and loss, unbound (see :meth:`Engine.bind`)."""
    if fused and isinstance(loss, str) and is_shallow(sizes) and loss in FUSED_LOSSES:
        return FusedEngine(sizes[1], activation, bias, m, loss, p, backend)
    return LayeredEngine(sizes, activation, bias, m, loss, p)


def make_engine(
    net: Net,
    theta: Array,
    grad: Array,
    m: int,
    loss: str = "mse",
    p: float | None = None,
    *,
    backend: str | None = None,
    fused: bool = True,
) -> Engine:
    """An engine bound to ``theta`` and ``grad`` (the protocol in this module's docstring).

    Parameters
    ----------
    net : MLP
        Its weights and biases are replaced by views into ``theta``.
    theta, grad : ndarray of shape (P,)
        Parameter vector (layout of :func:`approx.nn.pack`) and the gradient buffer.
    m : int
        Largest batch.
    loss : str
        A name in :data:`approx.nn.losses.LOSSES`.
    p : float, optional
        Exponent of ``"lp"``.
    backend : {"auto", "numpy", "numba"}, optional
        The fused backend (see :func:`fused_backend`).
    fused : bool
        ``False`` takes the layered engine even where the fused one applies (the
        reference, for comparisons).

    Returns
    -------
    Engine
        :class:`FusedEngine` for a 1→d→1 net under ``"mse"``/``"lp"``, else
        :class:`LayeredEngine`.
    """
    engine = build_engine(net.sizes, net.activation, net.bias, m, loss, p, backend, fused)
    net.weights, net.biases = unpack(theta, net.sizes, net.bias)
    engine.bind(net.weights, net.biases, *unpack(grad, net.sizes, net.bias))
    engine.net, engine.theta, engine.grad = net, theta, grad
    return engine


# ---- the engines behind MLP.loss_and_grad: one per batch shape, kept per thread --------

#: engines kept per thread, and the largest workspace kept (bigger ones are rebuilt per call)
CACHE_SIZE, CACHE_BYTES = 4, 64 * 2**20
_local = threading.local()


def _engines() -> OrderedDict[tuple[Any, ...], Engine]:
    """This thread's cache of engines, by (widths, activation, bias, m, loss, p, backend)."""
    if not hasattr(_local, "engines"):
        _local.engines = OrderedDict()
    return _local.engines


def cached_engines() -> list[tuple[Any, ...]]:
    """The keys of this thread's cached engines, least recently used first:
    ``(widths, activation, bias, m, loss, p, backend)``."""
    return list(_engines())


def clear_engine_cache() -> None:
    """Drop this thread's cached engines (their buffers are freed with them)."""
    _engines().clear()


def engine_for(net: Net, m: int, loss: str | Loss = "mse", p: float | None = None) -> Engine:
    """An engine for ``net``'s shape and batches of ``m`` rows, reused across calls.

    Buffers are allocated once per (widths, activation, bias, m, loss, backend) and kept
    in a small per-thread cache; workspaces over :data:`CACHE_BYTES` are not kept. The
    caller binds the parameters (:meth:`Engine.bind`) before each use.
    """
    custom = not isinstance(loss, str)
    backend = fused_backend(None, net.activation)
    key = (tuple(net.sizes), net.activation, net.bias, m, "custom" if custom else loss, p, backend)
    engines = _engines()
    engine = engines.pop(key, None)
    if engine is None:
        engine = build_engine(net.sizes, net.activation, net.bias, m, loss, p, backend)
    elif custom:
        engine._loss_into = _wrap(loss)  # type: ignore[arg-type]
    if engine.nbytes <= CACHE_BYTES:
        engines[key] = engine
        while len(engines) > CACHE_SIZE:
            engines.popitem(last=False)
    return engine
