"""params.png of a budget sweep: ticks at the budgets, the theory lines at their closed
forms, a linear-n panel for an exponential rate, nothing drawn against the width."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from approx import analysis, methods
from approx.experiment import parse_config, plots

SAWTOOTH = """
name = "budgets"
replicates = 2
budgets = [13, 53, 93]

[[targets]]
name = "square"
expr = "x**2"
domain = [0, 1]

[[methods]]
name = "sawtooth"
kind = "sawtooth"

[[methods]]
name = "shallow"
kind = "relu-interpolant"
"""

DEPTH = """
name = "depth"
replicates = 2
budgets = [97, 193, 385]

[[targets]]
name = "sin2pi"

[[targets]]
name = "tanh10"

[[methods]]
name = "construction"
kind = "relu-interpolant"

[[methods]]
name = "deep"
kind = "trained"
depth = 2
"""


def _table(config, failed: int = 0) -> pd.DataFrame:
    """Runs at each method's budget widths, ε a made-up power of n_params (no fit)."""
    rows = []
    for spec in config.targets:
        for method in config.methods:
            size = methods.get(method.kind).size
            for width in config.widths_of(method):
                n = size(width, method.kwargs)
                for r in range(config.replicates):
                    rows.append({"target": spec.name, "method": method.name, "width": width,
                                 "replicate": r, "n_params": n, "max_error": (1 + r) / n**2,
                                 "status": "ok", "optimum_lower": np.nan,
                                 "optimum_upper": np.nan})
    for row in rows[:failed]:
        row.update(status="failed", max_error=np.nan)
    return pd.DataFrame(rows)


def _draw(table, config, monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    plots.plot_params(table, config, tmp_path / "params.png")
    (fig,) = figures
    return fig


def _theory(ax):
    return {line.get_label(): line for line in ax.lines
            if line.get_label().startswith("theory")}


def test_a_sawtooth_sweep_draws_log_and_linear_n_with_ticks_at_the_budgets(
    monkeypatch, tmp_path
):
    config = parse_config(SAWTOOTH)
    fig = _draw(_table(config), config, monkeypatch, tmp_path)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "linear"]
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [13, 53, 93]
        assert len(ax.get_xticks(minor=True)) == 0
        labels = [ax.xaxis.get_major_formatter()(v, i) for i, v in enumerate([13, 53, 93])]
        assert labels[-1] == "93" and set(labels) <= {"", "13", "53", "93"}


def test_the_theory_lines_are_their_closed_forms_above_the_data(monkeypatch, tmp_path):
    config = parse_config(SAWTOOTH)
    fig = _draw(_table(config), config, monkeypatch, tmp_path)
    for ax in fig.axes:
        theory = _theory(ax)
        (saw,) = [line for label, line in theory.items() if "sawtooth" in label]
        (shallow,) = [line for label, line in theory.items() if "one hidden layer" in label]
        assert "2^{-2m-2}" in saw.get_label() and "h^2/8" in shallow.get_label()
        m = np.arange(1, 6)  # 20m − 7 ≤ 93
        np.testing.assert_array_equal(saw.get_xdata(), 20 * m - 7)
        np.testing.assert_array_equal(saw.get_ydata(), 2.0 ** (-2 * m - 2))
        d = (np.asarray(shallow.get_xdata()) - 1) / 3
        assert d.min() == 4 and d.max() == 30  # from the smallest model (13) to the budget
        np.testing.assert_allclose(shallow.get_ydata(), 1 / (4 * (d - 1) ** 2), rtol=1e-8)
        data = [line for line in ax.lines if line.get_label() in {"sawtooth", "shallow"}]
        assert len(data) == 2
        assert min(saw.zorder, shallow.zorder) > max(line.zorder for line in data)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum(label.startswith("theory") for label in labels) == 2
    assert "band: min–max over 2 replicates" in labels


MIXED = SAWTOOTH.replace('name = "sawtooth"\nkind = "sawtooth"\n\n[[methods]]\n', "").replace(
    'domain = [0, 1]\n', 'domain = [0, 1]\n\n[[targets]]\nname = "sin2pi"\n')


