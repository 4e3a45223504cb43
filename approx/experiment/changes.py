"""What differs between the config a folder's runs were made with and the one to run.

A results folder refuses runs of a config with another digest. The refusal names each
changed key in the grammar of the command-line overrides (``seed``,
``methods.adam.lr``; :mod:`~approx.experiment.overrides`) with its old and new value,
and says apart what the user changed (in the file or by an override) from what a new
version of the package changed: the stored config's text is validated again by this
code, and where that resolves differently from what was stored when the runs were made,
a default changed.
"""

from __future__ import annotations

import json
from typing import Any

from approx.experiment.config import Config, parse_config
from approx.experiment.overrides import override_key
from approx.experiment.specs import ConfigError

__all__ = ["describe_change", "differences"]

_MISSING = object()
#: changed keys named in one line, at most
_SHOWN = 4


def _flat(canonical: dict[str, Any]) -> dict[str, Any]:
    """Key path → value: the entries of an array by name (their list keeps the order),
    a method's or dataset's parameters as keys of the entry."""
    flat: dict[str, Any] = {}
    for key, value in canonical.items():
        if not (isinstance(value, list) and value
                and all(isinstance(e, dict) and "name" in e for e in value)):
            flat[key] = value
            continue
        flat[key] = [e["name"] for e in value]
        for entry in value:
            prefix = f"{key}.{override_key(str(entry['name']))}"
            for k, v in entry.items():
                if k == "params" and isinstance(v, dict):
                    flat.update({f"{prefix}.{p}": pv for p, pv in v.items()})
                elif k != "name":
                    flat[f"{prefix}.{k}"] = v
    return flat


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key old → new"`` for each key of two canonical configs
    (:meth:`~approx.experiment.config.Config.canonical`) whose value differs; the keys
    of an entry only one of them has are left out (its array's line names it)."""
    a, b = _flat(old), _flat(new)
    both = {k for k, v in a.items() if isinstance(v, list)} | {
        k for k, v in b.items() if isinstance(v, list)}
    lines = []
    for key in [*a, *(k for k in b if k not in a)]:
        head, _, rest = key.partition(".")
        if rest and head in both:
            entry = rest.split(".")[0]
            names = (a.get(head, []), b.get(head, []))
            if not all(any(override_key(str(n)) == entry for n in ns) for ns in names):
                continue
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            lines.append(f"{key} {_show(a.get(key, _MISSING))} → {_show(b.get(key, _MISSING))}")
    return lines


def _joined(lines: list[str]) -> str:
    more = f"; and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return "; ".join(lines[:_SHOWN]) + more


def describe_change(stored: str | None, stored_text: str | None, config: Config) -> str:
    """What changed between the runs of a folder and ``config``, in a few words.

    Parameters
    ----------
    stored : str or None
        The canonical config the runs were made with, as JSON (the store's meta).
    stored_text : str or None
        That config's text (the snapshot the store keeps), validated again here.
    config : Config
        The config about to run.

    Returns
    -------
    str
        ``"changed: seed 3 → 4"``, followed by ``"; a default changed since those runs:
        methods.adam.steps 2000 → 3000"`` when the stored text now resolves differently.
    """
    old = json.loads(stored or "{}")
    try:
        now = parse_config(stored_text).canonical() if stored_text else None
    except ConfigError:
        now = None
    defaults = differences(old, now) if now is not None else []
    user = differences(now if now is not None else old, config.canonical())
    parts = [f"changed: {_joined(user)}"] if user else []
    if defaults:
        parts.append(f"a default changed since those runs: {_joined(defaults)}")
    return "; ".join(parts) or "changed: its resolved form"
