"""Parameter budgets instead of widths, and the sawtooth construction as a method."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from approx import methods
from approx.experiment import parse_config, run_sweep
from approx.experiment.config import ConfigError
from approx.experiment.expansion import count_runs
from approx.problems import targets

SQUARE = targets.from_expr("x**2", (0.0, 1.0), "square")

SWEEP = """
name = "budgets"
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


@pytest.mark.parametrize(
    ("kind", "params"),
    [("relu-interpolant", {}), ("random-features", {"n_samples": 64}), ("chebyshev", {}),
     ("sawtooth", {}), ("trained", {"steps": 1, "optimizer": "adam"}),
     ("trained", {"steps": 1, "depth": 3, "optimizer": "adam"})],
)
def test_the_declared_size_is_the_fitted_n_params(kind, params):
    method = methods.get(kind)
    for width in (1, 2, 5, 9):
        if width < method.min_width:
            continue
        fit = methods.fit(kind, SQUARE, width, np.random.default_rng(0), **params)
        assert method.size(width, method.resolve(params)) == fit.n_params == fit.model.n_params


@given(budget=st.integers(1, 5000), kind=st.sampled_from(["relu-interpolant", "sawtooth"]))
def test_width_for_takes_the_largest_width_within_the_budget(budget, kind):
    method = methods.get(kind)
    width = method.width_for(budget, {})
    if width is None:
        assert method.size(method.min_width, {}) > budget
        return
    assert method.size(width, {}) <= budget
    assert width == method.max_width or method.size(width + 1, {}) > budget


@pytest.mark.parametrize("m", [1, 2, 5, 9])
def test_sawtooth_method_error_is_certified_at_its_closed_form(m):
    from approx import analysis

    fit = methods.fit("sawtooth", SQUARE, m, np.random.default_rng(0))
    worst = analysis.max_error_at(SQUARE, fit.model)
    exact = 2.0 ** (-2 * m - 2)
    assert worst.value == exact  # attained at a cell's midpoint, exactly representable
    assert exact <= worst.upper <= exact + 1e-12


def test_sawtooth_refuses_other_targets():
    with pytest.raises(ValueError, match=r"x² on \[0, 1\] only"):
        methods.fit("sawtooth", targets.get("sin2pi"), 3, np.random.default_rng(0))
    shifted = targets.from_expr("x**2", (0.0, 2.0), "wide")
    with pytest.raises(ValueError, match="not x² there"):
        methods.fit("sawtooth", shifted, 3, np.random.default_rng(0))


def test_each_method_runs_at_the_widths_its_budgets_fit():
    config = parse_config(SWEEP)
    saw, shallow = config.methods
    assert config.widths_of(saw) == (1, 3, 5)  # 20m − 7 ≤ 13, 53, 93
    assert config.widths_of(shallow) == (4, 17, 30)  # 3d + 1 ≤ 13, 53, 93
    assert config.widths == (1, 3, 4, 5, 17, 30)
    assert count_runs(config) == 6
    assert "budgets" in config.canonical()
    # a config without budgets keeps the digest it always had (no budgets key)
    plain = parse_config(SWEEP.replace("budgets = [13, 53, 93]", "widths = [4, 8]")
                         .replace('kind = "sawtooth"', 'kind = "chebyshev"'))
    assert "budgets" not in plain.canonical()


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (SWEEP.replace("budgets = [13, 53, 93]", "budgets = [13]\nwidths = [4]"), "widths",
         "either widths"),
        (SWEEP.replace("budgets = [13, 53, 93]", ""), "widths", "either widths"),
        (SWEEP.replace('kind = "sawtooth"', 'kind = "spline"'), "methods[0].kind",
         "no known parameter count"),
        (SWEEP.replace("budgets = [13, 53, 93]", "budgets = [5, 12]"), "budgets",
         "below the smallest model of methods[0]"),
        (SWEEP.replace("budgets = [13, 53, 93]", "budgets = [13, 13]"), "budgets[1]",
         "duplicate"),
        (SWEEP.replace("budgets = [13, 53, 93]", "budgets = [0]"), "budgets[0]", "≥ 1"),
    ],
)
def test_bad_budgets_are_refused(text, key, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as info:
        parse_config(text)
    assert info.value.key == key


@pytest.mark.slow
def test_a_budget_sweep_records_n_params_and_draws_epsilon_against_them(tmp_path):
    table = run_sweep(parse_config(SWEEP), tmp_path / "out", jobs=1)
    assert (table["status"] == "ok").all()
    saw = table[table["method"] == "sawtooth"].sort_values("width")
    assert saw["n_params"].tolist() == [13, 53, 93]
    assert saw["max_error"].tolist() == [2.0**-4, 2.0**-8, 2.0**-12]
    shallow = table[table["method"] == "shallow"].sort_values("width")
    d = shallow["width"].to_numpy()
    np.testing.assert_allclose(shallow["max_error"], 1 / (4 * (d - 1.0) ** 2), rtol=1e-12)
    from approx.experiment import plot_folder

    paths, skipped = plot_folder(tmp_path / "out")
    assert "params.png" in {p.name for p in paths} and not skipped


def test_trained_depth_builds_equal_hidden_layers_and_keeps_the_function_on_rescaling():
    from approx.train.recipe import Scaling

    fit = methods.fit("trained", SQUARE, 5, np.random.default_rng(1), depth=3,
                      optimizer="adam", steps=20)
    assert fit.model.sizes == [1, 5, 5, 5, 1]
    scaling = Scaling(0.5, 0.5, 0.3, 2.0)
    scaled = scaling.to_scaled(fit.model)
    x = np.linspace(0.0, 1.0, 101)
    # the scaled net on t = (x − c)/s gives (f − μ)/σ
    np.testing.assert_allclose(scaled((x - 0.5) / 0.5), (fit.model(x) - 0.3) / 2.0,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaling.to_raw(scaled)(x), fit.model(x), rtol=1e-12, atol=1e-12)


def test_trained_depth_refuses_one_layer_inits():
    with pytest.raises(ValueError, match="depth 2 needs init 'he'"):
        methods.get("trained").resolve({"depth": 2, "init": "knots"})
    with pytest.raises(ValueError, match="≥ 1"):
        methods.get("trained").resolve({"depth": 0})


def test_depth_0_exits_2_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from approx.cli import app

    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP + '[[methods]]\nname = "deep"\nkind = "trained"\ndepth = 0\n',
                    encoding="utf-8")
    result = CliRunner().invoke(app, [str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{path}: methods[2].depth:" in lines[0], result.output
