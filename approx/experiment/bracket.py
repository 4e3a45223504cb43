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

import numpy as np
import pandas as pd

from approx.core.status import RunStatus

__all__ = ["COLUMNS", "FILE", "KIND", "OPTIMUM_HEADER", "brackets", "has_optimum", "with_optimum"]

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
    found = brackets(table)[["target", "width", "optimum_lower", "optimum_upper"]]
    keys = pd.DataFrame({"target": table["target"],
                         "width": pd.to_numeric(table["width"], errors="coerce")})
    found = found.astype({"width": float})
    merged = keys.merge(found, on=["target", "width"], how="left")
    out = table.copy()
    lower = merged["optimum_lower"].to_numpy(dtype=float)
    out["optimum_lower"] = lower
    out["optimum_upper"] = merged["optimum_upper"].to_numpy(dtype=float)
    error = pd.to_numeric(table["max_error"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        out["gap_to_optimum"] = np.where(lower > 0, error / lower, np.nan)
    return out
