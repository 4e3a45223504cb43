"""Step-size schedules of SGD and Adam: a factor on ``lr`` at each step."""

from __future__ import annotations

import math
from collections.abc import Callable

from approx.core import validate

__all__ = ["LR_FLOOR", "SCHEDULES", "WARMUP", "lr_factor"]


#: fraction of the budget spent warming the step size up, and the final step size of
#: the decaying schedules relative to ``lr``
WARMUP, LR_FLOOR = 0.02, 1e-4


def _constant(u: float) -> float:
    return 1.0


def _cosine(u: float) -> float:
    return LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * u))


def _exponential(u: float) -> float:
    return LR_FLOOR**u


#: step-size schedules of SGD/Adam: the factor on ``lr`` at progress ``u`` ∈ [0, 1] after the
#: warm-up (the decaying ones end at ``LR_FLOOR``: most of constant-lr Adam's error is its
#: final noise floor, which a decaying step removes)
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": _constant,
    "cosine": _cosine,
    "exp": _exponential,
}


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """Factor on the base step size at ``step`` of ``steps`` under ``schedule``.

    ``"constant"`` is 1 throughout. The others ramp up linearly over the first
    ``WARMUP`` of the budget (large early steps from a random start would throw units
    out of the data range), then decay from 1 to ``LR_FLOOR``: ``"cosine"`` along half a
    cosine, ``"exp"`` geometrically.
    """
    validate.lookup(SCHEDULES, schedule, "schedule")
    if schedule == "constant":
        return 1.0
    warm = max(1, int(WARMUP * steps))
    if step < warm:
        return (step + 1) / warm
    return SCHEDULES[schedule]((step - warm) / max(1, steps - 1 - warm))
