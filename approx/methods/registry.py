"""The records of the method registry: :class:`Fit` (what a method returns) and
:class:`Method` (a kind's fitting function, declared parameters, size and memory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.core.options import Option, Schema
from approx.core.status import RunStatus
from approx.methods import costs
from approx.models import Model

__all__ = ["Fit", "Method"]


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
                # where each phase of the history starts, e.g. "adam:mse@0 lm:L8@2000"
                **({"phases": " ".join(f"{a}@{at}" for a, at in result.phases)}
                   if getattr(result, "phases", ()) else {}),
                **info,
            },
        )


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
    memory: Callable[[int, dict[str, Any]], int] = costs.linear_memory
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
