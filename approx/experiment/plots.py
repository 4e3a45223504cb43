"""Figures of a results folder, drawn from the store alone (nothing is refitted).

- ``convergence.png``: ε against d on log–log axes, a panel per target, a line per
  method (median over replicates, min–max band), the uniform-knot bound and a d⁻² slope.
  Filled markers are certified (``tight``: the rigorous upper bound within 10⁻⁹ of the
  value); half-filled ones are limited by rounding (``tight_reason = "rounding"``: the
  bounds met only within the rounding of the float evaluation of target and model);
  where the bound is visibly wider, a bar reaches up to it; hollow markers are
  estimates (the work cap, no enclosure, or runs recorded before bounds were stored);
  a grey x marks each degenerate run (its certified ε not below the best constant's);
- ``fits_<target>.png``: the target and the saved models at a few widths, with their
  pointwise error below;
- ``training_<target>.png``: training loss against step, for runs with a loss history;
- ``gap.png``: each method's ε divided by the uniform ±ReLU construction's at the same d
  (drawn when the sweep has that construction): the gap between theory and practice;
- ``diagnostics_<target>.png`` (a sweep with a ``trained`` method): the breakpoints and
  error extrema of its one-hidden-layer ReLU nets
  (:mod:`approx.experiment.diagnostics_plots`);
- ``params.png`` (a sweep with ``budgets``): ε against the number of parameters, a line
  per method (so per depth and construction), the comparison at equal ``n_params``.

A classification sweep draws ``accuracy.png`` and ``regions_<dataset>.png`` instead
(:mod:`approx.experiment.classification_plots`): the regions of replicate 0 at the
largest width, on that replicate's samples.

A figure with a panel per target has :data:`~approx.experiment.tasks.PAGE` of them a
page (``convergence.png``, ``convergence_2.png``, …: names fixed by the number of
targets), and only the first :data:`~approx.experiment.tasks.PER_TARGET_FIGURES`
targets get figures of their own, so a sweep of a thousand targets draws in bounded
time and memory.

Each method keeps one colour in every figure. Matplotlib's Agg backend and explicit
Axes only: no pyplot state is shared between figures.

Drawing never fails a finished sweep: values that cannot be drawn (an overflowing
target, a missing model file) are clipped or left out, a figure that still cannot be
drawn is skipped, and each omission is reported in one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from matplotlib import colormaps, colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter
from numpy.typing import NDArray

from approx import analysis
from approx.core.errors import ApproxError
from approx.core.status import RunStatus
from approx.experiment.classification_plots import plot_accuracy, plot_regions, save_png
from approx.experiment.config import Config
from approx.experiment.diagnostics_plots import diagnostics_figure
from approx.experiment.expansion import sample_seed
from approx.experiment.specs import DatasetSpec
from approx.experiment.store import Store
from approx.experiment.tasks import PAGE, PER_TARGET_FIGURES, page_names
from approx.models import load_model
from approx.problems.targets import Target

__all__ = [
    "approximation_figures",
    "classification_figures",
    "gap_table",
    "method_colors",
    "plot_all",
    "plot_convergence",
    "plot_diagnostics",
    "plot_fits",
    "plot_folder",
    "plot_gap",
    "plot_params",
]

#: a figure's file name under ``plots/`` and the function drawing it to a path (None:
#: nothing to draw)
Drawer = tuple[str, Callable[[Path], Path | None]]
#: writes a file of the results folder: (relative path, content writer) → its path
Save = Callable[[str, Callable[[BinaryIO], object]], Path]

_TINY = 1e-17  # floor for errors on log axes (exact zeros would vanish)
_HUGE = 1e100  # ceiling for values on axes (inf and overflowing floats cannot be drawn)


def _finite(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` with ±inf and overflow clipped to ±_HUGE and NaN left as a gap."""
    return np.clip(np.asarray(values, dtype=float), -_HUGE, _HUGE)


