"""Fit a network to samples with hand-written backprop: SGD, Adam, L-BFGS, Levenberg–Marquardt.

Two layers of API:

- :func:`train` fits a given :class:`~approx.nn.MLP` to samples ``(X, y)`` with one of
  the :data:`OPTIMIZERS`, keeping a loss history, the best iterate, and a status
  (``"converged"``, ``"max_steps"`` or ``"diverged"``);
- :func:`fit_target` fits a one-hidden-layer net of width ``d`` to a
  :class:`~approx.targets.Target`: it samples training points, rescales the domain to
  ``[-1, 1]`` and the values to zero mean and unit spread (folded back into the weights
  at the end), initialises by one of the :data:`INITS` and calls :func:`train`.

The parameters live in one flat vector ``θ`` (the layout of :func:`approx.nn.pack`);
the net's weights are views into it while training, so every optimizer updates ``θ``
in place and its state (velocity, moments) stays in the optimizer.

Gradients come from :meth:`MLP.loss_and_grad` (the lecture's passes, any MLP), or, for
a 1→d→1 net with a regression loss, from :class:`ShallowEngine`: the same gradient
with preallocated buffers and in-place operations, so a step allocates nothing of size
m×d (fresh large temporaries cost page faults that dominate at large d).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.nn import IN_PLACE, LOSSES, MLP, get_loss, pack, unpack
from approx.nn.activations import get_activation

__all__ = [
    "INITS",
    "OPTIMIZERS",
    "SAMPLINGS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "GeneralEngine",
    "ShallowEngine",
    "TrainResult",
    "default_lr",
    "fit_target",
    "lr_factor",
    "make_engine",
    "train",
]

Array = NDArray[np.float64]

#: learning rates that do not diverge on the built-in targets (inputs and values rescaled)
DEFAULT_LR: dict[str, float] = {
    "sgd": 0.05,
    "adam": 0.01,
    "lbfgs": 0.0,
    "lm": 0.0,
    "adam+lm": 0.01,
}


def default_lr(optimizer: str) -> float:
    """Default learning rate of ``optimizer`` (0 for L-BFGS and LM, which take none)."""
    _check_name(optimizer, OPTIMIZERS, "optimizer")
    return DEFAULT_LR[optimizer]


def _check_name(name: str, table: dict[str, Any], what: str) -> None:
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"unknown {what} {name!r}; known {what}s are: {', '.join(table)}")


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes
    ----------
    net : MLP
        The best iterate (lowest training loss, or best monitor score when a monitor
        was given); never non-finite.
    history : ndarray of shape (n,)
        Training loss of the iterates: per step for full-batch SGD/Adam (the loss at
        which the step's gradient was taken), per epoch for mini-batch SGD/Adam, per
        function evaluation for L-BFGS (line-search trials included), and per accepted
        iterate for LM and the polish phase of ``"adam+lm"`` (the start, then each step
        that lowered the loss: rejected trial steps are not recorded, so that part is
        decreasing). ``"adam+lm"`` concatenates its two phases.
    status : str
        ``"converged"`` (tolerance or optimizer criterion met), ``"max_steps"``
        (budget used) or ``"diverged"`` (a non-finite loss stopped the fit).
    message : str
        Detail on the status.
    steps : int
        Optimizer steps taken (iterations for L-BFGS, function evaluations for LM).
    loss : float
        Training loss of ``net``.
    initial_loss : float
        Training loss of the starting point.
    score : float or None
        Monitor score of ``net`` when a monitor was given.
    """

    net: MLP
    history: Array
    status: str
    message: str
    steps: int
    loss: float
    initial_loss: float
    score: float | None = None


# ---------------------------------------------------------------------------------------
# gradient engines: θ → loss, with ∂loss/∂θ written into a preallocated buffer


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

    def __call__(self, X: Array, y: Array) -> float:
        """Loss at the current ``θ`` on ``(X, y)``; the gradient goes into ``grad``."""
        value, (gW, gb) = self.net.loss_and_grad(X, y, self.loss)
        self.grad[:] = pack(gW, gb if self.net.bias else None)
        return value

    def loss_only(self, X: Array, y: Array) -> float:
        """Loss at the current ``θ`` without the backward pass."""
        return self.loss(self.net._forward(X), y)[0]


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


