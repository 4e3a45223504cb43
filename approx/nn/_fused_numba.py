"""numba kernels of the fused 1→d→1 pass (imported only when numba is installed).

The same quantities as :mod:`approx.nn.fused` (see there for the algebra), computed in
two sweeps that keep everything they touch in the L1 cache and never form an m × d
array:

- forward: for each block of rows (x and h of the block stay in L1), every hidden unit
  adds ``w₁ₖ σ(x wₖ + bₖ)`` to the block's outputs; the inner loop runs over rows, so
  it vectorises without reordering any sum;
- backward: for each block of rows and each hidden unit, sums over the block's rows
  held in registers (the inner loop runs over rows; its sums are reassociated into SIMD
  lanes); the pre-activation is recomputed (one multiply–add) rather than stored.

One compiled variant per kernel (fixed signatures, cached on disk): the activation is a
run-time code, its record's :attr:`~approx.nn.activations.Activation.numba_code` (0 ReLU,
1 sigmoid, 2 tanh, 3 cos, 4 identity); an activation without a code is not compiled and
runs the numpy pass. ReLU has its own loops since it is the case that matters for speed.
The others call libm's scalar tanh, cos and sin, several times slower than numpy's SIMD
versions, so the automatic choice (:func:`approx.nn.engine.fused_backend`) sends only
the activations whose record says ``numba_faster`` here (ReLU and the identity).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from approx.core import validate
from approx.nn.activations import NUMBA_CODES
from approx.nn.losses import LossInto

__all__ = [
    "ACTIVATION_CODES",
    "LARGE_RESIDUAL",
    "NumbaFused",
    "adam_step",
    "adam_steps",
    "backward",
    "backward_batch",
    "forward",
    "forward_batch",
    "version",
]

Array = NDArray[np.float64]

#: activation name → the code the kernels branch on (a view of the registry)
ACTIVATION_CODES = NUMBA_CODES

ROWS = 256  # rows per forward block: x and h of a block take 4 KB of L1
ROWS_BACKWARD = 1024  # rows per backward block: x and G of a block take 16 KB of L1

version = numba.__version__


@numba.njit(cache=True, inline="always")
def _sigma(code: int, u: float) -> float:
    if code == 1:
        return 0.5 * (1.0 + math.tanh(0.5 * u))
    if code == 2:
        return math.tanh(u)
    if code == 3:
        return math.cos(u)
    return u


@numba.njit(cache=True, inline="always")
def _sigma_dsigma(code: int, u: float) -> tuple[float, float]:
    """σ(u) and σ'(u), sharing the transcendental call where the derivative allows."""
    if code == 1:
        s = 0.5 * (1.0 + math.tanh(0.5 * u))
        return s, s * (1.0 - s)
    if code == 2:
        t = math.tanh(u)
        return t, 1.0 - t * t
    if code == 3:
        return math.cos(u), -math.sin(u)
    return u, 1.0


@numba.njit("void(f8[::1], f8[::1], f8[::1], f8[::1], f8, i8, f8[::1])", cache=True, nogil=True)
def forward(x, w0, b0, w1, b1, code, h):  # pragma: no cover - compiled
    """``h_j = b₁ + Σₖ w1ₖ σ(x_j w0ₖ + b0ₖ)`` for all rows j, written into ``h``."""
    m, d = x.size, w0.size
    for s in range(0, m, ROWS):
        # slices, not an offset index: LLVM then sees plain loops from 0 and vectorises
        xb, hb = x[s : s + ROWS], h[s : s + ROWS]
        n = xb.size
        for j in range(n):
            hb[j] = b1
        if code == 0:
            for k in range(d):
                a, c, v = w0[k], b0[k], w1[k]
                for j in range(n):
                    u = xb[j] * a + c
                    hb[j] += v * (0.0 if u <= 0.0 else u)  # a NaN propagates, as in numpy
        else:
            for k in range(d):
                a, c, v = w0[k], b0[k], w1[k]
                for j in range(n):
                    hb[j] += v * _sigma(code, xb[j] * a + c)


