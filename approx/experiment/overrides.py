"""Settings changed on the command line: ``run-experiment CONFIG key.path=value …``.

The grammar is Hydra's where it fits a TOML config:

- ``KEY=VALUE`` sets a key: ``seed=3``, ``widths=[4,8]``, ``time_limit=60``. A key is
  dot-separated segments, each bare (letters, digits, ``_``, ``-``, ``+``) or quoted as
  in TOML (``"…"`` or ``'…'``, for a segment holding a dot).
- The arrays of tables (``[[targets]]``, ``[[datasets]]``, ``[[methods]]``) are addressed
  by an entry's name: ``methods.adam.lr=1e-3``, ``targets.wiggle.domain=[-1,1]``,
  ``methods."relu.v2".lr=1e-3`` (quoted: the name holds a dot).
- ``VALUE`` is a TOML value: ``3``, ``1e-3``, ``true``, ``"text"``, ``[4, 8]``,
  ``{a = 1}``. A word that starts with a letter and is no TOML value is a string, as in
  Hydra: ``knots=adaptive`` is ``knots="adaptive"``.
- ``+KEY=VALUE`` is ``KEY=VALUE`` (a key absent from the file needs no ``+``: a misspelt
  one is refused with a did-you-mean), except that ``+methods.<new>.<key>=…`` appends a
  new entry named ``<new>``; without ``+`` an unknown entry name is refused.
- ``~KEY`` removes a key (its default applies again); ``~methods.<name>`` drops an entry.

Overrides apply in order to the parsed file, and the result is validated exactly as a
file is (:func:`~approx.experiment.validation.validate_config`); an error names the
override as typed and the key path it reached (``override methods.adam.lrr=0.1:
methods[1].lrr: …; did you mean 'lr'?``). The overridden config's snapshot
(:func:`snapshot_text`) is TOML that validates to the same config, so a results folder
holds what ran, and its digest differs from the file's wherever a value does.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from approx.experiment.specs import ConfigError

__all__ = [
    "Override",
    "apply_overrides",
    "blame",
    "folder_name",
    "override_key",
    "parse_override",
    "parse_value",
    "snapshot_text",
    "to_toml",
    "toml_key",
]

_BARE = re.compile(r"[A-Za-z0-9_+-]+")
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL = re.compile(r"'[^'\n]*'")
_TOML_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")
_WORD = re.compile(r"[A-Za-z_][^\"'\n\r]*\Z")
#: keys that change no run (not in the config's digest): overriding them keeps the folder
_NO_FOLDER = ("name", "time_limit", "description")
#: characters kept as they are in a folder name made from overrides
_SAFE = re.compile(r"[A-Za-z0-9._=+,~-]")
_DROPPED = set("[]\"' ")
_SLUG_LENGTH = 80


@dataclass(frozen=True)
class Override:
    """One parsed override: the text as typed, the key's segments, the value.

    ``op`` is ``"set"``, ``"add"`` (a leading ``+``) or ``"remove"`` (a leading ``~``;
    ``value`` is None).
    """

    text: str
    path: tuple[str, ...]
    value: Any
    op: str = "set"


def _fail(text: str, problem: str, source: str) -> ConfigError:
    return ConfigError(source, f"override {text}", problem)


def _segments(key: str, text: str, source: str) -> tuple[tuple[str, ...], str]:
    """The leading key's segments and the rest of ``key`` (from its ``=`` on)."""
    segments: list[str] = []
    rest = key
    while True:
        if rest[:1] in ('"', "'"):
            quoted = (_BASIC if rest[0] == '"' else _LITERAL).match(rest)
            if quoted is None:
                raise _fail(text, "unclosed quote in the key", source)
            end = quoted.end() - 1
            try:
                segments.append(tomllib.loads(f"k = {quoted.group()}")["k"])
            except tomllib.TOMLDecodeError:
                raise _fail(text, f"bad quoted key {quoted.group()}", source) from None
            rest = rest[end + 1:]
        else:
            match = _BARE.match(rest)
            if match is None:
                raise _fail(text, "expected a key (letters, digits, _, -, +, or a quoted "
                            "name) before " + repr(rest[:1] or "the end"), source)
            segments.append(match.group())
            rest = rest[match.end():]
        if rest[:1] != ".":
            return tuple(segments), rest
        rest = rest[1:]