# ---------------------------------------------------------------------------------------
# first-order optimizers: state lives here, θ is updated in place


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum.

    ``v ← μ v + ∇``, ``θ ← θ − η v``.

    Parameters
    ----------
    lr : float
        Step size η > 0.
    momentum : float
        μ in [0, 1).
    """

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.lr, self.momentum = lr, momentum
        self.v: Array | None = None

    def step(self, theta: Array, grad: Array) -> None:
        """Update ``theta`` of shape (P,) in place from ``grad`` of shape (P,)."""
        if self.v is None:
            self.v = np.zeros_like(theta)
        self.v *= self.momentum
        self.v += grad
        theta -= self.lr * self.v


class Adam:
    """Adam (Kingma & Ba): bias-corrected first and second moment estimates.

    Parameters
    ----------
    lr : float
        Step size > 0.
    beta1, beta2 : float
        Decay rates of the moment estimates, in [0, 1).
    eps : float
        Added to the root of the second moment.
    """

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must lie in [0, 1), got {beta1}, {beta2}")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: Array | None = None

    def step(self, theta: Array, grad: Array) -> None:
        """Update ``theta`` of shape (P,) in place from ``grad`` of shape (P,)."""
        if self.m is None:
            self.m, self.v, self.s = (np.zeros_like(theta) for _ in range(3))
        self.t += 1
        m, v, s = self.m, self.v, self.s
        # m ← β₁ m + (1−β₁) g,  v ← β₂ v + (1−β₂) g², written as in-place updates
        np.subtract(grad, m, out=s)
        s *= 1.0 - self.beta1
        m += s
        np.multiply(grad, grad, out=s)
        s -= v
        s *= 1.0 - self.beta2
        v += s
        step = self.lr * math.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)
        np.sqrt(v, out=s)
        s += self.eps * math.sqrt(1.0 - self.beta2**self.t)
        np.divide(m, s, out=s)
        s *= step
        theta -= s


#: fraction of the budget spent warming the step size up, and the final step size of
#: the decaying schedules relative to ``lr``
WARMUP, LR_FLOOR = 0.02, 1e-4


def _constant(u: float) -> float:
    return 1.0


def _cosine(u: float) -> float:
    return LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * u))


def _exponential(u: float) -> float:
    return LR_FLOOR**u


#: step-size schedules of SGD/Adam: the factor on ``lr`` at progress ``u`` ∈ [0, 1] after the
#: warm-up (the decaying ones end at ``LR_FLOOR``: most of constant-lr Adam's error is its
#: final noise floor, which a decaying step removes)
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": _constant,
    "cosine": _cosine,
    "exp": _exponential,
}


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """Factor on the base step size at ``step`` of ``steps`` under ``schedule``.

    ``"constant"`` is 1 throughout. The others ramp up linearly over the first
    ``WARMUP`` of the budget (large early steps from a random start would throw units
    out of the data range), then decay from 1 to ``LR_FLOOR``: ``"cosine"`` along half a
    cosine, ``"exp"`` geometrically.
    """
    _check_name(schedule, SCHEDULES, "schedule")
    if schedule == "constant":
        return 1.0
    warm = max(1, int(WARMUP * steps))
    if step < warm:
        return (step + 1) / warm
    return SCHEDULES[schedule]((step - warm) / max(1, steps - 1 - warm))


FIRST_ORDER: dict[str, Callable[..., SGD | Adam]] = {
    "sgd": lambda lr, momentum: SGD(lr, momentum),
    "adam": lambda lr, momentum: Adam(lr),
}


# ---------------------------------------------------------------------------------------
# the training loops


class _Diverged(Exception):
    """Raised inside scipy callbacks to stop on a non-finite loss."""


class _Converged(Exception):
    """Raised inside scipy callbacks to stop at the loss tolerance."""


class _Tracker:
    """Keeps the best iterate seen, by training loss or by a monitor score."""

    def __init__(
        self,
        theta: Array,
        net: MLP,
        monitor: Callable[[MLP], float] | None,
        every: int,
    ) -> None:
        self.theta, self.net, self.monitor, self.every = theta, net, monitor, every
        self.best = theta.copy()
        self.best_key = math.inf
        self.best_loss = math.inf
        self.best_score: float | None = None

    def offer(self, loss: float, step: int, force: bool = False) -> None:
        """Consider the current θ, whose training loss is ``loss``, at ``step``."""
        if not math.isfinite(loss):
            return
        if self.monitor is None:
            key = loss
        elif force or step % self.every == 0:
            key = self.monitor(self.net)
        else:
            return
        if key < self.best_key:
            self.best_key, self.best_loss = key, loss
            self.best_score = None if self.monitor is None else key
            np.copyto(self.best, self.theta)


def train(
    net: MLP,
    X: ArrayLike,
    y: ArrayLike,
    optimizer: str = "adam",
    *,
    steps: int = 1000,
    lr: float | None = None,
    batch_size: int | None = None,
    momentum: float = 0.9,
    schedule: str = "constant",
    relocate: bool = False,
    polish_steps: int = 200,
    tol: float = 0.0,
    loss: str = "mse",
    p: float | None = None,
    rng: np.random.Generator | None = None,
    monitor: Callable[[MLP], float] | None = None,
    monitor_every: int = 100,
    fast: bool = True,
) -> TrainResult:
    """Fit ``net`` to the samples ``(X, y)``; the input net is left unchanged.

    Parameters
    ----------
    net : MLP
        Starting point (copied).
    X : array_like of shape (m, n_1), or (m,) when n_1 = 1
    y : array_like of shape (m, k), or (m,) when k = 1; integer labels of shape (m,)
        for ``loss="softmax"``.
    optimizer : str
        A key of :data:`OPTIMIZERS`: ``"sgd"``, ``"adam"``, ``"lbfgs"``, ``"lm"`` or
        ``"adam+lm"`` (Adam, then LM polishing; see :func:`_adam_lm`).
    steps : int
        Budget: optimizer steps for SGD/Adam (the Adam phase of ``"adam+lm"``),
        iterations for L-BFGS, function evaluations for LM.
    lr : float, optional
        Step size of SGD/Adam; ``None`` takes :func:`default_lr`.
    batch_size : int, optional
        Mini-batch size for SGD/Adam (``None``: full batch). Batches are drawn from
        ``rng`` as a fresh permutation every epoch.
    momentum : float
        Momentum of SGD.
    schedule : str
        Step-size schedule of SGD/Adam, a key of :data:`SCHEDULES` (see
        :func:`lr_factor`); ignored by L-BFGS and LM.
    relocate : bool
        Full-batch SGD/Adam on a 1→d→1 ReLU net: at checkpoints over the first 90% of
        the budget, move units whose kink lies outside the data (dead, or affine on
        it) to the largest residuals, leaving the function unchanged (see
        :func:`_relocate`); the initial weights are untouched.
    polish_steps : int
        Function evaluations of the Levenberg–Marquardt polish (:func:`_gauss_newton`)
        after the Adam phase of ``"adam+lm"``.
    tol : float
        Stop (status ``"converged"``) once the training loss is ≤ ``tol``.
    loss : str
        ``"mse"`` or ``"lp"`` (any optimizer), or ``"softmax"`` (SGD, Adam, L-BFGS).
    p : float, optional
        Exponent of ``"lp"`` (default 4).
    rng : numpy.random.Generator, optional
        Needed for mini-batches.
    monitor : callable, optional
        ``monitor(net) -> float``, lower is better (e.g. the max error on a validation
        grid); when given, the returned iterate is the one with the best score, checked
        every ``monitor_every`` steps and at the end.
    fast : bool
        Use :class:`ShallowEngine` for 1→d→1 nets (same gradients, no allocation).

    Returns
    -------
    TrainResult
    """
    _check_name(optimizer, OPTIMIZERS, "optimizer")
    _check_name(schedule, SCHEDULES, "schedule")
    _check_name(loss, LOSSES, "loss")
    get_loss(loss, p)
    if optimizer in ("lm", "adam+lm") and loss == "softmax":
        raise ValueError(
            f"optimizer {optimizer!r} fits residuals; it supports the losses 'mse' and 'lp'"
        )
    for name, value in (
        ("steps", steps),
        ("polish_steps", polish_steps),
        ("monitor_every", monitor_every),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be ≥ 0, got {tol}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    X = net._check_X(X)
    m = X.shape[0]
    if loss == "softmax":
        y = np.asarray(y)
        if y.shape != (m,):
            raise ValueError(f"softmax labels must have shape ({m},), got {y.shape}")
    else:
        y = np.asarray(y, dtype=np.float64)
        k = net.sizes[-1]
        if y.ndim == 1 and k == 1:
            y = y[:, None]
        if y.shape != (m, k):
            raise ValueError(f"y must have shape ({m}, {k}) (or ({m},) when k = 1), got {y.shape}")
    if batch_size is not None and not (
        isinstance(batch_size, int | np.integer) and batch_size >= 1
    ):
        raise ValueError(f"batch_size must be an integer ≥ 1, got {batch_size!r}")
    work = MLP.from_params(net.weights, net.biases if net.bias else None, net.activation)
    theta = work.pack()
    grad = np.zeros_like(theta)
    engine: GeneralEngine | ShallowEngine
    if fast and optimizer != "lm":
        engine = make_engine(work, theta, grad, m, loss, p)
    else:
        engine = GeneralEngine(work, theta, grad, loss, p)
    if isinstance(engine, ShallowEngine):
        X, y = np.ascontiguousarray(X[:, 0]), np.ascontiguousarray(y[:, 0])
    tracker = _Tracker(theta, work, monitor, monitor_every)
    with np.errstate(over="ignore", invalid="ignore"):
        initial = engine.loss_only(X, y)
        runner = OPTIMIZERS[optimizer]
        history, status, message, taken = runner(
            engine,
            X,
            y,
            tracker,
            steps=steps,
            lr=default_lr(optimizer) if lr is None else float(lr),
            batch_size=batch_size,
            momentum=momentum,
            schedule=schedule,
            relocate=relocate,
            polish_steps=polish_steps,
            tol=tol,
            rng=rng,
        )
        # the last iterate has not been offered yet (loss was computed before each update)
        tracker.offer(engine.loss_only(X, y), 0, force=True)
        # best starts as the initial θ, so a fit without any finite loss returns that
        np.copyto(theta, tracker.best)
        final = engine.loss_only(X, y)
    out = MLP.from_params(work.weights, work.biases if work.bias else None, work.activation)
    return TrainResult(out, history, status, message, taken, final, initial, tracker.best_score)


#: checkpoints of :func:`_relocate`: every 1/20 of the budget up to 90% of it (kinks
#: drift together again while the step size is large), and the least distance from a
#: relocated kink to any other, as a fraction of the uniform knot spacing (hi − lo)/d
RELOCATE_UNTIL, RELOCATE_SPACING = 0.9, 0.5


def _first_order(
    engine: GeneralEngine | ShallowEngine,
    X: Array,
    y: Array,
    tracker: _Tracker,
    *,
    name: str,
    steps: int,
    lr: float,
    batch_size: int | None,
    momentum: float,
    schedule: str,
    relocate: bool,
    tol: float,
    rng: np.random.Generator | None,
) -> tuple[Array, str, str, int]:
    opt = FIRST_ORDER[name](lr, momentum)
    m = X.shape[0]
    theta, grad = engine.theta, engine.grad
    full = batch_size is None or batch_size >= m
    if not full and rng is None:
        raise ValueError("mini-batches need an rng (numpy.random.Generator)")
    lrs = np.array([lr_factor(schedule, k, steps) for k in range(steps)]) * lr
    relocate_at = (
        {k * steps // 20 for k in range(1, round(20 * RELOCATE_UNTIL) + 1)}
        if relocate and full and isinstance(engine, ShallowEngine) and engine.relu
        else None
    )
    history = np.empty(steps if full else steps * batch_size // m + 1)
    # a monitor check costs many cheap steps: about 100 checks per run are enough
    tracker.every = max(tracker.every, steps // 100)
    n_rec = 0
    step = 0
    while step < steps:
        if full:
            value = engine(X, y)
            history[n_rec] = value
            n_rec += 1
            if not math.isfinite(value):
                return history[:n_rec], "diverged", _diverged_msg(name, lr, step), step
            tracker.offer(value, step)
            if value <= tol:
                return history[:n_rec], "converged", f"loss {value:.3g} ≤ tol {tol:g}", step
            opt.lr = lrs[step]
            opt.step(theta, grad)
            step += 1
            if relocate_at is not None and step in relocate_at:
                _relocate(engine, X, opt)
            continue
        # one epoch of mini-batches, then the full training loss is recorded
        epoch_loss = engine.loss_only(X, y)
        history[n_rec] = epoch_loss
        n_rec += 1
        if not math.isfinite(epoch_loss):
            return history[:n_rec], "diverged", _diverged_msg(name, lr, step), step
        tracker.offer(epoch_loss, step, force=True)
        if epoch_loss <= tol:
            return history[:n_rec], "converged", f"loss {epoch_loss:.3g} ≤ tol {tol:g}", step
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            if step >= steps:
                break
            rows = order[start : start + batch_size]
            value = engine(X[rows], y[rows])
            if not math.isfinite(value):
                return history[:n_rec], "diverged", _diverged_msg(name, lr, step), step
            opt.lr = lrs[step]
            opt.step(theta, grad)
            step += 1
    return history[:n_rec], "max_steps", f"used the budget of {steps} steps", step


def _relocate(engine: ShallowEngine, x: Array, opt: SGD | Adam) -> int:
    """Move ReLU units whose kink lies outside the data to where the residual is largest.

    A unit ``max{0, w₀ t + b₀}`` whose kink ``−b₀/w₀`` is not inside the data range is
    affine on the data: zero (dead: it gets no gradient and never recovers) or active on
    every sample. Together such units add one affine function ``α t + β``; one active
    unit is kept and carries it (its output weight becomes ``α/w₀``, the rest of ``β``
    goes into the output bias), so every other one is free. He init leaves many units
    so (a kink −b₀/w₀ with b₀ uniform and w₀ normal often falls outside [−1, 1]), and
    Adam rarely brings them back. Each free unit gets its kink at one of the largest
    local maxima of ``|r|`` (the residual left by the last gradient evaluation) that
    lie at least ``RELOCATE_SPACING`` uniform knot spacings from every other kink,
    facing the nearer end of the data, with the median input weight of the units with
    an interior kink and output weight 0. The function on the data range is unchanged;
    the moved units' optimizer state is reset (neuron resampling).

    Returns
    -------
    int
        The number of units moved.
    """
    w0, b0, w1 = engine.w0, engine.b0, engine.w1
    lo, hi = float(x.min()), float(x.max())
    at_lo, at_hi = w0 * lo + b0, w0 * hi + b0
    dead = np.maximum(at_lo, at_hi) <= 0.0
    active = (np.minimum(at_lo, at_hi) >= 0.0) & ~dead
    free = dead | active
    if not free.any() or free.all():
        return 0
    if active.any():
        keep = int(np.flatnonzero(active)[np.argmax(np.abs(w0[active]))])
        if w0[keep] != 0.0:
            alpha = float(np.dot(w1[active], w0[active]))
            beta = float(np.dot(w1[active], b0[active]))
            w1[keep] = alpha / w0[keep]
            engine.b1[...] += beta - w1[keep] * b0[keep]
            free[keep] = False
        else:  # all active units are constants: the output bias carries them
            engine.b1[...] += float(np.dot(w1[active], b0[active]))
    w1[free] = 0.0
    moved = np.flatnonzero(free)
    if moved.size == 0:
        return 0
    by_x = np.argsort(x, kind="stable")
    x, a = x[by_x], np.abs(engine.r[: x.size])[by_x]
    peaks = np.flatnonzero((a[1:-1] >= a[:-2]) & (a[1:-1] >= a[2:])) + 1
    order = peaks[np.argsort(-a[peaks], kind="stable")]
    # a peak next to a kink (kept or just placed) gets no unit: a peak persists while a
    # fresh unit's w₁ grows, and units piling up there would act as one
    gap = max(2.0 * (hi - lo) / x.size, RELOCATE_SPACING * (hi - lo) / w0.size)
    kept = np.flatnonzero(~free)
    near = -b0[kept] / np.where(w0[kept] == 0.0, 1.0, w0[kept])
    # blocked[i]: sample i lies within gap of a kink (a difference array over the samples)
    cover = np.zeros(x.size + 1, dtype=np.int64)
    np.add.at(cover, np.searchsorted(x, near - gap, side="left"), 1)
    np.add.at(cover, np.searchsorted(x, near + gap, side="right"), -1)
    blocked = np.cumsum(cover[:-1]) > 0
    chosen: list[float] = []
    for i in order:
        if not blocked[i]:
            chosen.append(float(x[i]))
            blocked[np.searchsorted(x, x[i] - gap) : np.searchsorted(x, x[i] + gap, "right")] = True
            if len(chosen) == moved.size:
                break
    # units without a peak to go to stay where they are, affine on the data, with w₁ = 0
    moved = moved[: len(chosen)]
    tau = np.array(chosen)
    scale = float(np.median(np.abs(w0[~(dead | active)])))
    # facing the nearer end, a unit near an end acts only there (facing the far end it
    # would move the function almost everywhere, and the gradient would balance it out)
    w0[moved] = np.where(tau < (lo + hi) / 2.0, -scale, scale)
    b0[moved] = -w0[moved] * tau
    w1[moved] = 0.0
    d = w0.size
    rows = np.concatenate([moved, d + moved, 2 * d + moved])
    state = [opt.v] if isinstance(opt, SGD) else [opt.m]
    for s in state:
        if s is not None:
            s[rows] = 0.0
    if isinstance(opt, Adam) and opt.v is not None:
        # a fresh coordinate gets the typical second moment of its parameter group
        settled = np.ones(d, dtype=bool)
        settled[moved] = False
        for k in range(3):
            group = opt.v[k * d : (k + 1) * d]
            group[moved] = np.mean(group[settled])
    return moved.size


def _diverged_msg(name: str, lr: float, step: int) -> str:
    return (
        f"{name} diverged: the training loss became non-finite at step {step} "
        f"(lr={lr:g}); try a smaller learning rate"
    )


def _lbfgs(
    engine: GeneralEngine | ShallowEngine,
    X: Array,
    y: Array,
    tracker: _Tracker,
    *,
    steps: int,
    tol: float,
    **_: Any,
) -> tuple[Array, str, str, int]:
    from scipy.optimize import minimize

    theta, grad = engine.theta, engine.grad
    history: list[float] = []
    iters = [0]

    def fun(th: Array) -> tuple[float, Array]:
        np.copyto(theta, th)
        value = engine(X, y)
        history.append(value)
        if not math.isfinite(value):
            raise _Diverged
        tracker.offer(value, len(history))
        return value, grad.copy()

    def callback(intermediate_result: Any) -> None:
        iters[0] += 1
        if intermediate_result.fun <= tol:
            raise _Converged

    try:
        res = minimize(
            fun,
            theta.copy(),
            jac=True,
            method="L-BFGS-B",
            callback=callback,
            options={"maxiter": steps, "maxfun": 2 * steps + 20, "ftol": 1e-15, "gtol": 1e-12},
        )
    except _Diverged:
        return np.array(history), "diverged", "L-BFGS met a non-finite loss", iters[0]
    except _Converged:
        return np.array(history), "converged", f"loss ≤ tol {tol:g}", iters[0]
    np.copyto(theta, res.x)
    # status 1 is the iteration/evaluation budget; 0 and 2 (line search cannot improve) mean
    # the optimizer has nothing more to give
    status = "max_steps" if res.status == 1 else "converged"
    return np.array(history), status, f"L-BFGS-B: {res.message}", int(res.nit)


def _lp_residuals(r: Array, p: float, m: int) -> tuple[Array, Array]:
    """Residuals ρ whose ½ Σ ρ² is the lp loss (1/pm) Σ |r|^p, and dρ/dr.

    ``ρ = c sign(r) |r|^(p/2)`` with ``c² = 2/(p m)``; for p = 2 this is the mse loss.
    """
    c = math.sqrt(2.0 / (p * m))
    if p == 2.0:
        return c * r, np.full_like(r, c)
    a = np.abs(r)
    return c * np.copysign(a ** (p / 2), r), c * (p / 2) * a ** (p / 2 - 1)


def _lm(
    engine: GeneralEngine | ShallowEngine,
    X: Array,
    y: Array,
    tracker: _Tracker,
    *,
    steps: int,
    tol: float,
    **_: Any,
) -> tuple[Array, str, str, int]:
    from scipy.optimize import least_squares

    net, theta = engine.net, engine.theta
    m = X.shape[0]
    p = engine.p
    # least_squares minimises ½ Σ ρ²: with ρ from _lp_residuals that is the lp loss
    history: list[float] = []
    cache: dict[str, Array] = {}

    def evaluate(th: Array) -> tuple[Array, Array]:
        if "theta" in cache and np.array_equal(cache["theta"], th):
            return cache["r"], cache["J"]
        np.copyto(theta, th)
        r, J = net.residual_jacobian(X, y)
        cache.update(theta=th.copy(), r=r, J=J)
        return r, J

    evals = [0]

    def fun(th: Array) -> Array:
        r, _ = evaluate(th)
        rho, _ = _lp_residuals(r, p, m)
        value = 0.5 * float(rho @ rho)
        evals[0] += 1
        if not math.isfinite(value):
            raise _Diverged
        tracker.offer(value, evals[0])
        if value <= tol:
            history.append(value)
            raise _Converged
        return rho

    def jac(th: Array) -> Array:
        # the Jacobian is taken at the start and at each accepted step only: record the
        # loss here, not at the rejected trial steps (whose loss can be huge)
        r, J = evaluate(th)
        rho, scale = _lp_residuals(r, p, m)
        history.append(0.5 * float(rho @ rho))
        return scale[:, None] * J

    n = theta.size
    method = "lm" if m * net.sizes[-1] >= n else "trf"
    try:
        res = least_squares(
            fun,
            theta.copy(),
            jac=jac,
            method=method,
            max_nfev=steps,
            x_scale="jac",
            ftol=1e-15,
            xtol=1e-15,
            gtol=1e-15,
        )
    except _Diverged:
        return np.array(history), "diverged", "LM met a non-finite loss", evals[0]
    except _Converged:
        return np.array(history), "converged", f"loss ≤ tol {tol:g}", evals[0]
    np.copyto(theta, res.x)
    if not history or res.cost < history[-1]:  # a last accepted step, never linearised at
        history.append(float(res.cost))
    status = "max_steps" if res.status == 0 else "converged"
    return np.array(history), status, f"least_squares ({method}): {res.message}", int(res.nfev)


def _gauss_newton(
    engine: GeneralEngine | ShallowEngine,
    X: Array,
    y: Array,
    tracker: _Tracker,
    *,
    steps: int,
    tol: float,
) -> tuple[Array, str, str, int]:
    """Levenberg–Marquardt on the normal equations, in numpy: the polish of ``"adam+lm"``.

    Each iteration forms the residual Jacobian by backprop (:meth:`MLP.residual_jacobian`),
    then tries steps ``δ = −(JᵀJ + λ diag JᵀJ)⁻¹ Jᵀρ`` (a Cholesky solve of size P, far
    cheaper than MINPACK's QR of the m×P Jacobian when m ≫ P) until one lowers the loss;
    λ follows Nielsen's gain-ratio rule. Residuals are transformed as in :func:`_lm` so
    the ``"lp"`` loss is fitted too.

    Returns the loss at each accepted iterate (the first is the start), the status, a
    message and the number of function evaluations (trial steps), at most ``steps``.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    net, theta = engine.net, engine.theta
    m, p = X.shape[0], engine.p

    def linearise() -> tuple[Array, Array]:
        r, J = net.residual_jacobian(X, y)
        rho, scale = _lp_residuals(r, p, m)  # ½ Σ ρ² is the loss, as in _lm
        return rho, scale[:, None] * J

    rho, J = linearise()
    value = 0.5 * float(rho @ rho)
    history = [value]
    lam, nu, evals = 1e-3, 2.0, 0
    status, message = "max_steps", f"used the budget of {steps} evaluations"
    start = theta.copy()
    while evals < steps:
        if value <= tol:
            status, message = "converged", f"loss {value:.3g} ≤ tol {tol:g}"
            break
        A, g = J.T @ J, J.T @ rho
        scale = np.maximum(np.diag(A), 1e-12 * max(float(np.max(np.diag(A))), 1e-300))
        if float(np.max(np.abs(g))) <= 1e-15 * max(value, 1e-300) or lam > 1e16:
            status, message = "converged", "no step lowers the loss (gradient or λ limit)"
            break
        accepted = False
        while evals < steps and lam <= 1e16:
            try:
                delta = -cho_solve(cho_factor(A + lam * np.diag(scale)), g)
            except LinAlgError:
                lam, nu = lam * nu, 2.0 * nu
                continue
            np.copyto(start, theta)
            theta += delta
            trial = engine.loss_only(X, y)
            evals += 1
            # predicted decrease of the model ½‖ρ + Jδ‖² (positive for λ > 0)
            predicted = -float(delta @ g) - 0.5 * float(delta @ (A @ delta))
            if math.isfinite(trial) and trial < value:
                gain = (value - trial) / max(predicted, 1e-300)
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3)
                nu, accepted = 2.0, True
                break
            np.copyto(theta, start)
            lam, nu = lam * nu, 2.0 * nu
        if not accepted:
            continue
        rho, J = linearise()
        value = 0.5 * float(rho @ rho)
        history.append(value)
        tracker.offer(value, len(history), force=True)
    return np.array(history), status, message, evals


