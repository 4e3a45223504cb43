"""First-order optimizers: state lives here, θ is updated in place.

Each optimizer has ``step(theta, grad)`` and ``reset(rows, peers)``; the latter restarts
chosen coordinates (used when relocation moves a unit).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from approx.train.options import LR, MOMENTUM

__all__ = ["FIRST_ORDER", "SGD", "Adam"]

Array = NDArray[np.float64]


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum.

    ``v ← μ v + ∇``, ``θ ← θ − η v``.

    Parameters
    ----------
    lr : float
        Step size η > 0.
    momentum : float
        μ in [0, 1).
    """

    def __init__(self, lr: float, momentum: float = MOMENTUM.default) -> None:
        # checked against the options' declarations: the class is public on its own
        self.lr = LR.check(lr, "lr")
        self.momentum = MOMENTUM.check(momentum, "momentum")
        self.v: Array | None = None

    def reset(self, rows: NDArray[np.intp], peers: NDArray[np.intp] | None = None) -> None:
        """Forget the velocity of the coordinates ``rows`` (``peers`` is not needed)."""
        if self.v is not None:
            self.v[rows] = 0.0

    def step(self, theta: Array, grad: Array) -> None:
        """Update ``theta`` of shape (P,) in place from ``grad`` of shape (P,)."""
        if self.v is None:
            self.v = np.zeros_like(theta)
        self.v *= self.momentum
        self.v += grad
        theta -= self.lr * self.v


class Adam:
    """Adam (Kingma & Ba): bias-corrected first and second moment estimates.

    Parameters
    ----------
    lr : float
        Step size > 0.
    beta1, beta2 : float
        Decay rates of the moment estimates, in [0, 1).
    eps : float
        Added to the root of the second moment.
    """

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        lr = LR.check(lr, "lr")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must lie in [0, 1), got {beta1}, {beta2}")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: Array | None = None
        self.v: Array | None = None
        self.s: Array | None = None  # (the numpy form's scratch)

    def reset(self, rows: NDArray[np.intp], peers: NDArray[np.intp] | None = None) -> None:
        """Restart the coordinates ``rows`` as fresh ones (neuron resampling).

        Their first moment becomes 0. Their second moment becomes the mean of the
        ``peers``' (coordinates of the same kind that keep their state), so a fresh
        coordinate takes steps of the typical size rather than ``lr`` at once; 0
        without peers.
        """
        if self.m is None or self.v is None:
            return
        self.m[rows] = 0.0
        peers_v = self.v[peers] if peers is not None else self.v[:0]
        self.v[rows] = float(np.mean(peers_v)) if peers_v.size else 0.0

    def ahead(self, theta: Array, lrs: Array) -> tuple[tuple[Array, Array], tuple[float, float],
                                                     Array, Array]:
        """What :meth:`step` computes before its updates, for the next ``lrs.size`` steps
        at these step sizes (for a compiled loop of them; the moments made ready):
        ``(m, v)``, ``(1 − β₁, 1 − β₂)``, the terms added to √v and the bias-corrected
        step sizes, each as :meth:`step` computes it. :meth:`taken` then records the
        steps the loop took."""
        m, v, _ = self._moments(theta)
        shifts, sizes = np.empty(lrs.size), np.empty(lrs.size)
        for j, lr in enumerate(lrs):
            sizes[j], shifts[j] = self._terms(lr, self.t + 1 + j)
        return (m, v), (1.0 - self.beta1, 1.0 - self.beta2), shifts, sizes

    def _moments(self, theta: Array) -> tuple[Array, Array, Array]:
        """The moments ``m``, ``v`` and the numpy form's scratch, zeros before a first step."""
        if self.m is None or self.v is None or self.s is None:
            self.m, self.v, self.s = (np.zeros_like(theta) for _ in range(3))
        return self.m, self.v, self.s

    def _terms(self, lr: float, t: int) -> tuple[float, float]:
        """Step ``t``'s bias-corrected step size at ``lr``, and the term added to √v."""
        return (lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t),
                self.eps * math.sqrt(1.0 - self.beta2**t))

    def taken(self, lrs: Array) -> None:
        """Record steps taken elsewhere at the step sizes ``lrs`` (see :meth:`ahead`)."""
        if lrs.size:
            self.t += lrs.size
            self.lr = lrs[-1]

    def step(self, theta: Array, grad: Array) -> None:
        """Update ``theta`` of shape (P,) in place from ``grad`` of shape (P,)."""
        m, v, s = self._moments(theta)
        self.t += 1
        step, shift = self._terms(self.lr, self.t)
        kernel = _adam_kernel() if "numba" in sys.modules else None
        if (kernel is not None and theta.size <= COMPILED_UP_TO
                and _plain(theta, grad, m, v)):  # the same numbers, compiled
            kernel(theta, grad, m, v, 1.0 - self.beta1, 1.0 - self.beta2, shift, step)
            return
        # m ← β₁ m + (1−β₁) g,  v ← β₂ v + (1−β₂) g², written as in-place updates
        np.subtract(grad, m, out=s)
        s *= 1.0 - self.beta1
        m += s
        np.multiply(grad, grad, out=s)
        s -= v
        s *= 1.0 - self.beta2
        v += s
        np.sqrt(v, out=s)
        s += shift
        np.divide(m, s, out=s)
        s *= step
        theta -= s


#: the compiled Adam step runs on at most this many coordinates: beyond, numpy's SIMD
#: square roots and divisions catch up with it (equal at about 3000, measured)
COMPILED_UP_TO = 2048


def _plain(*arrays: Array) -> bool:
    """Whether the arrays are what the compiled step takes: 1-D contiguous float64 of one
    size."""
    size = arrays[0].shape
    return all(a.dtype == np.float64 and a.ndim == 1 and a.shape == size
               and a.flags.c_contiguous for a in arrays)


@functools.cache
def _adam_kernel() -> Callable[..., None] | None:
    """The compiled :meth:`Adam.step`
    (:func:`approx.nn.backend.compiled_adam_step`), used in a process that has loaded
    numba already (one that trains with the numba engine), else None."""
    from approx.nn.backend import compiled_adam_step

    return compiled_adam_step()


#: first-order optimizers by name, from their options (the Adam phase of adam+lm is Adam)
FIRST_ORDER: dict[str, Callable[..., SGD | Adam]] = {
    "sgd": lambda o: SGD(o.lr, o.momentum),
    "adam": lambda o: Adam(o.lr),
}
