"""Figures: written as PNG, drawn from the store alone (re-plotting never refits)."""

from __future__ import annotations

import matplotlib.image
import pytest

from approx import methods
from approx.experiment import parse_config, plot_folder, run_sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def folder(fake_methods, fake_config, tmp_path):
    run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    return tmp_path


def test_replot_draws_every_figure_from_the_store(folder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("re-plotting must not refit")

    monkeypatch.setattr(methods, "fit", refuse)
    paths = plot_folder(folder)
    names = sorted(p.name for p in paths)
    assert names == [
        "convergence.png",
        "fits_bump.png",
        "fits_sin2pi.png",
        "training_bump.png",
        "training_sin2pi.png",
    ]
    for path in paths:
        assert path.parent == folder / "plots"
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300


def test_fits_use_the_saved_models(folder):
    # without the model files there is nothing to draw: the figure cannot come from a refit
    for path in (folder / "models").glob("bump.*"):
        path.unlink()
    with pytest.raises(FileNotFoundError):
        plot_folder(folder)


def test_method_colours_are_fixed_by_config_order(fake_methods, fake_config):
    from approx.experiment.plots import method_colors

    config = parse_config(fake_config)
    assert method_colors(config) == {"relu-a": "#1f77b4", "relu-b": "#ff7f0e"}
