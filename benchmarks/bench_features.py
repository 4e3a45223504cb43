"""Enclosure of the max error of random Fourier features: value, upper, tight, time.

For each target and width ``d``: :func:`approx.construct.random_features` (seed 0) and
:func:`approx.metrics.max_error_at` on it, with the default work cap. Prints the
attained value, the rigorous upper bound, whether they meet the tolerance, and the wall
time of the enclosure (the fit excluded). One BLAS thread.

    python benchmarks/bench_features.py                 # d = 16 … 4096
    python benchmarks/bench_features.py --widths 16 64  # a subset
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from approx import targets
from approx.construct import random_features
from approx.metrics import max_error_at

TARGETS = ("sin2pi", "runge", "abs15")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    args = parser.parse_args()
    print(f"{'target':>8} {'d':>5} {'value':>10} {'upper':>10} {'tight':>5} {'time':>7}")
    for name in args.targets:
        target = targets.get(name)
        for d in args.widths:
            net = random_features(target, d, rng=np.random.default_rng(0))
            t0 = time.perf_counter()
            found = max_error_at(target, net)
            seconds = time.perf_counter() - t0
            print(
                f"{name:>8} {d:>5} {found.value:10.3e} {found.upper:10.3e} "
                f"{found.tight!s:>5} {seconds:6.2f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
