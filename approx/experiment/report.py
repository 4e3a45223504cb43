"""``report.html``: one page to browse a results folder, offline.

The page holds the config and its provenance (every invocation that filled the folder:
command line, settings, commit, versions, host), the summary with the fitted rates, the
failed and degenerate runs with their messages, every figure as inline SVG (drawn by
the same code as the files under ``plots/``, whatever formats those are in, so it zooms
without blurring), and the run table, sortable by any column and filterable by subject,
method, width and status. It is one self-contained file: the style sheet and a few KB
of plain JavaScript are inside, nothing is fetched, no server is needed.

It is built from Jinja2 templates shipped with the package (``templates/``), every value
escaped by the template engine. Its size is bounded: at most :data:`FIGURES` figures
(the first ones drawn: the pages with a panel per subject, then per-subject figures),
:data:`ROWS` runs in the table and :data:`FAILED` failed or degenerate runs listed, each
message cut at :data:`MESSAGE` characters; what is left out is said on the page.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

import approx
from approx.core.status import RunStatus
from approx.experiment.config import Config
from approx.experiment.folder import REPORT_MARK, REPORT_NAME
from approx.experiment.provenance import now
from approx.experiment.store import Store, run_counts
from approx.experiment.summary import SUMMARIES

__all__ = ["FAILED", "FIGURES", "MARK", "MESSAGE", "NAME", "ROWS", "render", "write"]

#: the report's file name in the results folder
NAME = REPORT_NAME
#: the report's first bytes (how the folder check knows a report of the sweep's)
MARK = REPORT_MARK.decode("ascii")
#: figures shown at most (the first ones drawn)
FIGURES = 24
#: runs in the table at most
ROWS = 20_000
#: failed or degenerate runs listed at most
FAILED = 500
#: characters of a run's message shown at most
MESSAGE = 2000
#: the run table's columns, in this order, where the table has them
_COLUMNS = ("run_id", "target", "dataset", "method", "width", "replicate", "status",
            "max_error", "max_error_upper", "tight_reason", "degenerate", "gap_to_optimum",
            "optimum_lower", "optimum_upper", "l2_error", "accuracy", "test_loss",
            "n_params", "fit_seconds", "message")
#: the run table's columns a filter is offered for
_FILTERS = ("target", "dataset", "method", "width", "status")
_SVG_START = re.compile(r"<svg\b")
_SVG_NOISE = re.compile(r"<!--.*?-->\n?|<metadata>.*?</metadata>\n?", re.DOTALL)
_PATH_DATA = re.compile(r' d="[^"]*"')
_DIGITS = re.compile(r"(\.[0-9]{2})[0-9]+")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("approx.experiment", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True,
    )


def _text(value: Any) -> str:
    """A cell's text: numbers to 4 significant digits, nothing for a missing value."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _sort_key(value: Any) -> str:
    """The value a column sorts by: the number itself where it is one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "" if isinstance(value, float) and math.isnan(value) else repr(float(value))
    return _text(value)


def _cells(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(text, sort key) of each cell, row by row; messages cut at :data:`MESSAGE`."""
    rows = []
    for record in frame[list(columns)].astype(object).itertuples(index=False):
        row = []
        for column, value in zip(columns, record, strict=True):
            if column == "message" and isinstance(value, str) and len(value) > MESSAGE:
                value = value[:MESSAGE] + " …"
            row.append((_text(value), _sort_key(value)))
        rows.append(row)
    return rows


def _run_table(table: pd.DataFrame) -> dict[str, Any]:
    """The run table's columns, rows (at most :data:`ROWS`) and filters."""
    columns = [c for c in _COLUMNS if c in table.columns]
    shown = table.head(ROWS)
    filters = []
    for column in _FILTERS:
        if column in columns:
            values = sorted({_text(v) for v in shown[column].astype(object)},
                            key=lambda v: (len(v), v) if column == "width" else (0, v))
            filters.append({"column": column, "index": columns.index(column),
                            "values": values})
    return {"columns": columns, "rows": _cells(shown, columns), "filters": filters,
            "total": len(table), "cut": len(table) - len(shown)}


def _problems(table: pd.DataFrame, subject: str) -> dict[str, Any]:
    """The failed and degenerate runs with their messages (at most :data:`FAILED`)."""
    bad = table["status"] != RunStatus.OK
    if "degenerate" in table:
        bad |= table["degenerate"].eq(True)
    rows = table[bad]
    columns = [c for c in ("run_id", subject, "method", "width", "replicate", "status",
                           "degenerate", "max_error", "accuracy", "message")
               if c in table.columns]
    return {"columns": columns, "rows": _cells(rows.head(FAILED), columns),
            "total": len(rows), "cut": max(0, len(rows) - FAILED)}


def _summary(table: pd.DataFrame, config: Config) -> dict[str, Any]:
    summary = SUMMARIES[config.task.name](table)
    columns = [str(c) for c in summary.columns]
    return {"columns": columns, "rows": _cells(summary, columns)}


def _svg(text: str) -> str:
    """An SVG document as an element to inline: no XML declaration, comments, metadata,
    and path coordinates to 0.01 pt (a sixth less for the quickstart's figures)."""
    start = _SVG_START.search(text)
    text = _SVG_NOISE.sub("", text[start.start():] if start else text)
    return _PATH_DATA.sub(lambda m: _DIGITS.sub(r"\1", m.group(0)), text)


def _invocations(invocations: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    keys = ("id", "started_at", "ended_at", "status", "reason", "argv", "settings",
            "package_version", "package_commit", "package_dirty", "executor", "jobs",
            "host", "platform", "versions", "engine", "computed", "runs")
    return [{k: _text(i.get(k)) for k in keys} for i in invocations]


def render(config: Config, table: pd.DataFrame, figures: Mapping[str, str],
           invocations: Sequence[Mapping[str, Any]], notes: Sequence[str] = (),
           figures_total: int | None = None) -> str:
    """The report's HTML.

    Parameters
    ----------
    config : Config
        The sweep.
    table : DataFrame
        Its runs (``runs.csv``'s frame).
    figures : mapping
        Figure name → SVG text, in the order shown.
    invocations : sequence of mapping
        The store's invocations, oldest first (:meth:`Store.invocations`).
    notes : sequence of str
        What the figures leave out, one line each.
    figures_total : int, optional
        How many figures the sweep draws, if more than shown.
    """
    subject = config.task.subject
    return _environment().get_template("report.html.j2").render(
        mark=MARK, config=config, digest=config.digest(), subject=subject,
        counts=run_counts(table), generated=now(), version=approx.__version__,
        summary=_summary(table, config), problems=_problems(table, subject),
        runs=_run_table(table), notes=list(notes),
        figures=[{"name": name, "svg": _svg(svg)} for name, svg in figures.items()],
        figures_cut=max(0, (figures_total or 0) - len(figures)),
        invocations=_invocations(invocations),
        status=invocations[-1].get("status", "") if invocations else "",
    )


def write(store: Store, config: Config, table: pd.DataFrame, figures: Mapping[str, str],
          notes: Sequence[str] = ()) -> Path:
    """Write ``report.html`` into the store's folder (:meth:`Store.save`); return its path."""
    html = render(config, table, figures, store.invocations(), notes).encode("utf-8")
    return store.save(NAME, lambda file: file.write(html))
