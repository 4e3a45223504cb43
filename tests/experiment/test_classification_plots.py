"""Classification figures: accuracy against d, decision regions; PNGs, no pyplot state."""

from __future__ import annotations

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from approx.experiment import classification_plots
from approx.methods import classifiers as classify
from approx.problems import datasets

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, parent):
    assert path.parent == parent and path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200


def test_accuracy_plot_with_a_widthless_method(tmp_path):
    rows = [
        {"dataset": ds, "method": "linear", "width": np.nan, "replicate": r, "accuracy": 0.5}
        for ds in ("xor", "rings")
        for r in range(2)
    ] + [
        {"dataset": ds, "method": "rff", "width": w, "replicate": r, "accuracy": 1 - 1 / w}
        for ds in ("xor", "rings")
        for w in (2, 8, 32)
        for r in range(2)
    ]
    path = classification_plots.plot_accuracy(
        pd.DataFrame(rows), tmp_path / "accuracy.png", chance={"xor": 0.5, "rings": 0.5}
    )
    _check_png(path, tmp_path)
    assert plt.get_fignums() == []


def test_regions_plot_of_fitted_models(tmp_path):
    s = datasets.draw("blobs", np.random.default_rng(0), n_samples=60, n_test=60)
    models = {
        "linear": classify.fit("linear", s, None, np.random.default_rng(1)).model,
        "rff": classify.fit("random-features", s, 16, np.random.default_rng(2)).model,
    }
    path = classification_plots.plot_regions(
        s, models, tmp_path / "regions_blobs.png", resolution=50
    )
    _check_png(path, tmp_path)
    assert plt.get_fignums() == []


def test_every_class_and_method_keeps_its_colour():
    assert classification_plots.class_colors(3) == classification_plots.class_colors(5)[:3]
    colours = classification_plots.default_colors(["a", "b", "c"])
    assert len(set(colours.values())) == 3
    assert classification_plots.default_colors(["a", "b"]) == {k: colours[k] for k in "ab"}


def _capture(monkeypatch):
    """Keep the figures plot_accuracy and plot_regions draw instead of writing them."""
    figures = []
    monkeypatch.setattr(classification_plots, "save_png",
                        lambda fig, path: figures.append(fig) or path)
    return figures


def _accuracy_rows(low: float) -> pd.DataFrame:
    return pd.DataFrame([
        {"dataset": "d", "method": m, "width": w, "replicate": r,
         "accuracy": low + (1 - low) * (w / 32) ** (0.5 if m == "a" else 1) - 0.01 * r}
        for m in ("a", "b") for w in (2, 8, 32) for r in range(3)])


@pytest.mark.parametrize(("low", "chance", "drawn"),
                         [(0.5, 0.5, True), (0.6, 0.5, True), (0.95, 0.125, False),
                          (0.95, 1 / 3, False), (0.3, 0.5, True)])
def test_chance_is_drawn_and_listed_iff_in_range(monkeypatch, tmp_path, low, chance, drawn):
    figures = _capture(monkeypatch)
    rows = _accuracy_rows(low)
    classification_plots.plot_accuracy(rows, tmp_path / "a.png", chance={"d": chance})
    (fig,) = figures
    (ax,) = fig.axes
    bottom, top = ax.get_ylim()
    lines = [line for line in ax.lines if line.get_label().startswith("chance")]
    assert bool(lines) == drawn
    assert any("chance" in t.get_text() for t in fig.legends[0].get_texts()) == drawn
    assert (bottom < chance < top) == drawn
    assert ax.get_title().startswith("d (chance 1/")  # stated whether drawn or not
    # no line along a border: the data lie inside with a margin
    assert bottom < rows["accuracy"].min() and rows["accuracy"].max() < top
    margin = 0.04 * (top - bottom)
    assert rows["accuracy"].max() <= top - margin and rows["accuracy"].min() >= bottom + margin
    assert list(ax.get_xticks()) == [2, 8, 32]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7])
