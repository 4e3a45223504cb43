"""Runs fitted together: trained runs of one recipe on one target, in groups.

A sweep trains replicates × widths of one recipe as separate runs. Those whose whole
fit is first-order (full-batch SGD or Adam on a 1→d→1 net, training points that do not
depend on the seed) share their training points, so a worker can step their nets
together (:func:`approx.train.batched.fit_recipes`: one engine call per step for the
whole group, bit for bit the same numbers as one at a time, whatever the group holds).

- :func:`grouped` turns the runner's stream of runs into a stream of items: a run, or
  a tuple of up to :data:`MAX_GROUP` runs of one target and one method (widths may
  differ). It holds at most about :data:`WINDOW` runs back, so the stream stays lazy.
- :func:`fit_ahead` trains a group's nets together in the worker; the worker then runs
  each run as usual (:func:`approx.experiment.worker.execute`), its fit taken from the
  group's (:func:`approx.train.recipe.fitted_ahead`), its measurement its own.
- :func:`runs_of` lists an item's runs: an executor whose worker died with a group in
  flight reruns its runs one at a time.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any

from approx.experiment.specs import Run

__all__ = ["MAX_GROUP", "WINDOW", "Item", "fit_ahead", "group_key", "grouped", "runs_of"]

#: runs per group at most (the regime measured: R = 3 … 10)
MAX_GROUP = 10
#: runs held back at most while groups fill (then the fullest group goes)
WINDOW = 64

#: what an executor is handed: one run, or a group of runs fitted together
Item = Run | tuple[Run, ...]


def _recipe(run: Run) -> Any:
    """The run's recipe when its fit can join a group (else None)."""
    if run.task != "approximation" or run.method.kind != "trained":
        return None
    from approx import methods
    from approx.train.batched import batchable
    from approx.train.options import Recipe

    try:
        recipe = Recipe.from_stored(methods.get("trained").resolve(run.method.kwargs))
    except (ValueError, TypeError):  # the run alone reports it
        return None
    # random training points differ between replicates: nothing to share
    return recipe if batchable(recipe) and recipe.fit.sampling != "random" else None


def group_key(run: Run) -> Hashable | None:
    """Runs with the same key can be fitted together (same target, method and so the
    same recipe and training points); None for a run that is fitted alone."""
    if _recipe(run) is None:
        return None
    key = (run.task, run.target, run.method)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _item(runs: list[Run]) -> Item:
    return runs[0] if len(runs) == 1 else tuple(runs)


def grouped(runs: Iterable[Run], size: int | None = None,
            window: int | None = None) -> Iterator[Item]:
    """The runs as items: those fitted alone as they come, the others in groups of up
    to ``size`` (default :data:`MAX_GROUP`; 1: no groups) with the same
    :func:`group_key` (a group goes when full, when more than ``window`` (default
    :data:`WINDOW`) runs are held back (the fullest first), or at the end)."""
    size = MAX_GROUP if size is None else size
    window = WINDOW if window is None else window
    buckets: dict[Hashable, list[Run]] = {}
    held = 0
    for run in runs:
        key = group_key(run) if size > 1 else None
        if key is None:
            yield run
            continue
        bucket = buckets.setdefault(key, [])
        bucket.append(run)
        held += 1
        if len(bucket) >= size:
            held -= len(buckets.pop(key))
            yield _item(bucket)
        elif held > window:
            fullest = max(buckets, key=lambda k: len(buckets[k]))
            out = buckets.pop(fullest)
            held -= len(out)
            yield _item(out)
    for bucket in buckets.values():
        yield _item(bucket)


def runs_of(item: Item) -> list[Run]:
    """The runs of an item."""
    return list(item) if isinstance(item, tuple) else [item]


def fit_ahead(runs: Sequence[Run], time_limit: float | None = None) -> dict[Any, Any]:
    """Train the nets of a group together; what :func:`approx.train.recipe.fitted_ahead`
    takes (each run's :class:`~approx.train.loop.TrainResult`, or the exception its fit
    raises, under the key of its call).

    Parameters
    ----------
    runs : sequence of Run
        One group of :func:`grouped` (one target, one method).
    time_limit : float, optional
        Seconds per run (see :func:`approx.train.batched.fit_recipes`).
    """
    import numpy as np

    from approx.train.batched import fit_recipes
    from approx.train.recipe import ahead_key

    recipe = _recipe(runs[0])
    if recipe is None or any(group_key(run) != group_key(runs[0]) for run in runs):
        raise ValueError("not a group of runs that can be fitted together")
    target = runs[0].target.build()
    rngs = [np.random.default_rng(run.seed) for run in runs]
    keys = [ahead_key(run.width, rng, recipe) for run, rng in zip(runs, rngs, strict=True)]
    members = [(run.width, rng) for run, rng in zip(runs, rngs, strict=True)]
    return dict(zip(keys, fit_recipes(target, members, recipe, time_limit), strict=True))
