"""How long a run takes, roughly: the cost model behind ``run-experiment --dry-run``.

A run's seconds (fit and certification together, one worker) are modelled per task and
method kind as ``base + per_unit · d^power`` at width d, with the work a kind's
parameters add on top: a trained net's steps, training points and depth scale its
per-unit term (its default recipe is the reference), a random-features fit's samples
theirs. The constants were fitted to the ``fit_seconds + eval_seconds`` of the shipped
configs (``experiments/*.toml``, run with ``--jobs 2`` on a 2-core machine shared with
other work; the fit is in log space, so an estimate is a typical run's, not the
slowest's). Estimates are good to a factor of about 2–3 either way: run times depend on
the machine, its load, and on the target (a rough target makes the certification
work harder). A kind without an entry has no estimate (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from approx.train import options

__all__ = ["COSTS", "Cost", "run_seconds"]


@dataclass(frozen=True)
class Cost:
    """``base + per_unit · d^power`` seconds at width d."""

    base: float
    per_unit: float
    power: float

    def at(self, width: int) -> float:
        return self.base + self.per_unit * max(width, 1) ** self.power


#: (task, kind) → the cost of a run at the kind's default parameters
COSTS: dict[tuple[str, str], Cost] = {
    ("approximation", "relu-interpolant"): Cost(0.01, 2e-4, 1.0),
    ("approximation", "random-features"): Cost(0.05, 5e-4, 1.0),
    ("approximation", "chebyshev"): Cost(0.02, 1e-3, 1.0),
    ("approximation", "spline"): Cost(0.02, 1e-3, 1.0),
    ("approximation", "sawtooth"): Cost(0.005, 1e-4, 3.0),
    ("approximation", "trained"): Cost(1.0, 0.05, 1.0),
    ("classification", "linear"): Cost(0.1, 0.0, 1.0),
    ("classification", "linear-features"): Cost(0.1, 1e-3, 1.0),
    ("classification", "random-features"): Cost(0.1, 1e-3, 1.0),
    ("classification", "trained"): Cost(0.5, 5e-3, 1.0),
}


def _trained_scale(task: str, width: int, params: dict[str, Any]) -> float:
    """The work of a trained run relative to its default recipe's: steps × training
    points, and × d for each layer beyond the first (its d × d products)."""
    if task != "approximation":
        return 1.0
    optimizer = params.get("optimizer") or "adam+lm"
    steps = params.get("steps") or 2000
    n = params.get("n_train") or options.default_n_train(width, optimizer)
    reference = options.default_n_train(width, "adam+lm") * 2000
    depth = params.get("depth") or 1
    return steps * n / reference * (1 + (depth - 1) * width / 16)


def run_seconds(task: str, kind: str, width: int, params: dict[str, Any]) -> float | None:
    """Estimated seconds of one run of ``kind`` at ``width`` with ``params`` (resolved),
    or None for a kind without a cost model."""
    cost = COSTS.get((task, kind))
    if cost is None:
        return None
    if kind == "trained":
        return cost.base + (cost.at(width) - cost.base) * _trained_scale(task, width, params)
    if kind == "random-features" and "n_samples" in params:
        return cost.base + (cost.at(width) - cost.base) * params["n_samples"] / 4096
    return cost.at(width)
