"""The seam between the library and experiments: a table of approximation methods.

Each method ``kind`` maps to a function ``(target, width, rng, **params) -> Fit`` and
declares its parameters (type, default, allowed values), so a sweep config can be
validated before anything runs and the CLI can list what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx import _validate, baselines, construct, train
from approx.models import Model
from approx.nn.activations import ACTIVATIONS
from approx.targets import Target

__all__ = ["METHODS", "Fit", "Method", "Param", "fit", "get"]


@dataclass
class Fit:
    """The outcome of fitting one model to one target at one width.

    Attributes
    ----------
    model : Model
        The fitted model, callable on ``x`` of shape (m,).
    n_params : int
        Number of free scalars of the model (for comparisons at equal size).
    history : ndarray of shape (steps,) or None
        Training loss per recorded step, for trained methods.
    status : str
        ``"ok"``, or why the result should not be trusted (e.g. ``"diverged"``).
    message : str
        Human-readable detail for a non-ok status.
    info : dict
        Extra scalar facts about the fit (steps taken, final loss, …).
    """

    model: Model
    n_params: int
    history: NDArray[np.float64] | None = None
    status: str = "ok"
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Param:
    """A declared parameter of a method: its type, default and allowed values."""

    name: str
    type: type
    default: Any
    choices: tuple[Any, ...] | None = None
    help: str = ""
    minimum: float | None = None

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to the declared type, or raise ``ValueError``.

        Integers and finite floats go through :mod:`approx._validate`, so ``nan``,
        ``inf`` and bools-for-numbers are refused with the same words everywhere.
        """
        try:
            if self.type is int:
                value = _validate.integer(value, minimum=_as_int(self.minimum))
            elif self.type is float:
                value = _validate.finite_float(value, minimum=self.minimum)
            elif not isinstance(value, self.type) or (
                self.type is not bool and isinstance(value, bool)
            ):
                raise TypeError(
                    f"must be of type {self.type.__name__}, got "
                    f"{_validate.type_name(value)} {value!r}"
                )
        except TypeError as e:
            raise ValueError(str(e)) from None
        if self.choices is not None:
            value = _validate.choice(value, self.choices)
        return value


def _as_int(minimum: float | None) -> int | None:
    return None if minimum is None else int(minimum)


#: bytes any run needs whatever its size: the worker process (numpy, scipy loaded) and
#: the grids of up to 2²² points on which the errors of smooth models are measured
_RUN_BASE = 128 * 2**20
#: bytes per unit of width of the O(d) methods (knots, coefficients, breakpoints), measured
#: with ``ru_maxrss`` at d = 1024 and 4096 (about 1.3 KiB per unit), with a margin
_PER_UNIT = 2048


def _linear_memory(width: int, params: dict[str, Any]) -> int:
    return _RUN_BASE + _PER_UNIT * width


def _features_memory(width: int, params: dict[str, Any]) -> int:
    # the n_samples × d design matrix and the copy least squares makes of it
    return _RUN_BASE + _PER_UNIT * width + 2 * 8 * params["n_samples"] * width


def _trained_memory(width: int, params: dict[str, Any]) -> int:
    # forward caches and gradients: about ten n_train × d arrays; the 8192-point
    # validation grid; Levenberg–Marquardt adds the n_train × P Jacobian (and its
    # product) and the P × P normal equations, P = 3d + 1
    n = params.get("n_train", 1024)
    size = 10 * 8 * n * width + 2 * 8 * 8192 * width
    if params.get("optimizer") in ("lm", "adam+lm"):
        p = 3 * width + 1
        size += 8 * (2 * n * p + 3 * p * p)
    return _RUN_BASE + size


