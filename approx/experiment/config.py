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

import dataclasses
import difflib
import hashlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from approx import methods
from approx.core import validate
from approx.core.errors import ApproxError
from approx.methods import Method
from approx.methods import classifiers as classify
from approx.methods.classifiers import Classifier
from approx.problems import datasets, targets
from approx.problems.targets import Target

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

#: what a sweep does: approximate functions (targets, max error) or classify 2-D samples
TASKS = ("approximation", "classification")

#: names become folder and file names (``fits_<target>.png``, ``models/<run id>.npz``)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*\Z")
#: a run id (two names and a few digits) stays well below the usual 255-byte file name limit
_NAME_LENGTH = 64
_TOP_KEYS = (
    "name", "description", "task", "seed", "replicates", "widths", "budgets", "targets",
    "datasets", "methods", "time_limit",
)
#: a config is a few kB; reading more than this is a mistake (``/dev/zero``, a data file)
MAX_CONFIG_BYTES = 1 << 20
_REQUIRED = ("name", "methods")
#: the key holding the sweep's subjects, per task
_SUBJECTS = {"approximation": "targets", "classification": "datasets"}
_TARGET_KEYS = ("name", "expr", "domain")


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
        super().__init__(f"{where}: {problem}")


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


@dataclass(frozen=True)
class DatasetSpec:
    """A validated dataset entry of a classification sweep.

    ``name`` labels it in tables and plots; ``kind`` is the built-in
    (:data:`approx.problems.datasets.DATASETS`); ``params`` are all its parameters, defaults filled.
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


@dataclass(frozen=True)
class MethodSpec:
    """A validated method entry: its label, its kind and all its parameters (defaults filled)."""

    name: str
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments for :func:`approx.methods.fit`."""
        return dict(self.params)


