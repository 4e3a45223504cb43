"""The status of a run: one enum instead of string literals spread over the layers.

The values are the strings the results store and ``runs.csv`` have always held, and
:class:`RunStatus` is a ``str``, so a status compares equal to its stored text
(``RunStatus.OK == "ok"``) and old stores read unchanged.
"""

from __future__ import annotations

import enum

__all__ = ["RunStatus"]


class RunStatus(enum.StrEnum):
    """How a run ended.

    ``OK``: fitted and measured. ``ERROR``: fitting or measuring raised. ``KILLED``:
    the worker process died. ``TIMEOUT``: past the time limit. ``DIVERGED``: the method
    reported a non-finite loss. ``NON_FINITE``: the measured score (max error, held-out
    loss) is not finite. ``STALLED``: training never lowered the loss.
    """

    OK = "ok"
    ERROR = "error"
    KILLED = "killed"
    TIMEOUT = "timeout"
    DIVERGED = "diverged"
    NON_FINITE = "non-finite"
    STALLED = "stalled"

    @property
    def transient(self) -> bool:
        """Whether a rerun may well end otherwise (an exception, a killed worker).

        Every other failure is final: a rerun with the same seed would repeat it.
        """
        return self in _TRANSIENT


_TRANSIENT = frozenset({RunStatus.ERROR, RunStatus.KILLED})
