"""Speed of the exact constructions and of certifying their max error.

Prints, for d = 2⁶ … 2¹⁶: the time to construct the ±ReLU interpolant (uniform and
adaptive knots) of ``sin2pi``, the time to certify ``max_error``, and the peak memory
(tracemalloc) of each step; then, for d = 2¹⁴ on 10⁶ points, evaluation through the
dense layer (``net(x)``) against evaluation through the breakpoints (``np.interp``), as a
ratio. BLAS is pinned to one thread so the figures are single-core.

    python benchmarks/bench_construct.py [--quick]
"""

from __future__ import annotations

import os

# one core, as the performance goal is stated; must be set before numpy loads BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from approx import targets
from approx.construct import relu_interpolant
from approx.metrics import max_error
from approx.piecewise import piecewise_linear


def measure(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``call`` once; return its result, wall time (s) and peak traced memory (MB)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d up to 2¹², 10⁵ points")
    parser.add_argument("--target", default="sin2pi", choices=targets.names())
    args = parser.parse_args()
    target = targets.get(args.target)
    top = 12 if args.quick else 16

    print(f"target {target.name}; times in ms, peak traced memory in MB")
    header = (
        f"{'d':>6} {'uniform':>9} {'adaptive':>9} {'certify u':>10} {'certify a':>10} "
        f"{'max error u':>12} {'max error a':>12} {'peak MB':>8}"
    )
    print(header)
    for k in range(6, top + 1):
        d = 2**k
        net_u, t_u, m_u = measure(lambda d=d: relu_interpolant(target, d, "uniform"))
        net_a, t_a, m_a = measure(lambda d=d: relu_interpolant(target, d, "adaptive"))
        e_u, c_u, n_u = measure(lambda net=net_u: max_error(target, net))
        e_a, c_a, n_a = measure(lambda net=net_a: max_error(target, net))
        peak = max(m_u, m_a, n_u, n_a)
        print(
            f"{d:>6} {1e3 * t_u:>9.2f} {1e3 * t_a:>9.2f} {1e3 * c_u:>10.2f} {1e3 * c_a:>10.2f} "
            f"{e_u:>12.4e} {e_a:>12.4e} {peak:>8.1f}"
        )

    d, m = (2**12, 10**5) if args.quick else (2**14, 10**6)
    net = relu_interpolant(target, d)
    a, b = target.domain
    x = np.random.default_rng(0).uniform(a, b, m)
    dense, t_dense, m_dense = measure(lambda: net(x))
    pw, t_view, m_view = measure(lambda: piecewise_linear(net, target.domain))
    fast, t_interp, m_interp = measure(lambda: pw(x))
    print(f"\nevaluation at d = {d} on {m} points:")
    print(f"  dense layer net(x)      {t_dense:9.3f} s   peak {m_dense:7.1f} MB")
    print(f"  breakpoints (build)     {t_view:9.3f} s   peak {m_view:7.1f} MB")
    print(f"  np.interp through them  {t_interp:9.3f} s   peak {m_interp:7.1f} MB")
    print(f"  ratio dense / (build + interp) = {t_dense / (t_view + t_interp):.0f}×")
    print(f"  largest difference {np.max(np.abs(dense - fast)):.2e}")


if __name__ == "__main__":
    main()
