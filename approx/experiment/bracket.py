"""The certified bracket of the best one-hidden-layer net beside every run of a sweep
that lists an ``optimal-pwl`` method.

Per (target, width), the ok ``optimal-pwl`` runs give ``optimum_lower`` (their fit's
``info_lower``: a rigorous lower bound of any width-d ReLU net's max error) and
``optimum_upper`` (their certified ``max_error_upper``: a width-d net reaches it); with
several such methods the tightest bracket is kept. Every row of the runs table at that
(target, width) gets both, and ``gap_to_optimum = max_error / optimum_lower`` (NaN
where there is no bracket or its lower end is 0). A sweep without an ``optimal-pwl``
method pays nothing: its table has none of these columns. ``optimum.csv`` holds the
brackets themselves, one row per (target, width).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from approx.core.status import RunStatus

__all__ = ["COLUMNS", "FILE", "KIND", "OPTIMUM_HEADER", "brackets", "has_optimum", "with_bracket",
           "with_optimum"]

#: the method kind whose runs give the brackets
KIND = "optimal-pwl"
#: the columns the runs table gains
COLUMNS = ("optimum_lower", "optimum_upper", "gap_to_optimum")
#: the artefact holding the brackets
FILE = "optimum.csv"
#: its first columns (how a file there is recognised as the sweep's)
OPTIMUM_HEADER = "target,width,optimum_lower,optimum_upper"
_FACTS = {"info_breakpoints": "breakpoints", "info_samples": "samples",
          "info_seconds_lower": "seconds_lower", "fit_seconds": "fit_seconds"}


def has_optimum(kinds: list[str]) -> bool:
    """Whether a sweep whose methods have ``kinds`` gets the bracket columns."""
    return KIND in kinds


def brackets(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (target, width) with an ok ``optimal-pwl`` run: ``target``, ``width``,
    ``optimum_lower``, ``optimum_upper``, ``ratio`` (``upper / lower - 1``), then the run's
    ``breakpoints`` (inside the domain), ``samples``, ``seconds_lower`` (the lower bound's)
    and ``fit_seconds`` (the whole fit's), and ``method`` (its name in the config)."""
    rows = table[(table["kind"] == KIND) & (table["status"] == RunStatus.OK)]
    if "info_lower" not in rows or not len(rows):
        columns = ["target", "width", "optimum_lower", "optimum_upper", "ratio",
                   *_FACTS.values(), "method"]
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({
        "target": rows["target"], "width": rows["width"].astype(int),
        "optimum_lower": pd.to_numeric(rows["info_lower"], errors="coerce"),
        "optimum_upper": pd.to_numeric(rows["max_error_upper"], errors="coerce"),
    })
    for column, name in _FACTS.items():
        frame[name] = rows[column] if column in rows else np.nan
    frame["method"] = rows["method"]
    keys = ["target", "width"]
    best = frame.groupby(keys, sort=False).agg(
        optimum_lower=("optimum_lower", "max"), optimum_upper=("optimum_upper", "min"))
    facts = frame.drop(columns=["optimum_lower", "optimum_upper"]).groupby(
        keys, sort=False).first()
    out = best.join(facts).reset_index()
    with np.errstate(all="ignore"):
        ratio = out["optimum_upper"] / out["optimum_lower"].where(out["optimum_lower"] > 0) - 1
    out.insert(4, "ratio", ratio)
    for name in ("breakpoints", "samples"):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("Int64")
    return out


def with_optimum(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the bracket of each row's (target, width) and its
    ``gap_to_optimum`` (float columns, NaN where there is none)."""
    keys = {"target": table["target"],
            "width": pd.to_numeric(table["width"], errors="coerce").astype(float)}
    return with_bracket(table, keys, COLUMNS)


def with_bracket(table: pd.DataFrame, keys: dict[str, Any],
                 columns: tuple[str, str, str]) -> pd.DataFrame:
    """``table`` with three float columns named by ``columns``: the tightest bracket of
    the ok ``optimal-pwl`` runs that share each row's ``keys`` (the largest of their
    ``info_lower``, the smallest of their ``max_error_upper``) and the row's
    ``max_error`` over that lower end; NaN where no such run has the value (or a key is
    NaN), and the ratio NaN where the lower end is not positive.

    The shape both comparisons share: :func:`with_optimum` keys on (target, width),
    :func:`approx.experiment.equal_params.with_shallow_optimum` on (target, budget).

    Parameters
    ----------
    table : DataFrame
        The runs table (``kind``, ``status``, ``max_error``, ``max_error_upper`` and,
        for the ``optimal-pwl`` runs, ``info_lower``).
    keys : dict
        Each key's name and its value on every row of ``table`` (arrays or Series of
        its length).
    columns : tuple of str
        The names of the lower end, the upper end and the ratio.
    """
    frame = pd.DataFrame({name: np.asarray(value) for name, value in keys.items()})
    ok = ((table["kind"] == KIND) & (table["status"] == RunStatus.OK)).to_numpy()
    lower = (_numbers(table["info_lower"]) if "info_lower" in table
             else np.full(len(table), np.nan))
    runs = frame[ok].assign(lower=lower[ok], upper=_numbers(table["max_error_upper"])[ok])
    best = runs.groupby(list(keys)).agg(lower=("lower", "max"), upper=("upper", "min"))
    found = best.reindex(pd.MultiIndex.from_frame(frame))
    low = found["lower"].to_numpy(dtype=float)
    out = table.copy()
    out[columns[0]] = low
    out[columns[1]] = found["upper"].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        out[columns[2]] = np.where(low > 0, _numbers(table["max_error"]) / low, np.nan)
    return out


def _numbers(column: pd.Series) -> np.ndarray:
    """``column`` as floats, NaN where it holds no number."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
