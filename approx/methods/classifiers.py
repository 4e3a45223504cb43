"""Classifiers of the lecture's section 1 and 2.2, as a table like :mod:`approx.methods`.

Every classifier is an :class:`~approx.nn.MLP` whose output is the k logits, and the
predicted class is the largest (lecture 1.1):

- ``linear``: ``h(x) = θᵀx + b``, sizes ``[2, k]``; it has no width;
- ``linear-features``: ``φ(x) = Wᵀx`` with a fixed Gaussian ``W ∈ R^{2×d}``, then
  ``h = θᵀφ(x) + b``, sizes ``[2, d, k]`` with the identity activation. It collapses:
  ``θᵀWᵀx = (Wθ)ᵀx``, a linear classifier again (lecture 1.3);
- ``random-features``: ``φ(x) = √(2/d) σ(Wᵀx + b₁)`` with a fixed random first layer,
  σ = cos (random Fourier features: ``W`` Gaussian with standard deviation
  1/``bandwidth``, ``b₁`` uniform on [0, 2π), so ``φ(x)ᵀφ(x')`` estimates the Gaussian
  kernel ``exp(−‖x − x'‖²/(2 bandwidth²))``) or σ = ReLU (the same ``W``, each unit's
  kink line through a random training point) (lecture 1.4);
- ``trained``: the two-layer net ``h(x) = W₂ᵀσ(W₁ᵀx + b₁) + b₂`` with every weight
  trained on the softmax loss by the hand-written backprop of :func:`approx.train.train`
  (lecture 2.2).

The first three fit only ``θ, b`` (``d k + k`` numbers, the ``n_params`` they report) by
minimising the softmax cross-entropy plus ``(penalty/2)‖θ‖²`` with scipy's L-BFGS-B. The
objective is convex in ``(θ, b)``, and the penalty makes it strictly convex in ``θ`` and
coercive, so it has a minimum even on linearly separable data, where the plain
cross-entropy only tends to 0 as ‖θ‖ → ∞; the bias is not penalised.

:func:`fit` returns an :class:`approx.methods.Fit` whose model is that MLP;
:func:`evaluate` scores it on held-out samples (accuracy, mean cross-entropy) and
:func:`decision_regions` labels a grid for plotting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from approx import methods
from approx.core import validate
from approx.core.options import Option, Schema
from approx.methods.registry import Fit, Method
from approx.nn import ACTIVATIONS, MLP
from approx.nn.losses import softmax
from approx.problems.datasets import Sample
from approx.train import options

__all__ = [
    "CLASSIFIERS",
    "FEATURES",
    "Classifier",
    "Scores",
    "decision_regions",
    "evaluate",
    "fit",
    "fit_softmax",
    "get",
]

Array = NDArray[np.float64]

#: random-feature activations, by feature name
FEATURES = {"fourier": "cos", "relu": "relu"}
#: optimizers of :func:`approx.train.train` that accept the softmax loss
TRAIN_OPTIMIZERS = ("adam", "sgd", "lbfgs")

#: the trained classifier's parameters: the training options' own declarations
#: (:mod:`approx.train.options`), with its own default budget and optimizer, and only the
#: optimizers that take the softmax loss
TRAINED = Schema(
    [
        options.FIT["activation"],
        options.FIT["optimizer"].replace(
            default="adam",
            choices=TRAIN_OPTIMIZERS,
            doc="optimizer of approx.train.train that takes the softmax loss",
        ),
        options.STEPS.replace(default=2000),
        options.TRAINING["lr"],
        options.TRAINING["batch_size"],
        options.TRAINING["schedule"],
    ]
)
#: sweeps stored before the options had one schema hold ``lr = 0.0`` and
#: ``batch_size = 0`` for "not given" in the trained classifier's resolved parameters,
#: and their digests depend on that spelling: it is kept there, and read as not given.
#: They hold a schedule whatever the optimizer, too (L-BFGS reads none), so a schedule
#: is the one option not refused when the optimizer does not read it (resolved
#: parameters are resolved again by every run)
STORED_UNSET = {"lr": 0.0, "batch_size": 0}


@dataclass(frozen=True)
class Classifier(Method):
    """A classification method: a :class:`~approx.methods.Method` that may have no width.

    ``fit(sample, width, rng, **params) -> Fit``; when ``has_width`` is false the width
    is ``None`` and a sweep runs the method once per replicate. Every method, random or
    not, runs for every replicate: the replicates differ in their samples.
    """

    has_width: bool = True


@dataclass(frozen=True)
class Scores:
    """How a classifier does on labelled samples.

    Attributes
    ----------
    accuracy : float
        Fraction of samples whose largest logit is their label's (ties go to the lowest
        class index, as ``argmax`` does).
    loss : float
        Mean softmax cross-entropy ``(1/m) Σ_j [log Σ_c exp h_c(x_j) − h_{y_j}(x_j)]``.
    """

    accuracy: float
    loss: float


def fit_softmax(
    F: ArrayLike, y: ArrayLike, classes: int, penalty: float, max_iter: int
) -> tuple[MLP, dict[str, Any]]:
    """Fit ``h(F) = F θ + b`` by the L2-penalised softmax loss with L-BFGS-B.

    Minimises ``ℓ(θ, b) = (1/m) Σ_j CE(F_j θ + b, y_j) + (penalty/2) ‖θ‖²_F`` from
    ``θ = 0, b = 0``. The gradient is the single-layer MLP's backprop,
    ``∇θ = Fᵀ (S − I_y)/m + penalty θ`` and ``∇b = 1ᵀ (S − I_y)/m``.

    Parameters
    ----------
    F : array_like of shape (m, d)
        Features of the training samples.
    y : array_like of int, shape (m,)
        Labels in ``0 … classes − 1``.
    classes : int
        Number of classes k.
    penalty : float
        L2 penalty on θ (≥ 0; with 0, separable data has no minimum and the fit stops at
        ``max_iter``).
    max_iter : int
        L-BFGS iterations at most.

    Returns
    -------
    head : MLP
        Sizes ``[d, k]``: ``head.weights[0]`` is θ, ``head.biases[0]`` is b.
    info : dict
        ``objective`` (the penalised loss at the result), ``iterations`` and ``stop``
        (``"converged"`` or ``"completed"``).
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"features F must have shape (m, d), got {F.shape}")
    classes = validate.integer(classes, "classes", 1)
    penalty = validate.finite_float(penalty, "penalty", 0.0)
    max_iter = validate.integer(max_iter, "max_iter", 1)
    head = MLP([F.shape[1], classes], activation="identity")
    from scipy.optimize import minimize  # (loaded only by the runs that need it)

    result = minimize(
        penalized_loss,
        head.pack(),
        args=(head, F, np.asarray(y), penalty),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9},
    )
    head.unpack(result.x)
    stop = "completed" if result.status == 1 else "converged"
    return head, {"objective": float(result.fun), "iterations": int(result.nit), "stop": stop}


