"""Per-run time limits that long computations check as they go.

A sweep may give each run a time limit. Killing a process is the last resort (it loses
the run's partial work and, in a pool, the worker); instead the runner opens a
:func:`time_limit` block around the fit, and every loop that can run long (training
steps, searches, branch-and-bound) calls :func:`check` now and then. ``check`` raises
:class:`DeadlineExceeded` once the limit has passed, and the runner records the run with
status ``"timeout"``. Outside a ``time_limit`` block ``check`` costs one context-variable
read and never raises, so library users pay nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from approx.core.errors import ApproxError

__all__ = ["DeadlineExceeded", "check", "remaining", "time_limit"]

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("approx_deadline", default=None)


class DeadlineExceeded(ApproxError):
    """The time limit of the enclosing :func:`time_limit` block has passed."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Within this block, :func:`check` raises once ``seconds`` have passed.

    Parameters
    ----------
    seconds : float or None
        The limit in seconds (> 0); ``None`` means no limit. Nested blocks keep the
        earlier of the two deadlines.
    """
    if seconds is None:
        yield
        return
    if not seconds > 0:
        raise ValueError(f"a time limit must be > 0 seconds, got {seconds!r}")
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    if outer is not None and outer[0] < deadline:
        deadline, seconds = outer
    token = _DEADLINE.set((deadline, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raise :class:`DeadlineExceeded` if the enclosing time limit has passed."""
    current = _DEADLINE.get()
    if current is not None and time.monotonic() > current[0]:
        raise DeadlineExceeded(f"time limit of {current[1]:g} s exceeded")


def remaining() -> float | None:
    """Seconds left before the enclosing time limit (``None`` without one)."""
    current = _DEADLINE.get()
    return None if current is None else current[0] - time.monotonic()
