"""The runner: every run recorded once, failures kept, results independent of position."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from approx import methods
from approx.experiment import parse_config, run_sweep, summarize
from approx.experiment.store import TIMING_COLUMNS
from approx.methods import Fit, Method
from approx.nn import MLP


def _numbers(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS))


def test_sweep_runs_the_product_once(fake_methods, fake_config, tmp_path):
    table = run_sweep(parse_config(fake_config), tmp_path, jobs=1)
    assert len(table) == 2 * 2 * 3 * 2
    assert not table.duplicated(["target", "method", "width", "replicate"]).any()
    assert (table["status"] == "ok").all()
    assert table["seed"].nunique() == len(table)
    assert list(table["target"].unique()) == ["sin2pi", "bump"]  # config order
    assert set(table["param_scale"]) == {1.0, 2.0}
    assert (table["info_steps"] == 5).all()
    assert np.isfinite(table["max_error"]).all() and (table["max_error"] > 0).all()
    assert all((tmp_path / f).is_file() for f in table["model_file"])


def test_same_config_same_numbers_and_new_widths_change_nothing(
    fake_methods, fake_config, tmp_path
):
    config = parse_config(fake_config)
    first = run_sweep(config, tmp_path / "a", jobs=1)
    again = run_sweep(config, tmp_path / "b", jobs=1)
    pd.testing.assert_frame_equal(_numbers(first), _numbers(again))

    wider = run_sweep(
        parse_config(fake_config.replace("[3, 6, 12]", "[3, 5, 6, 12]")), tmp_path / "c", jobs=1
    )
    common = _numbers(wider)[wider["width"] != 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(common, _numbers(first))


def test_failed_runs_are_recorded_and_the_sweep_goes_on(fake_methods, tmp_path, monkeypatch):
    def nan_model(target, width, rng):
        net = MLP.from_params([np.full((1, width), np.nan), np.ones((width, 1))])
        return Fit(net, net.n_params)

    monkeypatch.setitem(methods.METHODS, "fake-nan", Method("fake-nan", nan_model, (), "nan"))
    config = parse_config(
        """
name = "f"
widths = [3, 4, 5, 6]
[[targets]]
name = "exp"
[[methods]]
name = "broken"
kind = "fake-broken"
[[methods]]
name = "nan"
kind = "fake-nan"
"""
    )
    table = run_sweep(config, tmp_path, jobs=1).set_index(["method", "width"])
    assert table.loc[("broken", 4), "status"] == "error"
    assert table.loc[("broken", 4), "message"] == "RuntimeError: simulated failure"
    assert table.loc[("broken", 5), "status"] == "diverged"
    assert table.loc[("broken", 5), "message"] == "loss became non-finite"
    assert (table.loc["nan", "status"] == "non-finite").all()
    assert (table.loc[[("broken", 3), ("broken", 6)], "status"] == "ok").all()


def test_summary_rate_is_the_log_log_slope():
    widths = np.array([4, 8, 16, 32, 4, 8, 16, 32])
    table = pd.DataFrame(
        {
            "target": "t",
            "method": ["a"] * 4 + ["b"] * 4,
            "kind": "k",
            "width": widths,
            "max_error": np.r_[3.0 * widths[:4] ** -2.0, 0.5 * widths[4:] ** -1.0],
            "status": ["ok"] * 7 + ["error"],
        }
    )
    summary = summarize(table).set_index("method")
    assert summary.loc["a", "rate"] == pytest.approx(-2.0, abs=1e-12)
    assert summary.loc["b", "rate"] == pytest.approx(-1.0, abs=1e-12)
    assert summary.loc["a", "largest_width"] == 32
    assert summary.loc["b", "largest_width"] == 16
    assert summary.loc["a", "max_error"] == pytest.approx(3.0 / 32**2, rel=1e-12)
    assert summary.loc["b", "failed"] == 1


REAL = """
name = "real"
seed = 11
replicates = 2
widths = [4, 8, 16, 32]

[[targets]]
name = "runge"

[[methods]]
name = "rff"
kind = "random-features"
features = "fourier"
n_samples = 256

[[methods]]
name = "rf-relu"
kind = "random-features"
features = "relu"
n_samples = 256

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


def test_results_do_not_depend_on_the_number_of_processes(tmp_path):
    config = parse_config(REAL)
    serial = run_sweep(config, tmp_path / "serial", jobs=1)
    pooled = run_sweep(config, tmp_path / "pooled", jobs=2)
    assert (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(_numbers(serial), _numbers(pooled))


@pytest.mark.slow  # (a pool of two spawned workers: about 4 s on a shared machine)
def test_a_pool_sweep_does_not_wait_for_its_workers_to_exit_but_they_do(tmp_path, monkeypatch):
    import concurrent.futures
    import multiprocessing
    import time

    waits = []
    shutdown = concurrent.futures.ProcessPoolExecutor.shutdown

    def noted(self, wait=True, **kwargs):
        waits.append(wait)
        return shutdown(self, wait=wait, **kwargs)

    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "shutdown", noted)
    table = run_sweep(parse_config(REAL), tmp_path, jobs=2, plots=False)
    assert (table["status"] == "ok").all()
    assert waits == [False]  # every run in: the sweep went on while its workers exited
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()  # and none of them outlived it
