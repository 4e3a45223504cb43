"""Elementwise activations: one :class:`Activation` record each, in :data:`REGISTRY`.

A record holds everything the package knows about an activation σ: σ itself on float
arrays, σ' given the pre-activation ``u`` and the output ``y = σ(u)`` (whichever is
cheaper is used), an in-place form ``(u, d) -> None`` that overwrites ``u`` with σ(u) and,
when ``d`` is given, fills it with σ'(u) (fast paths use it so that large hidden matrices
are not reallocated on every step), σ on Arb balls and series for certificates, whether
``|σ| ≤ 1``, and the code of the compiled 1→d→1 kernel (:mod:`approx.nn._fused_numba`)
if it has one. Every per-activation table is a read-only view of the registry:
:data:`ACTIVATIONS`, :data:`DERIVATIVES`, :data:`IN_PLACE`, :data:`BALL_FORMS`,
:data:`BOUNDED`, :data:`NUMBA_CODES`, :data:`NUMBA_FASTER`; so are the ``activation``
choices of the training options, the layer table and the certificates' ball forms.

=========  =================  ======================  =======  ==========
name       σ(u)               σ'(u)                   |σ| ≤ 1  numba code
=========  =================  ======================  =======  ==========
relu       max(u, 0)          1 if u > 0 else 0       no       0 (auto)
sigmoid    1 / (1 + e^(-u))   y (1 - y)               yes      1
tanh       tanh u             1 - y²                  yes      2
cos        cos u              -sin u                  yes      3
identity   u                  1                       no       4 (auto)
softplus   log(1 + e^u)       1 / (1 + e^(-u))        no       none
=========  =================  ======================  =======  ==========

"auto": the automatic backend choice runs the compiled kernel for it
(:func:`approx.nn.backend.fused_backend`); an activation without a numba code always runs
the numpy fused pass. A new activation is one record here (and its tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from flint import arb, arb_series
from numpy.typing import NDArray

from approx.arith import elementary
from approx.arith.balls import abs_upper, head, hull
from approx.core import validate

__all__ = [
    "ACTIVATIONS",
    "BALL_FORMS",
    "BOUNDED",
    "DERIVATIVES",
    "IN_PLACE",
    "NUMBA_CODES",
    "NUMBA_FASTER",
    "REGISTRY",
    "Activation",
    "get",
    "get_activation",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Activation:
    """One elementwise activation σ and every form of it the package uses.

    Attributes
    ----------
    name : str
        The key in :data:`REGISTRY` and the value of an ``activation`` option.
    f : callable
        ``f(u) -> σ(u)`` on a float array (allocating).
    derivative : callable
        ``derivative(u, y) -> σ'(u)`` given ``u`` and ``y = σ(u)``.
    in_place : callable
        ``in_place(u, d) -> None``: ``u ← σ(u)`` and, unless ``d`` is None, ``d ← σ'(u)``
        (the same values as :attr:`f` and :attr:`derivative`).
    ball : callable
        σ on an Arb ``arb`` (a ball containing σ of every point of the argument) or
        ``arb_series`` (the enclosed Taylor series of σ composed with the argument).
    bounded : bool
        Whether ``|σ(u)| ≤ 1`` for every real ``u`` (a net of it is then bounded by
        its last layer's weights).
    numba_code : int or None
        The code the compiled 1→d→1 kernel branches on; None: the kernel does not have
        this activation and the fused pass runs in numpy.
    numba_faster : bool
        Whether the compiled pass beats numpy's, so the automatic backend takes it.
    """

    name: str
    f: Callable[[Array], Array]
    derivative: Callable[[Array, Array], Array]
    in_place: Callable[[Array, Array | None], None]
    ball: Callable[[Any], Any]
    bounded: bool
    numba_code: int | None = None
    numba_faster: bool = False

    def __post_init__(self) -> None:
        if self.numba_faster and self.numba_code is None:
            raise ValueError(f"activation {self.name!r}: numba_faster needs a numba_code")


# ---- relu ------------------------------------------------------------------------------


def _relu(u: Array) -> Array:
    return np.maximum(u, 0.0)


def _relu_derivative(u: Array, y: Array) -> Array:
    # derivative at the kink u = 0 is taken as 0, as in every mainstream framework
    return (u > 0).astype(u.dtype)


def _relu_(u: Array, d: Array | None) -> None:
    np.maximum(u, 0.0, out=u)
    if d is not None:
        np.greater(u, 0.0, out=d)


def _relu_ball(u: Any) -> Any:
    value = head(u)
    if value > 0:
        return u
    if value < 0:
        return u * 0
    if not isinstance(u, arb_series):
        return hull(arb(0), value.upper())
    # across the kink: the slope lies in [0, 1], higher orders are unknown
    return arb_series(
        [hull(arb(0), value.upper()), arb(0, abs_upper(u[1]))] + [arb.nan()] * (u.prec - 2),
        prec=u.prec,
    )


# ---- sigmoid ---------------------------------------------------------------------------


def _sigmoid(u: Array) -> Array:
    # 0.5 (1 + tanh(u/2)) is the logistic function without overflow for large |u|
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def _sigmoid_derivative(u: Array, y: Array) -> Array:
    return y * (1.0 - y)


def _sigmoid_(u: Array, d: Array | None) -> None:
    u *= 0.5
    np.tanh(u, out=u)
    u += 1.0
    u *= 0.5
    if d is not None:
        np.subtract(1.0, u, out=d)
        d *= u


def _sigmoid_ball(u: Any) -> Any:
    # finite on every ball (1/(1 + e^-u) divides by a ball holding 0 once e^-u is wide)
    return elementary.sigmoid(u)


# ---- tanh ------------------------------------------------------------------------------


def _tanh_derivative(u: Array, y: Array) -> Array:
    return 1.0 - y * y


def _tanh_(u: Array, d: Array | None) -> None:
    np.tanh(u, out=u)
    if d is not None:
        np.multiply(u, u, out=d)
        np.subtract(1.0, d, out=d)


def _tanh_ball(u: Any) -> Any:
    # finite on every ball (1 - 2/(e^2u + 1) divides by a ball holding 0 once e^2u is wide)
    return elementary.tanh(u)


# ---- cos -------------------------------------------------------------------------------


def _cos_derivative(u: Array, y: Array) -> Array:
    return -np.sin(u)


def _cos_(u: Array, d: Array | None) -> None:
    if d is not None:
        np.sin(u, out=d)
        np.negative(d, out=d)
    np.cos(u, out=u)


def _cos_ball(u: Any) -> Any:
    return u.cos()


# ---- identity --------------------------------------------------------------------------


def _identity(u: Array) -> Array:
    return u


def _identity_derivative(u: Array, y: Array) -> Array:
    return np.ones_like(u)


def _identity_(u: Array, d: Array | None) -> None:
    if d is not None:
        d.fill(1.0)


def _identity_ball(u: Any) -> Any:
    return u


# ---- softplus --------------------------------------------------------------------------


def _softplus(u: Array) -> Array:
    # max(u, 0) + log1p(exp(-|u|)): no overflow for large u, no cancellation for small
    return np.logaddexp(0.0, u)


def _softplus_derivative(u: Array, y: Array) -> Array:
    # e^(-y) = 1 / (1 + e^u), so σ' = 1 - e^(-y): the logistic function, to full
    # relative accuracy also where it is tiny (u ≪ 0, y ≈ e^u)
    return -np.expm1(-y)


def _softplus_(u: Array, d: Array | None) -> None:
    np.logaddexp(0.0, u, out=u)
    if d is not None:
        np.negative(u, out=d)
        np.expm1(d, out=d)
        np.negative(d, out=d)


def _softplus_ball(u: Any) -> Any:
    # log(1 + e^u) on the side of the argument where e^-|u| ≤ 1, finite on every ball
    return elementary.softplus(u)


# ---- the registry ----------------------------------------------------------------------


def _registry(*records: Activation) -> Mapping[str, Activation]:
    """The records by name (read-only), with distinct names and numba codes."""
    names = [a.name for a in records]
    codes = [a.numba_code for a in records if a.numba_code is not None]
    if len(set(names)) != len(names) or len(set(codes)) != len(codes):
        raise ValueError(f"activation names and numba codes must be distinct: {records}")
    return MappingProxyType({a.name: a for a in records})


#: every activation, by name (the order of option choices and tables)
REGISTRY: Mapping[str, Activation] = _registry(
    Activation("relu", _relu, _relu_derivative, _relu_, _relu_ball, False, 0, numba_faster=True),
    Activation("sigmoid", _sigmoid, _sigmoid_derivative, _sigmoid_, _sigmoid_ball, True, 1),
    Activation("tanh", np.tanh, _tanh_derivative, _tanh_, _tanh_ball, True, 2),
    Activation("cos", np.cos, _cos_derivative, _cos_, _cos_ball, True, 3),
    Activation(
        "identity",
        _identity,
        _identity_derivative,
        _identity_,
        _identity_ball,
        False,
        4,
        numba_faster=True,
    ),
    Activation("softplus", _softplus, _softplus_derivative, _softplus_, _softplus_ball, False),
)

#: σ by name
ACTIVATIONS: Mapping[str, Callable[[Array], Array]] = MappingProxyType(
    {name: a.f for name, a in REGISTRY.items()}
)
#: σ'(u) given ``(u, y = σ(u))``, by name
DERIVATIVES: Mapping[str, Callable[[Array, Array], Array]] = MappingProxyType(
    {name: a.derivative for name, a in REGISTRY.items()}
)
#: the in-place forms ``(u, d | None) -> None``, by name
IN_PLACE: Mapping[str, Callable[[Array, Array | None], None]] = MappingProxyType(
    {name: a.in_place for name, a in REGISTRY.items()}
)
#: σ on Arb balls and series, by name
BALL_FORMS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {name: a.ball for name, a in REGISTRY.items()}
)
#: activations bounded by 1 in absolute value (a net of them is bounded by its last
#: layer's weights)
BOUNDED = frozenset(name for name, a in REGISTRY.items() if a.bounded)
#: activation name → the code the compiled kernel branches on (those it has)
NUMBA_CODES: Mapping[str, int] = MappingProxyType(
    {name: a.numba_code for name, a in REGISTRY.items() if a.numba_code is not None}
)
#: activations whose compiled pass beats numpy's (numba's tanh, cos, sin are scalar libm
#: calls, 4–5× slower than numpy's SIMD ones at d = 64 … 1024)
NUMBA_FASTER = tuple(name for name, a in REGISTRY.items() if a.numba_faster)


def get(name: str) -> Activation:
    """The record of the activation called ``name``; unknown names list the known ones."""
    return validate.lookup(REGISTRY, name, "activation")


def get_activation(name: str) -> Callable[[Array], Array]:
    """Return the activation called ``name``; unknown names list the known ones."""
    return get(name).f