def _plain(text: str) -> str:
    """User text for a title or label, shown literally (``$`` starts no mathtext)."""
    return text.replace("$", r"\$")


def method_colors(config: Config) -> dict[str, str]:
    """A fixed colour per method, by its position in the config (tab10; tab20 beyond 10)."""
    names = [m.name for m in config.methods]
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: colors.to_hex(cmap(i % cmap.N)) for i, name in enumerate(names)}


def _figure(width: float, height: float) -> Figure:
    # a bare Figure draws with Agg on savefig and never touches pyplot's global state
    return Figure(figsize=(width, height), layout="constrained", dpi=110)


def _chosen_widths(widths: list[int], n: int = 3) -> list[int]:
    """Up to ``n`` widths spread over the sweep (smallest, middle, largest)."""
    widths = sorted(set(widths))
    if len(widths) <= n:
        return widths
    picks = np.linspace(0, len(widths) - 1, n).round().astype(int)
    return [widths[i] for i in picks]


def _panels(fig: Figure, n: int, ncols: int = 3) -> list[Axes]:
    cols = min(ncols, n)
    grid = fig.subplots(math.ceil(n / cols), cols, squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _legend(fig: Figure, axes: list[Axes]) -> None:
    """One legend for the figure, below the panels, so it hides no data."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(
            list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), 4),
            frameon=False,
        )


def plot_convergence(table: pd.DataFrame, config: Config, path: Path) -> Path:
    """ε against d, a panel per target; see the module docstring."""
    colours = method_colors(config)
    n = len(config.targets)
    cols = min(3, n)
    fig = _figure(4.6 * cols, 3.6 * math.ceil(n / cols) + 0.8)
    ok = table[table["status"] == RunStatus.OK].assign(
        certified=lambda t: t["max_error_tight"].map(lambda v: v is True or v == 1)
        if "max_error_tight" in t else False,
        rounding=lambda t: t["tight_reason"].eq("rounding") if "tight_reason" in t else False,
        upper=lambda t: t["max_error_upper"] if "max_error_upper" in t else np.nan,
    )
    ok = ok.assign(rounding=ok["rounding"] | ok["certified"])  # certified, or short by rounding
    stats = ok.groupby(["target", "method", "width"]).agg(
        median=("max_error", "median"), min=("max_error", "min"), max=("max_error", "max"),
        upper=("upper", "median"), certified=("certified", "all"), rounding=("rounding", "all"),
    )
    widths = np.array(config.widths, dtype=float)
    for ax, spec in zip(_panels(fig, n), config.targets, strict=True):
        target = spec.build()
        anchor = [
            _convergence_line(ax, stats.loc[(spec.name, method.name)], colours[method.name],
                              method.name, band=config.replicates > 1)
            for method in config.methods
            if (spec.name, method.name) in stats.index.droplevel("width")
        ]
        _convergence_guides(ax, target, widths, anchor)
        _degenerate_marks(ax, ok[ok["target"] == spec.name])
        failed = int((table["target"] == spec.name).sum() - (ok["target"] == spec.name).sum())
        if failed:
            ax.text(0.02, 0.02, f"{failed} failed run(s) not shown", transform=ax.transAxes,
                    fontsize=8, color="firebrick")
        a, b = target.domain
        ax.set(yscale="log", xlabel="width d (hidden units or coefficients)",
               ylabel=r"max error $\varepsilon = \max_x |f - \hat f|$",
               title=_plain(f"{spec.name}: {target.description} on [{a:g}, {b:g}]"))
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(True, which="major", alpha=0.3)
    _legend(fig, fig.axes)
    fig.suptitle(f"{config.name}: max error against width", fontweight="bold")
    _save(fig, path)
    return path


def _convergence_line(ax: Axes, s: pd.DataFrame, colour: str, label: str, band: bool) -> float:
    """One method's medians against width (filled where certified, half-filled where
    rounding-limited, a bar up to a wider bound), its min–max ``band`` if asked; returns
    the median at the smallest width."""
    certified = s["certified"].astype(bool).to_numpy()
    rounding = s["rounding"].astype(bool).to_numpy() & ~certified
    estimate = ~(certified | rounding)
    s = s[["median", "min", "max", "upper"]].astype(float).clip(lower=_TINY, upper=_HUGE)
    ax.plot(s.index, s["median"], "-", color=colour, label=label, zorder=3)
    ax.plot(s.index[certified], s["median"][certified], "o", ms=3.5, color=colour, zorder=4)
    ax.plot(s.index[rounding], s["median"][rounding], "o", ms=4.5, fillstyle="bottom",
            color=colour, mfcalt="white", mec=colour, zorder=4)
    ax.plot(s.index[estimate], s["median"][estimate], "o", ms=4.5, mfc="white",
            mec=colour, zorder=4)
    # the enclosure, where the upper bound stands visibly above the value
    wide = np.isfinite(s["upper"]) & (s["upper"] > 1.05 * s["median"])
    if wide.any():
        ax.vlines(s.index[wide], s["median"][wide], s["upper"][wide], color=colour, lw=1.2,
                  alpha=0.7, zorder=2)
    if band:
        ax.fill_between(s.index, s["min"], s["max"], color=colour, alpha=0.2, lw=0)
    return s["median"].iloc[0]


def _degenerate_marks(ax: Axes, ok: pd.DataFrame) -> None:
    """A grey x at each degenerate run's ε (certified ε not below the best constant's)."""
    if "degenerate" not in ok:
        return
    runs = ok[ok["degenerate"].map(lambda v: v is True or v == 1)]
    if not runs.empty:
        ax.plot(runs["width"], runs["max_error"].astype(float).clip(_TINY, _HUGE), "x",
                ms=6, mew=1.5, color="0.5", zorder=5,
                label="x: degenerate run, ε not below the best constant's")


def _convergence_guides(ax: Axes, target: Target, widths: NDArray[np.float64],
                        anchor: list[float]) -> None:
    """The uniform-knot bound, a d⁻² slope below the data, and the hollow marker's key."""
    with np.errstate(all="ignore"):
        # (a budget sweep's deep nets may have width 1: no knot spacing there)
        bound = np.array([analysis.uniform_bound(target, int(d)) if d >= 2 else np.inf
                          for d in widths])
    drawn = widths >= 2
    if np.isfinite(bound[drawn]).all() and (bound[drawn] < _HUGE).all():
        ax.plot(widths[drawn], bound[drawn], "k--", lw=1.0, zorder=1,
                label=r"uniform-knot bound $h^2/8 \cdot \max|f''|$ + float rounding")
    if anchor:
        y0 = min(anchor) / 4  # below the data at the smallest width, clear of the bound
        ax.plot(widths, y0 * (widths / widths[0]) ** -2.0, ":", color="0.45", lw=1.5,
                label=r"$d^{-2}$ reference slope")
        ax.plot([], [], "o", ms=3.5, color="0.3", label="filled: tight, upper − value ≤ 1e-9·value")
        ax.plot([], [], "o", ms=4.5, fillstyle="bottom", color="0.3", mfcalt="white",
                mec="0.3", label="half: rounding-limited, bounds within rounding only")
        ax.plot([], [], "o", ms=4.5, mfc="white", mec="0.3",
                label="hollow: estimate, not certified")


