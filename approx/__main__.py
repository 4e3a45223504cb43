"""``python -m approx`` runs the ``run-experiment`` command line."""

from approx.cli import main

main()
