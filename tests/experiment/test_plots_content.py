"""What the approximation figures show, checked on synthetic tables (no sweep runs).

Each figure answers the question in its title; the ReLU methods get panels of their own
so the smooth bases' 1e-15 does not set their scale; the legend keys only what is drawn;
the gap figure has the optimum's panel exactly when the runs carry its bracket; the
training figure a panel per objective, with the phases' switches marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from approx.experiment import parse_config, plots
from approx.experiment.figure_parts import (
    envelope,
    group_of,
    history_phases,
    method_groups,
)

CONFIG = """
name = "synthetic"
replicates = 3
widths = [4, 8, 16, 32, 64]

[[targets]]
name = "sin2pi"

[[targets]]
name = "runge"

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "adaptive"
kind = "relu-interpolant"
knots = "adaptive"

[[methods]]
name = "fourier"
kind = "random-features"

[[methods]]
name = "cheb"
kind = "chebyshev"

[[methods]]
name = "net"
kind = "trained"
"""
RELU = ("uniform", "adaptive", "net")
SMOOTH = ("fourier", "cheb")


def _table(config, estimate: bool = False) -> pd.DataFrame:
    """A runs table: ReLU methods at ~1/d², smooth ones falling to 1e-15; the random
    methods with three replicates."""
    rows = []
    for target in ("sin2pi", "runge"):
        for method, base in (("uniform", 2.0), ("adaptive", 1.0), ("net", 0.7),
                             ("fourier", None), ("cheb", None)):
            for d in config.widths:
                reps = 3 if method in ("fourier", "net") else 1
                for r in range(reps):
                    error = (base / d**2 if base else max(10.0 ** -d, 1e-15)) * (1 + 0.1 * r)
                    rows.append({
                        "run_id": f"{target}-{method}-{d}-{r}", "target": target,
                        "method": method, "width": d, "replicate": r, "status": "ok",
                        "max_error": error, "max_error_upper": error,
                        "max_error_tight": not estimate, "tight_reason": "",
                        "degenerate": False, "model_file": None,
                    })
    return pd.DataFrame(rows)


@pytest.fixture
def captured(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    return figures


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _drawn_colours(fig) -> set[str]:
    from matplotlib.colors import to_hex

    return {to_hex(line.get_color()) for ax in fig.axes for line in ax.lines
            if len(line.get_xdata()) and line.get_linestyle() == "-"}


def test_groups_put_relu_nets_apart_from_smooth_bases():
    config = parse_config(CONFIG)
    assert [group_of(m) for m in config.methods] == ["relu", "relu", "smooth", "smooth",
                                                      "relu"]
    groups = method_groups(config.methods)
    assert [m.name for m in groups["relu"]] == ["uniform", "adaptive", "net"]
    assert list(method_groups(m for m in config.methods if m.kind == "chebyshev")) == [
        "smooth"]


def test_convergence_gives_the_relu_methods_their_own_range(captured):
    config = parse_config(CONFIG)
    table = _table(config)
    plots.plot_convergence(table, config, None)
    (fig,) = captured
    assert "how fast does the max error" in fig._suptitle.get_text()
    relu_axes = [ax for ax in fig.axes if "ReLU" in ax.get_title()]
    smooth_axes = [ax for ax in fig.axes if "smooth" in ax.get_title()]
    assert len(relu_axes) == len(smooth_axes) == 2
    relu = table[table["method"].isin(RELU)]["max_error"]
    for ax in relu_axes:
        low, high = ax.get_ylim()
        assert low <= relu.min() and high >= relu.max()  # covers its methods' data
        assert low > 1e-8  # and not the smooth bases' 1e-15
    for ax in smooth_axes:
        assert ax.get_ylim()[0] <= 1e-15
    # the bound and the d⁻² slope are drawn over the data
    ax = relu_axes[0]
    data = max(line.get_zorder() for line in ax.lines if line.get_marker() == "o")
    guides = [line for line in ax.lines if line.get_linestyle() in ("--", ":")]
    assert len(guides) == 2 and all(line.get_zorder() > data for line in guides)
    labels = _legend_labels(fig)
    assert any("bound" in label for label in labels)
    assert any("median" in text.get_text() for text in [fig.legends[0].get_title()])


def test_convergence_legend_keys_only_what_is_drawn(captured):
    config = parse_config(CONFIG)
    table = _table(config)
    plots.plot_convergence(table, config, None)
    labels = _legend_labels(captured[0])
    assert not any("hollow" in label or "half" in label or "degenerate" in label
                   or "bar:" in label for label in labels)
    assert any("band" in label for label in labels)  # three replicates: bands drawn
    assert any("filled" in label for label in labels)
    # every method keyed is drawn in its colour, and every one drawn is keyed
    colours = plots.method_colors(config)
    methods = [label for label in labels if label in colours]
    assert sorted(methods) == sorted(colours)
    assert {colours[m] for m in methods} <= _drawn_colours(captured[0])

    captured.clear()
    single = _table(config, estimate=True)
    single = single[single["replicate"] == 0]
    plots.plot_convergence(single, config, None)
    labels = _legend_labels(captured[0])
    assert any("hollow" in label for label in labels)
    assert not any("band" in label or "filled" in label for label in labels)
    assert not [c for ax in captured[0].axes for c in ax.collections
                if isinstance(c, PolyCollection)]


def _with_optimum(table: pd.DataFrame) -> pd.DataFrame:
    lower = 0.4 / table["width"].astype(float) ** 2
    return table.assign(optimum_lower=lower, optimum_upper=lower * (1 + 1 / table["width"]),
                        gap_to_optimum=table["max_error"] / lower)


def test_gap_has_the_optimum_panel_iff_the_runs_carry_the_bracket(captured):
    config = parse_config(CONFIG)
    table = _table(config)
    plots.plot_gap(table, config, None)
    plots.plot_gap(_with_optimum(table), config, None)
    plots.plot_gap(table.assign(optimum_lower=np.nan, optimum_upper=np.nan), config, None)
    without, with_, empty = captured
    for fig in (without, empty):
        titles = [ax.get_title() for ax in fig.axes]
        assert len(titles) == 4 and not any("best possible" in t for t in titles)
        assert all("ε / ε(uniform)" in t for t in titles)
        assert "construction" in fig._suptitle.get_text()
    titles = [ax.get_title() for ax in with_.axes]
    assert len(titles) == 6 and sum("best possible" in t for t in titles) == 2
    assert "best possible" in with_._suptitle.get_text()
    optimum_ax = next(ax for ax in with_.axes if "best possible" in ax.get_title())
    (band,) = [c for c in optimum_ax.collections if isinstance(c, PolyCollection)]
    ys = band.get_paths()[0].vertices[:, 1]
    widths = np.array(config.widths, dtype=float)
    assert ys.min() == pytest.approx(1.0) and ys.max() == pytest.approx(1 + 1 / widths.min())
    assert optimum_ax.get_ylim()[0] < 1.0  # the floor 1 is in view
    # each ReLU method's median ε over the lower end of the bracket, smooth bases left out
    lines = [line for line in optimum_ax.lines if len(line.get_xdata()) == len(widths)]
    assert len(lines) == len(RELU)
    net = table[(table["target"] == "sin2pi") & (table["method"] == "net")]
    want = net.groupby("width")["max_error"].median() / (0.4 / widths**2)
    colours = plots.method_colors(config)
    (drawn,) = [line for line in lines if line.get_color() == colours["net"]]
    np.testing.assert_allclose(drawn.get_ydata(), want.to_numpy(), rtol=1e-12)


def test_gap_without_the_construction_is_the_optimum_alone(captured):
    config = parse_config(CONFIG.replace('name = "uniform"\nkind = "relu-interpolant"\n',
                                         'name = "uniform"\nkind = "spline"\n'))
    table = _with_optimum(_table(config))
    assert plots.gap_table(table, config) is None
    plots.plot_gap(table, config, None)
    (fig,) = captured
    assert [("best possible" in ax.get_title()) for ax in fig.axes] == [True, True]
    assert plots.plot_gap(_table(config), config, None) is None


def test_gap_reference_lines_are_told_apart(captured):
    config = parse_config(CONFIG)
    plots.plot_gap(_table(config), config, None)
    ax = captured[0].axes[0]
    one, two = ax.lines[:2]
    assert list(one.get_ydata()) == [1, 1] and list(two.get_ydata()) == [2, 2]
    assert one.get_color() != two.get_color() and one.get_linestyle() != two.get_linestyle()
    assert {"1", "2×"} <= {t.get_text() for t in ax.texts}


def _training_table(phases: str | None) -> tuple[pd.DataFrame, dict]:
    history = np.concatenate([np.geomspace(1.0, 1e-3, 100), np.geomspace(1e-9, 1e-12, 10),
                              np.geomspace(1e-3, 1e-5, 10), np.geomspace(1e-13, 1e-14, 5)])
    history[40] = 1e6  # a spike
    rows = [{"run_id": f"r{d}", "target": "sin2pi", "method": "net", "width": d,
             "replicate": 0, "status": "ok", "param_optimizer": "adam+lm",
             "info_phases": phases} for d in (4, 16)]
    return pd.DataFrame(rows), {f"r{d}": history for d in (4, 16)}


def test_training_draws_a_panel_per_objective_and_marks_the_switches(captured):
    config = parse_config(CONFIG)
    table, histories = _training_table("adam:mse@0 lm:L8@100 lm:mse@110 lm:L8@120")
    plots.plot_training(table, histories, config, "sin2pi", None)
    (fig,) = captured
    assert "training phase" in fig._suptitle.get_text()
    assert len(fig.axes) == 3 * 2  # Adam's mean square, LM's L8, LM's mean square × 2 widths
    adam, l8 = fig.axes[0], fig.axes[2]
    assert "Adam" in adam.get_ylabel() and "rescaled" in adam.get_ylabel()
    assert "8" in l8.get_ylabel() and "LM" in l8.get_ylabel()
    assert adam.get_xlabel() == "Adam steps"
    # the LM panels count the same iterates: shared, written once below
    assert fig.axes[4].get_xlabel().startswith("LM iterates") and l8.get_xlabel() == ""
    assert l8.get_shared_x_axes().joined(l8, fig.axes[4])
    # the spike is clipped to the top with a marker, not setting the scale
    assert adam.get_ylim()[1] < 1e3
    assert [line for line in adam.lines if line.get_marker() == "^"]
    # the L8 rounds: two stretches, x counted from the polish's start (0 and 20)
    (curve,) = [line for line in l8.lines if line.get_linestyle() == "-"]
    x, y = curve.get_xdata(), curve.get_ydata()
    assert list(x[np.isnan(y)]) == [10, 25]  # the gap after each stretch
    assert x[0] == 0 and x[11] == 20
    labels = _legend_labels(fig)
    assert any("another follows" in label for label in labels)
    assert any("phase starts" in label for label in labels)
    assert any("above the axis" in label for label in labels)
    assert not any("widened" in label for label in labels)


def test_training_of_runs_recorded_before_phases_is_one_panel(captured):
    config = parse_config(CONFIG)
    table, histories = _training_table(None)
    plots.plot_training(table, histories, config, "sin2pi", None)
    (fig,) = captured
    assert len(fig.axes) == 2
    assert "not recorded" in fig.axes[0].get_ylabel()
    assert not any("phase" in label for label in _legend_labels(fig))


def test_history_phases_parse_the_record():
    phases = history_phases("adam:mse@0 lm:L8@5 lm:mse@8 widened@12 lm:L8@12", 15)
    assert [(p.key, p.start, p.stop, p.widened) for p in phases] == [
        ("adam:mse", 0, 5, False), ("lm:L8", 5, 8, False), ("lm:mse", 8, 12, False),
        ("lm:L8", 12, 15, True)]
    # a history cut short (diverged) keeps only what it has
    assert [(p.key, p.stop) for p in history_phases("adam:mse@0 lm:L8@5", 3)] == [
        ("adam:mse", 3)]
    for record in (None, float("nan"), "", "adam:mse@x", "nonsense"):
        (one,) = history_phases(record, 7, "adam+lm")
        assert (one.start, one.stop, one.objective) == (0, 7, "")


def test_recorded_phases_match_the_history():
    from approx.problems.targets import get
    from approx.train import fit_target

    result = fit_target(get("sin2pi"), 12, np.random.default_rng(1), optimizer="adam+lm",
                        steps=40, polish_steps=12, grow_from=6)
    names = [name for name, _ in result.phases]
    assert names[0] == "adam:mse" and "widened" in names
    assert all(name in ("adam:mse", "lm:L8", "lm:mse", "widened") for name in names)
    starts = [at for _, at in result.phases]
    assert starts == sorted(starts) and starts[-1] < result.history.size
    assert starts[1] == 40  # the polish starts after the 40 Adam steps
    single = fit_target(get("sin2pi"), 6, np.random.default_rng(1), optimizer="adam",
                        steps=10)
    assert single.phases == (("adam:mse", 0),)


def test_envelope_is_the_largest_value_of_each_bin():
    rng = np.random.default_rng(0)
    x, y = np.linspace(0, 1, 1000), rng.random(1000)
    y[5] = np.nan
    middle, top = envelope(x, y, 50)
    np.testing.assert_array_equal(top, np.nanmax(y.reshape(50, 20), axis=1))
    np.testing.assert_allclose(middle, x.reshape(50, 20).mean(axis=1))


def test_fits_show_the_fits_where_they_differ_and_the_error_envelope(
    tmp_path, captured, monkeypatch
):
    config = parse_config(CONFIG)
    f = config.targets[0].build()
    models = {4: lambda x: f(x) + 0.3, 16: lambda x: f(x) + 1e-6 * np.cos(40 * x),
              64: lambda x: np.where(np.arange(x.size) % 7 == 0, f(x) + 1e-3, f(x))}
    rows = []
    for d in models:
        (tmp_path / f"m{d}").touch()
        rows.append({"target": "sin2pi", "method": "uniform", "width": d, "replicate": 0,
                     "status": "ok", "model_file": f"m{d}", "max_error": 0.3})
    monkeypatch.setattr(plots, "load_model", lambda path: models[int(path.name[1:])])
    plots.plot_fits(pd.DataFrame(rows), config, "sin2pi", tmp_path, None)
    (fig,) = captured
    assert "where does each fit err most" in fig._suptitle.get_text()
    top = fig.axes[0]
    assert len(top.lines) == 2  # the target and the fit at the smallest width only
    assert "d = 4" in top.get_title() and "d = 16, 64" in top.get_title()
    assert "5e-05 %, 0.05 %" in top.get_title() and "tell them apart" in top.get_title()
    errors = fig.axes[1:]
    assert [ax.get_title() for ax in errors] == ["d = 4", "d = 16", "d = 64"]
    # exact zeros at most points: the envelope keeps each bin's largest error
    (line,) = [ln for ln in errors[2].lines if ln.get_linestyle() == "-"]
    np.testing.assert_allclose(line.get_ydata(), 1e-3, rtol=1e-6)
    assert errors[2].get_ylim()[0] > 1e-10
    assert "replicate 0" in fig.legends[0].get_title().get_text()
    models[16] = lambda x: f(x) + 0.1  # visibly off: the title does not say otherwise
    plots.plot_fits(pd.DataFrame(rows), config, "sin2pi", tmp_path, None)
    assert "tell them apart" not in captured[1].axes[0].get_title()