def plot_fits(table: pd.DataFrame, config: Config, target_name: str, folder: Path,
              path: Path) -> Path | None:
    """The target, the saved models of replicate 0 at a few widths, and their error.

    Runs whose model file is missing are left out; ``None`` when no run is left.
    """
    rows = table[(table["target"] == target_name) & (table["status"] == RunStatus.OK)
                 & (table["replicate"] == 0) & table["model_file"].notna()]
    rows = rows[[(folder / f).is_file() for f in rows["model_file"]]]
    if rows.empty:
        return None
    colours = method_colors(config)
    spec = next(t for t in config.targets if t.name == target_name)
    target = spec.build()
    x = np.linspace(*target.domain, 2001)
    with np.errstate(all="ignore"):
        fx = _finite(target(x))
    widths = _chosen_widths(rows["width"].tolist())
    fig = _figure(4.6 * len(widths), 6.4)
    grid = fig.subplots(2, len(widths), squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": [3, 2]})
    low, high = float(np.nanmin(fx)), float(np.nanmax(fx))
    span = min(high - low, _HUGE) or 1.0
    for col, width in enumerate(widths):
        top, bottom = grid[0, col], grid[1, col]
        top.plot(x, fx, color="black", lw=2.4, alpha=0.35, label="target f")
        typical = []
        for row in rows[rows["width"] == width].itertuples():
            model = load_model(folder / row.model_file)
            with np.errstate(all="ignore"):
                y = _finite(model(x))
            top.plot(x, y, lw=1.1, color=colours[row.method], label=row.method)
            with np.errstate(all="ignore"):
                error = np.clip(np.abs(y - fx), _TINY, _HUGE)
            bottom.plot(x, error, lw=0.9, color=colours[row.method])
            typical.append(np.median(error))
        # interpolation points are exact zeros: keep their spikes from setting the scale
        bottom.set_ylim(bottom=max(_TINY, min(typical) / 100))
        top.set_ylim(max(low - 0.25 * span, -_HUGE), min(high + 0.25 * span, _HUGE))
        top.set(title=f"d = {width}", ylabel="f(x)" if col == 0 else None)
        bottom.set(yscale="log", xlabel="x",
                   ylabel=r"pointwise error $|f - \hat f|$" if col == 0 else None)
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
    _legend(fig, list(grid[0]))
    fig.suptitle(_plain(f"{target_name}: {target.description}, fitted models and their error"),
                 fontweight="bold")
    _save(fig, path)
    return path


def plot_training(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]],
                  config: Config, target_name: str, path: Path) -> Path | None:
    """Training loss against step, a panel per width, a line per method and replicate."""
    rows = table[(table["target"] == target_name) & table["run_id"].isin(list(histories))]
    if rows.empty:
        return None
    colours = method_colors(config)
    widths = _chosen_widths(rows["width"].tolist())
    fig = _figure(4.6 * len(widths), 4.2)
    for ax, width in zip(_panels(fig, len(widths), ncols=len(widths)), widths, strict=True):
        for row in rows[rows["width"] == width].itertuples():
            loss = np.clip(histories[row.run_id], _TINY, _HUGE)
            ax.plot(np.arange(1, loss.size + 1), loss, lw=1.0, color=colours[row.method],
                    alpha=1.0 if row.replicate == 0 else 0.35,
                    label=row.method if row.replicate == 0 else None)
        ax.set(yscale="log", xlabel="step", ylabel="training loss", title=f"d = {width}")
        ax.grid(True, alpha=0.3)
    _legend(fig, fig.axes)
    fig.suptitle(f"{target_name}: training loss", fontweight="bold")
    _save(fig, path)
    return path


