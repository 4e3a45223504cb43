"""Step-size schedules of SGD and Adam: a factor on ``lr`` at each step.

A schedule's name is checked once, where the options come in; the loop takes the
:class:`Schedule` itself (``SCHEDULES[name]``) and calls it at every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from approx.core import validate

__all__ = ["LR_FLOOR", "SCHEDULES", "WARMUP", "Schedule", "lr_factor"]


#: fraction of the budget spent warming the step size up, and the final step size of
#: the decaying schedules relative to ``lr``
WARMUP, LR_FLOOR = 0.02, 1e-4


@dataclass(frozen=True)
class Schedule:
    """The factor on the base step size at ``step`` of ``steps``: ``schedule(step, steps)``.

    A decaying schedule ramps up linearly over the first ``WARMUP`` of the budget (large
    early steps from a random start would throw units out of the data range), then
    follows ``decay(u)`` from 1 at ``u = 0`` to ``LR_FLOOR`` at ``u = 1``; a schedule
    without ``warm_up`` is ``decay(0)`` throughout.
    """

    decay: Callable[[float], float]
    warm_up: bool = True

    def __call__(self, step: int, steps: int) -> float:
        if not self.warm_up:
            return self.decay(0.0)
        warm = max(1, int(WARMUP * steps))
        if step < warm:
            return (step + 1) / warm
        return self.decay((step - warm) / max(1, steps - 1 - warm))


def _constant(u: float) -> float:
    return 1.0


def _cosine(u: float) -> float:
    return LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * u))


def _exponential(u: float) -> float:
    return LR_FLOOR**u


#: step-size schedules of SGD/Adam: ``"constant"`` is 1 throughout; the others warm up,
#: then decay to ``LR_FLOOR`` (most of constant-lr Adam's error is its final noise floor,
#: which a decaying step removes), ``"cosine"`` along half a cosine, ``"exp"`` geometrically
SCHEDULES: dict[str, Schedule] = {
    "constant": Schedule(_constant, warm_up=False),
    "cosine": Schedule(_cosine),
    "exp": Schedule(_exponential),
}


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """Factor on the base step size at ``step`` of ``steps`` under ``schedule`` (a name)."""
    return validate.lookup(SCHEDULES, schedule, "schedule")(step, steps)
