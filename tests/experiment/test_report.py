"""report.html: written by every sweep and --replot, rebuilt by --report; every run,
figure and message in it, escaped, bounded, offline; a user's report.html is kept."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from approx.cli import app
from approx.experiment import Store, parse_config, plots, report, run_sweep
from approx.experiment.folder import is_artefact
from approx.experiment.store import StoreError

runner = CliRunner()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One fake sweep with its figures and report, shared by the tests that only read it
    (or rebuild what they remove)."""
    import importlib.util
    from pathlib import Path

    from approx import methods

    spec = importlib.util.spec_from_file_location(
        "_report_fakes", Path(__file__).with_name("conftest.py"))
    fakes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fakes)  # the fake methods and config of the conftest
    FAKE, FAKE_CONFIG = fakes.FAKE, fakes.FAKE_CONFIG
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        for kind, method in FAKE.items():
            patch.setitem(methods.METHODS, kind, method)
        run_sweep(parse_config(FAKE_CONFIG), folder, jobs=1, plots=True)
    return folder


@pytest.fixture
def folder(swept, fake_methods):
    return swept


def _run_rows(html: str) -> list[str]:
    body = re.search(r'<table id="run-table".*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.DOTALL)


def test_every_sweep_writes_a_self_contained_report(folder, fake_config):
    config = parse_config(fake_config)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert html.startswith(report.MARK)
    with Store.read(folder) as store:
        table = store.table(config)
        assert "report.html" in store.written()
    rows = _run_rows(html)
    assert len(rows) == len(table) == 24
    for run_id in table["run_id"]:
        assert sum(f"<td>{run_id}</td>" in row for row in rows) == 1
    # every figure drawn to disk, inline as SVG (one <svg> element each)
    figures = sorted(p.stem for p in (folder / "plots").iterdir())
    assert sorted(re.findall(r'<figure id="figure-([^"]+)"', html)) == figures
    assert html.count("<svg ") == len(figures)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    # nothing fetched: no external script, style sheet, image or font
    assert not re.search(r'\b(src|href)\s*=\s*"(https?:)?//', html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    assert str(escape(config.text)) in html  # the config, and its provenance
    assert config.digest() in html and "<h3>Invocations</h3>" in html
    assert is_artefact("report.html", config)


def test_failed_and_degenerate_runs_are_listed_with_their_messages_escaped(folder, fake_config):
    config = parse_config(fake_config)
    with Store.read(folder) as store:
        table = store.table(config)
        invocations = store.invocations()
    table.loc[0, ["status", "message"]] = ["error", "<script>alert(1)</script> & boom"]
    table.loc[1, "degenerate"] = True
    html = report.render(config, table, {}, invocations)
    problems = re.search(r'<table id="problem-table".*?</table>', html, re.DOTALL).group(0)
    assert table.loc[0, "run_id"] in problems and table.loc[1, "run_id"] in problems
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; boom" in problems
    assert "<script>alert(1)" not in html
    assert html.count("<script>") == 1  # the report's own
    bad = (table["status"] != "ok") | table["degenerate"].eq(True)
    assert f"{int(bad.sum())} run(s) failed or are degenerate" in html
    assert problems.count("<tr>") == 1 + int(bad.sum())


def test_the_report_is_bounded(folder, fake_config, monkeypatch):
    config = parse_config(fake_config)
    with Store.read(folder) as store:
        table = store.table(config)
    table["status"] = "error"
    table["message"] = "x" * 5000
    monkeypatch.setattr(report, "ROWS", 10)
    monkeypatch.setattr(report, "FAILED", 3)
    html = report.render(config, table, {}, [])
    assert len(_run_rows(html)) == 10
    assert "The table holds the first 10 of 24 runs" in html
    problems = re.search(r'<table id="problem-table".*?</tbody>', html, re.DOTALL).group(0)
    assert problems.count("<tr>") == 1 + 3  # the head's row and three runs
    assert "x" * report.MESSAGE + " …" in html and "x" * (report.MESSAGE + 1) not in html


def test_report_dir_rebuilds_the_report_alone(folder):
    (folder / "report.html").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "plots").iterdir()}
    result = runner.invoke(app, ["--report", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"wrote {folder / 'report.html'}" in result.output.replace("\n", "")
    assert (folder / "report.html").read_text(encoding="utf-8").startswith(report.MARK)
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "plots").iterdir()} == before
    # --replot rewrites it too
    (folder / "report.html").unlink()
    plots.plot_folder(folder)
    assert (folder / "report.html").is_file()


def test_report_options_are_checked(folder, tmp_path):
    for args, words in (
        (["--report", str(folder), "--format", "pdf"], "--report DIR draws no figure file"),
        (["--report", str(folder), "--replot", str(folder)], "not both"),
        (["--replot", str(folder), "--format", "gif"], "unknown figure format 'gif'"),
        (["--replot", str(folder), "--dpi", "3"], "--dpi"),
        (["--report", str(tmp_path / "nowhere")], "nowhere"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and "Traceback" not in result.output


def test_a_report_html_of_the_users_is_never_overwritten(fake_methods, fake_config, tmp_path):
    (tmp_path / "report.html").write_text("<html>my notes</html>", encoding="utf-8")
    with pytest.raises(StoreError, match=r"report\.html was not written by a sweep"):
        run_sweep(parse_config(fake_config), tmp_path, jobs=1, plots=True)
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == "<html>my notes</html>"


CLASSES = """
name = "classes"
task = "classification"
seed = 1
widths = [4, 8]

[[datasets]]
name = "xor"
n_samples = 40
n_test = 40

[[methods]]
name = "linear"
kind = "linear"

[[methods]]
name = "fourier"
kind = "random-features"
"""


def test_a_classification_sweep_has_its_report(tmp_path):
    config = parse_config(CLASSES)
    table = run_sweep(config, tmp_path, jobs=1, plots=True)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert len(_run_rows(html)) == len(table)
    assert sorted(re.findall(r'<figure id="figure-([^"]+)"', html)) == [
        "accuracy", "regions_xor"]
    assert '<select data-column="1" data-name="dataset">' in html
    assert "held-out accuracy at the largest width" in html
