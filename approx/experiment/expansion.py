"""A sweep's runs and their seeds: subjects × methods × widths × replicates.

Each run draws its random numbers from a seed derived from the root seed and the run's
identity (target, method, width, replicate), never from its position in the sweep, so
adding a width or a method leaves every other run's numbers unchanged. Where a task
draws samples (classification), a replicate's samples come from a seed keyed by
("sample", dataset, replicate) alone, so every method and width of a replicate sees the
same training and held-out points.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from approx.experiment.config import Config
from approx.experiment.specs import MethodSpec, Run

__all__ = ["count_runs", "expand", "replicates_of", "run_seed", "sample_seed"]


def run_seed(root_seed: int, target: str, method: str, width: int, replicate: int) -> int:
    """The seed of one run, from the root seed and the run's identity alone.

    The identity is hashed (SHA-256, stable across processes and Python versions, unlike
    ``hash()``) into the ``spawn_key`` of a :class:`numpy.random.SeedSequence` on the root
    seed; the run's seed is the first 63 bits that sequence generates, so it fits a signed
    64-bit integer and ``numpy.random.default_rng(seed)`` reproduces the run on its own.
    """
    return _keyed_seed(root_seed, [target, method, int(width), int(replicate)])


def sample_seed(root_seed: int, dataset: str, replicate: int) -> int:
    """The seed of a classification replicate's samples, keyed by (dataset, replicate).

    Shared by every method and width of the replicate; the ``"sample"`` tag keeps it
    apart from every run's seed (as :func:`run_seed`).
    """
    return _keyed_seed(root_seed, ["sample", dataset, int(replicate)])


def _keyed_seed(root_seed: int, key: list[Any]) -> int:
    identity = json.dumps(key).encode()
    words = np.frombuffer(hashlib.sha256(identity).digest(), dtype="<u4")
    seq = np.random.SeedSequence(entropy=root_seed, spawn_key=tuple(int(w) for w in words))
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


def replicates_of(config: Config, method: MethodSpec) -> int:
    """The replicates a method runs: a deterministic method gives the same fit for every
    seed, so it runs once; where a replicate draws new samples, every method runs every
    replicate."""
    if config.task.draws_samples or config.kind(method).random:
        return config.replicates
    return 1


def expand(config: Config, *, widest_first: bool = False) -> Iterator[Run]:
    """All runs of the sweep, one at a time: targets × methods × widths × replicates.

    A generator, so a sweep of 10⁹ replicates starts at once instead of building its
    run list first. A deterministic method (one that draws no random numbers) gives the
    same fit for every seed, so it runs once, as replicate 0, whatever ``replicates`` says.

    Parameters
    ----------
    config : Config
        The validated sweep.
    widest_first : bool
        Table order (False), or the widest runs first (what a pool of workers wants: the
        slowest runs start early, so the pool drains evenly).
    """
    own = {m.name: config.widths_of(m) for m in config.methods}
    if widest_first:
        # (a method without width, at width 0, comes last: it is the cheapest)
        order = sorted({w for ws in own.values() for w in ws}, reverse=True)
        cells = (
            (t, m, w)
            for w in order
            for t in config.targets
            for m in config.methods
            if w in own[m.name]
        )
    else:
        cells = ((t, m, w) for t in config.targets for m in config.methods for w in own[m.name])
    samples = config.task.draws_samples
    for t, m, w in cells:
        for r in range(replicates_of(config, m)):
            yield Run(
                t,
                m,
                w,
                r,
                run_seed(config.seed, t.name, m.name, w, r),
                config.task.name,
                sample_seed(config.seed, t.name, r) if samples else None,
            )


def count_runs(config: Config) -> int:
    """How many runs :func:`expand` yields, without generating them."""
    return len(config.targets) * sum(
        len(config.widths_of(m)) * replicates_of(config, m) for m in config.methods
    )
