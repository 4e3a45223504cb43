"""Problems: what a sweep asks a network to approximate or classify.

Rooms:

- :mod:`~approx.problems.targets`: :class:`~approx.problems.targets.Target` (a vectorised
  function on a closed interval with its ball form, plain data), the built-ins and
  :func:`~approx.problems.targets.from_expr`;
- :mod:`~approx.problems.expr`: the safe expression parser (no ``eval``), compiled to
  numpy and to Arb ball arithmetic;
- :mod:`~approx.problems.finite`: the proof that a target is finite on its closed domain
  (a target without a finite supremum is refused when it is built);
- :mod:`~approx.problems.datasets`: the 2-D classification datasets.
"""
