"""The ``run-experiment`` command line (thin: parsing and printing only).

``run-experiment CONFIG`` runs a sweep (``--format png,pdf,svg`` and ``--dpi`` for its
figures); ``run-experiment --version`` prints the package
version (and commit); ``run-experiment --replot DIR`` redraws the
figures of a results folder from its store (in the formats it records, unless
``--format`` is given) and its ``report.html``; ``run-experiment --report DIR`` rebuilds
the report alone; ``run-experiment --list`` shows the built-in
targets and the method kinds with their parameters, then the datasets and classifier kinds
of the classification task. Exit status: 0 when every run
succeeded, 1 when any run failed (or the sweep stopped on a system error such as a full
disk), 2 for bad input (one line naming the file and key, or the folder and what to do),
130 when interrupted. Messages are printed literally: a ``[`` in a name is no markup.
"""

from __future__ import annotations

import os

# One BLAS thread per process, set before numpy loads it: a sweep's parallelism is its
# worker processes, and the last bits of a BLAS result depend on its thread count, so
# this keeps ``--jobs 1`` and ``--jobs N`` bit-identical. A value set by the user wins.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
# The figures are files drawn on explicit Agg canvases: no interactive backend is ever
# used, and matplotlib refuses to import at all under an invalid MPLBACKEND.
os.environ["MPLBACKEND"] = "agg"

import contextlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated, Any  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.text import Text  # noqa: E402

import approx  # noqa: E402
from approx.core import validate  # noqa: E402
from approx.core.errors import ApproxError  # noqa: E402
from approx.core.status import RunStatus  # noqa: E402

# Everything else is imported by the command that needs it: under the spawn start
# method every worker process of a sweep started by the console script imports this
# module again, and must not pay for pandas, matplotlib or the sweep's machinery.
if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from approx.core.options import Schema
    from approx.experiment import Config
    from approx.experiment.executors import Remote
    from approx.experiment.measure import Result

app = typer.Typer(
    add_completion=False,
    help="Function-approximation experiments: sweep width d against smooth targets.",
)
out_console = Console()
err_console = Console(stderr=True)


