"""The results folder: store of record, exports, snapshot, metadata, resume rules."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from approx import methods
from approx.experiment import Store, StoreError, parse_config, run_sweep
from approx.experiment.store import DB_NAME, TIMING_COLUMNS
from approx.models import load_model
from approx.nn.engine import fused_backend


def test_folder_contents(fake_methods, fake_config, tmp_path):
    config = parse_config(fake_config, "fake.toml")
    table = run_sweep(config, tmp_path, jobs=1)
    assert (tmp_path / "config.toml").read_text() == fake_config
    runs = pd.read_csv(tmp_path / "runs.csv")
    for column in (
        "target", "method", "kind", "width", "replicate", "seed", "n_params", "max_error",
        "max_error_at", "l2_error", "fit_seconds", "status", "message", "param_scale",
    ):
        assert column in runs.columns
    assert len(runs) == len(table)
    assert runs["seed"].tolist() == table["seed"].tolist()  # 63-bit seeds survive the CSV
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"target", "method", "rate", "max_error", "largest_width"} <= set(summary.columns)
    assert len(summary) == 4

    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["root_seed"] == 7
    assert metadata["status"] == "complete"
    degenerate = int(table["degenerate"].eq(True).sum())  # no better than a constant
    assert metadata["runs"] == {"total": 24, "ok": 24, "degenerate": degenerate}
    assert metadata["started_at"] <= metadata["ended_at"]
    [invocation] = metadata["invocations"]
    assert invocation["computed"] == invocation["runs"] == 24
    packages = {"python", "numpy", "scipy", "numba", "python-flint", "dask"}
    assert set(invocation["versions"]) >= packages
    assert invocation["engine"]["relu"] == fused_backend()
    assert invocation["engine"]["tanh"] == "numpy"
    assert {"platform", "host", "package_commit", "package_dirty"} <= set(invocation)

    model = load_model(tmp_path / table["model_file"][0])  # allow_pickle=False inside
    assert model.n_params == table["n_params"][0]


def test_store_holds_runs_and_histories(fake_methods, fake_config, tmp_path):
    config = parse_config(fake_config)
    table = run_sweep(config, tmp_path, jobs=1)
    with Store.read(tmp_path) as store:
        histories = store.histories()
        stored = store.table(store.config())
    assert set(histories) == set(table["run_id"])
    np.testing.assert_allclose(histories[table["run_id"][0]], np.geomspace(1, 1e-3, 5) / 3,
                               rtol=0, atol=0)
    pd.testing.assert_frame_equal(stored, table)
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        statuses = db.execute("SELECT DISTINCT typeof(status), status FROM runs").fetchall()
    assert tables == {"meta", "runs", "histories", "files", "invocations"}
    assert statuses == [("text", "ok")]  # the enum is stored as its plain string


def test_resume_skips_finished_runs(fake_methods, fake_config, tmp_path, monkeypatch):
    config = parse_config(fake_config)
    first = run_sweep(config, tmp_path, jobs=1)
    with sqlite3.connect(tmp_path / DB_NAME) as db:  # as if killed before these finished
        db.execute("DELETE FROM histories WHERE run_id LIKE 'bump.%'")
        db.execute("DELETE FROM runs WHERE target = 'bump'")
    fitted = []
    fake = fake_methods["fake-relu"]

    def counting(target, width, rng, **params):
        fitted.append((target.name, width))
        return fake.fit(target, width, rng, **params)

    monkeypatch.setitem(methods.METHODS, "fake-relu", replace(fake, fit=counting))
    second = run_sweep(config, tmp_path, jobs=1)
    assert len(fitted) == 12 and {name for name, _ in fitted} == {"bump"}
    drop = list(TIMING_COLUMNS)
    pd.testing.assert_frame_equal(first.drop(columns=drop), second.drop(columns=drop))


def test_changed_config_is_refused_unless_fresh(fake_methods, fake_config, tmp_path):
    run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    changed = parse_config(fake_config.replace("seed = 7", "seed = 8"))
    with pytest.raises(StoreError, match=r"another config \(changed: seed 7 → 8\).*--fresh"):
        run_sweep(changed, tmp_path, jobs=1)
    table = run_sweep(changed, tmp_path, jobs=1, fresh=True)
    assert len(table) == 24
    assert json.loads((tmp_path / "metadata.json").read_text())["root_seed"] == 8


def test_read_refuses_a_folder_without_store(tmp_path):
    with pytest.raises(StoreError, match="not a results folder"):
        Store.read(tmp_path)


KILLED = """
name = "killed"
seed = 5
replicates = 8
widths = [16, 24]

