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

With ``--solvers`` it compares the output weights' least squares instead, on the same
design (``--seeds``, by default 0) in the same process: scipy's truncated-SVD ``lstsq``
(cut-off 1e-13 for cos features, 1e-8 for ReLU features: the solver of both before the
ridge fit of ReLU features and the deflated fit of cos features) against
:func:`approx.models.construct.random_features`'s own solver. For each it prints the
fit's CPU seconds on one BLAS thread (one target at a time; the design's construction
excluded, the closed-form Gram included), the certified
max error (value, upper, tight), ``‖c‖`` and the certification's wall seconds:

    python benchmarks/bench_features.py --solvers --features relu fourier \\
        --targets sin2pi runge exp tanh10 abs15 --widths 2 8 32 128 512 2048 4096

``--cache DIR`` keeps the SVD's coefficients (and its CPU seconds) between runs. The
package's solver's CPU seconds include the construction of its design
(:func:`approx.models.least_squares.cos_design` for cos features), so they are those of the
whole :func:`~approx.models.construct.random_features` call but for drawing the weights;
the SVD's exclude it.

With ``--phases`` it prints, for each width, target and seed, the CPU seconds of one
``random_features`` call split by phase (one BLAS thread; the first call of the process
includes the first touch of the design's memory):

    python benchmarks/bench_features.py --phases --widths 2048 4096 --seeds 0 1 \\
        --targets sin2pi runge exp tanh10 abs15
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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
#: the truncated SVD's relative cut-off before the ridge fit of ReLU features
SVD_CUT = {"fourier": 1e-13, "relu": 1e-8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS))
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--solvers", action="store_true")
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--features", nargs="+", default=["fourier"])
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cache", default=None,
                        help="folder where the SVD's coefficients are kept between runs")
    args = parser.parse_args()
    if args.solvers:
        _solvers(args)
        return
    if args.phases:
        _phases(args)
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
    """The truncated SVD and the package's solver side by side (module docstring)."""
    print(f"{'features':>8} {'d':>5} {'seed':>4} {'target':>7} {'solver':>6} {'fit CPU':>8} "
          f"{'value':>10} {'upper':>10} {'tight':>5} {'certify':>8} {'|c|':>9}")
    chosen = [targets.get(name) for name in args.targets]
    for target in chosen:
        certified.taylor(target)  # built once per process, outside the timings
    for features, d, seed, target in itertools.product(args.features, args.widths,
                                                       args.seeds, chosen):
        activation = construct.FEATURES[features]
        # the design depends on the domain, the width and the seed only
        net = random_features(target, d, features, rng=np.random.default_rng(seed),
                              n_samples=args.samples)
        w, bias = net.weights[0][0], net.biases[0]
        x = np.linspace(*target.domain, args.samples)
        y = target(x)
        design = np.column_stack([ACTIVATIONS[activation](np.outer(x, w) + bias),
                                  np.ones(x.size)])
        rows = []
        for solver in ("svd", "new"):
            coef, fit = _fit(solver, design, y, x, w, bias, features,
                             _cached(args.cache, features, d, seed, target.name, args.samples))
            model = MLP.from_params([w[None, :], coef[:-1, None]], [bias, coef[-1:]],
                                    activation=activation)
            found, seconds = _timed(target, model)
            rows.append(f"{features:>8} {d:>5} {seed:>4} {target.name:>7} {solver:>6} "
                        f"{fit:8.2f} {_cells(found, seconds)} {np.linalg.norm(coef):9.3e}")
        print("\n".join(rows), flush=True)


def _cached(folder: str | None, *key: object) -> str | None:
    """The file of the SVD's coefficients for this design, if a cache folder is given."""
    if folder is None:
        return None
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, "svd-" + "-".join(map(str, key)) + ".npz")


def _fit(solver: str, design: np.ndarray, y: np.ndarray, x: np.ndarray, w: np.ndarray,
         bias: np.ndarray, features: str, cache: str | None) -> tuple[np.ndarray, float]:
    """One solver's coefficients and CPU seconds on one BLAS thread (the SVD's from the
    cache when it holds them: the SVD takes half a minute at d = 4096)."""
    if solver == "svd" and cache is not None and os.path.exists(cache):
        with np.load(cache) as saved:
            return saved["coef"], float(saved["fit"])
    with one_thread():
        t0 = time.process_time()
        if solver == "svd":
            coef = sl.lstsq(design, y, cond=SVD_CUT[features])[0]
        else:  # (the design again, as random_features builds it)
            coef = construct._output_weights(construct._design(x, w, bias, features), y, x, w,
                                             bias, features)
        fit = time.process_time() - t0
    if solver == "svd" and cache is not None:
        np.savez(cache, coef=coef, fit=fit)
    return coef, fit


#: the phases of the cos features' fit: (label, the least_squares function it is)
PHASES = (("design", "cos_design"), ("gram", "cos_gram"), ("rho", "_top_eigenvalue"),
          ("chol", "_factor_in_place"), ("size", "_subspace_size"), ("subspace", "_small_subspace"),
          ("alternate", "_alternate"))


def _phases(args: argparse.Namespace) -> None:
    """CPU seconds of one ``random_features`` call by phase (module docstring): the
    functions of :mod:`approx.models.least_squares` wrapped with timers; ``A Q`` and its
    QR and SVD are what the total leaves."""
    from approx.models import least_squares

    seconds: dict[str, float] = {}

    def timer(label: str, function):
        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return function(*a, **k)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.process_time() - t0
        return timed

    patches = [mock.patch.object(least_squares, name, timer(label, getattr(least_squares, name)))
               for label, name in PHASES]
    print(" ".join(f"{h:>9}" for h in ("d", "seed", "target", *(p[0] for p in PHASES),
                                       "AQ+qr+svd", "total")))
    for d, seed, name in itertools.product(args.widths, args.seeds, args.targets):
        seconds.clear()
        with one_thread(), contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            t0 = time.process_time()
            random_features(targets.get(name), d, rng=np.random.default_rng(seed),
                            n_samples=args.samples)
            total = time.process_time() - t0
        rest = total - sum(seconds.values())
        cells = [seconds.get(label, 0.0) for label, _ in PHASES] + [rest, total]
        print(f"{d:>9} {seed:>9} {name:>9} " + " ".join(f"{c:9.2f}" for c in cells), flush=True)


def _timed(target: targets.Target, net: object) -> tuple[analysis.MaxError, float]:
    t0 = time.perf_counter()
    found = max_error_at(target, net)
    return found, time.perf_counter() - t0


def _cells(found: analysis.MaxError, seconds: float) -> str:
    return f"{found.value:10.3e} {found.upper:10.3e} {found.tight!s:>5} {seconds:6.2f}s"


if __name__ == "__main__":
    main()
