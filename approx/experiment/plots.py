"""Figures of a results folder, drawn from the store alone (nothing is refitted).

Each approximation figure asks its question in its title. The methods are drawn in two
groups (:func:`~approx.experiment.figure_parts.method_groups`), each on panels of its
own so the smooth bases' fall to rounding does not crush the ReLU nets' d⁻² range: ReLU
nets and constructions (``relu-interpolant``, ``trained``, ``sawtooth``, ``optimal-pwl``,
random ReLU features) and smooth bases (Chebyshev, splines, Fourier features). The
legend keys only what the figure draws; its title states the statistic.

- ``convergence.png`` ("how fast does ε fall as d grows?"): ε against d on log–log
  axes, per target a panel per group, a line per method (the median over replicates,
  their min–max band); over the ReLU panel the uniform-knot bound and a d⁻² slope, named
  at their ends; behind the smooth panel the uniform construction in grey, for scale.
  Filled markers are certified (``tight``: the rigorous upper bound within 10⁻⁹ of the
  value); half-filled ones are limited by rounding (``tight_reason = "rounding"``: the
  bounds met only within the rounding of the float evaluation of target and model);
  where the bound is visibly wider, a bar reaches up to it; hollow markers are
  estimates (the work cap, no enclosure, or runs recorded before bounds were stored);
  a grey x marks each degenerate run (its certified ε not below the best constant's);
- ``gap.png`` ("how far from the best possible, and from the construction?"): when the
  runs carry the optimum's bracket (``optimum_lower``/``optimum_upper``, a sweep with an
  ``optimal-pwl`` method), a panel of the ReLU methods' median ε over the lower end of
  the bracket, above the floor 1 and the bracket's band [1, upper/lower]; when the sweep
  has the uniform ±ReLU construction, per group each method's median ε over the
  construction's at the same d, the lines 1 and 2× drawn apart and named;
- ``fits_<target>.png`` ("where does each fit err most?"): replicate 0's saved models
  at a few widths: the target and the fits (a note instead where every fit lies on f),
  and per group the upper envelope of |f − f̂| over bins, the run's ε marked at the edge;
- ``training_<target>.png`` ("how far did each training phase lower its objective?"):
  a panel per optimizer and objective (Adam's ½ mean square, the LM polish's Lᵖ error
  and mean square, as ``info_phases`` records them), x counting that optimizer's
  entries, a marker where each phase starts and ends, spikes clipped to the top and
  marked; runs recorded before phases were get one panel of their loss as recorded;
- ``diagnostics_<target>.png`` (a sweep with a ``trained`` method): the breakpoints and
  error extrema of its one-hidden-layer ReLU nets
  (:mod:`approx.experiment.diagnostics_plots`);
- ``params.png`` (a sweep with ``budgets``, instead of the figures against the width,
  which mean nothing when each method runs at its own widths): ε against the number of
  parameters, ticks at the budgets, a line per method (so per depth and construction),
  the comparison at equal ``n_params``, under the theory lines (the one-hidden-layer
  interpolant's uniform-knot bound at ``n = 3d + 1``; the sawtooth's ``2^(−2m−2)``); a
  second panel on linear n when a method's rate is exponential (straight there). When
  the runs carry the best one-hidden-layer net within each budget (a budget sweep with
  an ``optimal-pwl`` method), that method is drawn as its certified bracket, a band at
  the budgets labelled as the best possible one-hidden-layer net at that parameter
  count, and each target gains a panel of ``gap_to_shallow_optimum`` per method (ε over
  the bracket's lower end, log scale, the floor 1 drawn and the region below it, where a
  net beats every one-hidden-layer net within its budget, tinted).

A classification sweep draws ``accuracy.png`` and ``regions_<dataset>.png`` instead
(:mod:`approx.experiment.classification_plots`): the regions of each method at its
largest width, the replicate with the median held-out accuracy, on its samples.

A figure with a panel per target has :data:`~approx.experiment.tasks.PAGE` of them a
page (``convergence.png``, ``convergence_2.png``, …: names fixed by the number of
targets), and only the first :data:`~approx.experiment.tasks.PER_TARGET_FIGURES`
targets get figures of their own, so a sweep of a thousand targets draws in bounded
time and memory.

Each method keeps one colour in every figure. Matplotlib's Agg backend and explicit
Axes only: no pyplot state is shared between figures. Every figure is drawn once in the
project's style (:mod:`approx.experiment.figstyle`) and written in each of the sweep's
formats (``--format png,pdf,svg``; a figure's name below is its PNG's), and a plot
function given a path writes the format its suffix names.

Drawing never fails a finished sweep: values that cannot be drawn (an overflowing
target, a missing model file) are clipped or left out, a figure that still cannot be
drawn is skipped, and each omission is reported in one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from matplotlib import colormaps, colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FixedFormatter,
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)
from numpy.typing import NDArray

from approx import analysis, methods
from approx.certify import targets as certified_targets
from approx.core.status import RunStatus
from approx.experiment import render
from approx.experiment import report as reports
from approx.experiment.classification_plots import (
    RegionPanel,
    plot_accuracy,
    plot_regions,
)
from approx.experiment.config import Config
from approx.experiment.diagnostics_plots import diagnostics_figure
from approx.experiment.expansion import sample_seed
from approx.experiment.figstyle import Capture, ratio_label, save_figure, styled
from approx.experiment.figure_parts import (
    GROUPS,
    Keys,
    clip_marked,
    envelope,
    history_phases,
    method_groups,
    objective_label,
    robust_top,
    steps_label,
)
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
    "optimum_table",
    "plot_all",
    "plot_convergence",
    "plot_diagnostics",
    "plot_fits",
    "plot_folder",
    "plot_gap",
    "plot_params",
    "report_folder",
    "shallow_brackets",
]

#: a figure's file name under ``plots/`` (``.png``: the sweep writes it in each of its
#: formats) and the function drawing it to a path, file or
#: :class:`~approx.experiment.figstyle.Capture` (None: nothing to draw)
Drawer = tuple[str, Callable[[Any], object]]
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


#: the narrowest approximation figure (inches): room for its title and a legend of two
#: columns when it has a single panel a row
_MIN_WIDTH = 9.6


def _target_axes(fig: Figure, n: int, rows: int, ncols: int = 3) -> list[list[Axes]]:
    """``rows`` stacked panels per target (sharing x), targets ``ncols`` to a row of the
    page; returns each target's panels, top first."""
    cols = min(ncols, n)
    blocks = math.ceil(n / cols)
    grid = fig.subplots(blocks * rows, cols, squeeze=False)
    out = []
    for i in range(blocks * cols):
        block = [grid[(i // cols) * rows + j, i % cols] for j in range(rows)]
        if i >= n:
            for ax in block:
                ax.set_visible(False)
            continue
        for ax in block[1:]:
            ax.sharex(block[0])
        for ax in block[:-1]:  # the bottom panel writes the widths
            ax.tick_params(labelbottom=False)
        out.append(block)
    return out


def _width_axis(ax: Axes, label: bool = True) -> None:
    """A log₂ width axis with the widths written out."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if label:
        ax.set_xlabel("width d (hidden units or coefficients)")
    ax.grid(True, which="major", alpha=0.3)


def _few_ticks(ax: Axes, minor: bool = False) -> None:
    """A log y axis without minor ticks (unless ``minor``, or the span is under two
    decades: there they name values), and on a span of more than
    six decades at most about seven labelled ones (ticks are most of the time a figure
    of many panels takes to draw)."""
    low, high = ax.get_ylim()
    if low > 0 and high / low > 1e6:
        ax.yaxis.set_major_locator(LogLocator(numticks=7))
    if not minor and low > 0 and high / low < 100:  # few decades: the minor ticks name values
        return
    if not minor or (low > 0 and high / low > 1e6):
        ax.yaxis.set_minor_locator(NullLocator())


def _error_stats(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ok runs (with their certification flags) and, per (target, method, width), the
    median, min and max of ε, the median upper bound, the flags and the replicate count."""
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
        n=("max_error", "size"),
    )
    return ok, stats


def _statistic(stats: pd.DataFrame) -> str:
    """The caption line stating what a line and a band are."""
    most = int(stats["n"].max()) if len(stats) else 1
    if most <= 1:
        return "one run per method and width"
    return (f"line: median of up to {most} replicates (deterministic methods run once); "
            "band: min–max over the replicates")


@styled
def plot_convergence(table: pd.DataFrame, config: Config, path: Path) -> Path:
    """ε against d, per target a panel for each group of methods; see the module docstring."""
    colours = method_colors(config)
    groups = method_groups(config.methods)
    n = len(config.targets)
    cols = min(3, n)
    fig = _figure(max(4.8 * cols, _MIN_WIDTH), 3.0 * len(groups) * math.ceil(n / cols) + 1.4)
    ok, stats = _error_stats(table)
    present = set(stats.index.droplevel("width"))
    widths = np.array(config.widths, dtype=float)
    keys = Keys()
    reference = _reference(config)
    for i, (block, spec) in enumerate(zip(_target_axes(fig, n, len(groups)), config.targets,
                                          strict=True)):
        target = spec.build()
        for row, (ax, (group, members)) in enumerate(zip(block, groups.items(), strict=True)):
            drawn = [m for m in members if (spec.name, m.name) in present]
            anchor = [_convergence_line(ax, stats.loc[(spec.name, m.name)], colours[m.name],
                                        keys, band=config.replicates > 1) for m in drawn]
            for m in drawn:
                keys.method(m.name, colours[m.name])
            if group == "relu":
                _convergence_guides(ax, target, widths, anchor, keys)
            elif "relu" in groups:
                _scale_line(ax, stats, spec.name, reference or groups["relu"][0].name, keys)
            names = [m.name for m in members]
            _degenerate_marks(ax, ok[(ok["target"] == spec.name) & ok["method"].isin(names)],
                              keys)
            a, b = target.domain
            head = f"{spec.name}: {target.description} on [{a:g}, {b:g}]\n" if row == 0 else ""
            ax.set_title(_plain(f"{head}{GROUPS[group]}"), fontsize=9.5)
            ax.set_yscale("log")
            if i % cols == 0:  # the first column names the quantity
                ax.set_ylabel(r"max error $\varepsilon = \max_x |f - \hat f|$")
            _width_axis(ax, label=row == len(groups) - 1)
            _few_ticks(ax)
        failed = int((table["target"] == spec.name).sum() - (ok["target"] == spec.name).sum())
        if failed:
            block[0].text(0.02, 0.02, f"{failed} failed run(s) not shown",
                          transform=block[0].transAxes, fontsize=8, color="firebrick")
    keys.draw(fig, _statistic(stats))
    fig.suptitle(f"{config.name}: how fast does the max error ε fall as the width d grows?",
                 fontweight="bold")
    _save(fig, path)
    return path


def _convergence_line(ax: Axes, s: pd.DataFrame, colour: str, keys: Keys, band: bool
                      ) -> float:
    """One method's medians against width (filled where certified, half-filled where
    rounding-limited, hollow where estimated, a bar up to a wider bound), its min–max
    ``band`` if asked and drawn; keys what it draws; returns the median at the smallest
    width."""
    certified = s["certified"].astype(bool).to_numpy()
    rounding = s["rounding"].astype(bool).to_numpy() & ~certified
    estimate = ~(certified | rounding)
    many = s["n"].to_numpy() > 1
    s = s[["median", "min", "max", "upper"]].astype(float).clip(lower=_TINY, upper=_HUGE)
    ax.plot(s.index, s["median"], "-", color=colour, zorder=3)
    marks = (
        (certified, {"ms": 3.5}, _CERTIFIED),
        (rounding, {"ms": 4.5, "fillstyle": "bottom", "mfcalt": "white", "mec": colour},
         _ROUNDING),
        (estimate, {"ms": 4.5, "mfc": "white", "mec": colour}, _ESTIMATE),
    )
    for where, look, (label, key_style) in marks:
        if where.any():
            ax.plot(s.index[where], s["median"][where], "o", color=colour, zorder=4, **look)
            keys.mark(label, **key_style)
    # the enclosure, where the upper bound stands visibly above the value
    wide = np.isfinite(s["upper"]) & (s["upper"] > 1.05 * s["median"])
    if wide.any():
        ax.vlines(s.index[wide], s["median"][wide], s["upper"][wide], color=colour, lw=1.2,
                  alpha=0.7, zorder=2)
        keys.mark("bar: up to the rigorous upper bound, where it is above ε", color="0.3",
                  lw=1.2, marker="|", ms=8, ls="none")
    if band and many.any():
        ax.fill_between(s.index, s["min"], s["max"], color=colour, alpha=0.2, lw=0)
        keys.patch("band: min–max over the replicates", Patch(color="0.3", alpha=0.2, lw=0))
    return s["median"].iloc[0]


_CERTIFIED = ("filled: certified (tight: upper − ε ≤ 1e-9·ε)",
              {"marker": "o", "ms": 4, "color": "0.3", "ls": "none"})
_ROUNDING = ("half-filled: rounding-limited (bounds meet within rounding only)",
             {"marker": "o", "ms": 5, "fillstyle": "bottom", "mfcalt": "white",
              "color": "0.3", "mec": "0.3", "ls": "none"})
_ESTIMATE = ("hollow: estimate, not certified",
             {"marker": "o", "ms": 5, "mfc": "white", "mec": "0.3", "color": "0.3",
              "ls": "none"})


def _scale_line(ax: Axes, stats: pd.DataFrame, target: str, method: str, keys: Keys) -> None:
    """``method``'s medians in light grey behind a panel of other methods, for scale."""
    if (target, method) not in stats.index.droplevel("width"):
        return
    s = stats.loc[(target, method)]["median"].astype(float).clip(_TINY, _HUGE)
    ax.plot(s.index, s, color="0.65", lw=2.5, alpha=0.6, zorder=1, solid_capstyle="butt")
    keys.mark(f"grey: {method}, for scale (smooth-bases panels)", color="0.65", lw=2.5,
              alpha=0.6)


def _degenerate_marks(ax: Axes, ok: pd.DataFrame, keys: Keys) -> None:
    """A grey x at each degenerate run's ε (certified ε not below the best constant's)."""
    if "degenerate" not in ok:
        return
    runs = ok[ok["degenerate"].map(lambda v: v is True or v == 1)]
    if not runs.empty:
        ax.plot(runs["width"], runs["max_error"].astype(float).clip(_TINY, _HUGE), "x",
                ms=6, mew=1.5, color="0.5", zorder=5)
        keys.mark("x: degenerate run, ε not below the best constant's", marker="x",
                  ms=6, mew=1.5, color="0.5", ls="none")


def _convergence_guides(ax: Axes, target: Target, widths: NDArray[np.float64],
                        anchor: list[float], keys: Keys) -> None:
    """The uniform-knot bound and a d⁻² slope below the data, drawn over the data and
    named at their right ends."""
    with np.errstate(all="ignore"):
        # (a budget sweep's deep nets may have width 1: no knot spacing there)
        bound = np.array([analysis.uniform_bound(target, int(d)) if d >= 2 else np.inf
                          for d in widths])
    drawn = widths >= 2
    if drawn.any() and np.isfinite(bound[drawn]).all() and (bound[drawn] < _HUGE).all():
        style = {"color": "black", "ls": (0, (4, 2)), "lw": 1.3}
        ax.plot(widths[drawn], bound[drawn], zorder=6, **style)
        ax.annotate("bound", (widths[drawn][-1], bound[drawn][-1]), xytext=(3, 2),
                    textcoords="offset points", fontsize=7.5, zorder=6)
        keys.mark(r"dashed: uniform-knot bound $h^2/8 \cdot \max|f''|$ + float rounding",
                  **style)
    if anchor:
        y0 = min(anchor) / 4  # below the data at the smallest width, clear of the bound
        style = {"color": "0.35", "ls": ":", "lw": 1.6}
        slope = y0 * (widths / widths[0]) ** -2.0
        ax.plot(widths, slope, zorder=6, **style)
        ax.annotate(r"$d^{-2}$", (widths[-1], slope[-1]), xytext=(3, 0),
                    textcoords="offset points", fontsize=8, zorder=6)
        keys.mark(r"dotted: $d^{-2}$ reference slope", **style)


#: the fits figure's grid, and the runs of points whose largest error each bin draws
_FIT_POINTS, _FIT_BINS = 4001, 250
#: a fit within this share of f's range of f cannot be told from it at a panel's scale
_INDISTINCT = 0.005


@styled
def plot_fits(table: pd.DataFrame, config: Config, target_name: str, folder: Path,
              path: Path) -> Path | None:
    """Where on the domain each saved model of replicate 0 errs most, at a few widths: the
    target and the fits at the smallest width above (the title says how close they lie
    at the others), and per group of methods the upper envelope of the pointwise error.

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
    x = np.linspace(*target.domain, _FIT_POINTS)
    with np.errstate(all="ignore"):
        fx = _finite(target(x))
    widths = _chosen_widths(rows["width"].tolist())
    curves: dict[int, dict[str, tuple[NDArray[np.float64], float]]] = {d: {} for d in widths}
    for row in rows[rows["width"].isin(widths)].itertuples():
        with np.errstate(all="ignore"):
            curves[row.width][row.method] = (_finite(load_model(folder / row.model_file)(x)),
                                             float(row.max_error))
    groups = method_groups(m for m in config.methods if m.name in set(rows["method"]))
    fig = _figure(max(4.6 * len(widths), _MIN_WIDTH), 2.0 + 2.4 * len(groups) + 1.3)
    grid = fig.add_gridspec(1 + len(groups), len(widths),
                            height_ratios=[1.5] + [2.5] * len(groups))
    keys = Keys()
    top = fig.add_subplot(grid[0, :])
    _fit_panel(top, x, fx, curves, colours, keys)
    first = None
    for col, width in enumerate(widths):
        for k, (group, members) in enumerate(groups.items(), start=1):
            ax = fig.add_subplot(grid[k, col], sharex=first)
            first = first or ax
            _error_panel(ax, x, fx, {m.name: curves[width][m.name] for m in members
                                     if m.name in curves[width]}, colours, keys)
            ax.set_ylabel(f"|f − f̂|: {GROUPS[group]}" if col == 0 else None)
            ax.set_title(f"d = {width}" if k == 1 else None, fontsize=9.5)
            ax.set_xlabel("x" if k == len(groups) else None)
            ax.tick_params(labelbottom=k == len(groups))
    a, b = target.domain
    keys.draw(fig, f"replicate 0 of each method (of up to {config.replicates}); error: the "
              f"largest |f − f̂| in each of {_FIT_BINS} bins of "
              f"{_FIT_POINTS // _FIT_BINS} points ({_FIT_POINTS} points on [{a:g}, {b:g}])")
    fig.suptitle(_plain(f"{target_name}: {target.description}: where does each fit err most?"),
                 fontweight="bold")
    _save(fig, path)
    return path


def _fit_panel(ax: Axes, x: NDArray[np.float64], fx: NDArray[np.float64],
               curves: dict[int, dict[str, tuple[NDArray[np.float64], float]]],
               colours: dict[str, str], keys: Keys) -> None:
    """The target and the fits at the smallest width; the title says how far the fits
    at the other widths stray from f, as a share of f's range (below about half a
    percent a fit cannot be told from f at this scale: only the errors below can)."""
    low, high = float(np.nanmin(fx)), float(np.nanmax(fx))
    span = min(high - low, _HUGE) or 1.0
    smallest, *others = sorted(curves)
    ax.plot(x, fx, color="black", lw=2.6, alpha=0.3)
    keys.mark("thick grey: the target f", color="black", lw=2.6, alpha=0.3)
    for name, (y, _) in curves[smallest].items():
        ax.plot(x, y, lw=1.0, color=colours[name])
        keys.method(name, colours[name])
    ax.set_ylim(max(low - 0.25 * span, -_HUGE), min(high + 0.25 * span, _HUGE))
    ax.set(xlabel="x", ylabel="f(x) and the fits")
    ax.grid(True, alpha=0.3)
    title = f"f and the fits at d = {smallest}"
    if others:
        share = [max((float(np.nanmax(np.abs(y - fx))) for y, _ in curves[d].values()),
                     default=0.0) / span for d in others]
        title += (f"; at d = {', '.join(map(str, others))} every fit lies within "
                  f"{', '.join(f'{100 * s:.2g} %' for s in share)} of f's range of f"
                  + (" (the errors below tell them apart)" if max(share) < _INDISTINCT
                     else ""))
    ax.set_title(title, fontsize=9.5)


def _error_panel(ax: Axes, x: NDArray[np.float64], fx: NDArray[np.float64],
                 curves: dict[str, tuple[NDArray[np.float64], float]], colours: dict[str, str],
                 keys: Keys) -> None:
    """Each fit's pointwise error as its upper envelope over bins, on a log axis, with
    the run's ε (runs.csv) marked at the right edge."""
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    floor = []
    for name, (y, eps) in curves.items():
        with np.errstate(all="ignore"):
            error = np.clip(np.abs(y - fx), _TINY, _HUGE)
        middle, top = envelope(x, error, _FIT_BINS)
        ax.plot(middle, top, lw=1.0, color=colours[name])
        keys.method(name, colours[name])
        if math.isfinite(eps) and eps > 0:
            ax.plot([1.0], [min(max(eps, _TINY), _HUGE)], "<", ms=5, color=colours[name],
                    transform=ax.get_yaxis_transform(), clip_on=False)
            keys.mark("at the right edge: the run's ε (runs.csv)", marker="<", ms=5,
                      color="0.3", ls="none")
        floor.append(np.nanmin(top))
    if floor:
        ax.set_ylim(bottom=max(_TINY, min(floor) / 3))
    _few_ticks(ax)


@styled
def plot_training(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]],
                  config: Config, target_name: str, path: Path) -> Path | None:
    """What each phase of training reached: a column per width, a row per optimizer and
    objective (Adam's mean square, the LM polish's Lᵖ error, …), x counting that
    optimizer's entries; a marker where each phase starts, spikes clipped to the top."""
    rows = table[(table["target"] == target_name) & table["run_id"].isin(list(histories))]
    if rows.empty:
        return None
    colours = method_colors(config)
    widths = _chosen_widths(rows["width"].tolist())
    runs = []  # (width, method, replicate, history, its phases)
    for row in rows.itertuples():
        if row.width in widths:
            history = np.asarray(histories[row.run_id], dtype=float)
            phases = history_phases(getattr(row, "info_phases", None), history.size,
                                    getattr(row, "param_optimizer", None))
            runs.append((row.width, row.method, row.replicate, history, phases))
    kinds = list(dict.fromkeys(p.key for *_, phases in runs for p in phases))
    fig = _figure(max(4.4 * len(widths), _MIN_WIDTH), 2.5 * len(kinds) + 1.6)
    grid = fig.subplots(len(kinds), len(widths), squeeze=False)
    keys = Keys()
    epochs = "param_batch_size" in rows and rows["param_batch_size"].notna().any()
    optimizers = [kind.partition(":")[0] for kind in kinds]
    for col, width in enumerate(widths):
        for r, kind in enumerate(kinds):
            ax = grid[r, col]
            _training_panel(ax, [run for run in runs if run[0] == width], kind, colours, keys)
            if r + 1 < len(kinds) and optimizers[r + 1] == optimizers[r]:
                ax.sharex(grid[r + 1, col])  # the same count: written once, below
                ax.tick_params(labelbottom=False)
            else:
                ax.set_xlabel(steps_label(optimizers[r], bool(epochs)), fontsize=8.5)
            if col == 0:
                ax.set_ylabel(objective_label(kind), fontsize=8.5)
        grid[0, col].set_title(f"d = {width}")
    lm = ("\nLM iterates: each round's start, then its accepted steps; " if "lm" in optimizers
          else " ")
    keys.draw(fig, "a panel per objective (each optimizer's own); r: residuals on the "
                   f"rescaled problem (values (f − mean)/std, x in [−1, 1]);{lm}faint lines: "
                   "replicates after the first")
    fig.suptitle(_plain(f"{target_name}: how far did each training phase lower its "
                        "objective?"), fontweight="bold")
    _save(fig, path)
    return path


