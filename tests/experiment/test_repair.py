"""Failures: transient ones retried, final ones kept, stalled training, limits, dead workers."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from approx import methods
from approx.core import deadline
from approx.experiment import ResourceError, parse_config, run_sweep
from approx.experiment import store as store_module
from approx.experiment.expansion import count_runs, expand
from approx.experiment.resources import format_size, local_workers, parse_size
from approx.experiment.worker import hard_limit
from approx.methods import Method

CHEB = """
name = "repair"
widths = [4, 8, 16]

[[targets]]
name = "runge"

[[methods]]
name = "m"
kind = "{kind}"
"""


class _Recorder:
    """A runner Reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.started: tuple[int, int] | None = None
        self.results = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def start(self, total: int, done: int) -> None:
        self.started = (total, done)

    def advance(self, result) -> None:
        self.results.append(result)


def _register(monkeypatch, kind: str, fit) -> list[int]:
    """Register a method kind whose fit is ``fit(width, calls)``; return the widths fitted."""
    calls: list[int] = []

    def wrapped(target, width, rng):
        calls.append(width)
        return fit(target, width, calls)

    monkeypatch.setitem(methods.METHODS, kind, Method(kind, wrapped, (), "test-only"))
    return calls


def _chebyshev(target, width):
    return methods.get("chebyshev").fit(target, width, np.random.default_rng(0))


def test_transient_failures_are_retried_on_resume(tmp_path, monkeypatch):
    def flaky(target, width, calls):
        if width == 8 and calls.count(8) == 1:
            raise OSError("network file system went away")
        return _chebyshev(target, width)

    calls = _register(monkeypatch, "flaky", flaky)
    config = parse_config(CHEB.format(kind="flaky"))
    first = run_sweep(config, tmp_path, jobs=1).set_index("width")
    assert first.loc[8, "status"] == "error" and "went away" in first.loc[8, "message"]
    reporter = _Recorder()
    second = run_sweep(config, tmp_path, jobs=1, reporter=reporter).set_index("width")
    assert calls == [4, 8, 16, 8]  # only the failed run again
    assert (second["status"] == "ok").all()
    assert reporter.started == (3, 2)
    assert reporter.notes == [
        "retrying 1 run(s) that failed for a transient reason (an error or a killed worker)"
    ]


def test_final_failures_are_retried_only_when_asked(tmp_path, monkeypatch):
    def diverging(target, width, calls):
        fit = _chebyshev(target, width)
        if width == 16:
            fit.status, fit.message = "diverged", "loss became non-finite"
        return fit

    calls = _register(monkeypatch, "diverging", diverging)
    config = parse_config(CHEB.format(kind="diverging"))
    run_sweep(config, tmp_path, jobs=1)
    run_sweep(config, tmp_path, jobs=1)
    assert calls == [4, 8, 16]
    reporter = _Recorder()
    table = run_sweep(config, tmp_path, jobs=1, retry_failed=True, reporter=reporter)
    assert calls == [4, 8, 16, 16]
    assert table.set_index("width").loc[16, "status"] == "diverged"
    assert reporter.notes == ["retrying 1 run(s) that failed (--retry-failed)"]


def test_a_lost_model_file_is_refitted(tmp_path, monkeypatch):
    calls = _register(monkeypatch, "cheb", lambda t, w, c: _chebyshev(t, w))
    config = parse_config(CHEB.format(kind="cheb"))
    first = run_sweep(config, tmp_path, jobs=1)
    (tmp_path / first["model_file"][1]).unlink()
    again = run_sweep(config, tmp_path, jobs=1)
    assert calls == [4, 8, 16, 8]
    assert (tmp_path / again["model_file"][1]).is_file()
    pd.testing.assert_frame_equal(
        first.drop(columns=list(store_module.TIMING_COLUMNS)),
        again.drop(columns=list(store_module.TIMING_COLUMNS)),
    )


def test_a_failed_save_is_a_transient_error(tmp_path, monkeypatch):
    config = parse_config(CHEB.format(kind="chebyshev"))

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(store_module.np, "savez", full)
        table = run_sweep(config, tmp_path, jobs=1)
    assert (table["status"] == "error").all()
    assert table["message"].str.startswith("cannot save the model").all()
    assert table["model_file"].isna().all()
    table = run_sweep(config, tmp_path, jobs=1)
    assert (table["status"] == "ok").all()
    assert not list((tmp_path / "models").glob("*.tmp.npz"))


