"""The local pool's teardown: a run rerun in a pool of its own leaves no manager thread
behind to race the interpreter's exit."""

from __future__ import annotations

import pytest

from approx.core.status import RunStatus
from approx.experiment import executors, parse_config
from approx.experiment.expansion import expand

CONFIG = """
name = "alone"
widths = [4]

[[targets]]
name = "runge"

[[methods]]
name = "u"
kind = "relu-interpolant"
"""


@pytest.mark.slow  # a spawned worker: about a second
def test_a_run_rerun_alone_leaves_no_manager_thread_running(monkeypatch):
    """On Python ≤ 3.11 the exit's wake-up of a pool's manager thread races that thread
    closing its pipe (``OSError: Bad file descriptor`` after the sweep's last line): a
    sweep that ends right after such a rerun must not leave the thread running."""
    seen = []  # (the pool's manager thread and workers: shutdown drops its references)
    submit = executors._submit

    def watched(executor, item, time_limit):
        future = submit(executor, item, time_limit)
        seen.append((executor._executor_manager_thread, list(executor._processes.values())))
        return future

    monkeypatch.setattr(executors, "_submit", watched)
    run, = expand(parse_config(CONFIG))
    result = executors._alone(run, None)
    assert result.status == RunStatus.OK
    (manager, processes), = seen
    assert not manager.is_alive()
    assert not any(p.is_alive() for p in processes)


def test_drawing_processes_are_spawned_with_ctrl_c_ignored(monkeypatch):
    """Processes are spawned on submit: SIGINT is ignored then, so that they inherit it
    from their first instruction (a Ctrl-C during a drawer's imports printed its own
    traceback beside the sweep's one line)."""
    import concurrent.futures
    import signal

    from approx.experiment import render

    seen = []

    class Pool:
        def submit(self, fn, *args):
            seen.append(signal.getsignal(signal.SIGINT))
            future = concurrent.futures.Future()
            future.set_result(None)
            return future

        def shutdown(self, wait, cancel_futures):
            pass

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(render, "_new_pool", lambda jobs: Pool())
    monkeypatch.setattr(render, "_early", [])
    render.prestart(3, render._touch)
    assert seen == [signal.SIG_IGN] * 2
    assert signal.getsignal(signal.SIGINT) is before
    render.discard()