#: the polish's normal equations are P×P: beyond this a single step takes seconds
POLISH_MAX_PARAMS = 3 * 1024 + 1


def _adam_lm(
    engine: GeneralEngine | ShallowEngine,
    X: Array,
    y: Array,
    tracker: _Tracker,
    *,
    steps: int,
    polish_steps: int,
    **kw: Any,
) -> tuple[Array, str, str, int]:
    """Adam to put the kinks in place, then Levenberg–Marquardt to polish.

    From a random start LM stalls (its steps are local and dead units give it zero
    Jacobian columns) and Adam ends on a noise floor; Adam's result is a start where
    LM's fast local convergence pays. The polish is :func:`_gauss_newton` (normal
    equations: at d = 64 one evaluation costs about a millisecond, against tens for
    MINPACK in :func:`_lm`), with ``polish_steps`` evaluations. The best iterate over
    both phases is kept.
    """
    n = engine.theta.size
    if n > POLISH_MAX_PARAMS:
        raise ValueError(
            f"adam+lm solves a {n}×{n} system at every polish step; it allows at most "
            f"{POLISH_MAX_PARAMS} parameters (d ≤ 1024 for a 1→d→1 net): use 'adam'"
        )
    every = tracker.every
    history, status, message, taken = _first_order(
        engine, X, y, tracker, name="adam", steps=steps, **kw
    )
    if status != "max_steps":
        return history, status, message, taken
    tracker.every = every  # LM evaluations are costly: check them at the caller's rate
    polish, status, message, evals = _gauss_newton(
        engine, X, y, tracker, steps=polish_steps, tol=kw["tol"]
    )
    return np.concatenate([history, polish]), status, message, taken + evals