@numba.njit(
    "f8(f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], i8, f8[::1], f8[::1], f8[::1])",
    cache=True,
    nogil=True,
    # sums over rows in SIMD lanes; NaN and inf kept. No "contract": a fused multiply–add
    # in x w₀ + b₀ would put σ'(0) on the other side of the forward pass's (and numpy's)
    # mask where a kink sits on a sample, as relocation places it
    fastmath={"reassoc"},
)
def backward(x, G, w0, b0, w1, code, gw0, gb0, gw1):  # pragma: no cover - compiled
    """Gradients of ``Σ_j G_j h_j`` (G = ∂ℓ/∂h) into ``gw0``, ``gb0``, ``gw1``; returns ``Σ G``.

    ``gw1ₖ = Σ_j G_j σ(u_jk)``, ``gb0ₖ = w1ₖ Σ_j G_j σ'(u_jk)``,
    ``gw0ₖ = w1ₖ Σ_j G_j x_j σ'(u_jk)``, with ``u_jk = x_j w0ₖ + b0ₖ``. For ReLU
    ``σ(u) = σ'(u) u``, so ``gw1ₖ = w0ₖ T0ₖ + b0ₖ T1ₖ`` from the two sums
    ``T0ₖ = Σ_j G_j x_j σ'(u_jk)`` and ``T1ₖ = Σ_j G_j σ'(u_jk)``.
    """
    m, d = x.size, w0.size
    total = 0.0
    for j in range(m):
        total += G[j]
    for k in range(d):
        gw0[k] = 0.0
        gb0[k] = 0.0
        gw1[k] = 0.0
    for s in range(0, m, ROWS_BACKWARD):
        xb, Gb = x[s : s + ROWS_BACKWARD], G[s : s + ROWS_BACKWARD]
        n = xb.size
        if code == 0:
            for k in range(d):
                a, c = w0[k], b0[k]
                t0 = 0.0
                t1 = 0.0
                for j in range(n):
                    q = Gb[j] if xb[j] * a + c > 0.0 else 0.0
                    t0 += q * xb[j]
                    t1 += q
                gw0[k] += t0
                gb0[k] += t1
        else:
            for k in range(d):
                a, c = w0[k], b0[k]
                t0 = 0.0
                t1 = 0.0
                t2 = 0.0
                for j in range(n):
                    s, ds = _sigma_dsigma(code, xb[j] * a + c)
                    q = Gb[j] * ds
                    t0 += q * xb[j]
                    t1 += q
                    t2 += Gb[j] * s
                gw0[k] += t0
                gb0[k] += t1
                gw1[k] += t2
    for k in range(d):
        if code == 0:
            gw1[k] = w0[k] * gw0[k] + b0[k] * gb0[k]
        gw0[k] *= w1[k]
        gb0[k] *= w1[k]
    return total


@numba.njit("void(f8[::1], f8[::1], i8[::1], i8, f8[:, ::1])", cache=True, nogil=True)
def forward_batch(x, theta, starts, code, H):  # pragma: no cover - compiled
    """:func:`forward` of each net of a batch on the same rows: ``H[i] = h_i(x)``.

    Net i is the 1→dᵢ→1 net with biases packed at ``theta[starts[i] : starts[i + 1]]``
    (``[w₀, b₀, w₁, b₁]``, dᵢ = (length − 1)/3). Each net runs :func:`forward` itself,
    so its floating-point operations are those of the net alone.
    """
    for i in range(starts.size - 1):
        s = starts[i]
        d = (starts[i + 1] - s - 1) // 3
        w0, b0, w1 = theta[s : s + d], theta[s + d : s + 2 * d], theta[s + 2 * d : s + 3 * d]
        forward(x, w0, b0, w1, theta[s + 3 * d], code, H[i])


@numba.njit("void(f8[::1], f8[:, ::1], f8[::1], i8[::1], i8, f8[::1])", cache=True, nogil=True)
def backward_batch(x, G, theta, starts, code, grad):  # pragma: no cover - compiled
    """:func:`backward` of each net of a batch (layout of :func:`forward_batch`): the
    gradient of ``Σ_j G[i, j] h_i(x_j)`` into ``grad[starts[i] : starts[i + 1]]``, ∇b₁ = Σ G[i]
    included. Each net runs :func:`backward` itself."""
    for i in range(starts.size - 1):
        s = starts[i]
        d = (starts[i + 1] - s - 1) // 3
        w0, b0, w1 = theta[s : s + d], theta[s + d : s + 2 * d], theta[s + 2 * d : s + 3 * d]
        gw0, gb0, gw1 = grad[s : s + d], grad[s + d : s + 2 * d], grad[s + 2 * d : s + 3 * d]
        grad[s + 3 * d] = backward(x, G[i], w0, b0, w1, code, gw0, gb0, gw1)


