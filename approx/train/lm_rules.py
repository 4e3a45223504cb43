"""What the dense and the knot-form Levenberg–Marquardt share: the residuals whose
squares sum to the Lᵖ loss, and the damping with Nielsen's rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_DAMPING", "NO_STEP", "Damping", "lp_residuals", "nielsen_update"]

Array = NDArray[np.float64]


def lp_residuals(r: Array, p: float, m: int) -> tuple[Array, Array]:
    """Residuals ρ whose ½ Σ ρ² is the lp loss (1/pm) Σ |r|^p, and dρ/dr.

    ``ρ = c sign(r) |r|^(p/2)`` with ``c² = 2/(p m)``; for p = 2 this is the mse loss.
    """
    c = math.sqrt(2.0 / (p * m))
    if p == 2.0:
        return c * r, np.full_like(r, c)
    a = np.abs(r)
    return c * np.copysign(a ** (p / 2), r), c * (p / 2) * a ** (p / 2 - 1)


def nielsen_update(lam: float, gain: float) -> tuple[float, float]:
    """Damping ``λ`` and its growth factor ``ν`` after an accepted step (Nielsen's rule).

    ``gain`` is the actual over the predicted decrease of the loss.
    """
    gain = min(max(gain, 0.0), 1.0)  # beyond 1 the rule's factor is 1/3 anyway
    return lam * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 2.0


#: the damping beyond which no step is tried (the model's steps are as good as zero)
MAX_DAMPING = 1e16
#: the message of a Levenberg–Marquardt run that stops without a lower loss in reach
NO_STEP = "no step lowers the loss (gradient or λ limit)"


@dataclass
class Damping:
    """Levenberg–Marquardt damping ``λ`` and its growth factor ``ν`` (Nielsen's rule)."""

    lam: float = 1e-3
    nu: float = 2.0

    @property
    def exhausted(self) -> bool:
        """Whether ``λ`` is past :data:`MAX_DAMPING`."""
        return self.lam > MAX_DAMPING

    def reject(self) -> None:
        """After a rejected (or unsolvable) step: ``λ ← ν λ``, ``ν ← 2 ν``."""
        self.lam, self.nu = self.lam * self.nu, 2.0 * self.nu

    def accept(self, gain: float) -> None:
        """After an accepted step of the given gain (:func:`nielsen_update`)."""
        self.lam, self.nu = nielsen_update(self.lam, gain)