OPTIMIZERS: dict[str, Callable[..., tuple[Array, str, str, int]]] = {
    "sgd": lambda *a, polish_steps, **k: _first_order(*a, name="sgd", **k),
    "adam": lambda *a, polish_steps, **k: _first_order(*a, name="adam", **k),
    "lbfgs": _lbfgs,
    "lm": _lm,
    "adam+lm": _adam_lm,
}


# ---------------------------------------------------------------------------------------
# fitting a one-hidden-layer net to a target


@dataclass(frozen=True)
class _Scaling:
    """The affine maps ``t = (x − c)/s`` on inputs and ``v = (f − μ)/σ`` on values.

    Training in ``(t, v)`` makes learning rates and initialisations independent of the
    target's domain and range; :meth:`to_raw` folds the maps back into the weights.
    """

    c: float
    s: float
    mu: float
    sigma: float

    def to_raw(self, net: MLP) -> MLP:
        """The net on raw ``x`` and ``f`` that equals ``net`` on ``t`` and ``v``."""
        (w0, w1), (b0, b1) = net.weights, net.biases
        weights = [w0 / self.s, w1 * self.sigma]
        biases = [b0 - (w0[0] * self.c / self.s), b1 * self.sigma + self.mu]
        return MLP.from_params(weights, biases if net.bias else None, net.activation)

    def to_scaled(self, net: MLP) -> MLP:
        """Inverse of :meth:`to_raw`."""
        (w0, w1), (b0, b1) = net.weights, net.biases
        weights = [w0 * self.s, w1 / self.sigma]
        biases = [b0 + w0[0] * self.c, (b1 - self.mu) / self.sigma]
        return MLP.from_params(weights, biases if net.bias else None, net.activation)


