"""The diagnostics of one-hidden-layer ReLU nets: runs.csv's unit counts and alternation
count, the per-target figure, and the per-run library function."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from approx.analysis import diagnostics
from approx.experiment import load_model, parse_config, plot_folder, run_sweep
from approx.experiment.diagnostics_plots import plot_diagnostics
from approx.experiment.folder import is_artefact
from approx.experiment.store import StoreError

CONFIG = """
name = "diag"
seed = 3
widths = [4, 8, 16]

[[targets]]
name = "sin2pi"

[[targets]]
name = "sq"
expr = "x**2"
domain = [0, 1]

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "net"
kind = "trained"
optimizer = "adam"
steps = 40
n_train = 64

[[methods]]
name = "deep"
kind = "trained"
optimizer = "adam"
depth = 2
steps = 20
n_train = 32

[[methods]]
name = "cheb"
kind = "chebyshev"
"""
COLUMNS = ["info_units_zero", "info_units_outside", "info_units_merged", "info_alternations"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diag")
    run_sweep(parse_config(CONFIG), folder, jobs=1)
    return folder


def test_runs_csv_counts_the_wasted_units_of_shallow_relu_nets(folder):
    from approx.experiment import load_results

    table = load_results(folder).set_index("run_id")
    shallow = table["method"].isin(["uniform", "net"])
    assert (table.loc[shallow, "status"] == "ok").all()
    assert table.loc[shallow, COLUMNS].notna().all().all()
    assert table.loc[~shallow, COLUMNS].isna().all().all()  # deep nets, Chebyshev: none
    # the stored counts are the saved nets' (the construction: the offset unit, outside,
    # is a zero unit where f(a) = 0, i.e. for x² on [0, 1])
    for run_id in table.index[shallow]:
        row = table.loc[run_id]
        net = load_model(folder, run_id)
        domain = (0.0, 1.0) if row["target"] == "sq" else (-1.0, 1.0)
        counts = diagnostics.unit_counts(net, domain)
        assert [row[c] for c in COLUMNS[:3]] == [counts.zero, counts.outside, counts.merged]
        assert row["info_alternations"] >= 1
    assert table.loc["sq.uniform.d8.r0", COLUMNS[:3]].tolist() == [1, 1, 0]
    assert table.loc["sin2pi.uniform.d8.r0", COLUMNS[:3]].tolist() == [0, 2, 0]
    # the interpolant's error on x² is 0 at the knots and −h²/4 at every midpoint: the
    # same sign everywhere, one alternating extremum
    assert table.loc["sq.uniform.d8.r0", "info_alternations"] == 1


def test_the_diagnostics_figures_are_drawn_from_the_store(folder):
    paths, skipped = plot_folder(folder)
    assert skipped == []
    names = {p.name for p in paths}
    assert {"diagnostics_sin2pi.png", "diagnostics_sq.png"} <= names
    image = matplotlib.image.imread(folder / "plots" / "diagnostics_sq.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    config = parse_config(CONFIG)
    # the figures are the sweep's artefacts (so --fresh removes them, a user's file there
    # is refused), a figure for a target not in the config is not
    assert is_artefact("plots/diagnostics_sq.png", config)
    assert is_artefact("plots/diagnostics_sin2pi.png", config)
    assert not is_artefact("plots/diagnostics_runge.png", config)


def test_no_diagnostics_figure_without_a_trained_method(tmp_path):
    text = CONFIG.split('[[methods]]\nname = "net"')[0]  # the construction alone
    run_sweep(parse_config(text), tmp_path, jobs=1)
    paths, skipped = plot_folder(tmp_path)
    assert skipped == [] and paths
    assert not any(p.name.startswith("diagnostics_") for p in paths)
    assert not list((tmp_path / "plots").glob("diagnostics_*"))


def test_one_run_is_drawn_on_request(folder, tmp_path):
    path = plot_diagnostics(folder, "sin2pi.net.d16.r0", tmp_path / "one.png")
    assert path == tmp_path / "one.png"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and np.ptp(image[..., :3]) > 0
    with pytest.raises(StoreError, match="no 1 → d → 1 ReLU net"):
        plot_diagnostics(folder, "sin2pi.cheb.d8.r0", tmp_path / "two.png")
    with pytest.raises(StoreError, match="no run"):
        plot_diagnostics(folder, "sin2pi.nope.d8.r0", tmp_path / "three.png")
    assert not (tmp_path / "two.png").exists() and not (tmp_path / "three.png").exists()


def test_the_figure_draws_the_optimum_bracket_when_the_table_has_one(folder):
    from approx.experiment import load_results
    from approx.experiment.diagnostics_plots import diagnostics_figure

    config = parse_config(CONFIG)
    table = load_results(folder)

    def labels(fig):
        return {label for ax in fig.axes for label in ax.get_legend_handles_labels()[1]}

    plain = labels(diagnostics_figure(table, config, "sq", folder, {}))
    assert any(label.startswith("free-knot optimum's level") for label in plain)
    assert not any("bracket" in label for label in plain)
    bracketed = table.assign(optimum_lower=1e-3, optimum_upper=1.1e-3)
    fig = diagnostics_figure(bracketed, config, "sq", folder, {})
    assert any("certified bracket" in label for label in labels(fig))
    level = [line for ax in fig.axes for line in ax.get_lines()
             if str(line.get_label()).startswith("free-knot")]
    assert not level  # replaced by the bracket
    lines = [line for ax in diagnostics_figure(table, config, "sq", folder, {}).axes
             for line in ax.get_lines() if str(line.get_label()).startswith("free-knot")]
    # the free-knot level of x² is exact, h²/8 on d + 1 pieces, for the middle width d = 8
    # (f'' of an expression target is estimated numerically: 1e-5 relative)
    assert lines and all(abs(line.get_ydata()[0]) == pytest.approx(1 / (8 * 81), rel=1e-5)
                         for line in lines)
