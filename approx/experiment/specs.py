"""The validated entries of a sweep config, and a run: plain, picklable records.

A config's subjects are :class:`TargetSpec` entries (approximation) or
:class:`DatasetSpec` entries (classification), its methods :class:`MethodSpec` entries;
a :class:`Run` is one fit of the sweep, the unit a worker receives. A config that cannot
be run is a :class:`ConfigError`. Everything here is checked before it is built
(:mod:`approx.experiment.entries`), so these records trust their fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from approx.core import validate
from approx.core.errors import ApproxError
from approx.problems import datasets, targets
from approx.problems.targets import Target

__all__ = ["ConfigError", "DatasetSpec", "MethodSpec", "Run", "TargetSpec"]


class ConfigError(ApproxError, ValueError):
    """A config that cannot be run: the file, the key path and what is wrong.

    Parameters
    ----------
    source : str
        The file (or ``"<string>"``) the config came from.
    key : str
        The key path, e.g. ``"methods[2].knots"``; empty for the file as a whole.
    problem : str
        What is wrong, one line.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}" if key else source
        # keys and values come from the file: never echo a terminal control sequence
        super().__init__(validate.printable(f"{where}: {problem}"))


@dataclass(frozen=True)
class TargetSpec:
    """A validated target entry: a built-in (``expr`` is None) or a custom expression."""

    name: str
    expr: str | None = None
    domain: tuple[float, float] | None = None

    def build(self) -> Target:
        """The :class:`~approx.problems.targets.Target` this entry describes."""
        if self.expr is None:
            return targets.get(self.name, self.domain)
        return targets.from_expr(self.expr, self.domain or (-1.0, 1.0), self.name)

    def canonical(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (part of the config's digest)."""
        return {"name": self.name, "expr": self.expr, "domain": self.domain and list(self.domain)}


@dataclass(frozen=True)
class DatasetSpec:
    """A validated dataset entry of a classification sweep.

    ``name`` labels it in tables and plots; ``kind`` is the built-in
    (:data:`approx.problems.datasets.DATASETS`); ``params`` are all its parameters, defaults
    filled.
    """

    name: str
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments for :func:`approx.problems.datasets.draw`."""
        return dict(self.params)

    def draw(self, seed: int) -> datasets.Sample:
        """The training and held-out samples drawn from ``seed`` (named after the entry)."""
        sample = datasets.draw(self.kind, np.random.default_rng(seed), **self.kwargs)
        return dataclasses.replace(sample, name=self.name)

    @property
    def classes(self) -> int:
        """The number of classes k."""
        return datasets.get(self.kind).n_classes(self.kwargs)

    def canonical(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (part of the config's digest)."""
        return {"name": self.name, "kind": self.kind, "params": dict(self.params)}


@dataclass(frozen=True)
class MethodSpec:
    """A validated method entry: its label, its kind and all its parameters (defaults filled)."""

    name: str
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments for the method's fit."""
        return dict(self.params)

    def canonical(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (part of the config's digest)."""
        return {"name": self.name, "kind": self.kind, "params": dict(self.params)}


@dataclass(frozen=True)
class Run:
    """One fit of the sweep, identified by (target, method, width, replicate).

    ``task`` names the sweep's task (a key of :data:`approx.experiment.tasks.TASKS`),
    which says how a worker runs it. In a classification sweep ``target`` is the dataset,
    ``width`` is 0 for a method without width, and ``sample_seed`` draws the samples.
    """

    target: TargetSpec | DatasetSpec
    method: MethodSpec
    width: int
    replicate: int
    seed: int
    task: str
    sample_seed: int | None = None

    @property
    def run_id(self) -> str:
        """A unique, file-name-safe id; names hold no dots, so the id is unambiguous."""
        return f"{self.target.name}.{self.method.name}.d{self.width}.r{self.replicate}"
