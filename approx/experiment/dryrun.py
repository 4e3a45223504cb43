"""What a sweep would do, said before it starts and without touching its folder.

:func:`plan` reads the results folder the way a sweep would judge it (its store, the
files in it, its lock) and writes nothing: no lock is taken, no folder or store is
created, and the store is opened read-only. SQLite's read-only mode would still create
the ``-wal`` and ``-shm`` side files of a store whose sweep has ended (they are removed
when a writer closes), so such a store (no side files) is read as ``immutable``, and a
store a sweep is writing now (or one left by a killed sweep: both side files there) with
``readonly_shm``, which reads the write-ahead log without writing anything.

The plan counts the runs new, done and failed (those a rerun repeats, and those it keeps
unless ``--retry-failed``), estimates the memory (:mod:`~approx.experiment.resources`)
and the time (:mod:`approx.methods.timing`), and says whether the sweep would be refused
(another config's runs, the memory budget, a file of the user's where it writes).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from approx.core.status import RunStatus
from approx.experiment import folder as folders
from approx.experiment import resources
from approx.experiment.changes import describe_change
from approx.experiment.config import Config
from approx.experiment.expansion import count_runs, replicates_of
from approx.experiment.folder import DB_NAME, FolderError
from approx.experiment.safe_files import SafeFolder
from approx.experiment.store import lock_holder, open_read_only, run_columns
from approx.methods import timing

__all__ = ["Cell", "Plan", "describe", "duration", "lock_holder", "open_read_only", "plan",
           "plan_cells", "read_store", "run_lines"]


@dataclass
class Cell:
    """One (subject, method) of the sweep: its widths, replicates and run counts."""

    subject: str
    method: str
    kind: str
    widths: tuple[int, ...]
    replicates: int
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float | None = 0.0

    @property
    def total(self) -> int:
        return len(self.widths) * self.replicates


@dataclass
class Plan:
    """What running a config into a folder would do (:func:`plan`)."""

    folder: Path
    state: str
    cells: list[Cell]
    total: int
    memory: str
    workers: int
    refusal: str | None = None
    holder: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float | None = 0.0
    longest: float = 0.0


@dataclass
class _Stored:
    meta: dict[str, str]
    runs: list[tuple[str, str, str, int, str, str | None]]
    files: set[str]


def read_store(folder: Path) -> _Stored | None:
    """The meta, runs and recorded files of the folder's store, read without writing
    anything (module docstring); None when the folder holds no store.

    Raises
    ------
    sqlite3.Error
        If the store cannot be read.
    """
    path = Path(folder) / DB_NAME
    if not path.is_file() or path.is_symlink():
        return None
    db = open_read_only(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables:
            return _Stored({}, [], set())
        meta = dict(db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        runs = db.execute(
            "SELECT run_id, target, method, width, status, model_file FROM runs").fetchall()
        files = {r[0] for r in db.execute("SELECT path FROM files")} if "files" in tables \
            else set()
        return _Stored(meta, runs, files)
    finally:
        db.close()


def plan_cells(config: Config) -> list[Cell]:
    """The sweep's (subject, method) cells, in table order, without counts."""
    return list(_cells(config).values())


def _cells(config: Config) -> dict[tuple[str, str], Cell]:
    return {
        (t.name, m.name): Cell(t.name, m.name, m.kind, config.widths_of(m),
                               replicates_of(config, m))
        for t in config.targets for m in config.methods
    }


def _fate(status: str, model: str | None, folder: Path, retry_failed: bool) -> str:
    """What a sweep does with a recorded run (as the runner judges it)."""
    try:
        status = RunStatus(status)
    except ValueError:
        return "retry"
    if status.transient or (status != RunStatus.OK and retry_failed):
        return "retry"
    if status != RunStatus.OK:
        return "failed"
    if model and not (folder / model).is_file():
        return "refit"
    return "done"


