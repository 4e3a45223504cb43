"""Activations in floats with rigorous error bounds that do not trust the platform's libm:
``exp`` (of arguments up to 1), the logistic function, ``tanh`` and ``softplus``, each
returning the value and a bound of its absolute error, elementwise over arrays.

``exp t`` reduces ``t = k ln 2 + r`` by Cody and Waite's method (``L₁`` of 32 bits, so
``k L₁`` is exact for ``|k| < 2²¹``; each subtraction's error kept by TwoSum; the error
of ``L₁ + L₂`` against ``ln 2`` bounded in Arb), evaluates the Taylor polynomial of
degree 14 on ``|r| ≤ 0.35`` by Horner's rule with a running error bound (Higham's
Algorithm 5.1), the truncation and the coefficients' rounding bounded exactly, and scales
by ``2^k`` (exact, up to the rounding of a subnormal result). The others are built on
``E = exp(-|u|)`` (``E ≤ 1``: no overflow): ``1/(1 + E)``, ``(1 - E)/(1 + E)``; ``softplus``
takes ``log1p`` from the platform and *verifies* it: for ``y ≥ 0``,
``|y - log1p(E)| ≤ |expm1(y) - E|`` (the mean value theorem, ``exp ≥ 1`` on ``[0, ∞)``),
with ``expm1(y)`` from the rigorous ``exp``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import arb, ctx
from numpy.typing import NDArray

from approx.arith.balls import TINY, U, upper
from approx.arith.eft import two_sum

__all__ = ["exp_bounded", "logistic_bounded", "softplus_bounded", "tanh_bounded"]

Array = NDArray[np.float64]

#: Taylor degree of exp on |r| ≤ _R_MAX
_DEGREE = 14
_R_MAX = 0.35
_EXP = np.array([1.0 / math.factorial(j) for j in range(_DEGREE + 1)])
#: below this argument exp is under the smallest subnormal: 0 within TINY
_LOWEST = -1100.0


def _ln2_pieces() -> tuple[float, float, float]:
    """``L₁`` (32 significant bits), ``L₂`` and an upper bound of ``|ln 2 - L₁ - L₂|``."""
    saved = ctx.prec
    ctx.prec = 256
    try:
        ln2 = arb(2).log()
        top = float(ln2.mid())
        e = math.frexp(top)[1]
        l1 = math.ldexp(math.floor(math.ldexp(top, 32 - e)), e - 32)
        rest = ln2 - arb(l1)
        l2 = float(rest.mid())
        error = upper(abs(rest - arb(l2)))
    finally:
        ctx.prec = saved
    return l1, l2, error


_L1, _L2, _LN2_ERR = _ln2_pieces()


def _poly_constant() -> float:
    """Coefficients' rounding ``Σ_j |c_j - 1/j!| R^j`` and truncation ``Σ_{j>n} R^j/j!``
    (``≤ 2 R^(n+1)/(n+1)!`` for ``R < 1``) at ``R = _R_MAX``, rounded up."""
    r = Fraction(_R_MAX)
    total = sum(
        (
            abs(Fraction(float(c)) - Fraction(1, math.factorial(j))) * r**j
            for j, c in enumerate(_EXP)
        ),
        Fraction(0),
    )
    total += 2 * r ** (_DEGREE + 1) / math.factorial(_DEGREE + 1)
    return float(total) * (1 + 4 * U)


_POLY_ERR = _poly_constant()


def exp_bounded(t: Array) -> tuple[Array, Array]:
    """``exp t`` for ``t ≤ 1`` (any shape; larger or NaN arguments get an infinite
    error bound) and a bound of the absolute error (see the module docstring)."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~(t <= 1.0)
        t = np.where(bad, 0.0, np.maximum(t, _LOWEST))
        k = np.rint(t / math.log(2))
        r1, e1 = two_sum(t, -(k * _L1))  # k L1 exact (|k| < 2^21)
        p2 = k * _L2
        r, e2 = two_sum(r1, -p2)
        # t - k ln 2 = r + δ, |δ| ≤ |e1| + |e2| + U |p2| + |k| |ln 2 - L1 - L2|
        delta = (np.abs(e1) + np.abs(e2) + U * np.abs(p2) + np.abs(k) * _LN2_ERR) * (1 + 4 * U)
        bad |= np.abs(r) > _R_MAX
        r = np.where(bad, 0.0, r)
        y = np.full(t.shape, _EXP[-1])
        mu = np.abs(y) / 2
        a = np.abs(r)
        for c in _EXP[-2::-1]:
            y = y * r + c
            mu = mu * a + np.abs(y)
        # Horner (running bound), coefficients and truncation; exp(r + δ) = exp(r) e^θ
        err = 2.01 * U * mu + _POLY_ERR
        err = (err + 1.01 * delta * (y + err)) * (1 + 8 * U)
        ki = k.astype(np.int64)
        value = np.ldexp(y, ki)
        err = np.ldexp(err, ki) * (1 + 2 * U) + 2 * TINY  # a subnormal result rounds
    return value, np.where(bad, np.inf, err)


def logistic_bounded(u: Array) -> tuple[Array, Array, Array, Array]:
    """``1/(1 + e^(-u))`` with an error bound, and ``E = e^(-|u|)`` with its own (for
    :func:`softplus_bounded`): ``(value, error, E, E's error)``."""
    u = np.asarray(u, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        E, eE = exp_bounded(-np.abs(u))
        D = 1.0 + E  # |D - (1 + E*)| ≤ eE + U D, and D, 1 + E* ≥ 1
        q = 1.0 / D
        err_q = eE + U * D + U * q
        # u < 0: E q, whose factors carry eE and err_q (|q| ≤ 1, |E| ≤ 1)
        neg = u < 0
        value = np.where(neg, E * q, q)
        err = np.where(neg, eE * q + E * err_q + eE * err_q + U * E * q, err_q)
        err = np.where(np.isnan(u), np.inf, err * (1 + 8 * U) + TINY)
    return value, err, E, eE


def tanh_bounded(u: Array) -> tuple[Array, Array]:
    """``tanh u`` with a bound of its absolute error (a few rounding units)."""
    u = np.asarray(u, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        E, eE = exp_bounded(-2.0 * np.abs(u))  # -inf for huge |u|: E = 0 ± TINY
        N = 1.0 - E
        D = 1.0 + E
        t = N / D
        # |N - N*| ≤ eE + U N, |D - D*| ≤ eE + U D, D ≥ 1, N/D ≤ 1
        err = (2 * eE + U * (N + D + 2 * t)) * (1 + 8 * U) + TINY
        err = np.where(np.isnan(u), np.inf, err)
    return np.sign(u) * t, err


def softplus_bounded(u: Array) -> tuple[Array, Array, Array, Array]:
    """``log(1 + e^u)`` with an error bound, and the logistic function (its derivative)
    with its own: ``(value, error, logistic, its error)``."""
    u = np.asarray(u, dtype=np.float64)
    s, es, E, eE = logistic_bounded(u)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.maximum(np.log1p(E), 0.0)  # the platform's, verified below
        X, eX = exp_bounded(y)
        m1 = X - 1.0  # exact for 1 ≤ X ≤ 2 (Sterbenz); U |m1| counts the rest
        diff = m1 - E
        err_y = (np.abs(diff) * (1 + U) + eX + U * np.abs(m1) + eE) * (1 + 4 * U)
        value = np.maximum(u, 0.0) + y
        err = (err_y + U * np.abs(value)) * (1 + 4 * U) + TINY
        err = np.where(np.isfinite(value), err, np.inf)
    return value, err, s, es
