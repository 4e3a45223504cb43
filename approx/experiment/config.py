"""Sweep configs: read a TOML file, validate all of it, expand it into runs.

A config names the axes of a sweep: targets × methods × widths × replicates. A config
with ``task = "classification"`` has ``[[datasets]]`` instead of ``[[targets]]`` and
classification methods (:mod:`approx.methods.classifiers`); a method without width (``linear``)
runs once per replicate with width 0 in its identity. Everything
is checked here, once, before any run starts, so the runner can trust what it gets. An
error names the file, the key path (``methods[2].knots``) and what is wrong, in one line.

Each run draws its random numbers from a seed derived from the root seed and the run's
identity (target, method, width, replicate), never from its position in the sweep, so
adding a width or a method leaves every other run's numbers unchanged. A classification
run's samples come from a seed keyed by ("sample", dataset, replicate) alone, so every
method and width of a replicate sees the same training and held-out points.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from approx.core import validate
from approx.experiment import entries
from approx.experiment.checks import Checker
from approx.experiment.specs import ConfigError, DatasetSpec, MethodSpec, Run, TargetSpec
from approx.experiment.tasks import DEFAULT_TASK, TASKS, Task
from approx.methods import Method

__all__ = [
    "TASKS",
    "Config",
    "ConfigError",
    "DatasetSpec",
    "MethodSpec",
    "Run",
    "TargetSpec",
    "count_runs",
    "expand",
    "load_config",
    "parse_config",
    "run_seed",
    "sample_seed",
]

_TOP_KEYS = (
    "name", "description", "task", "seed", "replicates", "widths", "budgets", "targets",
    "datasets", "methods", "time_limit",
)
#: a config is a few kB; reading more than this is a mistake (``/dev/zero``, a data file)
MAX_CONFIG_BYTES = 1 << 20
_REQUIRED = ("name", "methods")


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
        targets of a classification sweep are its datasets (:class:`DatasetSpec`).
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

    def kind(self, spec: MethodSpec) -> Method:
        """The method (or classifier) a method entry runs, from its task's table."""
        return self.task.find(spec.kind)

    def widths_of(self, spec: MethodSpec) -> tuple[int, ...]:
        """The widths a method runs at: ``(0,)`` for a method without width."""
        method = self.kind(spec)
        if not self.task.has_width(method):
            return (0,)
        if self.budgets:
            return _budget_widths(method, spec, self.budgets)
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


def _budget_widths(method: Method, spec: MethodSpec, budgets: tuple[int, ...]) -> tuple[int, ...]:
    """The distinct widths at which ``method`` fits each budget (budgets too small: none)."""
    widths = (method.width_for(b, spec.kwargs) for b in budgets)
    return tuple(sorted({w for w in widths if w is not None}))


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


def _replicates(config: Config, method: MethodSpec) -> int:
    # a deterministic method gives the same fit for every seed: it runs once; where a
    # replicate draws new samples, every method runs every replicate
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
        for r in range(_replicates(config, m)):
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
        len(config.widths_of(m)) * _replicates(config, m) for m in config.methods
    )


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML config at ``path``.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or any entry is invalid.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            # a device or pipe (``/dev/zero``) would be read for ever
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise ConfigError(str(path), "", "cannot read the config: not a regular file")
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                str(path), "", f"cannot read the config: larger than {MAX_CONFIG_BYTES} bytes"
            )
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(path), "", f"cannot read the config: {e}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate the TOML ``text`` of a config (``source`` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, "", f"not valid TOML: {e}") from None
    return _Validator(source).config(raw, text)


