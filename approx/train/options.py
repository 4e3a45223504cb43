"""Training options, declared once (:class:`~approx.core.options.Option`), read typed.

Every option of :func:`approx.train.train` and :func:`approx.train.fit_target` is one
:class:`~approx.core.options.Option` below: its type, range or choices, default and help.
From these declarations come

- one :class:`~approx.core.options.Schema` per optimizer (:data:`OPTIONS`), holding the
  options it reads with its own defaults where they differ (SGD's step size, the
  budgets of L-BFGS and LM); an option the optimizer does not read is refused rather
  than silently dropped, so ``train(net, X, y, "lbfgs", lr=0.1)`` is an error;
- :data:`FIT`, the options of :func:`~approx.train.fit_target` besides the optimizer's,
  and :data:`FIT_TARGET`, all of them together (the ``trained`` method's parameters and
  the help of :func:`~approx.train.fit_target`);
- the typed records passed down once checked: one frozen dataclass per optimizer
  (:class:`SGDOptions`, …, whose fields are its schema's names, checked at import) and
  :class:`FitOptions`; a :class:`Recipe` holds both.

Values are checked once, where they come in (:func:`optimizer_options` for
:func:`~approx.train.train`, :func:`resolve_fit` for :func:`~approx.train.fit_target` and
the ``trained`` method); the records are trusted below that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from approx.core import validate
from approx.core.options import Option, Schema
from approx.nn.activations import ACTIVATIONS
from approx.train.schedules import SCHEDULES

__all__ = [
    "FIT",
    "FIT_TARGET",
    "OPTIONS",
    "TRAINING",
    "AdamLMOptions",
    "AdamLPOptions",
    "AdamOptions",
    "FitOptions",
    "LBFGSOptions",
    "LMOptions",
    "Options",
    "Recipe",
    "SGDOptions",
    "default_n_train",
    "default_n_val",
    "optimizer_options",
    "resolve_fit",
]

#: training points per unit of width that adam+lm gets by default, and the floor
SAMPLES_PER_UNIT, MIN_SAMPLES = 128, 1024
#: validation points per training point of ``select = "max_error"`` by default
VAL_PER_TRAIN = 4
#: a monitor check costs many cheap steps: a first-order phase checks about this many
#: times at most, whatever ``monitor_every`` (:func:`approx.train.loop.first_order`)
MAX_CHECKS = 100

# ---------------------------------------------------------------------------------------
# the optimizers' options

STEPS = Option(
    "steps",
    int,
    3000,
    "budget: steps (SGD, Adam, the Adam phase of adam+lm: 0 polishes the start, the "
    "default from the knots and construction inits), iterations (L-BFGS), evaluations (LM)",
    minimum=1,
)
TOL = Option("tol", float, 0.0, "stop once the training loss is ≤ tol", minimum=0.0)
LR = Option("lr", float, 0.03, "step size", minimum=0.0, exclusive_minimum=True)
SCHEDULE = Option(
    "schedule",
    str,
    "cosine",
    "step-size schedule: warm-up, then decay to 1e-4 × lr (or constant)",
    choices=tuple(SCHEDULES),
)
BATCH_SIZE = Option("batch_size", int, None, "mini-batch size (None: the full batch)", minimum=1)
RELOCATE = Option(
    "relocate",
    bool,
    True,
    "move ReLU units whose kink lies outside the data (dead or affine there) to the "
    "largest residuals, function unchanged (full-batch, 1→d→1 ReLU, first 90% of steps)",
)
MOMENTUM = Option(
    "momentum",
    float,
    0.9,
    "heavy-ball momentum μ of SGD",
    minimum=0.0,
    maximum=1.0,
    exclusive_maximum=True,
)
POLISH_STEPS = Option(
    "polish_steps",
    int,
    200,
    "Levenberg–Marquardt evaluations after the Adam phase of adam+lm; L-BFGS iterations "
    "at each exponent of the Lᵖ continuation of adam+lp",
    minimum=1,
)
POLISH_P = Option(
    "polish_p",
    float,
    8.0,
    "exponent of the Lᵖ error the polish of adam+lm minimises (2: the mean square; "
    "larger: closer to the max error); the last exponent of adam+lp's continuation",
    minimum=2.0,
)
FINISH_STEPS = Option(
    "finish_steps",
    int,
    300,
    "adam+lm on a 1→d→1 ReLU net with select = 'max_error': the minimax finish, a "
    "Remez-type exchange on knots and values from knots placed by the samples' "
    "curvature, in two knot forms (d cells; d + 1 cells, one level); 0: no finish, "
    "otherwise the Levenberg–Marquardt evaluations of the Lᵖ continuation that runs "
    "before the exchange when approx.train.minimax.CONTINUATION is set",
    minimum=0,
)

#: the options of the Adam phase, which adam+lm does not read without one (steps = 0)
FIRST_ORDER_OPTIONS = (LR, SCHEDULE, BATCH_SIZE, RELOCATE)

Opts = TypeVar("Opts", bound="Options")


def _reads(optimizer: str, *options: Option) -> Callable[[type[Opts]], type[Opts]]:
    """Class decorator: the optimizer's schema, whose names must be the record's fields."""

    def attach(cls: type[Opts]) -> type[Opts]:
        schema = Schema(options, f"optimizer {optimizer!r}")
        fields = tuple(f.name for f in dataclasses.fields(cls))
        if fields != schema.names:
            raise TypeError(f"{cls.__name__} has fields {fields}, its schema {schema.names}")
        cls.optimizer, cls.schema = optimizer, schema
        return cls

    return attach


@dataclass(frozen=True)
class Options:
    """What every optimizer reads: its budget and the loss tolerance.

    A record of checked values: build it with :func:`optimizer_options` (checks) or
    :meth:`of` (trusted values); the constructor itself checks nothing.
    """

    steps: int
    tol: float

    #: the optimizer's name and its schema (set on each optimizer's record)
    optimizer: ClassVar[str]
    schema: ClassVar[Schema]

    @classmethod
    def of(cls: type[Opts], values: Mapping[str, Any]) -> Opts:
        """The record of trusted ``values``, defaults filled (other names ignored)."""
        return cls(**cls.schema.fill(values))


@dataclass(frozen=True)
class FirstOrderOptions(Options):
    """SGD and Adam: step size, its schedule, mini-batches, relocation of idle units."""

    lr: float
    schedule: str
    batch_size: int | None
    relocate: bool


@_reads("sgd", STEPS, TOL, LR.replace(default=0.05), *FIRST_ORDER_OPTIONS[1:], MOMENTUM)
@dataclass(frozen=True)
class SGDOptions(FirstOrderOptions):
    """SGD with heavy-ball momentum."""

    momentum: float


@_reads("adam", STEPS, TOL, *FIRST_ORDER_OPTIONS)
@dataclass(frozen=True)
class AdamOptions(FirstOrderOptions):
    """Adam with bias-corrected moments (β₁ = 0.9, β₂ = 0.999)."""


@_reads("lbfgs", STEPS.replace(default=500), TOL)
@dataclass(frozen=True)
class LBFGSOptions(Options):
    """L-BFGS-B (scipy): iterations."""


@_reads("lm", STEPS.replace(default=100), TOL)
@dataclass(frozen=True)
class LMOptions(Options):
    """Levenberg–Marquardt on the normal equations (:mod:`approx.train.lm_dense`):
    residual evaluations (the start and every trial step)."""


@_reads(
    "adam+lm",
    STEPS.replace(minimum=0),
    TOL,
    *FIRST_ORDER_OPTIONS,
    POLISH_STEPS,
    POLISH_P,
    FINISH_STEPS,
)
@dataclass(frozen=True)
class AdamLMOptions(FirstOrderOptions):
    """Adam to place the kinks, then a Levenberg–Marquardt polish and a minimax finish."""

    polish_steps: int
    polish_p: float
    finish_steps: int


@_reads(
    "adam+lp",
    STEPS.replace(minimum=0),
    TOL,
    *FIRST_ORDER_OPTIONS,
    POLISH_STEPS.replace(default=300),
    POLISH_P.replace(default=512.0),
)
@dataclass(frozen=True)
class AdamLPOptions(FirstOrderOptions):
    """Adam, then an Lᵖ continuation over every parameter, for nets of any depth
    (:mod:`approx.train.deep_finish`): ``polish_steps`` L-BFGS iterations at each
    p = 4, 8, … up to ``polish_p``."""

    polish_steps: int
    polish_p: float


#: the options each optimizer reads, by optimizer name
OPTIONS: dict[str, type[Options]] = {
    cls.optimizer: cls
    for cls in (SGDOptions, AdamOptions, LBFGSOptions, LMOptions, AdamLMOptions, AdamLPOptions)
}


def _adam_phase_unread(optimizer: str, steps: int) -> set[str]:
    """The Adam phase's options, when ``adam+lm`` runs without one (``steps = 0``)."""
    if optimizer != "adam+lm" or steps != 0:
        return set()
    return {option.name for option in FIRST_ORDER_OPTIONS}


