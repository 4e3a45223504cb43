"""Why a one-hidden-layer ReLU net falls short: its breakpoints and its error's extrema.

``diagnostics_<target>.png`` (a sweep with a ``trained`` method; the first
:data:`~approx.experiment.tasks.PER_TARGET_FIGURES` targets) has a row per method whose
saved models are ``1 → d → 1`` ReLU nets (trained nets, the constructions, an optimum),
each for replicate 0 at the middle of that method's widths (the fits figure's middle
column), drawn from the store alone (the saved models, nothing refitted):

- left, the net's breakpoints inside the domain as a cumulative distribution (the
  fraction of them left of ``x``) against the free-knot optimum's asymptotic knot
  density ``∝ |f''|^{1/2}``, normalised (its cumulative mass), and uniform knots' (grey);
  the title gives the largest gap between the two cumulatives (a Kolmogorov distance)
  and the units that add no breakpoint inside (:func:`approx.analysis.diagnostics.unit_counts`);
- right, the error ``f − f̂`` on the domain, ``±ε`` dashed, and its alternating extrema
  within :data:`~approx.analysis.diagnostics.ALTERNATION_TOL` of ``ε`` marked (red
  positive, blue negative): the best approximation with ``d`` breakpoints
  equioscillates at about ``2d + 3`` of them; a net with fewer loses where its error
  stays below the dashed lines. In green, what the best net of that width reaches: the
  certified bracket ``[optimum_lower, optimum_upper]`` where the table has it (a sweep
  with an optimum method), else the free-knot optimum's asymptotic level
  ``(∫|f''|^{1/2})² / (16 (d + 1)²)`` (:func:`~approx.analysis.diagnostics.free_knot_level`,
  an estimate); the extrema beyond it are where the net loses.

:func:`plot_diagnostics` draws the same for one run of a folder, to a path of your choosing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from approx.analysis import diagnostics
from approx.core.status import RunStatus
from approx.experiment.config import Config
from approx.experiment.results import load_model
from approx.experiment.store import Store, StoreError
from approx.models import load_model as load_model_file
from approx.problems.targets import Target

__all__ = ["diagnostics_figure", "plot_diagnostics"]

#: the method kind whose presence makes a sweep draw ``diagnostics_<target>.png``
TRAINED = "trained"


def _middle(widths: list[int]) -> int:
    """The middle of the sorted distinct widths (the lower one of two middles)."""
    widths = sorted(set(widths))
    return widths[(len(widths) - 1) // 2]


#: a row of the figure: the method's name, the width, the net, and the bracket of the
#: optimum at that width when the table has one (``optimum_lower``, ``optimum_upper``)
Row = tuple[str, int, Any, tuple[float, float] | None]


def _bracket(run: pd.Series) -> tuple[float, float] | None:
    """The run's ``(optimum_lower, optimum_upper)`` if the table has finite ones."""
    pair = tuple(float(run.get(c, np.nan)) for c in ("optimum_lower", "optimum_upper"))
    return pair if all(np.isfinite(pair)) else None  # type: ignore[return-value]


def _nets(table: pd.DataFrame, config: Config, target_name: str, folder: Path) -> list[Row]:
    """A :data:`Row` for each method whose replicate-0 run at its middle width is ok,
    saved and a ``1 → d → 1`` ReLU net, in the config's order."""
    rows = table[(table["target"] == target_name) & (table["status"] == RunStatus.OK)
                 & (table["replicate"] == 0) & table["model_file"].notna()]
    nets = []
    for method in config.methods:
        runs = rows[rows["method"] == method.name]
        runs = runs[[(folder / f).is_file() for f in runs["model_file"]]]
        if runs.empty:
            continue
        width = _middle(runs["width"].astype(int).tolist())
        run = runs[runs["width"] == width].iloc[0]
        model = load_model_file(folder / run["model_file"])
        if diagnostics.is_shallow_relu(model):
            nets.append((method.name, width, model, _bracket(run)))
    return nets


def _density_panel(ax: Axes, target: Target, net: Any, colour: str,
                   density: diagnostics.KnotDensity | None) -> None:
    """Cumulative breakpoints inside the domain against the optimal density's."""
    a, b = target.domain
    tau = diagnostics.breakpoints_inside(net, target.domain)
    counts = diagnostics.unit_counts(net, target.domain)
    ax.plot([a, b], [0, 1], color="0.6", lw=1, ls="--", label="uniform knots")
    gap = np.nan
    if density is not None:
        nodes = np.linspace(a, b, density.cdf.size)
        ax.plot(nodes, density.cdf, color="black", lw=1.6, alpha=0.7,
                label=r"optimal: $\propto |f''|^{1/2}$, cumulative")
        if tau.size:
            steps = np.arange(1, tau.size + 1) / tau.size
            expected = np.interp(tau, nodes, density.cdf)
            gap = float(max(np.max(np.abs(steps - expected)),
                            np.max(np.abs(steps - 1 / tau.size - expected))))
    if tau.size:
        ax.step(np.r_[a, tau, b], np.r_[0, np.arange(1, tau.size + 1) / tau.size, 1],
                where="post", color=colour, lw=1.3, label="the net's breakpoints")
        ax.plot(tau, np.zeros_like(tau), "|", color=colour, ms=8, alpha=0.6)
    ax.set(xlim=(a, b), ylim=(-0.03, 1.02), xlabel="x",
           ylabel="fraction of breakpoints left of x")
    ax.set_title(f"{counts.inside} breakpoints inside, max cdf gap {gap:.2g}\n"
                 f"wasted units: {counts.zero} zero weight, {counts.outside} outside, "
                 f"{counts.merged} merged", fontsize=9)
    ax.grid(True, alpha=0.3)


