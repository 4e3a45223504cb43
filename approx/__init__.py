"""approx: function-approximation experiments with neural networks.

The library builds exact ±ReLU networks, trains networks with hand-written
backpropagation and certifies their max error against smooth targets.

``import approx`` loads nothing but the version; each name below is imported on first
use (so a worker process stays light: neither pandas nor matplotlib is loaded until a
name that needs them is used):

- the layers, top to bottom: ``approx.experiment``, ``approx.analysis``,
  ``approx.methods``, ``approx.certify``, ``approx.train``, ``approx.models``,
  ``approx.problems``, ``approx.nn``, ``approx.arith``, ``approx.core``;
- the modules a notebook reaches for: ``approx.construct`` (the exact nets of
  :mod:`approx.models.construct`), ``approx.baselines``, ``approx.targets`` and
  ``approx.datasets`` (:mod:`approx.problems`);
- a results folder in one line: ``approx.load_results(folder)`` (a DataFrame of the
  runs, even while a sweep writes them) and ``approx.load_model(folder, run)``
  (:mod:`approx.experiment.results`).
"""

from importlib import import_module as _import_module
from typing import Any as _Any


def _package_version() -> str:
    """The installed version (read on first use: importlib.metadata loads slowly)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("approx")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


#: the subpackages, by name
_PACKAGES = ("analysis", "arith", "certify", "core", "experiment", "methods", "models", "nn",
             "problems", "train")
#: key modules, by the name they have here
_MODULES = {
    "construct": "approx.models.construct",
    "baselines": "approx.models.baselines",
    "targets": "approx.problems.targets",
    "datasets": "approx.problems.datasets",
}
#: functions, by name: the module that defines them
_FUNCTIONS = {
    "load_results": "approx.experiment.results",
    "load_model": "approx.experiment.results",
}

__all__ = sorted(["__version__", *_PACKAGES, *_MODULES, *_FUNCTIONS])


def __getattr__(name: str) -> _Any:
    if name == "__version__":
        value: _Any = _package_version()
    elif name in _PACKAGES:
        value = _import_module(f"{__name__}.{name}")
    elif name in _MODULES:
        value = _import_module(_MODULES[name])
    elif name in _FUNCTIONS:
        value = getattr(_import_module(_FUNCTIONS[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
