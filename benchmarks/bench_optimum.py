"""The certified bracket of the best one-hidden-layer ReLU net, per target and width.

For each built-in target and d in the list, runs the ``optimal-pwl`` method and certifies
its net (``max_error_at``, the path every run takes): prints ``lower`` (the proven lower
bound of any width-d net's max error), ``upper`` (the certified max error of the
returned width-d net), ``upper/lower - 1``, the breakpoints the net has inside the domain,
``d²·lower`` (about (∫√|f''|)²/16 for large d), the seconds of the fit with the lower
bound and of the certification, and the CPU seconds of both together (the process's
time: a measure that a loaded machine inflates less than the wall clock). BLAS is
pinned to one thread. Besides the built-ins, the targets of :data:`KINKY` (``f'`` jumps)
can be named.

    python benchmarks/bench_optimum.py [--widths 8,64,512,4096] [--targets sin2pi,exp]
    python benchmarks/bench_optimum.py --targets abssin4,kinkexp,absq,sqrtabs
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time

import numpy as np

from approx.analysis.errors import max_error_at
from approx.methods import fit
from approx.problems import targets

WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: targets with kinks (jumps of f'), by name: expression and domain
KINKY = {
    "abssin4": ("abs(sin(4*x))", (-1.0, 1.0)),
    "kinkexp": ("exp(-3*abs(x - 0.1))", (-1.0, 1.0)),
    "absq": ("abs(x - 0.3) + x**2", (-1.0, 1.0)),
    "sqrtabs": ("sqrt(abs(x) + 0.01)", (-1.0, 1.0)),
}


def _target(name: str) -> targets.Target:
    if name in KINKY:
        return targets.from_expr(*KINKY[name], name=name)
    return targets.get(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--targets", default=",".join(targets.names()))
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    # compile the kernel and build the targets' Taylor models outside the timings
    for name in args.targets.split(","):
        fit("optimal-pwl", _target(name), 4, np.random.default_rng(0))
    print(f"{'target':8} {'d':>5} {'lower':>12} {'upper':>12} {'upper/lower-1':>14} "
          f"{'inside':>6} {'d²·lower':>9} {'fit+lower s':>11} {'certify s':>9} {'cpu s':>6}")
    for name in args.targets.split(","):
        target = _target(name)
        for d in widths:
            cpu = time.process_time()
            start = time.perf_counter()
            result = fit("optimal-pwl", target, d, np.random.default_rng(0))
            fitted = time.perf_counter()
            err = max_error_at(target, result.model)
            done = time.perf_counter()
            cpu = time.process_time() - cpu
            lower = result.info["lower"]
            ratio = err.upper / lower - 1 if lower > 0 else float("inf")
            print(f"{name:8} {d:5d} {lower:12.6e} {err.upper:12.6e} {ratio:14.3e} "
                  f"{result.info['breakpoints']:6d} {d * d * lower:9.4f} "
                  f"{fitted - start:11.2f} {done - fitted:9.2f} {cpu:6.2f}", flush=True)


if __name__ == "__main__":
    main()
