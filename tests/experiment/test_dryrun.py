"""``--dry-run``'s plan: runs by fate as the runner judges them, without writing."""

from __future__ import annotations

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
