"""The summary of a sweep's table: one row per subject and method.

An approximation sweep is summarized by ε at the largest width and the fitted
convergence rates (:func:`summarize_approximation`), a classification sweep by the
held-out accuracy at the largest width (:func:`summarize_classification`); each task
names its own (:attr:`approx.experiment.tasks.Task.summarize`).
"""

from __future__ import annotations

import pandas as pd

from approx import analysis
from approx.core.status import RunStatus

__all__ = ["summarize_approximation", "summarize_classification"]


def summarize_approximation(table: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: ε at the largest width and the fitted rates.

    Rates come from :func:`approx.analysis.rates.fit_rate` over the ok runs whose ε is
    tight (every replicate a point; a run whose enclosure is not tight is left out, and
    counted in ``not_tight``): power law and exponential, fitted only over the widths
    where ε still falls and above a rounding floor relative to max |f|
    (``target_scale``); ``fit`` says which describes the data better, or ``"none"`` when
    ε does not fall. ε at the largest width is the median over replicates of the ok runs
    there (tight or not).

    Parameters
    ----------
    table : DataFrame
        The runs, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        Columns target, method, kind, runs, failed, largest_width, max_error, rate
        (power-law slope), rate_exp (exponential slope per unit of width), fit,
        rate_points (the runs the rates were fitted on), not_tight (ok runs above the
        rounding floor left out of the fit because their ε is not tight). When the
        table has the optimum's bracket (a sweep with an ``optimal-pwl`` method), also
        optimum_lower, optimum_upper (the bracket at the row's largest width) and
        gap_to_optimum (the median of ε / optimum_lower there), after max_error.
    """
    keys = ["target", "method"]
    counts = table.groupby(keys, sort=False).agg(
        kind=("kind", "first"),
        runs=("status", "size"),
        failed=("status", lambda s: int((s != RunStatus.OK).sum())),
    )
    ok = table[table["status"] == RunStatus.OK]

    def rates(group: pd.DataFrame) -> pd.Series:
        scale = group["target_scale"].iloc[0] if "target_scale" in group else 1.0
        tight = group["max_error_tight"] if "max_error_tight" in group else None
        r = analysis.fit_rate(
            group["width"], group["max_error"], 1.0 if pd.isna(scale) else scale, tight
        )
        return pd.Series({"rate": r.power, "rate_exp": r.exponential, "fit": r.fit,
                          "rate_points": r.points, "not_tight": r.not_tight})

    used = ("width", "max_error", "target_scale", "max_error_tight")
    fitted = (
        ok.groupby(keys, sort=False)[[c for c in used if c in ok]].apply(rates)
        if len(ok)
        else pd.DataFrame(
            columns=["rate", "rate_exp", "fit", "rate_points", "not_tight"],
            index=pd.MultiIndex.from_tuples([], names=keys),
        )
    )
    largest = ok[ok["width"] == ok.groupby(keys, sort=False)["width"].transform("max")]
    at_largest = largest.groupby(keys, sort=False).agg(
        largest_width=("width", "first"), max_error=("max_error", "median")
    )
    if "optimum_lower" in largest:  # the bracket at each row's largest width
        bracket = largest.groupby(keys, sort=False).agg(
            optimum_lower=("optimum_lower", "first"), optimum_upper=("optimum_upper", "first"),
            gap_to_optimum=("gap_to_optimum", "median"))
        at_largest = at_largest.join(bracket)
    summary = counts.join(at_largest).join(fitted).reset_index()
    summary["fit"] = summary["fit"].fillna("none")
    for column in ("rate_points", "not_tight"):  # (no ok run: none used, none left out)
        summary[column] = summary[column].fillna(0)
    return summary.astype({"largest_width": "Int64", "rate_points": int, "not_tight": int})


def summarize_classification(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and method: held-out accuracy at the largest width, over replicates.

    Parameters
    ----------
    table : DataFrame
        The runs of a classification sweep, as returned by :func:`run_sweep`.

    Returns
    -------
    DataFrame
        Columns dataset, method, kind, runs, failed, largest_width (empty for a method
        without width), accuracy (median over the ok replicates there), accuracy_min,
        accuracy_max, test_loss (median).
    """
    keys = ["dataset", "method"]
    counts = table.groupby(keys, sort=False).agg(
        kind=("kind", "first"),
        runs=("status", "size"),
        failed=("status", lambda s: int((s != RunStatus.OK).sum())),
    )
    ok = table[table["status"] == RunStatus.OK]
    widest = ok["width"].fillna(0)
    largest = ok[widest == widest.groupby([ok[k] for k in keys], sort=False).transform("max")]
    at_largest = largest.groupby(keys, sort=False).agg(
        largest_width=("width", "first"),
        accuracy=("accuracy", "median"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        test_loss=("test_loss", "median"),
    )
    summary = counts.join(at_largest).reset_index()
    return summary.astype({"largest_width": "Int64"})


#: each task's summary, by the task's name
SUMMARIES = {
    "approximation": summarize_approximation,
    "classification": summarize_classification,
}
