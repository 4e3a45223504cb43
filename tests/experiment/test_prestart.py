"""A sweep's local workers started ahead (while the CLI loads the config and the store):
the sweep's pool is that one, its results the same; one no sweep used is ended."""

from __future__ import annotations

import time

import pytest

from approx.experiment import executors, parse_config
from approx.experiment.expansion import expand

CONFIG = """
name = "early"
widths = [4, 8, 16]

[[targets]]
name = "runge"

[[methods]]
name = "u"
kind = "relu-interpolant"
"""


def test_fewer_than_two_workers_are_not_started_ahead(monkeypatch):
    monkeypatch.setattr(executors, "_new_pool", lambda jobs: pytest.fail("a pool started"))
    executors.prestart(1)
    assert not executors._early


@pytest.mark.slow  # two spawned workers: a few seconds
def test_the_sweeps_pool_is_the_one_started_ahead_and_gives_the_same_results(monkeypatch):
    runs = list(expand(parse_config(CONFIG)))
    pools = []
    new_pool = executors._new_pool
    monkeypatch.setattr(executors, "_new_pool", lambda jobs: (pools.append(jobs),
                                                              new_pool(jobs))[1])
    executors.prestart(2)
    assert pools == [2] and executors._early
    pooled = {r.run.run_id: r.max_error for r in executors.pool(runs, jobs=2)}
    assert pools == [2] and not executors._early  # no second pool
    serial = {r.run.run_id: r.max_error for r in executors.serial(runs)}
    assert pooled == serial


@pytest.mark.slow  # two spawned workers
def test_workers_started_ahead_for_nothing_are_ended():
    executors.prestart(2)
    (executor, _), = executors._early
    processes = list(executor._processes.values())
    manager = executor._executor_manager_thread
    assert len(processes) == 2
    executors.discard()
    assert not executors._early
    # joined: its wake-up pipe is closed before the interpreter's exit could race it
    assert manager is None or not manager.is_alive()
    deadline = time.monotonic() + 10
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in processes)


def test_workers_started_ahead_of_a_sweep_the_cli_refuses_are_ended(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from approx.cli import app

    started = []
    monkeypatch.setattr(executors, "prestart", lambda jobs: (started.append(jobs),
                                                             executors._early.append(
                                                                 (_Idle(), jobs))))
    config = tmp_path / "early.toml"
    config.write_text(CONFIG, encoding="utf-8")
    refused = CliRunner().invoke(app, [str(config), "--out", str(tmp_path / "out"), "--jobs",
                                       "2", "--memory-limit", "1KiB"])
    assert refused.exit_code == 2 and "budget" in refused.output
    assert started == [2] and not executors._early  # started, then ended by the CLI


class _Idle:
    """A pool that was never used."""

    def __init__(self):
        self._processes = {}

    def shutdown(self, wait, cancel_futures):
        pass
