"""A child process that ends when the process that started it dies, and is spawned with
Ctrl-C left to its parent."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["exit_with", "sigint_ignored"]


def exit_with(parent: int, every: float = 0.2) -> None:
    """End this process (``os._exit(1)``) once ``parent`` is no longer its parent.

    A pool's process waits for work for ever: when the process that created the pool
    dies, even by SIGKILL, which runs no clean-up, nothing else would end it. A daemon
    thread checks ``os.getppid()`` every ``every`` seconds.

    Parameters
    ----------
    parent : int
        The process id of the parent, taken in the parent (``os.getpid()``) and passed to
        the pool's initializer.
    every : float
        Seconds between checks.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while processes are spawned in it: they inherit the disposition
    from their first instruction on, so a Ctrl-C, the parent's to handle, prints no
    traceback of theirs even while they import their modules (a handler set in their
    initializer comes too late for that; a blocked mask is not inherited and a handler
    is reset by ``exec``). The cost: a Ctrl-C while they start is lost. Off the main
    thread, where signals cannot be handled, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
