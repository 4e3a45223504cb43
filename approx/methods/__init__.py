"""The seam between the library and experiments: a table of approximation methods.

Each method ``kind`` maps to a function ``(target, width, rng, **params) -> Fit`` and
declares its parameters (:class:`~approx.core.options.Option`: type, default, range or
choices, help), so a sweep config can be validated before anything runs and the CLI can
list what exists. The ``trained`` method's parameters are the options of
:func:`approx.train.fit_target`, declared in :mod:`approx.train.options`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.core.options import Option, Schema
from approx.core.status import RunStatus
from approx.models import Model, baselines, construct
from approx.problems.targets import Target
from approx.train import options
from approx.train.recipe import fit_recipe

__all__ = ["METHODS", "Fit", "Method", "fit", "get"]


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
    status : RunStatus
        ``OK``, or why the result should not be trusted (``DIVERGED``).
    message : str
        Human-readable detail for a non-ok status.
    info : dict
        Extra scalar facts about the fit (steps taken, final loss, …).
    """

    model: Model
    n_params: int
    history: NDArray[np.float64] | None = None
    status: RunStatus = RunStatus.OK
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_training(cls, result: Any, **info: Any) -> Fit:
        """The fit of a :class:`~approx.train.TrainResult`: its net, history and stop;
        only divergence makes the status other than ok. ``info`` adds facts."""
        return cls(
            result.net,
            result.net.n_params,
            history=result.history,
            status=RunStatus.DIVERGED if result.status == "diverged" else RunStatus.OK,
            message=result.message,
            info={
                "stop": result.status,
                "steps": result.steps,
                "loss": result.loss,
                "initial_loss": result.initial_loss,
                **info,
            },
        )


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
    # The engine's fused 1→d→1 pass works in cache-sized blocks, so first-order steps and
    # the banded knot-form polish need O(n + d): about 30 vectors of the n training points
    # (measured with ru_maxrss at d = 256 and 1024 for the default recipe: ≈ 230 bytes a
    # point beyond the worker's base), plus the validation grid. The dense
    # Levenberg–Marquardt paths (scipy's ``lm``; the polish of non-ReLU nets) add the
    # n × P Jacobian, its product and the P × P normal equations, P = 3d + 1.
    optimizer = params.get("optimizer") or "adam+lm"
    n = params.get("n_train") or options.default_n_train(width, optimizer)
    n_val = params.get("n_val") or options.default_n_val(n)
    size = 8 * (48 * n + 4 * n_val) + _PER_UNIT * width
    depth = params.get("depth") or 1
    size += 8 * 10 * n * width * (depth - 1)  # a deep net's forward caches, per layer
    dense = optimizer == "lm" or (
        optimizer == "adam+lm" and (params.get("activation") != "relu" or depth > 1)
    )
    if dense:
        p = _trained_size(width, params)
        size += 8 * (2 * n * p + 3 * p * p)
    return 2 * _RUN_BASE + size


@dataclass(frozen=True)
class Method:
    """An approximation method: its fitting function and what it accepts.

    ``params`` are its declared :class:`~approx.core.options.Option` (given as any
    iterable of them, kept as a :class:`~approx.core.options.Schema` the method owns, so
    messages name it).
    ``memory(width, params)`` estimates the bytes one run needs at peak (``params``
    resolved, defaults filled), so a sweep that cannot fit in memory is refused before
    it starts. An estimate with a margin, checked against ``ru_maxrss``, not a bound.
    """

    kind: str
    fit: Callable[..., Fit]
    params: Schema
    description: str
    min_width: int = 2
    random: bool = False
    memory: Callable[[int, dict[str, Any]], int] = _linear_memory
    #: ``size(width, params)``: the fitted model's ``n_params`` at ``width``, increasing
    #: in the width (what a parameter budget needs); None when unknown
    size: Callable[[int, dict[str, Any]], int] | None = None
    #: the largest width the method accepts (None: no limit)
    max_width: int | None = None
    #: ``resolver(given) -> resolved``, for a method whose parameters depend on each
    #: other: given the parameters (names known, ``None`` dropped), checks each once,
    #: refuses combinations and fills defaults that depend on other parameters (None:
    #: the schema's own :meth:`~approx.core.options.Schema.resolve`)
    resolver: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        schema = Schema(self.params, f"method kind {self.kind!r}", "parameter")
        object.__setattr__(self, "params", schema)

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


    def param(self, name: str) -> Option:
        """The declared parameter ``name``; ``KeyError`` if undeclared."""
        return self.params[name]

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check every given value once and fill defaults; unknown names raise ``ValueError``.

        ``None`` stands for "not given" (no config can write it; a resolved method
        holds it for a parameter its other parameters leave unread), so resolving
        resolved parameters again gives them back unchanged.
        """
        params = {k: v for k, v in params.items() if v is not None}
        if self.resolver is None:
            return self.params.resolve(params)
        self.params.refuse_unknown(params)
        return self.resolver(params)


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


def _trained_size(width: int, params: dict[str, Any]) -> int:
    # 1 → d, then depth − 1 layers d → d, then d → 1, all with biases
    return 3 * width + 1 + (params.get("depth", 1) - 1) * (width * width + width)


def _coefficients(width: int, params: dict[str, Any]) -> int:
    return width


def _chebyshev(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.chebyshev(target, width)
    return Fit(model, model.n_params)


def _spline(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.cubic_spline(target, width)
    return Fit(model, model.n_params)


def _trained(target: Target, width: int, rng: np.random.Generator, **params: Any) -> Fit:
    # params were resolved by Method.resolve: read back, not checked again
    result = fit_recipe(target, width, rng, options.Recipe.from_stored(params))
    return Fit.from_training(result, val_max_error=result.score)


def _trained_resolve(params: dict[str, Any]) -> dict[str, Any]:
    """The recipe of the given options (:func:`approx.train.options.resolve_fit`), stored:
    options not read (those of other optimizers, ``p`` without the lp loss, …) are
    ``None``, so the resolved parameters, and a config's digest, hold exactly what the
    fit uses."""
    return options.resolve_fit(params).stored()


METHODS: dict[str, Method] = {
    m.kind: m
    for m in [
        Method(
            "relu-interpolant",
            _relu_interpolant,
            (
                Option(
                    "knots",
                    str,
                    "uniform",
                    "knot placement: equally spaced, or equidistributing |f''|^(1/2)",
                    choices=tuple(construct.KNOTS),
                ),
            ),
            "exact ±ReLU sum interpolating f at d knots (the lecture's construction)",
            size=_one_hidden_layer,
        ),
        Method(
            "random-features",
            _random_features,
            (
                Option(
                    "features",
                    str,
                    "fourier",
                    "cos(wx + b) with Gaussian w, or ReLU with random breakpoints",
                    choices=tuple(construct.FEATURES),
                ),
                Option("n_samples", int, 2048, "least-squares sample points", minimum=2),
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
            options.FIT_TARGET,
            "net of `depth` hidden layers of width d (default one) trained by "
            "hand-written backprop",
            min_width=1,
            random=True,
            resolver=_trained_resolve,
            memory=_trained_memory,
            size=_trained_size,
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
    return validate.lookup(METHODS, kind, "method kind")


def fit(kind: str, target: Target, width: int, rng: np.random.Generator, **params: Any) -> Fit:
    """Fit method ``kind`` to ``target`` at ``width`` (parameters checked, defaults filled)."""
    method = get(kind)
    try:
        width = validate.integer(width, f"width of method kind {kind!r}", method.min_width)
    except TypeError as e:
        raise ValueError(str(e)) from None
    return method.fit(target, width, rng, **method.resolve(params))
