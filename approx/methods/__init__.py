"""The seam between the library and experiments: a table of approximation methods.

Each method ``kind`` maps to a function ``(target, width, rng, **params) -> Fit`` and
declares its parameters (:class:`~approx.core.options.Option`: type, default, range or
choices, help), so a sweep config can be validated before anything runs and the CLI can
list what exists. The ``trained`` method's parameters are the options of
:func:`approx.train.fit_target`, declared in :mod:`approx.train.options`.

Rooms:

- :mod:`~approx.methods.registry`: :class:`Fit` and :class:`Method`, the records;
- :mod:`~approx.methods.costs`: parameter counts and memory estimates per method;
- :mod:`~approx.methods.timing`: the run-time estimates of ``--dry-run``;
- :mod:`~approx.methods.approximation`: the approximation methods, :data:`METHODS`;
- :mod:`~approx.methods.classifiers`: the classification methods, ``CLASSIFIERS``.
"""

from approx.methods.approximation import METHODS, fit, get
from approx.methods.registry import Fit, Method

__all__ = ["METHODS", "Fit", "Method", "fit", "get"]
