"""Scalar nets with smooth activations (tanh, logistic, cos, softplus, identity) of any
depth as certified cells, for :func:`approx.certify.branch_bound.sup_abs_difference`.

In Arb a net costs ``n_params`` ball operations per evaluation, so Taylor models of it
hit the work cap from a few dozen units on. :class:`SmoothNetPolys` gives the
branch-and-bound what it asks of a model in floats instead, over many points at once:
truncated Taylor series in *midpoint–radius* form (a float array of midpoints and one of
radii per coefficient, every rounding counted outward) propagated through the layers:

- the input is ``x + h`` (a point: radius 0) or ``m + h`` with ``m ± ρ`` covering a cell;
  a coefficient computed from the latter encloses ``f̂^(k)(ξ)/k!`` for every ``ξ`` of the
  cell (inclusion isotonicity), which gives the bound of the highest order over a cell;
- an affine layer acts on each coefficient (``z_k W``, plus the bias for ``k = 0``), its
  rounding bounded by ``γ_n |z_k| |W|`` (any summation order, ``n`` the fan-in);
- an activation composes by the recurrences of automatic differentiation, from the
  differential equation it solves (``y' = (1 - y²) u'`` for tanh, ``y(1 - y) u'`` for the
  logistic function, ``(cos, sin)' = (-sin, cos) u'``, softplus' = the logistic
  function): ``y_k = (1/k) Σ_{j=1}^{k} j u_j g_{k-j}``, identities of series that hold
  coefficient by coefficient, so they hold for enclosures too. Only ``σ(u_0)`` needs an
  evaluation: :mod:`approx.certify.elementary` (and :func:`~approx.certify.features.cos_sin`)
  in floats with rigorous bounds, widened by the activation's Lipschitz constant times
  ``u_0``'s radius and clipped to its range.

Where rounding stands between the bounds, the net is evaluated in Arb
(:func:`approx.certify.nets.mlp_ball`), as for every other model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx.arith.balls import TINY, U
from approx.certify.elementary import logistic_bounded, softplus_bounded, tanh_bounded
from approx.certify.features import cos_sin
from approx.certify.nets import mlp_ball
from approx.certify.taylor import MAX_WORK, EndValues
from approx.core.threads import one_thread

__all__ = ["SMOOTH", "SmoothNetPolys", "smooth_fit"]

Array = NDArray[np.float64]
#: a truncated series in midpoint-radius form: midpoints and radii, one (m, n) array
#: per order
Series = tuple[list[Array], list[Array]]

#: the activations with cells of their own here
SMOOTH = frozenset({"tanh", "sigmoid", "cos", "softplus", "identity"})
#: orders at a point (0 … _POINT - 1) and over a cell (the branch-and-bound's ORDER)
_POINT = 6
_TOP = 6
#: elements (points × units) per chunk
_CHUNK = 1 << 15
_MAX_CELLS = 1 << 8
#: past this size weights or inputs could overflow the series' products
_MAX_INPUT = 2.0**200


def smooth_fit(net: Any, domain: tuple[float, float]) -> bool:
    """Whether :class:`SmoothNetPolys` takes ``net``: scalar input and output, at least
    one hidden layer, an activation of :data:`SMOOTH`, moderate weights and domain."""
    if net.activation not in SMOOTH or len(net.sizes) < 3:
        return False
    if not net.sizes[0] == net.sizes[-1] == 1:
        return False
    reach = max(abs(domain[0]), abs(domain[1]))
    big = max(float(np.max(np.abs(w))) for w in [*net.weights, *net.biases])
    return reach < _MAX_INPUT and big < _MAX_INPUT


# --- midpoint-radius series arithmetic --------------------------------------------------


def _finish(mid: Array, rad: Array, size: Array, ops: int) -> tuple[Array, Array]:
    """A result's radius: the radii carried, ``ops`` roundings of at most ``U`` times
    ``size`` (a bound of the magnitudes summed), the radius's own rounding, underflow."""
    r = (rad + (ops + 1) * U * size) * (1 + (2 * ops + 4) * U) + (ops + 1) * TINY
    return mid, np.where(np.isnan(r), np.inf, r)


