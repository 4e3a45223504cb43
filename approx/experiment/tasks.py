"""What a sweep does, one record per task: approximate functions, or classify samples.

A config's ``task`` names a :class:`Task` of :data:`TASKS`, and everything that differs
between the tasks is one of its fields, looked up where it is needed instead of
branched on:

- its subjects: the config key (``[[targets]]`` or ``[[datasets]]``), the table column
  (``target`` or ``dataset``) and how one entry is checked (:mod:`~approx.experiment.entries`);
- its method table (:data:`approx.methods.METHODS` or
  :data:`approx.methods.classifiers.CLASSIFIERS`) and whether a method takes a width;
- how a worker runs one of its runs (:mod:`~approx.experiment.measure`) and the result
  columns only it has;
- whether a replicate draws new samples (then every method runs every replicate, each
  replicate's samples from a seed of their own) and whether parameter budgets apply;
- the file names its figures may have.

Its summary and its figures need pandas and matplotlib, which a worker process (that
only runs :attr:`Task.execute`) never loads, and the figures read the config: they are
the task's entries in :data:`approx.experiment.summary.SUMMARIES` and
:data:`approx.experiment.plots.FIGURES`, keyed by the task's name, so that this module
imports neither (a test checks that both tables cover every task).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from approx import methods
from approx.core import validate
from approx.experiment import entries, measure
from approx.experiment.checks import Checker
from approx.experiment.measure import Result
from approx.experiment.specs import DatasetSpec, Run, TargetSpec
from approx.methods import Method
from approx.methods import classifiers as classify

__all__ = ["DEFAULT_TASK", "TASKS", "Task", "of_table"]


@dataclass(frozen=True)
class Task:
    """One task a sweep may do; see the module docstring.

    Attributes
    ----------
    name : str
        The config's ``task`` value.
    subjects : str
        The config key of the entries the methods are fitted to (``"targets"``).
    subject : str
        The table column naming a run's entry (``"target"``).
    entry : callable
        ``entry(check, table, key) -> spec``: one validated subject entry.
    table : callable
        ``table() -> {kind: Method}``: the method table, read when called (so a method
        kind registered later, e.g. by a test, is found).
    find : callable
        ``find(kind) -> Method``; an unknown kind raises ``ValueError`` naming the known
        ones (and the other task, when the kind is its).
    has_width : callable
        ``has_width(method) -> bool``; a method without width runs once per replicate at
        width 0, shown as no width in the table.
    execute : callable
        ``execute(run, result)``: fit and measure one run into its result (in a worker).
    columns : tuple of str
        The result columns only this task has (left out of the other's table).
    draws_samples : bool
        Whether each replicate draws new samples: every method runs every replicate
        (even a deterministic one), and :attr:`Run.sample_seed` is set.
    budgets : bool
        Whether a config may give parameter budgets instead of widths.
    figure_names : callable
        ``figure_names(subject names) -> set``: the file names under ``plots/`` its
        figures may have (the folder's rules for what a sweep wrote).
    """

    name: str
    subjects: str
    subject: str
    entry: Callable[[Checker, dict[str, Any], str], TargetSpec | DatasetSpec]
    table: Callable[[], Mapping[str, Method]]
    find: Callable[[object], Method]
    has_width: Callable[[Method], bool]
    execute: Callable[[Run, Result], None]
    columns: tuple[str, ...]
    draws_samples: bool
    budgets: bool
    figure_names: Callable[[Iterable[str]], set[str]]

    @property
    def widthless(self) -> bool:
        """Whether some method of the table takes no width (its table's width may be empty)."""
        return not all(self.has_width(m) for m in self.table().values())

    def __reduce__(self) -> tuple[Callable[[str], Task], tuple[str]]:
        """Pickled by name: the process that unpickles it uses its own :data:`TASKS`."""
        return task, (self.name,)


def _approximation_method(kind: object) -> Method:
    if isinstance(kind, str) and kind in methods.METHODS:
        return methods.METHODS[kind]
    also = (
        ' (a classification kind: set task = "classification")'
        if isinstance(kind, str) and kind in classify.CLASSIFIERS
        else ""
    )
    raise ValueError(
        f"unknown method kind {kind!r}{also}; {validate.did_you_mean(kind, methods.METHODS)}"
        f"known kinds are {', '.join(methods.METHODS)}"
    )


#: targets per page of the figures with a panel per target (``convergence.png``,
#: ``convergence_2.png``, …): a figure of a thousand panels takes minutes and gigabytes
PAGE = 24
#: targets that get figures of their own (``fits_<target>.png``, ``training_…``): the
#: first ones in the config; the others are named in a note
PER_TARGET_FIGURES = 48


def page_names(stem: str, n: int) -> list[str]:
    """File names of the pages of figure ``stem`` for ``n`` targets, :data:`PAGE` a page:
    ``stem.png`` for the first, then ``stem_2.png``, ``stem_3.png``, …"""
    pages = max(1, -(-n // PAGE))
    return [f"{stem}.png"] + [f"{stem}_{k}.png" for k in range(2, pages + 1)]


def _approximation_figures(names: Iterable[str]) -> set[str]:
    names = list(names)
    per_target = ({f"fits_{n}.png", f"training_{n}.png", f"diagnostics_{n}.png"}
                  for n in names[:PER_TARGET_FIGURES])
    pages = (page_names(stem, len(names)) for stem in ("convergence", "gap", "params"))
    return set().union(*pages, *per_target)


def _classification_figures(names: Iterable[str]) -> set[str]:
    names = list(names)
    return set(page_names("accuracy", len(names))) | {
        f"regions_{n}.png" for n in names[:PER_TARGET_FIGURES]}


APPROXIMATION = Task(
    name="approximation",
    subjects="targets",
    subject="target",
    entry=entries.target,
    table=lambda: methods.METHODS,
    find=_approximation_method,
    has_width=lambda method: True,
    execute=measure.approximate,
    columns=("max_error", "max_error_at", "l2_error", "target_scale", "max_error_upper",
             "max_error_tight", "tight_reason", "degenerate"),
    draws_samples=False,
    budgets=True,
    figure_names=_approximation_figures,
)

CLASSIFICATION = Task(
    name="classification",
    subjects="datasets",
    subject="dataset",
    entry=entries.dataset,
    table=lambda: classify.CLASSIFIERS,
    find=classify.get,
    has_width=lambda classifier: classifier.has_width,  # type: ignore[attr-defined]
    execute=measure.classify,
    columns=("accuracy", "test_loss"),
    draws_samples=True,
    budgets=False,
    figure_names=_classification_figures,
)

def task(name: str) -> Task:
    """The task called ``name`` (of :data:`TASKS`)."""
    return TASKS[name]


#: the tasks by name, in the order ``--list`` and error messages show them
TASKS: dict[str, Task] = {task.name: task for task in (APPROXIMATION, CLASSIFICATION)}
#: a config without ``task`` approximates (the configs from before tasks existed)
DEFAULT_TASK = APPROXIMATION.name


def of_table(table: Any) -> Task:
    """The task whose runs ``table`` holds (the one whose subject column it has)."""
    for task in TASKS.values():
        if task.subject in table.columns:
            return task
    raise ValueError(
        f"not a table of runs: none of the columns {', '.join(t.subject for t in TASKS.values())}"
    )
