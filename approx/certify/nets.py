"""Networks in ball arithmetic: a scalar MLP as a ball function of ``x``, exactly from
its float weights, and each activation's ball form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flint import arb, arb_series

from approx.arith.balls import abs_upper, hull
from approx.arith.balls import head as value_ball
from approx.problems.expr import BallFunc

__all__ = ["BALL_ACTIVATIONS", "mlp_ball"]


def _sigmoid(u: Any) -> Any:
    return 1 / (1 + (-u).exp())


def _relu_ball(u: Any) -> Any:
    head = value_ball(u)
    if head > 0:
        return u
    if head < 0:
        return u * 0
    return (
        hull(arb(0), head.upper())
        if not isinstance(u, arb_series)
        else arb_series(
            [hull(arb(0), head.upper()), arb(0, abs_upper(u[1]))] + [arb.nan()] * (u.prec - 2),
            prec=u.prec,
        )
    )


#: activations in ball arithmetic, by the names of :data:`approx.nn.ACTIVATIONS`
BALL_ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "relu": _relu_ball,
    "sigmoid": _sigmoid,
    "tanh": lambda u: 1 - 2 / ((2 * u).exp() + 1),
    "cos": lambda u: u.cos(),
    "identity": lambda u: u,
}


def mlp_ball(net: Any) -> BallFunc:
    """A scalar MLP as a ball function of ``x`` (an arb or arb_series), from its float
    weights exactly: ``O(n_params)`` ball operations per evaluation."""
    sigma = BALL_ACTIVATIONS[net.activation]
    weights = [[[arb(float(v)) for v in row] for row in w] for w in net.weights]
    biases = [[arb(float(v)) for v in b] for b in net.biases]

    def fn(x: Any, strict: Any = False) -> Any:
        z = [x]
        for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
            out = []
            for k in range(len(b)):
                s = b[k]
                for i, zi in enumerate(z):
                    s = s + zi * w[i][k]
                out.append(s if layer == len(weights) - 1 else sigma(s))
            z = out
        return z[0]

    return fn