def test_targets_of_different_curvature_share_one_theory_entry_in_the_legend(
    monkeypatch, tmp_path
):
    config = parse_config(MIXED)
    assert [t.name for t in config.targets] == ["square", "sin2pi"]
    assert [m.name for m in config.methods] == ["shallow"]
    fig = _draw(_table(config), config, monkeypatch, tmp_path)
    assert [len(_theory(ax)) for ax in fig.axes] == [1] * len(fig.axes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum(label.startswith("theory, one hidden layer") for label in labels) == 1


def test_without_an_exponential_method_a_log_panel_per_target_and_the_uniform_bound(
    monkeypatch, tmp_path
):
    config = parse_config(DEPTH)
    fig = _draw(_table(config), config, monkeypatch, tmp_path)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    # max|f''| in closed form: 4π² for sin(2πx); 200 max|tanh u sech² u| = 400/(3√3)
    # for tanh(10x) (at tanh u = 1/√3); both on [-1, 1], so h = 2/(d - 1)
    curvature = {"sin2pi": 4 * np.pi**2, "tanh10": 400 / (3 * np.sqrt(3))}
    for ax, spec in zip(fig.axes, config.targets, strict=True):
        assert list(ax.get_xticks()) == [97, 193, 385]
        (line,) = _theory(ax).values()
        assert "h^2/8" in line.get_label()
        d = (np.asarray(line.get_xdata()) - 1) / 3
        assert np.all(d == np.round(d)) and d.min() <= 32 and d.max() == 128
        want = (2 / (d - 1)) ** 2 / 8 * curvature[spec.name]
        np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-8)
        # uniform_bound, the construction's rigorous bound, is the line plus rounding
        for k in (32, 64, 128):
            drawn = np.interp(3 * k + 1, line.get_xdata(), line.get_ydata())
            assert drawn <= analysis.uniform_bound(spec.build(), k) <= drawn * (1 + 1e-6)


def test_the_legend_and_titles_fit_in_the_figure(monkeypatch, tmp_path):
    for text in (SAWTOOTH, DEPTH):
        config = parse_config(text)
        fig = _draw(_table(config), config, monkeypatch, tmp_path)
        fig.draw_without_rendering()
        box = fig.bbox
        for artist in (fig.legends[0], fig._suptitle, *[ax.title for ax in fig.axes]):
            extent = artist.get_window_extent()
            assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, artist
            assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, artist


def test_failed_runs_are_counted_on_their_panel(monkeypatch, tmp_path):
    config = parse_config(DEPTH)
    fig = _draw(_table(config, failed=3), config, monkeypatch, tmp_path)
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert notes == ["3 failed run(s) not shown"] and not fig.axes[1].texts


def test_a_budget_sweep_draws_nothing_against_the_width(tmp_path):
    config = parse_config(SAWTOOTH)
    drawers, _ = plots.approximation_figures(_table(config), {}, config, tmp_path)
    names = {name for name, _ in drawers}
    assert names == {"params.png"}  # no convergence, gap, fits_ or training_
    plain = parse_config(SAWTOOTH.replace("budgets = [13, 53, 93]", "widths = [4, 8]")
                         .replace('kind = "sawtooth"', 'kind = "chebyshev"'))
    names = {name for name, _ in plots.approximation_figures(
        _table(plain), {}, plain, tmp_path)[0]}
    assert {"convergence.png", "gap.png", "fits_square.png", "training_square.png"} <= names
    assert "params.png" not in names


@given(st.lists(st.integers(2, 5000), min_size=1, max_size=30, unique=True),
       st.sampled_from(["log", "linear"]), st.floats(1.0, 8.0))
def test_kept_budget_labels_never_overlap_and_the_largest_is_kept(ticks, scale, inches):
    ticks = sorted(float(t) for t in ticks)
    limits = (ticks[0] / 1.15, ticks[-1] * 1.15)
    labels = plots._thinned_labels(ticks, limits, scale, inches)
    assert labels[-1] == f"{ticks[-1]:g}"
    assert all(label in ("", f"{t:g}") for label, t in zip(labels, ticks, strict=True))
    where = np.log if scale == "log" else np.asarray
    at = (where(np.array(ticks)) - where(limits[0])) / (
        where(limits[1]) - where(limits[0])) * inches
    kept = [(x, label) for x, label in zip(at, labels, strict=True) if label]
    for (x0, l0), (x1, _) in itertools.pairwise(kept):
        assert x1 - x0 >= 0.07 * len(l0), (l0, x0, x1)


@pytest.mark.slow
def test_params_png_of_a_run_sweep_is_a_png(tmp_path):
    from approx.experiment import plot_folder, run_sweep

    run_sweep(parse_config(SAWTOOTH), tmp_path, jobs=1)
    paths, skipped = plot_folder(tmp_path)
    assert [p.name for p in paths] == ["params.png"]  # nothing with a panel per width
    assert skipped == [] and paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_budget_tick_labels_do_not_collide_on_the_drawn_figure(monkeypatch, tmp_path):
    # the sawtooth config's ten budgets, crowded at the top of a log axis
    budgets = "[25, 33, 53, 73, 93, 113, 133, 153, 193, 233]"
    config = parse_config(SAWTOOTH.replace("[13, 53, 93]", budgets))
    fig = _draw(_table(config), config, monkeypatch, tmp_path)
    fig.draw_without_rendering()
    for ax in fig.axes:
        shown = [t for t in ax.xaxis.get_major_ticks() if t.label1.get_text()]
        assert len(shown) >= 5 and shown[-1].label1.get_text() == "233"
        boxes = [t.label1.get_window_extent() for t in shown]
        for a, b in itertools.pairwise(boxes):
            assert a.x1 < b.x0, (a, b)


