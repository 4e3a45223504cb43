"""The default training points became graded (``sampling = "graded"``): a folder whose
runs were made with uniform ones is not resumed under the new default, the refusal says
that a default changed, and ``sampling = "uniform"`` in the config resumes it."""

from __future__ import annotations

import pytest

from approx.experiment import parse_config, run_sweep
from approx.experiment.store import StoreError
from approx.train.options import FIT

CONFIG = """
name = "graded"
seed = 5
widths = [4]

[[targets]]
name = "sqrt-end"
expr = "sqrt(x + 1)"
domain = [-1.0, 1.0]

[[methods]]
name = "adam"
kind = "trained"
optimizer = "adam"
steps = 40
n_train = 64
"""


@pytest.fixture
def sampling_default():
    """Set the sampling option's default (as an older version of the package had it);
    the default restored after the test."""
    option = next(o for o in FIT if o.name == "sampling")
    before = option.default
    yield lambda value: object.__setattr__(option, "default", value)
    object.__setattr__(option, "default", before)


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_folder_made_with_uniform_points_is_refused_and_resumed_when_asked(
        tmp_path, sampling_default):
    out = tmp_path / "out"
    sampling_default("uniform")  # the runs made before graded points
    old = parse_config(CONFIG, "g.toml")
    assert dict(old.methods[0].params)["sampling"] == "uniform"
    run_sweep(old, out, jobs=1)
    before = _files(out)
    sampling_default("graded")
    new = parse_config(CONFIG, "g.toml")
    assert dict(new.methods[0].params)["sampling"] == "graded"
    assert new.digest() != old.digest()
    with pytest.raises(StoreError) as info:
        run_sweep(new, out, jobs=1)
    message = str(info.value)
    assert "a default changed since those runs" in message
    assert 'methods.adam.sampling "uniform" → "graded"' in message
    assert _files(out) == before  # nothing written, nothing removed
    pinned = parse_config(CONFIG + 'sampling = "uniform"\n', "g.toml")
    assert pinned.digest() == old.digest()
    run_sweep(pinned, out, jobs=1)  # the same sweep: resumed, nothing to run