def parse_value(text: str, raw: str, source: str = "<command line>") -> Any:
    """A TOML value, or a bare word (starting with a letter) as a string."""
    if not raw.strip():
        raise _fail(text, "no value after '='", source)
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as e:
        if _WORD.match(raw.strip()):
            return raw.strip()
        raise _fail(text, f"the value {raw!r} is not TOML ({e}); quote a string: "
                    "'key=\"text\"'", source) from None


def parse_override(text: str, source: str = "<command line>") -> Override:
    """Parse ``KEY=VALUE``, ``+KEY=VALUE`` or ``~KEY`` (module docstring).

    Raises
    ------
    ConfigError
        One line naming the override and what is wrong with it.
    """
    body, op = text.strip(), "set"
    if body.startswith("~"):
        body, op = body[1:], "remove"
    elif body.startswith("+"):
        body, op = body.lstrip("+"), "add"
    if not body:
        raise _fail(text, "empty override; write key=value", source)
    path, rest = _segments(body, text, source)
    rest = rest.lstrip()
    if op == "remove":
        if rest:
            raise _fail(text, "~ removes a key: write ~key, without a value", source)
        return Override(text, path, None, op)
    if not rest.startswith("="):
        raise _fail(text, "not of the form key=value" + (
            f" (unexpected {rest[:1]!r} in the key)" if rest else ""), source)
    return Override(text, path, parse_value(text, rest[1:], source), op)


def _entry(table: list[Any], name: str, override: Override, where: str, source: str) -> int:
    """The index of the entry called ``name`` of an array of tables (appended by ``+``)."""
    names = [e.get("name") for e in table if isinstance(e, dict)]
    for i, entry in enumerate(table):
        if isinstance(entry, dict) and entry.get("name") == name:
            return i
    if override.op == "add":
        table.append({"name": name})
        return len(table) - 1
    known = [str(n) for n in names if n is not None]
    hint = (f"did you mean {close!r}? " if (close := _close(name, known)) else "")
    raise _fail(override.text, f"no entry of {where} is named {name!r}; {hint}the names are "
                f"{', '.join(known) or '(none)'} (+{where}.{override_key(name)}.<key>=… adds one)",
                source)


def _close(name: str, known: list[str]) -> str | None:
    found = difflib.get_close_matches(name, known, n=1)
    return found[0] if found else None


def _apply_one(raw: dict[str, Any], override: Override, source: str) -> str:
    """Apply ``override`` to ``raw`` in place; the key path it reached (``methods[1].lr``)."""
    node: Any = raw
    where = ""
    segments = list(override.path)
    while True:
        segment = segments.pop(0)
        key = f"{where}.{segment}" if where else segment
        if not segments:
            break
        child = node.get(segment)
        if isinstance(child, list) and child and all(isinstance(e, dict) for e in child):
            index = _entry(child, segments.pop(0), override, key, source)
            where = f"{key}[{index}]"
            if not segments:  # the entry itself: only ~ may take it
                if override.op != "remove":
                    raise _fail(override.text, f"give a key of the entry: "
                                f"{override.text.split('=')[0]}.<key>=value", source)
                del child[index]
                return key
            node = child[index]
            continue
        if child is None and override.op != "remove":
            child = node[segment] = {}
        if not isinstance(child, dict):
            raise _fail(override.text, f"{key} is not a table: it holds "
                        f"{type(child).__name__} {child!r}", source)
        node, where = child, key
    if override.op == "remove":
        if segment not in node:
            raise _fail(override.text, f"there is no {key} to remove", source)
        del node[segment]
    else:
        node[segment] = override.value
    return key


