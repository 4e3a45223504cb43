"""Figures of the classification task, from tidy rows and fitted models.

- ``accuracy.png`` (:func:`plot_accuracy`): held-out accuracy against the width d, a
  panel per dataset, a line per method (median over replicates, min–max band); a method
  without width (``linear``) is a horizontal line at its median, and chance (1/k) is
  dotted;
- ``regions_<dataset>.png`` (:func:`plot_regions`): the decision regions of each method
  on a grid around the data, the training samples on top (lecture 1.1: a linear
  classifier cuts the plane into k convex regions).

Matplotlib's Agg backend and explicit Axes only: a bare :class:`~matplotlib.figure.Figure`
per plot, drawn in the project's style (:mod:`approx.experiment.figstyle`) and written in
the format its file name asks, so no pyplot state is shared between figures.
Each method keeps the colour given in ``colors`` (by default tab10 in order of first
appearance), and each class keeps one colour in every region plot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from approx.experiment.figstyle import Capture, save_figure, styled
from approx.methods.classifiers import decision_regions, evaluate
from approx.problems.datasets import Sample

__all__ = [
    "class_colors", "default_colors", "plot_accuracy", "plot_regions", "save_png",
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
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(size * cols, size * rows + 0.6), layout="constrained", dpi=110)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


@styled
def plot_accuracy(
    table: pd.DataFrame,
    path: str | Path | BinaryIO,
    *,
    colors: Mapping[str, str] | None = None,
    chance: Mapping[str, float] | None = None,
) -> Path | BinaryIO:
    """Held-out accuracy against d, a panel per dataset.

    Parameters
    ----------
    table : DataFrame
        One row per run with columns ``dataset``, ``method``, ``width`` (missing for a
        method without width) and ``accuracy``.
    path : str, Path or binary file
        Where the figure goes (its folder must exist; the suffix names the format:
        ``.png``, ``.pdf``, ``.svg``), or a file opened for writing.
    colors : mapping, optional
        Method → colour; defaults to :func:`default_colors` in order of appearance.
    chance : mapping, optional
        Dataset → the accuracy of guessing (1/k), drawn dotted.

    Returns
    -------
    Path
    """
    names = list(dict.fromkeys(table["method"]))
    colors = dict(colors) if colors is not None else default_colors(names)
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = _figure(len(datasets), 3.6)
    widths = table["width"].dropna()
    span = (widths.min(), widths.max()) if len(widths) else (1.0, 2.0)
    for ax, dataset in zip(axes, datasets, strict=True):
        rows = table[table["dataset"] == dataset]
        for method in names:
            _accuracy_line(ax, rows[rows["method"] == method], colors[method], method)
        if chance is not None and dataset in chance:
            ax.axhline(chance[dataset], color="0.45", ls=":", lw=1.2, label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xlim(span[0] / 1.2, span[1] * 1.2)
        ax.set_ylim(min(0.4, float(rows["accuracy"].min()) - 0.05), 1.02)
        ax.set_title(dataset)
        ax.set_xlabel("width d (features or hidden units)")
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    return save_png(fig, path)


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
        ax.axhline(runs["accuracy"].median(), color=colour, ls="--", lw=1.6, label=method)
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


@styled
def plot_regions(
    sample: Sample,
    models: Mapping[str, Model],
    path: str | Path | BinaryIO,
    *,
    colors: Mapping[str, str] | None = None,
    resolution: int = 200,
) -> Path | BinaryIO:
    """Decision regions of each model on one dataset, training samples on top.

    Parameters
    ----------
    sample : Sample
        The dataset the models were fitted to; its training points are drawn and its
        held-out points score each panel.
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

    Returns
    -------
    Path
    """
    colors = dict(colors) if colors is not None else default_colors(list(models))
    fig, axes = _figure(len(models), 3.2, ncols=4)
    for ax, (method, model) in zip(axes, models.items(), strict=True):
        _regions_panel(ax, sample, model, resolution)
        accuracy = evaluate(model, sample.X_test, sample.y_test).accuracy
        ax.set_title(f"{method}: {accuracy:.1%} held out", fontsize=9, color=colors[method])
        for spine in ax.spines.values():
            spine.set_color(colors[method])
            spine.set_linewidth(1.6)
    fig.suptitle(f"{sample.name}: decision regions, training samples on top")
    return save_png(fig, path)


def _regions_panel(ax: Axes, sample: Sample, model: Model, resolution: int) -> None:
    """The model's decision regions on a grid around the data, the training samples on
    top, each class in its colour."""
    palette = class_colors(sample.classes)
    bounds = sample.bounds()
    x1, x2, labels = decision_regions(model, bounds, resolution)
    ax.pcolormesh(
        x1,
        x2,
        labels,
        cmap=mcolors.ListedColormap(palette),
        vmin=-0.5,
        vmax=sample.classes - 0.5,
        alpha=0.35,
        shading="nearest",
        rasterized=True,
    )
    ax.scatter(
        sample.X_train[:, 0],
        sample.X_train[:, 1],
        s=9,
        lw=0.4,
        c=[palette[c] for c in sample.y_train],
        edgecolors="black",
    )
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
