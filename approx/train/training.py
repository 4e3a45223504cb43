""":func:`train`: fit a given MLP to samples with one of the :data:`OPTIMIZERS`.

The parameters live in one flat vector ``θ`` (the layout of :func:`approx.nn.pack`);
the net's weights are views into it while training, so every optimizer updates ``θ``
in place and its state (velocity, moments) stays in the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx.core import validate
from approx.nn import LOSSES, MLP, get_loss
from approx.nn.engine import make_engine
from approx.train.deep_finish import adam_lp
from approx.train.loop import Engine, Outcome, Tracker, TrainResult, first_order, phase_label
from approx.train.options import FIT, TRAINING, Options, optimizer_options
from approx.train.second_order import adam_lm, lbfgs, lm

__all__ = ["OPTIMIZERS", "conclude", "optimize", "protocol_samples", "train", "working_copy"]

Array = NDArray[np.float64]

#: optimizer runners ``(engine, X, y, tracker, options, rng) -> Outcome`` by name; each
#: one's options are :data:`approx.train.options.OPTIONS` under the same name
OPTIMIZERS: dict[str, Callable[..., Outcome]] = {
    "sgd": lambda *a: first_order(*a, name="sgd"),
    "adam": lambda *a: first_order(*a, name="adam"),
    "lbfgs": lbfgs,
    "lm": lm,
    "adam+lm": adam_lm,
    "adam+lp": adam_lp,
}

#: the loss of the optimizers that fit residuals (LM, and the polish of adam+lm)
RESIDUAL_OPTIMIZERS = ("lm", "adam+lm", "adam+lp")


def train(
    net: MLP,
    X: ArrayLike,
    y: ArrayLike,
    optimizer: str = FIT["optimizer"].default,
    *,
    loss: str = "mse",
    p: float | None = None,
    rng: np.random.Generator | None = None,
    monitor: Callable[[MLP], float] | None = None,
    monitor_every: int = FIT["monitor_every"].default,
    fast: bool = True,
    **options: Any,
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
        ``"adam+lm"`` (Adam, then a Levenberg–Marquardt polish) or ``"adam+lp"`` (Adam,
        then an Lᵖ continuation over every parameter: :mod:`approx.train.deep_finish`).
    loss : str
        ``"mse"`` or ``"lp"`` (any optimizer), or ``"softmax"`` (SGD, Adam, L-BFGS).
    p : float, optional
        Exponent of ``"lp"`` (default: the loss's own, :func:`approx.nn.get_loss`).
    rng : numpy.random.Generator, optional
        Needed for mini-batches.
    monitor : callable, optional
        ``monitor(net) -> float``, lower is better (e.g. the max error on a validation
        grid); when given, the returned iterate is the one with the best score, checked
        every ``monitor_every`` steps (as the option of :func:`~approx.train.fit_target`)
        and at the end.
    fast : bool
        Use the fused engine of :func:`approx.nn.engine.make_engine` where it applies
        (1→d→1 nets under ``"mse"``/``"lp"``); ``False`` forces the layered reference.
    **options
        The optimizer's options, listed below (declared once in
        :mod:`approx.train.options`; an option read by some optimizers only names them,
        and where their defaults differ each one's is given). An option the optimizer
        does not read is refused.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        For an unknown name, an option the optimizer does not read, or a value out of
        range.
    """
    opts = optimizer_options(optimizer, options)
    _check_loss(optimizer, loss, p)
    every = FIT["monitor_every"].check(monitor_every, "monitor_every")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return optimize(net, X, y, opts, loss=loss, p=p, rng=rng, monitor=monitor,
                    monitor_every=every, fast=fast)


def _check_loss(optimizer: str, loss: str, p: float | None) -> None:
    """``ValueError`` for an unknown loss, a bad exponent, or softmax with residuals."""
    validate.lookup(LOSSES, loss, "loss")
    get_loss(loss, p)
    if optimizer in RESIDUAL_OPTIMIZERS and loss == "softmax":
        raise ValueError(
            f"optimizer {optimizer!r} fits residuals; it supports the losses 'mse' and 'lp'"
        )


