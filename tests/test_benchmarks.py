"""The benchmarks' figures: drawn from a table alone (the benchmark itself is not run)."""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_memory():
    spec = importlib.util.spec_from_file_location(
        "bench_memory", ROOT / "benchmarks" / "bench_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(bench_memory) -> pd.DataFrame:
    from approx.nn.checkpoint import cached_arrays

    rows = []
    for depth in (8, 16, 32, 64):
        for k in bench_memory.intervals(depth):
            arrays = 2 * depth if k == 1 else cached_arrays(depth, k)
            grad = depth / 8
            rows.append({"depth": depth, "k": k, "peak_MiB": 0.5 * arrays + grad + 0.3,
                         "predicted_arrays": arrays, "array_MiB": 0.5, "grad_MiB": grad,
                         "ms_per_step": 2.0 * depth * (1 + (k > 1) / 3),
                         "time_ratio": 1 + (k > 1) / 3, "ratio_min": 1 - 0.1 * (k > 1),
                         "ratio_max": 1 + 0.5 * (k > 1)})
    return pd.DataFrame(rows)


def _figure(bench_memory, monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **kw: figures.append(self))
    bench_memory.plot(_table(bench_memory), tmp_path / "memory_time.png")
    (fig,) = figures
    fig.draw_without_rendering()
    return fig


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_memory_time_draws_the_predictions_above_the_measured_peaks(
    bench_memory, monkeypatch, tmp_path
):
    fig = _figure(bench_memory, monkeypatch, tmp_path)
    memory, timing = fig.axes
    table = _table(bench_memory)
    lines = {line.get_label(): line for line in memory.lines}
    (sqrt,) = [v for k, v in lines.items() if "O(√L)" in k and k.startswith("predicted")]
    (full,) = [v for k, v in lines.items() if "O(L))" in k and k.startswith("predicted")]
    for line, rule in ((sqrt, lambda L: math.ceil(math.sqrt(L))), (full, lambda L: 1)):
        rows = table[table["k"] == table["depth"].map(rule)].sort_values("depth")
        np.testing.assert_array_equal(line.get_xdata(), rows["depth"])
        np.testing.assert_allclose(
            line.get_ydata(), rows["predicted_arrays"] * 0.5 + rows["grad_MiB"])
        assert line.zorder > max(v.zorder for k, v in lines.items() if k.startswith("k ="))
    assert {"k = 1 (full caching)", "k = 2", "k = 4", "k = ⌈√L⌉"} <= set(lines)
    assert not memory.texts and not timing.texts  # no k= annotations
    assert fig.dpi == 110


def test_memory_time_tick_labels_and_legend_do_not_collide(
    bench_memory, monkeypatch, tmp_path
):
    fig = _figure(bench_memory, monkeypatch, tmp_path)
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [8, 16, 32, 64]
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
            boxes = [t.label1.get_window_extent() for t in ticks
                     if low <= t.get_loc() <= high and t.label1.get_visible()
                     and t.label1.get_text()]
            assert len(boxes) >= 3
            assert not any(_overlap(a, b) for a, b in itertools.combinations(boxes, 2))
    box = fig.bbox
    for artist in (fig.legends[0], fig._suptitle):
        extent = artist.get_window_extent()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1