def plot_params(table: pd.DataFrame, config: Config, path: Path) -> Path:
    """ε against the number of parameters, a panel per target, a line per method."""
    colours = method_colors(config)
    n = len(config.targets)
    cols = min(3, n)
    fig = _figure(4.6 * cols, 3.6 * math.ceil(n / cols) + 0.8)
    fig.set_figwidth(max(fig.get_figwidth(), 7.5))  # room for the legend's methods
    ok = table[table["status"] == RunStatus.OK]
    stats = ok.groupby(["target", "method", "width"]).agg(
        n_params=("n_params", "median"), median=("max_error", "median"),
        min=("max_error", "min"), max=("max_error", "max"),
    )
    for ax, spec in zip(_panels(fig, n), config.targets, strict=True):
        for method in config.methods:
            if (spec.name, method.name) not in stats.index.droplevel("width"):
                continue
            s = stats.loc[(spec.name, method.name)].astype(float)
            err = s[["median", "min", "max"]].clip(lower=_TINY, upper=_HUGE)
            colour = colours[method.name]
            ax.plot(s["n_params"], err["median"], "o-", ms=3.5, color=colour,
                    label=method.name)
            if config.replicates > 1:
                ax.fill_between(s["n_params"], err["min"], err["max"], color=colour,
                                alpha=0.2, lw=0)
        ax.set(xscale="log", yscale="log", xlabel="parameters (n_params)",
               ylabel=r"max error $\varepsilon$", title=_plain(spec.name))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
    _legend(fig, fig.axes)
    fig.suptitle(f"{config.name}: ε against the number of parameters", fontweight="bold")
    _save(fig, path)
    return path