def test_panels_fill_their_rows_without_empty_cells(n):
    fig, axes = classification_plots._figure(n, 3.0)
    assert len(fig.axes) == n == len(axes) and all(ax.get_visible() for ax in fig.axes)
    fig.draw_without_rendering()
    rows: dict[float, list[float]] = {}
    for ax in axes:
        box = ax.get_position()
        rows.setdefault(round(box.y0, 3), []).append((box.x0 + box.x1) / 2)
    sizes = [len(r) for r in rows.values()]
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= 3
    middles = [np.mean(centres) for centres in rows.values()]  # the rows centred alike
    assert max(middles) - min(middles) < 0.02


def test_a_two_class_boundary_is_a_contour_on_the_exact_line(monkeypatch, tmp_path):
    s = datasets.draw("blobs", np.random.default_rng(0), n_samples=40, n_test=40, classes=2)

    def model(X):  # class 1 where x₂ > 0.3 x₁ + 0.1, exactly
        t = X[:, 1] - 0.3 * X[:, 0] - 0.1
        return np.column_stack([-t, t])

    figures = _capture(monkeypatch)
    classification_plots.plot_regions(s, {"line": model}, tmp_path / "r.png", resolution=37)
    (ax,) = figures[0].axes
    (boundary,) = [c for c in ax.collections if hasattr(c, "levels") and list(c.levels) == [0]]
    vertices = np.concatenate([p.vertices for p in boundary.get_paths()])
    assert len(vertices) >= 2
    # linear interpolation of a linear margin: the contour lies on the line, not on a
    # staircase of grid cells
    np.testing.assert_allclose(vertices[:, 1], 0.3 * vertices[:, 0] + 0.1, atol=1e-9)


def test_region_panels_state_width_replicate_and_the_median(monkeypatch, tmp_path):
    s = datasets.draw("blobs", np.random.default_rng(0), n_samples=60, n_test=60)
    model = classify.fit("linear", s, None, np.random.default_rng(1)).model
    panels = {
        "a": classification_plots.RegionPanel(s, 64, 2, 0.95, 0.95, 5),
        "b": classification_plots.RegionPanel(s, None, 1, 0.9, 0.925, 4),
    }
    figures = _capture(monkeypatch)
    classification_plots.plot_regions(s, {"a": model, "b": model}, tmp_path / "r.png",
                                      panels=panels)
    titles = [ax.get_title() for ax in figures[0].axes]
    assert titles == ["a, d = 64\nreplicate 2: 95.0% held out, the median of 5",
                      "b, no width\nreplicate 1: 90.0% held out; median of 4: 92.5%"]


MEDIAN = """
name = "median"
task = "classification"
seed = 4
replicates = 3
widths = [4, 16]

[[datasets]]
name = "xor"
n_samples = 60
n_test = 100

[[methods]]
name = "linear"
kind = "linear"

[[methods]]
name = "fourier"
kind = "random-features"
"""


def test_the_regions_show_each_methods_median_replicate_at_its_largest_width(
    monkeypatch, tmp_path
):
    from approx.experiment import parse_config, plot_folder, plots, run_sweep
    from approx.experiment.expansion import sample_seed

    config = parse_config(MEDIAN)
    table = run_sweep(config, tmp_path, jobs=1)
    drawn = []
    monkeypatch.setattr(plots, "plot_regions",
                        lambda sample, models, path, **kw: drawn.append(kw["panels"]) or path)
    plot_folder(tmp_path)
    (panels,) = drawn
    assert set(panels) == {"linear", "fourier"}
    assert {p.replicate for p in panels.values()} != {0}  # (here: not replicate 0 alone)
    assert panels["linear"].width is None and panels["fourier"].width == 16
    for method, panel in panels.items():
        runs = table[(table["method"] == method)
                     & (table["width"].isna() | (table["width"] == 16))]
        assert panel.replicates == len(runs) == 3
        assert panel.median == runs["accuracy"].median() == panel.accuracy
        shown = runs[runs["replicate"] == panel.replicate]
        assert shown["accuracy"].item() == panel.accuracy
        want = config.targets[0].draw(sample_seed(config.seed, "xor", panel.replicate))
        np.testing.assert_array_equal(panel.sample.X_train, want.X_train)