def _training_panel(ax: Axes, runs: list[tuple[Any, ...]], kind: str,
                    colours: dict[str, str], keys: Keys) -> None:
    """The phases of kind ``kind`` of each run (one line per run, a gap between its
    phases): x counts from the run's first phase of that optimizer; a circle where a
    later phase starts (a change of objective or a restart), a diamond where the net
    was widened, a triangle where a phase ends and another follows; values above a
    robust top clipped there."""
    lines = [line for run in runs if (line := _phase_line(run, kind)) is not None]
    top = robust_top([y for _, _, y, _ in lines],  # (the phases' first values are no spikes)
                     [float(y[i]) for _, _, y, m in lines for i in [0, *m["start"], *m["widened"]]])
    low = top
    for (method, replicate), x, y, marks in lines:
        colour, alpha = colours[method], 1.0 if replicate == 0 else 0.35
        y = clip_marked(ax, x, np.where(y > 0, y, np.nan), top, colour, keys)
        ax.plot(x, y, lw=1.0, color=colour, alpha=alpha)
        keys.method(method, colour)
        for name, (marker, label) in _PHASE_MARKS.items():
            at = marks[name]
            if at:
                face = {} if marker == ">" else {"mfc": "white"}
                ax.plot(x[at], y[at], marker, ms=3.5, color=colour, mec=colour,
                        alpha=alpha, zorder=4, ls="none", **face)
                keys.mark(label, marker=marker, ms=4, color="0.3", ls="none", **face)
        if np.isfinite(y).any():
            low = min(low, float(np.nanmin(y)))
    ax.set_yscale("log")
    if lines and low < top:
        ax.set_ylim(max(low / 3, 1e-300), top)
    _few_ticks(ax)
    ax.grid(True, alpha=0.3)


