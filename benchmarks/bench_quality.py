"""Quality: max error of trained nets relative to the uniform ±ReLU construction.

For each target and width d: the certified max error ε of the uniform construction,
then the median (over seeds) max error of each trained recipe from He init (random
weights that know nothing of the target or its domain), the best of them named, and of
LM from the "knots" and "construction" inits, each divided by ε (< 1: the trained net
wins), and the wall time of the row.

    python benchmarks/bench_quality.py            # d = 8, 16, 32, 64; 3 seeds
    python benchmarks/bench_quality.py --quick    # d = 8, 16, 32; 2 seeds; smaller budgets
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: threads only add overhead

import numpy as np

from approx import targets
from approx.construct import relu_interpolant
from approx.metrics import max_error
from approx.train import fit_target

TARGETS = ("sin2pi", "runge", "exp", "tanh10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    widths = (8, 16, 32) if args.quick else (8, 16, 32, 64)
    seeds = range(2 if args.quick else 3)
    scale = 0.4 if args.quick else 1.0
    common = {"n_train": 1024, "select": "max_error"}
    # the He candidates (cosine schedule and relocation of units outside the data are the
    # fit defaults; the polish of adam+lm is the numpy Levenberg–Marquardt, cheap per step);
    # the best (lowest median) is named. LM alone from He init stalls and is left out.
    adam = {"lr": 0.03, "schedule": "cosine", "relocate": True}
    he_configs = {
        "adam": {"optimizer": "adam", "steps": int(10000 * scale), **adam},
        "adam+lm": {
            "optimizer": "adam+lm",
            "steps": int(10000 * scale),
            "polish_steps": int(1000 * scale),
            **adam,
        },
    }
    lm = {"optimizer": "lm", "steps": int(300 * scale)}
    print(
        f"median max error / uniform construction (seeds {len(seeds)}, n_train 1024, "
        f"best iterate by max error on 8192 validation points)"
    )
    print("he: " + "; ".join(f"{k} {v}" for k, v in he_configs.items()))
    print(f"knots, construction: {lm}")
    head = " ".join(f"{'he ' + k:>11}" for k in he_configs)
    print(
        f"{'target':>8} {'d':>4} {'constr. ε':>10} {head} {'he best':>17} {'knots':>7} "
        f"{'constr.':>7} {'time':>6}"
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
            best = min(he, key=he.__getitem__)
            knots = median_ratio("knots", lm)
            constr = median_ratio("construction", lm)
            cols = " ".join(f"{v:11.2f}" for v in he.values())
            print(
                f"{name:>8} {d:>4} {base:10.2e} {cols} {he[best]:7.2f} ({best:>7}) "
                f"{knots:7.2f} {constr:7.2f} {time.perf_counter() - t0:5.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
