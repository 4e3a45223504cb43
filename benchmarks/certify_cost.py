"""Cost of the certified max error per model kind: seconds, tight, upper/value.

For a built-in target and each model kind at ``d = 1024, 4096, 16384``: build the model
(not timed), then time :func:`approx.analysis.errors.max_error_at` on it, wall and CPU
seconds (on a shared machine the CPU time is the one to compare; the target's
own Taylor models are built once beforehand, so they are not timed either). Kinds: the
uniform ReLU interpolant (piecewise linear), the cubic spline, the Chebyshev
interpolant, and random cos features fitted on 2048 and on 8192 samples (the latter as
in ``experiments/universal_approximation.toml``). One BLAS thread.

    python benchmarks/certify_cost.py                       # sin2pi, every kind and d
    python benchmarks/certify_cost.py --target runge --widths 1024 4096
    python benchmarks/certify_cost.py --kinds chebyshev cos8192
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from approx.analysis.errors import max_error_at
from approx.certify import targets as certified
from approx.models.baselines import chebyshev, cubic_spline
from approx.models.construct import random_features, relu_interpolant
from approx.problems import targets

KINDS = {
    "relu": lambda f, d: relu_interpolant(f, d),
    "spline": cubic_spline,
    "chebyshev": chebyshev,
    "cos2048": lambda f, d: random_features(f, d, rng=np.random.default_rng(0), n_samples=2048),
    "cos8192": lambda f, d: random_features(f, d, rng=np.random.default_rng(0), n_samples=8192),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="sin2pi")
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = parser.parse_args()
    f = targets.get(args.target)
    certified.taylor(f)  # built once per process: not the model's cost
    print(f"target {args.target} on {f.domain}")
    print(
        f"{'kind':>10} {'d':>6} {'wall s':>8} {'cpu s':>8} {'tight':>6} "
        f"{'upper/value':>12} {'value':>12}"
    )
    for kind in args.kinds:
        for d in args.widths:
            model = KINDS[kind](f, d)
            start, cpu = time.perf_counter(), time.process_time()
            r = max_error_at(f, model)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            ratio = r.upper / r.value if r.value > 0 else float("inf")
            print(
                f"{kind:>10} {d:>6} {took:8.2f} {cpu:8.2f} {r.tight!s:>6} {ratio:12.9f} "
                f"{r.value:12.4e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
