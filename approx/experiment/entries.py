"""One config entry each: a ``[[targets]]``, ``[[datasets]]`` or ``[[methods]]`` table.

Each function checks one parsed TOML table and returns its validated record
(:mod:`approx.experiment.specs`), raising a :class:`ConfigError` with the entry's key
path at the first problem. A target is built once here, so an expression with no finite
supremum is refused before any run starts; a method's parameters are checked and
resolved by the method itself (:meth:`approx.methods.Param.check`,
:meth:`approx.methods.Method.resolve`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from approx.core import validate
from approx.experiment.checks import Checker
from approx.experiment.specs import DatasetSpec, MethodSpec, TargetSpec
from approx.methods import Method
from approx.problems import datasets, targets

__all__ = ["budget_widths", "dataset", "method", "target"]

_TARGET_KEYS = ("name", "expr", "domain")


def target(check: Checker, table: dict[str, Any], key: str) -> TargetSpec:
    """A ``[[targets]]`` entry: a built-in by name, or ``expr`` on ``domain``."""
    check.keys(table, _TARGET_KEYS, f"{key}.")
    check.required(table, ("name",), f"{key}.")
    name = check.name(table["name"], f"{key}.name")
    domain = _domain(check, table, key) if "domain" in table else None
    if table.get("expr") is None:
        spec, what = _builtin(check, name, domain, key), f"{key}.domain"
    else:
        spec, what = _custom(check, name, table["expr"], domain, key), f"{key}.expr"
    try:
        spec.build()
    except (ValueError, OverflowError) as e:
        raise check.fail(what, str(e)) from None
    except RecursionError:  # deeply nested or very long expressions
        raise check.fail(what, "expression is too long or too deeply nested") from None
    return spec


def _domain(check: Checker, table: dict[str, Any], key: str) -> tuple[float, float]:
    d = table["domain"]
    if (
        not isinstance(d, list)
        or len(d) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in d)
    ):
        raise check.fail(f"{key}.domain", f"must be an array of two numbers [a, b], got {d!r}")
    try:
        return validate.interval(d, "domain")
    except ValueError as e:
        raise check.fail(f"{key}.domain", str(e).removeprefix("domain ")) from None


def _builtin(
    check: Checker, name: str, domain: tuple[float, float] | None, key: str
) -> TargetSpec:
    if name not in targets.names():
        raise check.fail(
            f"{key}.name",
            f"unknown built-in target {name!r}; {validate.did_you_mean(name, targets.names())}"
            f"built-ins are {', '.join(targets.names())} (or give expr and domain for a custom "
            "target)",
        )
    return TargetSpec(name, None, domain)


def _custom(
    check: Checker, name: str, expr: Any, domain: tuple[float, float] | None, key: str
) -> TargetSpec:
    if not isinstance(expr, str):
        raise check.fail(f"{key}.expr", f"must be a string, got {validate.type_name(expr)}")
    if name in targets.names():
        raise check.fail(
            f"{key}.name", f"{name!r} is a built-in target; give the custom expression another name"
        )
    if domain is None:
        raise check.fail(f"{key}.domain", "required with expr: the interval [a, b]")
    return TargetSpec(name, expr, domain)


def dataset(check: Checker, table: dict[str, Any], key: str) -> DatasetSpec:
    """A ``[[datasets]]`` entry: a built-in by ``kind`` (default: its name) and parameters."""
    check.required(table, ("name",), f"{key}.")
    name = check.name(table["name"], f"{key}.name")
    kind = table.get("kind", name)
    where = f"{key}.kind" if "kind" in table else f"{key}.name"
    if not isinstance(kind, str) or kind not in datasets.DATASETS:
        raise check.fail(
            where,
            f"unknown dataset {kind!r}; {validate.did_you_mean(str(kind), datasets.DATASETS)}"
            f"built-ins are {', '.join(datasets.DATASETS)} (give `kind` to label one "
            "differently)",
        )
    params = {k: v for k, v in table.items() if k not in ("name", "kind")}
    try:
        resolved = datasets.get(kind).resolve(params)
    except ValueError as e:
        raise check.fail(key, str(e)) from None
    return DatasetSpec(name, kind, tuple(resolved.items()))


def method(
    check: Checker, table: dict[str, Any], key: str, find: Callable[[object], Method]
) -> MethodSpec:
    """A ``[[methods]]`` entry: a ``kind`` looked up with ``find`` (its task's table) and
    that kind's parameters, checked and resolved (defaults filled)."""
    check.required(table, ("name", "kind"), f"{key}.")
    name = check.name(table["name"], f"{key}.name")
    kind = table["kind"]
    try:
        found = find(kind)
    except (TypeError, ValueError) as e:
        raise check.fail(f"{key}.kind", str(e)) from None
    params = {k: v for k, v in table.items() if k not in ("name", "kind")}
    allowed = tuple(p.name for p in found.params)
    for pname, value in params.items():
        if pname not in allowed:
            hint = validate.did_you_mean(pname, allowed).rstrip() or (
                f"its parameters are {', '.join(allowed) or '(none)'}"
            )
            raise check.fail(
                f"{key}.{pname}", f"method kind {kind!r} has no such parameter; {hint}"
            )
        try:
            found.param(pname).check(value)
        except ValueError as e:
            raise check.fail(f"{key}.{pname}", str(e)) from None
    try:
        resolved = found.resolve(params)
    except ValueError as e:  # a combination of parameters the method refuses
        raise check.fail(key, str(e)) from None
    return MethodSpec(name, kind, tuple(resolved.items()))


def budget_widths(
    method: Method, spec: MethodSpec, budgets: tuple[int, ...]
) -> tuple[int, ...]:
    """The distinct widths at which ``method`` fits each budget (budgets too small: none)."""
    widths = (method.width_for(b, spec.kwargs) for b in budgets)
    return tuple(sorted({w for w in widths if w is not None}))
