"""Declared options: one :class:`Option` per name, one :class:`Schema` per owner.

An :class:`Option` says everything there is to know about one setting: its type, its
default, its range or its choices, and one line of help. A :class:`Schema` is an ordered
set of them, owned by something with a name (a method kind, a dataset, an optimizer);
it does the three jobs every owner needs, in one place each:

- :meth:`Schema.check` checks a mapping of given values once: unknown names are refused
  with a did-you-mean hint and the list of known ones, every value goes through
  :mod:`approx.core.validate` (so ``nan``, ``inf`` and bools-for-numbers are refused with
  the same words everywhere);
- :meth:`Schema.fill` fills the defaults of the names not given (trusted values: those
  :meth:`Schema.check` returned, or resolved ones read back);
- :meth:`Schema.help` writes one line per option, for ``--list`` and docstrings.

Every refusal is a ``ValueError`` (a value of the wrong type included), so a caller that
reports configuration errors catches one class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from approx.core import validate

__all__ = ["Option", "Schema"]

#: the types an option may declare
TYPES = (int, float, bool, str)


@dataclass(frozen=True)
class Option:
    """One declared setting.

    Attributes
    ----------
    name : str
    type : type
        ``int``, ``float``, ``bool`` or ``str``. A float option accepts integers (and
        returns floats); no option accepts a bool for a number.
    default : object
        The value when the option is not given. ``None`` means the option may be left
        unset, and ``None`` is then accepted as a value (meaning what the help says).
    doc : str
        One line of help.
    choices : tuple of str, optional
        The allowed names (a misspelt one gets a did-you-mean hint).
    minimum, maximum : float, optional
        Bounds of a number, inclusive unless ``exclusive_minimum``/``exclusive_maximum``.
    default_doc : str
        The default in words, for help, when it depends on other options (``default``
        is then None: the owner fills it in).
    """

    name: str
    type: type
    default: Any
    doc: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    default_doc: str = ""

    def __post_init__(self) -> None:
        # a declaration error surfaces at import, not in the middle of a sweep
        if self.type not in TYPES:
            raise TypeError(f"option {self.name!r}: type must be one of int, float, bool, str")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not None:
            self.check(self.default, f"the default of option {self.name!r}")

    def check(self, value: Any, what: str = "") -> Any:
        """``value`` converted to the declared type, or ``ValueError``.

        ``what`` names the value in the message (empty: the message starts with
        ``"must"``, for callers that prefix their own key path).
        """
        if value is None and self.default is None:
            return None
        try:
            if self.type is int:
                lo, hi = (None if b is None else int(b) for b in (self.minimum, self.maximum))
                value = validate.integer(value, what, lo, hi)
            elif self.type is float:
                value = validate.finite_float(
                    value,
                    what,
                    self.minimum,
                    self.maximum,
                    exclusive_minimum=self.exclusive_minimum,
                    exclusive_maximum=self.exclusive_maximum,
                )
            elif not isinstance(value, self.type) or (
                self.type is not bool and isinstance(value, bool)
            ):
                must = f"{what} must" if what else "must"
                raise TypeError(
                    f"{must} be of type {self.type.__name__}, got "
                    f"{validate.type_name(value)} {value!r}"
                )
        except TypeError as e:
            raise ValueError(str(e)) from None
        if self.choices is not None:
            validate.choice(value, self.choices, what)
        return value

    def replace(self, **changes: Any) -> Option:
        """This option with some fields changed (an owner's own default, say)."""
        return dataclasses.replace(self, **changes)

    def help(self) -> str:
        """One line: name, type, choices or range, default, and the doc."""
        facts = [self.type.__name__]
        if self.choices is not None:
            facts.append("one of " + ", ".join(map(repr, self.choices)))
        bounds = validate.describe_range(
            self.minimum,
            self.maximum,
            exclusive_minimum=self.exclusive_minimum,
            exclusive_maximum=self.exclusive_maximum,
        )
        if bounds:
            facts.append(bounds)
        facts.append(f"default {self.default_doc or repr(self.default)}")
        return f"{self.name} ({'; '.join(facts)}) {self.doc}".rstrip()


class Schema:
    """An ordered set of :class:`Option`: checks, fills defaults, writes help.

    Parameters
    ----------
    options : iterable of Option
        Distinct names; their order is the order of :meth:`fill` and :meth:`help`.
    owner : str
        Who has these options, for messages (``"method kind 'trained'"``).
    noun : str
        What one of them is called there (``"parameter"``, ``"option"``).
    """

    def __init__(
        self, options: Iterable[Option], owner: str = "", noun: str = "option"
    ) -> None:
        self._options: dict[str, Option] = {}
        for option in options:
            if option.name in self._options:
                raise ValueError(f"option {option.name!r} declared twice")
            self._options[option.name] = option
        self.owner, self.noun = owner, noun

    def __iter__(self) -> Iterator[Option]:
        return iter(self._options.values())

    def __len__(self) -> int:
        return len(self._options)

    def __contains__(self, name: object) -> bool:
        return name in self._options

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __repr__(self) -> str:
        return f"Schema({list(self._options)!r}, owner={self.owner!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The option names, in declared order."""
        return tuple(self._options)

    def owned_by(self, owner: str, noun: str | None = None) -> Schema:
        """The same options under another owner (and noun) for messages."""
        return Schema(self, owner, self.noun if noun is None else noun)

    def refuse_unknown(self, names: Iterable[str]) -> None:
        """``ValueError`` for the first of ``names`` not declared here, with a hint."""
        unknown = [name for name in names if name not in self._options]
        if unknown:
            name = unknown[0]
            who = f"{self.owner} has" if self.owner else "there is"
            raise ValueError(
                f"{who} no {self.noun} {name!r}; {validate.did_you_mean(name, self.names)}"
                f"its {self.noun}s are: {', '.join(sorted(self.names)) or '(none)'}"
            )

    def check(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The given values checked and converted, once; unknown names refused.

        Raises
        ------
        ValueError
            For an unknown name (did-you-mean and the known names) or a bad value (the
            message names it).
        """
        self.refuse_unknown(given)
        return {name: self._options[name].check(value, name) for name, value in given.items()}

    def fill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every option, in declared order: its value in ``values``, else its default.

        The values are trusted (:meth:`check` returned them, or they were resolved
        before); names not declared here are ignored.
        """
        return {
            name: values[name] if name in values else option.default
            for name, option in self._options.items()
        }

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`check`, then :meth:`fill`: the resolved values of a given mapping."""
        return self.fill(self.check(given))

    def help(self, indent: str = "") -> str:
        """One line per option (:meth:`Option.help`), each after ``indent``."""
        return "\n".join(indent + option.help() for option in self)
