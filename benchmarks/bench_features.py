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

With ``--solvers`` it times the output weights' least squares instead: scipy's SVD
``lstsq`` (the solver before :func:`approx.models.least_squares.split_lstsq`) and the
split, on the same design in the same process, in interleaved rounds (median and
spread of the CPU times on one BLAS thread, robust to other load; both include
building the design), and each one's certified ε (value, upper, tight) and
certification time:

    python benchmarks/bench_features.py --solvers --features fourier relu \\
        --widths 1024 2048 4096 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time
from unittest import mock

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import scipy.linalg as sl

from approx import analysis
from approx.analysis.errors import max_error_at
from approx.certify import adapters
from approx.certify import targets as certified
from approx.core.threads import one_thread
from approx.models import construct
from approx.models.construct import random_features
from approx.nn import ACTIVATIONS, MLP
from approx.problems import targets

TARGETS = ("sin2pi", "runge", "abs15")
SOLVERS = ("svd", "split")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--solvers", action="store_true")
    parser.add_argument("--features", nargs="+", default=["fourier"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8192)
    args = parser.parse_args()
    if args.solvers:
        _solvers(args)
        return
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


def _solvers(args: argparse.Namespace) -> None:
    """Old and new least squares side by side (see the module docstring)."""
    print(
        f"{'features':>8} {'target':>8} {'d':>5} {'solver':>6} {'fit CPU (s)':>16} "
        f"{'value':>10} {'upper':>10} {'tight':>5} {'certify':>8}"
    )
    for features in args.features:
        for name in args.targets:
            target = targets.get(name)
            certified.taylor(target)
            for d in args.widths:
                net = random_features(
                    target, d, features, rng=np.random.default_rng(0), n_samples=args.samples
                )
                w, bias = net.weights[0][0], net.biases[0]
                x = np.linspace(*target.domain, args.samples)
                y = target(x)
                times: dict[str, list[float]] = {s: [] for s in SOLVERS}
                coef: dict[str, np.ndarray] = {}
                for _ in range(args.rounds):  # interleaved: load drifts hit both alike
                    for solver in SOLVERS:
                        t0 = time.process_time()  # one thread: CPU time, robust to load
                        coef[solver] = _fit(solver, y, x, w, bias, features)
                        times[solver].append(time.process_time() - t0)
                for solver in SOLVERS:
                    fitted = MLP.from_params(
                        [w[None, :], coef[solver][:-1, None]],
                        [bias, coef[solver][-1:]],
                        activation=net.activation,
                    )
                    found, seconds = _timed(target, fitted)
                    t = times[solver]
                    spread = f"{np.median(t):7.2f} [{min(t):.2f}-{max(t):.2f}]"
                    print(
                        f"{features:>8} {name:>8} {d:>5} {solver:>6} {spread:>16} "
                        f"{_cells(found, seconds)}",
                        flush=True,
                    )


def _fit(
    solver: str, y: np.ndarray, x: np.ndarray, w: np.ndarray, bias: np.ndarray, features: str
) -> np.ndarray:
    """Output weights (and bias, last) by one solver, on one BLAS thread."""
    if solver == "split":
        with one_thread():
            return construct._output_weights(y, x, w, bias, features)
    activation = construct.FEATURES[features]
    design = np.column_stack([ACTIVATIONS[activation](np.outer(x, w) + bias), np.ones(x.size)])
    with one_thread():
        return sl.lstsq(design, y, cond=construct._RCOND[features])[0]


def _timed(target: targets.Target, net: object) -> tuple[analysis.MaxError, float]:
    t0 = time.perf_counter()
    found = max_error_at(target, net)
    return found, time.perf_counter() - t0


def _cells(found: analysis.MaxError, seconds: float) -> str:
    return f"{found.value:10.3e} {found.upper:10.3e} {found.tight!s:>5} {seconds:6.2f}s"


if __name__ == "__main__":
    main()
