"""Backprop's memory trade-off (lecture 3.3): peak memory against time per gradient.

For deep tanh MLPs (L affine layers of width n, a batch of m samples, softmax loss) and
each checkpoint interval k of :meth:`approx.nn.MLP.loss_and_grad`
(``checkpoint_every=k``): k = 1 (full caching: the engine keeps every ``Z_i`` and
``U_i``), 2, 4 and ⌈√L⌉ (the checkpointed path: keep every k-th ``Z_i``, recompute each
segment in the backward pass).

- peak memory: ``tracemalloc``'s peak during one call on a fresh net with the engine's
  per-shape buffer cache emptied first, so the buffers full caching keeps between calls
  are counted, minus what was allocated before the call (weights, data); numpy reports
  its arrays to tracemalloc;
- time per step: the median over interleaved rounds (each round times every k once for
  about ``--seconds``), with the ratio to k = 1 per round, its median and spread.

Prints a table and writes ``memory_time.png`` (memory against time, a line per depth
through k = 1, 2, 4, √L) and ``memory_time.csv`` into ``--out`` (default
``results/bench_memory/``, which git ignores; ``python tools/gallery.py bench_memory``
updates the README's copy in ``gallery/bench_memory/``).

    python benchmarks/bench_memory.py                # L = 8, 16, 32, 64
    python benchmarks/bench_memory.py --quick        # fewer, shorter rounds
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from approx.experiment.figstyle import style as figure_style
from approx.nn import MLP, engine
from approx.nn.checkpoint import cached_arrays

OUT = Path("results") / "bench_memory"


def intervals(n_layers: int) -> list[int]:
    """k = 1, 2, 4 and ⌈√L⌉, without repeats, ascending."""
    return sorted({1, 2, 4, math.ceil(math.sqrt(n_layers))})


def make(n_layers: int, width: int, m: int, seed: int = 0) -> tuple[MLP, np.ndarray, np.ndarray]:
    """A tanh net [2, n, …, n, 3] with ``n_layers`` affine layers, and a labelled batch."""
    rng = np.random.default_rng(seed)
    net = MLP([2] + [width] * (n_layers - 1) + [3], activation="tanh", rng=rng)
    return net, rng.standard_normal((m, 2)), rng.integers(0, 3, m)


def peak_bytes(n_layers: int, width: int, m: int, k: int) -> int:
    """Peak bytes allocated by one gradient on a fresh net (engine buffers included)."""
    net, X, y = make(n_layers, width, m)
    # the engine keeps its buffers per batch shape between calls: start without them,
    # so full caching is charged for the Z_i and U_i it holds
    engine._local.__dict__.pop("engines", None)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        net.loss_and_grad(X, y, "softmax", checkpoint_every=k)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def timed(step: Callable[[], object], seconds: float) -> float:
    """Seconds per call, from as many calls as fit in about ``seconds``."""
    step()
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.05 s")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 3, 0.05
    print(
        f"# {platform.processor() or platform.machine()}, one BLAS thread; width "
        f"{args.width}, batch {args.batch}, softmax loss, {args.rounds} interleaved rounds"
    )
    rows = []
    for n_layers in args.depths:
        ks = intervals(n_layers)
        net, X, y = make(n_layers, args.width, args.batch)
        times: dict[int, list[float]] = {k: [] for k in ks}
        for _ in range(args.rounds):
            for k in ks:
                times[k].append(
                    timed(
                        lambda k=k, net=net, X=X, y=y: net.loss_and_grad(
                            X, y, "softmax", checkpoint_every=k
                        ),
                        args.seconds,
                    )
                )
        array = args.batch * args.width * 8
        for k in ks:
            ratios = [t / t1 for t, t1 in zip(times[k], times[1], strict=True)]
            rows.append(
                {
                    "depth": n_layers,
                    "k": k,
                    "peak_MiB": peak_bytes(n_layers, args.width, args.batch, k) / 2**20,
                    "predicted_arrays": 2 * n_layers if k == 1 else cached_arrays(n_layers, k),
                    "array_MiB": array / 2**20,
                    "ms_per_step": 1e3 * statistics.median(times[k]),
                    "time_ratio": statistics.median(ratios),
                    "ratio_min": min(ratios),
                    "ratio_max": max(ratios),
                }
            )
    table = pd.DataFrame(rows)
    full = table.groupby("depth")["peak_MiB"].transform("first")
    table["memory_ratio"] = table["peak_MiB"] / full
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(table.to_string(index=False))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "memory_time.csv", index=False, float_format="%.4g")
    with figure_style():  # the project's one style for every figure
        plot(table, args.out / "memory_time.png")
    print(f"wrote {args.out / 'memory_time.csv'} and {args.out / 'memory_time.png'}")


def plot(table: pd.DataFrame, path: Path) -> None:
    """Peak memory against time per step, a line per depth through its k."""
    fig = Figure(figsize=(5.6, 4.0), layout="constrained", dpi=100)
    ax = fig.subplots()
    for depth, rows in table.groupby("depth"):
        (line,) = ax.plot(rows["ms_per_step"], rows["peak_MiB"], "o-", label=f"L = {depth}")
        for r in rows.itertuples():
            ax.annotate(
                f"k={r.k}",
                (r.ms_per_step, r.peak_MiB),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
                color=line.get_color(),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time per gradient (ms, median)")
    ax.set_ylabel("peak memory of one gradient (MiB, tracemalloc)")
    ax.set_title("checkpointed backprop: keep every k-th layer", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(path)


if __name__ == "__main__":
    main()
