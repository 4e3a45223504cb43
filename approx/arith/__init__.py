"""Rigorous arithmetic: the kernel every certificate and finiteness proof stands on.

Rooms:

- :mod:`~approx.arith.balls`: Arb ball helpers (python-flint): working precision, balls
  from float intervals, floats rigorously above or below a ball, shared constants;
- :mod:`~approx.arith.eft`: error-free transformations of floats (TwoSum, Veltkamp's
  split, Dekker's product).

It sits just above :mod:`approx.core` (as mpmath's ``libmp`` sits below its contexts),
so that problems can prove their own finiteness and networks can give exact values
without reaching up into :mod:`approx.certify`.
"""