def _reference(config: Config) -> str | None:
    """The first method that is the uniform ±ReLU construction, if the sweep has one."""
    for method in config.methods:
        if method.kind == "relu-interpolant" and method.kwargs.get("knots") == "uniform":
            return method.name
    return None


def gap_table(table: pd.DataFrame, config: Config) -> pd.DataFrame | None:
    """Median ε of each method over the uniform construction's, per target and width.

    Returns
    -------
    DataFrame or None
        Index (target, width), a column per method (the reference's is 1); ``None`` when
        the sweep has no uniform ``relu-interpolant`` method, or it has no ok run.
    """
    reference = _reference(config)
    if reference is None:
        return None
    ok = table[table["status"] == RunStatus.OK]
    median = ok.groupby(["target", "width", "method"])["max_error"].median().unstack("method")
    if reference not in median.columns:
        return None
    return median.div(median[reference].clip(lower=_TINY), axis=0)


def plot_gap(table: pd.DataFrame, config: Config, path: Path) -> Path | None:
    """The gap between theory and practice, a panel per target; see the module docstring."""
    gap = gap_table(table, config)
    if gap is None:
        return None
    reference = _reference(config)
    colours = method_colors(config)
    n = len(config.targets)
    cols = min(3, n)
    fig = _figure(4.6 * cols, 3.6 * math.ceil(n / cols) + 0.8)
    for ax, spec in zip(_panels(fig, n), config.targets, strict=True):
        ax.axhline(1.0, color=colours[reference], lw=2, label=f"{reference} (the reference)")
        ax.axhline(2.0, color="0.45", ls=":", lw=1.5, label="2× the reference")
        if spec.name in gap.index.get_level_values("target"):
            rows = gap.loc[spec.name]
            for method in config.methods:
                if method.name != reference and method.name in rows:
                    ratio = rows[method.name].dropna().clip(lower=_TINY, upper=_HUGE)
                    ax.plot(ratio.index, ratio, "o-", ms=3.5, color=colours[method.name],
                            label=method.name, zorder=3)
        ax.set(yscale="log", xlabel="width d (hidden units or coefficients)",
               ylabel=f"ε / ε of {reference} (median)", title=spec.name)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(True, which="major", alpha=0.3)
    _legend(fig, fig.axes)
    fig.suptitle(f"{config.name}: max error relative to the uniform ±ReLU construction",
                 fontweight="bold")
    _save(fig, path)
    return path