def _uniform_points(n: int, rng: np.random.Generator) -> Array:
    return np.linspace(-1.0, 1.0, n)


def _random_points(n: int, rng: np.random.Generator) -> Array:
    # the end points are always included: the max error is often attained there
    return np.concatenate([[-1.0, 1.0], np.sort(rng.uniform(-1.0, 1.0, n - 2))])


def _chebyshev_points(n: int, rng: np.random.Generator) -> Array:
    return -np.cos(np.pi * np.arange(n) / (n - 1))


#: training point layouts on the rescaled domain [-1, 1]: ``(n, rng) -> t`` of shape (n,)
SAMPLINGS: dict[str, Callable[[int, np.random.Generator], Array]] = {
    "uniform": _uniform_points,
    "random": _random_points,
    "chebyshev": _chebyshev_points,
}


def _he_init(
    target: Any,
    width: int,
    activation: str,
    rng: np.random.Generator,
    t: Array,
    v: Array,
    scaling: _Scaling,
) -> MLP:
    """He-normal weights ``N(0, 2/n_in)``; biases ``U(−1/√n_in, 1/√n_in)`` (PyTorch's rule).

    Nothing about the target or its domain enters (zero biases would put every ReLU
    kink at t = 0, a poor start from which the kinks rarely separate).
    """
    net = MLP([1, width, 1], activation, rng=rng)
    net.biases = [rng.uniform(-1.0, 1.0, width), rng.uniform(-1.0, 1.0, 1) / math.sqrt(width)]
    return net


