"""The README's main command leaves the checkout as git had it.

A clone of this repository's HEAD runs ``run-experiment experiments/quickstart.toml``
(as ``python -m approx``, with this interpreter and the clone's own package) from its
top folder, as the README says; ``git status --porcelain`` lists the same nothing before
and after, so the sweep wrote only where git does not look (``results/``) and the next
run's metadata does not call the checkout dirty. ``.ci/run`` checks the same after the
test command. The whole quickstart runs: this is also the main job, end to end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str, cwd: Path) -> str:
    """Run git without hooks or fsmonitor; its standard output."""
    command = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def _head() -> str:
    """This checkout's HEAD commit; skips the test outside a git checkout."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        return _git("rev-parse", "--verify", "HEAD", cwd=ROOT).strip()
    except subprocess.CalledProcessError:
        pytest.skip("not run from a git checkout (an sdist or an installed copy)")


def _status(clone: Path) -> str:
    """Every change git sees in the clone, untracked files one by one."""
    return _git("status", "--porcelain", "--untracked-files=all", cwd=clone)


@pytest.mark.slow
def test_the_main_command_leaves_a_clone_clean(tmp_path):
    head = _head()
    clone = tmp_path / "clone"
    _git("clone", "--quiet", "--no-checkout", str(ROOT), str(clone), cwd=tmp_path)
    _git("checkout", "--quiet", "--detach", head, cwd=clone)
    before = _status(clone)
    assert before == ""
    env = {**os.environ, "PYTHONPATH": str(clone)}
    # the main command cut to two widths and one replicate (the full one takes minutes):
    # the same files are written in the same places, under results/quickstart+<overrides>
    done = subprocess.run(
        [sys.executable, "-m", "approx", "experiments/quickstart.toml",
         "--set", "widths=[4, 8]", "--set", "replicates=1"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (written,) = (clone / "results").glob("quickstart+*")
    assert (written / "runs.sqlite").is_file() and (written / "plots" / "convergence.png").is_file()
    assert (written / "report.html").is_file()
    assert _status(clone) == before
