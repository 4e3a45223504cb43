"""Sweep configs: the validated :class:`Config` every later stage trusts, and reading one.

A config names the axes of a sweep: subjects × methods × widths × replicates, and its
task (:mod:`~approx.experiment.tasks`): approximating functions (``[[targets]]``) or
classifying samples (``[[datasets]]``, classification methods; a method without width,
``linear``, runs once per replicate with width 0 in its identity).

:func:`load_config` reads a file defensively (a regular file, at most
:data:`MAX_CONFIG_BYTES`, UTF-8) and :func:`parse_config` its TOML; all of it is checked
(:mod:`~approx.experiment.validation`, each entry by :mod:`~approx.experiment.entries`)
once, before any run starts, so the runner can trust what it gets. An error names the
file, the key path (``methods[2].knots``) and what is wrong, in one line. The runs of a
config and their seeds are :mod:`~approx.experiment.expansion`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from approx.experiment.entries import budget_widths
from approx.experiment.overrides import apply_overrides, blame, parse_override, snapshot_text
from approx.experiment.specs import ConfigError, DatasetSpec, MethodSpec, TargetSpec
from approx.experiment.tasks import DEFAULT_TASK, TASKS, Task
from approx.experiment.validation import validate_config
from approx.methods import Method

__all__ = ["MAX_CONFIG_BYTES", "Config", "ConfigError", "load_config", "parse_config"]

#: a config is a few kB; reading more than this is a mistake (``/dev/zero``, a data file)
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class Config:
    """A validated sweep.

    Attributes
    ----------
    name : str
        The sweep's name; results go to ``results/<name>/`` by default.
    seed : int
        Root seed of every random draw in the sweep.
    replicates : int
        Independent seeds per (target, method, width).
    widths : tuple of int
        The widths d, sorted ascending.
    targets, methods : tuple
        The validated entries, in file order (which is also table and plot order); the
        targets of a classification sweep are its datasets
        (:class:`~approx.experiment.specs.DatasetSpec`).
    source : str
        The file the config was read from.
    text : str
        The file's text, kept verbatim for the results folder's snapshot.
    description : str
        Free text describing the experiment.
    time_limit : float or None
        Seconds each run may take before it is stopped with status ``"timeout"``. A
        resource limit, not part of what the runs compute, so it is left out of
        :meth:`canonical`: raising it and rerunning with ``--retry-failed`` reuses the folder.
    task : Task
        What the sweep does (one of :data:`~approx.experiment.tasks.TASKS`).
    budgets : tuple of int
        Parameter budgets, sorted, when the config gives ``budgets`` instead of
        ``widths``: each method then runs at the largest width whose model has at most
        each budget's ``n_params`` (:meth:`approx.methods.Method.width_for`), so methods
        of different depths compare at equal parameter counts; ``widths`` is then the
        union of the methods' widths.
    overrides : tuple of str
        The command-line overrides applied to the file, as typed
        (:mod:`~approx.experiment.overrides`); ``text`` is then the snapshot of the
        overridden config, which validates to this one.
    """

    name: str
    seed: int
    replicates: int
    widths: tuple[int, ...]
    targets: tuple[TargetSpec, ...] | tuple[DatasetSpec, ...]
    methods: tuple[MethodSpec, ...]
    source: str = "<string>"
    text: str = ""
    description: str = ""
    time_limit: float | None = None
    task: Task = field(default_factory=lambda: TASKS[DEFAULT_TASK])
    budgets: tuple[int, ...] = ()
    overrides: tuple[str, ...] = ()

    def kind(self, spec: MethodSpec) -> Method:
        """The method (or classifier) a method entry runs, from its task's table."""
        return self.task.find(spec.kind)

    def widths_of(self, spec: MethodSpec) -> tuple[int, ...]:
        """The widths a method runs at: ``(0,)`` for a method without width."""
        method = self.kind(spec)
        if not self.task.has_width(method):
            return (0,)
        if self.budgets:
            return budget_widths(method, spec, self.budgets)
        return self.widths

    def canonical(self) -> dict[str, Any]:
        """Everything that determines the runs' results, as plain JSON-able data."""
        canonical: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "replicates": self.replicates,
            "widths": list(self.widths),
            "methods": [m.canonical() for m in self.methods],
            self.task.subjects: [s.canonical() for s in self.targets],
        }
        if self.budgets:
            canonical["budgets"] = list(self.budgets)
        if self.task.name != DEFAULT_TASK:  # configs without a task keep their digest
            canonical["task"] = self.task.name
        return canonical

    def digest(self) -> str:
        """SHA-256 of :meth:`canonical`: equal digests mean the same sweep."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read and validate the TOML config at ``path``, with ``overrides`` applied
    (``key.path=value`` strings: :mod:`~approx.experiment.overrides`).

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or any entry is invalid.
    """
    path = Path(path)
    try:
        # a FIFO blocks in open() until a writer comes, a device or pipe (/dev/zero) is
        # read for ever: refuse both by stat first, and open without blocking in case
        # the name changes in between (checked again on the open file)
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(str(path), "", "cannot read the config: not a regular file")
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise ConfigError(str(path), "", "cannot read the config: not a regular file")
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                str(path), "", f"cannot read the config: larger than {MAX_CONFIG_BYTES} bytes"
            )
        text = data.decode("utf-8-sig")  # a byte-order mark (some editors write one) is no TOML
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), "", f"cannot read the config: {e}") from None
    return parse_config(text, str(path), overrides)


def parse_config(text: str, source: str = "<string>", overrides: Sequence[str] = ()) -> Config:
    """Validate the TOML ``text`` of a config (``source`` names it in errors), with
    ``overrides`` applied first (each validated as the file is; an error names it)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, "", f"not valid TOML: {e}") from None
    if not overrides:
        return Config(**validate_config(raw, source), source=source, text=text)
    parsed = [parse_override(o, source) for o in overrides]
    raw, reached = apply_overrides(raw, parsed, source)
    try:
        fields = validate_config(raw, source)
    except ConfigError as e:
        raise blame(e, reached) from None
    return Config(**fields, source=source, text=snapshot_text(raw, source, overrides),
                  overrides=tuple(overrides))
