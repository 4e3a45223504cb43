"""The one base of every error the package raises on purpose.

Each layer keeps its own error classes next to the code that raises them (a config
error in :mod:`approx.experiment.specs`, a store error in
:mod:`approx.experiment.store`, …); each also derives from :class:`ApproxError`, so a
caller that wants "anything approx refused" (the CLI) catches one class, while each
keeps its builtin base (``ValueError``, ``RuntimeError``) for callers that catch those.
"""

from __future__ import annotations

__all__ = ["ApproxError"]


class ApproxError(Exception):
    """Base of the package's own errors: the message is one line saying what to do."""