class _Bar:
    """A rich progress bar with counts, elapsed time and ETA (a runner ``Reporter``)."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet or not err_console.is_terminal,  # no frames in a log file
            transient=True,  # gone when the sweep ends: the summary (or one line) follows
        )
        self.failed = 0

    def note(self, message: str) -> None:
        _say(message)

    def start(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("sweep", total=total, completed=done)

    def advance(self, result: Result) -> None:
        self.failed += result.status != RunStatus.OK
        description = f"sweep ([red]{self.failed} failed[/])" if self.failed else "sweep"
        self.progress.update(self.task, advance=1, description=description)

    def stop(self) -> None:
        self.progress.stop()


def _say(message: str, label: str = "note:", style: str = "yellow") -> None:
    """One line on stderr, printed literally (no markup, no wrapping)."""
    err_console.print(Text.assemble((label, f"bold {style}"), " ", validate.printable(message)),
                      highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    _say(message, "error:", "red")
    return typer.Exit(code)


def _error_summary(summary: pd.DataFrame) -> Table:
    import pandas as pd
    from rich.table import Table

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


def _accuracy_summary(summary: pd.DataFrame) -> Table:
    import pandas as pd
    from rich.table import Table

    table = Table(title="held-out accuracy at the largest width (median over replicates)")
    for column in ("dataset", "method", "d", "accuracy", "range", "failed"):
        table.add_column(column, justify="left" if column in ("dataset", "method") else "right")
    for row in summary.itertuples():
        table.add_row(
            row.dataset,
            row.method,
            "—" if pd.isna(row.largest_width) else str(row.largest_width),
            "—" if pd.isna(row.accuracy) else f"{row.accuracy:.3f}",
            "—" if pd.isna(row.accuracy) else f"{row.accuracy_min:.3f}–{row.accuracy_max:.3f}",
            f"[red]{row.failed}[/]" if row.failed else "0",
        )
    return table


#: how each task's summary is shown, by task name
_SUMMARIES = {"approximation": _error_summary, "classification": _accuracy_summary}


def _params(params: Schema) -> None:
    if len(params):
        out_console.print(params.help("    "), highlight=False, markup=False)


def _list() -> None:
    from approx import methods
    from approx.methods import classifiers as classify
    from approx.problems import datasets, targets

    for name in targets.names():
        t = targets.get(name)
        out_console.print(
            f"target [bold]{name}[/]: {t.description} on [{t.domain[0]:g}, {t.domain[1]:g}]",
            highlight=False,
        )
    for kind, m in methods.METHODS.items():
        extra = f"; width ≥ {m.min_width}" + ("; random" if m.random else "")
        out_console.print(f"method kind [bold]{kind}[/]: {m.description}{extra}", highlight=False)
        _params(m.params)
    out_console.print('classification (task = "classification"):', highlight=False)
    for name, d in datasets.DATASETS.items():
        classes = f"; {d.fixed_classes} classes" if d.fixed_classes is not None else ""
        out_console.print(f"dataset [bold]{name}[/]: {d.description}{classes}", highlight=False)
        _params(d.declared)
    for kind, c in classify.CLASSIFIERS.items():
        extra = f"; width ≥ {c.min_width}" if c.has_width else "; no width"
        out_console.print(
            f"classifier kind [bold]{kind}[/]: {c.description}{extra}", highlight=False
        )
        _params(c.params)


def _line(text: str) -> None:
    """One line on stdout, printed literally and never wrapped."""
    out_console.print(Text(text), highlight=False, soft_wrap=True)


def _list_config(sweep: Config) -> None:
    """A config's subjects, its methods with every parameter resolved, and its runs."""
    from approx.experiment import dryrun
    from approx.experiment.expansion import count_runs

    task = sweep.task
    _line(f"{sweep.source}: sweep {sweep.name!r} ({task.name}), seed {sweep.seed}, "
          f"{count_runs(sweep)} runs")
    for spec in sweep.targets:
        fields = ", ".join(f"{k} = {v!r}" for k, v in spec.canonical().items()
                           if k != "name" and v is not None)
        _line(f"{task.subject} {spec.name}: {fields or 'built-in'}")
    for spec in sweep.methods:
        params = ", ".join(f"{k} = {v!r}" for k, v in spec.params) or "no parameters"
        _line(f"method {spec.name} (kind {spec.kind}): {params}")
    for line in dryrun.run_lines(dryrun.plan_cells(sweep), task.subject, status=False):
        _line(line)


def _dry_run(sweep: Config, folder: Path, **options: Any) -> None:
    """Say what the sweep would do in ``folder``, writing nothing; exit 2 with the line
    the sweep would be refused with, if it would be."""
    from approx.experiment import dryrun

    try:
        plan = dryrun.plan(sweep, folder, **options)
    except ApproxError as e:
        raise _fail(str(e)) from None
    for line in dryrun.describe(plan, sweep.task.subject):
        _line(line)
    if plan.refusal is not None:
        raise _fail(f"the sweep would be refused: {plan.refusal}")
    _line("dry run: nothing was written")