def apply_overrides(raw: dict[str, Any], overrides: Sequence[Override], source: str
                    ) -> tuple[dict[str, Any], list[tuple[str, Override]]]:
    """A copy of the parsed TOML ``raw`` with ``overrides`` applied in order, and the key
    path each one reached (for naming it in a validation error).

    Raises
    ------
    ConfigError
        If an override addresses what is not there (an unknown entry name, a key under
        a value that is not a table, a key to remove that is absent).
    """
    raw = copy.deepcopy(raw)
    reached = [(_apply_one(raw, o, source), o) for o in overrides]
    return raw, reached


def blame(error: ConfigError, reached: list[tuple[str, Override]]) -> ConfigError:
    """``error`` naming the override that set its key (the last one, if several did), or
    ``error`` itself if the key is the file's alone."""
    key = error.key
    for path, override in reversed(reached):
        if (key == path or key.startswith((f"{path}.", f"{path}["))
                or path.startswith((f"{key}.", f"{key}["))):
            prefix = f"override {override.text}"
            return ConfigError(error.source, f"{prefix}: {key}" if key else prefix,
                               error.problem)
    return error


def override_key(key: str) -> str:
    """``key`` as a segment of an override's key: bare when it can be, else quoted."""
    return key if _BARE.fullmatch(key) else toml_key(key)


def toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when it can be, else quoted."""
    return key if _TOML_BARE.match(key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    """``value`` as TOML (the types TOML parses to; anything else is refused)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return value.isoformat()  # a date or time, as TOML wrote it


def to_toml(raw: dict[str, Any]) -> str:
    """TOML text that :func:`tomllib.loads` parses back to ``raw`` (the keys in order;
    arrays of tables as ``[[key]]`` entries after the plain keys)."""
    lines, tables = [], []
    for key, value in raw.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{toml_key(key)} = {_toml_value(value)}")
    for key, entries in tables:
        for entry in entries:
            lines.append(f"\n[[{toml_key(key)}]]")
            lines += [f"{toml_key(k)} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def _visible(text: str) -> str:
    """``text`` on one comment line: control characters (a newline) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def snapshot_text(raw: dict[str, Any], source: str, overrides: Sequence[str]) -> str:
    """The results folder's config snapshot of an overridden config: a comment naming the
    file and the overrides, then the config they give, as TOML."""
    header = [f"# {_visible(source)} with the command-line overrides",
              *(f"#   {_visible(o)}" for o in overrides),
              "# applied (comments of the file are not kept); this file runs the same sweep.", ""]
    return "\n".join(header) + to_toml(raw)


def folder_name(name: str, overrides: Sequence[str]) -> str:
    """The name of the default results folder of a sweep called ``name`` run with
    ``overrides``: ``name`` itself when none changes a run (only ``name=``,
    ``time_limit=`` or ``description=``), else ``name+<overrides>`` with the overrides
    joined by ``,``, brackets, quotes and spaces dropped (``quickstart+seed=3,widths=4,8``);
    when another character had to be replaced by ``_``, or the result is long, a short
    hash of the overrides follows (``-1a2b3c4d``), so that two sweeps never share it."""
    kept = [o for o in overrides if parse_override(o).path[0] not in _NO_FOLDER]
    if not kept:
        return name
    joined = ",".join(o.strip() for o in kept)
    kept_chars = [c for c in joined if c not in _DROPPED]
    slug = "".join(c if _SAFE.match(c) else "_" for c in kept_chars)
    if len(slug) > _SLUG_LENGTH or not all(_SAFE.match(c) for c in kept_chars):
        digest = hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:8]
        slug = f"{slug[:_SLUG_LENGTH]}-{digest}"
    return f"{name}+{slug}"
