"""Config validation, expansion into runs, and identity-based seeds."""

from __future__ import annotations

import pytest

from approx.experiment.config import ConfigError, parse_config
from approx.experiment.expansion import expand, run_seed

VALID = """
name = "t"
widths = [4, 8]

[[targets]]
name = "sin2pi"

[[methods]]
name = "uniform"
kind = "relu-interpolant"
"""


def test_valid_config_fills_defaults_and_sorts_widths():
    config = parse_config(VALID.replace("[4, 8]", "[8, 4]"), "t.toml")
    assert config.widths == (4, 8)
    assert config.seed == 0 and config.replicates == 1
    assert config.methods[0].kwargs == {"knots": "uniform"}
    assert [r.run_id for r in expand(config)] == ["sin2pi.uniform.d4.r0", "sin2pi.uniform.d8.r0"]


def test_replicates_apply_to_random_methods_only():
    text = VALID.replace("widths", "replicates = 3\nwidths") + (
        '[[methods]]\nname = "rff"\nkind = "random-features"\n'
    )
    runs = list(expand(parse_config(text)))
    by_method = {
        m: sorted(r.replicate for r in runs if r.method.name == m) for m in ("uniform", "rff")
    }
    assert by_method == {"uniform": [0, 0], "rff": [0, 0, 1, 1, 2, 2]}
    assert len({r.seed for r in runs}) == len(runs)


def test_custom_target_and_domain_override():
    config = parse_config(
        VALID
        + """
[[targets]]
name = "wiggle"
expr = "sin(5*x) + 0.3*x**3"
domain = [-2, 3]

[[targets]]
name = "exp"
domain = [0.0, 2.0]
"""
    )
    wiggle, exp = config.targets[1].build(), config.targets[2].build()
    assert wiggle.domain == (-2.0, 3.0) and exp.domain == (0.0, 2.0)


# (snippet to append or substitute, expected key path, words of the message)
BAD = [
    ("drop:name", "name", "required"),
    ("drop:widths", "widths", "required"),
    ("names = 'x'", "names", "did you mean 'name'"),
    ("sed = 1", "sed", "did you mean 'seed'"),
    ("seed = -1", "seed", "≥ 0"),
    ("replicates = 1.5", "replicates", "integer"),
    ("widths:[]", "widths", "empty"),
    ("widths:[4, 1]", "widths[1]", "≥ 2"),
    ("widths:[4, 4.0]", "widths[1]", "integer"),
    ("widths:[4, 4]", "widths[1]", "duplicate"),
    ("widths:'4'", "widths", "array"),
    ("widths:[4, true]", "widths[1]", "integer"),
    ("targets:[]", "targets", "empty"),
    ("[[targets]]\nname = 'sin2pii'", "targets[1].name", "did you mean 'sin2pi'"),
    ("[[targets]]\nname = 'sin2pi'", "targets[1].name", "duplicate"),
    ("[[targets]]\nname = 'w'\nexpr = 'x**2'", "targets[1].domain", "required"),
    ("[[targets]]\nname = 'w'\nexpr = 'x**2'\ndomain = [1, 0]", "targets[1].domain", "a < b"),
    ("[[targets]]\nname = 'w'\nexpr = 'x**2'\ndomain = [0]", "targets[1].domain", "two"),
    ("[[targets]]\nname = 'w'\nexpr = 'x**2'\ndomain = [0, inf]", "targets[1].domain", "finite"),
    ("[[targets]]\nname = 'w'\nexpr = '__import__(1)'\ndomain = [0, 1]", "targets[1].expr", ""),
    ("[[targets]]\nname = 'w'\nexpr = 'log(x)'\ndomain = [0, 1]", "targets[1].expr", "finite"),
    ("[[targets]]\nname = 'a b'\nexpr = 'x'\ndomain = [0, 1]", "targets[1].name", "valid name"),
    ("[[targets]]\nname = 'exp'\nexpr = 'x'\ndomain = [0, 1]", "targets[1].name", "built-in"),
    ("[[targets]]\nnam = 'w'", "targets[1].nam", "did you mean 'name'"),
    ("[[methods]]\nname = 'm'", "methods[1].kind", "required"),
    ("[[methods]]\nname = 'm'\nkind = 'relu-interpolnt'", "methods[1].kind", "did you mean"),
    ("[[methods]]\nname = 'uniform'\nkind = 'spline'", "methods[1].name", "duplicate"),
    (
        "[[methods]]\nname = 'm'\nkind = 'relu-interpolant'\nknots = 'random'",
        "methods[1].knots",
        "one of",
    ),
    (
        "[[methods]]\nname = 'm'\nkind = 'relu-interpolant'\nknot = 'uniform'",
        "methods[1].knot",
        "did you mean 'knots'",
    ),
    (
        "[[methods]]\nname = 'm'\nkind = 'random-features'\nn_samples = 'many'",
        "methods[1].n_samples",
        "must be an integer",
    ),
    (
        "[[methods]]\nname = 'm'\nkind = 'random-features'\nn_samples = 1",
        "methods[1].n_samples",
        "≥ 2",
    ),
    ("methods = 3", "methods", "array of tables"),
    ("name = = 1", "", "not valid TOML"),
]


