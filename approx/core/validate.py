"""One place for the checks every boundary makes: integers, finite floats, choices.

Config loading, method tables, constructors and the training entry points all validate
the same few kinds of value. Each check here returns the value converted (``int``,
``float``) or raises ``ValueError``/``TypeError`` with one line: ``"<what> must be …,
got …"``, or ``"must be …, got …"`` when ``what`` is empty (config errors prefix the key
path themselves). Unknown names get a did-you-mean hint and the list of known ones.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = [
    "choice",
    "did_you_mean",
    "finite_float",
    "integer",
    "interval",
    "lookup",
    "printable",
    "type_name",
]

T = TypeVar("T")


def type_name(value: object) -> str:
    """A user-facing name for ``value``'s type (TOML words where they exist)."""
    return {dict: "table", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def printable(text: str) -> str:
    """``text`` with control characters escaped (``ESC`` as ``\\x1b``), so echoing a
    name or value from a config cannot drive the terminal (move the cursor, clear the
    screen, write the clipboard) nor reorder the line (bidirectional overrides)."""
    return "".join(_escape(c) if unicodedata.category(c) == "Cc" or c in _BIDI else c
                   for c in text)


#: bidirectional embeddings, overrides and isolates: they reorder what a line shows
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(char: str) -> str:
    return repr(char)[1:-1] if char not in "\n\t" else " "


def _subject(what: str) -> str:
    return f"{what} must" if what else "must"


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest known name, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def integer(
    value: Any, what: str = "", minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in range.

    Parameters
    ----------
    value : object
        The value to check; Python and numpy integers pass, bools and floats do not.
    what : str
        The name used in the message (empty: the message starts with ``"must"``).
    minimum, maximum : int, optional
        Inclusive bounds.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{_subject(what)} be an integer, got {type_name(value)} {value!r}")
    value = int(value)
    _check_range(value, what, minimum, maximum, "an integer")
    return value


def finite_float(
    value: Any,
    what: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` in range (integers are accepted).

    ``nan`` and ``±inf`` are refused: a step size or tolerance of ``nan`` compares false
    with everything and would silently turn a bound check into no check.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (bools are refused).
    ValueError
        If it is not finite, or out of range (``exclusive_minimum``: ``value > minimum``;
        ``exclusive_maximum``: ``value < maximum``).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{_subject(what)} be a number, got {type_name(value)} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{_subject(what)} be a finite number, got {value!r}")
    _check_range(value, what, minimum, maximum, "a number", exclusive_minimum, exclusive_maximum)
    return value


def describe_range(
    minimum: float | None,
    maximum: float | None,
    *,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> str:
    """The range in words: ``"≥ 1"``, ``"> 0"``, ``"in [0, 1)"``, or ``""`` when unbounded."""
    if minimum is not None and maximum is not None:
        left, right = "(" if exclusive_minimum else "[", ")" if exclusive_maximum else "]"
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{'>' if exclusive_minimum else '≥'} {minimum:g}"
    if maximum is not None:
        return f"{'<' if exclusive_maximum else '≤'} {maximum:g}"
    return ""


def _check_range(
    value: float,
    what: str,
    minimum: float | None,
    maximum: float | None,
    noun: str,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> None:
    low = minimum is not None and (value < minimum or (exclusive_minimum and value == minimum))
    high = maximum is not None and (value > maximum or (exclusive_maximum and value == maximum))
    if low or high:
        bounds = describe_range(
            minimum,
            maximum,
            exclusive_minimum=exclusive_minimum,
            exclusive_maximum=exclusive_maximum,
        )
        raise ValueError(f"{_subject(what)} be {noun} {bounds}, got {value!r}")


def choice(value: Any, choices: Iterable[Any], what: str = "") -> Any:
    """Return ``value`` if it is one of ``choices``; else ``ValueError`` with a hint."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable/uncomparable values are simply not among the choices
        ok = False
    if ok and not (isinstance(value, bool) and not any(isinstance(c, bool) for c in choices)):
        return value
    hint = did_you_mean(value, [c for c in choices if isinstance(c, str)])
    raise ValueError(
        f"{_subject(what)} be one of {', '.join(map(repr, choices))}; {hint}got {value!r}"
    )


def lookup(table: Mapping[str, T], name: object, what: str) -> T:
    """``table[name]``, or ``ValueError``: ``unknown <what> 'x'; did you mean …? known …``.

    Parameters
    ----------
    table : mapping
        Name-keyed table (activations, losses, optimizers, targets, methods, …).
    name : object
        The name asked for (anything: a non-string is reported, not crashed on).
    what : str
        What the table holds, singular (``"activation"``).
    """
    if isinstance(name, str) and name in table:
        return table[name]
    raise ValueError(
        f"unknown {what} {name!r}; {did_you_mean(name, table)}known: {', '.join(table) or '(none)'}"
    )


def interval(value: Any, what: str = "domain") -> tuple[float, float]:
    """Return ``(a, b)`` as floats if ``value`` is a pair of finite reals with ``a < b``.

    The one check of a closed interval (targets, models, nets' pieces, configs), with one
    wording: ``"<what> must be a pair of finite numbers (a, b) with a < b, got …"``.
    """
    try:
        a, b = value
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be a pair of finite numbers (a, b) with a < b, got {value!r}"
        ) from None
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ValueError(
            f"{what} must be a pair of finite numbers (a, b) with a < b, got ({a!r}, {b!r})"
        )
    return a, b
