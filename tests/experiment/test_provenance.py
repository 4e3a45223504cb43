"""Per-run provenance (the invocations table, append-only) and the degenerate flag."""

from __future__ import annotations

import json
import math
import sqlite3

import mpmath
import numpy as np
import pandas as pd
import pytest

from approx import methods
from approx.certify.targets import constant_error
from approx.experiment import Store, parse_config, run_sweep
from approx.experiment.provenance import changes, invocation, run_engine
from approx.experiment.store import DB_NAME
from approx.methods import Fit, Method
from approx.nn import MLP
from approx.nn.backend import ENV_VAR, numba_available
from approx.problems import targets

TRAINED = """
name = "prov"
widths = [4, 8]
replicates = 2

[[targets]]
name = "sin2pi"

[[methods]]
name = "net"
kind = "trained"
steps = 20
n_train = 32

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


class _Notes:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, result) -> None:
        pass


def _rows(folder, sql):
    with sqlite3.connect(folder / DB_NAME) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


@pytest.mark.skipif(not numba_available(), reason="needs numba (extra fast)")
def test_a_numpy_run_then_a_numba_resume_says_who_computed_what(tmp_path, monkeypatch):
    config = parse_config(TRAINED)
    monkeypatch.setenv(ENV_VAR, "numpy")
    first = run_sweep(config, tmp_path, jobs=1, argv=["run-experiment", "prov.toml"])
    assert set(first.loc[first["method"] == "net", "engine"]) == {"fused-numpy"}
    assert set(first.loc[first["method"] == "uniform", "engine"]) == {""}  # no net trained
    # as if killed before the widest runs were recorded
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("DELETE FROM histories WHERE run_id LIKE '%.d8.%'")
        db.execute("DELETE FROM runs WHERE width = 8")
    db.close()
    monkeypatch.delenv(ENV_VAR)
    notes = _Notes()
    again = run_sweep(config, tmp_path, jobs=1, reporter=notes)
    by_width = again.set_index(["method", "width", "replicate"])
    assert set(by_width.loc[("net", 4), "engine"]) == {"fused-numpy"}  # kept: as computed
    assert set(by_width.loc[("net", 8), "engine"]) == {"fused-numba"}
    assert set(again.loc[again["width"] == 4, "invocation"]) == {1}
    assert set(again.loc[again["width"] == 8, "invocation"]) == {2}
    [line] = [n for n in notes.notes if "another fused engine" in n]
    assert "2 with another fused engine" in line  # the two kept net runs (not uniform)
    assert "another commit" not in line
    with Store.read(tmp_path) as store:
        one, two = store.invocations()
    assert one["engine"]["relu"] == "numpy" and two["engine"]["relu"] == "numba"
    assert one["argv"] == ["run-experiment", "prov.toml"] and two["argv"] == []
    # 2 net replicates and 1 construction (deterministic) per width
    assert (one["computed"], one["runs"]) == (6, 3)  # computed 6; 3 of them are kept
    assert (two["computed"], two["runs"]) == (3, 3)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert [i["runs"] for i in metadata["invocations"]] == [3, 3]
    assert metadata["started_at"] == one["started_at"] and metadata["status"] == "complete"


def test_a_rerun_that_computes_nothing_is_its_own_invocation(tmp_path):
    config = parse_config(TRAINED)
    run_sweep(config, tmp_path, jobs=1)
    first = json.loads((tmp_path / "metadata.json").read_text())
    notes = _Notes()
    run_sweep(config, tmp_path, jobs=1, reporter=notes, time_limit=60.0)
    assert not any("another" in n for n in notes.notes)  # same commit, same engine
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    one, two = metadata["invocations"]
    assert one == first["invocations"][0]  # append-only: the first is as it was
    assert (two["computed"], two["runs"]) == (0, 0)
    assert one["ended_at"] <= two["started_at"] <= two["ended_at"]
    assert metadata["ended_at"] == two["ended_at"]
    assert (one["runs"], metadata["runs"]["total"]) == (6, 6)
    # the limits in force: the command line's, not the config's (none)
    assert one["settings"]["time_limit"] is None and two["settings"]["time_limit"] == 60.0
    assert set(_rows(tmp_path, "SELECT DISTINCT invocation FROM runs")) == {(1,)}


def test_an_invocation_killed_mid_sweep_reads_stopped_with_its_end_unknown(tmp_path):
    config = parse_config(TRAINED)
    run_sweep(config, tmp_path, jobs=1)
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # as kill -9 leaves it
        db.execute("UPDATE invocations SET status = 'running', ended_at = NULL")
        db.execute("DELETE FROM runs WHERE width = 8")
    db.close()
    run_sweep(config, tmp_path, jobs=1)
    one, two = json.loads((tmp_path / "metadata.json").read_text())["invocations"]
    assert one["status"] == "stopped" and one["ended_at"] is None
    assert "killed" in one["reason"]
    assert two["status"] == "complete" and (one["runs"], two["runs"]) == (3, 3)


def test_a_schema_7_store_migrates_and_never_guesses_who_computed_its_runs(
    tmp_path, undo_provenance
):
    config = parse_config(TRAINED)
    first = run_sweep(config, tmp_path, jobs=1)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        undo_provenance(db)
        db.execute("DELETE FROM runs WHERE width = 8")
    db.close()
    notes = _Notes()
    again = run_sweep(config, tmp_path, jobs=1, reporter=notes)
    old = again[again["width"] == 4]
    assert old["invocation"].isna().all() and old["engine"].isna().all()
    assert set(again.loc[again["width"] == 8, "invocation"]) == {1}  # the first recorded
    # the flag is judged again from the stored bounds, as a new run's is
    np.testing.assert_array_equal(old["degenerate"], first.loc[old.index, "degenerate"])
    assert any("3 before provenance was recorded" in n for n in notes.notes)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["runs_without_provenance"] == 3
    assert [i["runs"] for i in metadata["invocations"]] == [3]


def test_the_command_lines_limits_are_recorded_as_in_force(tmp_path):
    from typer.testing import CliRunner

    from approx.cli import app

    path = tmp_path / "prov.toml"
    path.write_text(TRAINED.replace("replicates = 2", "replicates = 1"), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, [str(path), "--out", str(out), "--time-limit", "60", "--memory-limit", "2GiB",
              "--jobs", "1"])
    assert result.exit_code == 0, result.output
    flagged = int(pd.read_csv(out / "runs.csv")["degenerate"].eq(True).sum())
    assert f"4 runs, 0 failed, {flagged} degenerate; results in" in result.output
    [(settings, executor, jobs)] = _rows(out, "SELECT settings, executor, jobs FROM invocations")
    settings = json.loads(settings)
    assert settings["time_limit"] == 60 and settings["memory_limit"] == 2 * 2**30
    assert (executor, jobs) == ("serial", 1)


def test_an_invocation_record_holds_what_was_asked_for():
    record = invocation(["x", "--jobs", "2"], {"overrides": ["seed=3"]}, time_limit=5.0,
                        memory_limit=None, executor="local", jobs=2)
    assert record["settings"] == {"overrides": ["seed=3"], "time_limit": 5.0,
                                  "memory_limit": None}
    assert {"python", "numpy", "scipy", "numba", "python-flint", "dask"} <= set(
        record["versions"])
    assert record["engine"]["tanh"] == "numpy"  # the compiled kernel has no tanh
    assert (record["executor"], record["jobs"]) == ("local", 2)
    assert record["package_commit"] is None or len(record["package_commit"]) == 40


def test_a_runs_engine_is_the_one_its_training_takes(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "numpy")
    net = {"activation": "relu", "depth": 1, "loss": "mse"}
    assert run_engine(net, 8) == "fused-numpy"
    assert run_engine({**net, "depth": 4}, 8) == "layered"  # the fused pass is 1→d→1 only
    assert run_engine({"knots": "uniform"}, 8) == ""  # no net trained
    assert run_engine(net, 8, "classification") == ""
    monkeypatch.setenv(ENV_VAR, "auto")
    want = "fused-numba" if numba_available() else "fused-numpy"
    assert run_engine(net, 8) == want and run_engine({**net, "activation": "tanh"}, 8) == (
        "fused-numpy")  # auto: numba only where it is faster


def test_changes_name_commits_and_engines_and_stay_quiet_otherwise():
    now = {"package_commit": "a" * 40, "package_version": "1"}
    assert changes(now, [("a" * 40, "1", "numba", "numba"), ("a" * 40, "1", "", "")]) is None
    line = changes(now, [("b" * 40, "1", "numpy", "numba"), (None, None, None, "numba")])
    assert "1 by another commit (bbbbbbbbbbbb)" in line
    assert "1 with another fused engine" in line and "1 before provenance" in line


# the degenerate flag: a fit no better than the best constant (max f + min f) / 2


def _dead(target, width, rng):
    """A ReLU net whose output weights are zero: the constant 0.25 (a dead net)."""
    w, c = np.ones(width), -np.linspace(-1, 1, width)
    net = MLP.from_params([w[None, :], np.zeros((width, 1))], [c, np.array([0.25])])
    return Fit(net, net.n_params)


def test_a_dead_net_is_degenerate_and_stays_ok(tmp_path, monkeypatch):
    monkeypatch.setitem(methods.METHODS, "dead", Method("dead", _dead, (), "a constant net"))
    text = TRAINED.replace('name = "net"\nkind = "trained"\nsteps = 20\nn_train = 32',
                           'name = "dead"\nkind = "dead"')
    table = run_sweep(parse_config(text), tmp_path, jobs=1)
    dead = table[table["method"] == "dead"]
    assert (dead["status"] == "ok").all() and dead["degenerate"].eq(True).all()
    # the constant 0.25 is off sin(2πx)'s midpoint 0 by 0.25: ε = 1.25 exactly
    np.testing.assert_allclose(dead["max_error"], 1.25, rtol=1e-12)
    uniform = table[table["method"] == "uniform"].set_index("width")
    # the interpolant at 4 uniform knots of sin(2πx) misses its peaks by about 1: no
    # better than the constant 0; at 8 knots it is (a real fit, not flagged)
    bound = constant_error(targets.get("sin2pi"))
    assert uniform.loc[4, "max_error"] >= bound and uniform.loc[4, "degenerate"] is True
    assert uniform.loc[8, "max_error_upper"] < bound and uniform.loc[8, "degenerate"] is False
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["runs"]["degenerate"] == len(dead) + 1 == 3


@pytest.mark.parametrize(
    ("name", "exact"),
    [("sin2pi", mpmath.mpf(1)), ("runge", (1 - mpmath.mpf(1) / 26) / 2),
     ("exp", mpmath.sinh(1)), ("abs15", mpmath.mpf(1) / 2)],
)
def test_the_constants_error_is_a_tight_lower_bound(name, exact):
    bound = constant_error(targets.get(name))
    assert bound <= exact  # rigorous: never above (max f − min f) / 2
    assert float(exact - bound) <= 1e-9 * float(exact)


def test_a_target_without_ball_form_has_no_constants_error():
    from dataclasses import replace

    assert math.isnan(constant_error(replace(targets.get("exp"), ball=None)))
