"""Budget sweeps: every run against the best one-hidden-layer net within its budget."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from approx.experiment import parse_config
from approx.experiment.equal_params import applies, budget_of, with_shallow_optimum
from approx.experiment.specs import MethodSpec

CONFIG = """
name = "eq"
budgets = [25, 53, 97]

[[targets]]
name = "sin2pi"

[[methods]]
name = "one"
kind = "relu-interpolant"

[[methods]]
name = "deep"
kind = "trained"
depth = 2
"""


def _config(with_optimum: bool = True):
    config = parse_config(CONFIG)
    if with_optimum:  # (the kind's own registration is not needed to read a table)
        config = dataclasses.replace(
            config, methods=(*config.methods, MethodSpec("best", "optimal-pwl", ())))
    return config


def _row(target, method, kind, n_params, max_error, upper=np.nan, lower=np.nan,
         status="ok"):
    return {"target": target, "method": method, "kind": kind, "n_params": n_params,
            "max_error": max_error, "max_error_upper": upper, "info_lower": lower,
            "status": status}


def test_the_budget_is_the_smallest_that_holds_the_run():
    got = budget_of(pd.Series([25, 22, 26, 53, 97, 98, None, 1]), (97, 25, 53))
    np.testing.assert_array_equal(got, [25, 25, 53, 53, 97, np.nan, np.nan, 25])


def test_every_run_gets_the_bracket_of_its_budget():
    # optimal-pwl at budget 25 has d = 8 (25 parameters), at 53 d = 17 (52), at 97 d = 32
    table = pd.DataFrame([
        _row("sin2pi", "best", "optimal-pwl", 25, 0.081, 0.0811, 0.080),
        _row("sin2pi", "best", "optimal-pwl", 52, 0.020, 0.0201, 0.019),
        _row("sin2pi", "best", "optimal-pwl", 97, 0.005, 0.0051, 0.004, status="timeout"),
        _row("sin2pi", "deep", "trained", 22, 0.16),      # depth 2, d = 3: budget 25
        _row("sin2pi", "deep", "trained", 46, 0.0095),    # d = 5: budget 53
        _row("sin2pi", "deep", "trained", 97, 0.001),     # d = 8: budget 97, no bracket
        _row("sin2pi", "one", "relu-interpolant", 25, 0.2),
        _row("sin2pi", "deep", "trained", 46, np.nan, status="error"),
    ])
    out = with_shallow_optimum(table, _config())
    assert list(out.columns[: len(table.columns)]) == list(table.columns)
    np.testing.assert_array_equal(out["budget"], [25, 53, 97, 25, 53, 97, 25, 53])
    np.testing.assert_array_equal(
        out["shallow_optimum_lower"], [0.080, 0.019, np.nan, 0.080, 0.019, np.nan, 0.080, 0.019])
    np.testing.assert_array_equal(
        out["shallow_optimum_upper"],
        [0.0811, 0.0201, np.nan, 0.0811, 0.0201, np.nan, 0.0811, 0.0201])
    np.testing.assert_allclose(
        out["gap_to_shallow_optimum"],
        [0.081 / 0.080, 0.020 / 0.019, np.nan, 2.0, 0.5, np.nan, 2.5, np.nan], rtol=1e-15)
    # the deep net at budget 53 is below the one-hidden-layer optimum: a gap under 1
    assert out.loc[4, "gap_to_shallow_optimum"] < 1


def test_several_optimum_methods_keep_the_tightest_bracket_per_target():
    table = pd.DataFrame([
        _row("a", "best", "optimal-pwl", 25, 0.08, 0.081, 0.070),
        _row("a", "best2", "optimal-pwl", 25, 0.08, 0.0805, 0.075),
        _row("b", "best", "optimal-pwl", 25, 0.5, 0.51, 0.45),
        _row("b", "deep", "trained", 22, 0.9),
    ])
    out = with_shallow_optimum(table, _config())
    assert out["shallow_optimum_lower"].tolist() == [0.075, 0.075, 0.45, 0.45]
    assert out["shallow_optimum_upper"].tolist() == [0.0805, 0.0805, 0.51, 0.51]
    assert out.loc[3, "gap_to_shallow_optimum"] == pytest.approx(2.0)


def test_only_budget_sweeps_with_an_optimum_method_get_the_columns():
    assert applies(_config())
    assert not applies(_config(with_optimum=False))
    widths = parse_config(CONFIG.replace("budgets = [25, 53, 97]", "widths = [4, 8]"))
    widths = dataclasses.replace(
        widths, methods=(*widths.methods, MethodSpec("best", "optimal-pwl", ())))
    assert not applies(widths)


def test_a_budget_sweep_with_an_optimum_method_writes_the_columns(monkeypatch, tmp_path):
    """End to end, with a stand-in for the optimal-pwl kind (the uniform construction,
    its `lower` set to half its error): the store's table and runs.csv carry the
    columns, each run compared with the stand-in at its budget."""
    from approx import methods
    from approx.experiment import load_results, run_sweep
    from approx.methods import Fit, Method
    from approx.models.construct import relu_interpolant

    def fake(target, width, rng):
        net = relu_interpolant(target, width)
        error = float(np.max(np.abs(target(np.linspace(*target.domain, 4097))
                                    - net(np.linspace(*target.domain, 4097)))))
        return Fit(net, net.n_params, info={"lower": error / 2})

    monkeypatch.setitem(methods.METHODS, "optimal-pwl", Method(
        "optimal-pwl", fake, (), "stand-in", size=lambda d, params: 3 * d + 1))
    text = CONFIG.replace('kind = "trained"\ndepth = 2\n',
                          'kind = "trained"\ndepth = 2\noptimizer = "adam"\nsteps = 20\n'
                          'n_train = 32\n')
    text += '\n[[methods]]\nname = "best"\nkind = "optimal-pwl"\n'
    run_sweep(parse_config(text), tmp_path, jobs=1)
    table = load_results(tmp_path).set_index("run_id")
    csv = pd.read_csv(tmp_path / "runs.csv").set_index("run_id")
    for column in ("budget", "shallow_optimum_lower", "gap_to_shallow_optimum"):
        np.testing.assert_allclose(csv[column], table[column].astype(float))
    best = table[table["method"] == "best"].set_index("budget")
    assert sorted(best.index) == [25, 53, 97]
    assert (best["width"] == [8, 17, 32]).all()
    # the stand-in's own gap: its ε over half its ε on a grid (the grid's max is at most ε)
    gap = best["gap_to_shallow_optimum"].to_numpy(float)
    assert np.all((gap >= 2 * (1 - 1e-12)) & (gap < 2.1)), gap
    for _, row in table.iterrows():
        assert row["budget"] >= row["n_params"]
        want = best.loc[row["budget"], "info_lower"]
        assert row["shallow_optimum_lower"] == want
        assert row["gap_to_shallow_optimum"] == pytest.approx(row["max_error"] / want)
