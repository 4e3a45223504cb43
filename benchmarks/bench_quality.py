"""Quality: certified max error of the default trained recipe against the constructions.

For each built-in target and width d, with ε the certified max error
(:func:`approx.analysis.errors.max_error`):

- ``he / uniform``: the median over seeds of ε of ``kind = "trained"`` with every
  parameter at its default (Adam from random He weights that know nothing of the target,
  grown from a narrower trained net above d = 64, then the knot-form Levenberg–Marquardt
  polish), over ε of the uniform construction; goal ≤ 2;
- ``constr. / adaptive``: ε of the same recipe started from the adaptive construction
  (``init = "construction"``, ``knots = "adaptive"``), over ε of that construction;
  goal ≤ 0.6. With uniform training points that fit draws nothing at random, so it runs
  once per row;

and the wall time of the row (all seeds). One BLAS thread.

    python benchmarks/bench_quality.py            # d = 8 … 1024, 3 seeds
    python benchmarks/bench_quality.py --quick    # d = 8 … 256, 2 seeds
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: threads only add overhead

import numpy as np

from approx import methods
from approx.analysis.errors import max_error
from approx.models.construct import relu_interpolant
from approx.problems import targets

TARGETS = ("sin2pi", "runge", "exp", "tanh10", "abs15")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    widths = [2**k for k in range(3, 9 if args.quick else 11)]
    seeds = range(2 if args.quick else 3)
    print(f"certified max error ratios, median over {len(seeds)} seeds (he); defaults")
    print(
        f"{'target':>8} {'d':>5} {'uniform ε':>10} {'adaptive ε':>10} {'he/unif':>8} "
        f"{'(worst)':>8} {'constr/adapt':>12} {'time':>6}"
    )
    worst = {"he": 0.0, "constr": 0.0}
    start = time.perf_counter()
    for name in TARGETS:
        target = targets.get(name)
        for d in widths:
            t0 = time.perf_counter()
            uniform = max_error(target, relu_interpolant(target, d))
            adaptive = max_error(target, relu_interpolant(target, d, knots="adaptive"))
            he = [
                max_error(target, methods.fit("trained", target, d, _rng(s, d)).model) / uniform
                for s in seeds
            ]
            constr = methods.fit(
                "trained", target, d, _rng(0, d), init="construction", knots="adaptive"
            )
            ratio = max_error(target, constr.model) / adaptive
            median = float(np.median(he))
            worst["he"] = max(worst["he"], median)
            worst["constr"] = max(worst["constr"], ratio)
            print(
                f"{name:>8} {d:>5} {uniform:10.2e} {adaptive:10.2e} {median:8.2f} "
                f"{max(he):8.2f} {ratio:12.2f} {time.perf_counter() - t0:5.0f}s",
                flush=True,
            )
    print(
        f"largest median he/uniform {worst['he']:.2f} (goal ≤ 2), largest constr/adaptive "
        f"{worst['constr']:.2f} (goal ≤ 0.6); total {time.perf_counter() - start:.0f} s"
    )


def _rng(seed: int, d: int) -> np.random.Generator:
    return np.random.default_rng([seed, d])


if __name__ == "__main__":
    main()
