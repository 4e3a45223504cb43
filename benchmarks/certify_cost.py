"""Cost of the certified max error per model kind: seconds, tight, upper/value.

For a built-in target and each model kind at ``d = 1024, 4096, 16384``: build the model
(not timed), then time :func:`approx.analysis.errors.max_error_at` on it, wall and CPU
seconds (on a shared machine the CPU time is the one to compare; the target's
own Taylor models are built once beforehand, so they are not timed either). Kinds: the
uniform ReLU interpolant (piecewise linear), the cubic spline, the Chebyshev
interpolant, and random cos features fitted on 2048 and on 8192 samples (the latter as
in ``experiments/universal_approximation.toml``). With ``--nets``, a second table: nets of
three hidden layers of width 64, 128, 256 (He-like random weights, seed 0) for relu and
every smooth activation of the registry. With ``--relu``, ReLU nets of depth 3, 4, 5, 6
and width 64, 128, 256: random (He-like, seed 0) and, with ``--trained STEPS``, trained
by :func:`approx.train.fit_target` (Adam, ``STEPS`` steps, seed 0; the training is not
timed). One BLAS thread.

    python benchmarks/certify_cost.py                       # sin2pi, every kind and d
    python benchmarks/certify_cost.py --target runge --widths 1024 4096
    python benchmarks/certify_cost.py --kinds chebyshev cos8192
    python benchmarks/certify_cost.py --kinds --nets        # only the deep nets
    python benchmarks/certify_cost.py --kinds --relu --trained 1500   # deep ReLU nets
    python benchmarks/certify_cost.py --kinds cos2048 cos8192 --models /tmp/models

``--models DIR`` keeps each built model there (as ``.npz``) and loads it on the next run:
the least-squares fit of 16384 features on 8192 samples takes some 25 CPU minutes.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from approx.analysis.errors import max_error_at
from approx.certify import targets as certified
from approx.models.baselines import chebyshev, cubic_spline
from approx.models.construct import random_features, relu_interpolant
from approx.nn import MLP
from approx.nn.activations import REGISTRY
from approx.problems import targets
from approx.train import fit_target

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
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--nets", action="store_true", help="depth-3 nets of width ≤ 256")
    parser.add_argument("--models", type=pathlib.Path, help="keep built models here")
    parser.add_argument("--relu", action="store_true", help="ReLU nets of depth 3–6")
    parser.add_argument("--trained", type=int, default=0, help="also trained, this many steps")
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 4, 5, 6])
    args = parser.parse_args()
    f = targets.get(args.target)
    certified.taylor(f)  # built once per process: not the model's cost
    print(f"target {args.target} on {f.domain}")
    print(
        f"{'kind':>10} {'d':>6} {'wall s':>8} {'cpu s':>8} {'tight':>6} "
        f"{'upper/value':>12} {'value':>12}"
    )
    rows = [(kind, d, KINDS[kind]) for kind in args.kinds for d in args.widths]
    if args.nets:
        rows += [(f"{a}x3", d, _deep_net(a)) for a in REGISTRY for d in (64, 128, 256)]
    if args.relu:
        for depth in args.depths:
            rows += [(f"relux{depth}", d, _deep_net("relu", depth)) for d in (64, 128, 256)]
            if args.trained:
                rows += [
                    (f"fit{args.trained}x{depth}", d, _trained(depth, args.trained))
                    for d in (64, 128, 256)
                ]
    for kind, d, build in rows:
        model = _built(build, f, d, args.models and args.models / f"{args.target}_{kind}_{d}.npz")
        start, cpu = time.perf_counter(), time.process_time()
        r = max_error_at(f, model)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        ratio = r.upper / r.value if r.value > 0 else float("inf")
        print(
            f"{kind:>10} {d:>6} {took:8.2f} {cpu:8.2f} {r.tight!s:>6} {ratio:12.9f} "
            f"{r.value:12.4e}",
            flush=True,
        )


def _built(build, f, d, path: pathlib.Path | None):
    """``build(f, d)``, or the net kept at ``path`` (nets only: the cos features)."""
    if path is not None and path.exists():
        with np.load(path) as z:
            n = len(z.files) // 2
            weights = [z[f"w{i}"] for i in range(n)]
            biases = [z[f"b{i}"] for i in range(n)]
            return MLP.from_params(weights, biases, activation=str(z["activation"]))
    model = build(f, d)
    if path is not None and isinstance(model, MLP):
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, w in enumerate(model.weights)}
        arrays |= {f"b{i}": b for i, b in enumerate(model.biases)}
        np.savez(path, activation=model.activation, **arrays)
    return model


def _deep_net(activation: str, depth: int = 3):
    """A builder of a net of ``depth`` hidden layers of width d with random weights."""

    def build(f, d):
        rng = np.random.default_rng(0)
        sizes = [1, *[d] * depth, 1]
        weights = [rng.normal(0, 1.5 / np.sqrt(m), (m, n)) for m, n in itertools.pairwise(sizes)]
        weights[0] *= 3
        biases = [rng.normal(0, 0.5, n) for n in sizes[1:]]
        return MLP.from_params(weights, biases, activation=activation)

    return build


def _trained(depth: int, steps: int):
    """A builder of a ReLU net of ``depth`` hidden layers of width d fitted by Adam."""

    def build(f, d):
        return fit_target(
            f, d, np.random.default_rng(0), depth=depth, optimizer="adam", steps=steps
        ).net

    return build


if __name__ == "__main__":
    main()
