"""A child process that ends when the process that started it dies."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with"]


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
