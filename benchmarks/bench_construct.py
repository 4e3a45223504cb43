"""Speed of the exact constructions and of certifying their max error.

Prints, for d = 2⁶ … 2¹⁶: the time to construct the ±ReLU interpolant (uniform and
adaptive knots) of ``sin2pi``, the time to enclose its max error (``max_error_at``:
value, rigorous upper bound), and the peak memory (tracemalloc) of each step. Then the
certification budget at d = 2¹⁴ in interleaved rounds (min / median / max over the
rounds, and the ratio to constructing the same net): a built-in target (its Taylor
blocks built once per process, as in a sweep), an expression target from scratch
(parsing, proving it finite, Taylor blocks, enclosure), ``tanh(1e4*x)`` with 2¹⁶
adaptive knots, and Yarotsky's sawtooth at m = 12. Then the Chebyshev interpolant of
the built-in target at d = 64, 1024 and 4096 (the last two at the rounding plateau):
certifying it against building it, in interleaved rounds. Last, for d = 2¹⁴ on 10⁶ points,
evaluation through the dense layer (``net(x)``) against evaluation through the
breakpoints (``np.interp``), as a ratio. BLAS is pinned to one thread so the figures are
single-core.

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

from approx.analysis.errors import max_error_at
from approx.certify import targets as certified
from approx.models.baselines import chebyshev
from approx.models.construct import relu_interpolant, sawtooth_square
from approx.nn.piecewise import piecewise_linear
from approx.problems import targets

#: the expression target of the budget: smooth, with a narrow feature
EXPRESSION = "sin(20*x) + 0.5*exp(-((x - 0.31337)/5e-6)**2)"


def measure(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``call`` twice: timed (s), then traced for its peak memory (MB), since tracing
    slows Python-level code several-fold. Returns the result, time and peak."""
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    tracemalloc.reset_peak()
    call()
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
    _, t_blocks, _ = measure(lambda: certified.taylor(target))
    print(f"Taylor blocks of {target.name} (once per process): {1e3 * t_blocks:.1f} ms")
    header = (
        f"{'d':>6} {'uniform':>9} {'adaptive':>9} {'certify u':>10} {'certify a':>10} "
        f"{'value u':>12} {'upper u':>12} {'value a':>12} {'upper a':>12} {'peak MB':>8}"
    )
    print(header)
    for k in range(6, top + 1):
        d = 2**k
        net_u, t_u, m_u = measure(lambda d=d: relu_interpolant(target, d, "uniform"))
        net_a, t_a, m_a = measure(lambda d=d: relu_interpolant(target, d, "adaptive"))
        e_u, c_u, n_u = measure(lambda net=net_u: max_error_at(target, net))
        e_a, c_a, n_a = measure(lambda net=net_a: max_error_at(target, net))
        peak = max(m_u, m_a, n_u, n_a)
        flags = "" if e_u.tight and e_a.tight else "  (capped)"
        print(
            f"{d:>6} {1e3 * t_u:>9.2f} {1e3 * t_a:>9.2f} {1e3 * c_u:>10.2f} {1e3 * c_a:>10.2f} "
            f"{e_u.value:>12.6e} {e_u.upper:>12.6e} {e_a.value:>12.6e} {e_a.upper:>12.6e} "
            f"{peak:>8.1f}{flags}"
        )

    budget(target, rounds=3 if args.quick else 7, quick=args.quick)
    chebyshev_budget(target, rounds=3 if args.quick else 7, quick=args.quick)

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


def budget(target: targets.Target, rounds: int, quick: bool) -> None:
    """Certification at d = 2¹⁴ (2¹² with --quick), interleaved rounds, against construction."""
    d = 2**12 if quick else 2**14
    net = relu_interpolant(target, d)
    expr_domain = (0.0, 1.0)
    expr_net = relu_interpolant(targets.from_expr(EXPRESSION, expr_domain), d)
    steep = targets.from_expr("tanh(1e4*x)", (-1.0, 1.0))
    steep_net = relu_interpolant(steep, 2**14 if quick else 2**16, "adaptive")
    square = targets.from_expr("x**2", (0.0, 1.0))
    saw = sawtooth_square(10 if quick else 12)

    def fresh_expression() -> Any:
        t = targets.from_expr(EXPRESSION, expr_domain)  # parse, prove finite, blocks
        return max_error_at(t, expr_net)

    cases: dict[str, Callable[[], Any]] = {
        "construct (the baseline)": lambda: relu_interpolant(target, d),
        f"certify {target.name} (blocks cached)": lambda: max_error_at(target, net),
        "certify expression from scratch": fresh_expression,
        "certify tanh(1e4 x), adaptive": lambda: max_error_at(steep, steep_net),
        "certify sawtooth x²": lambda: max_error_at(square, saw),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    results: dict[str, Any] = {}
    for _ in range(rounds):
        for name, call in cases.items():
            start = time.perf_counter()
            results[name] = call()
            times[name].append(time.perf_counter() - start)
    base = float(np.median(times["construct (the baseline)"]))
    print(f"\ncertification budget at d = {d} ({rounds} interleaved rounds; ms min/median/max):")
    for name, ts in times.items():
        t = np.array(ts) * 1e3
        r = results[name]
        extra = (
            f"  value {r.value:.6e} upper {r.upper:.6e} {'tight' if r.tight else 'capped'}"
            if hasattr(r, "upper")
            else ""
        )
        print(
            f"  {name:38s} {t.min():8.1f} {np.median(t):8.1f} {t.max():8.1f}"
            f"  ×{np.median(ts) / base:6.2f}{extra}"
        )


def chebyshev_budget(target: targets.Target, rounds: int, quick: bool) -> None:
    """Certifying Chebyshev interpolants against building them, interleaved rounds."""
    widths = [64, 1024] if quick else [64, 1024, 4096]
    models = {d: chebyshev(target, d) for d in widths}
    times: dict[str, list[float]] = {}
    results: dict[str, Any] = {}
    for _ in range(rounds):
        for d in widths:
            for name, call in (
                (f"build d = {d}", lambda d=d: chebyshev(target, d)),
                (f"certify d = {d}", lambda d=d: max_error_at(target, models[d])),
            ):
                start = time.perf_counter()
                results[name] = call()
                times.setdefault(name, []).append(time.perf_counter() - start)
    print(f"\nChebyshev interpolants of {target.name} ({rounds} rounds; ms min/median/max):")
    for d in widths:
        build, certify = times[f"build d = {d}"], times[f"certify d = {d}"]
        r = results[f"certify d = {d}"]
        t = np.array(certify) * 1e3
        print(
            f"  certify d = {d:5d} {t.min():8.1f} {np.median(t):8.1f} {t.max():8.1f}"
            f"  ×{np.median(certify) / np.median(build):8.1f} building it"
            f"  value {r.value:.6e} upper {r.upper:.6e} {'tight' if r.tight else 'capped'}"
        )


if __name__ == "__main__":
    main()