# the command's arguments and options, one alias each (their help is the --help text)
_ConfigArg = Annotated[
    Path | None,
    typer.Argument(help="The sweep config (TOML), e.g. experiments/quickstart.toml.",
                   show_default=False),
]
_Out = Annotated[
    str | None,
    typer.Option("--out", "-o", help="Results folder (default: results/<name>, with "
                 "overrides results/<name>+<overrides>).",
                 show_default=False),
]
_Jobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j",
                 help="Worker processes (default and most: the CPU cores); with "
                 "--scheduler, the runs in flight.", show_default=False),
]
_Fresh = Annotated[
    bool, typer.Option("--fresh", help="Remove what earlier sweeps wrote in the folder "
                       "first (never files they did not write).")
]
_RetryFailed = Annotated[
    bool, typer.Option("--retry-failed", help="Also rerun runs that diverged, stalled, "
                       "timed out or were non-finite (errors are always retried).")
]
_Executor = Annotated[
    str, typer.Option("--executor", metavar="[local|dask]",
                      help="Local processes, or tasks on a Dask cluster.")
]
_Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", metavar="ADDRESS",
                 help="A running Dask scheduler (tls://host:8786 or tcp://host:8786); "
                 "default: a local cluster of --jobs workers. Connecting runs code the "
                 "scheduler sends (Dask's protocol unpickles it): needs --tls-ca-file, "
                 "--tls-cert and --tls-key, or --trust-scheduler.", show_default=False),
]
_Trust = Annotated[
    bool, typer.Option("--trust-scheduler", help="Connect to --scheduler without TLS "
                       "certificates: you trust whoever listens at that address to run "
                       "code as you.")
]
_TlsCa = Annotated[
    str | None, typer.Option("--tls-ca-file", metavar="FILE", show_default=False,
                             help="CA certificate the tls:// scheduler's is signed by.")
]
_TlsCert = Annotated[
    str | None, typer.Option("--tls-cert", metavar="FILE", show_default=False,
                             help="This client's certificate for a tls:// scheduler.")
]
_TlsKey = Annotated[
    str | None, typer.Option("--tls-key", metavar="FILE", show_default=False,
                             help="This client's private key for a tls:// scheduler.")
]
_MemoryLimit = Annotated[
    str | None,
    typer.Option("--memory-limit", metavar="SIZE",
                 help="Memory the local workers may use together, e.g. 8GiB "
                 "(default: half of the available memory).", show_default=False),
]
_TimeLimit = Annotated[
    float | None,
    typer.Option("--time-limit", metavar="SECONDS",
                 help="Per-run time limit (overrides the config's time_limit); past it "
                 "a run is recorded as timeout.", show_default=False),
]
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
_Replot = Annotated[
    Path | None,
    typer.Option("--replot", metavar="DIR",
                 help="Redraw the figures of a results folder from its store (no refit)."),
]
_Report = Annotated[
    Path | None,
    typer.Option("--report", metavar="DIR",
                 help="Rebuild report.html of a results folder from its store (figures "
                 "drawn in memory; no other file is written)."),
]
_Format = Annotated[
    str | None,
    typer.Option("--format", metavar="png,pdf,svg",
                 help="The figures' formats, comma-separated (default: png; with "
                 "--replot or a resumed sweep, the formats the folder records).",
                 show_default=False),
]
_Dpi = Annotated[
    int | None,
    typer.Option("--dpi", help="Resolution of the figures' raster output (default 110, "
                 "or the folder's recorded one).", show_default=False),
]
_ListAll = Annotated[
    bool, typer.Option("--list", help="List built-in targets, method kinds, datasets and "
                       "classifier kinds, then exit; with CONFIG, that config's methods "
                       "(every parameter resolved) and runs.")
]
_Overrides = Annotated[
    list[str] | None,
    typer.Argument(metavar="KEY=VALUE", show_default=False,
                   help="Change a setting of CONFIG: seed=3, widths=[4,8], "
                   "methods.<name>.lr=1e-3, ~methods.<name> (drop it); values are TOML. "
                   "Without --out the results go to a folder of their own."),
]
_Set = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", show_default=False,
                 help="An override, as KEY=VALUE after CONFIG (repeatable)."),
]
_DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Say what the sweep would do (runs new, done and "
                       "failed; memory; an estimate of the time), then exit without "
                       "touching the folder.")
]


def git_commit() -> dict[str, Any] | None:
    """The commit the package runs from (:func:`approx.experiment.provenance.git_commit`)."""
    from approx.experiment.provenance import git_commit as commit

    return commit()


def version_line() -> str:
    """``approx <version>``, and the commit (``+dirty`` if changed) when the package
    runs from a git checkout."""
    line = f"approx {approx.__version__}"
    git = git_commit()
    if git is not None:
        line += f" (commit {git['commit'][:12]}{'+dirty' if git['dirty'] else ''})"
    return line


def _print_version(value: bool) -> None:
    if value:
        out_console.print(Text(version_line()), highlight=False)
        raise typer.Exit()


_Version = Annotated[
    bool, typer.Option("--version", is_eager=True, callback=_print_version,
                       help="Print the package version (and commit in a checkout), then exit.")
]


