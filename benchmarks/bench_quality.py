"""Quality: certified max error of trained nets against the certified optimum.

For each target and width d, with ε the certified max error
(:func:`approx.analysis.errors.max_error`), ``up`` the certified max error of the
``optimal-pwl`` net (a real width-d net: the bracket's upper end) and ``lo`` its proven
lower bound of any width-d net (so ε/lo ≥ 1 by proof); ratios are over ``up`` unless
marked ``/lo``:

- ``he``: the median over seeds of ε / ref of ``kind = "trained"`` with every
  parameter at its default (Adam from random He weights that know nothing of the
  target, grown from a narrower trained net above d = 64, the knot-form
  Levenberg–Marquardt polish, then the minimax finish); goal ≤ 1.1;
- ``constr``: ε / ref of the same recipe started from the adaptive construction
  (``init = "construction"``, ``knots = "adaptive"``; with uniform training points that
  fit draws nothing at random, so it runs once per row), whose finish is thorough up
  to d = 128 (:func:`approx.train.minimax.thorough`); goal ≤ 1.03;
- with ``--ablation``, the same from He weights (median of the seeds) with a piece of
  the finish taken away or added: ``no finish`` (``finish_steps = 0``, the recipe
  before the finish), ``old finish`` (the Lᵖ continuation and Madsen's steps, no
  exchange: the finish before the exchange), ``old + exchange`` (the exchange after
  them), ``free only`` / ``level only`` (one knot form), ``trained start`` (the finish
  from the trained knots only, not from knots equidistributing the samples'
  curvature), ``trained start too`` (from the trained knots as well), ``no link
  start`` (not from the fewest-link path through evenly spaced samples), ``no
  subset`` (the level path where the subset path runs, at every width), ``no
  subset > 32`` (no subset path above d = 32 where the level path falls behind the
  free one), ``no moves`` (the subset path without knot moves);

and the CPU time of a default fit (``cpu s``, median of the seeds) and of the fit from
the construction (``c cpu``). One BLAS thread. The brackets
are cached in ``results/bench_quality_bracket.json``, each with a digest of the code that
computed it (:data:`BRACKET_CODE`): a bracket of other code is computed again.

    python benchmarks/bench_quality.py                 # d = 8 … 1024, 3 seeds, built-in targets
    python benchmarks/bench_quality.py --quick         # d = 8 … 256
    python benchmarks/bench_quality.py --extra         # targets not tuned for (from_expr)
    python benchmarks/bench_quality.py --fresh         # a second set, chosen after tuning
    python benchmarks/bench_quality.py --fresh2        # a third, chosen after tuning on both
    python benchmarks/bench_quality.py --fresh3        # a fourth, chosen after tuning on all three
    python benchmarks/bench_quality.py --fresh4        # a fifth, chosen after tuning on all four
    python benchmarks/bench_quality.py --fresh5        # a sixth, chosen once --fresh4 was run
    python benchmarks/bench_quality.py --fresh6        # a seventh, chosen once --fresh5 was run
    python benchmarks/bench_quality.py --fresh7        # an eighth, chosen once --fresh6 was run
    python benchmarks/bench_quality.py --fresh8        # a ninth, chosen once --fresh7 was run
    python benchmarks/bench_quality.py --fresh9        # a tenth, chosen once --fresh8 was run
    python benchmarks/bench_quality.py --fresh10       # an eleventh, once graded points were built
    python benchmarks/bench_quality.py --fresh11       # a twelfth, once --fresh10 was run
    python benchmarks/bench_quality.py --fresh12       # a thirteenth, once --fresh11 was run
    python benchmarks/bench_quality.py --fresh13       # a fourteenth, once --fresh12 was run
    python benchmarks/bench_quality.py --quick --quickstart      # the quickstart's options
    python benchmarks/bench_quality.py --quick --ablation
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small products: threads only add overhead

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

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
    "softabs": ("sqrt(x**2 + 0.01)", (-1.0, 1.0)),
    "sinexp": ("sin(exp(2*x))", (-1.0, 1.0)),
}
#: a second set not tuned for (``--fresh``): chosen, and committed, before any of their
#: numbers was looked at, once the finish had been tuned on :data:`EXTRA`
FRESH = {
    "bump": ("exp(-20*(x - 0.3)**2)", (-1.0, 1.0)),
    "logsing": ("log(x + 1.05)", (-1.0, 1.0)),
    "poles": ("1/((x - 1.1)*(x + 1.3))", (-1.0, 1.0)),
    "twofreq": ("sin(3*x) + 0.3*sin(17*x)", (-1.0, 1.0)),
    "xsininv": ("x*sin(1/(x + 1.2))", (-1.0, 1.0)),
}
#: a third set not tuned for (``--fresh2``): chosen, and committed, before any of their
#: numbers was looked at, once the finish had been tuned on :data:`EXTRA` and
#: :data:`FRESH` (shapes neither has: one pole near one end, a smooth but sharp
#: |x|^1.5, a chirp, an off-centre logistic step, a growing oscillation)
FRESH2 = {
    "pole1": ("(x + 2)/(1.12 - x)", (-1.0, 1.0)),
    "abs15s": ("(x**2 + 0.0004)**0.75", (-1.0, 1.0)),
    "chirp": ("sin(8*x**2)", (-1.0, 1.0)),
    "logistic": ("1/(1 + exp(-30*(x - 0.4)))", (-1.0, 1.0)),
    "xexpcos": ("x*exp(x)*cos(4*x)", (-1.0, 1.5)),
}
#: a fourth set not tuned for (``--fresh3``): chosen, and committed, before any of their
#: numbers was looked at, once the finish had been tuned on :data:`EXTRA`, :data:`FRESH`
#: and :data:`FRESH2` (shapes none has: a narrow bump on a slope, periodic cusps
#: |sin 3x|^1.5, a damped oscillation, an odd cubic with one inflection at the centre,
#: two steps of unequal height and sharpness)
FRESH3 = {
    "bumpslope": ("exp(-40*x**2) + 0.5*x", (-1.0, 1.0)),
    "abssin": ("abs(sin(3*x))**1.5", (-1.0, 1.0)),
    "damped": ("exp(-2*x)*sin(10*x)", (-1.0, 1.0)),
    "cubic": ("x**3 - x", (-1.0, 1.0)),
    "twostep": ("tanh(25*(x + 0.4)) + 0.5*tanh(15*(x - 0.5))", (-1.0, 1.0)),
}
#: a fifth set not tuned for (``--fresh4``): chosen, and committed, before any of their
#: numbers was looked at, once the finish had been tuned on the four sets above (shapes
#: none has: a square root's singularity just outside one end, two bumps of unequal
#: width, a softplus (convex, two nearly straight arms), a growing even oscillation on
#: an asymmetric domain, the Chebyshev polynomial T7 with its steep ends)
FRESH4 = {
    "sqrtend": ("sqrt(x + 1.02)", (-1.0, 1.0)),
    "twobumps": ("exp(-50*(x + 0.5)**2) + 0.5*exp(-5*(x - 0.4)**2)", (-1.0, 1.0)),
    "softplus": ("log(1 + exp(12*x))/12", (-1.0, 1.0)),
    "xsin": ("x*sin(6*x)", (-1.5, 1.0)),
    "cheb7": ("64*x**7 - 112*x**5 + 56*x**3 - 7*x", (-1.0, 1.0)),
}
#: a sixth set not tuned for (``--fresh5``): chosen, and committed, before any of their
#: numbers was looked at, once :data:`FRESH4` had been run (shapes none has: a narrow
#: bump next to an end, periodic plateaus tanh(3 sin 4x), a square root of a periodic
#: function near zero, a shifted Runge bump on a parabola, exp(sin 5x) on [0, 2])
FRESH5 = {
    "bumpedge": ("exp(-80*(x - 0.9)**2)", (-1.0, 1.0)),
    "plateaus": ("tanh(3*sin(4*x))", (-1.0, 1.0)),
    "sqrtcos": ("sqrt(1.1 + cos(5*x))", (-1.0, 1.0)),
    "rungepar": ("1/(1 + 25*(x - 0.3)**2) + x**2", (-1.0, 1.0)),
    "expsin": ("exp(sin(5*x))", (0.0, 2.0)),
}
#: a seventh set not tuned for (``--fresh6``): chosen, and committed, before any of their
#: numbers was looked at, once the finish had been tuned on :data:`FRESH5` (shapes none
#: has: a polynomial bump flat to third order at both ends, an algebraic sigmoid with
#: slow tails, cosh 3x, a nearly flat half then a power |x|^2.5, arcsin near its end
#: points; ((x + |x|)/2)^2.5 itself is refused: its enclosure holds negatives at 0)
FRESH6 = {
    "polybump": ("(1 - x**2)**4", (-1.0, 1.0)),
    "algsig": ("x/sqrt(1 + 50*x**2)", (-1.0, 1.0)),
    "cosh3": ("cosh(3*x)", (-1.0, 1.0)),
    "halfpow": ("abs(x)**2.5*(1 + tanh(40*x))/2", (-1.0, 1.0)),
    "arcsin": ("arcsin(0.98*x)", (-1.0, 1.0)),
}
#: an eighth set not tuned for (``--fresh7``): chosen, and committed, before any of their
#: numbers was looked at, once :data:`FRESH6` had been run (shapes none has: x log x with
#: its curvature 1/x growing towards one end, a monotone line with twelve-per-unit
#: wiggles, a double well on a domain past its outer inflections, a square root of |x|
#: with a kink at 0, |x − 0.2|^3 whose curvature vanishes off-centre)
FRESH7 = {
    "xlogx": ("x*log(x)", (0.01, 1.0)),
    "wiggle": ("x + 0.2*sin(12*x)", (-1.0, 1.0)),
    "dwell": ("x**4 - x**2", (-1.2, 1.2)),
    "sqrtkink": ("sqrt(abs(x) + 0.01)", (-1.0, 1.0)),
    "cubeoff": ("abs(x - 0.2)**3", (-1.0, 1.0)),
}
#: a ninth set not tuned for (``--fresh8``): chosen, and committed, before any of their
#: numbers was looked at, once :data:`FRESH7` had been run (shapes none has: a kink
#: with exponential sides off-centre, |sin 4x| with three kinks, a sech bump with
#: exponential tails, tanh(5x)³ flat at the centre, an arc sqrt(1.5 − x²))
FRESH8 = {
    "kinkexp": ("exp(-3*abs(x - 0.1))", (-1.0, 1.0)),
    "abssin4": ("abs(sin(4*x))", (-1.0, 1.0)),
    "sech": ("1/cosh(8*x)", (-1.0, 1.0)),
    "tanhcube": ("tanh(5*x)**3", (-1.0, 1.0)),
    "arc": ("sqrt(1.5 - x**2)", (-1.0, 1.0)),
}
#: a tenth set not tuned for (``--fresh9``): chosen, and committed, before any of their
#: numbers was looked at, once :data:`FRESH8` had been run (shapes none has: x|x| with
#: its jump of f'' at 0, a kink off-centre with unequal curved sides |x + 0.3| e^x, a
#: well with flat shoulders, a staircase x − sin(2πx)/2π whose slope vanishes at −1, 0
#: and 1, and √(x + 1) cos 2x with an infinite slope at the left end)
FRESH9 = {
    "xabsx": ("x*abs(x)", (-1.0, 1.0)),
    "kinkcurve": ("abs(x + 0.3)*exp(x)", (-1.0, 1.0)),
    "well": ("x**2/(x**2 + 0.05)", (-1.0, 1.0)),
    "stairs": ("x - sin(6.283185307179586*x)/6.283185307179586", (-1.0, 1.0)),
    "sqrtend2": ("sqrt(x + 1)*cos(2*x)", (-1.0, 1.0)),
}
#: an eleventh set not tuned for (``--fresh10``): chosen, and committed, before any of
#: their numbers was looked at, once graded training points were built on
#: :data:`FRESH9`'s √(x + 1) cos 2x (shapes none has: a singular right end
#: √(1 − x) eˣ, infinite slopes at both ends arccos x, an inner cusp √|x − 0.4| with
#: an infinite slope on either side, a sigmoid on a parabola erf(6x) + 0.3x², and an
#: oscillation quickening towards the left end sin(3 log(x + 1.1)))
FRESH10 = {
    "sqrtright": ("sqrt(1 - x)*exp(x)", (-1.0, 1.0)),
    "arccos": ("arccos(x)", (-1.0, 1.0)),
    "cusp": ("sqrt(abs(x - 0.4))", (-1.0, 1.0)),
    "erfpar": ("erf(6*x) + 0.3*x**2", (-1.0, 1.0)),
    "sinlog": ("sin(3*log(x + 1.1))", (-1.0, 1.0)),
}
#: a twelfth set not tuned for (``--fresh11``): chosen, and committed, before any of
#: their numbers was looked at, while the finish's start at singular ends that also turn
#: was being rebuilt (shapes none has: a semicircle √(1 − x²) singular at both ends, a
#: power end (x + 1)^0.6 cos 3x, an oscillation sin(6√(x + 1)) quickening into a singular
#: end, a weak inner singularity |x − 0.25|^1.3 + 0.5 sin 5x, and a steep front
#: tanh(30(x − 0.2)))
FRESH11 = {
    "semicircle": ("sqrt(1 - x**2)", (-1.0, 1.0)),
    "powend": ("(x + 1)**0.6*cos(3*x)", (-1.0, 1.0)),
    "sinsqrt": ("sin(6*sqrt(x + 1))", (-1.0, 1.0)),
    "softkink": ("abs(x - 0.25)**1.3 + 0.5*sin(5*x)", (-1.0, 1.0)),
    "steep": ("tanh(30*(x - 0.2))", (-1.0, 1.0)),
}
#: a thirteenth set not tuned for (``--fresh12``): chosen, and committed, before any of
#: their numbers was looked at, once :data:`FRESH11` had been run and the finish fixed
#: on it (shapes none has: a chirp sin(20x²) quickening towards both ends, a kink
#: smoothed at the scale 0.01 √(x² + 10⁻⁴), two inner square-root cusps √|cos 4x|, a
#: flat top max(0, 1 − 4x²) with two kinks and zero curvature outside them, and a
#: logarithm whose singularity sits 0.01 outside the left end)
FRESH12 = {
    "chirp": ("sin(20*x**2)", (-1.0, 1.0)),
    "smoothabs": ("sqrt(x**2 + 1e-4)", (-1.0, 1.0)),
    "twocusps": ("sqrt(abs(cos(4*x)))", (-1.0, 1.0)),
    "flattop": ("(1 - 4*x**2 + abs(1 - 4*x**2))/2", (-1.0, 1.0)),
    "logend": ("log(x + 1.01)", (-1.0, 1.0)),
}
#: a fourteenth set not tuned for (``--fresh13``): chosen, and committed, before any of
#: their numbers was looked at, once :data:`FRESH12` had been run and the finish fixed
#: on it (shapes none has: |x² − 0.25| with kinks where the curvature changes sign, a
#: cusp |x|^0.75 weaker than a square root's, a fast oscillation sin(30x) e^{−x²}, a
#: front tanh(100x) + x steeper than any before, and the odd x √|x| whose f'' is
#: singular at the inflection)
FRESH13 = {
    "absquad": ("abs(x**2 - 0.25)", (-1.0, 1.0)),
    "cusp75": ("abs(x)**0.75", (-1.0, 1.0)),
    "fastosc": ("sin(30*x)*exp(-x**2)", (-1.0, 1.0)),
    "front": ("tanh(100*x) + x", (-1.0, 1.0)),
    "oddpow": ("x*sqrt(abs(x))", (-1.0, 1.0)),
}
CACHE = Path("results/bench_quality_bracket.json")
#: the quickstart's trained method (``--quickstart``)
QUICKSTART = {"steps": 2000, "lr": 0.03, "polish_steps": 50}


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
    ("trained start too", {}, {"STARTS": ("best", "samples", "links")}),
    ("no link start", {}, {"STARTS": ("samples",)}),
    ("no subset", {}, {"SUBSET_UP_TO": 0, "SUBSET_BEHIND_UP_TO": 0, "SUBSET_ABOVE": 2**62}),
    ("no subset > 32", {}, {"SUBSET_BEHIND_UP_TO": 0}),
    ("no moves", {}, {"MOVES_UP_TO": 0}),
)


def _target(name: str):
    sets = {**EXTRA, **FRESH, **FRESH2, **FRESH3, **FRESH4, **FRESH5, **FRESH6,
            **FRESH7, **FRESH8, **FRESH9, **FRESH10, **FRESH11, **FRESH12, **FRESH13}
    if name in sets:
        return targets.from_expr(*sets[name], name=name)
    return targets.get(name)


#: the packages whose code a bracket depends on (the optimum, its samples, the target's
#: expression and enclosures, the certified max error): a cached bracket computed by
#: other code is computed again
BRACKET_CODE = ("arith", "certify", "methods", "models", "problems")


@functools.cache
def _code_version() -> str:
    """A digest of the sources of :data:`BRACKET_CODE`."""
    root = Path(methods.__file__).parent.parent
    digest = hashlib.blake2b(digest_size=8)
    for package in BRACKET_CODE:
        for source in sorted((root / package).rglob("*.py")):
            digest.update(source.relative_to(root).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def _reference(cache: dict, name: str, d: int) -> dict:
    """The certified bracket ``{"lower", "upper"}`` of the width-d optimum (cached, with
    the digest of the code that computed it)."""
    key = f"{name}/{d}"
    if cache.get(key, {}).get("code") != _code_version():
        target = _target(name)
        best = methods.fit("optimal-pwl", target, d, np.random.default_rng(0))
        cache[key] = {"lower": best.info["lower"], "upper": max_error(target, best.model),
                      "code": _code_version()}
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(cache, indent=1))
    return cache[key]


def _he(target, d, seeds, options=None, constants=None, cpu=None):
    errors = []
    with _patched(**(constants or {})):
        for s in seeds:
            start = time.process_time()
            fit = methods.fit("trained", target, d, _rng(s, d), **(options or {}))
            if cpu is not None:
                cpu.append(time.process_time() - start)
            errors.append(max_error(target, fit.model))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 8 … 256")
    parser.add_argument(
        "--quickstart", action="store_true",
        help="the quickstart's options (steps 2000, lr 0.03, polish_steps 50) for every fit",
    )
    parser.add_argument("--extra", action="store_true", help="targets not tuned for (first set)")
    parser.add_argument("--fresh", action="store_true", help="targets not tuned for (second set)")
    parser.add_argument("--fresh2", action="store_true", help="targets not tuned for (third set)")
    parser.add_argument("--fresh3", action="store_true", help="targets not tuned for (fourth set)")
    parser.add_argument("--fresh4", action="store_true", help="targets not tuned for (fifth set)")
    parser.add_argument("--fresh5", action="store_true", help="targets not tuned for (sixth set)")
    parser.add_argument("--fresh6", action="store_true", help="targets not tuned for (seventh set)")
    parser.add_argument("--fresh7", action="store_true", help="targets not tuned for (eighth set)")
    parser.add_argument("--fresh8", action="store_true", help="targets not tuned for (ninth set)")
    parser.add_argument("--fresh9", action="store_true", help="targets not tuned for (tenth set)")
    parser.add_argument("--fresh10", action="store_true",
                        help="targets not tuned for (eleventh set)")
    parser.add_argument("--fresh11", action="store_true",
                        help="targets not tuned for (twelfth set)")
    parser.add_argument("--fresh12", action="store_true",
                        help="targets not tuned for (thirteenth set)")
    parser.add_argument("--fresh13", action="store_true",
                        help="targets not tuned for (fourteenth set)")
    parser.add_argument("--ablation", action="store_true", help="pieces of the finish removed")
    parser.add_argument("--widths", type=int, nargs="*", help="widths (default 8 … 1024)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", nargs="*")
    args = parser.parse_args()
    widths = args.widths or [2**k for k in range(3, 9 if args.quick else 11)]
    sets = {"fresh13": FRESH13, "fresh12": FRESH12, "fresh11": FRESH11, "fresh10": FRESH10,
            "fresh9": FRESH9, "fresh8": FRESH8, "fresh7": FRESH7, "fresh6": FRESH6,
            "fresh5": FRESH5, "fresh4": FRESH4, "fresh3": FRESH3, "fresh2": FRESH2,
            "fresh": FRESH, "extra": EXTRA}
    chosen = [sets[name] for name in sets if getattr(args, name)]
    names = args.targets or list(chosen[0] if chosen else TARGETS)
    seeds = range(args.seeds)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    labels = [a[0] for a in ABLATIONS] if args.ablation else []
    print(f"certified max error / the optimum's certified bracket, median of {len(seeds)} seeds")
    print(
        f"{'target':>8} {'d':>5} {'up':>9} {'lo/up':>6} {'he':>6} {'he/lo':>6} {'(worst)':>7} "
        f"{'constr':>6} {'/lo':>6} {'cpu s':>6} {'c cpu':>6}" + "".join(f" {x:>14}" for x in labels)
    )
    worst = {"he": 0.0, "constr": 0.0}
    base = QUICKSTART if args.quickstart else {}
    start = time.perf_counter()
    for name in names:
        target = _target(name)
        for d in widths:
            ref = _reference(cache, name, d)
            up, lo = ref["upper"], ref["lower"]
            cpu: list[float] = []
            he = np.array(_he(target, d, seeds, base, cpu=cpu)) / up
            begun = time.process_time()
            constr = methods.fit(
                "trained", target, d, _rng(0, d), init="construction", knots="adaptive", **base
            )
            constr_cpu = time.process_time() - begun
            ratio = max_error(target, constr.model) / up
            median = float(np.median(he))
            worst["he"] = max(worst["he"], median)
            worst["constr"] = max(worst["constr"], ratio)
            cols = "".join(
                f" {float(np.median(_he(target, d, seeds, {**base, **o}, c))) / up:14.3f}"
                for _, o, c in (ABLATIONS if args.ablation else ())
            )
            over_lo = up / lo if lo > 0 else float("inf")  # (a lower end of 0 proves nothing)
            print(
                f"{name:>8} {d:>5} {up:9.3e} {lo / up:6.3f} {median:6.3f} {median * over_lo:6.3f} "
                f"{max(he):7.3f} {ratio:6.3f} {ratio * over_lo:6.3f} {np.median(cpu):6.2f} "
                f"{constr_cpu:6.2f}{cols}",
                flush=True,
            )
    print(
        f"largest median he/up {worst['he']:.3f} (goal ≤ 1.1), largest constr/up "
        f"{worst['constr']:.3f} (goal ≤ 1.03); total {time.perf_counter() - start:.0f} s"
    )


def _rng(seed: int, d: int) -> np.random.Generator:
    return np.random.default_rng([seed, d])


if __name__ == "__main__":
    main()
