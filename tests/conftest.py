"""Hypothesis profiles for the whole suite.

- ``fast`` (loaded by default): hypothesis' own defaults, with failing examples printed
  with their reproduction blob. Tests that set ``max_examples`` themselves keep it; the
  fuzz tests (marker ``fuzz``, tests/certify/test_fuzz.py) run a small derandomized set
  of examples under it, so the plain ``pytest`` stays fast and reproducible.
- ``long``: ``pytest -m fuzz --hypothesis-profile long`` runs the fuzz tests for
  thousands of random examples each, without deadline (20 minutes and more).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("fast", print_blob=True)
settings.register_profile(
    "long",
    max_examples=4000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("fast")