def _with_optimum(text: str, drop: bool = False):
    """A config with an ``optimal-pwl`` method, and its made-up table carrying the
    comparison with it (the optimum runs once a budget, its ε the bracket's upper end
    and 0.8 of it the lower) unless ``drop``."""
    from approx.experiment.equal_params import with_shallow_optimum

    config = parse_config(text + '\n[[methods]]\nname = "best"\nkind = "optimal-pwl"\n')
    table = _table(config)
    table["kind"] = table["method"].map({m.name: m.kind for m in config.methods})
    best = table["kind"] == "optimal-pwl"
    table = table[~best | (table["replicate"] == 0)].reset_index(drop=True)
    best = table["kind"] == "optimal-pwl"
    table["max_error_upper"] = table["max_error"]
    table["info_lower"] = np.where(best, 0.8 * table["max_error"], np.nan)
    return config, (table if drop else with_shallow_optimum(table, config))


def test_the_optimum_is_drawn_as_its_bracket_and_a_gap_panel_is_added(
    monkeypatch, tmp_path
):
    config, table = _with_optimum(SAWTOOTH)
    fig = _draw(table, config, monkeypatch, tmp_path)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "linear", "log"]
    best = table[table["method"] == "best"].set_index("budget")["max_error"]
    assert list(best.index) == [13, 53, 93]
    for ax in fig.axes[:2]:  # no line of the optimum's own: its band at each budget
        assert "best" not in [line.get_label() for line in ax.lines]
        (band,) = [c for c in ax.collections if len(c.get_paths())
                   and not c.get_label().startswith(("band", "best"))
                   and c.get_facecolor()[0][3] == pytest.approx(0.35)]
        vertices = band.get_paths()[0].vertices
        for budget, upper in best.items():
            at = sorted(set(vertices[vertices[:, 0] == budget, 1]))
            np.testing.assert_allclose(at, [0.8 * upper, upper], rtol=1e-12)
    gap = fig.axes[2]
    assert gap.get_title().endswith("ε / best possible one-hidden-layer ε at the budget")
    assert any(np.all(np.asarray(line.get_ydata()) == 1.0) for line in gap.lines)
    drawn = {line.get_label(): line for line in gap.lines}
    assert "best" not in drawn and {"sawtooth", "shallow"} <= set(drawn)
    shallow = table[table["method"] == "shallow"].groupby("width")
    want = shallow["gap_to_shallow_optimum"].median().to_numpy()
    assert np.isfinite(want).all()
    np.testing.assert_allclose(drawn["shallow"].get_ydata(), want, rtol=1e-12)
    np.testing.assert_allclose(drawn["shallow"].get_xdata(),
                               shallow["n_params"].median().to_numpy())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(label.startswith("best possible one-hidden-layer net at this parameter count")
               and "certified bracket" in label for label in labels)


def test_without_the_comparison_columns_the_optimum_is_a_plain_line(monkeypatch, tmp_path):
    for text, scales in ((SAWTOOTH, ["log", "linear"]), (DEPTH, ["log", "log"])):
        config, table = _with_optimum(text, drop=True)
        fig = _draw(table, config, monkeypatch, tmp_path)
        assert [ax.get_xscale() for ax in fig.axes] == scales
        assert all("best" in [line.get_label() for line in ax.lines] for ax in fig.axes)
        # the columns present but empty (every optimum run failed): the same figure
        config, table = _with_optimum(text)
        table = table.assign(shallow_optimum_lower=np.nan, shallow_optimum_upper=np.nan,
                             gap_to_shallow_optimum=np.nan)
        fig = _draw(table, config, monkeypatch, tmp_path)
        assert [ax.get_xscale() for ax in fig.axes] == scales


def test_a_gap_panel_per_target_fits_in_the_figure(monkeypatch, tmp_path):
    config, table = _with_optimum(DEPTH)
    fig = _draw(table, config, monkeypatch, tmp_path)
    assert [ax.get_title().endswith("at the budget") for ax in fig.axes] == [
        False, True, False, True]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    (key,) = [label for label in labels if label.startswith("best possible")]
    assert key.endswith("(upper/lower − 1 ≤ 0.25)")  # one key, the widest bracket's
    fig.draw_without_rendering()
    box = fig.bbox
    for artist in (fig.legends[0], fig._suptitle, *[ax.title for ax in fig.axes]):
        extent = artist.get_window_extent()
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, artist
        assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, artist
