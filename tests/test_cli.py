"""The ``run-experiment`` command line: exit codes, messages, folders, re-plotting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from approx import methods
from approx.cli import app
from approx.methods import Method

runner = CliRunner()

GOOD = """
name = "tiny"
seed = 3
widths = [4, 8, 16]

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "cheb"
kind = "chebyshev"
"""

# (config text, key path the one-line message must name)
BAD = [
    (GOOD.replace('name = "tiny"', ""), "name"),
    (GOOD.replace("widths = [4, 8, 16]", "widths = [4, 8, 1]"), "widths[2]"),
    (GOOD.replace("widths = [4, 8, 16]", "widths = []"), "widths"),
    (GOOD.replace("seed = 3", "seeds = 3"), "seeds"),
    (GOOD.replace('name = "sin2pi"', 'name = "sine"'), "targets[0].name"),
    (GOOD + '[[targets]]\nname = "w"\nexpr = "import os"\ndomain = [0, 1]\n', "targets[1].expr"),
    (GOOD + '[[targets]]\nname = "w"\nexpr = "x"\ndomain = [1, 1]\n', "targets[1].domain"),
    (GOOD.replace('kind = "chebyshev"', 'kind = "chebychev"'), "methods[1].kind"),
    (GOOD + '[[methods]]\nname = "m"\nkind = "relu-interpolant"\nknots = 3\n', "methods[2].knots"),
    (GOOD + '[[methods]]\nname = "m"\nkind = "relu-interpolant"\nnots = "a"\n', "methods[2].nots"),
    (GOOD.replace('name = "cheb"', 'name = "uniform"'), "methods[1].name"),
    ("name = [", ""),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(output: str, path: Path, key: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"error: {path}: {key}" if key else f"error: {path}: "), output
    assert "Traceback" not in output


@pytest.mark.parametrize(("text", "key"), BAD, ids=[key or "toml" for _, key in BAD])
def test_bad_config_exits_2_naming_the_key(tmp_path, text, key):
    path = _write(tmp_path, text)
    result = runner.invoke(app, [str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    _one_line_error(result.output, path, key)
    assert not (tmp_path / "out").exists()  # validated before anything runs


@pytest.mark.parametrize(("text", "key"), [BAD[1], BAD[8], BAD[-1]], ids=["width", "param", "toml"])
def test_bad_config_in_a_subprocess(tmp_path, text, key):
    path = _write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "approx", str(path)], capture_output=True, text=True, cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    _one_line_error(proc.stderr, path, key)


def test_usage_errors_exit_2(tmp_path):
    missing = runner.invoke(app, [str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "cannot read the config" in missing.output
    nothing = runner.invoke(app, [])
    assert nothing.exit_code == 2 and "CONFIG" in nothing.output
    not_results = runner.invoke(app, ["--replot", str(tmp_path)])
    assert not_results.exit_code == 2 and "not a results folder" in not_results.output
    for result in (missing, nothing, not_results):
        assert "Traceback" not in result.output


def test_list_shows_targets_and_kinds_with_parameters():
    result = runner.invoke(app, ["--list"])
    assert result.exit_code == 0
    assert "sin2pi" in result.output and "relu-interpolant" in result.output
    assert "knots" in result.output and "'uniform'" in result.output


def test_run_writes_the_results_folder_then_replots_without_fitting(tmp_path, monkeypatch):
    path = _write(tmp_path, GOOD)
    out = tmp_path / "out"
    result = runner.invoke(app, [str(path), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "rate" in result.output and "6 runs, 0 failed" in result.output
    for name in ("runs.sqlite", "runs.csv", "summary.csv", "metadata.json", "config.toml",
                 "plots/convergence.png", "plots/fits_sin2pi.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "models").glob("*.npz"))) == 6

    again = runner.invoke(app, [str(path), "--out", str(out), "--quiet"])  # all finished
    assert again.exit_code == 0 and again.output == ""

    monkeypatch.setattr(methods, "fit", lambda *a, **k: pytest.fail("replot refitted"))
    (out / "plots" / "convergence.png").unlink()
    replot = runner.invoke(app, ["--replot", str(out)])
    assert replot.exit_code == 0, replot.output
    assert (out / "plots" / "convergence.png").is_file()


def test_default_folder_is_results_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, GOOD)
    result = runner.invoke(app, ["sweep.toml", "--quiet", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "tiny" / "runs.csv").is_file()


def test_changed_config_is_refused_then_fresh_starts_over(tmp_path):
    out = tmp_path / "out"
    runner.invoke(app, [str(_write(tmp_path, GOOD)), "--out", str(out), "-q", "-j", "1"])
    changed = _write(tmp_path, GOOD.replace("[4, 8, 16]", "[4, 8, 32]"))
    refused = runner.invoke(app, [str(changed), "--out", str(out), "-q"])
    assert refused.exit_code == 2
    assert "another config (changed: widths)" in refused.output and "--fresh" in refused.output
    fresh = runner.invoke(app, [str(changed), "--out", str(out), "-q", "-j", "1", "--fresh"])
    assert fresh.exit_code == 0, fresh.output
    assert sorted(pd.read_csv(out / "runs.csv")["width"].unique()) == [4, 8, 32]


def test_a_failed_run_gives_exit_1_and_the_sweep_goes_on(tmp_path, monkeypatch):
    def fail(target, width, rng):
        raise ArithmeticError("no luck")

    monkeypatch.setitem(methods.METHODS, "failing", Method("failing", fail, (), "always fails"))
    path = _write(tmp_path, GOOD + '[[methods]]\nname = "bad"\nkind = "failing"\n')
    result = runner.invoke(app, [str(path), "--out", str(tmp_path / "out"), "-j", "1"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    table = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert (table.loc[table["method"] == "bad", "status"] == "error").all()
    assert (table.loc[table["method"] != "bad", "status"] == "ok").all()
    assert set(table.loc[table["method"] == "bad", "message"]) == {"ArithmeticError: no luck"}


def test_jobs_1_and_jobs_2_give_identical_tables(tmp_path):
    # sizes where a threaded BLAS would change the last bits of the least squares
    config = _write(tmp_path, GOOD.replace("[4, 8, 16]", "[64, 256]").replace(
        'kind = "chebyshev"', 'kind = "random-features"\nn_samples = 2048'
    ).replace("seed = 3", "seed = 3\nreplicates = 2"))
    tables = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        subprocess.run([sys.executable, "-m", "approx", str(config), "--out", str(out), "-q",
                        "--jobs", jobs], check=True, timeout=120)
        tables.append(pd.read_csv(out / "runs.csv").drop(
            columns=["fit_seconds", "eval_seconds", "finished_at"]))
    assert len(tables[0]) == 2 * (1 + 2)  # the deterministic method runs once per width
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_a_resume_retries_transient_failures_and_says_how_many(tmp_path, monkeypatch):
    calls = []

    def flaky(target, width, rng):
        calls.append(width)
        if calls.count(width) == 1 and width == 8:
            raise ConnectionError("the file server went away")
        return methods.get("chebyshev").fit(target, width, rng)

    monkeypatch.setitem(methods.METHODS, "flaky", Method("flaky", flaky, (), "fails once"))
    path = _write(tmp_path, GOOD + '[[methods]]\nname = "f"\nkind = "flaky"\n')
    args = [str(path), "--out", str(tmp_path / "out"), "-q", "-j", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 1 and first.output == ""
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert second.output == (
        "note: retrying 1 run(s) that failed for a transient reason (an error or a killed "
        "worker)\n"
    )
    assert calls == [4, 8, 16, 8]


def test_jobs_above_the_cores_are_lowered_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    path = _write(tmp_path, GOOD)
    result = runner.invoke(app, [str(path), "--out", str(tmp_path / "out"), "-q", "-j", "1000"])
    assert result.exit_code == 0, result.output
    assert result.output == "note: --jobs 1000 lowered to 1, the number of CPU cores\n"
