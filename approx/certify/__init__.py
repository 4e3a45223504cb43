"""Certification: rigorous enclosures of ``sup |f - f̂|`` and of a target's derivatives.

Rooms, bottom up:

- :mod:`~approx.certify.taylor`: :class:`~approx.certify.taylor.LocalPolys` (piecewise
  polynomials with error radii) and Taylor models of ball functions;
- :mod:`~approx.certify.nets`: a scalar MLP as a ball function (through its activation's
  ball form, from :mod:`approx.nn.activations`);
- :mod:`~approx.certify.chebyshev`, :mod:`~approx.certify.features`: cells of their own
  for Chebyshev series and ``1 → d → 1`` cos nets, evaluated in floats with error bounds;
- :mod:`~approx.certify.derivatives`: ``max |f''|`` and ``∫ √|f''|`` enclosed;
- :mod:`~approx.certify.targets`: what is certified of a target itself (Taylor models,
  ``max |f|`` estimate, ``max |f''|``), once per target and process;
- :mod:`~approx.certify.branch_bound`: ``sup |f - g|`` by branch-and-bound over cells;
- :mod:`~approx.certify.adapters`: one adapter per model kind, from a model to its cells.

:func:`approx.analysis.max_error_at` puts them together.
"""
