"""Parts the approximation figures of :mod:`approx.experiment.plots` share.

- the two groups of methods drawn on panels of their own, so the y range of one does not
  crush the other (:func:`method_groups`): ReLU nets and piecewise-linear constructions,
  whose ε falls like d⁻², and smooth bases (polynomials, splines, Fourier features), whose
  ε falls to rounding;
- a figure legend built from keys of what was drawn (:class:`Keys`), never of what
  was not;
- clipping of outliers to an axis with a marker (:func:`clip_marked`), and the upper
  envelope of a densely oscillating curve (:func:`envelope`);
- the phases of a training history (:func:`history_phases`): which optimizer and
  objective each entry belongs to, as ``info_phases`` of ``runs.csv`` records them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

__all__ = [
    "GROUPS",
    "Keys",
    "Phase",
    "clip_marked",
    "envelope",
    "group_of",
    "history_phases",
    "method_groups",
    "objective_label",
    "robust_top",
    "steps_label",
]

#: the groups of methods, in the order their panels are drawn: key → panel title
GROUPS = {
    "relu": "ReLU nets and constructions",
    "smooth": "smooth bases",
}
#: method kinds whose models are ReLU nets or piecewise-linear ReLU constructions (and
#: trained nets of any activation: their ε is of the same order)
_RELU_KINDS = frozenset({"relu-interpolant", "trained", "sawtooth", "optimal-pwl"})


def group_of(method: Any) -> str:
    """``"relu"`` for ReLU nets, constructions and trained nets (and random ReLU
    features), ``"smooth"`` for the others (Chebyshev, splines, Fourier features)."""
    if method.kind in _RELU_KINDS:
        return "relu"
    if method.kind == "random-features" and method.kwargs.get("features") == "relu":
        return "relu"
    return "smooth"


def method_groups(methods: Any) -> dict[str, list[Any]]:
    """The methods by group, in :data:`GROUPS` order, only the groups that have some."""
    groups: dict[str, list[Any]] = {key: [] for key in GROUPS}
    for method in methods:
        groups[group_of(method)].append(method)
    return {key: members for key, members in groups.items() if members}


@dataclass
class Keys:
    """The legend of a figure: methods by colour, then one key per kind of mark drawn.

    A key is added by the code that draws its mark, when it draws it, so the legend
    never explains what the figure does not show.
    """

    methods: dict[str, Artist] = field(default_factory=dict)
    marks: dict[str, Artist] = field(default_factory=dict)

    def method(self, name: str, colour: str) -> None:
        """Key a method's colour (once)."""
        self.methods.setdefault(name, Line2D([], [], color=colour, lw=1.6))

    def mark(self, label: str, **style: Any) -> None:
        """Key a kind of mark (a :class:`~matplotlib.lines.Line2D` of ``style``; once)."""
        self.marks.setdefault(label, Line2D([], [], **style))

    def patch(self, label: str, artist: Artist) -> None:
        """Key a kind of mark by a ready artist (a band's patch; once)."""
        self.marks.setdefault(label, artist)

    def draw(self, fig: Figure, caption: str | None = None) -> None:
        """The legend below the panels (methods first), ``caption`` as its title."""
        entries = {**self.methods, **self.marks}
        if not entries:
            return
        legend = fig.legend(
            list(entries.values()), list(entries), loc="outside lower center",
            # entries run to about 4.5 inches: as many columns as the figure has room for
            ncol=max(1, min(len(entries), 3, int(fig.get_figwidth() // 4.6))),
            frameon=False, fontsize=8.5, title=caption,
            title_fontsize=8.5,
        )
        legend.get_title().set_multialignment("center")


def clip_marked(ax: Axes, x: NDArray[np.float64], y: NDArray[np.float64], top: float,
                colour: str, keys: Keys) -> NDArray[np.float64]:
    """``y`` with the values above ``top`` set to ``top``, each drawn there as a ▲."""
    above = np.isfinite(y) & (y > top) | np.isposinf(y)
    if above.any():
        ax.plot(x[above], np.full(int(above.sum()), top), "^", ms=4, color=colour,
                zorder=5, clip_on=False)
        keys.mark("value above the axis, drawn at its top", marker="^", ls="none",
                  color="0.3", ms=5)
    return np.where(above, top, y)


def robust_top(values: list[NDArray[np.float64]], starts: list[float]) -> float:
    """The top of a log axis for training curves: 3× the larger of the curves' starting
    values and their 90th percentile, so spikes (up to a tenth of the entries) do not set
    the scale."""
    finite = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [np.empty(0)])
    if finite.size == 0:
        return 1.0
    level = max(float(np.quantile(finite, 0.9)),
                max((s for s in starts if math.isfinite(s)), default=0.0))
    return 3.0 * level


def envelope(x: NDArray[np.float64], y: NDArray[np.float64], bins: int
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The upper envelope of ``y`` (non-negative) over ``bins`` equal runs of points: each
    run's largest value at the run's middle ``x`` (NaN stays a gap)."""
    n = (y.size // bins) * bins
    if n == 0:
        return x, y
    runs = y[:n].reshape(bins, -1)
    with np.errstate(invalid="ignore"):
        top = np.where(np.isnan(runs).all(axis=1), np.nan, np.nanmax(
            np.where(np.isnan(runs), -np.inf, runs), axis=1))
    middle = x[:n].reshape(bins, -1).mean(axis=1)
    return middle, top


@dataclass(frozen=True)
class Phase:
    """A stretch of a training history: ``history[start:stop]``, minimised by
    ``optimizer`` on ``objective`` (``"mse"``, ``"L8"``, …; ``""`` when not recorded);
    ``widened`` when it starts the polish of a net grown to full width."""

    optimizer: str
    objective: str
    start: int
    stop: int
    widened: bool = False

    @property
    def key(self) -> str:
        """What a panel of the training figure holds: ``"<optimizer>:<objective>"``."""
        return f"{self.optimizer}:{self.objective}"


def history_phases(record: object, size: int, optimizer: object = None) -> list[Phase]:
    """The phases of a history of ``size`` entries from its record (``info_phases``,
    e.g. ``"adam:mse@0 lm:L8@2000"``); one phase of unknown objective when there is no
    record (runs recorded before phases were) or it does not parse."""
    fallback = [Phase(str(optimizer) if isinstance(optimizer, str) else "", "", 0, size)]
    if not isinstance(record, str) or not record.strip():
        return fallback
    marks: list[tuple[str, int]] = []
    try:
        for word in record.split():
            name, at = word.rsplit("@", 1)
            marks.append((name, int(at)))
    except ValueError:
        return fallback
    starts = sorted({at for _, at in marks} | {size})
    phases, widened = [], False
    for name, at in marks:
        if name == "widened":
            widened = True
            continue
        stop = min(s for s in starts if s > at) if at < size else size
        opt, _, objective = name.partition(":")
        if at < stop:
            phases.append(Phase(opt, objective, at, stop, widened))
        widened = False
    return phases or fallback


#: how each optimizer's history counts its entries (the x axis of its panel)
_STEPS = {
    "adam": "Adam steps",
    "sgd": "SGD steps",
    "lbfgs": "L-BFGS evaluations",
    "lm": "LM iterates since the polish began",
}


def steps_label(optimizer: str, epochs: bool = False) -> str:
    """The x label of a panel of ``optimizer``'s phases (``epochs``: mini-batches, one
    entry per epoch)."""
    if epochs and optimizer in ("adam", "sgd"):
        return f"{optimizer.upper() if optimizer == 'sgd' else 'Adam'} epochs"
    return _STEPS.get(optimizer, "recorded entries")


def objective_label(key: str) -> str:
    """The y label of a panel holding phases of ``key`` (``"adam:mse"``, ``"lm:L8"``)."""
    optimizer, _, objective = key.partition(":")
    who = {"adam": "Adam", "sgd": "SGD", "lbfgs": "L-BFGS", "lm": "LM"}.get(optimizer, optimizer)
    if objective == "mse":
        what = r"$\frac{1}{2m}\sum r^2$"
    elif objective.startswith("L"):
        what = rf"$\frac{{1}}{{{objective[1:]}m}}\sum |r|^{{{objective[1:]}}}$"
    elif objective:
        what = objective
    else:
        return f"{who}: training loss\n(objective not recorded)".strip(": ")
    return f"{who}: {what}\n(r on rescaled values)"