[[targets]]
name = "tanh10"

[[methods]]
name = "rff"
kind = "random-features"
features = "fourier"
n_samples = 512
"""


def test_sigkill_mid_sweep_then_resume_equals_an_uninterrupted_run(tmp_path, recorded, session):
    config_path = tmp_path / "killed.toml"
    config_path.write_text(KILLED, encoding="utf-8")
    total = 2 * 8
    folder = tmp_path / "interrupted"
    command = [sys.executable, "-m", "approx", str(config_path), "--out", str(folder), "--quiet",
               "--jobs", "2"]
    # a session of its own, to find the worker processes after their parent is killed
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and recorded(folder) < 2:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # the sweep's process only, as `kill -9 PID` does
        proc.wait(timeout=10)
        finished = recorded(folder)
        assert 2 <= finished < total, f"{finished} of {total} runs: not killed mid-way"
        # runs.csv, if the throttle wrote it mid-sweep, holds runs recorded then: never all
        csv = folder / "runs.csv"
        assert not csv.exists() or len(pd.read_csv(csv)) < total
        # orphaned workers notice their parent is gone and exit
        deadline = time.monotonic() + 10
        while session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not session(proc.pid), "workers outlived the killed sweep"
    finally:
        for pid in session(proc.pid):
            os.kill(pid, signal.SIGKILL)

    subprocess.run(command, check=True, timeout=120)
    resumed = pd.read_csv(folder / "runs.csv")
    assert len(resumed) == total
    assert not resumed.duplicated(["target", "method", "width", "replicate"]).any()
    assert not list((folder / "models").glob("*.tmp.npz"))

    run_sweep(parse_config(KILLED), tmp_path / "whole", jobs=1)
    whole = pd.read_csv(tmp_path / "whole" / "runs.csv")
    drop = list(TIMING_COLUMNS)
    pd.testing.assert_frame_equal(resumed.drop(columns=drop), whole.drop(columns=drop))


SCALES = """
name = "scales"
seed = 2
widths = [4, 8]

[[targets]]
name = "sin2pi"

