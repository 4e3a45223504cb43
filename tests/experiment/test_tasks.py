"""The task table: one record per task, covering everything that differs between them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pandas as pd
import pytest

from approx import methods
from approx.experiment import parse_config, plot_folder, run_sweep
from approx.experiment.expansion import expand
from approx.experiment.measure import Result
from approx.experiment.plots import FIGURES
from approx.experiment.store import Store
from approx.experiment.summary import SUMMARIES, summarize_approximation, summarize_classification
from approx.experiment.tasks import DEFAULT_TASK, TASKS, of_table
from approx.methods import classifiers

CONFIGS = {
    "approximation": 'name = "a"\nwidths = [4, 8]\n[[targets]]\nname = "sin2pi"\n'
                     '[[methods]]\nname = "m"\nkind = "chebyshev"\n',
    "classification": 'name = "c"\ntask = "classification"\nwidths = [4]\n'
                      '[[datasets]]\nname = "blobs"\nn_samples = 40\nn_test = 40\n'
                      '[[methods]]\nname = "lin"\nkind = "linear"\n'
                      '[[methods]]\nname = "feat"\nkind = "linear-features"\n',
}


def test_the_table_covers_both_tasks():
    assert set(TASKS) == {"approximation", "classification"} == set(CONFIGS)
    assert DEFAULT_TASK == "approximation"
    assert TASKS["approximation"].table() is methods.METHODS
    assert TASKS["classification"].table() is classifiers.CLASSIFIERS
    for key in ("subjects", "subject"):
        assert len({getattr(t, key) for t in TASKS.values()}) == len(TASKS)  # never shared


@pytest.mark.parametrize("name", list(TASKS))
def test_a_task_finds_every_kind_of_its_table_and_no_other(name):
    task = TASKS[name]
    for kind, method in task.table().items():
        assert task.find(kind) is method
    others = {k for t in TASKS.values() if t is not task for k in t.table()} - set(task.table())
    for kind in others:
        with pytest.raises(ValueError, match=repr(kind)):
            task.find(kind)


def test_result_columns_are_the_tasks_own_and_the_stores(tmp_path):
    own = [c for t in TASKS.values() for c in t.columns]
    assert len(own) == len(set(own))  # no column belongs to two tasks
    assert set(own) <= {f.name for f in fields(Result)}
    config = parse_config(CONFIGS["approximation"])
    run_sweep(config, tmp_path, jobs=1)
    with Store.read(tmp_path) as store:
        stored = {row[1] for row in store.db.execute("PRAGMA table_info(runs)")}
    assert set(own) <= stored


@pytest.mark.parametrize("name", list(TASKS))
def test_a_sweep_of_each_task_is_the_tasks_in_every_part(name, tmp_path):
    task = TASKS[name]
    config = parse_config(CONFIGS[name])
    assert config.task is task
    table = run_sweep(config, tmp_path, jobs=1)
    assert of_table(table) is task and task.subject in table
    other = {c for t in TASKS.values() if t is not task for c in t.columns}
    assert set(task.columns) <= set(table.columns) and not other & set(table.columns)
    assert all(run.task == name for run in expand(config))
    paths, _ = plot_folder(tmp_path)
    assert paths and {p.name for p in paths} <= task.figure_names(t.name for t in config.targets)
    want = {"approximation": summarize_approximation,
            "classification": summarize_classification}[name](table)
    pd.testing.assert_frame_equal(SUMMARIES[name](table), want)


def test_every_task_has_a_summary_and_figures():
    assert set(SUMMARIES) == set(TASKS) == set(FIGURES)


def test_a_worker_imports_neither_pandas_nor_matplotlib():
    code = ("import sys, approx.experiment.worker; "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