def penalized_loss(
    theta: Array, head: MLP, F: Array, y: ArrayLike, penalty: float
) -> tuple[float, Array]:
    """The objective of :func:`fit_softmax` and its gradient at the packed ``theta``.

    Parameters
    ----------
    theta : ndarray of shape (d k + k,)
        ``[θ, b]`` in the layout of :func:`approx.nn.pack` for ``head``.
    head : MLP
        A single-layer net of sizes ``[d, k]``; its parameters are overwritten.
    F : ndarray of shape (m, d)
    y : array_like of int, shape (m,)
    penalty : float

    Returns
    -------
    value : float
    grad : ndarray of shape (d k + k,)
    """
    head.unpack(theta)
    value, (gW, gb) = head.loss_and_grad(F, y, "softmax")
    W = head.weights[0]
    value += 0.5 * penalty * float(np.vdot(W, W))
    gW[0] += penalty * W
    return value, np.concatenate([gW[0].ravel(), gb[0]])


def _linear(sample: Sample, width: None, rng: np.random.Generator, **params: Any) -> Fit:
    head, info = fit_softmax(sample.X_train, sample.y_train, sample.classes, **params)
    return Fit(head, head.n_params, info=info)


def _with_first_layer(
    W: Array,
    b: Array,
    activation: str,
    scale: float,
    sample: Sample,
    *,
    penalty: float,
    max_iter: int,
) -> Fit:
    """Fit the output layer on the fixed features ``scale · σ(X W + b)``; one MLP."""
    U = sample.X_train @ W + b
    F = scale * ACTIVATIONS[activation](U)
    head, info = fit_softmax(F, sample.y_train, sample.classes, penalty, max_iter)
    # the feature scale is folded into the output weights: scale·σ(u)θ = σ(u)(scale·θ)
    net = MLP.from_params([W, scale * head.weights[0]], [b, head.biases[0]], activation=activation)
    info["n_fixed"] = W.size + b.size
    return Fit(net, head.n_params, info=info)