STALLED = """
name = "stalled"
widths = [8]

[[targets]]
name = "sin2pi"

[[methods]]
name = "huge-lr"
kind = "trained"
optimizer = "adam"
steps = 40
n_train = 64
lr = 1e6

[[methods]]
name = "default-lr"
kind = "trained"
optimizer = "adam"
steps = 40
n_train = 64
"""


def test_training_that_never_lowers_its_loss_is_stalled(tmp_path):
    table = run_sweep(parse_config(STALLED), tmp_path, jobs=1).set_index("method")
    assert table.loc["huge-lr", "status"] == "stalled"
    loss, initial = table.loc["huge-lr", ["info_loss", "info_initial_loss"]]
    assert loss > 0.99 * initial
    assert f"{loss:.4g}" in table.loc["huge-lr", "message"]
    assert f"{initial:.4g}" in table.loc["huge-lr", "message"]
    assert table.loc["default-lr", "status"] == "ok"
    assert (
        table.loc["default-lr", "info_loss"] < 0.99 * table.loc["default-lr", "info_initial_loss"]
    )


def test_a_deadline_checked_by_the_fit_gives_timeout(tmp_path, monkeypatch):
    def slow(target, width, calls):
        if width == 16:
            while True:  # a long loop that checks its deadline, as training loops do
                deadline.check()
                time.sleep(0.01)
        return _chebyshev(target, width)

    _register(monkeypatch, "slow", slow)
    text = CHEB.format(kind="slow").replace("widths", "time_limit = 1\nwidths")
    start = time.monotonic()
    table = run_sweep(parse_config(text), tmp_path, jobs=1).set_index("width")
    assert time.monotonic() - start < 10
    assert table.loc[16, "status"] == "timeout"
    assert "time limit of 1 s exceeded" in table.loc[16, "message"]
    assert (table.loc[[4, 8], "status"] == "ok").all()
    # a timeout is final: not retried on resume, but with a larger limit and --retry-failed
    again = run_sweep(parse_config(text), tmp_path, jobs=1)
    assert (again["status"] == "timeout").sum() == 1


def test_memory_is_checked_before_anything_runs(tmp_path):
    huge = CHEB.format(kind="relu-interpolant").replace("[4, 8, 16]", "[4, 1000000000]")
    with pytest.raises(ResourceError, match=r"width 1000000000\) needs about 1.86 TiB"):
        run_sweep(parse_config(huge), tmp_path / "out", jobs=1)
    small = parse_config(CHEB.format(kind="chebyshev"))
    with pytest.raises(ResourceError, match=r"× 2 workers, more than the 100 MiB budget"):
        run_sweep(small, tmp_path / "out", jobs=2, memory_limit=100 * 2**20)
    assert not (tmp_path / "out").exists()


def test_memory_estimates_grow_with_the_run():
    method = methods.get("trained")
    base = method.resolve({})
    assert method.memory(64, base) < method.memory(128, base)
    assert method.memory(64, base) < method.memory(64, {**base, "n_train": 10**6})
    assert method.memory(64, base) < method.memory(64, {**base, "optimizer": "lm"})
    features = methods.get("random-features")
    # the n_samples × d design matrix and its temporaries dominate, then the (d + 1)²
    # factors (peak beyond the process's base, measured at d = 4096: 645 MiB for cos
    # features, the deflated fit; 698 MiB for ReLU features, the ridge fit)
    for kind, measured in (("fourier", 645), ("relu", 698)):
        params = features.resolve({"n_samples": 8192, "features": kind})
        assert measured * 2**20 < features.memory(4096, params) < 1536 * 2**20


