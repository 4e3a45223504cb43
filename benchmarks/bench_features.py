"""Enclosure of the max error of random Fourier features: value, upper, tight, time.

For each target and width ``d``: :func:`approx.models.construct.random_features` (seed 0) and
:func:`approx.analysis.errors.max_error_at` on it, with the default work cap. Prints the
attained value, the rigorous upper bound, whether they meet the tolerance, and the wall
time of the enclosure (the fit excluded). One BLAS thread.

With ``--baseline`` each row is also enclosed the way every smooth net was before the
float cells (:class:`approx.certify.features.FeaturePolys`): Arb Taylor models of the
net, run right after in the same process, and the time ratio printed.

    python benchmarks/bench_features.py                 # d = 16 … 4096
    python benchmarks/bench_features.py --baseline      # and the Arb Taylor models
    python benchmarks/bench_features.py --widths 16 64  # a subset
"""

from __future__ import annotations

import argparse
import os
import time
from unittest import mock

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from approx import analysis
from approx.analysis.errors import max_error_at
from approx.certify import adapters
from approx.certify import targets as certified
from approx.models.construct import random_features
from approx.problems import targets

TARGETS = ("sin2pi", "runge", "abs15")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    head = f"{'value':>10} {'upper':>10} {'tight':>5} {'time':>7}"
    extra = f" | {'Arb Taylor models: ' + head:>s} {'ratio':>6}" if args.baseline else ""
    print(f"{'target':>8} {'d':>5} {head}{extra}")
    for name in args.targets:
        target = targets.get(name)
        certified.taylor(target)  # built once per process, outside the timings
        for d in args.widths:
            net = random_features(target, d, rng=np.random.default_rng(0))
            found, seconds = _timed(target, net)
            row = f"{name:>8} {d:>5} {_cells(found, seconds)}"
            if args.baseline:
                with mock.patch.object(adapters, "features_fit", return_value=False):
                    old, old_seconds = _timed(target, net)
                row += f" | {'':>19}{_cells(old, old_seconds)} {old_seconds / seconds:6.1f}"
            print(row, flush=True)


def _timed(target: targets.Target, net: object) -> tuple[analysis.MaxError, float]:
    t0 = time.perf_counter()
    found = max_error_at(target, net)
    return found, time.perf_counter() - t0


def _cells(found: analysis.MaxError, seconds: float) -> str:
    return f"{found.value:10.3e} {found.upper:10.3e} {found.tight!s:>5} {seconds:6.2f}s"


if __name__ == "__main__":
    main()
