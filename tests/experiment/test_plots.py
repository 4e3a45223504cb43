"""Figures: written as PNG, drawn from the store alone (re-plotting never refits)."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
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


GAP_CONFIG = """
name = "gap"
widths = [4, 8, 16]

[[targets]]
name = "runge"

[[methods]]
name = "adaptive"
kind = "relu-interpolant"
knots = "adaptive"

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "cheb"
kind = "chebyshev"
"""


def test_gap_is_each_error_over_the_uniform_construction(tmp_path):
    from approx.experiment.plots import gap_table

    config = parse_config(GAP_CONFIG)
    table = run_sweep(config, tmp_path, jobs=1)
    gap = gap_table(table, config)
    errors = table.pivot(index="width", columns="method", values="max_error")
    np.testing.assert_allclose(gap.loc["runge", "uniform"], 1.0, rtol=0)
    np.testing.assert_allclose(
        gap.loc["runge", "adaptive"], errors["adaptive"] / errors["uniform"], rtol=1e-14
    )
    np.testing.assert_allclose(
        gap.loc["runge", "cheb"], errors["cheb"] / errors["uniform"], rtol=1e-14
    )
    gap_png = tmp_path / "plots" / "gap.png"
    assert gap_png in plot_folder(tmp_path)
    assert gap_png.read_bytes()[:8] == PNG_SIGNATURE


def test_no_gap_without_the_uniform_construction(fake_methods, fake_config):
    from approx.experiment.plots import gap_table

    config = parse_config(fake_config)
    assert gap_table(pd.DataFrame(columns=["status"]), config) is None


def test_runs_carry_an_enclosure_and_older_folders_still_replot(folder):
    import sqlite3

    from approx.experiment import Store

    with Store.read(folder) as store:
        table = store.table(store.config())
    ok = table[table["status"] == "ok"]
    assert (ok["max_error"] <= ok["max_error_upper"]).all()
    assert ok["max_error_tight"].map(lambda v: v in (True, False)).all()
    # a store written before the enclosure columns existed
    db = sqlite3.connect(folder / "runs.sqlite")
    columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")
               if r[1] not in ("max_error_upper", "max_error_tight")]
    with db:
        db.execute(f"CREATE TABLE old AS SELECT {', '.join(columns)} FROM runs")
        db.execute("DROP TABLE runs")
        db.execute("ALTER TABLE old RENAME TO runs")
    db.close()
    assert len(plot_folder(folder)) == 5
    with Store.read(folder) as store:
        old = store.table(store.config())
    assert old["max_error_upper"].isna().all()
    assert old["max_error_tight"].isna().all()
    # reading for a re-plot leaves the user's store as it was
    db = sqlite3.connect(folder / "runs.sqlite")
    assert "max_error_upper" not in [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    db.close()