def _error_panel(ax: Axes, target: Target, row: Row,
                 density: diagnostics.KnotDensity | None, colour: str) -> None:
    """The error curve, ±ε, the optimum's level, and the alternating extrema near ε."""
    _, width, net, bracket = row
    x, e = diagnostics.error_curve(target, net)
    alt = diagnostics.alternation(x, e)
    ax.plot(x, e, color=colour, lw=0.9)
    for level in (alt.max, -alt.max):
        ax.axhline(level, color="0.4", ls="--", lw=0.8)
    if bracket is not None:
        for sign in (1, -1):
            ax.axhspan(sign * bracket[0], sign * bracket[1], color="seagreen", alpha=0.35,
                       label="the optimum at width d: certified bracket")
    elif density is not None:
        level = diagnostics.free_knot_level(density, width)
        for sign in (1, -1):
            ax.axhline(sign * level, color="seagreen", lw=1.2, ls=":",
                       label=r"free-knot optimum's level $(\int|f''|^{1/2})^2/(16(d+1)^2)$")
    positive = alt.error > 0
    ax.plot(alt.x[positive], alt.error[positive], "o", ms=4, color="firebrick",
            label=f"alternating extrema within {diagnostics.ALTERNATION_TOL:.0%} of ε")
    ax.plot(alt.x[~positive], alt.error[~positive], "o", ms=4, color="royalblue")
    ax.set(xlim=target.domain, xlabel="x", ylabel=r"error $f - \hat f$")
    ax.set_title(f"ε = {alt.max:.3g}: {alt.count} alternating "
                 f"{'extremum' if alt.count == 1 else 'extrema'} near ε "
                 f"(the optimum: about {2 * width + 3})", fontsize=9)
    ax.grid(True, alpha=0.3)


def _draw(nets: list[Row], target: Target, title: str, colours: dict[str, str]) -> Figure:
    """A row per net: the density and the error panels."""
    fig = Figure(figsize=(11.0, 3.3 * len(nets) + 0.9), layout="constrained", dpi=110)
    grid = fig.subplots(len(nets), 2, squeeze=False,
                        gridspec_kw={"width_ratios": [2, 3]})
    density = diagnostics.optimal_density(target)
    for row, (left, right) in zip(nets, grid, strict=True):
        method, width, net, _ = row
        colour = colours.get(method, "tab:blue")
        _density_panel(left, target, net, colour, density)
        _error_panel(right, target, row, density, colour)
        left.text(-0.28, 0.5, f"{method}\nd = {width}", transform=left.transAxes,
                  rotation=90, va="center", ha="center", fontweight="bold",
                  color=colour)
    handles = {}
    for ax in grid.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=min(len(handles), 3), frameon=False)
    fig.suptitle(title.replace("$", r"\$"), fontweight="bold")
    return fig


def diagnostics_figure(table: pd.DataFrame, config: Config, target_name: str,
                       folder: Path, colours: dict[str, str]) -> Figure | None:
    """The diagnostics figure of one target of a sweep (module docstring).

    Returns
    -------
    Figure or None
        None when the sweep has no ``trained`` method, or no method has a saved ok
        ``1 → d → 1`` ReLU net of replicate 0 for this target.
    """
    if not any(m.kind == TRAINED for m in config.methods):
        return None
    nets = _nets(table, config, target_name, folder)
    if not nets:
        return None
    spec = next(t for t in config.targets if t.name == target_name)
    target = spec.build()
    a, b = target.domain
    return _draw(nets, target, f"{target_name}: {target.description} on [{a:g}, {b:g}]: "
                 "where the one-hidden-layer nets' breakpoints and errors are", colours)


def plot_diagnostics(folder: str | Path, run_id: str, path: str | Path) -> Path:
    """Draw the diagnostics of one run of a results folder to ``path``.

    Parameters
    ----------
    folder : path
        A results folder (finished, or still being written).
    run_id : str
        The run (``runs.csv``'s ``run_id``): a ``1 → d → 1`` ReLU net of an
        approximation sweep.
    path : path
        Where to write the figure (its suffix picks the format: ``.png``, ``.pdf``,
        ``.svg``); a file of yours, not one of the folder's artefacts.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    StoreError
        If the folder has no such run, its model is missing, or it is no
        ``1 → d → 1`` ReLU net (one line).
    """
    model = load_model(folder, run_id)
    if not diagnostics.is_shallow_relu(model):
        raise StoreError(f"run {run_id!r} is no 1 → d → 1 ReLU net: no diagnostics to draw")
    with Store.view(Path(folder)) as store:
        config = store.config()
        row = store.table(config).set_index("run_id").loc[run_id]
    spec = next(t for t in config.targets if t.name == row[config.task.subject])
    target = spec.build()
    width = int(row["width"])
    fig = _draw([(str(row["method"]), width, model, _bracket(row))], target,
                f"{run_id}: {target.description}", {})
    fig.savefig(Path(path))
    return Path(path)