def _knots_init(
    target: Any,
    width: int,
    activation: str,
    rng: np.random.Generator,
    t: Array,
    v: Array,
    scaling: _Scaling,
) -> MLP:
    """Hidden units break at the construction's uniform knots, output weights by least squares.

    Unit k is σ(±a (t − τ_k)) with τ_k the d equally spaced knots of [−1, 1], a random
    sign, and a = 1 for ReLU (scale is immaterial there) or a = 1/(knot spacing) for
    smooth activations, so each unit turns over one cell. The output layer is then the
    least-squares fit to the training values: the best net with those breakpoints.
    """
    tau = np.linspace(-1.0, 1.0, width)
    a = 1.0 if activation == "relu" else (width - 1) / 2.0
    w0 = a * rng.choice([-1.0, 1.0], size=width)
    b0 = -w0 * tau
    features = np.empty((t.size, width + 1))
    features[:, :width] = get_activation(activation)(t[:, None] * w0 + b0)
    features[:, width] = 1.0
    coef = np.linalg.lstsq(features, v, rcond=None)[0]
    return MLP.from_params([w0[None, :], coef[:width, None]], [b0, coef[width:]], activation)


def _construction_init(
    target: Any,
    width: int,
    activation: str,
    rng: np.random.Generator,
    t: Array,
    v: Array,
    scaling: _Scaling,
) -> MLP:
    """The exact ±ReLU interpolant at uniform knots (:func:`approx.construct.relu_interpolant`)."""
    from approx.construct import relu_interpolant

    if activation != "relu":
        raise ValueError(f"init 'construction' builds a ReLU net; activation is {activation!r}")
    return scaling.to_scaled(relu_interpolant(target, width, knots="uniform"))


