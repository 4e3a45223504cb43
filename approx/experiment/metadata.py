"""``metadata.json`` of a results folder: versions, platform, the package's git commit.

The git commit is that of the ``approx`` checkout the code runs from, never of the
config's folder: running ``git`` in a folder someone else controls runs their
``core.fsmonitor`` command or hooks. Git is run on the package's own checkout only,
with the monitor and hooks switched off and discovery stopped at the checkout's root,
so it never climbs into an enclosing repository.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import approx
from approx.experiment.config import Config
from approx.nn.activations import ACTIVATIONS
from approx.nn.engine import fused_backend

__all__ = ["describe", "git_commit", "now"]

_PACKAGES = (
    "numpy", "scipy", "pandas", "matplotlib", "typer", "rich", "approx", "distributed", "numba"
)
#: the checkout holding the package, if it runs from one (an installed wheel has none)
_ROOT = Path(approx.__file__).resolve().parents[1]
_SAFE = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
    "--no-optional-locks",  # status refreshes no index file
)


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    def one(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: one(name) for name in _PACKAGES}


def git_commit(root: Path = _ROOT) -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout at ``root``; None if ``root`` is not one."""
    if not (root / ".git").exists():
        return None
    env = {
        **os.environ,
        "GIT_CEILING_DIRECTORIES": str(root.parent),
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
    }

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *_SAFE, *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--ignore-submodules"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def describe(config: Config, *, jobs: int, executor: str) -> dict[str, Any]:
    """The metadata of a sweep that is starting."""
    return {
        "name": config.name,
        "description": config.description,
        "config": config.source,
        "config_digest": config.digest(),
        "root_seed": config.seed,
        "time_limit": config.time_limit,
        "jobs": jobs,
        "executor": executor,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": _versions(),
        # the last bits of a gradient depend on which fused 1→d→1 pass runs
        "fused_engine": {name: fused_backend(None, name) for name in ACTIVATIONS},
        "git": git_commit(),
        "started_at": now(),
        "ended_at": None,
        "status": "running",
    }