def _save(fig: Figure, path: Path | BinaryIO) -> None:
    """Write the figure atomically, so a failure leaves no half-written file (or to a file
    opened for writing: the sweep's writer, which makes it atomic)."""
    if not isinstance(path, (str, os.PathLike)):
        save_png(fig, path)
        return
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plot_all(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]], config: Config,
             folder: Path, save: Save | None = None) -> tuple[list[Path], list[str]]:
    """Draw every figure of a results folder into ``folder/plots`` (its task's figures).

    Parameters
    ----------
    save : callable, optional
        Writes each figure: called with its path relative to ``folder`` and a function
        writing its content to a binary file, returns its path (:meth:`Store.save`:
        never through a link, recorded as the sweep's). Without it the figures are
        written to their paths.

    Returns
    -------
    paths : list of Path
        The figures written.
    skipped : list of str
        One line per figure (or part of one) that could not be drawn, and why.
    """
    out = folder / "plots"
    if save is None:
        out.mkdir(parents=True, exist_ok=True)
    skipped = []
    missing = (table["status"] == RunStatus.OK) & table["model_file"].map(
        lambda f: isinstance(f, str) and not (folder / f).is_file()
    )
    if missing.any():
        skipped.append(f"{int(missing.sum())} model file(s) are missing (e.g. "
                       f"{table.loc[missing, 'model_file'].iloc[0]}); the fits figures leave "
                       "them out; rerun the sweep to refit them")
    if not (table["status"] == RunStatus.OK).any():  # no run has numbers to draw
        return [], [*skipped, "no figures drawn: no run finished ok (see runs.csv's "
                    "status and message columns)"]
    drawers, notes = FIGURES[config.task.name](table, histories, config, folder)
    return _draw(drawers, out, save, skipped + notes)


def approximation_figures(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]],
                          config: Config, folder: Path) -> tuple[list[Drawer], list[str]]:
    """The figures of an approximation sweep (module docstring), and notes on what they
    leave out."""
    notes = []
    errors = pd.to_numeric(table["max_error"], errors="coerce")  # a failed run has none
    huge = sorted(set(table.loc[errors.abs() > _HUGE, "target"]))
    if huge:
        notes.append(f"values beyond {_HUGE:g} are drawn at {_HUGE:g} (targets "
                     f"{', '.join(huge)}): the figures clip them, the tables keep them")
    if (_reference(config) is not None and not config.budgets
            and gap_table(table, config) is None):
        notes.append(f"skipped plots/gap.png: {_reference(config)} has no ok run to "
                     "compare with")
    drawers: list[Drawer] = []
    # at budgets the methods' widths differ: no ratio at equal d, ε against n_params
    figures = (("convergence", plot_convergence),
               ("params", plot_params) if config.budgets else ("gap", plot_gap))
    for stem, plot in figures:
        names = page_names(stem, len(config.targets))
        for k, name in enumerate(names):  # PAGE targets a page (a few dozen panels)
            page = dataclasses.replace(config, targets=config.targets[k * PAGE:(k + 1) * PAGE])
            drawers.append((name, lambda p, c=page, f=plot: f(table, c, p)))
    if len(config.targets) > PER_TARGET_FIGURES:
        notes.append(f"fits_ and training_ figures are drawn for the first "
                     f"{PER_TARGET_FIGURES} of the {len(config.targets)} targets only")
    for spec in config.targets[:PER_TARGET_FIGURES]:
        drawers.append((f"fits_{spec.name}.png",
                        lambda p, n=spec.name: plot_fits(table, config, n, folder, p)))
        drawers.append((f"training_{spec.name}.png",
                        lambda p, n=spec.name: plot_training(table, histories, config, n, p)))
        drawers.append((f"diagnostics_{spec.name}.png",
                        lambda p, n=spec.name: plot_diagnostics(table, config, n, folder, p)))
    return drawers, notes


def plot_diagnostics(table: pd.DataFrame, config: Config, target_name: str, folder: Path,
                     path: Path) -> Path | None:
    """The one-hidden-layer ReLU nets' breakpoints and error extrema
    (:mod:`approx.experiment.diagnostics_plots`); None when there is nothing to draw."""
    fig = diagnostics_figure(table, config, target_name, folder, method_colors(config))
    if fig is None:
        return None
    _save(fig, path)
    return path


class _NothingDrawn(ApproxError):
    """A drawer had nothing to draw: its file is not written (caught by :func:`_draw`)."""


