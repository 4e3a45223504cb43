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
    paths, skipped = plot_folder(folder)
    assert skipped == []
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
    (folder / "plots" / "fits_bump.png").unlink(missing_ok=True)
    gone = sorted(p.name for p in (folder / "models").glob("bump.*"))
    for name in gone:
        (folder / "models" / name).unlink()
    paths, skipped = plot_folder(folder)
    assert not (folder / "plots" / "fits_bump.png").exists()
    assert folder / "plots" / "fits_sin2pi.png" in paths
    assert len(skipped) == 1 and f"{len(gone)} model file(s) are missing" in skipped[0]


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
    assert gap_png in plot_folder(tmp_path)[0]
    assert gap_png.read_bytes()[:8] == PNG_SIGNATURE


def test_no_gap_without_the_uniform_construction(fake_methods, fake_config):
    from approx.experiment.plots import gap_table

    config = parse_config(fake_config)
    assert gap_table(pd.DataFrame(columns=["status"]), config) is None


def test_runs_carry_an_enclosure_and_older_folders_still_replot(folder, undo_provenance):
    import sqlite3

    from approx.experiment import Store
    from approx.experiment.store import SCHEMA_VERSION

    with Store.read(folder) as store:
        table = store.table(store.config())
    ok = table[table["status"] == "ok"]
    assert (ok["max_error"] <= ok["max_error_upper"]).all()
    assert ok["max_error_tight"].map(lambda v: v in (True, False)).all()
    # a store written before the enclosure columns existed (schema version 2)
    with sqlite3.connect(folder / "runs.sqlite") as db:
        undo_provenance(db)
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")
        db.execute("ALTER TABLE runs DROP COLUMN max_error_upper")
        db.execute("ALTER TABLE runs DROP COLUMN max_error_tight")
        db.execute("ALTER TABLE runs DROP COLUMN accuracy")
        db.execute("ALTER TABLE runs DROP COLUMN test_loss")
        db.execute("ALTER TABLE runs DROP COLUMN target_scale")
        for column in ("sha256", "size", "inode", "mtime_ns"):  # files' identities: 6
            db.execute(f"ALTER TABLE files DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 2")
    db.close()
    paths, skipped = plot_folder(folder)
    assert len(paths) == 5 and skipped == []
    with Store.read(folder) as store:
        old = store.table(store.config())
        # migrated on open: the columns exist, and what was never measured stays unknown
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert old["max_error_upper"].isna().all()
    assert old["max_error_tight"].isna().all()


def test_convergence_draws_rounding_limited_runs_distinctly(folder, monkeypatch):
    from approx.experiment import Store, plots

    with Store.read(folder) as store:
        config = store.config()
        table = store.table(config)
    widths = sorted(table["width"].unique())
    table["max_error_tight"] = True
    table["tight_reason"] = ""
    rounding, capped = table["width"] == widths[1], table["width"] == widths[2]
    table.loc[rounding | capped, "max_error_tight"] = False
    table.loc[rounding, "tight_reason"] = "rounding"
    table.loc[capped, "tight_reason"] = "work cap"
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    plots.plot_convergence(table, config, folder / "unused.png")
    (fig,) = figures
    ax = fig.axes[0]
    markers = [line for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata())]
    half = [line for line in markers if line.get_fillstyle() == "bottom"]
    hollow = [line for line in markers
              if line.get_fillstyle() == "full" and line.get_markerfacecolor() == "white"]
    filled = [line for line in markers if line not in half and line not in hollow]
    assert half and all(list(line.get_xdata()) == [widths[1]] for line in half)
    assert hollow and all(list(line.get_xdata()) == [widths[2]] for line in hollow)
    assert filled and all(list(line.get_xdata()) == [widths[0]] for line in filled)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("rounding" in label for label in labels)


def test_degenerate_runs_are_drawn_as_grey_crosses_and_the_legend_says_so(
    folder, monkeypatch
):
    from approx.experiment import Store, plots

    with Store.read(folder) as store:
        config = store.config()
        table = store.table(config)
    table["degenerate"] = False
    smallest = table["width"] == table["width"].min()
    table.loc[smallest, "degenerate"] = True
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    plots.plot_convergence(table, config, folder / "unused.png")
    (fig,) = figures
    for ax, spec in zip(fig.axes, config.targets, strict=False):
        crosses = [line for line in ax.lines if line.get_marker() == "x"]
        want = table[smallest & (table["target"] == spec.name) & (table["status"] == "ok")]
        assert len(crosses) == 1 and len(crosses[0].get_xdata()) == len(want)
        assert set(crosses[0].get_xdata()) == {table["width"].min()}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("degenerate" in label for label in labels)
