"""Figures drawn side by side in processes are byte for byte those drawn in one."""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process

import pytest

from approx.experiment import parse_config, plot_folder, run_sweep
from approx.experiment import render as renders
from approx.experiment.figstyle import Capture

CONFIG = """
name = "render"
widths = [4, 8]

[[targets]]
name = "sin2pi"

[[targets]]
name = "runge"

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "chebyshev"
kind = "chebyshev"
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("render")
    run_sweep(parse_config(CONFIG), folder, jobs=1, plots=False)
    return folder


def test_a_pool_of_two_draws_the_same_files_as_one_process(folder, monkeypatch):
    serial, skipped_one = plot_folder(folder, jobs=1)
    drawn = {p.name: p.read_bytes() for p in serial}
    report = (folder / "report.html").read_text().splitlines()
    split = []
    pooled_render = renders._render_pooled
    monkeypatch.setattr(renders, "_render_pooled",
                        lambda *a: (split.append(out := pooled_render(*a)), out)[1])
    pooled, skipped_two = plot_folder(folder, jobs=2)
    # this process is one of the two drawers (from the end of the list), a spawned
    # process the other
    (rendered, here), = split
    assert 0 < len(here) < len(rendered) and max(rendered) in here
    assert len(serial) >= renders.MIN_FIGURES  # enough figures for the pool to be used
    assert skipped_one == skipped_two == []
    assert [p.name for p in pooled] == list(drawn)
    for path in pooled:
        assert path.read_bytes() == drawn[path.name], path.name
    again = (folder / "report.html").read_text().splitlines()
    differ = [a for a, b in zip(report, again, strict=True) if a != b]
    assert all("Report written" in line for line in differ)  # only the time it was written


def test_what_cannot_be_sent_to_a_process_is_drawn_here():
    calls = []

    def draw(capture):  # a closure over local state: cannot be pickled
        calls.append(capture.name)
        capture.data["png"] = capture.name.encode()
        return capture

    drawers = [(f"f{k}.png", draw) for k in range(5)]
    captures = [Capture(f"f{k}", ("png",)) for k in range(5)]
    unpicklable = (lambda *a: ([], []), None, {}, None, None)
    results = renders.render_all(drawers, captures, 2, unpicklable)  # type: ignore[arg-type]
    assert [data["png"] for data, _ in results] == [f"f{k}".encode() for k in range(5)]
    assert calls == [f"f{k}" for k in range(5)]


def test_a_figure_that_fails_is_one_line_and_the_others_are_drawn():
    def fails(capture):
        raise OverflowError("tick placement")

    def draws(capture):
        capture.data["png"] = b"ok"
        return capture

    results = renders.render_all([("a.png", fails), ("b.png", draws), ("c.png", draws)],
                                 [Capture("a", ("png",)), None, Capture("c", ("png",))], 2,
                                 None)
    assert results[0] == (None, "OverflowError: tick placement")
    assert results[1] == (None, None)  # not wanted: not drawn
    assert results[2] == ({"png": b"ok"}, None)


@pytest.mark.slow  # two run workers and two drawing processes: several seconds
def test_a_sweep_starts_its_drawing_processes_early_and_draws_the_same_files(
        folder, tmp_path, monkeypatch):
    started, pools = [], []
    prestart, new_pool = renders.prestart, renders._new_pool
    monkeypatch.setattr(renders, "prestart",
                        lambda jobs, code: (started.append(jobs), prestart(jobs, code)))
    monkeypatch.setattr(renders, "_new_pool", lambda jobs: (pools.append(jobs), new_pool(jobs))[1])
    run_sweep(parse_config(CONFIG), tmp_path, jobs=2, plots=True)
    # one pool of one process (this one is the second drawer), started while the runs
    # finished, then drawn in
    assert started == [2] and pools == [1] and not renders._early
    serial, _ = plot_folder(folder, jobs=1)
    for path in serial:
        assert (tmp_path / "plots" / path.name).read_bytes() == path.read_bytes(), path.name


class _BrokenPool:
    """A pool whose every task fails as if its process had died."""

    def __init__(self):
        self.sent = 0

    def submit(self, *args):
        self.sent += 1
        future = concurrent.futures.Future()
        future.set_exception(concurrent.futures.process.BrokenProcessPool("died"))
        return future

    def shutdown(self, wait, cancel_futures):
        pass


def test_figures_a_dead_drawing_process_had_are_drawn_here(monkeypatch):
    pool = _BrokenPool()
    monkeypatch.setattr(renders, "_new_pool", lambda processes: pool)

    def draw(capture):
        capture.data["png"] = capture.name.encode()
        return capture

    drawers = [(f"f{k}.png", draw) for k in range(6)]
    captures = [Capture(f"f{k}", ("png",)) for k in range(6)]
    sources = (renders._touch, None, {}, None, None)  # picklable; never unpickled here
    results = renders.render_all(drawers, captures, 3, sources)  # type: ignore[arg-type]
    assert [data["png"] for data, _ in results] == [f"f{k}".encode() for k in range(6)]
    assert pool.sent == 1  # the first failure stops the feeding: the rest are drawn here
