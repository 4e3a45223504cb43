"""The Dask executor on a real LocalCluster of worker processes: same table, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from approx.experiment import Remote, parse_config, run_sweep
from approx.experiment.store import TIMING_COLUMNS

distributed = pytest.importorskip("distributed")

SWEEP = """
name = "dask"
seed = 4
replicates = 3
widths = [8, 16, 32]

[[targets]]
name = "runge"

[[methods]]
name = "rff"
kind = "random-features"
n_samples = 256

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


def _numbers(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS))


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> pd.DataFrame:
    return run_sweep(parse_config(SWEEP), tmp_path_factory.mktemp("serial"), jobs=1)


@pytest.mark.slow
def test_a_local_cluster_gives_the_serial_table_bit_for_bit(tmp_path, serial):
    table = run_sweep(parse_config(SWEEP), tmp_path, jobs=2, executor="dask")
    assert (table["status"] == "ok").all() and len(table) == 3 * 3 + 3
    pd.testing.assert_frame_equal(_numbers(table), _numbers(serial))
    assert len(list((tmp_path / "models").glob("*.npz"))) == len(table)  # the parent wrote them


@pytest.mark.slow
def test_a_running_scheduler_with_jobs_capping_the_tasks_in_flight(tmp_path, serial):
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        table = run_sweep(
            parse_config(SWEEP),
            tmp_path,
            jobs=1,
            executor="dask",
            scheduler=Remote(cluster.scheduler_address, trusted=True),
        )
    pd.testing.assert_frame_equal(_numbers(table), _numbers(serial))


def test_an_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    from approx.experiment import ExecutorError, executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler"):
        run_sweep(parse_config(SWEEP), tmp_path, executor="dask",
                  scheduler=Remote("tcp://127.0.0.1:9", trusted=True))


def test_a_bare_scheduler_address_is_refused_before_anything_is_written(tmp_path):
    from approx.experiment import ExecutorError

    with pytest.raises(ExecutorError, match="runs code it sends"):
        run_sweep(parse_config(SWEEP), tmp_path / "out", executor="dask",
                  scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigkill_of_a_dask_sweep_stops_its_workers_and_a_resume_completes(
    tmp_path, serial, recorded, session
):
    config = tmp_path / "dask.toml"
    config.write_text(SWEEP.replace("n_samples = 256", "n_samples = 4096"), encoding="utf-8")
    folder = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "approx",
        str(config),
        "--out",
        str(folder),
        "--quiet",
        "--jobs",
        "2",
        "--executor",
        "dask",
    ]
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and recorded(folder) < 2:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # the sweep's process only
        proc.wait(timeout=10)
        finished = recorded(folder)
        assert 2 <= finished < 12, f"{finished} of 12 runs: not killed mid-way"
        deadline = time.monotonic() + 20
        while session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not session(proc.pid), "the local cluster's workers outlived the killed sweep"
    finally:
        for pid in session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(command, check=True, timeout=180)
    resumed = pd.read_csv(folder / "runs.csv")
    run_sweep(parse_config(config.read_text()), tmp_path / "whole", jobs=1)
    whole = pd.read_csv(tmp_path / "whole" / "runs.csv")
    assert len(resumed) == 12
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(whole))