def _weighted(
    terms: list[tuple[float, Array, Array, Array, Array]],
) -> tuple[Array, Array, Array]:
    """``Σ c a b`` over terms ``(c, a, ra, b, rb)`` (``c`` a small integer): the
    midpoint, the radius carried by the factors, and ``Σ |c a b|`` (rounding not yet
    counted)."""
    mid = rad = size = None
    for c, a, ra, b, rb in terms:
        p = a * b
        r = np.abs(a) * rb + ra * (np.abs(b) + rb)
        if c != 1:
            p, r = c * p, c * r
        if mid is None:
            mid, rad, size = p, r, np.abs(p)
        else:
            mid, rad, size = mid + p, rad + r, size + np.abs(p)
    assert mid is not None and rad is not None and size is not None
    return mid, rad, size


def _square_coef(y: Series, k: int) -> tuple[Array, Array]:
    """Coefficient ``k`` of ``y²`` (by symmetry: twice the cross terms)."""
    ym, yr = y
    terms = [(2.0, ym[i], yr[i], ym[k - i], yr[k - i]) for i in range((k + 1) // 2)]
    if k % 2 == 0:
        terms.append((1.0, ym[k // 2], yr[k // 2], ym[k // 2], yr[k // 2]))
    mid, rad, size = _weighted(terms)
    return _finish(mid, rad, size, k + 2)


def _chain_coef(u: Series, g: Series, k: int) -> tuple[Array, Array]:
    """``(1/k) Σ_{j=1}^{k} j u_j g_{k-j}``: coefficient ``k`` of ``y`` with ``y' = g u'``."""
    um, ur = u
    gm, gr = g
    mid, rad, size = _weighted(
        [(float(j), um[j], ur[j], gm[k - j], gr[k - j]) for j in range(1, k + 1)]
    )
    mid, rad = _finish(mid, rad, size, k + 2)
    out = mid / k
    return _finish(out, rad / k, np.abs(out), 1)


def _clip(mid: Array, rad: Array, lo: float, hi: float) -> tuple[Array, Array]:
    """An enclosure of values known to lie in ``[lo, hi]``: the range where it is
    narrower (centre and half-width, exact for the ranges used)."""
    wide = ~(rad <= (hi - lo) / 2)
    return np.where(wide, (lo + hi) / 2, mid), np.where(wide, (hi - lo) / 2, rad)


def _base(name: str, um: Array, ur: Array) -> list[tuple[Array, Array]]:
    """``σ(u_0)`` (and what its recurrence needs besides: ``sin`` for cos, the logistic
    function for softplus) enclosed over ``u_0 ± r``: the float value's error plus the
    Lipschitz constant times ``r``, clipped to the range."""
    if name == "tanh":
        v, e = tanh_bounded(um)
        return [_clip(v, (e + ur) * (1 + 2 * U), -1.0, 1.0)]
    if name == "sigmoid":
        v, e, _, _ = logistic_bounded(um)
        return [_clip(v, (e + ur / 4) * (1 + 2 * U), 0.0, 1.0)]
    if name == "softplus":
        v, e, s, es = softplus_bounded(um)
        return [(v, (e + ur) * (1 + 2 * U)), _clip(s, (es + ur / 4) * (1 + 2 * U), 0.0, 1.0)]
    c, s, ec, es = cos_sin(um)
    return [
        _clip(c, (ec + ur) * (1 + 2 * U), -1.0, 1.0),
        _clip(s, (es + ur) * (1 + 2 * U), -1.0, 1.0),
    ]


def _one_minus(mid: Array, rad: Array, first: bool) -> tuple[Array, Array]:
    """``δ - s`` for a coefficient ``s`` (``δ = 1`` for the constant one)."""
    out = (1.0 - mid) if first else -mid
    return _finish(out, rad, np.abs(out), 1) if first else (out, rad)


def _riccati_series(
    u: Series, base: tuple[Array, Array], n: int,
    factor: Callable[[Series, Array, Array, int], tuple[Array, Array]],
) -> Series:
    """``y`` with ``y' = g u'``, ``g`` a quadratic in ``y`` whose ``k``-th coefficient
    ``factor(y, s_mid, s_rad, k)`` gives from ``y``'s and those of ``y²`` (``s``)."""
    y: Series = ([base[0]], [base[1]])
    g: Series = ([], [])
    for k in range(n):
        if k:
            m, r = _chain_coef(u, g, k)
            y[0].append(m)
            y[1].append(r)
        sm, sr = _square_coef(y, k)
        gm, gr = factor(y, sm, sr, k)
        g[0].append(gm)
        g[1].append(gr)
    return y


def _logistic_factor(y: Series, sm: Array, sr: Array, k: int) -> tuple[Array, Array]:
    """The logistic function's ``y - y²``."""
    gm = y[0][k] - sm
    return _finish(gm, y[1][k] + sr, np.abs(gm), 1)


def _tanh_factor(y: Series, sm: Array, sr: Array, k: int) -> tuple[Array, Array]:
    """tanh's ``1 - y²``."""
    return _one_minus(sm, sr, k == 0)


def _logistic_series(u: Series, base: tuple[Array, Array], n: int) -> Series:
    """``y = σ(u)`` for the logistic function, ``y' = (y - y²) u'``."""
    return _riccati_series(u, base, n, _logistic_factor)


def _activation_series(name: str, u: Series, n: int) -> Series:
    """``σ(u)`` to order ``n - 1`` (see the module docstring)."""
    if name == "identity":
        return u
    bases = _base(name, u[0][0], u[1][0])
    if name == "sigmoid":
        return _logistic_series(u, bases[0], n)
    if name == "softplus":
        s = _logistic_series(u, bases[1], n - 1)
        y: Series = ([bases[0][0]], [bases[0][1]])
        for k in range(1, n):
            m, r = _chain_coef(u, s, k)
            y[0].append(m)
            y[1].append(r)
        return y
    if name == "cos":
        c: Series = ([bases[0][0]], [bases[0][1]])
        s = ([bases[1][0]], [bases[1][1]])
        for k in range(1, n):
            cm, cr = _chain_coef(u, s, k)
            sm, sr = _chain_coef(u, c, k)
            c[0].append(-cm)
            c[1].append(cr)
            s[0].append(sm)
            s[1].append(sr)
        return c
    # tanh: y' = (1 - y²) u'
    return _riccati_series(u, bases[0], n, _tanh_factor)


def _affine(z: Series, w: Array, aw: Array, b: Array) -> Series:
    """``z W + b`` on every coefficient (the bias on the constant one), with BLAS's
    rounding bounded by ``γ_{n+1} (|z| |W| + |b|)`` whatever its order of summation."""
    n = w.shape[0]
    zm, zr = z
    K, m = len(zm), zm[0].shape[0]
    flat = np.concatenate(zm)
    mids = flat @ w
    mids[:m] += b
    # (r + γ |z|) |W| + γ |b|: the radii carried and the rounding, in one product of
    # non-negative terms (its own rounding γ_n relative)
    gamma = (n + 2) * U * (1 + (n + 2) * U)
    rad = (np.concatenate(zr) + gamma * np.abs(flat)) @ aw
    rad[:m] += gamma * np.abs(b)
    rad = rad * (1 + (n + 4) * U) + (n + 2) * TINY
    rad = np.where(np.isnan(rad), np.inf, rad)
    return [mids[i * m : (i + 1) * m] for i in range(K)], [
        rad[i * m : (i + 1) * m] for i in range(K)
    ]


def _through(net: Any, absw: list[Array], x: Array, rho: Array, n: int) -> tuple[Array, Array]:
    """The net's Taylor coefficients ``f̂^(k)/k!``, ``k < n``, at ``x ± ρ`` (shape
    (m,) each): midpoints and radii, shapes (n, m)."""
    m = x.size
    zm = [x[:, None], np.ones((m, 1))] + [np.zeros((m, 1))] * (n - 2)
    zr = [rho[:, None]] + [np.zeros((m, 1))] * (n - 1)
    z: Series = (zm[:n], zr[:n])
    last = len(net.weights) - 1
    for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = _affine(z, w, absw[layer], b)
        if layer < last:
            z = _activation_series(net.activation, z, n)
    mid = np.array([c[:, 0] for c in z[0]])
    rad = np.array([c[:, 0] for c in z[1]])
    return mid, np.where(np.isfinite(mid), rad, np.inf)


class SmoothNetPolys:
    """The cells of a scalar net with a smooth activation (see the module docstring).

    Provides what :func:`~approx.certify.branch_bound.sup_abs_difference` uses of a model:
    ``edges``, ``cell``, ``at``, ``bound``, ``near_edge``, ``ball_at`` and the attributes
    of :class:`~approx.certify.taylor.LocalPolys` (no cell is rough, none has slack).

    Parameters
    ----------
    net : MLP
        Sizes ``[1, …, 1]``, an activation of :data:`SMOOTH`, finite weights.
    domain : tuple of float
    max_work : int
        The branch-and-bound's work cap: the first cells take at most a quarter of it.
    """

    def __init__(self, net: Any, domain: tuple[float, float], max_work: int = MAX_WORK) -> None:
        if not smooth_fit(net, domain):
            raise ValueError(f"SmoothNetPolys takes a scalar net of {sorted(SMOOTH)}, got {net!r}")
        a, b = domain
        self.net = net
        self.domain = (a, b)
        self._absw = [np.abs(w) for w in net.weights]
        units = sum(net.sizes[1:-1])
        #: operations per cell in floats, in units of a 12-term polynomial's: two
        #: series of seven orders through every unit (calibrated on time)
        self.float_cost = max(1, units // 2)
        self.cap_scale = 1
        n = math.ceil(float(np.max(np.abs(net.weights[0]))) * (b - a) / math.pi)
        n = int(min(max(n, 1), max_work // (4 * self.float_cost) + 1, _MAX_CELLS))
        edges = a + (b - a) * (np.arange(n + 1) / n)
        edges[-1] = b
        self.edges = np.unique(np.clip(edges, a, b))
        m = self.edges.size - 1
        self.rough = np.zeros(m, dtype=bool)
        self.slack = np.zeros(m)
        self.capped = False
        self.source = mlp_ball(net)
        self.cost = int(net.n_params)
        self.work = int(m * self.float_cost)
        whole = self._range(self.edges[:-1], self.edges[1:], 1)[0]
        self.sup = float(np.max(whole)) if whole.size else math.inf
        self.scale = self.sup
        self._cache: tuple[Array, Array, Array] | None = None
        self._values = EndValues(lambda x: self._evaluate(x, np.zeros(x.size), 1))

    def cell(self, x: Array) -> NDArray[np.intp]:
        """Index of the cell holding each point (the left one at a shared edge)."""
        i = np.searchsorted(self.edges, x, side="left") - 1
        return np.clip(i, 0, self.edges.size - 2)

    def at(self, x: Array, idx: NDArray[np.intp] | None, k: int) -> tuple[Array, Array]:
        """``f̂^(k)(x)/k!`` at points ``x`` (value and a rigorous error bound). The orders
        of one set of points are computed together (and kept for the next call) once an
        order above 0 is asked for."""
        if not 0 <= k < _POINT:
            raise ValueError(f"derivative order {k} is not in 0 … {_POINT - 1}")
        x = np.asarray(x, dtype=np.float64)
        if self._cache is not None:
            cx, mid, rad = self._cache
            if cx.shape == x.shape and np.array_equal(cx, x):
                return mid[k], rad[k]
        if k == 0:
            return self._values(x)
        mid, rad = self._evaluate(x, np.zeros_like(x), _POINT)
        self._cache = (x.copy(), mid, rad)
        return mid[k], rad[k]

    def bound(self, lo: Array, hi: Array, idx: NDArray[np.intp] | None, k: int) -> Array:
        """An upper bound of ``|f̂^(k)(ξ)|/k!`` for ``ξ`` in ``[lo, hi]``: the series
        evaluated on the cell's ball (inclusion isotonicity)."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        if k > _TOP:
            return np.full(lo.shape, np.inf)
        out = self._range(lo, hi, k + 1)[k]
        return np.minimum(out, self.sup) if k == 0 else out

    def near_edge(self, lo: Array, hi: Array, idx: NDArray[np.intp]) -> Array:
        """No slack: the net is evaluated as the function it is."""
        return np.zeros(np.shape(lo))

    def point_cell(self, i: int) -> int:
        """-1: :meth:`ball_at` at a point does not depend on the cell it is asked for."""
        return -1

    def ball_at(self, X: Any, i: int) -> Any:
        """The net in Arb at ``X`` (an arb or arb_series), from its float weights exactly."""
        return self.source(X, False)

    # --- evaluation ----------------------------------------------------------------------

    def _range(self, lo: Array, hi: Array, n: int) -> Array:
        """``|coefficient k|`` bounded over cells, ``k < n``: shape (n, m)."""
        mid = lo + (hi - lo) / 2
        rho = np.maximum(mid - lo, hi - mid) * (1 + 4 * U)
        m, r = self._evaluate(mid, rho, n)
        return np.where(np.isfinite(m), (np.abs(m) + r) * (1 + 2 * U), np.inf)

    def _evaluate(self, x: Array, rho: Array, n: int) -> tuple[Array, Array]:
        """:func:`_through` in chunks of points, so that memory stays bounded."""
        m = x.size
        mid, rad = np.empty((n, m)), np.empty((n, m))
        step = max(1, _CHUNK // max(self.net.sizes[1:-1]))
        with one_thread(), np.errstate(all="ignore"):
            for start in range(0, m, step):
                sl = slice(start, min(start + step, m))
                mid[:, sl], rad[:, sl] = _through(self.net, self._absw, x[sl], rho[sl], n)
        return mid, rad

