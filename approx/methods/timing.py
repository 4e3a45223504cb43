"""How long a run takes, roughly: the cost model behind ``run-experiment --dry-run``.

A run's seconds (fit and certification together, one worker) are modelled per task and
method kind as ``base + per_unit · d^power`` at width d, with the work a kind's
parameters add on top: a trained net's steps, training points and depth scale its
per-unit term (its default recipe is the reference); a random-features fit's samples
scale that of cos features (``n d min(n, d)``: the deflated fit's images of a subspace
of about d/5 columns, or the plain truncated SVD for n < d), while ReLU features (a ridge
fit, ``O(d³/3)`` beside an ``O(n d)`` design) have a cost of their own. The
constants were fitted to the ``fit_seconds + eval_seconds`` of the shipped
configs (``experiments/*.toml``, run with ``--jobs 2`` on a 2-core machine shared with
other work; the fit is in log space, so an estimate is a typical run's, not the
slowest's). Estimates are good to a factor of about 2–3 either way: run times depend on
the machine, its load, and on the target (a rough target makes the certification
work harder); a classification run's grows with its classes. A kind without an entry
has no estimate (None).

Checked against the shipped configs (estimate over measured, all runs of a config
together, measured under a load of about 12 on the 2 cores): quickstart 1.0, features
1.0, depth 0.6, sawtooth 0.6, and 0.8 on the constructions, Chebyshev, splines and
random features at d = 16 … 4096; linear_regions 0.3 (8 s of runs of a fraction of a
second, whose time is mostly start-up). Random features and Chebyshev were refitted
after the ridge fit of ReLU features and the cheaper L2 error of cos nets, on the CPU
seconds of single runs at d = 256 … 4096 (ReLU features 2.6 s at d = 4096 on 8192
samples, Chebyshev 2 s); cos features again after their deflated fit (about 13 s at
d = 4096 on 8192 samples: 9–10 s of fit, 3–4 s of certificate and L2 error; 4 s at 2048),
and once more, by hand, after its design by angle addition and smaller subspace: about
4.5 s of fit at d = 4096 (``bench_features.py --phases``), so about 8 s a run.
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


#: (task, kind) → the cost of a run at the kind's default parameters; the trained nets of
#: the approximation task by optimizer: the default recipe ("adam+lm"), and any other
#: (fitted on L-BFGS, 1000 steps on the default training points, depth 1)
COSTS: dict[tuple[str, str], Cost] = {
    ("approximation", "relu-interpolant"): Cost(0.1, 1.5e-4, 1.0),
    ("approximation", "random-features"): Cost(0.15, 1.2e-7, 2.0),
    ("approximation", "random-features/relu"): Cost(0.1, 1.5e-7, 2.0),
    ("approximation", "chebyshev"): Cost(0.05, 5e-4, 1.0),
    ("approximation", "optimal-pwl"): Cost(0.5, 1.5e-3, 1.0),
    ("approximation", "spline"): Cost(0.1, 0.05, 0.3),
    ("approximation", "sawtooth"): Cost(0.06, 3e-3, 3.0),
    ("approximation", "trained"): Cost(0.5, 4e-3, 1.3),
    ("approximation", "trained/other"): Cost(0.5, 0.1, 0.6),
    ("classification", "linear"): Cost(0.01, 0.0, 1.0),
    ("classification", "linear-features"): Cost(0.02, 3e-4, 1.0),
    ("classification", "random-features"): Cost(0.05, 5e-4, 1.0),
    ("classification", "trained"): Cost(2.0, 0.017, 1.0),
}
#: the reference parameters of the costs above
_STEPS = {"adam+lm": 2000, "other": 1000, "classification": 2000}
_SAMPLES = 2048


def _trained(task: str, width: int, params: dict[str, Any]) -> float:
    """A trained run: its kind's cost with the per-unit term scaled by the steps and the
    training points relative to the reference's, and by 1 + (depth − 1) · d / 4 (the
    d × d products of each layer beyond the first)."""
    steps = params.get("steps") or 0
    if task != "approximation":
        cost = COSTS[task, "trained"]
        return cost.base + (cost.at(width) - cost.base) * max(steps, 1) / _STEPS[task]
    optimizer = params.get("optimizer") or "adam+lm"
    default = optimizer == "adam+lm"
    cost = COSTS[task, "trained" if default else "trained/other"]
    n = params.get("n_train") or options.default_n_train(width, optimizer)
    scale = (max(steps, 1) / _STEPS["adam+lm" if default else "other"]
             * n / options.default_n_train(width, optimizer))
    depth = params.get("depth") or 1
    scale *= 1 + (depth - 1) * width / 4
    return cost.base + (cost.at(width) - cost.base) * scale


def _random_features(width: int, params: dict[str, Any]) -> float:
    """A random-features fit: ReLU features by their own cost, cos features by theirs
    with the per-unit term scaled by ``n min(n, d) / (2048 d)`` (the reference has 2048
    samples and ``d ≤ n``)."""
    if params.get("features") == "relu":
        return COSTS["approximation", "random-features/relu"].at(width)
    cost = COSTS["approximation", "random-features"]
    n = params.get("n_samples") or _SAMPLES
    return cost.base + (cost.at(width) - cost.base) * n / _SAMPLES * min(n, width) / max(width, 1)


def run_seconds(task: str, kind: str, width: int, params: dict[str, Any],
                classes: int = 2) -> float | None:
    """Estimated seconds of one run of ``kind`` at ``width`` with ``params`` (resolved),
    or None for a kind without a cost model. A classification run's cost is its
    two-class cost times ``classes / 2``."""
    cost = COSTS.get((task, kind))
    if cost is None:
        return None
    if kind == "trained":
        seconds = _trained(task, width, params)
    elif kind == "random-features" and task == "approximation":
        seconds = _random_features(width, params)
    else:
        seconds = cost.at(width)
    return seconds * max(classes, 2) / 2 if task == "classification" else seconds
