"""Command-line overrides of a config: the grammar, addressing, validation, snapshot, digest."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approx.core.options import Option
from approx.experiment import parse_config, run_sweep
from approx.experiment.changes import describe_change, differences
from approx.experiment.overrides import (
    apply_overrides,
    folder_name,
    parse_override,
    to_toml,
)
from approx.experiment.specs import ConfigError
from approx.experiment.store import StoreError
from approx.methods import Method

BASE = """
name = "tiny"
seed = 3
widths = [4, 8, 16]

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"

[[methods]]
name = "adam+lm"
kind = "trained"
steps = 100
"""


@pytest.mark.parametrize(("text", "path", "value"), [
    ("widths=[4,8]", ("widths",), [4, 8]),
    ('name="x"', ("name",), "x"),
    ("relocate=false", ("relocate",), False),
    ("lr=1e-3", ("lr",), 1e-3),
    ("seed=3", ("seed",), 3),
    ("knots=adaptive", ("knots",), "adaptive"),  # a bare word is a string (Hydra's habit)
    ('methods."relu.v2".lr=0.5', ("methods", "relu.v2", "lr"), 0.5),
    ("methods.'a=b'.lr = 2", ("methods", "a=b", "lr"), 2),
    ("methods.adam+lm.steps=7", ("methods", "adam+lm", "steps"), 7),
    ("targets.w.domain=[-1.5, 2]", ("targets", "w", "domain"), [-1.5, 2]),
    ("x={a = 1, b = [true]}", ("x",), {"a": 1, "b": [True]}),
])
def test_keys_and_values_follow_the_grammar(text, path, value):
    parsed = parse_override(text)
    assert (parsed.path, parsed.value, parsed.op) == (path, value, "set")
    assert type(parsed.value) is type(value)


@pytest.mark.parametrize(("text", "says"), [
    ("seed", "key=value"),
    ("seed=", "no value"),
    ("lr=1e-3x", "not TOML"),
    ("lr=.5", "not TOML"),
    ('methods."open.lr=1', "unclosed quote"),
    ("=3", "expected a key"),
    ("~seed=3", "without a value"),
    ("a..b=1", "expected a key"),
])
def test_malformed_overrides_are_refused_in_one_line(text, says):
    with pytest.raises(ConfigError, match=says) as info:
        parse_override(text)
    assert f"override {text}" in str(info.value) and "\n" not in str(info.value)


def test_a_method_is_addressed_by_its_name_even_one_holding_a_dot():
    raw = tomllib.loads(BASE.replace('"uniform"', '"relu.v2"', 1))
    new, reached = apply_overrides(raw, [parse_override('methods."relu.v2".knots="adaptive"')],
                                   "s.toml")
    assert new["methods"][0] == {"name": "relu.v2", "kind": "relu-interpolant",
                                 "knots": "adaptive"}
    assert reached[0][0] == "methods[0].knots"
    assert "knots" not in raw["methods"][0]  # the parsed file is left as it was
    # unquoted, the dot splits the key: no method is called "relu"
    with pytest.raises(ConfigError, match=r"no entry of methods is named 'relu'.*relu\.v2"):
        apply_overrides(raw, [parse_override("methods.relu.v2.knots=adaptive")], "s.toml")


def test_overrides_apply_in_order_add_and_remove_entries():
    config = parse_config(BASE, "s.toml", [
        "methods.adam+lm.steps=50", "+methods.cheb.kind=chebyshev", "~methods.uniform",
        "methods.adam+lm.steps=60", "seed=9",
    ])
    assert [m.name for m in config.methods] == ["adam+lm", "cheb"]
    assert config.methods[0].kwargs["steps"] == 60 and config.seed == 9
    assert config.overrides[0] == "methods.adam+lm.steps=50"


@pytest.mark.parametrize(("override", "key", "says"), [
    ("methods.uniform.knotz=adaptive", "methods[0].knotz", "did you mean 'knots'"),
    ("sed=4", "sed", "did you mean 'seed'"),
    ("methods.uniform.knots=even", "methods[0].knots", "must be one of"),
    ("widths=[4,1]", "widths[1]", "must be an integer"),
    ("methods.adam+lm.lr=nan", "methods[1].lr", ""),
    ("methods.uniforn.knots=adaptive", "", "no entry of methods is named 'uniforn'; did you "
     "mean 'uniform'"),
    ("seed.x=1", "", "seed is not a table"),
    ("~methods.adam+lm.nothing", "", "no methods[1].nothing to remove"),
    ("methods.uniform=3", "", "give a key of the entry"),
])
def test_an_override_is_validated_like_the_file_and_named(override, key, says):
    with pytest.raises(ConfigError) as info:
        parse_config(BASE, "s.toml", [override])
    message = str(info.value)
    assert message.startswith(f"s.toml: override {override}" + (f": {key}: " if key else ": "))
    assert says in message


def test_the_snapshot_validates_to_the_same_config():
    config = parse_config(BASE, "s.toml", ["seed=4", "widths=[4,8]",
                                           'description="a \\"quoted\\"\\nline"',
                                           "methods.adam+lm.lr=1e-3"])
    again = parse_config(config.text, "config.toml")
    assert again.digest() == config.digest() and again.description == config.description
    assert "#   methods.adam+lm.lr=1e-3" in config.text
    assert config.digest() != parse_config(BASE, "s.toml").digest()
    # an override of what no run depends on keeps the digest
    assert parse_config(BASE, "s.toml", ["time_limit=5"]).digest() == \
        parse_config(BASE, "s.toml").digest()


_SCALARS = (st.integers(-10**18, 10**18) | st.booleans() | st.text(max_size=8)
            | st.floats(allow_nan=False))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3),
                       max_leaves=8)


@given(st.dictionaries(st.text(min_size=1, max_size=6), _VALUES, max_size=4),
       st.lists(st.dictionaries(st.text(min_size=1, max_size=6), _VALUES, min_size=1,
                                max_size=3), min_size=1, max_size=3))
def test_to_toml_parses_back_to_the_same_data(plain, tables):
    raw = {k: v for k, v in plain.items() if k != "entries"}
    raw["entries"] = tables
    assert tomllib.loads(to_toml(raw)) == raw


@pytest.mark.parametrize(("overrides", "name"), [
    ((), "tiny"),
    (("seed=3", "widths=[4,8]"), "tiny+seed=3,widths=4,8"),
    (("name=other",), "other"),  # a new name is a folder of its own already
    (("time_limit=60",), "tiny"),  # no run changes
    (("methods.adam+lm.lr=1e-3",), "tiny+methods.adam+lm.lr=1e-3"),
])
def test_folder_names_are_readable(overrides, name):
    assert folder_name(overrides and "other" if "name=other" in overrides else "tiny",
                       overrides) == name


def test_folder_names_stay_safe_and_distinct():
    one = folder_name("tiny", ['targets.w.expr="sin(x)/x"'])
    two = folder_name("tiny", ['targets.w.expr="sin(x)*x"'])
    assert one != two and "/" not in one and "(" not in one
    assert one.startswith("tiny+targets.w.expr=sin_x__x-")
    long = folder_name("tiny", [f"methods.m{i}.steps={i}" for i in range(40)])
    assert len(long) < 120


def test_differences_name_keys_in_the_override_grammar():
    old = parse_config(BASE, "s.toml").canonical()
    new = parse_config(BASE, "s.toml", ["seed=4", "methods.adam+lm.lr=1e-3",
                                        "+methods.c.kind=chebyshev"]).canonical()
    lines = differences(old, new)
    assert lines[0] == "seed 3 → 4"
    assert "methods.adam+lm.lr 0.03 → 0.001" in lines
    assert any(line.startswith('methods ["uniform", "adam+lm"] → ') for line in lines)
    assert not any(line.startswith("methods.c.") for line in lines)  # its entry is new


def test_a_changed_default_is_told_apart(tmp_path, fake_methods, monkeypatch, fake_config):
    out = tmp_path / "out"
    run_sweep(parse_config(fake_config, "s.toml"), out, jobs=1)
    method = fake_methods["fake-relu"]
    changed = Method(method.kind, method.fit, (Option("scale", float, 1.5, "weight magnitude",
                                                      minimum=0.0),), method.description,
                     random=True)
    monkeypatch.setitem(__import__("approx").methods.METHODS, "fake-relu", changed)
    with pytest.raises(StoreError) as info:
        run_sweep(parse_config(fake_config, "s.toml", ["seed=8"]), out, jobs=1)
    message = str(info.value)
    assert "changed: seed 7 → 8; a default changed since those runs: " \
        "methods.relu-a.scale 1.0 → 1.5" in message
    assert "--fresh" in message
    stored = parse_config(fake_config, "s.toml")
    every = differences({}, stored.canonical())
    assert len(every) > 4 and describe_change(None, None, stored) == (
        "changed: " + "; ".join(every[:4]) + f"; and {len(every) - 4} more")
