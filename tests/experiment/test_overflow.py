"""Runs whose numbers leave the floats are recorded ``non-finite``, saying why."""

from __future__ import annotations

import numpy as np

from approx import methods
from approx.experiment import parse_config, run_sweep
from approx.methods import Fit, Method
from approx.nn import MLP


def test_a_model_whose_weights_overflow_is_non_finite_with_the_reason(tmp_path):
    # exp(x) on [700, 709] is finite (below 8.3e307), but the construction's slopes and
    # the Chebyshev coefficients' sums pass the largest float
    config = parse_config(
        """
name = "overflow"
widths = [8, 16]
[[targets]]
name = "big"
expr = "exp(x)"
domain = [700.0, 709.0]
[[methods]]
name = "construction"
kind = "relu-interpolant"
[[methods]]
name = "chebyshev"
kind = "chebyshev"
"""
    )
    table = run_sweep(config, tmp_path, jobs=1)
    assert (table["status"] == "non-finite").all(), table[["method", "status", "message"]]
    assert table["message"].str.contains("not finite: they overflowed").all()
    assert table["max_error"].isna().all()


def test_a_net_whose_real_function_overflows_is_non_finite(tmp_path, monkeypatch):
    # finite weights, but 1e300 · relu(1e300 x) passes the largest float on [1, 2]: the
    # value is the largest float (a lower bound), the upper bound inf
    def huge(target, width, rng):
        net = MLP.from_params([np.full((1, width), 1e300), np.full((width, 1), 1e300)])
        return Fit(net, net.n_params)

    monkeypatch.setitem(methods.METHODS, "fake-huge", Method("fake-huge", huge, (), "huge"))
    config = parse_config(
        """
name = "huge"
widths = [2]
[[targets]]
name = "line"
expr = "x"
domain = [1.0, 2.0]
[[methods]]
name = "huge"
kind = "fake-huge"
"""
    )
    table = run_sweep(config, tmp_path, jobs=1)
    assert (table["status"] == "non-finite").all(), table[["status", "message"]]
    assert table["message"].str.contains("passes the largest float").all()
    assert (table["max_error_upper"] == np.inf).all()
