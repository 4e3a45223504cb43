"""``metadata.json`` of a results folder: the sweep, and every invocation that filled it.

It is a summary of the store (written at the start and the end of each invocation): the
config's name, digest and root seed; the folder's status (``running``, ``complete`` or
``stopped`` with a reason); the runs by status (and how many are ``degenerate``); and one
entry per invocation (:mod:`approx.experiment.provenance`: command line, effective
settings, commit, versions, engine per activation, executor, jobs, host, its own start and
end) with ``computed``, the results it recorded, and ``runs``, how many of the table's
rows it computed. A run is attributed only to the invocation that computed it: a resume
that refits nothing computed 0 runs; runs recorded before provenance existed are counted
in ``runs_without_provenance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from approx.experiment.config import Config
from approx.experiment.provenance import git_commit, now

__all__ = ["describe", "git_commit", "now"]


def describe(config: Config, invocations: Sequence[Mapping[str, Any]],
             runs: Mapping[str, int] | None, *, without_provenance: int = 0,
             ) -> dict[str, Any]:
    """The content of ``metadata.json``.

    Parameters
    ----------
    config : Config
        The sweep.
    invocations : sequence of mapping
        Every invocation, oldest first (rows of the store's ``invocations`` table as
        dicts, with ``computed`` and ``runs``); the last one's status is the folder's.
    runs : mapping, optional
        ``total`` and the count per status (and ``degenerate``); None while running.
    without_provenance : int
        Rows recorded before invocations were (an older store's).
    """
    last = invocations[-1] if invocations else {}
    metadata: dict[str, Any] = {
        "name": config.name,
        "description": config.description,
        "config": config.source,
        "config_digest": config.digest(),
        "root_seed": config.seed,
        "status": last.get("status", "running"),
    }
    if last.get("reason"):
        metadata["reason"] = last["reason"]
    metadata.update(
        started_at=invocations[0]["started_at"] if invocations else None,
        ended_at=last.get("ended_at"),
    )
    if runs is not None:
        metadata["runs"] = dict(runs)
    metadata["runs_without_provenance"] = without_provenance
    metadata["invocations"] = [dict(i) for i in invocations]
    return metadata