def _refusal(config: Config, folder: Path, stored: _Stored | None, fresh: bool) -> str | None:
    """The line a sweep would be refused with for the folder's contents, if any."""
    try:
        folders.check_layout(folder)
        if stored is not None and stored.runs and not fresh and \
                stored.meta.get("config_digest") != config.digest():
            change = describe_change(stored.meta.get("config_canonical"),
                                     stored.meta.get("config_text"), config)
            return (f"{folder} holds {len(stored.runs)} runs of another config ({change}); "
                    "rerun with --fresh to discard them, or choose another folder with --out")
        if not folder.is_dir():
            return None
        root = SafeFolder.open(folder, create=False)
        try:
            folders.check(root, config, stored.files if stored else set(),
                          has_store=stored is not None, columns=run_columns())
        finally:
            root.close()
    except (FolderError, OSError) as e:
        return str(e)
    return None


def _memory(config: Config, jobs: int | None, executor: str, scheduler: object,
            memory_limit: int | None) -> tuple[str, int, str | None]:
    """The memory line, the local workers, and the refusal of the budget (if any)."""
    need, what = resources.largest_run(config)
    workers = resources.local_workers(jobs)[0] if scheduler is None else (jobs or 1)
    here = workers if scheduler is None else 1
    line = f"memory: the largest run ({what}) needs about {resources.format_size(need)}"
    if here > 1:
        line += f", × {here} workers = {resources.format_size(need * here)}"
    try:
        if scheduler is None or memory_limit is not None:
            resources.check_memory(config, here, memory_limit)
    except resources.ResourceError as e:
        return line, workers, str(e)
    return line, workers, None


def _state(folder: Path, stored: _Stored | None, own: bool) -> str:
    if not folder.exists():
        return "does not exist yet (the sweep would create it)"
    if stored is None:
        return "holds no store yet" if any(folder.iterdir()) else "is empty"
    whose = "this sweep's" if own else "another config's"
    return f"holds a store of {len(stored.runs)} runs ({whose})" if stored.runs else \
        "holds a store without runs"


def _count(config: Config, folder: Path, cells: dict[tuple[str, str], Cell],
           recorded: list[tuple[str, str, str, int, str, str | None]], retry_failed: bool,
           time_limit: float | None) -> float:
    """Count each cell's runs by fate and estimate the seconds of those to run; the
    estimate of the longest run to do."""
    fates: Counter[tuple[str, str, int, str]] = Counter()
    for _, t, m, w, status, model in recorded:
        if (t, m) in cells:
            fates[t, m, int(w), _fate(status, model, folder, retry_failed)] += 1
    params = {m.name: m.kwargs for m in config.methods}
    classes = {s.name: getattr(s, "classes", 2) for s in config.targets}
    longest = 0.0
    for (t, m), cell in cells.items():
        for w in cell.widths:
            here = {f: fates[t, m, w, f] for f in ("done", "failed", "retry", "refit")}
            here["new"] = max(cell.replicates - sum(here.values()), 0)
            cell.counts.update(here)
            todo = here["new"] + here["retry"] + here["refit"]
            each = timing.run_seconds(config.task.name, cell.kind, w, params[m], classes[t])
            if each is not None and time_limit is not None:
                each = min(each, 1.1 * time_limit + 1.0)  # a run stops at its deadline
            if each is None or cell.seconds is None:
                cell.seconds = None
            elif todo:
                cell.seconds += todo * each
                longest = max(longest, each)
    return longest


