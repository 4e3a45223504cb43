"""Classification figures: accuracy against d, decision regions; PNGs, no pyplot state."""

from __future__ import annotations

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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
