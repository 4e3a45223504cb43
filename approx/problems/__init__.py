"""Problems: what a sweep asks a network to approximate or classify.

Rooms:

- :mod:`~approx.problems.targets`: :class:`~approx.problems.targets.Target` (a vectorised
  function on a closed interval with its ball form, plain data), the built-ins and
  :func:`~approx.problems.targets.from_expr`;
- :mod:`~approx.problems.expr`: the safe expression parser (no ``eval``), compiled to
  numpy and to Arb ball arithmetic;
- :mod:`~approx.problems.finite`: the proof that a target is finite on its closed domain
  (a target without a finite supremum is refused when it is built);
- :mod:`~approx.problems.grading`: grids with cells split where a target sags from its
  chords unresolved (a singular point such as √(x + 1)'s at −1): the optimum's samples
  and the graded training points;
- :mod:`~approx.problems.datasets`: the 2-D classification datasets.
"""
