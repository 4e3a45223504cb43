"""The approximation methods: the lecture's constructions, the classical baselines and
trained nets, in :data:`METHODS` by kind."""

from __future__ import annotations

from typing import Any

import numpy as np

from approx.core import validate
from approx.core.options import Option
from approx.methods import costs
from approx.methods.registry import Fit, Method
from approx.models import baselines, construct
from approx.problems.targets import Target
from approx.train import options

__all__ = ["METHODS", "fit", "get"]


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


# each kind imports what only it needs when it runs: a worker fitting a construction
# loads neither the training loops (numba) nor the optimum's search


def _optimal(target: Target, width: int, rng: np.random.Generator) -> Fit:
    from approx.methods.optimal import fit_optimal

    return fit_optimal(target, width, rng)


def _chebyshev(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.chebyshev(target, width)
    return Fit(model, model.n_params)


def _spline(target: Target, width: int, rng: np.random.Generator) -> Fit:
    model = baselines.cubic_spline(target, width)
    return Fit(model, model.n_params)


def _trained(target: Target, width: int, rng: np.random.Generator, **params: Any) -> Fit:
    from approx.train.recipe import fit_recipe

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
            size=costs.one_hidden_layer,
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
            "fixed random features, output weights by least squares (ridge-damped for ReLU)",
            min_width=1,
            random=True,
            memory=costs.features_memory,
            size=costs.one_hidden_layer,
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
            memory=costs.trained_memory,
            size=costs.trained_size,
        ),
        Method(
            "optimal-pwl",
            _optimal,
            (),
            "near-best continuous piecewise-linear function with d breakpoints as a "
            "1→d→1 ReLU net, with a rigorous lower bound of any width-d net's ε "
            "(info_lower)",
            min_width=1,
            memory=costs.optimum_memory,
            size=costs.one_hidden_layer,
        ),
        Method(
            "chebyshev",
            _chebyshev,
            (),
            "Chebyshev interpolant with d coefficients (classical reference)",
            min_width=1,
            memory=costs.chebyshev_memory,
            size=costs.coefficients,
        ),
        Method(
            "sawtooth",
            _sawtooth,
            (),
            "Yarotsky's deep ReLU net for x² on [0, 1]: the width axis is m, the number "
            "of sawtooth compositions (= hidden layers of width 4); ε = 2^(−2m−2)",
            min_width=1,
            size=costs.sawtooth_size,
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
