"""The dense Levenberg–Marquardt optimizer ``lm``: the normal-equations LM against MINPACK's.

``lm`` used to call scipy's ``least_squares(method="lm")`` (MINPACK's ``lmder``: a
Householder QR of the n × P Jacobian per iteration, Givens rotations per damping tried);
it now runs :func:`approx.train.lm_dense.levenberg_marquardt` (``JᵀJ`` by one BLAS
``syrk``, a Cholesky factorisation per damping, Nielsen's rule). The MINPACK runner is
kept here, verbatim, as the "before". For each target, init, width and seed the two fit
the same problem (``methods.fit("trained", optimizer="lm", ...)`` with the budgets of
``experiments/theory_vs_practice.toml``: 30 evaluations from He weights and the knots,
200 from the construction), interleaved in one process, one BLAS thread; the table shows
per (init, d) the median over targets × seeds of the fit time of each and of the
per-run ratios new / old of the fit's wall and CPU time (the process's, which a loaded
machine distorts less), the certified max error
(:func:`approx.analysis.errors.max_error`) and the final training loss, with each
ratio's spread (min–max).

    python benchmarks/bench_lm.py                       # d = 16, 64, 256, 2 seeds
    python benchmarks/bench_lm.py --widths 64 128 256 --seeds 3
    python benchmarks/bench_lm.py --quick               # d = 16, 64, one seed
    python benchmarks/bench_lm.py --csv /tmp/lm.csv     # every run's row too
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from threadpoolctl import threadpool_limits

from approx import methods
from approx.analysis.errors import max_error
from approx.core import deadline
from approx.problems import targets
from approx.train import training
from approx.train.lm_rules import lp_residuals
from approx.train.loop import Converged, Diverged

TARGETS = ("sin2pi", "runge", "exp", "tanh10", "abs15")
#: init → LM evaluations, as in experiments/theory_vs_practice.toml
BUDGETS = {"he": 30, "knots": 30, "construction": 200}


class _MinpackResiduals:
    """The residuals of the MINPACK runner and their Jacobian, for ``least_squares``."""

    def __init__(self, engine, X, y, tracker, tol):
        self.engine, self.X, self.y, self.tracker, self.tol = engine, X, y, tracker, tol
        self.m, self.p = X.shape[0], engine.p
        self.history: list[float] = []
        self.evals = 0
        self._cache: dict[str, Any] = {}

    def _evaluate(self, th):
        cache = self._cache
        if "theta" in cache and np.array_equal(cache["theta"], th):
            return cache["r"], cache["J"]
        np.copyto(self.engine.theta, th)
        deadline.check()
        r, J = self.engine.residual_jacobian(self.X, self.y)
        cache.update(theta=th.copy(), r=r.copy(), J=J.copy())
        return r, J

    def fun(self, th):
        r, _ = self._evaluate(th)
        rho, _ = lp_residuals(r, self.p, self.m)
        value = 0.5 * float(rho @ rho)
        self.evals += 1
        if not math.isfinite(value):
            raise Diverged
        self.tracker.offer(value, self.evals)
        if value <= self.tol:
            self.history.append(value)
            raise Converged
        return rho

    def jac(self, th):
        r, J = self._evaluate(th)
        rho, scale = lp_residuals(r, self.p, self.m)
        self.history.append(0.5 * float(rho @ rho))
        return scale[:, None] * J


def minpack_lm(engine, X, y, tracker, options, rng=None):
    """The ``lm`` runner before: scipy's ``least_squares`` (MINPACK's ``lm``; ``trf``
    with fewer residuals than parameters), ``options.steps`` evaluations at most."""
    from scipy.optimize import least_squares

    theta, tol = engine.theta, options.tol
    problem = _MinpackResiduals(engine, X, y, tracker, tol)
    method = "lm" if X.shape[0] * engine.net.sizes[-1] >= theta.size else "trf"
    try:
        res = least_squares(problem.fun, theta.copy(), jac=problem.jac, method=method,
                            max_nfev=options.steps, x_scale="jac", ftol=1e-15, xtol=1e-15,
                            gtol=1e-15)
    except Diverged:
        return np.array(problem.history), "diverged", "LM met a non-finite loss", problem.evals
    except Converged:
        return np.array(problem.history), "converged", f"loss ≤ tol {tol:g}", problem.evals
    np.copyto(theta, res.x)
    history = problem.history
    if not history or res.cost < history[-1]:
        history.append(float(res.cost))
    status = "completed" if res.status == 0 else "converged"
    return np.array(history), status, f"least_squares ({method}): {res.message}", int(res.nfev)


RUNNERS = {"minpack": minpack_lm, "new": training.OPTIMIZERS["lm"]}


def one_fit(runner: str, name: str, init: str, d: int, seed: int) -> dict[str, Any]:
    """Fit ``name`` at width ``d`` with the given runner as ``lm``: time, ε, loss, steps."""
    target = targets.get(name)
    saved = training.OPTIMIZERS["lm"]
    training.OPTIMIZERS["lm"] = RUNNERS[runner]
    try:
        start, cpu = time.perf_counter(), time.process_time()
        fit = methods.fit("trained", target, d, np.random.default_rng([seed, d]),
                          optimizer="lm", init=init, steps=BUDGETS[init])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        training.OPTIMIZERS["lm"] = saved
    return {"runner": runner, "target": name, "init": init, "d": d, "seed": seed,
            "seconds": seconds, "cpu": cpu, "max_error": max_error(target, fit.model),
            "loss": fit.info["loss"], "steps": fit.info["steps"], "stop": fit.info["stop"]}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.3f} ({min(values):.3f}–{max(values):.3f})"


def report(rows: list[dict[str, Any]]) -> None:
    """Per (init, d): median times and the median (spread) of the per-run ratios."""
    pairs: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        key = (row["init"], row["d"], row["target"], row["seed"])
        pairs.setdefault(key, {})[row["runner"]] = row
    print(f"{'init':>12} {'d':>4} {'runs':>4} {'old s':>7} {'new s':>7} "
          f"{'time new/old':>22} {'CPU new/old':>22} {'max error new/old':>22} "
          f"{'loss new/old':>22}")
    for init in BUDGETS:
        for d in sorted({k[1] for k in pairs}):
            both = [v for k, v in pairs.items() if k[:2] == (init, d) and len(v) == 2]
            if not both:
                continue
            old = [b["minpack"] for b in both]
            new = [b["new"] for b in both]
            ratio = {q: [n[q] / o[q] if o[q] > 0 else math.inf
                         for n, o in zip(new, old, strict=True)]
                     for q in ("seconds", "cpu", "max_error", "loss")}
            print(f"{init:>12} {d:>4} {len(both):>4} "
                  f"{statistics.median(o['seconds'] for o in old):7.2f} "
                  f"{statistics.median(n['seconds'] for n in new):7.2f} "
                  f"{_spread(ratio['seconds']):>22} {_spread(ratio['cpu']):>22} "
                  f"{_spread(ratio['max_error']):>22} "
                  f"{_spread(ratio['loss']):>22}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="*", default=[16, 64, 256])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--inits", nargs="*", default=list(BUDGETS))
    parser.add_argument("--quick", action="store_true", help="d = 16, 64, one seed")
    parser.add_argument("--csv", help="write every run's row to this file")
    args = parser.parse_args()
    widths, seeds = ([16, 64], 1) if args.quick else (args.widths, args.seeds)
    rows: list[dict[str, Any]] = []
    out = open(args.csv, "w", newline="") if args.csv else None
    with threadpool_limits(1, "blas"):
        for d in widths:
            for init in args.inits:
                for name in args.targets:
                    for seed in range(seeds):
                        # interleaved, the order alternating between cases
                        order = ("minpack", "new") if seed % 2 == 0 else ("new", "minpack")
                        for runner in order:
                            rows.append(one_fit(runner, name, init, d, seed))
                            if out:  # row by row: a stopped run keeps what it measured
                                if len(rows) == 1:
                                    out.write(",".join(rows[0]) + "\n")
                                out.write(",".join(str(v) for v in rows[-1].values()) + "\n")
                                out.flush()
                        print(f"{name:>7} {init:>12} d={d:<4} seed={seed}: " + "   ".join(
                            f"{r['runner']} {r['seconds']:6.2f} s (CPU {r['cpu']:6.2f}) ε "
                            f"{r['max_error']:.4e} loss {r['loss']:.4e} {r['steps']:>3} ev"
                            for r in sorted(rows[-2:], key=lambda r: r["runner"])), flush=True)
            report(rows)
    if out:
        out.close()


if __name__ == "__main__":
    main()