def _linear_features(
    sample: Sample, width: int, rng: np.random.Generator, *, penalty: float, max_iter: int
) -> Fit:
    W = rng.standard_normal((sample.X_train.shape[1], width))
    return _with_first_layer(
        W, np.zeros(width), "identity", 1.0, sample, penalty=penalty, max_iter=max_iter
    )


def _random_features(
    sample: Sample,
    width: int,
    rng: np.random.Generator,
    *,
    features: str,
    bandwidth: float,
    penalty: float,
    max_iter: int,
) -> Fit:
    W = rng.standard_normal((sample.X_train.shape[1], width)) / bandwidth
    if features == "fourier":
        b = rng.uniform(0.0, 2.0 * math.pi, width)
    else:
        # each kink line {x : wᵀx + b = 0} passes through a random training point, so
        # every unit changes slope where the data are
        anchors = sample.X_train[rng.integers(0, sample.X_train.shape[0], width)]
        b = -np.einsum("ij,ji->i", anchors, W)
    return _with_first_layer(
        W,
        b,
        FEATURES[features],
        math.sqrt(2.0 / width),
        sample,
        penalty=penalty,
        max_iter=max_iter,
    )


def _unset(name: str, value: Any) -> bool:
    """Whether ``value`` is the stored spelling of "not given" (:data:`STORED_UNSET`)."""
    return (
        name in STORED_UNSET
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == STORED_UNSET[name]
    )


def _trained_resolve(params: dict[str, Any]) -> dict[str, Any]:
    """Check the given parameters once; refuse a step size or batch size the optimizer
    does not read; spell the unset ones as stored (:data:`STORED_UNSET`)."""
    given = {k: v for k, v in params.items() if not _unset(k, v)}
    values = TRAINED.resolve(given)
    reads = options.OPTIONS[values["optimizer"]].schema
    unread = [k for k in given if k in ("lr", "batch_size") and k not in reads]
    if unread:
        raise ValueError(
            f"optimizer {values['optimizer']!r} does not read {', '.join(map(repr, unread))}; "
            f"it reads: {', '.join(reads.names)}"
        )
    return {k: STORED_UNSET[k] if v is None and k in STORED_UNSET else v for k, v in values.items()}


def _trained(sample: Sample, width: int, rng: np.random.Generator, **params: Any) -> Fit:
    # params were resolved by Method.resolve: read back into the optimizer's record, not
    # checked again (the schedule of L-BFGS, which it does not read, is left out)
    net = MLP(
        [sample.X_train.shape[1], width, sample.classes], activation=params["activation"], rng=rng
    )
    record = options.OPTIONS[params["optimizer"]]
    given = {k: v for k, v in params.items() if k in record.schema and not _unset(k, v)}
    from approx.train.training import optimize

    result = optimize(
        net, sample.X_train, sample.y_train, record.of(given), loss="softmax", rng=rng
    )
    return Fit.from_training(result)


PENALTY = Option(
    "penalty",
    float,
    1e-4,
    "L2 penalty (penalty/2)‖θ‖² on the output weights; > 0 gives separable data a minimum",
    minimum=0.0,
)
MAX_ITER = Option("max_iter", int, 1000, "L-BFGS-B iterations at most", minimum=1)


CLASSIFIERS: dict[str, Classifier] = {
    c.kind: c
    for c in [
        Classifier(
            "linear",
            _linear,
            (PENALTY, MAX_ITER),
            "θᵀx + b by penalised softmax loss and L-BFGS-B: k linear regions",
            min_width=1,
            has_width=False,
        ),
        Classifier(
            "linear-features",
            _linear_features,
            (PENALTY, MAX_ITER),
            "θᵀ(Wᵀx) + b with a fixed Gaussian W of width d: collapses to a linear model",
            min_width=1,
            random=True,
        ),
        Classifier(
            "random-features",
            _random_features,
            (
                Option(
                    "features",
                    str,
                    "fourier",
                    "cos(Wᵀx + b) with Gaussian W (random Fourier features), or ReLU "
                    "with kinks through random training points",
                    choices=tuple(FEATURES),
                ),
                Option(
                    "bandwidth",
                    float,
                    0.2,
                    "length scale: W has standard deviation 1/bandwidth (the Gaussian "
                    "kernel's width for Fourier features)",
                    minimum=1e-3,
                ),
                PENALTY,
                MAX_ITER,
            ),
            "fixed random features of width d, output layer by penalised softmax loss",
            min_width=1,
            random=True,
        ),
        Classifier(
            "trained",
            _trained,
            TRAINED,
            "two-layer net, every weight trained on the softmax loss by hand-written backprop",
            min_width=1,
            random=True,
            resolver=_trained_resolve,
        ),
    ]
}


