"""Core: what every layer may use, built on numpy alone.

Rooms:

- :mod:`~approx.core.validate`: checks at the boundary (integers, finite floats, choices
  with did-you-mean, name-keyed lookups, one closed-interval check);
- :mod:`~approx.core.options`: :class:`~approx.core.options.Option` and
  :class:`~approx.core.options.Schema`, every option declared once (type, range,
  choices, default), checked once, its help generated;
- :mod:`~approx.core.errors`: :class:`~approx.core.errors.ApproxError`, the base of every
  error the package raises on purpose;
- :mod:`~approx.core.status`: :class:`~approx.core.status.RunStatus`, how a run ended;
- :mod:`~approx.core.deadline`: a per-context time limit that long loops check as they go;
- :mod:`~approx.core.threads`: BLAS held to one thread for a block of code.
"""