[[targets]]
name = "triple-exp"
expr = "3*exp(x)"
domain = [0.0, 1.0]

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "cheb"
kind = "chebyshev"
"""


def test_the_worker_records_target_scale_and_the_store_only_reads_it(tmp_path, monkeypatch):
    from approx.certify import targets as certified

    config = parse_config(SCALES)
    table = run_sweep(config, tmp_path, jobs=1)
    scales = table.groupby("target")["target_scale"].agg(["min", "max"])
    assert (scales["min"] == scales["max"]).all()  # one number per target
    assert scales.loc["sin2pi", "max"] == 1.0
    np.testing.assert_allclose(scales.loc["triple-exp", "max"], 3 * np.e, rtol=1e-12)

    def refuse(target):
        raise AssertionError("the store computed a target's scale")

    monkeypatch.setattr(certified, "scale", refuse)
    with Store.read(tmp_path) as store:
        pd.testing.assert_frame_equal(store.table(store.config()), table)


def test_a_store_from_before_target_scale_migrates_resumes_and_gives_the_same_table(
    tmp_path, undo_provenance
):
    from approx.experiment.store import SCHEMA_VERSION

    config = parse_config(SCALES)
    first = run_sweep(config, tmp_path, jobs=1)
    # the store as the code before the column wrote it (schema 4: the scale was computed
    # on every read), killed before the runs of one target finished
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        undo_provenance(db)  # (schema 7)
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")  # (schema 6)
        db.execute("ALTER TABLE runs DROP COLUMN target_scale")
        for column in ("sha256", "size", "inode", "mtime_ns"):  # files' identities: 6
            db.execute(f"ALTER TABLE files DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 4")
        db.execute("DELETE FROM histories WHERE run_id LIKE 'sin2pi.%'")
        db.execute("DELETE FROM runs WHERE target = 'sin2pi'")
    db.close()
    with Store.read(tmp_path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        migrated = store.table(store.config())
    kept = first[first["target"] != "sin2pi"].reset_index(drop=True)
    # the migration filled the scale once (why an old run was not tight is not known)
    known = kept["max_error_tight"].astype(bool)
    assert (migrated.loc[known, "tight_reason"] == "").all()
    assert migrated.loc[~known, "tight_reason"].isna().all()
    # who computed an older run is not known (never guessed); degenerate is judged again
    unknown = ["invocation", "host", "engine"]
    assert migrated[unknown].isna().all().all()
    reasons = ["tight_reason", *unknown]
    pd.testing.assert_frame_equal(migrated.drop(columns=reasons), kept.drop(columns=reasons))
    again = run_sweep(config, tmp_path, jobs=1)
    drop = [*TIMING_COLUMNS, *reasons]
    pd.testing.assert_frame_equal(again.drop(columns=drop), first.drop(columns=drop))
    assert (again["target_scale"] == first["target_scale"]).all()


def test_a_classification_store_migrates_without_scales(tmp_path, undo_provenance):
    config = parse_config(
        'name = "c"\ntask = "classification"\nwidths = [4]\n'
        '[[datasets]]\nname = "blobs"\nn_samples = 40\nn_test = 40\n'
        '[[methods]]\nname = "linear"\nkind = "linear"\n'
    )
    first = run_sweep(config, tmp_path, jobs=1)
    assert "target_scale" not in first
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        undo_provenance(db)
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")
        db.execute("ALTER TABLE runs DROP COLUMN target_scale")
        for column in ("sha256", "size", "inode", "mtime_ns"):  # files' identities: 6
            db.execute(f"ALTER TABLE files DROP COLUMN {column}")
        db.execute("PRAGMA user_version = 4")
    db.close()
    again = run_sweep(config, tmp_path, jobs=1)
    assert again[["invocation", "host", "engine"]].isna().all().all()  # not known
    drop = [*TIMING_COLUMNS, "engine"]
    pd.testing.assert_frame_equal(again.drop(columns=drop), first.drop(columns=drop))


def test_a_store_from_before_tight_reason_is_judged_again_by_the_rule(tmp_path, undo_provenance):
    from approx.experiment.store import SCHEMA_VERSION

    config = parse_config(SCALES)
    first = run_sweep(config, tmp_path, jobs=1)
    assert set(first["tight_reason"]) <= {"", "rounding", "work cap"}
    assert (first["max_error_tight"] == (first["tight_reason"] == "")).all()
    # the store as the code before the column wrote it (schema 6), whose looser tolerance
    # called tight a gap of a few rounding units of max |f|: rows 0 and 1 show both kinds
    ids = list(first["run_id"])
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        undo_provenance(db)
        db.execute("ALTER TABLE runs DROP COLUMN tight_reason")
        db.execute("PRAGMA user_version = 6")
        db.execute("UPDATE runs SET max_error_tight = 1")
        numbers = "UPDATE runs SET max_error = 1.0, max_error_upper = ? WHERE run_id = ?"
        db.execute(numbers, (1.0 + 5e-10, ids[0]))
        db.execute(numbers, (1.0 + 3e-9, ids[1]))
        db.execute("UPDATE runs SET max_error_tight = 0 WHERE run_id = ?", (ids[2],))
    db.close()
    with Store.read(tmp_path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        migrated = store.table(store.config()).set_index("run_id")
    gap = migrated["max_error_upper"] - migrated["max_error"]
    meets = gap <= 1e-9 * migrated["max_error"]
    old_tight = migrated.index != ids[2]
    assert migrated.loc[ids[0], "max_error_tight"] and migrated.loc[ids[0], "tight_reason"] == ""
    assert not migrated.loc[ids[1], "max_error_tight"]
    assert migrated.loc[ids[1], "tight_reason"] == "rounding"
    assert pd.isna(migrated.loc[ids[2], "tight_reason"])
    assert not migrated.loc[ids[2], "max_error_tight"]
    # every row formerly tight now follows the rule, and says so
    np.testing.assert_array_equal(migrated.loc[old_tight, "max_error_tight"], meets[old_tight])
    np.testing.assert_array_equal(
        migrated.loc[old_tight, "tight_reason"], np.where(meets[old_tight], "", "rounding")
    )


def test_a_view_of_a_store_being_created_migrates_the_copy_it_took(tmp_path, monkeypatch):
    # a sweep creates its store one committed migration step at a time: a reader may read
    # an early version, then copy the store after later steps landed; the copy's own
    # version decides what is migrated (else a step runs twice: "duplicate column")
    from approx.experiment import store as stores

    config = parse_config(
        'name = "v"\nwidths = [4]\n[[targets]]\nname = "sin2pi"\n'
        '[[methods]]\nname = "u"\nkind = "relu-interpolant"\n')
    run_sweep(config, tmp_path, jobs=1, plots=False)
    real = stores._schema_version
    calls = []

    def stale_first(db, path):
        calls.append(path)
        return 3 if len(calls) == 1 else real(db, path)

    monkeypatch.setattr(stores, "_schema_version", stale_first)
    with Store.view(tmp_path) as store:
        assert len(store.table(store.config())) == 1
    assert len(calls) == 2


def test_a_run_is_recorded_in_the_commit_of_its_model_file(fake_methods, fake_config, tmp_path,
                                                          monkeypatch):
    commits, missing = [], []
    record = Store.record

    def counted(self, result):
        statements = []
        self.db.set_trace_callback(statements.append)
        try:
            record(self, result)
        finally:
            self.db.set_trace_callback(None)
        commits.append(sum(s.strip().upper() == "COMMIT" for s in statements))
        # whatever the store holds after the last commit: the run and its file, together
        found = self.db.execute("SELECT model_file FROM runs WHERE run_id = ?",
                                (result.run.run_id,)).fetchone()
        if found is None or found[0] not in self.written():
            missing.append(result.run.run_id)

    monkeypatch.setattr(Store, "record", counted)
    table = run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    # the temporary's name first (before the file exists), then the file with its run
    assert len(commits) == len(table) and set(commits) == {2}
    assert not missing


def test_a_model_file_whose_run_cannot_be_recorded_stays_the_sweeps(fake_methods, fake_config,
                                                                    tmp_path, monkeypatch):
    # the run's row fails in the transaction that records its model file: the file is
    # recorded all the same, so the resumed sweep replaces it instead of refusing it
    insert = Store._insert
    failed = []

    def broken(self, result):
        if not failed:
            failed.append(result.run.run_id)
            raise sqlite3.OperationalError("disk I/O error")
        insert(self, result)

    monkeypatch.setattr(Store, "_insert", broken)
    with pytest.raises(sqlite3.OperationalError):
        run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    with Store.view(tmp_path) as store:
        assert f"models/{failed[0]}.npz" in store.written()
    monkeypatch.setattr(Store, "_insert", insert)
    table = run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    assert failed[0] in set(table["run_id"]) and (table["status"] == "ok").all()