class _Validator(Checker):
    """Walks the parsed TOML, raising :class:`ConfigError` at the first problem."""

    def config(self, raw: dict[str, Any], text: str) -> Config:
        self.keys(raw, _TOP_KEYS, "")
        try:
            task = TASKS[validate.choice(raw.get("task", DEFAULT_TASK), TASKS)]
        except ValueError as e:
            raise self.fail("task", str(e)) from None
        subjects = task.subjects
        self.required(raw, (*_REQUIRED, subjects))
        for other in (t.subjects for t in TASKS.values() if t is not task):
            if other in raw:
                raise self.fail(
                    other,
                    f"a {task.name} sweep has [[{subjects}]], not [[{other}]] "
                    f"(task = {task.name!r})",
                )
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.fail(
                "description", f"must be a string, got {validate.type_name(description)}"
            )
        name = self.name(raw["name"], "name")
        seed = self.integer(raw.get("seed", 0), "seed", 0)
        replicates = self.integer(raw.get("replicates", 1), "replicates", 1)
        target_specs = [
            task.entry(self, t, f"{subjects}[{i}]")
            for i, t in enumerate(self.tables(raw, subjects))
        ]
        method_specs = [
            entries.method(self, m, f"methods[{i}]", task.find)
            for i, m in enumerate(self.tables(raw, "methods"))
        ]
        for key, specs in ((subjects, target_specs), ("methods", method_specs)):
            seen: dict[str, int] = {}
            for i, spec in enumerate(specs):
                if spec.name in seen:
                    raise self.fail(
                        f"{key}[{i}].name",
                        f"duplicate name {spec.name!r} (also {key}[{seen[spec.name]}])",
                    )
                seen[spec.name] = i
        budgets: tuple[int, ...] = ()
        if ("widths" in raw) == ("budgets" in raw):
            raise self.fail(
                "widths",
                ("give either widths or budgets, not both: " if "widths" in raw
                 else "required key is missing: give either widths ")
                + "(the same for every method) or budgets (parameter counts; each "
                "method takes the width that fits)",
            )
        if "budgets" in raw:
            if not task.budgets:
                raise self.fail("budgets", f"a {task.name} sweep takes widths")
            budgets = self.budgets(raw["budgets"], method_specs, task)
            widths = tuple(sorted({
                w for spec in method_specs
                for w in _budget_widths(task.find(spec.kind), spec, budgets)
            }))
        else:
            widths = self.widths(raw["widths"], method_specs, task)
        time_limit = None
        if "time_limit" in raw:
            try:
                time_limit = validate.finite_float(
                    raw["time_limit"], minimum=0.0, exclusive_minimum=True
                )
            except (TypeError, ValueError) as e:
                raise self.fail("time_limit", f"{e} (seconds per run)") from None
        return Config(
            name=name,
            seed=seed,
            replicates=replicates,
            widths=widths,
            targets=tuple(target_specs),
            methods=tuple(method_specs),
            source=self.source,
            text=text,
            description=description,
            time_limit=time_limit,
            task=task,
            budgets=budgets,
        )

    def budgets(self, value: Any, method_specs: list[MethodSpec], task: Task) -> tuple[int, ...]:
        budgets = self.integers(value, "budgets", 1)
        for i, b in enumerate(budgets):
            if b in budgets[:i]:
                raise self.fail(f"budgets[{i}]", f"duplicate budget {b}")
        budgets = sorted(budgets)
        for j, spec in enumerate(method_specs):
            method = task.find(spec.kind)
            try:
                widths = _budget_widths(method, spec, tuple(budgets))
            except ValueError as e:
                raise self.fail(f"methods[{j}].kind", str(e)) from None
            if not widths:
                least = method.size(method.min_width, spec.kwargs)  # type: ignore[misc]
                raise self.fail(
                    "budgets",
                    f"every budget is below the smallest model of methods[{j}] "
                    f"({spec.name!r}: {least} parameters)",
                )
        return tuple(budgets)

    def widths(self, value: Any, method_specs: list[MethodSpec], task: Task) -> tuple[int, ...]:
        widths = self.integers(value, "widths", 2)
        for i, w in enumerate(widths):
            if w in widths[:i]:
                raise self.fail(f"widths[{i}]", f"duplicate width {w}")
            for j, spec in enumerate(method_specs):
                least = task.find(spec.kind).min_width
                if w < least:
                    raise self.fail(
                        f"widths[{i}]",
                        f"width {w} is below the minimum {least} of method kind "
                        f"{spec.kind!r} (methods[{j}])",
                    )
        return tuple(sorted(widths))
