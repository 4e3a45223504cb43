"""Declared options: one check per given value, defaults in one place, generated help."""

import math

import numpy as np
import pytest

from approx.core.options import Option, Schema

SCHEMA = Schema(
    [
        Option("steps", int, 100, "budget", minimum=1),
        Option("lr", float, 0.1, "step size", minimum=0.0, exclusive_minimum=True),
        Option("momentum", float, 0.9, "momentum", minimum=0.0, maximum=1.0,
               exclusive_maximum=True),
        Option("schedule", str, "cosine", "schedule", choices=("constant", "cosine", "exp")),
        Option("relocate", bool, True, "move idle units"),
        Option("batch_size", int, None, "mini-batch (None: full batch)", minimum=1),
    ],
    "optimizer 'x'",
)


@pytest.mark.parametrize(
    ("name", "value", "converted"),
    [
        ("steps", 5, 5),
        ("steps", np.int64(5), 5),
        ("lr", 2, 2.0),
        ("lr", np.float32(0.5), 0.5),
        ("momentum", 0.0, 0.0),
        ("schedule", "exp", "exp"),
        ("relocate", False, False),
        ("batch_size", None, None),
        ("batch_size", 8, 8),
    ],
)
def test_values_are_converted_to_the_declared_type(name, value, converted):
    out = SCHEMA.check({name: value})[name]
    assert out == converted and type(out) is type(converted)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("steps", 2.5, "steps must be an integer, got float 2.5"),
        ("steps", True, "steps must be an integer, got boolean True"),
        ("steps", 0, "steps must be an integer ≥ 1, got 0"),
        ("lr", 0.0, "lr must be a number > 0, got 0.0"),
        ("lr", math.nan, "lr must be a finite number, got nan"),
        ("lr", "0.1", "lr must be a number, got string '0.1'"),
        ("momentum", 1.0, r"momentum must be a number in \[0, 1\), got 1.0"),
        ("momentum", -0.5, r"momentum must be a number in \[0, 1\), got -0.5"),
        ("schedule", "cosin", "schedule must be one of .*; did you mean 'cosine'\\? got 'cosin'"),
        ("schedule", 3, "schedule must be of type str, got int 3"),
        ("relocate", 1, "relocate must be of type bool, got int 1"),
        ("steps", None, "steps must be an integer, got NoneType None"),
    ],
)
def test_bad_values_are_refused_naming_the_option(name, value, message):
    with pytest.raises(ValueError, match=message):
        SCHEMA.check({name: value})


def test_an_option_alone_checks_without_a_name_for_callers_that_prefix_their_key():
    with pytest.raises(ValueError, match=r"^must be an integer ≥ 1, got 0$"):
        SCHEMA["steps"].check(0)


def test_unknown_names_get_a_hint_and_the_known_names():
    with pytest.raises(ValueError) as info:
        SCHEMA.check({"steps": 3, "batchsize": 16})
    assert str(info.value) == (
        "optimizer 'x' has no option 'batchsize'; did you mean 'batch_size'? its options are: "
        "batch_size, lr, momentum, relocate, schedule, steps"
    )
    with pytest.raises(ValueError, match=r"no option 'zzz'; its options are"):
        SCHEMA.check({"zzz": 1})


def test_resolve_fills_defaults_in_declared_order_and_is_idempotent():
    resolved = SCHEMA.resolve({"schedule": "exp", "steps": 7})
    assert list(resolved) == list(SCHEMA.names)
    assert resolved == {
        "steps": 7,
        "lr": 0.1,
        "momentum": 0.9,
        "schedule": "exp",
        "relocate": True,
        "batch_size": None,
    }
    assert SCHEMA.resolve(resolved) == resolved


def test_each_given_value_is_checked_once_and_defaults_not_at_all(monkeypatch):
    calls = []
    original = Option.check

    def counting(self, value, what=""):
        calls.append(self.name)
        return original(self, value, what)

    monkeypatch.setattr(Option, "check", counting)
    SCHEMA.resolve({"lr": 0.5, "steps": 3})
    assert sorted(calls) == ["lr", "steps"]
    calls.clear()
    assert SCHEMA.fill({"lr": 0.5})["lr"] == 0.5  # trusted values: no check
    assert calls == []


def test_declarations_are_checked_when_made():
    with pytest.raises(ValueError, match="the default of option 'n' must be an integer ≥ 2"):
        Option("n", int, 1, minimum=2)
    with pytest.raises(ValueError, match="the default of option 's' must be one of"):
        Option("s", str, "c", choices=("a", "b"))
    with pytest.raises(TypeError, match="type must be one of"):
        Option("x", list, [])
    with pytest.raises(ValueError, match="declared twice"):
        Schema([Option("a", int, 1), Option("a", int, 2)])


def test_replace_makes_an_owner_default_and_keeps_the_rest():
    sgd = SCHEMA["lr"].replace(default=0.05)
    assert sgd.default == 0.05 and SCHEMA["lr"].default == 0.1
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        sgd.check(-1.0, "lr")


def test_help_has_one_line_per_option_with_type_range_choices_and_default():
    lines = SCHEMA.help("  ").splitlines()
    assert len(lines) == len(SCHEMA)
    for line, option in zip(lines, SCHEMA, strict=True):
        assert line.startswith(f"  {option.name} (") and line.endswith(option.doc)
        assert f"default {option.default!r}" in line
    assert "steps (int; ≥ 1; default 100) budget" in lines[0]
    assert "lr (float; > 0; default 0.1)" in lines[1]
    assert "momentum (float; in [0, 1); default 0.9)" in lines[2]
    assert "one of 'constant', 'cosine', 'exp'" in lines[3]
    worded = Option("p", float, None, "exponent", default_doc="by loss")
    assert worded.help() == "p (float; default by loss) exponent"


def test_a_schema_is_an_ordered_read_only_collection():
    assert SCHEMA.names[0] == "steps" and "lr" in SCHEMA and "nope" not in SCHEMA
    assert [o.name for o in SCHEMA] == list(SCHEMA.names)
    with pytest.raises(KeyError):
        SCHEMA["nope"]
    moved = SCHEMA.owned_by("method kind 'm'", "parameter")
    with pytest.raises(ValueError, match="method kind 'm' has no parameter 'x'"):
        moved.check({"x": 1})
