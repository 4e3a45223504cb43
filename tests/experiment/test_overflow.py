"""Runs whose numbers leave the floats are recorded ``non-finite``, saying why."""

from __future__ import annotations

from approx.experiment import parse_config, run_sweep


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
    assert table["message"].str.contains("parameters are not finite").all()
    assert table["max_error"].isna().all()