#: initialisations of a 1→d→1 net on the rescaled problem
INITS: dict[str, Callable[..., MLP]] = {
    "he": _he_init,
    "knots": _knots_init,
    "construction": _construction_init,
}


def fit_target(
    target: Any,
    width: int,
    rng: np.random.Generator,
    *,
    optimizer: str = "adam",
    init: str = "he",
    steps: int = 3000,
    lr: float | None = None,
    schedule: str = "cosine",
    relocate: bool = True,
    polish_steps: int = 200,
    batch_size: int | None = None,
    n_train: int = 1024,
    sampling: str = "uniform",
    activation: str = "relu",
    loss: str = "mse",
    p: float | None = None,
    tol: float = 0.0,
    select: str = "loss",
    n_val: int = 8192,
    monitor_every: int = 10,
) -> TrainResult:
    """Train a 1→d→1 net on samples of ``target``.

    Parameters
    ----------
    target : Target
        ``target(x)`` vectorised on ``target.domain = (a, b)``.
    width : int
        Hidden width d ≥ 1.
    rng : numpy.random.Generator
        Every random draw (initialisation, random sampling, mini-batches).
    optimizer, steps, lr, schedule, relocate, polish_steps, batch_size, loss, p, tol
        As in :func:`train`.
    init : str
        A key of :data:`INITS`.
    n_train : int
        Number of training points (≥ 2).
    sampling : str
        A key of :data:`SAMPLINGS`.
    activation : str
        Hidden activation.
    select : {"loss", "max_error"}
        Keep the iterate with the lowest training loss, or with the lowest max error on
        ``n_val`` validation points that interleave the training points.
    n_val : int
        Validation points for ``select="max_error"``.
    monitor_every : int
        Steps between validation checks.

    Returns
    -------
    TrainResult
        With ``net`` mapped back to the raw domain and values; ``loss`` and ``history``
        are on the rescaled problem (values of unit spread), so they compare across
        targets.
    """
    _check_name(init, INITS, "init")
    _check_name(sampling, SAMPLINGS, "sampling")
    get_activation(activation)
    if select not in ("loss", "max_error"):
        raise ValueError(f"unknown select {select!r}; known selects are: loss, max_error")
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
        raise ValueError(f"width must be an integer ≥ 1, got {width!r}")
    if isinstance(n_train, bool) or not isinstance(n_train, int | np.integer) or n_train < 2:
        raise ValueError(f"n_train must be an integer ≥ 2, got {n_train!r}")
    a, b = target.domain
    t = SAMPLINGS[sampling](n_train, rng)
    f = target(a + (t + 1.0) * (b - a) / 2.0)
    spread = float(np.std(f))
    scaling = _Scaling((a + b) / 2.0, (b - a) / 2.0, float(np.mean(f)), spread or 1.0)
    v = (f - scaling.mu) / scaling.sigma
    net = INITS[init](target, width, activation, rng, t, v, scaling)
    monitor = None
    if select == "max_error":
        t_val = np.linspace(-1.0, 1.0, n_val)
        v_val = (target(a + (t_val + 1.0) * (b - a) / 2.0) - scaling.mu) / scaling.sigma

        def monitor(candidate: MLP) -> float:
            return float(np.max(np.abs(candidate(t_val) - v_val)))

    result = train(
        net,
        t,
        v,
        optimizer,
        steps=steps,
        lr=lr,
        schedule=schedule,
        relocate=relocate,
        polish_steps=polish_steps,
        batch_size=batch_size,
        tol=tol,
        loss=loss,
        p=p,
        rng=rng,
        monitor=monitor,
        monitor_every=monitor_every,
    )
    result.net = scaling.to_raw(result.net)
    return result