@dataclass(frozen=True)
class Method:
    """An approximation method: its fitting function and what it accepts.

    ``memory(width, params)`` estimates the bytes one run needs at peak (``params``
    resolved, defaults filled), so a sweep that cannot fit in memory is refused before
    it starts. An estimate with a margin, checked against ``ru_maxrss``, not a bound.
    """

    kind: str
    fit: Callable[..., Fit]
    params: tuple[Param, ...]
    description: str
    min_width: int = 2
    random: bool = False
    memory: Callable[[int, dict[str, Any]], int] = _linear_memory
    #: ``size(width, params)``: the fitted model's ``n_params`` at ``width``, increasing
    #: in the width (what a parameter budget needs); None when unknown
    size: Callable[[int, dict[str, Any]], int] | None = None
    #: the largest width the method accepts (None: no limit)
    max_width: int | None = None

    def width_for(self, budget: int, params: dict[str, Any]) -> int | None:
        """The largest width whose model has at most ``budget`` parameters (None if none).

        Raises
        ------
        ValueError
            If the method's parameter count is unknown (:attr:`size` is None).
        """
        if self.size is None:
            raise ValueError(
                f"method kind {self.kind!r} has no known parameter count, so it cannot "
                "take a parameter budget (give widths instead)"
            )
        lo, hi = self.min_width, self.max_width or max(budget, self.min_width)
        if self.size(lo, params) > budget:
            return None
        while lo < hi:  # size is increasing: bisect for the last width within the budget
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.size(mid, params) <= budget else (lo, mid - 1)
        return lo

    def param(self, name: str) -> Param:
        """The declared parameter ``name``; ``KeyError`` if undeclared."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Fill defaults and check every value; unknown names raise ``ValueError``."""
        known = {p.name for p in self.params}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"method kind {self.kind!r} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(sorted(known)) or '(none)'}"
            )
        out = {}
        for p in self.params:
            out[p.name] = p.check(params[p.name]) if p.name in params else p.default
        return out


def _relu_interpolant(target: Target, width: int, rng: np.random.Generator, *, knots: str) -> Fit:
    net = construct.relu_interpolant(target, width, knots=knots)
    return Fit(net, net.n_params)


def _random_features(
    target: Target, width: int, rng: np.random.Generator, *, features: str, n_samples: int
) -> Fit:
    net = construct.random_features(target, width, features=features, rng=rng, n_samples=n_samples)
    return Fit(net, net.n_params)


def _sawtooth(target: Target, width: int, rng: np.random.Generator) -> Fit:
    # the construction approximates x² on [0, 1] and nothing else: refuse other targets
    # rather than report a meaningless error
    x = np.linspace(0.0, 1.0, 1025)
    with np.errstate(all="ignore"):
        square = target.domain == (0.0, 1.0) and np.array_equal(target(x), x * x)
    if not square:
        a, b = target.domain
        raise ValueError(
            f"method kind 'sawtooth' approximates x² on [0, 1] only; target "
            f"{target.name!r} on [{a:g}, {b:g}] is not x² there (use expr = \"x**2\", "
            "domain = [0, 1])"
        )
    net = construct.sawtooth_square(width)
    return Fit(net, net.n_params, info={"depth": width})


def _one_hidden_layer(width: int, params: dict[str, Any]) -> int:
    return 3 * width + 1  # a 1 → d → 1 net with biases


def _sawtooth_size(width: int, params: dict[str, Any]) -> int:
    # [1, 4, …, 4, 1] with m = width hidden layers: 8 + 20 (m − 1) + 5
    return 20 * width - 7


def _coefficients(width: int, params: dict[str, Any]) -> int:
    return width


