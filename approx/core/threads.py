"""BLAS held to one thread for a block of code, with one thread-pool controller per process."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["one_thread"]


@cache
def _controller() -> ThreadpoolController:
    """One controller per process: finding the loaded BLAS libraries costs about a ms."""
    return ThreadpoolController()


def one_thread() -> AbstractContextManager[Any]:
    """A context in which BLAS runs on one thread (the previous limits restored after)."""
    return _controller().limit(limits=1, user_api="blas")