#: the marks of a training curve: what each marks, its marker and its key
_PHASE_MARKS = {
    "start": ("o", "circle: a phase starts (objective changed, or a restart)"),
    "widened": ("D", "diamond: the polish of the net widened to d starts"),
    "end": (">", "triangle: the phase ends, another follows"),
}


def _phase_line(run: tuple[Any, ...], kind: str) -> tuple[Any, ...] | None:
    """One run's phases of ``kind`` as one curve with NaN gaps: ((method, replicate),
    x, y, {mark: indices into x})."""
    _, method, replicate, history, phases = run
    mine = [p for p in phases if p.key == kind]
    if not mine:
        return None
    # x counts from the first phase of this optimizer (the LM polish's rounds share it)
    origin = next(p.start for p in phases if p.optimizer == mine[0].optimizer)
    xs, ys = [], []
    marks: dict[str, list[int]] = {"start": [], "widened": [], "end": []}
    n = 0
    for k, phase in enumerate(mine):
        if k or phase.start > 0:
            marks["widened" if phase.widened else "start"].append(n)
        xs.append(np.arange(phase.start, phase.stop + 1, dtype=float) - origin)
        ys.append(np.append(history[phase.start:phase.stop], np.nan))  # the gap
        n += phase.stop - phase.start + 1
        if phase.stop < history.size:
            marks["end"].append(n - 2)
    return (method, replicate), np.concatenate(xs), np.concatenate(ys), marks


