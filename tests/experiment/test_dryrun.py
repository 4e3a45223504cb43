"""``--dry-run``'s plan: runs by fate as the runner judges them, without writing."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from approx.experiment import parse_config, run_sweep
from approx.experiment.dryrun import describe, plan

BROKEN = """
name = "broken"
widths = [3, 4, 5]

[[targets]]
name = "sin2pi"

[[methods]]
name = "b"
kind = "fake-broken"
"""


def test_failed_runs_are_counted_as_the_runner_treats_them(tmp_path, fake_methods):
    config = parse_config(BROKEN, "b.toml")
    run_sweep(config, tmp_path / "out", jobs=1)  # d = 4 raises (an error), d = 5 diverges
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "out").rglob("*"))
    kept = plan(config, tmp_path / "out", jobs=1)
    assert (kept.counts["done"], kept.counts["retry"], kept.counts["failed"]) == (1, 1, 1)
    assert kept.refusal is None and kept.holder is None
    again = plan(config, tmp_path / "out", jobs=1, retry_failed=True)
    assert (again.counts["done"], again.counts["retry"], again.counts["failed"]) == (1, 2, 0)
    lines = describe(kept, "target")
    assert "3 runs: 0 new, 1 done, 2 failed (1 to rerun, 1 kept" in lines[1]
    assert "time: unknown (a method kind without a cost model)" in lines
    assert sorted((p.name, p.stat().st_mtime_ns)
                  for p in (tmp_path / "out").rglob("*")) == before


def test_a_time_limit_caps_each_runs_estimate(tmp_path):
    text = BROKEN.replace('"fake-broken"', '"trained"').replace("[3, 4, 5]", "[512]")
    slow = plan(parse_config(text, "t.toml"), tmp_path / "none", jobs=1)
    capped = plan(parse_config(text, "t.toml", ["time_limit=1"]), tmp_path / "none", jobs=1)
    assert slow.seconds > 5 and capped.seconds == 1.1 * 1 + 1.0
    assert not (tmp_path / "none").exists()


def _files(folder):
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_a_store_is_read_without_creating_or_changing_a_file(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from approx.experiment.dryrun import open_read_only

    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE runs (a)")
    db.execute("INSERT INTO runs VALUES (1)")
    db.close()  # the side files go with the last connection
    before = _files(tmp_path)
    with closing(open_read_only(path)) as ro:
        assert ro.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
    assert _files(tmp_path) == before  # plain mode=ro would have made -wal and -shm

    # a writer killed with rows only in its write-ahead log: they are read, nothing written
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL')\n"
        "db.execute('INSERT INTO runs VALUES (2)')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "ready\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    killed = _files(tmp_path)
    assert {"runs.sqlite-wal", "runs.sqlite-shm"} <= set(killed)
    with closing(open_read_only(path)) as ro:
        assert ro.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    assert _files(tmp_path) == killed
