"""Training options, declared once: one frozen dataclass per optimizer family.

Each field carries its default, its type, its allowed values and a help line (in the
field's metadata); the same declaration validates :func:`approx.train.train`'s keywords
and generates the ``trained`` method's parameters in :mod:`approx.methods`. An option
the chosen optimizer does not read is refused rather than silently dropped
(:func:`optimizer_options`), so ``train(net, X, y, "lbfgs", lr=0.1)`` is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from approx.core import validate
from approx.nn.activations import ACTIVATIONS
from approx.train.schedules import SCHEDULES

__all__ = [
    "OPTIONS",
    "AdamLMOptions",
    "AdamOptions",
    "FitOptions",
    "LBFGSOptions",
    "LMOptions",
    "Options",
    "SGDOptions",
    "adam_phase_unread",
    "default_n_train",
    "describe",
    "implied_defaults",
    "optimizer_options",
]


def option(
    default: Any,
    help: str,
    *,
    type: type = float,
    choices: tuple[Any, ...] | None = None,
    minimum: float | None = None,
    optional: bool = False,
    positive: bool = False,
) -> Any:
    """A dataclass field with the metadata that validates it and describes it.

    Parameters
    ----------
    default : object
        The default value (the one place it is defined).
    help : str
        One line for ``run-experiment --list``.
    type : type
        ``int``, ``float``, ``bool`` or ``str``.
    choices : tuple, optional
        Allowed values (a did-you-mean hint names the closest).
    minimum : float, optional
        Inclusive lower bound of a number.
    optional : bool
        ``None`` is allowed (and means what the help says).
    positive : bool
        The number must exceed ``minimum`` (strictly).
    """
    meta = {"help": help, "type": type, "choices": choices, "minimum": minimum}
    return field(default=default, metadata=meta | {"optional": optional, "positive": positive})


def check_option(f: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` converted and checked against field ``f``'s metadata, or ``ValueError``."""
    meta = f.metadata
    if value is None and meta["optional"]:
        return None
    try:
        if meta["type"] is int:
            minimum = meta["minimum"]
            value = validate.integer(value, f.name, None if minimum is None else int(minimum))
        elif meta["type"] is float:
            value = validate.finite_float(
                value, f.name, meta["minimum"], exclusive_minimum=meta["positive"]
            )
        elif not isinstance(value, meta["type"]) or (
            meta["type"] is not bool and isinstance(value, bool)
        ):
            raise TypeError(
                f"{f.name} must be of type {meta['type'].__name__}, got "
                f"{validate.type_name(value)} {value!r}"
            )
    except TypeError as e:
        raise ValueError(str(e)) from None
    if meta["choices"] is not None:
        # names of tables (optimizers, inits, …): "unknown init 'x'; did you mean …"
        validate.lookup(dict.fromkeys(meta["choices"]), value, f.name)
    return value


def _steps(default: int) -> Any:
    return option(
        default,
        "budget: steps (SGD, Adam, Adam phase of adam+lm), iterations (L-BFGS), evaluations (LM)",
        type=int,
        minimum=1,
    )


@dataclass(frozen=True)
class Options:
    """What every optimizer reads: its budget and the loss tolerance."""

    steps: int = _steps(1000)
    tol: float = option(0.0, "stop once the training loss is ≤ tol", minimum=0.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_option(f, getattr(self, f.name)))


@dataclass(frozen=True)
class FirstOrderOptions(Options):
    """SGD and Adam: step size, its schedule, mini-batches, relocation of idle units."""

    steps: int = _steps(3000)
    lr: float = option(0.01, "step size", minimum=0.0, positive=True)
    schedule: str = option(
        "cosine",
        "step-size schedule: warm-up, then decay to 1e-4 × lr (or constant)",
        type=str,
        choices=tuple(SCHEDULES),
    )
    batch_size: int | None = option(
        None, "mini-batch size (None: the full batch)", type=int, minimum=1, optional=True
    )
    relocate: bool = option(
        True,
        "move ReLU units whose kink lies outside the data (dead or affine there) to the "
        "largest residuals, function unchanged (full-batch, 1→d→1 ReLU, first 90% of steps)",
        type=bool,
    )