#: method kinds whose ε falls exponentially in the parameter count: a budget sweep holding
#: one draws each target twice, on log and on linear n (where an exponential is straight)
EXPONENTIAL_KINDS = frozenset({"sawtooth"})


@dataclasses.dataclass(frozen=True)
class TheoryLine:
    """A closed-form ε against n_params, drawn above the data of ``params.png``."""

    n_params: NDArray[np.float64]
    error: NDArray[np.float64]
    label: str
    style: str


#: what the panel of each x scale shows, when a target has both
_SCALE_NOTES = {"log": "\nlog n: power laws are straight",
                "linear": "\nlinear n: exponential rates are straight"}


@styled
def plot_params(table: pd.DataFrame, config: Config, path: Path) -> Path:
    """ε against the number of parameters at a budget sweep's budgets, a line per method
    (median over replicates, min–max band) and the theory lines of
    :func:`params_theory`; a panel per target on log–log axes, and a second one on
    linear n when a method's rate is exponential (:data:`EXPONENTIAL_KINDS`).

    When the runs carry the best one-hidden-layer net at each budget
    (``shallow_optimum_lower``/``upper`` and ``gap_to_shallow_optimum``, a budget sweep
    with an ``optimal-pwl`` method: :mod:`approx.experiment.equal_params`), that method
    is drawn as its certified bracket, a band at each budget, and each target gains a
    panel of ``gap_to_shallow_optimum`` per method on log n: the floor 1 and the region
    below it (a net there beats every one-hidden-layer net within its budget).
    """
    colours = method_colors(config)
    scales = (("log", "linear") if any(m.kind in EXPONENTIAL_KINDS for m in config.methods)
              else ("log",))
    shallow = shallow_brackets(table)
    widest = float((shallow["upper"] / shallow["lower"]).max()) if shallow is not None else 1.0
    rows = (*scales, "gap") if shallow is not None else scales
    n = len(config.targets)
    cols = len(rows) if len(rows) > 1 else min(3, n)
    fig = _figure(max(4.6 * cols, 7.5), 3.8 * math.ceil(n * len(rows) / cols) + 1.2)
    ok = table[table["status"] == RunStatus.OK]
    stats = _params_stats(ok)
    budgets = [float(b) for b in config.budgets] or sorted(set(ok["n_params"].astype(float)))
    axes = iter(_panels(fig, n * len(rows), ncols=cols))
    for spec in config.targets:
        shown = stats.loc[spec.name] if spec.name in stats.index.get_level_values(0) else None
        low = min(budgets[0], shown["n_params"].min() if shown is not None else budgets[0])
        band = (shallow.loc[spec.name] if shallow is not None
                and spec.name in shallow.index.get_level_values(0) else None)
        theory = params_theory(spec.build(), config, low, budgets[-1])
        failed = int((table["target"] == spec.name).sum() - (ok["target"] == spec.name).sum())
        a, b = spec.build().domain
        head = _plain(f"{spec.name}: {spec.build().description} on [{a:g}, {b:g}]")
        for row in rows:
            ax = next(axes)
            if row == "gap":
                _gap_panel(ax, shown, band, config, colours)
                ax.set_title(f"{head}\nε / best possible one-hidden-layer ε at the budget",
                             fontsize=10)
            else:
                _params_panel(ax, shown, config, colours, theory, band, widest)
                ax.set_title(head + _SCALE_NOTES[row] * (len(scales) > 1), fontsize=10)
                if failed:
                    ax.text(0.02, 0.02, f"{failed} failed run(s) not shown",
                            transform=ax.transAxes, fontsize=8, color="firebrick")
            _budget_axis(ax, budgets, low, "log" if row == "gap" else row)
    if config.replicates > 1 and not ok.empty:
        fig.axes[0].fill_between([], [], [], color="0.6", alpha=0.3, lw=0,
                                 label=f"band: min–max over {config.replicates} replicates")
    _params_legend(fig)
    _params_labels(fig, budgets)
    once = [m for m in config.methods if not config.kind(m).random]
    statistic = ("one replicate" if config.replicates == 1 else
                 f"median of {config.replicates} replicates"
                 + ("; a construction runs once" if once else ""))
    fig.suptitle(f"{config.name}: which method makes the most of a parameter budget?\n"
                 f"max error against the number of parameters, {statistic}",
                 fontweight="bold")
    _save(fig, path)
    return path