@app.command()
def run_experiment(
    config: _ConfigArg = None,
    overrides: _Overrides = None,
    set_: _Set = None,
    out: _Out = None,
    jobs: _Jobs = None,
    fresh: _Fresh = False,
    retry_failed: _RetryFailed = False,
    executor: _Executor = "local",
    scheduler: _Scheduler = None,
    trust_scheduler: _Trust = False,
    tls_ca_file: _TlsCa = None,
    tls_cert: _TlsCert = None,
    tls_key: _TlsKey = None,
    memory_limit: _MemoryLimit = None,
    time_limit: _TimeLimit = None,
    quiet: _Quiet = False,
    replot: _Replot = None,
    report: _Report = None,
    figure_format: _Format = None,
    dpi: _Dpi = None,
    list_all: _ListAll = False,
    dry_run: _DryRun = False,
    version: _Version = False,
) -> None:
    """Run the sweep in CONFIG into results/<name>/: tables, models and plots.

    Running it again resumes: finished runs are kept, the rest are run.
    KEY=VALUE after CONFIG changes a setting (see the README, "Changing a setting").
    """
    settings = [*(overrides or ()), *(set_ or ())]
    if list_all:
        _list() if config is None else _list_config(_load(config, settings))
        return
    formats = _figure_options(figure_format, dpi)
    if replot is not None or report is not None:
        if config is not None or settings:
            raise _fail(f"{'--replot' if replot is not None else '--report'} DIR works on a "
                        "results folder: it takes no CONFIG or override")
        if replot is not None and report is not None:
            raise _fail("give --replot DIR (figures and report) or --report DIR (the report "
                        "alone), not both")
        if replot is not None:
            _plot(replot, quiet, formats, dpi, _draw_jobs(jobs))
        else:
            if formats is not None or dpi is not None:
                raise _fail("--report DIR draws no figure file: --format and --dpi go with "
                            "--replot DIR or a sweep")
            _report(report, quiet, _draw_jobs(jobs))  # type: ignore[arg-type]
        return
    if config is None:
        raise _fail("give a CONFIG file to run (or --replot DIR, or --list); see --help")
    options = _options(out, jobs, executor, _remote(scheduler, trust_scheduler, tls_ca_file,
                                                    tls_cert, tls_key), memory_limit, time_limit)
    if not dry_run:
        _prestart(jobs, options)
    sweep = _load(config, settings)
    folder = Path(out) if out is not None else default_folder(sweep)
    if out is None and folder.name != sweep.name:
        _say(f"with the overrides, the results go to a folder of their own: {folder}")
    if dry_run:
        _dry_run(sweep, folder, jobs=jobs, fresh=fresh, retry_failed=retry_failed, **options)
        return
    table = _sweep(sweep, folder, quiet, jobs=jobs, fresh=fresh, retry_failed=retry_failed,
                   plots=True, argv=["run-experiment", *sys.argv[1:]],
                   settings={"overrides": list(sweep.overrides)}, formats=formats, dpi=dpi,
                   **options)
    failed = int((table["status"] != RunStatus.OK).sum())
    if not quiet:
        from approx.experiment.summary import SUMMARIES


        out_console.print(_SUMMARIES[sweep.task.name](SUMMARIES[sweep.task.name](table)))
        # degenerate: ok, but its certified ε is not below the best constant's
        degenerate = (f", {int(table['degenerate'].eq(True).sum())} degenerate"
                      if "degenerate" in table else "")
        out_console.print(
            f"{len(table)} runs, {failed} failed{degenerate}; results in {folder}/ "
            f"(plots in {folder}/plots/, the report in {folder}/report.html)",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


def default_folder(sweep: Config) -> Path:
    """The results folder of ``sweep`` when no ``--out`` is given: ``results/<name>``, or
    for a sweep with overrides a folder of its own, ``results/<name>+<overrides>``
    (:func:`~approx.experiment.overrides.folder_name`)."""
    from approx.experiment.overrides import folder_name

    return Path("results") / folder_name(sweep.name, sweep.overrides)


def _load(config: Path, settings: list[str]) -> Config:
    """The config at ``config`` with the overrides ``settings``; exit 2 with one line if
    it is not valid."""
    from approx.experiment import load_config

    try:
        return load_config(config, settings)
    except ApproxError as e:
        _discard()
        raise _fail(str(e)) from None


def _remote(scheduler: str | None, trust: bool, ca: str | None, cert: str | None,
            key: str | None) -> Remote | None:
    """The Dask scheduler to connect to, if any (its TLS options need it)."""
    from approx.experiment.executors import Remote

    if scheduler is None and (trust or ca or cert or key):
        raise _fail("--trust-scheduler and --tls-* options need --scheduler ADDRESS")
    return None if scheduler is None else Remote(scheduler, trust, ca, cert, key)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """A Ctrl-C within the block is raised as KeyboardInterrupt when the block ends, not
    where it lands: a KeyboardInterrupt inside an extension module's initialisation (the
    sweep's imports load matplotlib's) once printed a traceback and aborted the process."""
    got: list[int] = []
    old = signal.signal(signal.SIGINT, lambda number, frame: got.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def _sweep(sweep: Config, folder: Path, quiet: bool, **options: Any) -> pd.DataFrame:
    """Run the sweep with a progress bar; exit with one line if it cannot go on."""
    bar = _Bar(quiet)
    try:
        with _interrupts_deferred():  # (matplotlib's extensions load here)
            import sqlite3

            from approx.experiment import run_sweep
        return run_sweep(sweep, folder, reporter=bar, **options)
    except ApproxError as e:
        bar.stop()  # the bar goes before the line, which stays the only one
        raise _fail(str(e)) from None
    except (OSError, sqlite3.Error) as e:  # e.g. the disk filled up mid-sweep
        bar.stop()
        raise _fail(f"stopped: {e}; finished runs are saved in {folder}, rerun to resume",
                    1) from None
    except KeyboardInterrupt:
        bar.stop()
        raise _fail(f"interrupted; finished runs are saved in {folder}, rerun to resume",
                    130) from None
    finally:
        bar.stop()
        _discard()  # workers started ahead that a sweep refused before its pool never ran


def _prestart(jobs: int | None, options: dict[str, object]) -> None:
    """Start a local sweep's worker processes before the config, the store and the
    sweep's own imports (:func:`approx.experiment.executors.prestart`): their start-up
    overlaps them. The sweep stops them if it does not use them."""
    if options["executor"] != "local" or options["scheduler"] is not None:
        return
    from approx.experiment import executors
    from approx.experiment.resources import local_workers

    executors.prestart(local_workers(jobs)[0])


def _discard() -> None:
    """Stop the workers :func:`_prestart` started, if any (the sweep will not run)."""
    executors = sys.modules.get("approx.experiment.executors")
    if executors is not None:
        executors.discard()


def _options(out: str | None, jobs: int | None, executor: str, scheduler: Remote | None,
             memory_limit: str | None, time_limit: float | None) -> dict[str, object]:
    """Check the options that are not a config's; exit 2 with one line if one is bad."""
    from approx.experiment.executors import EXECUTORS
    from approx.experiment.resources import parse_size

    if out is not None and not out.strip():
        raise _fail("--out is empty (an unset shell variable?); give a folder, e.g. --out "
                    "results/mine")
    try:
        if jobs is not None:
            validate.integer(jobs, "--jobs", minimum=1)
        if time_limit is not None:
            validate.finite_float(time_limit, "--time-limit (seconds)", 0.0,
                                   exclusive_minimum=True)
    except ValueError as e:
        raise _fail(str(e)) from None
    if executor not in EXECUTORS:
        raise _fail(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise _fail("--scheduler needs --executor dask")
    if scheduler is not None:
        try:
            scheduler.security()
        except ApproxError as e:
            raise _fail(str(e)) from None
    limit = None
    if memory_limit is not None:
        try:
            limit = parse_size(memory_limit)
        except ValueError as e:
            raise _fail(f"--memory-limit: {e}") from None
    return {"executor": executor, "scheduler": scheduler, "memory_limit": limit,
            "time_limit": time_limit}


def _figure_options(figure_format: str | None, dpi: int | None) -> tuple[str, ...] | None:
    """The formats asked for (None: the recorded ones); exit 2 with one line if --format
    or --dpi is bad."""
    if figure_format is None and dpi is None:  # (matplotlib is not imported for nothing)
        return None
    from approx.experiment import figstyle

    try:
        if dpi is not None:
            figstyle.check_dpi(dpi)
        return None if figure_format is None else figstyle.parse_formats(figure_format)
    except ValueError as e:
        raise _fail(str(e)) from None


def _draw_jobs(jobs: int | None) -> int:
    """Processes drawing the figures of ``--replot``/``--report``: ``--jobs``, at most the
    cores (default all)."""
    from approx.experiment.resources import local_workers

    try:
        if jobs is not None:
            validate.integer(jobs, "--jobs", minimum=1)
    except ValueError as e:
        raise _fail(str(e)) from None
    return local_workers(jobs)[0]


def _report(folder: Path, quiet: bool, jobs: int = 1) -> None:
    """Rebuild ``report.html`` of ``folder`` (its figures drawn in ``jobs`` processes);
    say where it is."""
    import sqlite3

    from approx.experiment.plots import report_folder

    try:
        path = report_folder(folder, jobs)
    except ApproxError as e:
        raise _fail(str(e)) from None
    except (OSError, sqlite3.Error) as e:
        raise _fail(f"cannot write the report of {folder}: {e}", 1) from None
    if not quiet:
        out_console.print(Text(f"wrote {path}"), highlight=False)


def _plot(folder: Path, quiet: bool, formats: tuple[str, ...] | None = None,
          dpi: int | None = None, jobs: int = 1) -> None:
    """Draw the figures of ``folder`` and its report (in ``jobs`` processes); say what was
    written and, one line each, skipped."""
    import sqlite3

    from approx.experiment import plot_folder

    try:
        paths, skipped = plot_folder(folder, formats, dpi, jobs=jobs)
    except ApproxError as e:
        raise _fail(str(e)) from None
    except (OSError, sqlite3.Error) as e:
        raise _fail(f"cannot draw the figures of {folder}: {e}", 1) from None
    for note in skipped:
        _say(note)
    if not quiet:
        for path in [*paths, folder / "report.html"]:
            out_console.print(Text(f"wrote {path}"), highlight=False)


#: click's base class of usage errors (typer's vendored click or click itself)
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _keep_interrupts() -> Callable[[], None]:
    """Deliver again a Ctrl-C that Python dropped; returns the function that ends this
    once the command is done.

    A ``KeyboardInterrupt`` raised inside a finalizer or a weakref callback (as the
    import system's module-lock callbacks, which run all through the sweep's imports)
    is printed as "Exception ignored in: ..." with a traceback and dropped: the sweep
    went on as if Ctrl-C had not been pressed (2 of 32 interrupts 0.55–0.95 s after
    the start of the quickstart). This hook prints nothing for it and sends SIGINT to
    the main thread again from a helper thread, once the callback has returned and
    SIGINT is handled again (it is ignored while worker processes are spawned), never
    once the command is done (at exit it could end the process by the signal)."""
    import signal
    import threading
    import time

    default = sys.unraisablehook
    main_thread = threading.main_thread().ident
    lock = threading.Lock()
    done = [False]

    def again() -> None:
        kill = getattr(signal, "pthread_kill", None)
        for _ in range(500):  # (5 s at most; first the hook returns)
            time.sleep(0.01)
            with lock:
                if done[0] or sys.is_finalizing():
                    return
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    if kill is None:  # (Windows: no thread-directed signals)
                        import _thread

                        _thread.interrupt_main()
                    else:
                        kill(main_thread, signal.SIGINT)  # (wakes a blocking wait too)
                    return

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default(unraisable)
            return
        if not done[0]:
            threading.Thread(target=again, daemon=True).start()

    def end() -> None:
        try:
            with lock:
                done[0] = True
            time.sleep(0)  # (a signal sent just before lands here)
        except KeyboardInterrupt:
            pass

    sys.unraisablehook = hook
    return end


def main() -> None:
    """Entry point of the ``run-experiment`` script."""
    end = _keep_interrupts()
    for stream in (sys.stdout, sys.stderr):  # e.g. PYTHONIOENCODING=ascii: ε as \u03b5
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        code = app(standalone_mode=False)
    except _USAGE_ERROR as e:  # a usage error: one line, not a box
        _say(f"{e.format_message()} (see --help)", "error:", "red")
        code = e.exit_code
    except typer.Abort:  # end of input at a prompt, or Ctrl-C
        code = 130
    finally:
        end()
    sys.exit(code if isinstance(code, int) else 0)