@dataclass(frozen=True)
class SGDOptions(FirstOrderOptions):
    """SGD with heavy-ball momentum."""

    lr: float = option(0.05, "step size", minimum=0.0, positive=True)
    momentum: float = option(0.9, "heavy-ball momentum μ in [0, 1) of SGD", minimum=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")


@dataclass(frozen=True)
class AdamOptions(FirstOrderOptions):
    """Adam with bias-corrected moments (β₁ = 0.9, β₂ = 0.999)."""

    lr: float = option(0.03, "step size", minimum=0.0, positive=True)


@dataclass(frozen=True)
class LBFGSOptions(Options):
    """L-BFGS-B (scipy): iterations."""

    steps: int = _steps(500)


@dataclass(frozen=True)
class LMOptions(Options):
    """Levenberg–Marquardt (scipy's MINPACK): function evaluations."""

    steps: int = _steps(100)


@dataclass(frozen=True)
class AdamLMOptions(AdamOptions):
    """Adam to place the kinks, then a Levenberg–Marquardt polish."""

    steps: int = option(
        3000,
        "budget: steps (SGD, Adam, Adam phase of adam+lm: 0 polishes the start, the "
        "default from the knots and construction inits), iterations (L-BFGS), "
        "evaluations (LM)",
        type=int,
        minimum=0,
    )

    polish_steps: int = option(
        200,
        "Levenberg–Marquardt evaluations after the Adam phase of adam+lm",
        type=int,
        minimum=1,
    )
    polish_p: float = option(
        8.0,
        "exponent of the Lᵖ error the polish of adam+lm minimises (2: the mean square; "
        "larger: closer to the max error)",
        minimum=2.0,
    )


#: the options each optimizer reads, by optimizer name
OPTIONS: dict[str, type[Options]] = {
    "sgd": SGDOptions,
    "adam": AdamOptions,
    "lbfgs": LBFGSOptions,
    "lm": LMOptions,
    "adam+lm": AdamLMOptions,
}


def optimizer_options(optimizer: str, given: dict[str, Any]) -> Options:
    """The options of ``optimizer`` with ``given`` set; names it does not read are refused.

    Raises
    ------
    ValueError
        If ``optimizer`` is unknown, a name in ``given`` is not read by it, or a value is
        out of range.
    """
    cls = validate.lookup(OPTIONS, optimizer, "optimizer")
    reads = [f.name for f in dataclasses.fields(cls)]
    unread = [name for name in given if name not in reads]
    if unread:
        raise ValueError(
            f"optimizer {optimizer!r} does not read {', '.join(map(repr, unread))}; "
            f"it reads: {', '.join(reads)}"
        )
    opts = cls(**given)
    unread = sorted(set(given) & adam_phase_unread(optimizer, opts.steps))
    if unread:
        raise ValueError(
            f"optimizer 'adam+lm' with steps = 0 (no Adam phase: the default from the knots "
            f"and construction inits) does not read {', '.join(map(repr, unread))}"
        )
    return opts


def adam_phase_unread(optimizer: str, steps: int) -> set[str]:
    """The Adam phase's options, when ``adam+lm`` runs without one (``steps = 0``)."""
    if optimizer != "adam+lm" or steps != 0:
        return set()
    return {f.name for f in dataclasses.fields(FirstOrderOptions)} - {
        f.name for f in dataclasses.fields(Options)
    }


def default_of(name: str, optimizer: str) -> Any:
    """Default of option ``name`` under ``optimizer`` (``KeyError`` if it is not read)."""
    return OPTIONS[optimizer].__dataclass_fields__[name].default


@dataclass(frozen=True)
class FitOptions:
    """What :func:`approx.train.fit_target` reads besides the optimizer's options."""

    optimizer: str = option(
        "adam+lm",
        "SGD with momentum, Adam, L-BFGS, Levenberg–Marquardt, or Adam then an LM polish",
        type=str,
        choices=tuple(OPTIONS),
    )
    init: str = option(
        "he",
        "random He weights, kinks at the knots, or the ±ReLU interpolant itself",
        type=str,
        choices=("he", "knots", "construction"),
    )
    knots: str = option(
        "uniform",
        "knots of the 'knots' and 'construction' inits: equally spaced, or "
        "equidistributing |f''|^(1/2)",
        type=str,
        choices=("uniform", "adaptive"),
    )
    n_train: int | None = option(
        None,
        "training points (None: max(1024, 128 d) for adam+lm, whose polish costs O(m) "
        "a step and needs samples in every cell between knots; 1024 otherwise)",
        type=int,
        minimum=2,
        optional=True,
    )
    sampling: str = option(
        "uniform",
        "layout of the training points on the domain",
        type=str,
        choices=("uniform", "random", "chebyshev"),
    )
    activation: str = option("relu", "hidden activation", type=str, choices=tuple(ACTIVATIONS))
    loss: str = option("mse", "mean squared or p-th power error", type=str, choices=("mse", "lp"))
    p: float | None = option(
        None, "exponent of the lp loss (None: the loss's default)", minimum=2.0, optional=True
    )
    select: str = option(
        "max_error",
        "keep the iterate with the least training loss, or the least max error on a "
        "validation grid between the training points",
        type=str,
        choices=("loss", "max_error"),
    )
    n_val: int | None = option(
        None,
        "validation points of select = 'max_error' (None: 4 n_train)",
        type=int,
        minimum=2,
        optional=True,
    )
    grow_from: int = option(
        64,
        "adam+lm from He init, ReLU, width d above this: train a net this wide first, "
        "then widen it to d (knots re-placed by its curvature) and polish; 0: never",
        type=int,
        minimum=0,
    )
    monitor_every: int = option(
        10, "steps between validation checks of select = 'max_error'", type=int, minimum=1
    )
    depth: int = option(
        1,
        "hidden layers of equal width d; above 1: init 'he' only, relocation and "
        "growth off, the adam+lm polish dense Gauss–Newton",
        type=int,
        minimum=1,
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_option(f, getattr(self, f.name)))
        if self.depth > 1 and self.init != "he":
            raise ValueError(
                f"init {self.init!r} builds a one-hidden-layer net; depth {self.depth} "
                "needs init 'he'"
            )

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


def implied_defaults(fit: FitOptions) -> dict[str, Any]:
    """Optimizer defaults that depend on the fit's options (given options override them).

    ``adam+lm`` from the ``"knots"`` or ``"construction"`` init skips the Adam phase
    (``steps = 0``): the kinks are already where the polish wants them, and Adam's
    large early steps would only throw them out of place.
    """
    if fit.optimizer == "adam+lm" and fit.init != "he":
        return {"steps": 0}
    return {}


#: training points per unit of width that adam+lm gets by default, and the floor
SAMPLES_PER_UNIT, MIN_SAMPLES = 128, 1024


def default_n_train(width: int, optimizer: str) -> int:
    """Training points when ``n_train`` is not given (see :class:`FitOptions`)."""
    if optimizer == "adam+lm":
        return max(MIN_SAMPLES, SAMPLES_PER_UNIT * width)
    return MIN_SAMPLES


def describe(name: str) -> tuple[type, tuple[Any, ...] | None, float | None, str]:
    """Type, choices, minimum and help of option ``name`` (fit or optimizer option).

    Where optimizers disagree on the default, the help lists each one's; the minimum
    is the least any of them allows.
    """
    classes = (FitOptions, *OPTIONS.values())
    f = next(c.__dataclass_fields__[name] for c in classes if name in c.__dataclass_fields__)
    meta = f.metadata
    defaults = {
        opt: cls.__dataclass_fields__[name].default
        for opt, cls in OPTIONS.items()
        if name in cls.__dataclass_fields__
    }
    # the loosest bound: each optimizer's own options check their own
    minima = [
        c.__dataclass_fields__[name].metadata["minimum"]
        for c in classes
        if name in c.__dataclass_fields__
    ]
    minimum = None if None in minima else min(minima)
    help_ = meta["help"]
    if len({repr(v) for v in defaults.values()}) > 1:
        help_ += "; default " + ", ".join(f"{v} ({k})" for k, v in defaults.items())
    return meta["type"], meta["choices"], minimum, help_
