"""Many small nets at once: a group of runs batched, against the same runs one at a time.

The regime of ``experiments/theory_vs_practice.toml``: R replicates of one recipe (SGD or
Adam, 2000 steps, 1024 training points, the default monitor and relocation) on one
target, at width d; and one group of mixed widths (4 … 256, the sweep's widths) with
its replicates. Each contender fits the same runs: one at a time by
:func:`approx.train.recipe.fit_recipe` (what a sweep did before), or together by
:func:`approx.train.batched.fit_recipes`. Both give the same numbers bit for bit (checked
here once per row). One BLAS thread, rounds interleaved (each round times both, in
alternating order); the table gives the seconds per net (median over rounds) and the
throughput ratio batched / one at a time (nets per second; per round, its median and
spread min–max).

    python benchmarks/bench_batch.py                       # d = 16, 64, 256; R = 3, 5, 10
    python benchmarks/bench_batch.py --quick               # 500 steps, fewer rounds
    python benchmarks/bench_batch.py --widths 16 --replicates 5 --optimizers adam --rounds 9
    python benchmarks/bench_batch.py --select loss         # without the validation checks
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from approx.nn.backend import fused_backend
from approx.problems import targets
from approx.train.batched import fit_recipes
from approx.train.options import resolve_fit
from approx.train.recipe import fit_recipe

MIXED = (4, 8, 16, 32, 64, 128, 256)


def _members(widths: list[int], replicates: int) -> list[tuple[int, int]]:
    return [(d, 1000 * d + r) for d in widths for r in range(replicates)]


def _one_at_a_time(target, members, recipe):
    return [fit_recipe(target, d, np.random.default_rng(seed), recipe) for d, seed in members]


def _batched(target, members, recipe):
    return fit_recipes(target, [(d, np.random.default_rng(seed)) for d, seed in members], recipe)


def _check(alone, together) -> None:
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a.net.pack(), b.net.pack())
        np.testing.assert_array_equal(a.history, b.history)


def row(target, widths: list[int], replicates: int, recipe, rounds: int) -> dict[str, object]:
    """Time one group both ways over interleaved rounds."""
    members = _members(widths, replicates)
    _check(_one_at_a_time(target, members, recipe), _batched(target, members, recipe))
    one, batch, ratios = [], [], []
    for k in range(rounds):
        times = {}
        order = (("one", _one_at_a_time), ("batch", _batched))
        for name, fit in order if k % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            fit(target, members, recipe)
            times[name] = time.perf_counter() - start
        one.append(times["one"] / len(members))
        batch.append(times["batch"] / len(members))
        ratios.append(times["one"] / times["batch"])
    return {"d": "4-256" if len(widths) > 1 else widths[0], "R": len(members),
            "optimizer": recipe.fit.optimizer, "one_ms": 1e3 * statistics.median(one),
            "batch_ms": 1e3 * statistics.median(batch), "ratio": statistics.median(ratios),
            "lo": min(ratios), "hi": max(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--replicates", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--optimizers", nargs="+", default=["adam", "sgd"])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target", default="sin2pi")
    parser.add_argument("--select", default="max_error", choices=["max_error", "loss"],
                        help="the iterate kept: by the validation max error (the default "
                        "recipe; its checks cost the same either way) or by the loss")
    parser.add_argument("--no-mixed", action="store_true",
                        help="leave out the group of mixed widths 4 … 256 × 5 replicates")
    parser.add_argument("--quick", action="store_true", help="500 steps, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds = 500, 3
    target = targets.get(args.target)
    print(f"engine fused-{fused_backend()}, {args.steps} steps, 1024 points, target "
          f"{args.target}, select {args.select}, {args.rounds} interleaved rounds, "
          f"pid {os.getpid()}")
    print(f"{'d':>6} {'R':>3} {'optimizer':>9} {'one ms/net':>11} {'batch ms/net':>13} "
          f"{'batched/one':>12} {'spread':>13}")
    groups = [([d], r) for d in args.widths for r in args.replicates]
    if not args.no_mixed:
        groups.append((list(MIXED), 5))
    with threadpool_limits(1):
        for optimizer in args.optimizers:
            lr = {"lr": 0.03} if optimizer == "adam" else {}
            recipe = resolve_fit({"optimizer": optimizer, "steps": args.steps,
                                  "select": args.select, **lr})
            for widths, replicates in groups:
                r = row(target, widths, replicates, recipe, args.rounds)
                print(f"{r['d']:>6} {r['R']:>3} {r['optimizer']:>9} {r['one_ms']:>11.1f} "
                      f"{r['batch_ms']:>13.1f} {r['ratio']:>11.2f}x "
                      f"{r['lo']:>6.2f}-{r['hi']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