def _params_stats(ok: pd.DataFrame) -> pd.DataFrame:
    """Per (target, method, width): the median n_params, the median, min and max of ε,
    and the median ``gap_to_shallow_optimum`` when the table has it."""
    columns = {"n_params": ("n_params", "median"), "median": ("max_error", "median"),
               "min": ("max_error", "min"), "max": ("max_error", "max")}
    if "gap_to_shallow_optimum" in ok:
        ok = ok.assign(gap=pd.to_numeric(ok["gap_to_shallow_optimum"], errors="coerce"))
        columns |= {"gap": ("gap", "median"), "gap_min": ("gap", "min"),
                    "gap_max": ("gap", "max")}
    return ok.groupby(["target", "method", "width"]).agg(**columns)


def _params_labels(fig: Figure, budgets: list[float]) -> None:
    """The budgets' tick labels on every panel, thinned to what its width holds."""
    fig.draw_without_rendering()  # the layout, so each axis knows its width
    for ax in fig.axes:
        inches = ax.get_window_extent().width / fig.dpi
        ax.xaxis.set_major_formatter(FixedFormatter(
            _thinned_labels(budgets, ax.get_xlim(), ax.get_xscale(), inches)))


def shallow_brackets(table: pd.DataFrame) -> pd.DataFrame | None:
    """Per (target, budget): the certified bracket of the best one-hidden-layer net
    within the budget, ``lower`` and ``upper`` (the columns ``shallow_optimum_lower`` and
    ``shallow_optimum_upper`` of a budget sweep with an ``optimal-pwl`` method), or
    ``None`` where the table has no such bracket."""
    names = {"budget", "shallow_optimum_lower", "shallow_optimum_upper"}
    if not names <= set(table.columns):
        return None
    rows = pd.DataFrame({"target": table["target"]} | {
        name: pd.to_numeric(table[name], errors="coerce") for name in sorted(names)})
    rows = rows[(rows["shallow_optimum_lower"] > 0) & np.isfinite(rows["budget"])
                & np.isfinite(rows["shallow_optimum_upper"])]
    if rows.empty:
        return None
    found = rows.groupby(["target", "budget"])[
        ["shallow_optimum_lower", "shallow_optimum_upper"]].max()
    return found.rename(columns={"shallow_optimum_lower": "lower",
                                 "shallow_optimum_upper": "upper"})


_OPTIMUM_LABEL = "best possible one-hidden-layer net at this parameter count"


def _optimum_colour(config: Config, colours: dict[str, str]) -> str:
    """The colour of the first ``optimal-pwl`` method (its bracket's band)."""
    return next((colours[m.name] for m in config.methods if m.kind == "optimal-pwl"), "0.3")


def _params_panel(ax: Axes, shown: pd.DataFrame | None, config: Config,
                  colours: dict[str, str], theory: list[TheoryLine],
                  band: pd.DataFrame | None = None, widest: float = 1.0) -> None:
    """One target's medians and bands against n_params, the theory lines above them;
    with ``band`` (the bracket per budget), the ``optimal-pwl`` methods drawn as it, its
    key stating ``widest`` (the largest upper/lower of the figure, so one key serves
    every panel)."""
    if band is not None:
        colour = _optimum_colour(config, colours)
        ax.fill_between(band.index, band["lower"].clip(_TINY, _HUGE),
                        band["upper"].clip(_TINY, _HUGE), color=colour, alpha=0.35,
                        lw=0, zorder=4)
        # the band's edges, so a narrow bracket still shows on decades of ε
        for edge in ("lower", "upper"):
            ax.plot(band.index, band[edge].clip(_TINY, _HUGE), color=colour, lw=1.2,
                    zorder=4)
        ax.fill_between([], [], [], color=colour, alpha=0.6, lw=0,
                        label=f"{_OPTIMUM_LABEL}:\ncertified bracket (upper/lower − 1 ≤ "
                              f"{widest - 1:.2g})")
    if shown is not None:
        names = set(shown.index.get_level_values("method"))
        for method in config.methods:
            if method.name not in names or (band is not None and method.kind == "optimal-pwl"):
                continue
            s = shown.loc[method.name].astype(float).sort_values("n_params")
            err = s[["median", "min", "max"]].clip(lower=_TINY, upper=_HUGE)
            colour = colours[method.name]
            ax.plot(s["n_params"], err["median"], "o-", ms=4, lw=1.4, color=colour,
                    label=method.name, zorder=3)
            if config.replicates > 1:
                ax.fill_between(s["n_params"], err["min"], err["max"], color=colour,
                                alpha=0.2, lw=0, zorder=2)
    for line in theory:  # above the data: a dashed line stays visible on its points
        ax.plot(line.n_params, np.clip(line.error, _TINY, _HUGE), line.style, color="black",
                lw=1.3, label=line.label, zorder=5)
    ax.set(yscale="log", ylabel=r"max error $\varepsilon$ (median)")
    ax.grid(True, which="major", alpha=0.3)


