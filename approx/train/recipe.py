"""Fit a one-hidden-layer net to a target: sampling, initialisations, scaling.

:func:`fit_target` samples training points, rescales the domain to ``[-1, 1]`` and the
values to zero mean and unit spread (folded back into the weights at the end),
initialises by one of the :data:`INITS` and calls :func:`approx.train.train`. Sampling,
initialisation and mini-batches draw from separate streams spawned from the caller's
generator, so the initial weights do not change with ``n_train`` or ``sampling``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.models.construct import KNOTS, relu_interpolant
from approx.nn import MLP
from approx.nn.activations import get_activation
from approx.nn.piecewise import max_deviation
from approx.problems.grading import resolving
from approx.train.exchange import kinks, sides
from approx.train.knot_form import widen
from approx.train.loop import TrainResult
from approx.train.minimax import thorough
from approx.train.options import (
    FIT_TARGET,
    SAMPLES_PER_UNIT,
    AdamLMOptions,
    FitOptions,
    Options,
    Recipe,
    default_n_train,
    default_n_val,
    resolve_fit,
)
from approx.train.training import optimize

__all__ = ["INITS", "SAMPLINGS", "Scaling", "ahead_key", "fit_recipe", "fit_target",
           "fitted_ahead", "prepare_fit"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Scaling:
    """The affine maps ``t = (x − c)/s`` on inputs and ``v = (f − μ)/σ`` on values.

    Training in ``(t, v)`` makes learning rates and initialisations independent of the
    target's domain and range; :meth:`to_raw` folds the maps back into the weights.
    """

    c: float
    s: float
    mu: float
    sigma: float

    def to_raw(self, net: MLP) -> MLP:
        """The net on raw ``x`` and ``f`` that equals ``net`` on ``t`` and ``v``.

        Only the first layer (the input map) and the last (the value map) change, so
        any depth works.
        """
        weights, biases = list(net.weights), list(net.biases)
        w0, wl = weights[0], weights[-1]
        weights[0], weights[-1] = w0 / self.s, wl * self.sigma
        biases[0] = biases[0] - (w0[0] * self.c / self.s)
        biases[-1] = biases[-1] * self.sigma + self.mu
        return MLP.from_params(weights, biases if net.bias else None, net.activation)

    def to_scaled(self, net: MLP) -> MLP:
        """Inverse of :meth:`to_raw`."""
        weights, biases = list(net.weights), list(net.biases)
        w0, wl = weights[0], weights[-1]
        weights[0], weights[-1] = w0 * self.s, wl / self.sigma
        biases[0] = biases[0] + w0[0] * self.c
        biases[-1] = (biases[-1] - self.mu) / self.sigma
        return MLP.from_params(weights, biases if net.bias else None, net.activation)


def _uniform_points(n: int, rng: np.random.Generator) -> Array:
    return np.linspace(-1.0, 1.0, n)


def _random_points(n: int, rng: np.random.Generator) -> Array:
    # the end points are always included: the max error is often attained there
    return np.concatenate([[-1.0, 1.0], np.sort(rng.uniform(-1.0, 1.0, n - 2))])


def _chebyshev_points(n: int, rng: np.random.Generator) -> Array:
    return -np.cos(np.pi * np.arange(n) / (n - 1))


#: training point layouts on the rescaled domain [-1, 1]: ``(n, rng) -> t`` of shape (n,);
#: ``"graded"``: the uniform points, then cells split where they do not resolve the
#: target (:func:`_points`)
SAMPLINGS: dict[str, Callable[[int, np.random.Generator], Array]] = {
    "uniform": _uniform_points,
    "random": _random_points,
    "chebyshev": _chebyshev_points,
    "graded": _uniform_points,
}


def _points(sampling: str, n: int, rng: np.random.Generator, target: Any) -> Array:
    """The training points of ``sampling``: :data:`SAMPLINGS`'s layout of ``n``,
    graded for ``"graded"`` (:func:`_graded`)."""
    t = SAMPLINGS[sampling](n, rng)
    return _graded(t, target, n) if sampling == "graded" else t


def _graded(t: Array, target: Any, n: int) -> Array:
    """The evenly spaced points ``t`` with cells split where the target sags from their
    chords by more than 1/32 of the error a best net of ``n / 128`` units can reach (the
    width ``n`` points serve at the recipe's :data:`~approx.train.options.SAMPLES_PER_UNIT`
    a unit: :func:`~approx.problems.grading.resolving`), but for the cells of the kinks
    the minimax finish locates between samples (:func:`~approx.train.exchange.kinks`):
    none on a smooth target (a cell sags ``|f''| h²/8``, far below), a few hundred at a
    singular end such as ``√(x + 1)``'s, which uniform points leave unresolved. (Split
    kink cells moved the finish's start on |sin 4x| and e^{−3|x − 0.1|} into other local
    minima, 1.000 → 1.046 and 1.003 → 1.036 the optimum.)"""
    f = _on_rescaled(target)
    y = f(t)
    return resolving(f, t, max(1, n // SAMPLES_PER_UNIT), kinks=_tipped_kinks(f, t, y), y=y)


#: a kink's tip ``f(κ)`` lies within this fraction of ``|J| h`` of both sides'
#: extrapolations (:func:`_tipped_kinks`)
TIP = 1.0 / 16.0


def _tipped_kinks(f: Callable[[Array], Array], t: Array, y: Array) -> Array:
    """The kinks of ``f`` between the evenly spaced samples ``(t, y)``
    (:func:`~approx.train.exchange.kinks`) whose tip ``f(κ)`` lies where both sides'
    quadratics put it (:func:`~approx.train.exchange.sides`), to :data:`TIP` of
    ``|J| h``, the step ``h``: a true kink's does to rounding (1e-6 of it on |sin 4x|,
    e^{−3|x − 0.1|} and √(|x| + 0.01)). An inner cusp such as √|cos 4x|'s at ±π/8, whose
    slopes grow without bound on either side, reads as a kink on the samples too, but
    ``f`` there dips far below both extrapolations (0.4 of ``|J| h`` at d = 64): its
    cells are split like any singular point's (taken for a kink, its cells left as
    they were, the trained net ended 9.9× the optimum)."""
    kappa, jump = kinks(t, y)
    if not kappa.size:
        return kappa
    left, _, right, _, _ = sides(t, y, kappa, 0.0)
    with np.errstate(all="ignore"):
        tip = f(kappa)
    off = np.fmax(np.abs(tip - left), np.abs(tip - right))
    return kappa[off <= TIP * np.abs(jump) * (t[1] - t[0])]


def _he_init(
    target: Any,
    width: int,
    activation: str,
    rng: np.random.Generator,
    t: Array,
    v: Array,
    scaling: Scaling,
    knots: str,
    depth: int = 1,
) -> MLP:
    """He-normal weights ``N(0, 2/n_in)``; biases ``U(−1/√n_in, 1/√n_in)`` (PyTorch's rule).

    Nothing about the target or its domain enters (zero biases would put every ReLU
    kink at t = 0, a poor start from which the kinks rarely separate). ``depth`` hidden
    layers of ``width`` units each.
    """
    net = MLP([1] + [width] * depth + [1], activation, rng=rng)
    net.biases = [rng.uniform(-1.0, 1.0, width)] + [
        rng.uniform(-1.0, 1.0, b.size) / math.sqrt(width) for b in net.biases[1:]
    ]
    return net


def _knots_init(
    target: Any,
    width: int,
    activation: str,
    rng: np.random.Generator,
    t: Array,
    v: Array,
    scaling: Scaling,
    knots: str,
) -> MLP:
    """Hidden units break at the construction's knots, output weights by least squares.

    Unit k is σ(±a (t − τ_k)) with τ_k the d knots of the construction (``knots``:
    uniform, or adaptive to ``f''``) mapped to [−1, 1], a random sign, and a = 1 for
    ReLU (scale is immaterial there) or a = 1/(mean knot spacing) for smooth
    activations, so each unit turns over about one cell. The output layer is then the
    least-squares fit to the training values: the best net with those breakpoints.
    """
    tau = (KNOTS[knots](target, width) - scaling.c) / scaling.s if width >= 2 else np.zeros(1)
    a = 1.0 if activation == "relu" else max(width - 1, 1) / 2.0
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
    scaling: Scaling,
    knots: str,
) -> MLP:
    """The exact ±ReLU interpolant at the ``knots``
    (:func:`approx.models.construct.relu_interpolant`)."""
    if activation != "relu":
        raise ValueError(f"init 'construction' builds a ReLU net; activation is {activation!r}")
    if width < 2:
        raise ValueError(f"init 'construction' needs width ≥ 2, got {width}")
    return scaling.to_scaled(relu_interpolant(target, width, knots=knots))


#: initialisations of a 1→d→1 net on the rescaled problem:
#: ``(target, width, activation, rng, t, v, scaling, knots) -> MLP``
INITS: dict[str, Callable[..., MLP]] = {
    "he": _he_init,
    "knots": _knots_init,
    "construction": _construction_init,
}


def fit_target(target: Any, width: int, rng: np.random.Generator, **options: Any) -> TrainResult:
    """Train a 1→d→1 net (or ``depth`` hidden layers of width d) on samples of ``target``.

    Parameters
    ----------
    target : Target
        ``target(x)`` vectorised on ``target.domain = (a, b)``.
    width : int
        Hidden width d ≥ 1.
    rng : numpy.random.Generator
        Root of every random draw: three streams are spawned from it, for the
        sampling, the initialisation and the mini-batches.
    **options
        The fit's options and the optimizer's, listed below (declared once in
        :mod:`approx.train.options`; where the optimizers' defaults differ, each one's
        is given). An option the combination does not read is refused.

    Notes
    -----
    With ``adam+lm`` from He init above ``grow_from`` units (a ReLU net), a net
    ``grow_from`` wide is trained first (on the training points its own width calls for),
    widened to d by :func:`~approx.train.knot_form.widen`, and polished at full width
    without a second Adam phase; ``history`` and ``steps`` cover both fits.

    Returns
    -------
    TrainResult
        With ``net`` mapped back to the raw domain and values; ``loss`` and ``history``
        are on the rescaled problem (values of unit spread), so they compare across
        targets.

    Raises
    ------
    ValueError
        For an unknown option, a bad value, or an option the combination does not read
        (:func:`~approx.train.options.resolve_fit`).
    """
    recipe = resolve_fit(options)
    return fit_recipe(target, validate.integer(width, "width", 1), rng, recipe)


if fit_target.__doc__:  # (None under python -OO)
    fit_target.__doc__ += "\n    Options\n    -------\n" + FIT_TARGET.help("    ") + "\n"


@dataclass(frozen=True)
class Problem:
    """The rescaled problem: training points ``t`` in [−1, 1], values ``v``, the scaling,
    the narrower sample a grown net trains on first (None without growth), and how many
    points were laid out (``"graded"`` ones add to them)."""

    t: Array
    v: Array
    scaling: Scaling
    narrow: tuple[Array, Array] | None
    n: int


def _on_rescaled(target: Any) -> Callable[[Array], Array]:
    """``t ↦ f(x)``: the target on the rescaled domain ``t ∈ [−1, 1]``."""
    a, b = target.domain
    return lambda t: target(a + (t + 1.0) * (b - a) / 2.0)


def _values(target: Any, t: Array, scaling: Scaling) -> Array:
    """The rescaled values ``v = (f(x) − μ)/σ`` at the rescaled points ``t``."""
    return (_on_rescaled(target)(t) - scaling.mu) / scaling.sigma


def _grows(fit: FitOptions, width: int) -> bool:
    """Whether a net ``grow_from`` wide is trained first and widened to ``width``."""
    return "grow_from" not in fit.unread() and 0 < fit.grow_from < width


def _problem(target: Any, width: int, fit: FitOptions, rng: np.random.Generator) -> Problem:
    """Sample the training points (``rng``: the sampling stream) and rescale."""
    a, b = target.domain
    n_train = fit.n_train or default_n_train(width, fit.optimizer)
    t = _points(fit.sampling, n_train, rng, target)
    f = _on_rescaled(target)(t)
    spread = float(np.std(f))
    scaling = Scaling((a + b) / 2.0, (b - a) / 2.0, float(np.mean(f)), spread or 1.0)
    v = (f - scaling.mu) / scaling.sigma
    narrow = None
    if _grows(fit, width):  # the narrow net trains on as many points as its own width calls for
        n_narrow = min(n_train, fit.n_train or default_n_train(fit.grow_from, fit.optimizer))
        t_narrow = _points(fit.sampling, n_narrow, rng, target)
        narrow = t_narrow, _values(target, t_narrow, scaling)
    return Problem(t, v, scaling, narrow, n_train)


def _monitor(target: Any, fit: FitOptions, problem: Problem) -> Callable[[MLP], float] | None:
    """The validation max error of ``select = "max_error"`` (None for ``"loss"``)."""
    if fit.select != "max_error":
        return None
    n_val = default_n_val(problem.t.size) if fit.n_val is None else fit.n_val
    t_val = np.linspace(-1.0, 1.0, n_val)
    if fit.sampling == "graded":  # (the validation points resolve f as the training ones)
        t_val = _graded(t_val, target, problem.n)
    v_val = _values(target, t_val, problem.scaling)

    def monitor(candidate: MLP) -> float:
        if fit.activation == "relu" and fit.depth == 1:  # breakpoints: O(d log d + n_val)
            return max_deviation(candidate, (-1.0, 1.0), t_val, v_val)
        err = candidate(t_val) - v_val
        return float(np.max(np.abs(err)))

    return monitor


#: fits done ahead (a group of runs trained together), taken by the next matching call
_AHEAD: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("approx_ahead", default=None)


def ahead_key(width: int, rng: np.random.Generator, recipe: Recipe) -> tuple[Any, ...]:
    """What identifies a call of :func:`fit_recipe`: the width, the recipe and the root
    generator's seed (entropy, spawn key, children spawned so far)."""
    seq = rng.bit_generator.seed_seq
    spawned = getattr(seq, "n_children_spawned", None)
    return (width, recipe, getattr(seq, "entropy", None), getattr(seq, "spawn_key", None), spawned)


@contextmanager
def fitted_ahead(results: Mapping[tuple[Any, ...], Any]) -> Iterator[None]:
    """Within this block, :func:`fit_recipe` called with the key :func:`ahead_key` of an
    entry of ``results`` returns that result (a :class:`TrainResult`, computed by
    :func:`approx.train.batched.fit_recipes` bit for bit as the call would) or raises
    it (an exception), once, instead of fitting."""
    token = _AHEAD.set(dict(results))
    try:
        yield
    finally:
        _AHEAD.reset(token)


def prepare_fit(
    target: Any, width: int, rng: np.random.Generator, recipe: Recipe
) -> tuple[Problem, MLP, Callable[[MLP], float] | None, np.random.Generator]:
    """What :func:`fit_recipe` sets up before it trains: the rescaled problem, the initial
    net, the monitor of ``select`` and the mini-batches' stream (three streams spawned
    from ``rng``, as :func:`fit_target` describes)."""
    fit = recipe.fit
    sample_rng, init_rng, batch_rng = rng.spawn(3)
    problem = _problem(target, width, fit, sample_rng)
    deep = {"depth": fit.depth} if fit.depth > 1 else {}  # only the He init takes depth
    net = INITS[fit.init](
        target,
        fit.grow_from if problem.narrow else width,
        fit.activation,
        init_rng,
        problem.t,
        problem.v,
        problem.scaling,
        fit.knots,
        **deep,
    )
    return problem, net, _monitor(target, fit, problem), batch_rng


def fit_recipe(target: Any, width: int, rng: np.random.Generator, recipe: Recipe) -> TrainResult:
    """:func:`fit_target` of a checked ``recipe`` (:func:`~approx.train.options.resolve_fit`)
    and a valid ``width``: nothing is checked again."""
    ahead = _AHEAD.get()
    if ahead and (done := ahead.pop(ahead_key(width, rng, recipe), None)) is not None:
        if isinstance(done, BaseException):
            raise done
        return done
    fit = recipe.fit
    problem, net, monitor, batch_rng = prepare_fit(target, width, rng, recipe)

    def fit_net(net: MLP, t: Array, v: Array, opts: Options = recipe.optimizer) -> TrainResult:
        return optimize(
            net,
            t,
            v,
            opts,
            loss=fit.loss,
            p=fit.p,
            rng=batch_rng,
            monitor=monitor,
            monitor_every=fit.monitor_every,
        )

    if problem.narrow is None:
        # from the construction: the thorough minimax finish (the user wants the optimum)
        with thorough(fit.init == "construction"):
            result = fit_net(net, problem.t, problem.v)
    else:  # grown: the wide net is polished without a second Adam phase
        # the minimax finish runs once, at full width
        opts = recipe.optimizer  # growth is adam+lm's (FitOptions.unread)
        if isinstance(opts, AdamLMOptions):
            opts = dataclasses.replace(opts, finish_steps=0)
        narrow = fit_net(net, *problem.narrow, opts)
        wide = widen(narrow.net, width, -1.0, 1.0)
        result = fit_net(wide, problem.t, problem.v, dataclasses.replace(recipe.optimizer, steps=0))
        n = narrow.history.size
        result.history = np.concatenate([narrow.history, result.history])
        result.phases = (*narrow.phases, ("widened", n), *((a, at + n) for a, at in result.phases))
        result.steps += narrow.steps
        result.initial_loss = narrow.initial_loss
    result.net = problem.scaling.to_raw(result.net)
    return result
