"""Networks in ball arithmetic: a scalar MLP as a ball function of ``x``, exactly from
its float weights, through its activation's ball form
(:attr:`approx.nn.activations.Activation.ball`)."""

from __future__ import annotations

from typing import Any

from flint import arb

from approx.nn.activations import BALL_FORMS
from approx.problems.expr import BallFunc

__all__ = ["mlp_ball"]


def mlp_ball(net: Any) -> BallFunc:
    """A scalar MLP as a ball function of ``x`` (an arb or arb_series), from its float
    weights exactly: ``O(n_params)`` ball operations per evaluation."""
    sigma = BALL_FORMS[net.activation]
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
