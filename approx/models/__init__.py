"""Models: what a method returns, and saving and loading them as plain arrays.

Rooms:

- :mod:`~approx.models.construct`: the lecture's constructions as exact nets
  (``relu_interpolant``, ``random_features``, ``sawtooth_square``);
- :mod:`~approx.models.baselines`: Chebyshev series and cubic splines at equal
  parameter count (model classes and their fits; no rigorous arithmetic);
- here: the :class:`Model` protocol and ``.npz`` saving and loading (no pickling).

Every model type has a ``model_kind`` string, ``to_arrays() -> dict`` and a
``from_arrays(dict)`` class method; :func:`model_types` is the table from kind to type.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from typing import Any, BinaryIO, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["Model", "load_model", "model_types", "save_model"]


class Model(Protocol):
    """What every fitted model offers: evaluation on ``x`` of shape (m,), a size, arrays."""

    model_kind: str

    def __call__(self, x: Any) -> NDArray[np.float64]: ...

    @property
    def n_params(self) -> int: ...

    def to_arrays(self) -> dict[str, NDArray[Any]]: ...


def model_types() -> dict[str, Callable[[dict[str, NDArray[Any]]], Model]]:
    """The table from ``model_kind`` to the loader of that kind."""
    from approx.models.baselines import ChebyshevModel, SplineModel
    from approx.nn import MLP

    return {cls.model_kind: cls.from_arrays for cls in (MLP, ChebyshevModel, SplineModel)}


def save_model(path: str | PathLike[str], model: Model) -> None:
    """Write ``model`` to ``path`` as an uncompressed ``.npz`` of plain arrays."""
    np.savez(path, **model.to_arrays())


def load_model(path: str | PathLike[str] | BinaryIO) -> Model:
    """Read a model written by :func:`save_model` (with ``allow_pickle=False``), from a
    path or an open binary file."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    kind = str(arrays["model"])
    loaders = model_types()
    if kind not in loaders:
        where = f"{path}: " if isinstance(path, str | PathLike) else ""
        raise ValueError(f"{where}unknown model kind {kind!r}; known: {', '.join(loaders)}")
    return loaders[kind](arrays)