def optimizer_options(
    optimizer: str, given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> Options:
    """The options of ``optimizer``: ``given`` checked once, the rest defaults.

    ``defaults`` (trusted) replace the declared defaults (:func:`implied_defaults`).

    Raises
    ------
    ValueError
        If ``optimizer`` is unknown, a name in ``given`` is not read by it (or by any
        optimizer: with a did-you-mean hint), or a value is out of range.
    """
    cls = validate.lookup(OPTIONS, optimizer, "optimizer")
    schema = cls.schema
    unread = [name for name in given if name not in schema]
    schema.refuse_unknown(name for name in unread if name not in TRAINING)
    if unread:
        raise ValueError(
            f"optimizer {optimizer!r} does not read {', '.join(map(repr, unread))}; "
            f"it reads: {', '.join(schema.names)}"
        )
    values = schema.fill({**(defaults or {}), **schema.check(given)})
    unread = sorted(set(given) & _adam_phase_unread(optimizer, values["steps"]))
    if unread:
        raise ValueError(
            f"optimizer 'adam+lm' with steps = 0 (no Adam phase: the default from the knots "
            f"and construction inits) does not read {', '.join(map(repr, unread))}"
        )
    return cls(**values)


# ---------------------------------------------------------------------------------------
# fit_target's own options


def default_n_train(width: int, optimizer: str) -> int:
    """Training points when ``n_train`` is not given (see :data:`FIT`)."""
    if optimizer == "adam+lm":
        return max(MIN_SAMPLES, SAMPLES_PER_UNIT * width)
    return MIN_SAMPLES


def default_n_val(n_train: int) -> int:
    """Validation points of ``select = "max_error"`` when ``n_val`` is not given."""
    return VAL_PER_TRAIN * n_train


FIT = Schema(
    [
        Option(
            "optimizer",
            str,
            "adam+lm",
            "SGD with momentum, Adam, L-BFGS, Levenberg–Marquardt, Adam then an LM polish, "
            "or Adam then an Lᵖ continuation over every parameter (nets of any depth)",
            choices=tuple(OPTIONS),
        ),
        Option(
            "init",
            str,
            "he",
            "random He weights, kinks at the knots, or the ±ReLU interpolant itself",
            choices=("he", "knots", "construction"),
        ),
        Option(
            "knots",
            str,
            "uniform",
            "knots of the 'knots' and 'construction' inits: equally spaced, or "
            "equidistributing |f''|^(1/2)",
            choices=("uniform", "adaptive"),
        ),
        Option(
            "n_train",
            int,
            None,
            f"training points (None: max({MIN_SAMPLES}, {SAMPLES_PER_UNIT} d) for adam+lm, "
            "whose polish costs O(m) a step and needs samples in every cell between knots; "
            f"{MIN_SAMPLES} otherwise)",
            minimum=2,
        ),
        Option(
            "sampling",
            str,
            "graded",
            "layout of the training points on the domain (graded: uniform, and cells split "
            "where they do not resolve the target, as at a singular end)",
            choices=("uniform", "random", "chebyshev", "graded"),
        ),
        Option("activation", str, "relu", "hidden activation", choices=tuple(ACTIVATIONS)),
        Option("loss", str, "mse", "mean squared or p-th power error", choices=("mse", "lp")),
        Option("p", float, None, "exponent of the lp loss (None: the loss's default)", minimum=2.0),
        Option(
            "select",
            str,
            "max_error",
            "keep the iterate with the least training loss, or the least max error on a "
            "validation grid between the training points",
            choices=("loss", "max_error"),
        ),
        Option(
            "n_val",
            int,
            None,
            f"validation points of select = 'max_error' (None: {VAL_PER_TRAIN} n_train)",
            minimum=2,
        ),
        Option(
            "grow_from",
            int,
            64,
            "adam+lm from He init, ReLU, width d above this: train a net this wide first, "
            "then widen it to d (knots re-placed by its curvature) and polish; 0: never",
            minimum=0,
        ),
        Option(
            "monitor_every",
            int,
            10,
            "steps between validation checks of select = 'max_error' (a first-order phase "
            f"checks at most about {MAX_CHECKS} times: every max(monitor_every, "
            f"steps // {MAX_CHECKS}) steps)",
            minimum=1,
        ),
        Option(
            "depth",
            int,
            1,
            "hidden layers of equal width d; above 1: init 'he' only, relocation and "
            "growth off, the adam+lm polish dense Gauss–Newton",
            minimum=1,
        ),
    ],
    "fit_target",
)


@dataclass(frozen=True)
class FitOptions:
    """What :func:`approx.train.fit_target` reads besides the optimizer's options.

    A record of checked values (:data:`FIT`), built by :func:`resolve_fit`.
    """

    optimizer: str
    init: str
    knots: str
    n_train: int | None
    sampling: str
    activation: str
    loss: str
    p: float | None
    select: str
    n_val: int | None
    grow_from: int
    monitor_every: int
    depth: int

    def unread(self) -> set[str]:
        """The options this combination does not read (``p`` without the lp loss, …)."""
        out = set()
        if self.loss != "lp":
            out.add("p")
        if self.init == "he":
            out.add("knots")
        if self.select != "max_error":
            out |= {"n_val", "monitor_every"}
        if (self.init != "he" or self.optimizer != "adam+lm" or self.activation != "relu"
                or self.depth > 1):
            out.add("grow_from")
        return out


if tuple(f.name for f in dataclasses.fields(FitOptions)) != FIT.names:
    raise TypeError("FitOptions' fields must be the names of FIT")


def implied_defaults(fit: FitOptions) -> dict[str, Any]:
    """Optimizer defaults that depend on the fit's options (given options override them).

    ``adam+lm`` from the ``"knots"`` or ``"construction"`` init skips the Adam phase
    (``steps = 0``): the kinks are already where the polish wants them, and Adam's
    large early steps would only throw them out of place.
    """
    if fit.optimizer == "adam+lm" and fit.init != "he":
        return {"steps": 0}
    return {}


def _every_optimizer() -> Schema:
    """Every optimizer's options, each once. The help names the optimizers that read an
    option (unless all do); where their defaults differ the default is None here and
    the help lists each one's; the range is the loosest (each optimizer's own schema
    checks its own)."""
    out: dict[str, Option] = {}
    for cls in OPTIONS.values():
        for option in cls.schema:
            if option.name in out:
                continue
            variants = {
                k: c.schema[option.name] for k, c in OPTIONS.items() if option.name in c.schema
            }
            minima = [v.minimum for v in variants.values()]
            doc = option.doc
            if len(variants) < len(OPTIONS):
                doc += f" [{', '.join(variants)}]"
            merged = option.replace(minimum=None if None in minima else min(minima), doc=doc)
            readers: dict[str, list[str]] = {}
            for k, v in variants.items():
                readers.setdefault(repr(v.default), []).append(k)
            if len(readers) > 1:
                listed = ", ".join(f"{d} ({', '.join(ks)})" for d, ks in readers.items())
                merged = merged.replace(default=None, default_doc=listed)
            out[option.name] = merged
    return Schema(out.values(), "train")


#: every option :func:`approx.train.train` accepts (each optimizer reads some of them)
TRAINING = _every_optimizer()
#: every option :func:`approx.train.fit_target` accepts: the fit's, then the optimizer's
FIT_TARGET = Schema([*FIT, *TRAINING], "fit_target")


@dataclass(frozen=True)
class Recipe:
    """Everything :func:`approx.train.fit_target` reads: the fit's and the optimizer's options."""

    fit: FitOptions
    optimizer: Options

    def stored(self) -> dict[str, Any]:
        """Every name of :data:`FIT_TARGET`, ``None`` where this recipe does not read it.

        What the ``trained`` method's resolved parameters (and a config's digest) hold:
        exactly what the fit uses; :meth:`from_stored` reads it back.
        """
        fit = dataclasses.asdict(self.fit)
        opt = dataclasses.asdict(self.optimizer)
        unread = self.fit.unread() | _adam_phase_unread(self.fit.optimizer, self.optimizer.steps)
        values = {k: v for k, v in (fit | opt).items() if k not in unread}
        return {name: values.get(name) for name in FIT_TARGET.names}

    @classmethod
    def from_stored(cls, values: Mapping[str, Any]) -> Recipe:
        """The recipe of trusted resolved values (:meth:`stored`); ``None`` is unset."""
        given = {k: v for k, v in values.items() if v is not None}
        fit = FitOptions(**FIT.fill(given))
        return cls(fit, OPTIONS[fit.optimizer].of(given))


def resolve_fit(given: Mapping[str, Any]) -> Recipe:
    """The recipe of :func:`approx.train.fit_target`'s keywords, each checked once.

    Raises
    ------
    ValueError
        For a name no option has (with a did-you-mean hint), a bad value, a fit option
        this combination does not read (``p`` without the lp loss, ``knots`` with the He
        init, …), an optimizer option the optimizer does not read, or a combination
        refused (a deep net from another init than ``"he"``).
    """
    FIT_TARGET.refuse_unknown(given)
    fit = FitOptions(**FIT.resolve({k: v for k, v in given.items() if k in FIT}))
    if fit.depth > 1 and fit.init != "he":
        raise ValueError(
            f"init {fit.init!r} builds a one-hidden-layer net; depth {fit.depth} needs init 'he'"
        )
    unread = sorted(fit.unread() & set(given))
    if unread:
        raise ValueError(
            f"{', '.join(map(repr, unread))} not read with init {fit.init!r}, loss "
            f"{fit.loss!r}, select {fit.select!r}"
        )
    rest = {k: v for k, v in given.items() if k not in FIT}
    return Recipe(fit, optimizer_options(fit.optimizer, rest, implied_defaults(fit)))
