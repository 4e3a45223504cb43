"""Figures of the classification task, from tidy rows and fitted models.

- ``accuracy.png`` (:func:`plot_accuracy`): held-out accuracy against the width d, a
  panel per dataset, a line per method (median over replicates, min–max band); a method
  without width (``linear``) is a dashed level at its median; each panel's y range is
  its data's, with a margin, and chance (1/k, in the title) is dotted where it falls in
  that range;
- ``regions_<dataset>.png`` (:func:`plot_regions`): the decision regions of each method
  filled, their boundaries drawn as contours of the logits' differences, the training
  samples on top (lecture 1.1: a linear classifier cuts the plane into k convex
  regions); each panel states the fit it shows (:class:`RegionPanel`: d, replicate,
  accuracy and the median).

Panels go in rows of at most three, as even as they can be and centred (five: 3 + 2),
so no cell of a figure is empty.

Matplotlib's Agg backend and explicit Axes only: a bare :class:`~matplotlib.figure.Figure`
per plot, drawn in the project's style (:mod:`approx.experiment.figstyle`) and written in
the format its file name asks, so no pyplot state is shared between figures.
Each method keeps the colour given in ``colors`` (by default tab10 in order of first
appearance), and each class keeps one colour in every region plot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from numpy.typing import NDArray

from approx.experiment.figstyle import Capture, save_figure, styled
from approx.methods.classifiers import evaluate
from approx.problems.datasets import Sample

__all__ = [
    "RegionPanel", "class_colors", "default_colors", "plot_accuracy", "plot_regions",
    "save_png",
]

Model = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def default_colors(methods: Sequence[str]) -> dict[str, str]:
    """A colour per method in order (tab10; tab20 beyond 10 methods)."""
    cmap = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {name: mcolors.to_hex(cmap(i % cmap.N)) for i, name in enumerate(methods)}


def class_colors(k: int) -> list[str]:
    """The colour of each of ``k`` classes (Set1, then tab20 beyond 9 classes)."""
    cmap = colormaps["Set1" if k <= 9 else "tab20"]
    return [mcolors.to_hex(cmap(c % cmap.N)) for c in range(k)]


def _figure(n: int, size: float, ncols: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels in rows of at most ``ncols``, the rows as even as they can
    be (5 panels: 3 + 2) and each shorter row centred, so no cell is left empty."""
    rows = math.ceil(n / ncols)
    counts = [n // rows + (r < n % rows) for r in range(rows)]
    cols = counts[0]
    fig = Figure(figsize=(size * cols, size * rows + 0.9), layout="constrained", dpi=110)
    grid = fig.add_gridspec(rows, 2 * cols)
    axes = []
    for r, count in enumerate(counts):
        start = cols - count  # half a panel of indent per missing panel
        axes += [fig.add_subplot(grid[r, start + 2 * j:start + 2 * j + 2])
                 for j in range(count)]
    return fig, axes


@styled
def plot_accuracy(
    table: pd.DataFrame,
    path: str | Path | BinaryIO,
    *,
    colors: Mapping[str, str] | None = None,
    chance: Mapping[str, float] | None = None,
) -> Path | BinaryIO:
    """Held-out accuracy against d, a panel per dataset.

    Each panel's y range holds its data (the min–max bands) with a margin, so no line
    runs along a border; chance is drawn (dotted, and in the legend) only on a panel
    whose range it falls in or just below, and stated in every panel's title.

    Parameters
    ----------
    table : DataFrame
        One row per run with columns ``dataset``, ``method``, ``width`` (missing for a
        method without width) and ``accuracy`` (and ``replicate``, counted in the title).
    path : str, Path or binary file
        Where the figure goes (its folder must exist; the suffix names the format:
        ``.png``, ``.pdf``, ``.svg``), or a file opened for writing.
    colors : mapping, optional
        Method → colour; defaults to :func:`default_colors` in order of appearance.
    chance : mapping, optional
        Dataset → the accuracy of guessing (1/k).

    Returns
    -------
    Path
    """
    names = list(dict.fromkeys(table["method"]))
    colors = dict(colors) if colors is not None else default_colors(names)
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = _figure(len(datasets), 3.8)
    widths = sorted(set(table["width"].dropna().astype(int)))
    span = (widths[0], widths[-1]) if widths else (1.0, 2.0)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = table[table["dataset"] == dataset]
        for method in names:
            _accuracy_line(ax, rows[rows["method"] == method], colors[method], method)
        guess = chance.get(dataset) if chance is not None else None
        low, high, drawn = _accuracy_range(rows["accuracy"].astype(float), guess)
        if drawn:
            ax.axhline(guess, color="0.3", ls=":", lw=1.4, label="chance (1/k)", zorder=1)
        ax.set_xscale("log", base=2)
        ax.set_xlim(span[0] / 1.3, span[1] * 1.3)
        ax.xaxis.set_major_locator(FixedLocator(widths))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(low, high)
        ax.set_title(dataset if guess is None else f"{dataset} (chance {_fraction(guess)})")
        ax.set_xlabel("width d (features or hidden units)")
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    replicates = table["replicate"].nunique() if "replicate" in table else 1
    statistic = (f"median of {replicates} replicates, band: min–max" if replicates > 1
                 else "one replicate")
    fig.suptitle(f"held-out accuracy against the width d ({statistic})", fontweight="bold")
    return save_png(fig, path)


def _fraction(p: float) -> str:
    """``1/k`` when ``p`` is one, else a percentage."""
    k = round(1 / p) if p > 0 else 0
    return f"1/{k}" if k and math.isclose(p, 1 / k) else f"{p:.1%}"


def _accuracy_range(accuracy: pd.Series, chance: float | None) -> tuple[float, float, bool]:
    """The y range of an accuracy panel, and whether chance is drawn on it.

    The data's range, at least 0.1 tall, widened to chance when chance lies in it or
    less than 0.35 of its height outside (else chance is not drawn), with a margin
    of 6 % of the height each side (so a line at 1 stays clear of the top border).
    """
    finite = accuracy[np.isfinite(accuracy)]
    high = float(finite.max()) if len(finite) else 1.0
    low = min(float(finite.min()) if len(finite) else 0.0, high - 0.1)
    near = 0.35 * (high - low)
    drawn = chance is not None and low - near <= chance <= high + near
    if drawn:
        low, high = min(low, chance), max(high, chance)
    pad = 0.06 * (high - low)
    return low - pad, high + pad, drawn


def save_png(fig: Figure, path: str | Path | BinaryIO | Capture
             ) -> Path | BinaryIO | Capture:
    """Write ``fig`` in the format its path's suffix names (PNG, PDF, SVG; PNG without a
    suffix), to a binary file opened for writing, or into a
    :class:`~approx.experiment.figstyle.Capture`; return it
    (:func:`~approx.experiment.figstyle.save_figure`)."""
    return save_figure(fig, path)


def _accuracy_line(ax: Axes, runs: pd.DataFrame, colour: str, method: str) -> None:
    """One method's median accuracy against width with its min–max band; a horizontal
    line for a method without width."""
    if runs.empty:
        return
    if runs["width"].isna().all():
        ax.axhline(runs["accuracy"].median(), color=colour, ls="--", lw=1.6,
                   label=f"{method} (no width)", zorder=4)  # dashed: lines under it show
        return
    s = runs.groupby("width")["accuracy"].agg(["median", "min", "max"]).sort_index()
    ax.plot(s.index, s["median"], "o-", ms=3.5, color=colour, label=method)
    ax.fill_between(s.index, s["min"], s["max"], color=colour, alpha=0.15, lw=0)


def _legend(fig: Figure, axes: list[Axes]) -> None:
    """One legend for the figure, below the panels."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=min(len(handles), 5),
        frameon=False,
    )


@dataclass(frozen=True)
class RegionPanel:
    """Which fit a panel of :func:`plot_regions` shows, stated in its title.

    Attributes
    ----------
    sample : Sample
        The samples of the fit's replicate (drawn, and the held-out ones scored).
    width : int or None
        The fit's width d (None: a method without width).
    replicate : int
        The replicate shown.
    accuracy : float
        Its held-out accuracy (as recorded).
    median : float
        The median held-out accuracy over the ``replicates`` at that width (the
        tables' statistic).
    replicates : int
    """

    sample: Sample
    width: int | None
    replicate: int
    accuracy: float
    median: float
    replicates: int

    def describe(self, method: str) -> str:
        """The panel's title: the method, d, the replicate and its accuracy."""
        d = "no width" if self.width is None else f"d = {self.width}"
        same = math.isclose(self.accuracy, self.median, rel_tol=0, abs_tol=1e-12)
        statistic = (f", the median of {self.replicates}" if same and self.replicates > 1
                     else f"; median of {self.replicates}: {self.median:.1%}"
                     if self.replicates > 1 else "")
        return (f"{method}, {d}\nreplicate {self.replicate}: {self.accuracy:.1%} held out"
                f"{statistic}")


@styled
def plot_regions(
    sample: Sample,
    models: Mapping[str, Model],
    path: str | Path | BinaryIO,
    *,
    colors: Mapping[str, str] | None = None,
    resolution: int = 240,
    panels: Mapping[str, RegionPanel] | None = None,
) -> Path | BinaryIO:
    """Decision regions of each model on one dataset, training samples on top.

    The regions are filled and their boundaries drawn as contours of the logits'
    differences (interpolated between grid points, so they do not staircase); the
    panels, at most 3 a row, leave no cell empty.

    Parameters
    ----------
    sample : Sample
        The dataset the models were fitted to; its training points are drawn and its
        held-out points score each panel (unless ``panels`` says otherwise).
    models : mapping
        Method → model mapping ``X`` of shape (m, 2) to logits of shape (m, k), e.g. the
        fits at the largest width.
    path : str, Path or binary file
        Where the figure goes (its folder must exist; the suffix names the format:
        ``.png``, ``.pdf``, ``.svg``), or a file opened for writing.
    colors : mapping, optional
        Method → colour of the panel's frame; defaults to :func:`default_colors`.
    resolution : int
        Grid points per axis.
    panels : mapping, optional
        Method → the :class:`RegionPanel` its model is: its samples, width, replicate and
        accuracies, stated in the panel's title.

    Returns
    -------
    Path
    """
    colors = dict(colors) if colors is not None else default_colors(list(models))
    panels = dict(panels or {})
    samples = [panels[m].sample if m in panels else sample for m in models]
    bounds = _union(s.bounds() for s in samples)
    fig, axes = _figure(len(models), 3.4)
    for ax, (method, model), shown in zip(axes, models.items(), samples, strict=True):
        _regions_panel(ax, shown, model, bounds, resolution)
        if method in panels:
            title = panels[method].describe(method)
        else:
            accuracy = evaluate(model, shown.X_test, shown.y_test).accuracy
            title = f"{method}: {accuracy:.1%} held out"
        ax.set_title(title, fontsize=9, color=colors[method])
        for spine in ax.spines.values():
            spine.set_color(colors[method])
            spine.set_linewidth(1.6)
    fig.suptitle(f"{sample.name}: decision regions (boundaries black), training samples "
                 "on top", fontweight="bold")
    return save_png(fig, path)


def _union(bounds: Iterable[tuple[float, float, float, float]]) -> tuple[float, ...]:
    """The smallest box holding every ``(x1_min, x1_max, x2_min, x2_max)``."""
    b = np.array(list(bounds))
    return (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max())


def _regions_panel(ax: Axes, sample: Sample, model: Model,
                   bounds: tuple[float, ...], resolution: int) -> None:
    """The model's decision regions on a grid over ``bounds``, the training samples on
    top, each class in its colour.

    Class c is predicted where ``s_c = logit_c − max_{j≠c} logit_j > 0``: each region is
    filled as the contour ``s_c ≥ 0`` and its boundary drawn as ``s_c = 0`` (the last
    class's boundary is the others').
    """
    palette = class_colors(sample.classes)
    x1 = np.linspace(bounds[0], bounds[1], resolution)
    x2 = np.linspace(bounds[2], bounds[3], resolution)
    grid = np.stack(np.meshgrid(x1, x2), axis=-1).reshape(-1, 2)
    with np.errstate(all="ignore"):
        logits = np.nan_to_num(np.asarray(model(grid), dtype=float), posinf=1e300,
                               neginf=-1e300)
    k = logits.shape[1]
    for c in range(k):
        others = np.delete(logits, c, axis=1).max(axis=1) if k > 1 else -np.inf
        with np.errstate(all="ignore"):
            margin = np.clip(logits[:, c] - others, -1e300, 1e300).reshape(resolution, -1)
        if margin.max() <= 0:
            continue  # class c is predicted nowhere on the grid
        ax.contourf(x1, x2, margin, levels=[0, margin.max()], colors=[palette[c % len(palette)]],
                    alpha=0.35, antialiased=True)
        if c < k - 1 and margin.min() < 0:
            ax.contour(x1, x2, margin, levels=[0], colors="black", linewidths=0.9)
    ax.scatter(
        sample.X_train[:, 0],
        sample.X_train[:, 1],
        s=9,
        lw=0.4,
        c=[palette[c] for c in sample.y_train],
        edgecolors="black",
        zorder=3,
    )
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