@numba.njit(cache=True, nogil=True)
def adam_step(theta: Array, grad: Array, m: Array, v: Array, keep1: float, keep2: float,
              shift: float, step: float) -> None:  # pragma: no cover (compiled)
    """One Adam step in place: ``keep1 = 1 − β₁``, ``keep2 = 1 − β₂``, ``shift`` the
    term added to ``√v``, ``step`` the bias-corrected step size.

    Coordinate by coordinate, the operations of :meth:`approx.train.optimizers.Adam.step`'s
    numpy form in the same order (``m + (g − m)(1 − β₁)``, ``v + (g² − v)(1 − β₂)``, then
    ``θ − (m / (√v + ε√(1 − β₂ᵗ))) · step``), so θ and the moments are the numpy form's
    bit for bit; what it saves is the numpy form's dozen calls per step on the short
    arrays of a small net. No fast-math: no operation is reassociated or contracted.
    """
    for i in range(theta.size):
        g = grad[i]
        mi = m[i] + (g - m[i]) * keep1
        vi = v[i] + (g * g - v[i]) * keep2
        m[i] = mi
        v[i] = vi
        theta[i] -= mi / (math.sqrt(vi) + shift) * step


#: :func:`adam_steps` leaves a step to its caller once a residual is larger than this (or
#: not finite): the squares of m residuals up to it sum to a finite loss for m < 10⁸
LARGE_RESIDUAL = 1e150


@numba.njit(
    "i8(f8[::1], f8[::1], f8[::1], f8[::1], i8, f8[::1], f8[::1], f8[:, ::1], f8[::1], f8[::1],"
    " f8, f8, f8[::1], f8[::1], f8)",
    cache=True,
    nogil=True,
)
def adam_steps(x, y, theta, grad, code, h, G, R, mom, vel, keep1, keep2, shifts, sizes,
               stop_below):  # pragma: no cover - compiled
    """Full-batch Adam steps of the 1→d→1 net ``theta`` = ``[w₀, b₀, w₁, b₁]`` under the
    mean squared error, as many as ``shifts`` holds, in one call: each is
    :func:`forward`, the residuals ``h − y`` (kept in ``R[j]``, the caller computes the
    loss from them), ``G = (h − y)/m``, :func:`backward` into ``grad`` (∇b₁ = Σ G last)
    and :func:`adam_step` with ``keep1 = 1 − β₁``,
    ``keep2 = 1 − β₂``, step j's term added to √v ``shifts[j]`` and its bias-corrected
    step size ``sizes[j]``: the floating-point operations of the engine's call and the
    optimizer's step, one after the other, bit for bit.

    Returns the number of steps taken; it stops before updating at a step with a
    residual that is not finite or above :data:`LARGE_RESIDUAL`, or whose loss summed
    here is at most ``stop_below`` (the caller takes that step itself, as it would,
    with the loss summed as it sums it).
    """
    m = x.size
    d = (theta.size - 1) // 3
    w0, b0, w1 = theta[:d], theta[d : 2 * d], theta[2 * d : 3 * d]
    gw0, gb0, gw1 = grad[:d], grad[d : 2 * d], grad[2 * d : 3 * d]
    for j in range(shifts.size):
        forward(x, w0, b0, w1, theta[3 * d], code, h)
        r = R[j]
        total = 0.0
        for i in range(m):
            r[i] = h[i] - y[i]
            if not abs(r[i]) <= LARGE_RESIDUAL:  # (NaN too)
                return j
            total += r[i] * r[i]
        if 0.5 * total / m <= stop_below:
            return j
        for i in range(m):
            G[i] = r[i] / m
        grad[3 * d] = backward(x, G, w0, b0, w1, code, gw0, gb0, gw1)
        adam_step(theta, grad, mom, vel, keep1, keep2, shifts[j], sizes[j])
    return shifts.size


class NumbaFused:
    """The kernels behind the interface of :class:`approx.nn.fused.NumpyFused`.

    Parameters
    ----------
    activation : str
        A key of :data:`ACTIVATION_CODES` (an activation with a numba code).
    """

    def __init__(self, activation: str) -> None:
        self.code = validate.lookup(ACTIVATION_CODES, activation, "numba-compiled activation")

    def forward(self, x: Array, w0: Array, b0: Array, w1: Array, b1: float, h: Array) -> None:
        """``h = σ(x w₀ᵀ + b₀) w₁ + b₁`` written into ``h``."""
        forward(x, w0, b0, w1, b1, self.code, h)

    def loss_and_grad(
        self,
        x: Array,
        y: Array,
        loss_into: LossInto,
        params: tuple[Array, Array, Array, float],
        h: Array,
        G: Array,
        grads: tuple[Array, Array, Array],
    ) -> tuple[float, float]:
        """Forward over all rows, the loss, backward over all rows; returns ``(loss, Σ G)``."""
        w0, b0, w1, b1 = params
        forward(x, w0, b0, w1, b1, self.code, h)
        value = loss_into(h, y, G)
        return value, backward(x, G, w0, b0, w1, self.code, *grads)
