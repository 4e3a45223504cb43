"""Experiments: sweep configs, the runner, the results store and the plots.

Data flows one way: :func:`load_config` validates a TOML file into a :class:`Config`;
:func:`run_sweep` fits every run (in this process, a local pool or on Dask:
:mod:`~approx.experiment.executors`) into a results folder (:class:`Store`, whose rules
for the user's files are :mod:`~approx.experiment.folder`) and returns the tidy table;
:func:`plot_folder` draws the figures from the store. What differs between
approximating functions and classifying samples (subjects, method table, what a run
measures, columns, summary, figures) is the config's :class:`Task`
(:mod:`~approx.experiment.tasks`), looked up, never branched on.

Rooms, in the order data flows through them:

- configs: :mod:`~approx.experiment.specs` (the entries and a run),
  :mod:`~approx.experiment.checks` and :mod:`~approx.experiment.entries` (checking parsed
  TOML, one entry at a time), :mod:`~approx.experiment.validation` (the config as a
  whole), :mod:`~approx.experiment.overrides` (``key.path=value`` from the command
  line), :mod:`~approx.experiment.config` (the :class:`Config`, reading a file),
  :mod:`~approx.experiment.changes` (what differs between two configs),
  :mod:`~approx.experiment.expansion` (runs and their seeds);
- the tasks: :mod:`~approx.experiment.tasks`;
- running: :mod:`~approx.experiment.measure` (what a run computes),
  :mod:`~approx.experiment.worker` (the process around it),
  :mod:`~approx.experiment.executors` (serial, local pool, Dask),
  :mod:`~approx.experiment.resources` (memory and worker limits),
  :mod:`~approx.experiment.dryrun` (what a sweep would do, found without writing),
  :mod:`~approx.experiment.runner` (the sweep: what to run, what to retry);
- results: :mod:`~approx.experiment.store` (sqlite, schema migrations),
  :mod:`~approx.experiment.folder` (the user's files), :mod:`~approx.experiment.metadata`,
  :mod:`~approx.experiment.summary`, :mod:`~approx.experiment.plots` and
  :mod:`~approx.experiment.classification_plots` (figures, in the style and formats of
  :mod:`~approx.experiment.figstyle`), :mod:`~approx.experiment.report` (``report.html``);
- reading a folder, even while a sweep writes it: :mod:`~approx.experiment.results`
  (:func:`load_results`, :func:`load_model`).

The names below are imported on first use, so a worker process that only needs
:mod:`approx.experiment.worker` never loads pandas or matplotlib.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Config": "config",
    "ExecutorError": "executors",
    "Remote": "executors",
    "ResourceError": "resources",
    "ConfigError": "config",
    "expand": "expansion",
    "load_config": "config",
    "load_model": "results",
    "load_results": "results",
    "parse_config": "config",
    "plot_folder": "plots",
    "report_folder": "plots",
    "run_sweep": "runner",
    "summarize": "runner",
    "Store": "store",
    "StoreError": "store",
    "TASKS": "tasks",
    "Task": "tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