def _gap_panel(ax: Axes, shown: pd.DataFrame | None, band: pd.DataFrame | None,
               config: Config, colours: dict[str, str]) -> None:
    """Each method's median ``gap_to_shallow_optimum`` against n_params (min–max band),
    above the floor 1, the bracket's band [1, upper/lower] at the budgets and the
    region below 1 tinted."""
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=1.6, zorder=4,
               label="1: the best possible one-hidden-layer net's lower bound")
    ax.axhspan(_TINY, 1.0, color="seagreen", alpha=0.1, lw=0, zorder=0,
               label="below 1: beats every one-hidden-layer net within the budget")
    if band is not None:
        ax.fill_between(band.index, 1.0, band["upper"] / band["lower"],
                        color=_optimum_colour(config, colours), alpha=0.35, lw=0, zorder=1)
    values = [0.25, 2.0]  # room for the region below 1 and its note
    if shown is not None and "gap" in shown:
        for method in config.methods:
            if method.kind == "optimal-pwl" or method.name not in shown.index:
                continue
            s = shown.loc[method.name].astype(float).dropna(subset=["gap"])
            s = s.sort_values("n_params")
            if s.empty:
                continue
            gap = s[["gap", "gap_min", "gap_max"]].clip(lower=_TINY, upper=_HUGE)
            ax.plot(s["n_params"], gap["gap"], "o-", ms=4, lw=1.4,
                    color=colours[method.name], label=method.name, zorder=3)
            if config.replicates > 1:
                ax.fill_between(s["n_params"], gap["gap_min"], gap["gap_max"],
                                color=colours[method.name], alpha=0.2, lw=0, zorder=2)
            values += [float(gap["gap_min"].min()), float(gap["gap_max"].max())]
    ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
    ax.set_ylabel("ε / best one-hidden-layer ε (lower end)")
    ax.grid(True, which="major", alpha=0.3)
    _ratio_ticks(ax)
    ax.annotate("below 1: better than any\none-hidden-layer net", (0.02, 0.03),
                xycoords="axes fraction", ha="left", va="bottom", fontsize=8,
                color="seagreen")


def _budget_axis(ax: Axes, budgets: list[float], low: float, scale: str) -> None:
    """x on ``scale`` from below the smallest model to past the largest budget, a tick
    (and a grid line) at each budget (labelled by :func:`_thinned_labels` once the
    layout is known)."""
    if scale == "log":
        ax.set_xscale("log")
        ax.set_xlim(low / 1.15, budgets[-1] * 1.15)
    else:
        ax.set_xlim(0, budgets[-1] * 1.05)
    ax.xaxis.set_major_locator(FixedLocator(budgets))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("parameters n_params (ticks: the budgets)")


def _thinned_labels(ticks: list[float], limits: tuple[float, float], scale: str,
                    inches: float) -> list[str]:
    """Each tick's label, or "" where it would come nearer than 0.06 inch to the label
    kept to its right (the largest tick always keeps its label), on an axis ``inches``
    wide: an 8-point digit is about 0.07 inch wide."""
    where = np.log if scale == "log" else (lambda v: np.asarray(v, dtype=float))
    lo, hi = where(np.array(limits, dtype=float))
    at = (where(np.array(ticks, dtype=float)) - lo) / (hi - lo) * inches
    labels = [f"{t:g}" for t in ticks]
    kept, right = [""] * len(ticks), math.inf
    for i in range(len(ticks) - 1, -1, -1):
        if right - at[i] >= 0.07 * len(labels[i]) + 0.06:
            kept[i], right = labels[i], at[i]
    return kept


