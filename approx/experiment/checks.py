"""Checks of parsed TOML, each failing with a :class:`ConfigError` naming file and key.

A :class:`Checker` is made per config file; the entry checks
(:mod:`approx.experiment.entries`) and the config's own
(:mod:`approx.experiment.validation`) use it, so every message has one shape:
``<file>: <key path>: <what is wrong>``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from approx.core import validate
from approx.experiment.specs import ConfigError

__all__ = ["NAME_LENGTH", "Checker"]

#: names become folder and file names (``fits_<target>.png``, ``models/<run id>.npz``)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*\Z")
#: a run id (two names and a few digits) stays well below the usual 255-byte file name limit
NAME_LENGTH = 64


class Checker:
    """Checks values of the config read from ``source``; raises at the first problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        """The error for ``key`` (a key path, empty for the whole file)."""
        return ConfigError(self.source, key, problem)

    def keys(self, table: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        """Refuse a key of ``table`` that is not ``allowed`` (with a did-you-mean hint)."""
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
                )
                raise self.fail(f"{prefix}{key}", f"unknown key; {hint}")

    def required(self, table: dict[str, Any], keys: tuple[str, ...], prefix: str = "") -> None:
        """Refuse ``table`` if one of ``keys`` is missing (the first, in order)."""
        for key in keys:
            if key not in table:
                raise self.fail(f"{prefix}{key}", "required key is missing")

    def integer(self, value: Any, key: str, minimum: int) -> int:
        """``value`` as an integer ≥ ``minimum``."""
        try:
            return validate.integer(value, minimum=minimum)
        except (TypeError, ValueError) as e:
            raise self.fail(key, str(e)) from None

    def name(self, value: Any, key: str) -> str:
        """``value`` as a name usable in file names."""
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {validate.type_name(value)} {value!r}")
        if len(value) > NAME_LENGTH:
            raise self.fail(
                key, f"is longer than {NAME_LENGTH} characters (it becomes part of file names)"
            )
        if not _NAME.match(value):
            raise self.fail(
                key,
                f"{value!r} is not a valid name: use letters, digits, '_', '+' and '-' "
                "(it becomes part of file names)",
            )
        return value

    def tables(self, raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """``raw[key]`` as a non-empty array of tables (``[[key]]`` entries)."""
        value = raw[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(
                key,
                f"must be an array of tables ([[{key}]] entries), got {validate.type_name(value)}",
            )
        if not value:
            raise self.fail(key, "must not be empty")
        return value

    def integers(self, value: Any, key: str, minimum: int) -> list[int]:
        """``value`` (at ``key``) as a non-empty array of integers ≥ ``minimum``."""
        if not isinstance(value, list):
            raise self.fail(key, f"must be an array of integers, got {validate.type_name(value)}")
        if not value:
            raise self.fail(key, "must not be empty")
        return [self.integer(v, f"{key}[{i}]", minimum) for i, v in enumerate(value)]