def get(kind: str) -> Classifier:
    """Return the classifier ``kind``.

    An approximation-only kind (in :data:`approx.methods.METHODS` but not here) and an
    unknown one both get a ``ValueError`` listing the classification kinds.
    """
    if isinstance(kind, str) and kind in methods.METHODS and kind not in CLASSIFIERS:
        raise ValueError(
            f"method kind {kind!r} approximates functions and does not classify; "
            f"classification kinds: {', '.join(CLASSIFIERS)}"
        )
    return validate.lookup(CLASSIFIERS, kind, "classification method kind")


def fit(
    kind: str, sample: Sample, width: int | None, rng: np.random.Generator, **params: Any
) -> Fit:
    """Fit classifier ``kind`` to ``sample``'s training part (parameters checked).

    Parameters
    ----------
    kind : str
        A key of :data:`CLASSIFIERS`.
    sample : Sample
        Only ``X_train``, ``y_train`` and ``classes`` are used.
    width : int or None
        Number of features or hidden units d; ``None`` for a kind without width.
    rng : numpy.random.Generator
        Draws the random first layer or the initial weights.
    **params
        The kind's parameters; missing ones take their defaults.

    Returns
    -------
    Fit
        ``model`` is an MLP from inputs of shape (m, 2) to logits of shape (m, k);
        ``n_params`` counts the fitted numbers only (a fixed first layer is in
        ``info["n_fixed"]``).
    """
    method = get(kind)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    resolved = method.resolve(params)
    if not method.has_width:
        if width is not None:
            raise ValueError(f"method kind {kind!r} has no width; got width {width!r}")
    else:
        try:
            width = validate.integer(width, f"width of method kind {kind!r}", method.min_width)
        except TypeError as e:
            raise ValueError(str(e)) from None
    return method.fit(sample, width, rng, **resolved)


def evaluate(model: Callable[[Array], Array], X: ArrayLike, y: ArrayLike) -> Scores:
    """Accuracy and mean cross-entropy of ``model`` on labelled samples.

    Parameters
    ----------
    model : callable
        Maps ``X`` of shape (m, n) to logits of shape (m, k) (an MLP).
    X : array_like of shape (m, n)
    y : array_like of int, shape (m,)

    Returns
    -------
    Scores
    """
    logits = model(np.asarray(X, dtype=np.float64))
    labels = np.asarray(y)
    loss, _ = softmax(logits, labels)
    return Scores(float(np.mean(np.argmax(logits, axis=1) == labels)), loss)


def decision_regions(
    model: Callable[[Array], Array],
    bounds: tuple[float, float, float, float],
    resolution: int = 200,
) -> tuple[Array, Array, NDArray[np.int64]]:
    """The predicted class on a regular grid, for drawing decision regions.

    Parameters
    ----------
    model : callable
        Maps ``X`` of shape (m, 2) to logits of shape (m, k).
    bounds : tuple of 4 floats
        ``(x1_min, x1_max, x2_min, x2_max)``, e.g. :meth:`Sample.bounds`.
    resolution : int
        Grid points per axis (≥ 2).

    Returns
    -------
    x1 : ndarray of shape (resolution,)
    x2 : ndarray of shape (resolution,)
    labels : ndarray of int64, shape (resolution, resolution)
        ``labels[i, j]`` is the class predicted at ``(x1[j], x2[i])`` (the layout of
        ``matplotlib``'s ``pcolormesh``/``contourf``).
    """
    resolution = validate.integer(resolution, "resolution", 2)
    x1 = np.linspace(bounds[0], bounds[1], resolution)
    x2 = np.linspace(bounds[2], bounds[3], resolution)
    grid = np.stack(np.meshgrid(x1, x2), axis=-1).reshape(-1, 2)
    labels = np.argmax(model(grid), axis=1).reshape(resolution, resolution)
    return x1, x2, labels
