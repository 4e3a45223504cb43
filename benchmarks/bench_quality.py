"""Quality: max error of trained nets relative to the uniform ±ReLU construction.

For each target and width d: the median (over seeds) max error of the best trained
method from He init, and of LM from the "knots" and "construction" inits, each divided
by the max error of the uniform construction at the same d (< 1: the trained net wins).

    python benchmarks/bench_quality.py            # d = 8, 16, 32, 64; 3 seeds
    python benchmarks/bench_quality.py --quick    # d = 8, 16, 32; 2 seeds; smaller budgets
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from approx import targets
from approx.construct import relu_interpolant
from approx.train import fit_target

TARGETS = ("sin2pi", "runge", "exp", "tanh10")


def _max_error_fn() -> Callable[[Any, Any], float]:
    try:
        from approx.metrics import max_error

        return max_error
    except ImportError:  # metrics not available: a dense grid stands in

        def grid_max_error(target: Any, model: Any) -> float:
            x = np.linspace(*target.domain, 200_001)
            return float(np.max(np.abs(model(x) - target(x))))

        return grid_max_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    widths = (8, 16, 32) if args.quick else (8, 16, 32, 64)
    seeds = range(2 if args.quick else 3)
    scale = 0.4 if args.quick else 1.0
    common = {"n_train": 1024, "select": "max_error"}
    # the He candidates; the best (lowest median) is reported
    he_configs = {
        "lm": {"optimizer": "lm", "steps": int(500 * scale)},
        "adam": {"optimizer": "adam", "steps": int(5000 * scale), "lr": 0.01},
    }
    lm = {"optimizer": "lm", "steps": int(300 * scale)}
    max_error = _max_error_fn()
    print(
        f"median max error / uniform construction (seeds {len(seeds)}, n_train 1024, "
        f"best iterate by max error on 8192 validation points)"
    )
    print(
        f"{'target':>8} {'d':>4} {'constr. ε':>10} {'he (best)':>14} {'knots (lm)':>11} "
        f"{'constr (lm)':>12} {'time':>6}"
    )
    for name in TARGETS:
        target = targets.get(name)
        for d in widths:
            t0 = time.perf_counter()
            base = max_error(target, relu_interpolant(target, d))

            def median_ratio(
                init: str, cfg: dict[str, Any], d: int = d, base: float = base, target: Any = target
            ) -> float:
                errs = [
                    max_error(
                        target,
                        fit_target(
                            target, d, np.random.default_rng([s, d]), init=init, **common, **cfg
                        ).net,
                    )
                    for s in seeds
                ]
                return float(np.median(errs)) / base

            he = {k: median_ratio("he", cfg) for k, cfg in he_configs.items()}
            best = min(he, key=he.get)
            knots = median_ratio("knots", lm)
            constr = median_ratio("construction", lm)
            print(
                f"{name:>8} {d:>4} {base:10.2e} {he[best]:8.2f} ({best:>4}) {knots:11.2f} "
                f"{constr:12.2f} {time.perf_counter() - t0:5.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
