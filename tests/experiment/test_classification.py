"""The classification task of the runner: config, runs, store, plots and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from approx.cli import app
from approx.experiment import parse_config, plot_folder, run_sweep
from approx.experiment.expansion import count_runs, expand, sample_seed
from approx.experiment.runner import summarize
from approx.methods import classifiers as classify
from approx.models import load_model

runner = CliRunner()

TINY = """
name = "tiny-classes"
task = "classification"
seed = 4
replicates = 2
widths = [4, 16]

[[datasets]]
name = "xor"
n_samples = 60
n_test = 100

[[datasets]]
name = "blobs-3"
kind = "blobs"
classes = 3
n_samples = 60
n_test = 90

[[methods]]
name = "linear"
kind = "linear"

[[methods]]
name = "linear-features"
kind = "linear-features"

[[methods]]
name = "fourier"
kind = "random-features"

[[methods]]
name = "trained"
kind = "trained"
steps = 60
"""

# (config text, key path the one-line message must name, words it must say)
BAD = [
    (TINY.replace('kind = "linear-features"', 'kind = "chebyshev"'), "methods[1].kind",
     "does not classify"),
    (TINY.replace('name = "xor"', 'name = "xorr"'), "datasets[0].name", "did you mean 'xor'"),
    (TINY.replace('kind = "blobs"', 'kind = "blob"'), "datasets[1].kind", "unknown dataset"),
    (TINY.replace("n_samples = 60\nn_test = 100", "classes = 3"), "datasets[0]",
     "no parameter 'classes'"),
    (TINY.replace('task = "classification"', 'task = "classify"'), "task", "classification"),
    (TINY + '[[targets]]\nname = "sin2pi"\n', "targets", "not [[targets]]"),
    (TINY.replace("steps = 60", "steps = 0"), "methods[3].steps", "≥ 1"),
    (TINY.replace('name = "blobs-3"', 'name = "xor"'), "datasets[1].name", "duplicate"),
]


@pytest.mark.parametrize(("text", "key", "words"), BAD)
def test_bad_classification_configs_exit_2_with_one_line(tmp_path, text, key, words):
    path = tmp_path / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, [str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"{path}: {key}:" in lines[0] and words in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_a_classification_kind_in_an_approximation_sweep_says_which_task():
    text = '''
name = "x"
widths = [4]
[[targets]]
name = "sin2pi"
[[methods]]
name = "lin"
kind = "linear-features"
'''
    with pytest.raises(ValueError, match=r'methods\[0\]\.kind: .*task = "classification"'):
        parse_config(text)


def test_runs_share_samples_per_replicate_and_linear_has_no_width():
    config = parse_config(TINY)
    runs = list(expand(config))
    # 2 datasets × (1 width-less + 3 methods × 2 widths) × 2 replicates
    assert len(runs) == count_runs(config) == 2 * (1 + 3 * 2) * 2
    assert sorted(expand(config, widest_first=True), key=lambda r: r.run_id) == sorted(
        runs, key=lambda r: r.run_id
    )
    assert {r.width for r in runs if r.method.kind == "linear"} == {0}
    for r in runs:
        assert r.sample_seed == sample_seed(config.seed, r.target.name, r.replicate)
    assert len({r.seed for r in runs}) == len(runs)
    assert len({r.sample_seed for r in runs}) == 2 * 2


@pytest.mark.slow
def test_a_small_classification_sweep(tmp_path):
    config = parse_config(TINY)
    folder = tmp_path / "out"
    table = run_sweep(config, folder, jobs=1)
    assert len(table) == count_runs(config) and (table["status"] == "ok").all()
    assert {"dataset", "accuracy", "test_loss"} <= set(table.columns)
    assert "max_error" not in table.columns and "target" not in table.columns
    assert table.loc[table["method"] == "linear", "width"].isna().all()
    assert table["accuracy"].between(0, 1).all()
    # the collapse, through the whole pipeline: on the same samples linear features and
    # the linear model make the same predictions (both minimise a convex loss whose
    # minimisers predict alike), so their held-out accuracy agrees up to a few ties
    by = table.set_index(["dataset", "method", "replicate"])
    for dataset in ("xor", "blobs-3"):
        for r in range(2):
            lin = by.loc[(dataset, "linear", r), "accuracy"]
            feats = by.loc[(dataset, "linear-features", r), "accuracy"]
            assert np.all(np.abs(np.asarray(feats) - lin) <= 0.02)
    # every saved model is an MLP that reproduces its recorded accuracy on its samples
    row = table[(table["method"] == "fourier") & (table["width"] == 16)].iloc[0]
    spec = next(d for d in config.targets if d.name == row["dataset"])
    sample = spec.draw(sample_seed(config.seed, spec.name, int(row["replicate"])))
    model = load_model(folder / row["model_file"])
    assert classify.evaluate(model, sample.X_test, sample.y_test).accuracy == row["accuracy"]
    summary = summarize(table)
    assert list(summary.columns[:2]) == ["dataset", "method"]
    assert summary.loc[summary["method"] == "linear", "largest_width"].isna().all()
    assert (summary.loc[summary["dataset"] == "blobs-3", "accuracy"] > 0.9).all()
    paths, skipped = plot_folder(folder)
    assert not skipped
    assert {p.name for p in paths} == {"accuracy.png", "regions_xor.png", "regions_blobs-3.png"}
    # a rerun finds every run recorded: nothing is refitted
    again = run_sweep(config, folder, jobs=1)
    assert (again["finished_at"] == table["finished_at"]).all()


def test_the_cli_lists_datasets_and_classifiers():
    result = runner.invoke(app, ["--list"])
    assert result.exit_code == 0
    for name in ("dataset xor", "dataset spirals", "classifier kind linear-features",
                 "classifier kind trained"):
        assert name in " ".join(result.output.split()), name


def test_the_shipped_classification_configs_load():
    root = Path(__file__).resolve().parents[2] / "experiments"
    for name in ("features.toml", "linear_regions.toml"):
        from approx.experiment import load_config

        config = load_config(root / name)
        assert config.task.name == "classification" and count_runs(config) > 0
