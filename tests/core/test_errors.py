"""Every error class the package defines derives from ApproxError (and keeps its builtin base)."""

import importlib
import inspect
import pkgutil

import pytest

import approx
from approx.core.errors import ApproxError

#: exceptions used as signals inside one module, never raised to a caller
SIGNALS = {
    "approx.train.loop.Diverged",  # stops scipy's optimizers from a callback
    "approx.train.loop.Converged",
    "approx.problems.expr.DomainIssue",  # a ball argument to settle, caught by the caller
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(approx.__path__, "approx."):
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra (e.g. numba) that is not installed
            continue
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == info.name):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_error_class_is_an_approx_error():
    classes = _exception_classes()
    assert "approx.experiment.specs.ConfigError" in classes  # the walk found the package
    assert SIGNALS <= set(classes)  # the exemptions still exist
    stray = [name for name, cls in classes.items()
             if name not in SIGNALS and not issubclass(cls, ApproxError)]
    assert stray == []


@pytest.mark.parametrize("name, builtin", [
    ("approx.experiment.specs.ConfigError", ValueError),
    ("approx.experiment.store.StoreError", ValueError),
    ("approx.experiment.folder.FolderError", ValueError),
    ("approx.experiment.resources.ResourceError", ValueError),
    ("approx.experiment.executors.ExecutorError", RuntimeError),
    ("approx.nn.piecewise.TooManyPieces", ValueError),
])
def test_errors_keep_their_builtin_base(name, builtin):
    module, _, cls = name.rpartition(".")
    error = getattr(importlib.import_module(module), cls)
    assert issubclass(error, ApproxError) and issubclass(error, builtin)
