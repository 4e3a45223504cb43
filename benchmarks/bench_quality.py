"""Quality: certified max error of trained nets against the best width-d net found.

For each target and width d, with ε the certified max error
(:func:`approx.analysis.errors.max_error`) and ``ref`` the certified max error of the
best width-d net an independent, costlier search finds (:mod:`pwl_reference`: an
estimate of the optimum from above, not the optimum; ``free``, the d + 1 free cells'
grid optimum found, and the asymptotic constant show how far below it the true
optimum can be):

- ``he``: the median over seeds of ε / ref of ``kind = "trained"`` with every
  parameter at its default (Adam from random He weights that know nothing of the
  target, grown from a narrower trained net above d = 64, the knot-form
  Levenberg–Marquardt polish, then the minimax finish); goal ≤ 1.1;
- ``constr``: ε / ref of the same recipe started from the adaptive construction
  (``init = "construction"``, ``knots = "adaptive"``; with uniform training points that
  fit draws nothing at random, so it runs once per row); goal ≤ 1.03;
- with ``--ablation``, the same from He weights (median of the seeds) with a piece of
  the finish taken away or added: ``no finish`` (``finish_steps = 0``, the recipe
  before the finish), ``old finish`` (the Lᵖ continuation and Madsen's steps, no
  exchange: the finish before the exchange), ``old + exchange`` (the exchange after
  them), ``free only`` / ``level only`` (one knot form), ``trained start`` (the finish
  from the trained knots only, not from knots equidistributing the samples'
  curvature), ``both starts`` (from both);

and the wall time of the default fits (all seeds). One BLAS thread. The references are
cached in ``results/bench_quality_reference.json`` (delete it to recompute).

    python benchmarks/bench_quality.py                 # d = 8 … 1024, 3 seeds, built-in targets
    python benchmarks/bench_quality.py --quick         # d = 8 … 256
    python benchmarks/bench_quality.py --extra         # targets not tuned for (from_expr)
    python benchmarks/bench_quality.py --quick --ablation
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: threads only add overhead

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from pwl_reference import reference

from approx import methods
from approx.analysis.errors import max_error
from approx.problems import targets
from approx.train import minimax

TARGETS = ("sin2pi", "runge", "exp", "tanh10", "abs15")
#: targets the recipe was not tuned on (chosen before measuring them)
EXTRA = {
    "gausscos": ("exp(-x**2) * cos(3*x)", (-2.0, 2.0)),
    "log1p": ("log1p(x)", (0.0, 3.0)),
    "atan": ("arctan(5*x - 2)", (-1.0, 1.0)),
}
CACHE = Path("results/bench_quality_reference.json")


@contextmanager
def _patched(**constants):
    """Module constants of :mod:`approx.train.minimax` replaced for an ablation."""
    old = {k: getattr(minimax, k) for k in constants}
    for k, v in constants.items():
        setattr(minimax, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(minimax, k, v)


#: ablations: (label, fit options, minimax constants)
ABLATIONS = (
    ("no finish", {"finish_steps": 0}, {}),
    ("old finish", {}, {"CONTINUATION": True, "EXCHANGE": False}),
    ("old + exchange", {}, {"CONTINUATION": True}),
    ("free only", {}, {"FORMS": ("free",)}),
    ("level only", {}, {"FORMS": ("level",)}),
    ("trained start", {}, {"STARTS": ("best",)}),
    ("both starts", {}, {"STARTS": ("best", "samples")}),
)


def _target(name: str):
    if name in EXTRA:
        return targets.from_expr(*EXTRA[name], name=name)
    return targets.get(name)


def _reference(cache: dict, name: str, d: int):
    key = f"{name}/{d}"
    if key not in cache:
        cache[key] = reference(_target(name), d).__dict__
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(cache, indent=1))
    return cache[key]


def _he(target, d, seeds, options=None, constants=None):
    with _patched(**(constants or {})):
        fits = [methods.fit("trained", target, d, _rng(s, d), **(options or {})) for s in seeds]
    return [max_error(target, fit.model) for fit in fits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 8 … 256")
    parser.add_argument("--extra", action="store_true", help="targets not tuned for")
    parser.add_argument("--ablation", action="store_true", help="pieces of the finish removed")
    parser.add_argument("--widths", type=int, nargs="*", help="widths (default 8 … 1024)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", nargs="*")
    args = parser.parse_args()
    widths = args.widths or [2**k for k in range(3, 9 if args.quick else 11)]
    names = args.targets or (list(EXTRA) if args.extra else list(TARGETS))
    seeds = range(args.seeds)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    labels = [a[0] for a in ABLATIONS] if args.ablation else []
    print(f"certified max error / ref (best width-d net found), median of {len(seeds)} seeds")
    print(
        f"{'target':>8} {'d':>5} {'ref':>9} {'free/ref':>8} {'asym/ref':>8} {'he':>6} "
        f"{'(worst)':>7} {'constr':>6} {'time':>6}" + "".join(f" {x:>13}" for x in labels)
    )
    worst = {"he": 0.0, "constr": 0.0}
    start = time.perf_counter()
    for name in names:
        target = _target(name)
        for d in widths:
            ref = _reference(cache, name, d)
            up = ref["upper"]
            t0 = time.perf_counter()
            he = np.array(_he(target, d, seeds)) / up
            elapsed = time.perf_counter() - t0
            constr = methods.fit(
                "trained", target, d, _rng(0, d), init="construction", knots="adaptive"
            )
            ratio = max_error(target, constr.model) / up
            median = float(np.median(he))
            worst["he"] = max(worst["he"], median)
            worst["constr"] = max(worst["constr"], ratio)
            cols = "".join(
                f" {float(np.median(_he(target, d, seeds, o, c))) / up:13.3f}"
                for _, o, c in (ABLATIONS if args.ablation else ())
            )
            print(
                f"{name:>8} {d:>5} {up:9.3e} {ref['free'] / up:8.3f} "
                f"{ref['asymptotic'] / up:8.3f} {median:6.3f} {max(he):7.3f} {ratio:6.3f} "
                f"{elapsed:5.0f}s{cols}",
                flush=True,
            )
    print(
        f"largest median he/ref {worst['he']:.3f} (goal ≤ 1.1), largest constr/ref "
        f"{worst['constr']:.3f} (goal ≤ 1.03); total {time.perf_counter() - start:.0f} s"
    )


def _rng(seed: int, d: int) -> np.random.Generator:
    return np.random.default_rng([seed, d])


if __name__ == "__main__":
    main()