def _draw(drawers: list[Drawer], out: Path, save: Save | None,
          skipped: list[str]) -> tuple[list[Path], list[str]]:
    """Run each drawer (through ``save`` if given); a failing figure is skipped, one line."""
    paths = []
    for name, draw in drawers:
        def fill(file: BinaryIO, draw: Callable[..., object] = draw) -> None:
            if draw(file) is None:
                raise _NothingDrawn

        try:
            with warnings.catch_warnings():  # overflow in tick placement: clipped, not news
                warnings.simplefilter("ignore", RuntimeWarning)
                drawn = draw(out / name) if save is None else save(f"plots/{name}", fill)
        except _NothingDrawn:
            continue
        except Exception as e:  # a figure is a view of stored runs: never fail the sweep
            skipped.append(f"skipped plots/{name}: {type(e).__name__}: {e}")
            continue
        if drawn is not None:
            paths.append(Path(drawn))
    return paths, skipped


def classification_figures(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]],
                           config: Config, folder: Path) -> tuple[list[Drawer], list[str]]:
    """The figures of a classification sweep: accuracy against width, and the decision
    regions per dataset (:data:`PAGE` datasets an accuracy page, regions for the first
    :data:`PER_TARGET_FIGURES`), and notes on what they leave out."""
    colours = method_colors(config)
    chance = {d.name: 1.0 / d.classes for d in config.targets}
    ok = table[table["status"] == RunStatus.OK]
    drawers: list[Drawer] = []
    for k, name in enumerate(page_names("accuracy", len(config.targets))):
        page = ok[ok["dataset"].isin([d.name for d in config.targets[k * PAGE:(k + 1) * PAGE]])]
        drawers.append((name, lambda p, o=page: plot_accuracy(o, p, colors=colours,
                                                              chance=chance)))
    notes = []
    if len(config.targets) > PER_TARGET_FIGURES:
        notes.append(f"regions_ figures are drawn for the first {PER_TARGET_FIGURES} of the "
                     f"{len(config.targets)} datasets only")
    for spec in config.targets[:PER_TARGET_FIGURES]:
        drawers.append((f"regions_{spec.name}.png",
                        lambda p, d=spec: _plot_regions(ok, config, d, folder, p, colours)))
    return drawers, notes


def _plot_regions(ok: pd.DataFrame, config: Config, spec: DatasetSpec, folder: Path,
                  path: Path, colours: dict[str, str]) -> Path | None:
    """Decision regions of replicate 0 at the largest width, on that replicate's samples."""
    rows = ok[(ok["dataset"] == spec.name) & (ok["replicate"] == 0)]
    models = {}
    for method in config.methods:
        runs = rows[rows["method"] == method.name].sort_values("width", na_position="first")
        if len(runs) and isinstance(runs["model_file"].iloc[-1], str):
            file = folder / runs["model_file"].iloc[-1]
            if file.is_file():
                models[method.name] = load_model(file)
    if not models:
        return None
    sample = spec.draw(sample_seed(config.seed, spec.name, 0))
    return plot_regions(sample, models, path, colors=colours)


def plot_folder(folder: str | Path) -> tuple[list[Path], list[str]]:
    """Re-draw the figures of an existing results folder from its store.

    Returns
    -------
    paths, skipped
        As :func:`plot_all`.

    Raises
    ------
    StoreError
        If ``folder`` is not a results folder (or is in use, or damaged), or holds a
        file no sweep wrote where a figure goes.
    """
    folder = Path(folder)
    with Store.read(folder) as store:
        config = store.config()
        store.adopt(config)  # never draw over a figure of someone else's
        table = store.table(config)
        histories = store.histories()
        return plot_all(table, histories, config, folder, save=store.save)


#: each task's figures, by the task's name
FIGURES = {
    "approximation": approximation_figures,
    "classification": classification_figures,
}
