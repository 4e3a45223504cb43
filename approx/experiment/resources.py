"""Resource limits of a sweep: memory per run, worker count, sizes written by people.

Checked before any run starts, so a width of 10⁹ or ``--jobs 1000`` is refused (or
lowered) in one line instead of exhausting the machine half-way through a sweep.
"""

from __future__ import annotations

import math
import os
import re

from approx.core.errors import ApproxError
from approx.experiment.config import Config

__all__ = [
    "ResourceError",
    "available_memory",
    "check_memory",
    "format_size",
    "largest_run",
    "local_workers",
    "parse_size",
    "sample_memory",
]

_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}
#: the largest size taken (sizes are compared, never allocated: larger is "no limit")
MAX_SIZE = 2**62
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([kmgt]i?)?b?\s*\Z", re.IGNORECASE)


class ResourceError(ApproxError, ValueError):
    """A sweep that would need more than the machine (or the user) allows."""


def parse_size(text: str) -> int:
    """Bytes from a size such as ``"8GiB"``, ``"500M"``, ``"2e9"`` (decimal or binary units).

    Raises
    ------
    ValueError
        If ``text`` is not a positive size.
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}; write e.g. 8GiB, 500MB or 2e9 (bytes)")
    number, unit = float(match[1]), (match[2] or "").lower()
    if not math.isfinite(number * _UNITS[unit]):
        raise ValueError(f"not a finite size: {text!r}; write e.g. 8GiB, 500MB or 2e9 (bytes)")
    size = int(min(number * _UNITS[unit], MAX_SIZE))
    if size <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return size


def format_size(size: float) -> str:
    """``size`` bytes in binary units, three significant digits (``"7.45 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def available_memory() -> int | None:
    """Memory the OS can give without swapping (``MemAvailable``); None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def largest_run(config: Config) -> tuple[int, str]:
    """The largest memory estimate over the sweep's runs, and the run it belongs to.

    Every method's estimate grows with the width, so only the largest width is asked.
    """
    estimates = [
        (config.kind(m).memory(w, m.kwargs) + sample_memory(config, w),
         f"method {m.name!r}" + (f" at width {w}" if w else ""))
        for m in config.methods
        for w in [max(config.widths_of(m))]
    ]
    return max(estimates)


def sample_memory(config: Config, width: int) -> int:
    """Bytes a classification run needs for its largest dataset at ``width`` (0 for an
    approximation sweep): the samples, the features of train and test points (and a
    copy), the softmax's n × k logits, probabilities and gradients, and the d × k output
    weights with L-BFGS-B's history of them."""
    if not config.task.draws_samples:
        return 0
    d = max(width, 2)  # a widthless classifier works on the 2 input coordinates
    worst = 0
    for spec in config.targets:
        n = spec.kwargs["n_samples"] + spec.kwargs["n_test"]
        k = spec.classes
        worst = max(worst, 8 * n * (3 + 2 * d + 4 * k) + 8 * d * k * 24)
    return worst


def check_memory(config: Config, workers: int, limit: int | None = None) -> None:
    """Refuse a sweep whose largest run, once per worker, would not fit in ``limit`` bytes.

    Parameters
    ----------
    config : Config
        The validated sweep.
    workers : int
        Runs in memory at once on this machine (1 when the workers are elsewhere).
    limit : int, optional
        The budget in bytes; default half of :func:`available_memory` (no check when
        that is unknown).

    Raises
    ------
    ResourceError
        One line: the estimate, the budget and what to change.
    """
    if limit is None:
        available = available_memory()
        if available is None:
            return
        limit = available // 2
        whose = f"half of the {format_size(available)} available"
    else:
        whose = "--memory-limit"
    need, what = largest_run(config)
    if need * workers > limit:
        times = f" × {workers} workers" if workers > 1 else ""
        raise ResourceError(
            f"{config.source}: the largest run ({what}) needs about {format_size(need)}"
            f"{times}, more than the {format_size(limit)} budget ({whose}); lower the widths "
            "or the method's sizes, use fewer --jobs, or raise --memory-limit"
        )


def local_workers(jobs: int | None) -> tuple[int, str | None]:
    """Worker processes for this machine: ``jobs`` (default all cores), at most the cores.

    Returns
    -------
    workers : int
        The count to start.
    note : str or None
        One line saying that ``jobs`` was lowered, if it was.
    """
    cores = os.cpu_count() or 1
    if jobs is None:
        return cores, None
    if jobs > cores:
        return cores, f"--jobs {jobs} lowered to {cores}, the number of CPU cores"
    return jobs, None