def test_sizes_and_worker_counts(monkeypatch):
    assert parse_size("8GiB") == 8 * 2**30
    assert parse_size("500M") == 500 * 10**6
    assert parse_size("2e9") == 2 * 10**9
    assert format_size(1.5 * 2**30) == "1.5 GiB"
    for bad in ("", "-1G", "lots", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert local_workers(1000) == (2, "--jobs 1000 lowered to 2, the number of CPU cores")
    assert local_workers(2) == (2, None)
    assert local_workers(None) == (2, None)


def test_the_run_list_is_never_built(tmp_path, fake_methods):
    text = """
name = "many"
replicates = 1000000000
widths = [3]
[[targets]]
name = "sin2pi"
[[methods]]
name = "r"
kind = "fake-relu"
"""
    config = parse_config(text)
    assert count_runs(config) == 10**9
    first = next(expand(config))
    assert first.run_id == "sin2pi.r.d3.r0"

    class Stop(Exception):
        pass

    class StopAfterThree(_Recorder):
        def advance(self, result) -> None:
            super().advance(result)
            if len(self.results) == 3:
                raise Stop

    reporter = StopAfterThree()
    start = time.monotonic()
    with pytest.raises(Stop):
        run_sweep(config, tmp_path, jobs=1, reporter=reporter)
    assert time.monotonic() - start < 10
    assert reporter.started == (10**9, 0)


# Fake methods that pool workers must see too: a module the spawned workers import
# (spawn passes the parent's sys.path), which registers the kinds when imported.
POOL_FAKES = """
import os, signal, time
from approx import methods
from approx.experiment import worker
from approx.methods import Method


def _chebyshev(target, width, rng):
    return methods.get("chebyshev").fit(target, width, rng)


def _dies(target, width, rng):
    if width == 8:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
    return _chebyshev(target, width, rng)


def _hangs(target, width, rng):
    if width == 8:
        time.sleep(120)  # never checks its deadline
    return _chebyshev(target, width, rng)


methods.METHODS["fake-dies"] = Method("fake-dies", _dies, (), "dies at width 8")
methods.METHODS["fake-hangs"] = Method("fake-hangs", _hangs, (), "hangs at width 8")


def work(item, time_limit=None):
    return worker.work(item, time_limit)
"""


@pytest.fixture
def pool_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import importlib

    from approx.experiment import executors

    (tmp_path / "i7_pool_fakes.py").write_text(textwrap.dedent(POOL_FAKES))
    monkeypatch.syspath_prepend(str(tmp_path))
    registered = dict(methods.METHODS)  # the kinds the fakes' module adds are removed after
    module = importlib.import_module("i7_pool_fakes")
    monkeypatch.setattr(executors, "work", module.work)
    yield
    import sys

    sys.modules.pop("i7_pool_fakes", None)
    methods.METHODS.clear()
    methods.METHODS.update(registered)


@pytest.mark.slow
def test_a_worker_killed_by_the_os_is_recorded_and_the_sweep_goes_on(tmp_path, pool_fakes):
    config = parse_config(CHEB.format(kind="fake-dies").replace("[4, 8, 16]", "[4, 8, 16, 32]"))
    reporter = _Recorder()
    table = run_sweep(config, tmp_path / "out", jobs=2, reporter=reporter).set_index("width")
    assert table.loc[8, "status"] == "killed"
    assert "worker process died" in table.loc[8, "message"]
    assert (table.drop(index=8)["status"] == "ok").all()
    assert any("a worker process died" in note for note in reporter.notes)
    # killed is transient: a resume retries it (and it dies again, alone)
    again = run_sweep(config, tmp_path / "out", jobs=2).set_index("width")
    assert again.loc[8, "status"] == "killed"


@pytest.mark.slow
def test_the_hard_time_limit_is_the_pools_last_resort(tmp_path, pool_fakes):
    # a limit the other runs' fit and whole measurement (checked at its end) keep to
    text = CHEB.format(kind="fake-hangs").replace("widths", "time_limit = 2\nwidths")
    start = time.monotonic()
    table = run_sweep(parse_config(text), tmp_path / "out", jobs=2).set_index("width")
    elapsed = time.monotonic() - start
    assert table.loc[8, "status"] == "timeout"
    assert "did not stop on its own and was killed" in table.loc[8, "message"]
    assert (table.loc[[4, 16], "status"] == "ok").all()
    assert elapsed < 2 * hard_limit(2) + 20  # once in the pool, once alone


@pytest.mark.slow
def test_a_dask_task_whose_workers_die_is_recorded_as_killed(tmp_path, pool_fakes):
    pytest.importorskip("distributed")
    config = parse_config(CHEB.format(kind="fake-dies"))
    table = run_sweep(config, tmp_path / "out", jobs=2, executor="dask").set_index("width")
    assert table.loc[8, "status"] == "killed"
    assert "Dask workers running it died" in table.loc[8, "message"]
    assert (table.loc[[4, 16], "status"] == "ok").all()
