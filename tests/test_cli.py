"""The ``run-experiment`` command line: exit codes, messages, folders, re-plotting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from approx import methods
from approx.cli import app
from approx.experiment import Store
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
    assert "another config (changed: widths [4, 8, 16] → [4, 8, 32])" in refused.output
    assert "--fresh" in refused.output
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


def _tree(folder: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Every entry under ``folder`` (itself included): mode, size, mtime and content."""
    found = {}
    for entry in [folder, *sorted(folder.rglob("*"))]:
        st = entry.lstat()
        data = entry.read_bytes() if entry.is_file() and not entry.is_symlink() else None
        found[str(entry.relative_to(folder))] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return found


def test_an_override_round_trip_resumes_and_a_changed_value_is_refused(tmp_path, monkeypatch):
    path = _write(tmp_path, GOOD)
    out = tmp_path / "out"
    args = [str(path), "seed=4", "widths=[4,8]", "--out", str(out), "-q", "-j", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    table = pd.read_csv(out / "runs.csv")
    assert sorted(table["width"].unique()) == [4, 8] and len(table) == 4
    snapshot = (out / "config.toml").read_text(encoding="utf-8")
    assert "#   seed=4\n#   widths=[4,8]\n" in snapshot and "seed = 4\n" in snapshot
    with Store.view(out) as store:
        (record,) = store.invocations()
    assert record["settings"]["overrides"] == ["seed=4", "widths=[4,8]"]
    assert record["runs"] == 4

    monkeypatch.setattr(methods, "fit", lambda *a, **k: pytest.fail("a finished run refitted"))
    again = runner.invoke(app, args)  # the same overrides: the same sweep, all finished
    assert again.exit_code == 0 and again.output == ""
    snap = runner.invoke(app, [str(out / "config.toml"), "--out", str(out), "-q"])
    assert snap.exit_code == 0 and snap.output == ""  # the snapshot runs the same sweep

    other = runner.invoke(app, [str(path), "seed=5", "widths=[4,8]", "--out", str(out), "-q"])
    assert other.exit_code == 2
    assert "another config (changed: seed 4 → 5)" in other.output
    assert "a default changed" not in other.output
    plain = runner.invoke(app, [str(path), "--set", "seed=4", "--out", str(out), "-q"])
    assert plain.exit_code == 2 and "changed: widths [4, 8] → [4, 8, 16]" in plain.output


def test_an_overridden_sweep_goes_to_a_folder_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, GOOD)
    result = runner.invoke(app, ["sweep.toml", "widths=[4,8]", "methods.cheb.kind=spline",
                                 "--quiet", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    folder = Path("results") / "tiny+widths=4,8,methods.cheb.kind=spline"
    assert result.output == f"note: with the overrides, the results go to a folder of their " \
        f"own: {folder}\n"
    assert set(pd.read_csv(folder / "runs.csv")["kind"]) == {"relu-interpolant", "spline"}
    assert not (tmp_path / "results" / "tiny").exists()


@pytest.mark.parametrize(("override", "key", "says"), [
    ("methods.uniform.knotz=adaptive", "methods[0].knotz", "did you mean 'knots'?"),
    ("sed=4", "sed", "did you mean 'seed'?"),
    ("methods.chebb.kind=spline", "", "did you mean 'cheb'?"),
    ("widths=[4,1]", "widths[1]", "must be an integer ≥ 2"),
])
def test_a_misspelt_override_exits_2_naming_it(tmp_path, override, key, says):
    path = _write(tmp_path, GOOD)
    result = runner.invoke(app, [str(path), override, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    _one_line_error(result.output, path, f"override {override}" + (f": {key}" if key else ""))
    assert says in result.output
    assert not (tmp_path / "out").exists()


def test_a_dry_run_leaves_the_folder_byte_identical(tmp_path):
    path = _write(tmp_path, GOOD)
    out = tmp_path / "out"
    assert runner.invoke(app, [str(path), "--out", str(out), "-q", "-j", "1"]).exit_code == 0
    (out / "models" / "sin2pi.cheb.d8.r0.npz").unlink()  # one run to refit
    before = _tree(out)
    dry = runner.invoke(app, [str(path), "--out", str(out), "--dry-run", "-j", "1"])
    assert dry.exit_code == 0, dry.output
    assert "6 runs: 0 new, 5 done, 0 failed (0 to rerun, 0 kept" in dry.output
    assert "1 to refit" in dry.output and "memory: the largest run" in dry.output
    assert "time: about" in dry.output and "nothing was written" in dry.output
    more = runner.invoke(app, [str(path), "widths=[4,8,16,32]", "--out", str(out),
                               "--dry-run"])
    assert more.exit_code == 2  # another config's runs: the sweep would be refused
    assert "would be refused" in more.output and "widths [4, 8, 16] → [4, 8, 16, 32]" in \
        more.output
    fresh = runner.invoke(app, [str(path), "widths=[4,8,16,32]", "--out", str(out),
                                "--dry-run", "--fresh"])
    assert fresh.exit_code == 0 and "8 runs: 8 new, 0 done" in fresh.output
    assert _tree(out) == before

    missing = tmp_path / "missing" / "sub"
    new = runner.invoke(app, [str(path), "--out", str(missing), "--dry-run"])
    assert new.exit_code == 0 and "does not exist yet" in new.output
    assert not (tmp_path / "missing").exists()


def test_a_dry_run_reads_a_running_sweeps_folder_without_its_lock(tmp_path):
    import fcntl

    from approx.experiment import load_config
    from approx.experiment.store import Store

    path = _write(tmp_path, GOOD)
    out = tmp_path / "out"
    assert runner.invoke(app, [str(path), "--out", str(out), "-q", "-j", "1"]).exit_code == 0
    with Store.open(out, load_config(path)) as store:  # a sweep holding the folder
        names = sorted(p.name for p in out.iterdir())
        assert "runs.sqlite-wal" in names
        dry = runner.invoke(app, [str(path), "--out", str(out), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "6 runs: 0 new, 6 done" in dry.output
        assert f"in use: process {os.getpid()} is running a sweep" in dry.output
        assert sorted(p.name for p in out.iterdir()) == names
        probe = os.open(out / "runs.lock", os.O_RDONLY)
        try:  # the sweep still holds its lock
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
        assert store.recorded()  # and its store is still usable


def test_list_with_a_config_shows_its_methods_and_runs(tmp_path):
    path = _write(tmp_path, GOOD)
    result = runner.invoke(app, [str(path), "methods.uniform.knots=adaptive", "--list"])
    assert result.exit_code == 0, result.output
    assert "sweep 'tiny' (approximation), seed 3, 6 runs" in result.output
    assert "method uniform (kind relu-interpolant): knots = 'adaptive'" in result.output
    assert "sin2pi  cheb" in result.output
    assert not (tmp_path / "results").exists()
    bad = runner.invoke(app, [str(tmp_path / "nope.toml"), "--list"])
    assert bad.exit_code == 2 and "cannot read the config" in bad.output