if train.__doc__:  # (None under python -OO)
    train.__doc__ += "\n    Options\n    -------\n" + TRAINING.help("    ") + "\n"


def _samples(net: MLP, X: ArrayLike, y: ArrayLike, loss: str) -> tuple[Array, Array]:
    """``X`` of shape (m, n₁) and ``y`` of shape (m, k), or labels of shape (m,)."""
    X = net.check_inputs(X)
    m = X.shape[0]
    if loss == "softmax":
        y = np.asarray(y)
        if y.shape != (m,):
            raise ValueError(f"softmax labels must have shape ({m},), got {y.shape}")
        return X, y
    y = np.asarray(y, dtype=np.float64)
    k = net.sizes[-1]
    if y.ndim == 1 and k == 1:
        y = y[:, None]
    if y.shape != (m, k):
        raise ValueError(f"y must have shape ({m}, {k}) (or ({m},) when k = 1), got {y.shape}")
    return X, y


def optimize(
    net: MLP,
    X: ArrayLike,
    y: ArrayLike,
    options: Options,
    *,
    loss: str = "mse",
    p: float | None = None,
    rng: np.random.Generator | None = None,
    monitor: Callable[[MLP], float] | None = None,
    monitor_every: int = FIT["monitor_every"].default,
    fast: bool = True,
) -> TrainResult:
    """:func:`train` with checked ``options`` (:func:`~approx.train.options.optimizer_options`)
    and valid arguments: nothing is checked again but the samples' shapes.

    What :func:`~approx.train.fit_target` and the classifiers call, once their own
    options are checked.
    """
    X, y = _samples(net, X, y, loss)
    work = working_copy(net)
    theta = work.pack()
    engine = make_engine(work, theta, np.zeros_like(theta), X.shape[0], loss, p, fused=fast)
    X, y = protocol_samples(work, X, y, loss)
    tracker = Tracker(theta, work, monitor, monitor_every)
    with np.errstate(over="ignore", invalid="ignore"):
        initial = engine.loss_only(X, y)
        runner = OPTIMIZERS[options.optimizer]
        outcome = runner(engine, X, y, tracker, options, rng)
        return conclude(engine, X, y, tracker, options, outcome, initial)


def working_copy(net: MLP) -> MLP:
    """A copy of ``net`` to train (the caller's net is left unchanged)."""
    return MLP.from_params(net.weights, net.biases if net.bias else None, net.activation)


def protocol_samples(net: MLP, X: Array, y: Array, loss: str) -> tuple[Array, Array]:
    """The samples as the engine's protocol takes them: for a 1→d→1 net under a
    regression loss, ``X`` and ``y`` of shape (m,); otherwise as given."""
    if len(net.sizes) == 3 and net.sizes[0] == net.sizes[2] == 1 and loss != "softmax":
        return np.ascontiguousarray(X[:, 0]), np.ascontiguousarray(y[:, 0])
    return X, y


def conclude(
    engine: Engine, X: Array, y: Array, tracker: Tracker, options: Options, outcome: Outcome,
    initial: float,
) -> TrainResult:
    """The :class:`TrainResult` of a runner's ``outcome``: the last iterate offered, the best
    one put back into the engine's θ (call under ``np.errstate(over=..., invalid=...)``
    ignored, as :func:`optimize` does)."""
    history, status, message, taken = outcome
    theta, work = engine.theta, engine.net
    # the last iterate has not been offered yet (loss was computed before each update)
    tracker.offer(engine.loss_only(X, y), 0, force=True)
    # best starts as the initial θ, so a fit without any finite loss returns that
    np.copyto(theta, tracker.best)
    final = engine.loss_only(X, y)
    out = MLP.from_params(work.weights, work.biases if work.bias else None, work.activation)
    # a runner of one objective records no phases: its whole history is one
    phases = tuple(tracker.phases) or ((phase_label(options.optimizer, engine.p), 0),)
    return TrainResult(out, history, status, message, taken, final, initial,
                       tracker.best_score, phases)
