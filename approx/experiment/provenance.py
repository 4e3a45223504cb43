"""Where a sweep's results came from: one record per invocation, and per run its engine.

A results folder is filled by one or more invocations (the first run, resumes, retries).
Each is one row of the store's ``invocations`` table, built here by :func:`invocation`
from what the caller has: the command line (``argv``), the effective settings (the
config's digest, its overrides, the time and memory limits actually applied), the
executor and the number of workers; the rest is read from this process: the package's
git commit and dirty flag (or its installed version when it runs from no checkout), the
versions of the libraries that compute, the fused engine per activation, the host.

Every run row names the invocation that computed it (a kept run keeps its invocation on
resume) and, since workers may run on other hosts (Dask), the host and fused engine of the
process that computed it (:func:`run_engine`): the invocation's engine is the sweep's
process's, which computes nothing of a Dask run. The versions of a remote worker are not
recorded per run.

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
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import approx
from approx.nn.activations import ACTIVATIONS
from approx.nn.backend import engine_name, fused_backend

__all__ = ["VERSIONED", "changes", "git_commit", "invocation", "now", "run_engine", "versions"]

#: distributions whose versions each invocation records (``None``: not installed)
VERSIONED = ("numpy", "scipy", "numba", "python-flint", "dask", "distributed", "pandas",
             "matplotlib")
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


def _version(name: str) -> str | None:
    from importlib import metadata  # (loads slowly: not in every worker)

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Python's version and those of :data:`VERSIONED` in this process."""
    return {"python": sys.version.split()[0], **{name: _version(name) for name in VERSIONED}}


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


def run_engine(params: Mapping[str, Any], width: int, task: str = "approximation") -> str:
    """The engine this process runs for a method with these parameters at ``width``:
    ``"fused-numba"`` or ``"fused-numpy"`` for a 1→d→1 net under a regression loss (the
    backend chosen for its ``activation``), ``"layered"`` for a deeper net; ``""`` for a
    method that trains no net (no ``activation``), a classification run (the fused pass
    is for 1→d→1 regression only), or when the chosen backend cannot run here (the fit
    then says why)."""
    activation = params.get("activation")
    if task != "approximation" or not isinstance(activation, str):
        return ""
    depth = params.get("depth", 1)
    sizes = [1, *[width] * (depth if isinstance(depth, int) else 1), 1]
    try:
        return engine_name(sizes, params.get("loss", "mse"), activation)
    except ValueError:
        return ""


def _engines() -> dict[str, str]:
    """The fused backend of this process per activation (``""``: unavailable here)."""

    def one(name: str) -> str:
        try:
            return fused_backend(None, name)
        except ValueError:
            return ""

    return {name: one(name) for name in ACTIVATIONS}


def invocation(argv: Sequence[str], settings: Mapping[str, Any], *,
               time_limit: float | None, memory_limit: int | None,
               executor: str, jobs: int | None) -> dict[str, Any]:
    """The record of an invocation that is starting (a row of ``invocations``).

    Parameters
    ----------
    argv : sequence of str
        The command line as given (``[]`` for a call from Python).
    settings : mapping
        The effective settings the caller knows (the config digest, overrides, …); the
        limits actually applied are added as ``time_limit`` and ``memory_limit``.
    time_limit : float, optional
        Seconds per run in force (the command line's, else the config's).
    memory_limit : int, optional
        The memory budget in bytes in force (given, or the default computed).
    executor : str
        ``"serial"``, ``"local"`` or ``"dask"``: who fits the runs.
    jobs : int, optional
        Worker processes (or runs in flight on a cluster).

    Returns
    -------
    dict
        ``argv``, ``settings``, ``started_at``, ``package_commit``, ``package_dirty``
        (None when the package runs from no checkout), ``package_version`` (the
        installed distribution's),
        ``versions``, ``engine`` (activation → fused backend), ``executor``, ``jobs``,
        ``host``, ``platform``.
    """
    git = git_commit()
    return {
        "argv": [str(a) for a in argv],
        "settings": {**settings, "time_limit": time_limit, "memory_limit": memory_limit},
        "started_at": now(),
        "package_commit": git and git["commit"],
        "package_dirty": git and git["dirty"],
        "package_version": _version("approx"),
        "versions": versions(),
        "engine": _engines(),
        "executor": executor,
        "jobs": jobs,
        "host": platform.node(),
        "platform": platform.platform(),
    }


def changes(current: Mapping[str, Any],
            earlier: Iterable[tuple[str | None, str | None, str | None, str]]) -> str | None:
    """One line on recorded runs computed by another commit or engine, else None.

    ``current`` is this invocation's record (:func:`invocation`); ``earlier`` holds, per
    kept run, the commit and version of the invocation that computed it (None, None
    when it predates provenance), its engine (``""``: none) and the engine this process
    would use for it.
    """
    unknown = commits = engines = 0
    seen: set[str] = set()
    for commit, installed, was, would in earlier:
        if commit is None and installed is None:
            unknown += 1
            continue
        if (commit, installed) != (current["package_commit"], current["package_version"]):
            commits += 1
            seen.add((commit or installed or "?")[:12])
        if was and would and was != would:
            engines += 1
    parts = []
    if commits:
        parts.append(f"{commits} by another commit ({', '.join(sorted(seen))})")
    if engines:
        parts.append(f"{engines} with another fused engine than this process's")
    if unknown:
        parts.append(f"{unknown} before provenance was recorded (commit and engine unknown)")
    if not parts:
        return None
    return (f"of the runs kept from earlier invocations, {'; '.join(parts)}: an algorithm "
            "can change the numbers of an unchanged config (--fresh recomputes them all)")
