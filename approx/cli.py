"""The ``run-experiment`` command line (thin: parsing and printing only).

``run-experiment CONFIG`` runs a sweep; ``run-experiment --replot DIR`` redraws the
figures of a results folder from its store; ``run-experiment --list`` shows the built-in
targets and the method kinds with their parameters. Exit status: 0 when every run
succeeded, 1 when any run failed, 2 for bad input (the message names the file and key).
"""

from __future__ import annotations

import os

# One BLAS thread per process, set before numpy loads it: a sweep's parallelism is its
# worker processes, and the last bits of a BLAS result depend on its thread count, so
# this keeps ``--jobs 1`` and ``--jobs N`` bit-identical. A value set by the user wins.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402

from approx import methods, targets  # noqa: E402
from approx.experiment import (  # noqa: E402
    ConfigError,
    StoreError,
    load_config,
    plot_folder,
    run_sweep,
    summarize,
)
from approx.experiment.worker import Result  # noqa: E402

app = typer.Typer(
    add_completion=False,
    help="Function-approximation experiments: sweep width d against smooth targets.",
)
out_console = Console()
err_console = Console(stderr=True)


class _Bar:
    """A rich progress bar with counts, elapsed time and ETA (a runner ``Reporter``)."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
        )
        self.failed = 0

    def start(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("sweep", total=total, completed=done)

    def advance(self, result: Result) -> None:
        self.failed += result.status != "ok"
        description = f"sweep ([red]{self.failed} failed[/])" if self.failed else "sweep"
        self.progress.update(self.task, advance=1, description=description)

    def stop(self) -> None:
        self.progress.stop()


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(
        f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True
    )
    return typer.Exit(code)


def _summary(summary: pd.DataFrame) -> Table:
    table = Table(title="max error ε at the largest width and fitted rate (slope of log ε / log d)")
    for column in ("target", "method", "d", "ε", "rate", "failed"):
        table.add_column(column, justify="left" if column in ("target", "method") else "right")
    for row in summary.itertuples():
        table.add_row(
            row.target,
            row.method,
            "—" if pd.isna(row.largest_width) else str(row.largest_width),
            "—" if pd.isna(row.max_error) else f"{row.max_error:.3g}",
            "—" if pd.isna(row.rate) else f"{row.rate:+.2f}",
            f"[red]{row.failed}[/]" if row.failed else "0",
        )
    return table


def _list() -> None:
    for name in targets.names():
        t = targets.get(name)
        out_console.print(
            f"target [bold]{name}[/]: {t.description} on [{t.domain[0]:g}, {t.domain[1]:g}]",
            highlight=False,
        )
    for kind, m in methods.METHODS.items():
        extra = f"; width ≥ {m.min_width}" + ("; random" if m.random else "")
        out_console.print(f"method kind [bold]{kind}[/]: {m.description}{extra}", highlight=False)
        for p in m.params:
            choices = f" one of {', '.join(map(repr, p.choices))};" if p.choices else ""
            minimum = f" ≥ {p.minimum:g};" if p.minimum is not None else ""
            out_console.print(
                f"    {p.name} ({p.type.__name__};{choices}{minimum} default {p.default!r})"
                f" {p.help}",
                highlight=False,
                markup=False,
            )


@app.command()
def run_experiment(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="The sweep config (TOML), e.g. experiments/quickstart.toml.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Results folder (default: results/<name>)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores)."),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard the folder's earlier runs first.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
    replot: Annotated[
        Path | None,
        typer.Option(
            "--replot",
            metavar="DIR",
            help="Redraw the figures of a results folder from its store (no refit).",
        ),
    ] = None,
    list_all: Annotated[
        bool, typer.Option("--list", help="List built-in targets and method kinds, then exit.")
    ] = False,
) -> None:
    """Run the sweep in CONFIG into results/<name>/: tables, models and plots.

    Running it again resumes: finished runs are kept, the rest are run.
    """
    if list_all:
        _list()
        return
    if replot is not None:
        try:
            paths = plot_folder(replot)
        except (StoreError, ConfigError) as e:
            raise _fail(str(e)) from None
        if not quiet:
            for path in paths:
                out_console.print(f"wrote {path}", highlight=False)
        return
    if config is None:
        raise _fail("give a CONFIG file to run (or --replot DIR, or --list); see --help")
    try:
        sweep = load_config(config)
    except ConfigError as e:
        raise _fail(str(e)) from None
    folder = out if out is not None else Path("results") / sweep.name
    bar = _Bar(quiet)
    try:
        table = run_sweep(sweep, folder, jobs=jobs or os.cpu_count(), fresh=fresh, reporter=bar)
    except StoreError as e:
        raise _fail(str(e)) from None
    except KeyboardInterrupt:
        raise _fail(
            f"interrupted; finished runs are saved in {folder}, rerun to resume", 130
        ) from None
    finally:
        bar.stop()
    plot_folder(folder)
    failed = int(np.sum(table["status"] != "ok"))
    if not quiet:
        out_console.print(_summary(summarize(table)))
        out_console.print(
            f"{len(table)} runs, {failed} failed; results in {folder}/ (plots in {folder}/plots/)",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``run-experiment`` script."""
    app()
