"""Fit a network to samples with hand-written backprop: SGD, Adam, L-BFGS, Levenberg–Marquardt.

Two layers of API:

- :func:`train` fits a given :class:`~approx.nn.MLP` to samples ``(X, y)`` with one of
  the :data:`OPTIMIZERS`, keeping a loss history, the best iterate, and a status
  (``"converged"``, ``"completed"`` or ``"diverged"``);
- :func:`fit_target` fits a one-hidden-layer net of width ``d`` to a
  :class:`~approx.problems.targets.Target`: it samples training points, rescales, initialises by
  one of the :data:`INITS` and trains.

Each checks its options once (:mod:`~approx.train.options`) and passes typed records
down: :func:`fit_recipe` and :func:`optimize` are the two without the checks, for
callers whose options are checked already (the method tables).

One module per concern:

| module | what it holds |
|---|---|
| ``options`` | every option declared once; one schema and one typed record per optimizer |
| ``optimizers``, ``schedules`` | SGD and Adam (state, ``reset(rows)``); step-size schedules |
| ``loop`` | the SGD/Adam loop, the best-iterate tracker, :class:`TrainResult` |
| ``relocate`` | moving idle ReLU units to the residual's peaks, function unchanged |
| ``second_order`` | L-BFGS, Levenberg–Marquardt, the numpy LM polish, ``adam+lm`` |
| ``knot_form`` | LM in a 1→d→1 ReLU net's knot form (banded, any d); re-placing knots |
| ``_banded_numba`` | the knot form's normal equations in one compiled pass |
| ``exchange`` | a Remez-type exchange on a piecewise-linear fit's extremes, in line form |
| ``minimax`` | the minimax finish: knot forms, starts; Lᵖ continuation, Madsen's steps |
| ``deep_finish`` | ``adam+lp``: Adam, then an Lᵖ continuation over every parameter (any depth) |
| ``training`` | :func:`train`: checks once, then :func:`optimize`: engine, dispatch, keep-best |
| ``recipe`` | :func:`fit_target`, the recipe for a target: sampling, inits, scaling, streams |

The gradient engine (loss, gradient, residuals and their Jacobian at θ) is
:func:`approx.nn.engine.make_engine`, re-exported here.
"""

from importlib import import_module
from typing import Any

# (light, and named like its module: bound here so that importing the submodule
# anywhere never leaves the module object under this name)
from approx.train.relocate import relocate

#: the names below, by the module that defines them: imported on first use, so that a
#: process that only reads the options (a worker fitting a construction) never loads the
#: training loops, numba or scipy's optimizers
_NAMES = {
    "make_engine": "approx.nn.engine",
    "TrainResult": "approx.train.loop",
    "SGD": "approx.train.optimizers",
    "Adam": "approx.train.optimizers",
    "OPTIONS": "approx.train.options",
    "FitOptions": "approx.train.options",
    "Recipe": "approx.train.options",
    "INITS": "approx.train.recipe",
    "SAMPLINGS": "approx.train.recipe",
    "fit_recipe": "approx.train.recipe",
    "fit_target": "approx.train.recipe",
    "LR_FLOOR": "approx.train.schedules",
    "SCHEDULES": "approx.train.schedules",
    "lr_factor": "approx.train.schedules",
    "OPTIMIZERS": "approx.train.training",
    "optimize": "approx.train.training",
    "train": "approx.train.training",
}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_NAMES[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "INITS",
    "LR_FLOOR",
    "OPTIMIZERS",
    "OPTIONS",
    "SAMPLINGS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "FitOptions",
    "Recipe",
    "TrainResult",
    "fit_recipe",
    "fit_target",
    "lr_factor",
    "make_engine",
    "optimize",
    "relocate",
    "train",
]