def _params_legend(fig: Figure) -> None:
    """One legend below the panels, as many columns as fit the figure's width."""
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if not seen:
        return
    # about 0.075 inch a character of the text shown (mathtext's markup takes none)
    widest = max(0.7 + 0.075 * len(re.sub(r"\\[a-z]+|[${}^\\]", "", line))
                 for label in seen for line in label.split("\n"))
    ncol = max(1, min(len(seen), int(fig.get_figwidth() // widest)))
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol,
               frameon=False)


def params_theory(target: Target, config: Config, low: float,
                  high: float) -> list[TheoryLine]:
    """The theory lines of ``params.png`` for ``target``, for n_params in [low, high].

    - the one-hidden-layer ±ReLU interpolant at uniform knots with the same count
      ``n = 3d + 1``: the uniform-knot bound ``h²/8 · max|f''|`` with ``h = (b − a)/(d
      − 1)`` (``max|f''|`` rigorous and tight to 1e-9; :func:`approx.analysis.
      uniform_bound` adds the float construction's rounding) at integer d, which on x²
      over [0, 1] is its exact error ``1/(4(d − 1)²)``; drawn where it is finite, under
      one label whatever the target (one legend entry for a figure of many targets);
    - when the sweep has a ``sawtooth`` method and ``target`` is x² on [0, 1]: the
      sawtooth net's certified ``ε = 2^(−2m−2)`` at its count (``20m − 7``) for each m.
    """
    lines = []
    square = _is_square(target)
    shallow = methods.get("relu-interpolant")
    first, last = max(2, math.ceil((low - 1) / 3)), max(2, math.floor((high - 1) / 3))
    ds = np.unique(np.geomspace(first, last, min(200, last - first + 1)).round())
    a, b = target.domain
    with np.errstate(all="ignore"):  # (nan without a ball form, inf where f'' is unbounded)
        curve = certified_targets.max_abs_second_derivative(target)
        bound = ((b - a) / (ds - 1)) ** 2 / 8 * curve
    if np.isfinite(bound).all() and (bound < _HUGE).all():
        sizes = [shallow.size(int(d), {"knots": "uniform"}) for d in ds]
        lines.append(TheoryLine(np.array(sizes, dtype=float), bound,
                                r"theory, one hidden layer: $h^2/8 \cdot \max|f''|$, $n = 3d+1$",
                                "--"))
    if square and any(m.kind == "sawtooth" for m in config.methods):
        saw = methods.get("sawtooth")
        top = saw.width_for(int(high), {}) or 1
        ms = np.arange(1, top + 1)
        lines.append(TheoryLine(np.array([saw.size(int(m), {}) for m in ms], dtype=float),
                                2.0 ** (-2.0 * ms - 2), r"theory, sawtooth: $2^{-2m-2}$, "
                                r"$n = 20m-7$", "-."))
    return lines


def _is_square(target: Target) -> bool:
    """Whether ``target`` is x² on [0, 1] (the only target the sawtooth method takes)."""
    try:
        methods.fit("sawtooth", target, 1, np.random.default_rng(0))
    except (ValueError, ArithmeticError):  # its refusal, or a target that overflows
        return False
    return True


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


def optimum_table(table: pd.DataFrame) -> pd.DataFrame | None:
    """Per (target, width): the bracket of the best possible ε of a width-d net,
    ``lower`` and ``upper`` (``optimum_lower``/``optimum_upper`` of the runs; a sweep with
    an ``optimal-pwl`` method has them), or ``None`` where the table has no bracket."""
    if not {"optimum_lower", "optimum_upper"} <= set(table.columns):
        return None
    rows = table[["target", "width", "optimum_lower", "optimum_upper"]].apply(
        lambda c: pd.to_numeric(c, errors="coerce") if c.name.startswith("optimum") else c)
    rows = rows[(rows["optimum_lower"] > 0) & np.isfinite(rows["optimum_upper"])]
    if rows.empty:
        return None
    bracket = rows.groupby(["target", "width"])[["optimum_lower", "optimum_upper"]].max()
    return bracket.rename(columns={"optimum_lower": "lower", "optimum_upper": "upper"})


@styled
def plot_gap(table: pd.DataFrame, config: Config, path: Path) -> Path | None:
    """How far from a reference each method's ε is, per target: ε over the best possible
    at this width (when the runs carry its bracket), and ε over the uniform
    construction's for each group of methods; see the module docstring."""
    gap, optimum = gap_table(table, config), optimum_table(table)
    if gap is None and optimum is None:
        return None
    reference = _reference(config)
    colours = method_colors(config)
    groups = method_groups(config.methods) if gap is not None else {}
    rows = (["optimum"] if optimum is not None else []) + list(groups)
    n = len(config.targets)
    cols = min(3, n)
    fig = _figure(max(4.8 * cols, _MIN_WIDTH), 2.9 * len(rows) * math.ceil(n / cols) + 1.3)
    keys = Keys()
    for block, spec in zip(_target_axes(fig, n, len(rows)), config.targets, strict=True):
        for k, (ax, row) in enumerate(zip(block, rows, strict=True)):
            head = f"{spec.name}: " if k == 0 else ""
            ax.set_yscale("log")
            if row == "optimum":
                _optimum_panel(ax, table, optimum, spec.name, config, colours, keys)
                title = (f"{_plain(head)}ε / best possible ε* at this width (ReLU nets):\n"
                         r"ε / ε*$_{lower}$, band [1, ε*$_{upper}$ / ε*$_{lower}$]")
            else:
                _ratio_panel(ax, gap, spec.name, groups[row], reference, colours, keys)
                title = _plain(f"{head}ε / ε({reference}) at equal d:\n{GROUPS[row]}")
            ax.set_title(title, fontsize=9.5)
            _ratio_ticks(ax)
            _width_axis(ax, label=k == len(rows) - 1)
            _few_ticks(ax, minor=True)
    keys.draw(fig, "each point: the median ε over the replicates at that width, divided by "
                   "the reference's")
    question = ("how far is each method from the best possible, and from the construction?"
                if optimum is not None and gap is not None else
                "how far is each method from the best possible width-d net?"
                if optimum is not None else
                f"how far is each method's ε from the uniform construction's ({reference})?")
    fig.suptitle(f"{config.name}: {question}", fontweight="bold")
    _save(fig, path)
    return path


def _ratio_panel(ax: Axes, gap: pd.DataFrame, target: str, members: list[Any],
                 reference: str | None, colours: dict[str, str], keys: Keys) -> None:
    """Each method of a group over the reference, with the lines 1 and 2 named."""
    ax.axhline(1.0, color=colours.get(reference, "black"), lw=2.2, zorder=2)
    ax.axhline(2.0, color="firebrick", ls=(0, (5, 3)), lw=1.3, zorder=2)
    ax.annotate("1", (1.0, 1.0), xycoords=("axes fraction", "data"), xytext=(3, -3),
                textcoords="offset points", fontsize=8, color=colours.get(reference, "black"))
    ax.annotate("2×", (1.0, 2.0), xycoords=("axes fraction", "data"), xytext=(3, 0),
                textcoords="offset points", fontsize=8, color="firebrick")
    keys.mark(f"solid at 1: {reference} (the reference)", color=colours.get(reference, "k"),
              lw=2.2)
    keys.mark("dashed red at 2: twice the reference's ε", color="firebrick",
              ls=(0, (5, 3)), lw=1.3)
    if target not in gap.index.get_level_values("target"):
        return
    rows = gap.loc[target]
    for method in members:
        if method.name != reference and method.name in rows:
            ratio = rows[method.name].dropna().clip(lower=_TINY, upper=_HUGE)
            if len(ratio):
                ax.plot(ratio.index, ratio, "o-", ms=3.5, color=colours[method.name], zorder=3)
                keys.method(method.name, colours[method.name])
    values = np.concatenate([line.get_ydata() for line in ax.lines[2:]] + [[0.8, 2.6]])
    # both reference lines inside, clear of the top
    ax.set_ylim(float(np.min(values)) / 1.25, float(np.max(values)) * 1.25)


def _optimum_panel(ax: Axes, table: pd.DataFrame, optimum: pd.DataFrame, target: str,
                   config: Config, colours: dict[str, str], keys: Keys) -> None:
    """The ReLU methods' median ε over the optimum's lower end, above the floor 1 and the
    bracket's band."""
    ax.axhline(1.0, color="black", lw=1.4, zorder=2)
    keys.mark("black at 1: the best possible (floor)", color="black", lw=1.4)
    if target not in optimum.index.get_level_values("target"):
        return
    bracket = optimum.loc[target]
    ax.fill_between(bracket.index, 1.0, bracket["upper"] / bracket["lower"], color="0.5",
                    alpha=0.35, lw=0, zorder=1, step=None)
    keys.patch("grey band: the optimum's bracket [1, upper/lower]",
               Patch(color="0.5", alpha=0.35, lw=0))
    ok = table[(table["status"] == RunStatus.OK) & (table["target"] == target)]
    median = ok.groupby(["method", "width"])["max_error"].median()
    for method in method_groups(config.methods).get("relu", []):
        if method.name not in median.index.get_level_values("method"):
            continue
        ratio = (median.loc[method.name] / bracket["lower"]).dropna()
        if len(ratio):
            ax.plot(ratio.index, ratio.clip(_TINY, _HUGE), "o-", ms=3.5,
                    color=colours[method.name], zorder=3)
            keys.method(method.name, colours[method.name])
    values = np.concatenate([line.get_ydata() for line in ax.lines[1:]] + [[0.9 * 1.1, 1.2]])
    # the floor 1 near the bottom (a value below it, within rounding of the bracket, shown)
    ax.set_ylim(float(np.min(values)) / 1.1, float(np.max(values)) * 1.2)


def _ratio_ticks(ax: Axes) -> None:
    """Ratios written plainly (0.5, 2, 20; 10⁻⁶ far from 1,
    :func:`~approx.experiment.figstyle.ratio_label`), minor ones too on a span under two
    decades."""
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: ratio_label(v)))
    some = FuncFormatter(lambda v, _: ratio_label(v) if f"{v:.0e}"[0] in "25" else "")
    ax.yaxis.set_minor_formatter(some if high / low < 100 else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _save(fig: Figure, path: Path | BinaryIO | Capture) -> None:
    """Write the figure in the format its suffix names, atomically, so a failure leaves
    no half-written file (or to a file opened for writing, or into a capture: the
    sweep's writer makes those atomic); :func:`~approx.experiment.figstyle.save_figure`."""
    save_figure(fig, path)


def plot_all(table: pd.DataFrame, histories: dict[str, NDArray[np.float64]], config: Config,
             folder: Path, save: Save | None = None, *, formats: Sequence[str] = ("png",),
             dpi: int | None = None, svgs: dict[str, str] | None = None, jobs: int = 1
             ) -> tuple[list[Path], list[str]]:
    """Draw every figure of a results folder into ``folder/plots`` (its task's figures).

    Parameters
    ----------
    save : callable, optional
        Writes each figure: called with its path relative to ``folder`` and a function
        writing its content to a binary file, returns its path (:meth:`Store.save`:
        never through a link, recorded as the sweep's). Without it the figures are
        written to their paths.
    formats : sequence of str
        The formats each figure is written in (of
        :data:`~approx.experiment.figstyle.FORMATS`), one drawing for all; empty: no
        file is written (with ``svgs``, the report's figures alone are drawn).
    dpi : int, optional
        Resolution of raster output (default the figures' own,
        :data:`~approx.experiment.figstyle.DEFAULT_DPI`).
    svgs : dict, optional
        Filled with the SVG text of the first :data:`~approx.experiment.report.FIGURES`
        figures, by file name without suffix, in drawing order (for the report).
    jobs : int
        Processes to draw in (:mod:`approx.experiment.render`); the files are the same
        whatever it is.

    Returns
    -------
    paths : list of Path
        The figures written.
    skipped : list of str
        One line per figure (or part of one) that could not be drawn, and why.
    """
    out = folder / "plots"
    if save is None and formats:
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
    figures = FIGURES[config.task.name]
    drawers, notes = figures(table, histories, config, folder)
    return _draw(drawers, out, save, skipped + notes, tuple(formats), dpi, svgs, jobs,
                 (figures, table, histories, config, folder))


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
    # at budgets the methods' widths differ (m compositions beside hidden units): nothing
    # is drawn against the width, ε against n_params instead
    figures = ((("params", plot_params),) if config.budgets
               else (("convergence", plot_convergence), ("gap", plot_gap)))
    for stem, plot in figures:
        names = page_names(stem, len(config.targets))
        for k, name in enumerate(names):  # PAGE targets a page (a few dozen panels)
            page = dataclasses.replace(config, targets=config.targets[k * PAGE:(k + 1) * PAGE])
            drawers.append((name, lambda p, c=page, f=plot: f(table, c, p)))
    if config.budgets:  # fits_ and training_ have a panel per width: none at budgets
        return drawers, notes
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


@styled
def plot_diagnostics(table: pd.DataFrame, config: Config, target_name: str, folder: Path,
                     path: Path) -> Path | None:
    """The one-hidden-layer ReLU nets' breakpoints and error extrema
    (:mod:`approx.experiment.diagnostics_plots`); None when there is nothing to draw."""
    fig = diagnostics_figure(table, config, target_name, folder, method_colors(config))
    if fig is None:
        return None
    _save(fig, path)
    return path


def _draw(drawers: list[Drawer], out: Path, save: Save | None, skipped: list[str],
          formats: tuple[str, ...] = ("png",), dpi: int | None = None,
          svgs: dict[str, str] | None = None, jobs: int = 1,
          sources: render.Sources | None = None) -> tuple[list[Path], list[str]]:
    """Draw each figure once, in the project's style (in up to ``jobs`` processes, which
    rebuild the drawers from ``sources``: :mod:`approx.experiment.render`), and write it
    in each format (through ``save`` if given), keeping the SVG of the first ones in
    ``svgs``; a failing figure is skipped, one line."""
    captures = []
    for k, (name, _) in enumerate(drawers):
        keep = svgs is not None and k < reports.FIGURES
        # an SVG for the report alone has its text as text (the browser's fonts draw it)
        text = keep and "svg" not in formats
        wanted = formats + (("svg",) if text else ())
        captures.append(Capture(name.rsplit(".", 1)[0], wanted, dpi, svg_text=text)
                        if wanted else None)
    paths = []
    rendered = render.render_all(drawers, captures, jobs, sources)
    for k, ((name, _), capture, (data, error)) in enumerate(
            zip(drawers, captures, rendered, strict=True)):
        stem = name.rsplit(".", 1)[0]
        if error is not None:  # a figure is a view of stored runs: never fail the sweep
            skipped.append(f"skipped plots/{stem}.{(formats or ('svg',))[0]}: {error}")
        if capture is None or data is None:
            continue
        try:  # a file in the way (a link planted where a figure goes): that figure alone
            paths += [_write(out, save, f"{stem}.{fmt}", data[fmt]) for fmt in formats]
        except Exception as e:
            skipped.append(f"skipped plots/{stem}.{(formats or ('svg',))[0]}: "
                           f"{type(e).__name__}: {e}")
            continue
        if svgs is not None and k < reports.FIGURES:
            svgs[stem] = data["svg"].decode("utf-8", "replace")
    return paths, skipped


def _write(out: Path, save: Save | None, name: str, data: bytes) -> Path:
    """Write a figure's bytes to ``out/name``: through ``save``, or atomically."""
    if save is not None:
        return Path(save(f"plots/{name}", lambda file: file.write(data)))
    path = out / name
    tmp = path.with_name(f".{name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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
    """Decision regions of each method at its largest width, each the replicate with the
    median held-out accuracy there (the tables' statistic), on that replicate's samples."""
    rows = ok[ok["dataset"] == spec.name]
    models, panels, samples = {}, {}, {}
    for method in config.methods:
        runs = rows[rows["method"] == method.name]
        if runs.empty:
            continue
        widest = runs["width"].max() if runs["width"].notna().any() else None
        at = runs[runs["width"] == widest] if widest is not None else runs
        saved = at[at["model_file"].map(lambda f: isinstance(f, str) and (folder / f).is_file())]
        if saved.empty:
            continue
        # the median replicate: the lower middle of the accuracies, ties by replicate
        ranked = saved.sort_values(["accuracy", "replicate"], kind="stable")
        shown = ranked.iloc[(len(ranked) - 1) // 2]
        replicate = int(shown["replicate"])
        if replicate not in samples:
            samples[replicate] = spec.draw(sample_seed(config.seed, spec.name, replicate))
        models[method.name] = load_model(folder / shown["model_file"])
        width = int(widest) if widest is not None and widest > 0 else None
        panels[method.name] = RegionPanel(
            samples[replicate], width, replicate, float(shown["accuracy"]),
            float(at["accuracy"].median()), len(at))
    if not models:
        return None
    first = next(iter(panels.values())).sample
    return plot_regions(first, models, path, colors=colours, panels=panels)


def plot_folder(folder: str | Path, formats: Sequence[str] | None = None,
                dpi: int | None = None, *, report: bool = True, jobs: int = 1
                ) -> tuple[list[Path], list[str]]:
    """Re-draw the figures of an existing results folder from its store, and its report.

    Parameters
    ----------
    folder : path
        The results folder.
    formats, dpi : optional
        The figures' formats and resolution; default those the folder records (the last
        sweep's or redraw's), which then records these.
    report : bool
        Also rewrite ``report.html`` (:mod:`approx.experiment.report`).
    jobs : int
        Processes to draw in (the files are the same whatever it is).

    Returns
    -------
    paths, skipped
        As :func:`plot_all` (the figures; the report is ``folder/report.html``).

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
        recorded = store.figure_settings()
        formats = recorded[0] if formats is None else tuple(formats)
        dpi = recorded[1] if dpi is None else dpi
        store.set_figure_settings(formats, dpi)
        table = store.table(config)
        svgs: dict[str, str] | None = {} if report else None
        paths, skipped = plot_all(table, store.histories(), config, folder, save=store.save,
                                  formats=formats, dpi=dpi, svgs=svgs, jobs=jobs)
        if svgs is not None:
            reports.write(store, config, table, svgs, skipped)
        return paths, skipped


def report_folder(folder: str | Path, jobs: int = 1) -> Path:
    """Rebuild ``report.html`` of an existing results folder from its store (its figures
    drawn in memory, in ``jobs`` processes; no other file is written); return its path.

    Raises
    ------
    StoreError
        As :func:`plot_folder`.
    """
    with Store.read(Path(folder)) as store:
        config = store.config()
        store.adopt(config)
        table = store.table(config)
        svgs: dict[str, str] = {}
        _, notes = plot_all(table, store.histories(), config, store.folder, save=store.save,
                            formats=(), dpi=store.figure_settings()[1], svgs=svgs,
                            jobs=jobs)
        return reports.write(store, config, table, svgs, notes)


#: each task's figures, by the task's name
FIGURES = {
    "approximation": approximation_figures,
    "classification": classification_figures,
}
