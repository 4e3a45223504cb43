"""The compiled Adam step gives the numpy form's numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.train import optimizers

pytest.importorskip("numba")


def _run(theta, grads, compiled, monkeypatch, resets=()):
    with monkeypatch.context() as m:
        if not compiled:
            m.setattr(optimizers, "_adam_kernel", lambda: None)
        else:
            assert optimizers._adam_kernel() is not None
        opt = optimizers.Adam(0.03)
        theta = theta.copy()
        for k, g in enumerate(grads):
            opt.step(theta, g)
            if k in resets:
                opt.reset(np.array([0]), np.arange(1, theta.size))
    return theta, opt.m, opt.v


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1), st.integers(-12, 4))
def test_the_compiled_step_is_the_numpy_step_bit_for_bit(size, seed, scale):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=size)
    grads = [rng.normal(size=size) * 10.0 ** rng.integers(scale - 6, scale + 1)
             for _ in range(30)]
    grads[3][0] = 0.0
    with pytest.MonkeyPatch.context() as monkeypatch:
        want = _run(theta, grads, False, monkeypatch, resets=(5,))
        got = _run(theta, grads, True, monkeypatch, resets=(5,))
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_arrays_the_kernel_does_not_take_run_in_numpy():
    theta = np.zeros((4, 2))[:, 0]  # not contiguous
    opt = optimizers.Adam(0.1)
    opt.step(theta, np.ones(4))
    np.testing.assert_allclose(theta, -0.1)  # the first step moves each coordinate by lr
    assert not optimizers._plain(theta, np.ones(4))
