"""Which engine runs: the layered one or the fused 1→d→1 pass, and its backend.

:func:`make_engine <approx.nn.engine.make_engine>` takes the fused pass for a 1→d→1 net
under a regression loss. Its backend: an explicit ``backend=``, else the environment
variable ``APPROX_ENGINE`` (``auto``, ``numpy`` or ``numba``), else ``auto``: numba (a
dependency of the default install where it has wheels) when it imports and the activation
is one it runs faster than numpy. numba is imported on the first call that asks, not
with this module, so a process that never trains a 1→d→1 net does not load it.
An activation the compiled kernel does not have (no numba code in its
:class:`~approx.nn.activations.Activation` record) runs the numpy pass under any choice.
Gradients from different engines agree to rounding, not to the last bit, so run metadata
records :func:`engine_name` / :func:`fused_backend`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import cache

from approx.core import validate
from approx.nn.activations import NUMBA_CODES, NUMBA_FASTER

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "FUSED_LOSSES",
    "NUMBA_FASTER",
    "compiled_adam_step",
    "engine_name",
    "fused_backend",
    "is_shallow",
    "numba_available",
]

#: environment variable that picks the fused backend
ENV_VAR = "APPROX_ENGINE"
BACKENDS = ("auto", "numpy", "numba")
#: regression losses the fused 1→d→1 engine handles
FUSED_LOSSES = ("mse", "lp")


@cache
def numba_available() -> bool:
    """Whether numba is installed (by default where it has wheels) and imports."""
    if importlib.util.find_spec("numba") is None:
        return False
    try:  # an installed numba built for another numpy fails here, not in a training loop
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def fused_backend(backend: str | None = None, activation: str = "relu") -> str:
    """The fused backend that runs: ``"numba"`` or ``"numpy"``.

    Parameters
    ----------
    backend : {"auto", "numpy", "numba"}, optional
        Default: the environment variable ``APPROX_ENGINE``, else ``"auto"``: numba when
        it is installed and the activation is one it runs faster (:data:`NUMBA_FASTER`).
        ``"numba"`` for an activation the kernel does not have (not in
        :data:`~approx.nn.activations.NUMBA_CODES`) gives ``"numpy"``.
    activation : str
        The net's hidden activation.

    Raises
    ------
    ValueError
        For an unknown name, or ``"numba"`` when numba is not installed.
    """
    if backend is None:
        backend = os.environ.get(ENV_VAR) or "auto"
        what = f"the environment variable {ENV_VAR}"
    else:
        what = "backend"
    backend = validate.choice(backend, BACKENDS, what)
    if backend == "auto":
        return "numba" if activation in NUMBA_FASTER and numba_available() else "numpy"
    if backend == "numba" and not numba_available():
        raise ValueError("the numba backend needs numba, which is not installed here "
                         "(no wheel for this platform?): pip install numba")
    return backend if activation in NUMBA_CODES else "numpy"


def is_shallow(sizes: Sequence[int]) -> bool:
    """Whether ``sizes`` is a 1→d→1 net, the shape the fused engine handles."""
    return len(sizes) == 3 and sizes[0] == 1 and sizes[2] == 1


def engine_name(
    sizes: Sequence[int], loss: str = "mse", activation: str = "relu", backend: str | None = None
) -> str:
    """The :attr:`Engine.name` that :func:`make_engine` picks for this net and loss."""
    if is_shallow(sizes) and loss in FUSED_LOSSES:
        return f"fused-{fused_backend(backend, activation)}"
    return "layered"


@cache
def compiled_adam_step() -> Callable[..., None] | None:
    """The compiled Adam update (:func:`approx.nn._fused_numba.adam_step`, the numpy
    form's numbers bit for bit; the fused engine's :meth:`adam_steps
    <approx.nn.engine.FusedEngine.adam_steps>` runs it too), or None where numba does not
    import. Imports numba."""
    try:
        from approx.nn._fused_numba import adam_step
    except ImportError:  # (a numba that does not import: the numpy form)
        return None
    return adam_step