def _chebyshev(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.chebyshev(target, width)
    return Fit(model, model.n_params)


def _spline(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.cubic_spline(target, width)
    return Fit(model, model.n_params)


def _trained(
    target: Target,
    width: int,
    rng: np.random.Generator,
    *,
    optimizer: str,
    init: str,
    steps: int,
    lr: float,
    schedule: str,
    relocate: bool,
    polish_steps: int,
    batch_size: int,
    n_train: int,
    sampling: str,
    activation: str,
    loss: str,
    p: float,
    tol: float,
    select: str,
) -> Fit:
    result = train.fit_target(
        target,
        width,
        rng,
        optimizer=optimizer,
        init=init,
        steps=steps,
        lr=lr or None,  # 0 stands for the optimizer's own default
        schedule=schedule,
        relocate=relocate,
        polish_steps=polish_steps,
        batch_size=batch_size or None,  # 0 stands for the full batch
        n_train=n_train,
        sampling=sampling,
        activation=activation,
        loss=loss,
        p=p if loss == "lp" else None,
        tol=tol,
        select=select,
    )
    net = result.net
    return Fit(
        net,
        net.n_params,
        history=result.history,
        status="diverged" if result.status == "diverged" else "ok",
        message=result.message,
        info={
            "stop": result.status,
            "steps": result.steps,
            "loss": result.loss,
            "initial_loss": result.initial_loss,
            "val_max_error": result.score,
        },
    )


METHODS: dict[str, Method] = {
    m.kind: m
    for m in [
        Method(
            "relu-interpolant",
            _relu_interpolant,
            (
                Param(
                    "knots",
                    str,
                    "uniform",
                    tuple(construct.KNOTS),
                    "knot placement: equally spaced, or equidistributing |f''|^(1/2)",
                ),
            ),
            "exact ±ReLU sum interpolating f at d knots (the lecture's construction)",
            size=_one_hidden_layer,
        ),
        Method(
            "random-features",
            _random_features,
            (
                Param(
                    "features",
                    str,
                    "fourier",
                    tuple(construct.FEATURES),
                    "cos(wx + b) with Gaussian w, or ReLU with random breakpoints",
                ),
                Param("n_samples", int, 2048, None, "least-squares sample points", minimum=2),
            ),
            "fixed random features, output weights by least squares",
            min_width=1,
            random=True,
            memory=_features_memory,
            size=_one_hidden_layer,
        ),
        Method(
            "trained",
            _trained,
            (
                Param(
                    "optimizer",
                    str,
                    "adam",
                    tuple(train.OPTIMIZERS),
                    "SGD with momentum, Adam, L-BFGS, Levenberg–Marquardt, or Adam then "
                    "LM polishing (the best from He init; LM costs O(m·P²) per step)",
                ),
                Param(
                    "init",
                    str,
                    "he",
                    tuple(train.INITS),
                    "random He weights, breakpoints at the uniform knots, or the ±ReLU "
                    "interpolant itself",
                ),
                Param(
                    "steps",
                    int,
                    3000,
                    None,
                    "budget: steps (SGD, Adam, Adam phase of adam+lm), iterations "
                    "(L-BFGS), evaluations (LM)",
                    minimum=1,
                ),
                Param("lr", float, 0.0, None, "step size of SGD/Adam; 0: the default", 0.0),
                Param(
                    "schedule",
                    str,
                    "cosine",
                    tuple(train.SCHEDULES),
                    "step-size schedule of SGD/Adam: warm-up, then decay to 1e-4 × lr",
                ),
                Param(
                    "relocate",
                    bool,
                    True,
                    None,
                    "move ReLU units whose kink lies outside the data (dead or affine "
                    "there) to the largest residuals, function unchanged (full-batch "
                    "SGD/Adam, first 90% of the budget)",
                ),
                Param(
                    "polish_steps",
                    int,
                    200,
                    None,
                    "Levenberg–Marquardt evaluations (numpy, normal equations) after the "
                    "Adam phase of adam+lm",
                    minimum=1,
                ),
                Param("batch_size", int, 0, None, "mini-batch size; 0: full batch", 0),
                Param("n_train", int, 1024, None, "training points", minimum=2),
                Param(
                    "sampling",
                    str,
                    "uniform",
                    tuple(train.SAMPLINGS),
                    "layout of the training points",
                ),
                Param(
                    "activation",
                    str,
                    "relu",
                    tuple(ACTIVATIONS),
                    "hidden activation",
                ),
                Param("loss", str, "mse", ("mse", "lp"), "mean squared or p-th power error"),
                Param("p", float, 8.0, None, "exponent of the lp loss", minimum=2.0),
                Param("tol", float, 0.0, None, "stop once the training loss is ≤ tol", 0.0),
                Param(
                    "select",
                    str,
                    "max_error",
                    ("loss", "max_error"),
                    "keep the iterate with the least training loss, or the least max "
                    "error on a validation grid between the training points",
                ),
            ),
            "one-hidden-layer net trained by hand-written backprop",
            min_width=1,
            random=True,
            memory=_trained_memory,
            size=_one_hidden_layer,
        ),
        Method(
            "chebyshev",
            _chebyshev,
            (),
            "Chebyshev interpolant with d coefficients (classical reference)",
            min_width=1,
            size=_coefficients,
        ),
        Method(
            "sawtooth",
            _sawtooth,
            (),
            "Yarotsky's deep ReLU net for x² on [0, 1]: the width axis is m, the number "
            "of sawtooth compositions (= hidden layers of width 4); ε = 2^(−2m−2)",
            min_width=1,
            size=_sawtooth_size,
            max_width=24,
        ),
        Method(
            "spline",
            _spline,
            (),
            "not-a-knot cubic spline through d uniform knots (classical reference)",
        ),
    ]
}


def get(kind: str) -> Method:
    """Return the method ``kind``; unknown kinds get an error listing the known ones."""
    return _validate.lookup(METHODS, kind, "method kind")


def fit(kind: str, target: Target, width: int, rng: np.random.Generator, **params: Any) -> Fit:
    """Fit method ``kind`` to ``target`` at ``width`` (parameters checked, defaults filled)."""
    method = get(kind)
    try:
        width = _validate.integer(width, f"width of method kind {kind!r}", method.min_width)
    except TypeError as e:
        raise ValueError(str(e)) from None
    return method.fit(target, width, rng, **method.resolve(params))
