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

Prints a table and writes ``memory_time.png`` (against the depth L, a line per rule
k = 1, 2, 4, ⌈√L⌉: the peak memory with its predictions, cached arrays plus the
gradient, O(L) for k = 1 and O(√L) arrays for k = ⌈√L⌉; the time relative to full
caching's) and ``memory_time.csv`` (``grad_MiB``: the gradient's own size) into ``--out`` (default
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
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

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
                    "grad_MiB": net.n_params * 8 / 2**20,
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


#: the series of the figure: each depth's k, by rule (k = ⌈√L⌉ may equal 2 or 4)
SERIES = (
    ("k = 1 (full caching)", lambda L: 1),
    ("k = 2", lambda L: 2),
    ("k = 4", lambda L: 4),
    ("k = ⌈√L⌉", lambda L: math.ceil(math.sqrt(L))),
)


def plot(table: pd.DataFrame, path: Path) -> Path:
    """Two panels against the depth L, a line per rule for k: the peak memory of one
    gradient with its predictions (full caching O(L), k = ⌈√L⌉ O(√L) activations, both
    plus the gradient itself), and the time per gradient relative to full caching's."""
    fig = Figure(figsize=(10.0, 4.6), layout="constrained", dpi=110)  # as the sweeps' figures
    memory, time_ax = fig.subplots(1, 2)
    depths = sorted(table["depth"].unique())
    colours = [f"C{i}" for i in range(len(SERIES))]
    for i, ((label, rule), colour) in enumerate(zip(SERIES, colours, strict=True)):
        rows = _series(table, rule)
        memory.plot(rows["depth"], rows["peak_MiB"], "o-", color=colour, label=label, zorder=3)
        if i == 0:  # full caching is the time axis' unit
            continue
        dodge = 2.0 ** (0.05 * (i - 2))  # the bars of a depth side by side
        time_ax.errorbar(rows["depth"] * dodge, rows["time_ratio"],
                         yerr=[rows["time_ratio"] - rows["ratio_min"],
                               rows["ratio_max"] - rows["time_ratio"]],
                         fmt="o-", color=colour, capsize=3, lw=1.2, zorder=3)
    # the predictions, above the data: the arrays cached (cached_arrays) plus the gradient
    for rule, style, what in ((SERIES[0][1], "--", "k = 1: 2L arrays (O(L))"),
                              (SERIES[3][1], "-.", "k = ⌈√L⌉: ⌈L/k⌉ + 2k − 1 arrays (O(√L))")):
        rows = _series(table, rule)
        predicted = rows["predicted_arrays"] * rows["array_MiB"] + rows["grad_MiB"]
        memory.plot(rows["depth"], predicted, style, color="black", lw=1.3, zorder=4,
                    label=f"predicted, {what} + the gradient")
    grad = table.groupby("depth")["grad_MiB"].first()
    memory.plot(grad.index, grad, ":", color="0.35", lw=1.5,
                label="the gradient alone (O(L), in every k's peak)")
    time_ax.axhline(1.0, color=colours[0], lw=1.4, zorder=1)
    for ax in (memory, time_ax):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(depths))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("depth L (affine layers)")
        ax.grid(True, which="major", alpha=0.3)
    memory.set_yscale("log")
    memory.yaxis.set_major_locator(FixedLocator([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]))
    memory.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    memory.yaxis.set_minor_locator(NullLocator())
    low = min(table["peak_MiB"].min(), grad.min())
    memory.set_ylim(low / 1.3, table["peak_MiB"].max() * 1.3)
    memory.set(ylabel="peak memory of one gradient (MiB)",
               title="memory saved: peak of one gradient (tracemalloc)")
    time_ax.set_ylim(0, max(2.0, table["ratio_max"].max() * 1.08))
    time_ax.set(ylabel="time per gradient / full caching's (k = 1)",
                title="time paid: median of the rounds, bars min–max")
    handles, labels = memory.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    array = table["array_MiB"].iloc[0]
    fig.suptitle("checkpointed backprop, keeping every k-th layer's input: how much memory "
                 "it saves, what time it costs\n"
                 f"(tanh MLP; one activation array is {array:g} MiB)", fontweight="bold")
    fig.savefig(path)
    return path


def _series(table: pd.DataFrame, rule: Callable[[int], int]) -> pd.DataFrame:
    """The rows whose k is ``rule(L)`` at their depth L, by depth."""
    keep = table["k"] == table["depth"].map(lambda L: min(rule(int(L)), int(L)))
    return table[keep].sort_values("depth")


if __name__ == "__main__":
    main()
