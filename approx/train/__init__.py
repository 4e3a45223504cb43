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
| ``minimax`` | the minimax finish: Lᵖ continuation, Madsen's steps, the flat form |
| ``deep_finish`` | ``adam+lp``: Adam, then an Lᵖ continuation over every parameter (any depth) |
| ``training`` | :func:`train`: checks once, then :func:`optimize`: engine, dispatch, keep-best |
| ``recipe`` | :func:`fit_target`, the recipe for a target: sampling, inits, scaling, streams |

The gradient engine (loss, gradient, residuals and their Jacobian at θ) is
:func:`approx.nn.engine.make_engine`, re-exported here.
"""

from approx.nn.engine import make_engine
from approx.train.loop import TrainResult
from approx.train.optimizers import SGD, Adam
from approx.train.options import OPTIONS, FitOptions, Recipe
from approx.train.recipe import INITS, SAMPLINGS, fit_recipe, fit_target
from approx.train.relocate import relocate
from approx.train.schedules import LR_FLOOR, SCHEDULES, lr_factor
from approx.train.training import OPTIMIZERS, optimize, train

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
