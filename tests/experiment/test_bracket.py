"""The optimum's bracket in a sweep: runs.csv's columns, optimum.csv, the summary, and
the folder's list of artefacts; a sweep without the method pays nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from approx.experiment import bracket, parse_config, run_sweep
from approx.experiment.folder import STORE_FILES, is_artefact, looks_ours
from approx.experiment.safe_files import SafeFolder
from approx.experiment.store import Store, run_columns

WITH_OPTIMUM = """
name = "bracketed"
widths = [8, 16]

[[targets]]
name = "sin2pi"

[[targets]]
name = "exp"

[[methods]]
name = "best"
kind = "optimal-pwl"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""
WITHOUT = WITH_OPTIMUM.replace('name = "best"\nkind = "optimal-pwl"',
                               'name = "adaptive"\nkind = "relu-interpolant"\nknots = "adaptive"')


def _frame(rows):
    columns = ["target", "method", "kind", "width", "status", "max_error",
               "max_error_upper", "info_lower"]
    return pd.DataFrame(rows, columns=columns)


def test_brackets_keep_the_tightest_and_skip_failed_runs():
    table = _frame([
        ("f", "a", "optimal-pwl", 8, "ok", 1.1, 1.2, 1.0),
        ("f", "b", "optimal-pwl", 8, "ok", 1.05, 1.1, 0.9),   # a second optimum method
        ("f", "a", "optimal-pwl", 16, "error", np.nan, np.nan, np.nan),
        ("f", "u", "relu-interpolant", 8, "ok", 4.0, 4.0, np.nan),
        ("f", "u", "relu-interpolant", 16, "ok", 1.0, 1.0, np.nan),
        ("g", "u", "relu-interpolant", 8, "ok", 3.0, 3.0, np.nan),
    ])
    found = bracket.brackets(table)
    assert list(found.columns[:5]) == ["target", "width", "optimum_lower", "optimum_upper",
                                       "ratio"]
    assert found[["target", "width"]].values.tolist() == [["f", 8]]
    assert found.loc[0, "optimum_lower"] == 1.0 and found.loc[0, "optimum_upper"] == 1.1
    out = bracket.with_optimum(table)
    np.testing.assert_allclose(out["optimum_lower"], [1.0, 1.0, np.nan, 1.0, np.nan, np.nan],
                               equal_nan=True)
    np.testing.assert_allclose(out["gap_to_optimum"], [1.1, 1.05, np.nan, 4.0, np.nan, np.nan],
                               equal_nan=True)
    assert out["gap_to_optimum"].dtype == float


def test_a_bound_of_zero_gives_no_gap():
    table = _frame([("f", "a", "optimal-pwl", 1, "ok", 1.0, 1.0, 0.0)])
    assert np.isnan(bracket.with_optimum(table)["gap_to_optimum"].iloc[0])


@pytest.fixture(scope="module")
def bracketed(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    table = run_sweep(parse_config(WITH_OPTIMUM), out, jobs=1)
    return out, table


def test_a_sweep_with_the_optimum_has_its_bracket_beside_every_run(bracketed):
    out, _ = bracketed
    runs = pd.read_csv(out / "runs.csv")
    for column in bracket.COLUMNS:
        assert column in runs and runs[column].notna().all()
    assert (runs["gap_to_optimum"] >= 1 - 1e-9).all()
    best = runs[runs["kind"] == "optimal-pwl"]
    assert (best["optimum_upper"] == best["max_error_upper"]).all()
    assert (best["optimum_lower"] == best["info_lower"]).all()
    uniform = runs[runs["method"] == "uniform"].set_index(["target", "width"])
    np.testing.assert_allclose(uniform["gap_to_optimum"],
                               uniform["max_error"] / uniform["optimum_lower"])
    optimum = pd.read_csv(out / bracket.FILE)
    assert optimum[["target", "width"]].values.tolist() == [
        ["sin2pi", 8], ["sin2pi", 16], ["exp", 8], ["exp", 16]]
    assert (optimum["optimum_lower"] <= optimum["optimum_upper"]).all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"optimum_lower", "optimum_upper", "gap_to_optimum"} <= set(summary.columns)
    at16 = optimum.set_index(["target", "width"]).loc[("exp", 16)]
    row = summary[(summary["target"] == "exp") & (summary["method"] == "uniform")].iloc[0]
    assert row["optimum_lower"] == at16["optimum_lower"]


def test_the_optimum_file_is_an_artefact_of_such_sweeps_only(bracketed):
    out, _ = bracketed
    config = parse_config(WITH_OPTIMUM)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    assert bracket.FILE in left
    assert all(rel in STORE_FILES or is_artefact(rel, config) for rel in left), left
    assert is_artefact(bracket.FILE, config)
    assert not is_artefact(bracket.FILE, parse_config(WITHOUT))
    with SafeFolder.open(out, create=False) as root:
        assert looks_ours(root, bracket.FILE, config, run_columns())
        assert looks_ours(root, "runs.csv", config, run_columns())
    # a user's file of that name is not the sweep's
    (out / "foreign.csv").write_text("a,b\n1,2\n")
    with SafeFolder.open(out, create=False) as root:
        assert not looks_ours(root, "foreign.csv", config, run_columns())


def test_a_rerun_keeps_the_bracket_and_fresh_removes_the_file(bracketed, tmp_path):
    out = tmp_path / "again"
    config = parse_config(WITH_OPTIMUM)
    first = run_sweep(config, out, jobs=1)
    again = run_sweep(config, out, jobs=1)
    pd.testing.assert_series_equal(first["gap_to_optimum"], again["gap_to_optimum"])
    run_sweep(config, out, jobs=1, fresh=True)
    assert (out / bracket.FILE).is_file()


def test_a_sweep_without_the_optimum_pays_nothing(tmp_path):
    config = parse_config(WITHOUT)
    table = run_sweep(config, tmp_path / "out", jobs=1)
    assert not set(bracket.COLUMNS) & set(table.columns)
    assert not (tmp_path / "out" / bracket.FILE).exists()
    with Store.read(tmp_path / "out") as store:
        assert "optimum_lower" not in store.table(config)