@dataclass(frozen=True)
class Run:
    """One fit of the sweep, identified by (target, method, width, replicate).

    In a classification sweep ``target`` is the dataset, ``width`` is 0 for a method
    without width, and ``sample_seed`` draws the samples.
    """

    target: TargetSpec | DatasetSpec
    method: MethodSpec
    width: int
    replicate: int
    seed: int
    sample_seed: int | None = None

    @property
    def run_id(self) -> str:
        """A unique, file-name-safe id; names hold no dots, so the id is unambiguous."""
        return f"{self.target.name}.{self.method.name}.d{self.width}.r{self.replicate}"


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
    task : str
        One of :data:`TASKS`.
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
    task: str = "approximation"
    budgets: tuple[int, ...] = ()

    @property
    def classification(self) -> bool:
        """Whether the sweep classifies (its targets are datasets)."""
        return self.task == "classification"

    def kind(self, spec: MethodSpec) -> Method:
        """The method (or classifier) a method entry runs, from its task's table."""
        return classify.get(spec.kind) if self.classification else methods.get(spec.kind)

    def widths_of(self, spec: MethodSpec) -> tuple[int, ...]:
        """The widths a method runs at: ``(0,)`` for a classifier without width."""
        method = self.kind(spec)
        if isinstance(method, Classifier) and not method.has_width:
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
            "methods": [
                {"name": m.name, "kind": m.kind, "params": dict(m.params)} for m in self.methods
            ],
        }
        if self.budgets:
            canonical["budgets"] = list(self.budgets)
        if self.classification:  # approximation configs keep the digest they always had
            canonical["task"] = self.task
            canonical["datasets"] = [
                {"name": d.name, "kind": d.kind, "params": dict(d.params)} for d in self.targets
            ]
        else:
            canonical["targets"] = [
                {"name": t.name, "expr": t.expr, "domain": t.domain and list(t.domain)}
                for t in self.targets
            ]
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
    # a deterministic method gives the same fit for every seed: it runs once; a
    # classification replicate draws new samples, so every method runs every replicate
    if config.classification or config.kind(method).random:
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
    for t, m, w in cells:
        for r in range(_replicates(config, m)):
            yield Run(
                t,
                m,
                w,
                r,
                run_seed(config.seed, t.name, m.name, w, r),
                sample_seed(config.seed, t.name, r) if config.classification else None,
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


def _table(task: str) -> Any:
    """The lookup of a task's method kinds."""
    return classify.get if task == "classification" else methods.get


def _type_name(value: Any) -> str:
    return {dict: "table", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


class _Validator:
    """Walks the parsed TOML, raising :class:`ConfigError` at the first problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, key, problem)

    def keys(self, table: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
                )
                raise self.fail(f"{prefix}{key}", f"unknown key; {hint}")

    def integer(self, value: Any, key: str, minimum: int) -> int:
        try:
            return validate.integer(value, minimum=minimum)
        except (TypeError, ValueError) as e:
            raise self.fail(key, str(e)) from None

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {_type_name(value)} {value!r}")
        if len(value) > _NAME_LENGTH:
            raise self.fail(
                key, f"is longer than {_NAME_LENGTH} characters (it becomes part of file names)"
            )
        if not _NAME.match(value):
            raise self.fail(
                key,
                f"{value!r} is not a valid name: use letters, digits, '_', '+' and '-' "
                "(it becomes part of file names)",
            )
        return value

    def tables(self, raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = raw[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(
                key, f"must be an array of tables ([[{key}]] entries), got {_type_name(value)}"
            )
        if not value:
            raise self.fail(key, "must not be empty")
        return value

    def config(self, raw: dict[str, Any], text: str) -> Config:
        self.keys(raw, _TOP_KEYS, "")
        task = raw.get("task", "approximation")
        try:
            task = validate.choice(task, TASKS)
        except ValueError as e:
            raise self.fail("task", str(e)) from None
        subjects = _SUBJECTS[task]
        for key in (*_REQUIRED, subjects):
            if key not in raw:
                raise self.fail(key, "required key is missing")
        other = _SUBJECTS["classification" if task == "approximation" else "approximation"]
        if other in raw:
            raise self.fail(
                other, f"a {task} sweep has [[{subjects}]], not [[{other}]] (task = {task!r})"
            )
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", f"must be a string, got {_type_name(description)}")
        name = self.name(raw["name"], "name")
        seed = self.integer(raw.get("seed", 0), "seed", 0)
        replicates = self.integer(raw.get("replicates", 1), "replicates", 1)
        subject = self.dataset if task == "classification" else self.target
        target_specs = [
            subject(t, f"{subjects}[{i}]") for i, t in enumerate(self.tables(raw, subjects))
        ]
        method_specs = [
            self.method(m, f"methods[{i}]", task)
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
            if task == "classification":
                raise self.fail("budgets", "a classification sweep takes widths")
            budgets = self.budgets(raw["budgets"], method_specs)
            widths = tuple(sorted({
                w for spec in method_specs
                for w in _budget_widths(methods.get(spec.kind), spec, budgets)
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

    def budgets(self, value: Any, method_specs: list[MethodSpec]) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise self.fail("budgets", f"must be an array of integers, got {_type_name(value)}")
        if not value:
            raise self.fail("budgets", "must not be empty")
        budgets = [self.integer(b, f"budgets[{i}]", 1) for i, b in enumerate(value)]
        for i, b in enumerate(budgets):
            if b in budgets[:i]:
                raise self.fail(f"budgets[{i}]", f"duplicate budget {b}")
        budgets = sorted(budgets)
        for j, spec in enumerate(method_specs):
            method = methods.get(spec.kind)
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

    def widths(self, value: Any, method_specs: list[MethodSpec], task: str) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise self.fail("widths", f"must be an array of integers, got {_type_name(value)}")
        if not value:
            raise self.fail("widths", "must not be empty")
        widths = [self.integer(w, f"widths[{i}]", 2) for i, w in enumerate(value)]
        for i, w in enumerate(widths):
            if w in widths[:i]:
                raise self.fail(f"widths[{i}]", f"duplicate width {w}")
            for j, spec in enumerate(method_specs):
                least = _table(task)(spec.kind).min_width
                if w < least:
                    raise self.fail(
                        f"widths[{i}]",
                        f"width {w} is below the minimum {least} of method kind "
                        f"{spec.kind!r} (methods[{j}])",
                    )
        return tuple(sorted(widths))

    def target(self, table: dict[str, Any], key: str) -> TargetSpec:
        self.keys(table, _TARGET_KEYS, f"{key}.")
        if "name" not in table:
            raise self.fail(f"{key}.name", "required key is missing")
        name = self.name(table["name"], f"{key}.name")
        expr = table.get("expr")
        domain = None
        if "domain" in table:
            d = table["domain"]
            if (
                not isinstance(d, list)
                or len(d) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in d)
            ):
                raise self.fail(
                    f"{key}.domain", f"must be an array of two numbers [a, b], got {d!r}"
                )
            if not (np.isfinite(d).all() and d[0] < d[1]):
                raise self.fail(f"{key}.domain", f"must be finite with a < b, got {d!r}")
            domain = (float(d[0]), float(d[1]))
        if expr is None:
            if name not in targets.names():
                close = difflib.get_close_matches(name, targets.names(), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(
                    f"{key}.name",
                    f"unknown built-in target {name!r}; {hint}built-ins are "
                    f"{', '.join(targets.names())} (or give expr and domain for a custom target)",
                )
            spec = TargetSpec(name, None, domain)
            what = f"{key}.domain"
        else:
            if not isinstance(expr, str):
                raise self.fail(f"{key}.expr", f"must be a string, got {_type_name(expr)}")
            if name in targets.names():
                raise self.fail(
                    f"{key}.name",
                    f"{name!r} is a built-in target; give the custom expression another name",
                )
            if domain is None:
                raise self.fail(f"{key}.domain", "required with expr: the interval [a, b]")
            spec = TargetSpec(name, expr, domain)
            what = f"{key}.expr"
        try:
            spec.build()
        except (ValueError, OverflowError) as e:
            raise self.fail(what, str(e)) from None
        except RecursionError:  # deeply nested or very long expressions
            raise self.fail(what, "expression is too long or too deeply nested") from None
        return spec

    def dataset(self, table: dict[str, Any], key: str) -> DatasetSpec:
        if "name" not in table:
            raise self.fail(f"{key}.name", "required key is missing")
        name = self.name(table["name"], f"{key}.name")
        kind = table.get("kind", name)
        where = f"{key}.kind" if "kind" in table else f"{key}.name"
        if not isinstance(kind, str) or kind not in datasets.DATASETS:
            raise self.fail(
                where,
                f"unknown dataset {kind!r}; {validate.did_you_mean(str(kind), datasets.DATASETS)}"
                f"built-ins are {', '.join(datasets.DATASETS)} (give `kind` to label one "
                "differently)",
            )
        params = {k: v for k, v in table.items() if k not in ("name", "kind")}
        try:
            resolved = datasets.get(kind).resolve(params)
        except ValueError as e:
            raise self.fail(key, str(e)) from None
        return DatasetSpec(name, kind, tuple(resolved.items()))

    def method(self, table: dict[str, Any], key: str, task: str) -> MethodSpec:
        for required in ("name", "kind"):
            if required not in table:
                raise self.fail(f"{key}.{required}", "required key is missing")
        name = self.name(table["name"], f"{key}.name")
        kind = table["kind"]
        if task == "classification":
            try:
                method: Method = classify.get(kind)
            except (TypeError, ValueError) as e:
                raise self.fail(f"{key}.kind", str(e)) from None
        elif not isinstance(kind, str) or kind not in methods.METHODS:
            close = difflib.get_close_matches(str(kind), list(methods.METHODS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            also = (
                " (a classification kind: set task = \"classification\")"
                if kind in classify.CLASSIFIERS
                else ""
            )
            raise self.fail(
                f"{key}.kind",
                f"unknown method kind {kind!r}{also}; {hint}known kinds are "
                f"{', '.join(methods.METHODS)}",
            )
        else:
            method = methods.get(kind)
        params = {k: v for k, v in table.items() if k not in ("name", "kind")}
        allowed = tuple(p.name for p in method.params)
        for pname, value in params.items():
            if pname not in allowed:
                close = difflib.get_close_matches(pname, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"its parameters are {', '.join(allowed) or '(none)'}"
                )
                raise self.fail(
                    f"{key}.{pname}", f"method kind {kind!r} has no such parameter; {hint}"
                )
            try:
                method.param(pname).check(value)
            except ValueError as e:
                raise self.fail(f"{key}.{pname}", str(e)) from None
        try:
            resolved = method.resolve(params)
        except ValueError as e:  # a combination of parameters the method refuses
            raise self.fail(key, str(e)) from None
        return MethodSpec(name, kind, tuple(resolved.items()))
