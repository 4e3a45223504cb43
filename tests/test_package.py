"""The package itself: lazy public names (``import approx`` stays light) and --version."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import approx
from approx.cli import app

_LAZY = """
import sys
import approx
heavy = [m for m in ("pandas", "matplotlib", "approx.experiment", "approx.models")
         if m in sys.modules]
assert not heavy, heavy
net = approx.construct.relu_interpolant(approx.targets.get("runge"), 8)
assert net.n_params == 25, net.n_params
assert "pandas" not in sys.modules and "matplotlib" not in sys.modules
assert approx.construct is sys.modules["approx.models.construct"]
assert approx.analysis is sys.modules["approx.analysis"]
print(" ".join(approx.__all__))
"""


def test_import_approx_is_light_and_names_load_on_first_use():
    proc = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == set(approx.__all__)


@pytest.mark.parametrize("name", sorted(set(approx.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    value = getattr(approx, name)
    assert value is not None
    assert name in dir(approx)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        approx.nope  # noqa: B018
    assert not hasattr(approx, "load_result")


def test_version_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert re.fullmatch(rf"approx {re.escape(approx.__version__)}"
                        r"( \(commit [0-9a-f]{12}(\+dirty)?\))?", line), line
    assert "(commit " in line or not approx.cli.git_commit()  # in a checkout: its commit


def test_python_m_approx_version():
    proc = subprocess.run([sys.executable, "-m", "approx", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"approx {approx.__version__}")
    assert proc.stdout.count("\n") == 1