def _bad_text(change: str) -> str:
    if change.startswith("drop:"):
        key = change.removeprefix("drop:")
        return "\n".join(line for line in VALID.splitlines() if not line.startswith(f"{key} ="))
    if change.startswith(("widths:", "targets:")):
        key, value = change.split(":", 1)
        lines = [line for line in VALID.splitlines() if not line.startswith(f"{key} =")]
        body = "\n".join(lines)
        if key == "targets":  # replace the [[targets]] table by an empty array
            body = body.replace('[[targets]]\nname = "sin2pi"\n', "")
        return f"{key} = {value}\n" + body
    if change.startswith("[["):
        return VALID + "\n" + change + "\n"
    if change.split("=")[0].strip() in ("seed", "replicates", "names", "sed", "methods", "name"):
        body = VALID if change.split("=")[0].strip() != "methods" else VALID.split("[[methods]]")[0]
        if change.startswith("name ="):
            body = body.replace('name = "t"\n', "", 1)
        return change + "\n" + body
    raise AssertionError(change)


@pytest.mark.parametrize(("change", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(change: str, key: str, words: str):
    with pytest.raises(ConfigError) as info:
        parse_config(_bad_text(change), "bad.toml")
    error = info.value
    assert error.key == key
    message = str(error)
    assert message.startswith(f"bad.toml: {key}: " if key else "bad.toml: ")
    assert words in message
    assert "\n" not in message


def test_width_below_a_methods_minimum(fake_methods):
    text = VALID + "\n[[methods]]\nname = 'b'\nkind = 'fake-broken'\n"
    with pytest.raises(ConfigError, match=r"widths\[0\].*minimum 3.*methods\[1\]"):
        parse_config(text.replace("[4, 8]", "[2, 8]"))


def test_missing_file(tmp_path):
    from approx.experiment import load_config

    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_seed_depends_on_identity_not_position():
    seeds = {run_seed(0, "sin2pi", "m", w, r) for w in (4, 8) for r in (0, 1)}
    assert len(seeds) == 4
    assert run_seed(0, "sin2pi", "m", 4, 0) == run_seed(0, "sin2pi", "m", 4, 0)
    assert run_seed(0, "sin2pi", "m", 4, 0) != run_seed(1, "sin2pi", "m", 4, 0)
    assert 0 <= run_seed(2**40, "a", "b", 2, 0) < 2**63
    small = {r.run_id: r.seed for r in expand(parse_config(VALID))}
    wider = {r.run_id: r.seed for r in expand(parse_config(VALID.replace("[4, 8]", "[2, 4, 8]")))}
    assert all(wider[k] == v for k, v in small.items())


def test_digest_tracks_what_changes_results():
    base = parse_config(VALID)
    reordered = VALID.replace("[4, 8]", "[8, 4]") + "\n# comment"
    assert base.digest() == parse_config(reordered).digest()
    assert base.digest() != parse_config(VALID.replace("[4, 8]", "[4, 16]")).digest()
    explicit = VALID.replace('"relu-interpolant"', '"relu-interpolant"\nknots = "uniform"')
    assert base.digest() == parse_config(explicit).digest()


@pytest.mark.parametrize("task", ["approximation", "classification"])
def test_a_kind_that_is_not_a_name_is_a_config_error(task):
    subjects = '[[targets]]\nname = "sin2pi"' if task == "approximation" else (
        '[[datasets]]\nname = "blobs"')
    text = (f'name = "k"\ntask = "{task}"\nwidths = [4]\n{subjects}\n'
            '[[methods]]\nname = "m"\nkind = [1]\n')
    with pytest.raises(ConfigError, match=r"methods\[0\]\.kind: unknown .*method kind \[1\]"):
        parse_config(text)