def plan(config: Config, folder: str | Path, *, jobs: int | None = None, fresh: bool = False,
         retry_failed: bool = False, executor: str = "local", scheduler: object = None,
         memory_limit: int | None = None, time_limit: float | None = None) -> Plan:
    """What :func:`~approx.experiment.runner.run_sweep` would do with these arguments,
    found without writing anything (module docstring).

    Returns
    -------
    Plan
        The cells with their runs new, done, failed (kept), to retry and to refit; the
        memory line; the estimated seconds; and ``refusal``, the line the sweep would be
        refused with (None if it would start).
    """
    folder = Path(folder)
    try:
        stored = read_store(folder)
    except sqlite3.Error as e:
        stored, unreadable = None, f"{folder / DB_NAME} cannot be read ({e})"
    else:
        unreadable = None
    own = stored is not None and stored.meta.get("config_digest") == config.digest()
    cells = _cells(config)
    limit = time_limit if time_limit is not None else config.time_limit
    longest = _count(config, folder, cells, stored.runs if own and not fresh else [],
                   retry_failed, limit)
    memory, workers, too_big = _memory(config, jobs, executor, scheduler, memory_limit)
    result = Plan(folder, _state(folder, stored, own), list(cells.values()), count_runs(config),
                  memory, workers, unreadable or _refusal(config, folder, stored, fresh)
                  or too_big, lock_holder(folder), longest=longest)
    for cell in result.cells:
        result.counts.update(cell.counts)
        if cell.seconds is None or result.seconds is None:
            result.seconds = None
        else:
            result.seconds += cell.seconds
    return result


def duration(seconds: float) -> str:
    """``seconds`` in a unit a person reads (``"40 s"``, ``"4.2 min"``, ``"1.5 h"``)."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _widths(widths: tuple[int, ...]) -> str:
    if widths == (0,):
        return "-"
    if len(widths) <= 4:
        return ", ".join(map(str, widths))
    return f"{widths[0]}, {widths[1]}, …, {widths[-1]} ({len(widths)})"


#: lines of the run list shown, at most
_SHOWN = 40


def run_lines(cells: list[Cell], subject: str, status: bool) -> list[str]:
    """The compact list of a sweep's runs: one line per (subject, method), with its
    widths, replicates and (``status``) the counts by fate and the estimated time."""
    head = [subject, "method", "kind", "widths", "reps", "runs"]
    if status:
        head += ["new", "done", "failed", "rerun", "time"]
    rows = [head]
    for c in cells:
        row = [c.subject, c.method, c.kind, _widths(c.widths), str(c.replicates), str(c.total)]
        if status:
            rerun = c.counts["retry"] + c.counts["refit"]
            row += [str(c.counts["new"]), str(c.counts["done"]), str(c.counts["failed"]),
                    str(rerun), "?" if c.seconds is None else duration(c.seconds) if c.seconds
                    else "-"]
        rows.append(row)
    size = [max(len(r[i]) for r in rows[:_SHOWN + 1]) for i in range(len(head))]
    lines = ["  " + "  ".join(v.ljust(n) for v, n in zip(r, size, strict=True)).rstrip()
             for r in rows[:_SHOWN + 1]]
    if len(rows) > _SHOWN + 1:
        lines.append(f"  … and {len(rows) - _SHOWN - 1} more")
    return lines


def describe(p: Plan, subject: str) -> list[str]:
    """The dry run's report, one line each (the last says whether the sweep would start)."""
    n = p.counts
    todo = n["new"] + n["retry"] + n["refit"]
    lines = [f"folder: {p.folder} {p.state}",
             f"{p.total} runs: {n['new']} new, {n['done']} done, "
             f"{n['failed'] + n['retry']} failed ({n['retry']} to rerun, {n['failed']} kept: "
             f"--retry-failed reruns them), {n['refit']} to refit (model file gone)",
             *run_lines(p.cells, subject, status=True), p.memory]
    if p.seconds is None:
        lines.append("time: unknown (a method kind without a cost model)")
    elif todo:
        wall = max(p.seconds / max(p.workers, 1), p.longest)
        lines.append(f"time: about {duration(p.seconds)} of CPU for {todo} runs, "
                     f"{duration(wall)} with {p.workers} worker(s) (an estimate from "
                     "approx.methods.timing; a factor of 2-3 either way)")
    else:
        lines.append("time: nothing to run")
    if p.holder is not None:
        lines.append(f"in use: process {p.holder} is running a sweep in the folder; the "
                     "counts are as of now")
    return lines
