"""Checking a parsed config as a whole: its keys, task, names, sizes and limits.

Each entry is checked by :mod:`~approx.experiment.entries` (the subjects by their task's
:attr:`~approx.experiment.tasks.Task.entry`); here the config's own keys, the names'
uniqueness, the widths or parameter budgets against every method, and the time limit.
The first problem raises a :class:`~approx.experiment.specs.ConfigError` naming the key.
"""

from __future__ import annotations

from typing import Any

from approx.core import validate
from approx.experiment import entries
from approx.experiment.checks import Checker
from approx.experiment.specs import DatasetSpec, MethodSpec, TargetSpec
from approx.experiment.tasks import DEFAULT_TASK, TASKS, Task

__all__ = ["validate_config"]

_TOP_KEYS = (
    "name", "description", "task", "seed", "replicates", "widths", "budgets", "targets",
    "datasets", "methods", "time_limit",
)
_REQUIRED = ("name", "methods")


def validate_config(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The fields of the :class:`~approx.experiment.config.Config` of the parsed TOML
    ``raw`` (all but where it came from: ``source`` and ``text``).

    Raises
    ------
    ConfigError
        At the first problem, naming ``source``, the key path and what is wrong.
    """
    return _Validator(source).config(raw)


class _Validator(Checker):
    """Walks the parsed TOML, raising :class:`ConfigError` at the first problem.

    The phases run in the order of the file's concerns (its keys and task, its own
    scalars, the entries, the sizes, the time limit), so the first problem reported is
    the same whatever else is wrong.
    """

    def config(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.keys(raw, _TOP_KEYS, "")
        task = self.task(raw)
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.fail(
                "description", f"must be a string, got {validate.type_name(description)}"
            )
        name = self.name(raw["name"], "name")
        seed = self.integer(raw.get("seed", 0), "seed", 0)
        replicates = self.integer(raw.get("replicates", 1), "replicates", 1)
        subjects, method_specs = self.entries(raw, task)
        widths, budgets = self.sizes(raw, method_specs, task)
        return {
            "name": name,
            "seed": seed,
            "replicates": replicates,
            "widths": widths,
            "targets": subjects,
            "methods": method_specs,
            "description": description,
            "time_limit": self.time_limit(raw),
            "task": task,
            "budgets": budgets,
        }

    def task(self, raw: dict[str, Any]) -> Task:
        """The config's task, once its required keys are there (and no other task's)."""
        try:
            task = TASKS[validate.choice(raw.get("task", DEFAULT_TASK), TASKS)]
        except ValueError as e:
            raise self.fail("task", str(e)) from None
        self.required(raw, (*_REQUIRED, task.subjects))
        for other in (t.subjects for t in TASKS.values() if t is not task):
            if other in raw:
                raise self.fail(
                    other,
                    f"a {task.name} sweep has [[{task.subjects}]], not [[{other}]] "
                    f"(task = {task.name!r})",
                )
        return task

    def entries(
        self, raw: dict[str, Any], task: Task
    ) -> tuple[tuple[TargetSpec | DatasetSpec, ...], tuple[MethodSpec, ...]]:
        """The subject and method entries, each name given once."""
        subjects = tuple(
            task.entry(self, t, f"{task.subjects}[{i}]")
            for i, t in enumerate(self.tables(raw, task.subjects))
        )
        method_specs = tuple(
            entries.method(self, m, f"methods[{i}]", task.find)
            for i, m in enumerate(self.tables(raw, "methods"))
        )
        for key, specs in ((task.subjects, subjects), ("methods", method_specs)):
            seen: dict[str, int] = {}
            for i, spec in enumerate(specs):
                if spec.name in seen:
                    raise self.fail(
                        f"{key}[{i}].name",
                        f"duplicate name {spec.name!r} (also {key}[{seen[spec.name]}])",
                    )
                seen[spec.name] = i
        return subjects, method_specs

    def sizes(
        self, raw: dict[str, Any], method_specs: tuple[MethodSpec, ...], task: Task
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The widths and the budgets (empty unless given), from exactly one of them."""
        if ("widths" in raw) == ("budgets" in raw):
            raise self.fail(
                "widths",
                ("give either widths or budgets, not both: " if "widths" in raw
                 else "required key is missing: give either widths ")
                + "(the same for every method) or budgets (parameter counts; each "
                "method takes the width that fits)",
            )
        if "widths" in raw:
            return self.widths(raw["widths"], method_specs, task), ()
        if not task.budgets:
            raise self.fail("budgets", f"a {task.name} sweep takes widths")
        budgets = self.budgets(raw["budgets"], method_specs, task)
        widths = tuple(sorted({
            w
            for spec in method_specs
            for w in entries.budget_widths(task.find(spec.kind), spec, budgets)
        }))
        return widths, budgets

    def time_limit(self, raw: dict[str, Any]) -> float | None:
        """Seconds per run, if given."""
        if "time_limit" not in raw:
            return None
        try:
            return validate.finite_float(raw["time_limit"], minimum=0.0, exclusive_minimum=True)
        except (TypeError, ValueError) as e:
            raise self.fail("time_limit", f"{e} (seconds per run)") from None

    def budgets(
        self, value: Any, method_specs: tuple[MethodSpec, ...], task: Task
    ) -> tuple[int, ...]:
        budgets = self.integers(value, "budgets", 1)
        for i, b in enumerate(budgets):
            if b in budgets[:i]:
                raise self.fail(f"budgets[{i}]", f"duplicate budget {b}")
        budgets = sorted(budgets)
        for j, spec in enumerate(method_specs):
            method = task.find(spec.kind)
            try:
                widths = entries.budget_widths(method, spec, tuple(budgets))
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

    def widths(
        self, value: Any, method_specs: tuple[MethodSpec, ...], task: Task
    ) -> tuple[int, ...]:
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
