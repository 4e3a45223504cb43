"""Every run of a budget sweep against the best one-hidden-layer net of the same budget.

A ``1 → d → 1`` net has ``3d + 1`` parameters, so at a budget ``P`` the widest
one-hidden-layer net has ``d = ⌊(P − 1)/3⌋`` units, and an ``optimal-pwl`` method in a
budget sweep runs at exactly that width: its runs bracket the best error any
one-hidden-layer ReLU net within the budget can reach (``info_lower``, a rigorous lower
bound; its certified ``max_error_upper``, reached by the net it returns). Each run of the
sweep belongs to the smallest budget that holds its ``n_params`` (the budget it was
sized for: a method runs at the largest width whose model fits each budget, so a run
that also fits a smaller budget is that budget's run too). :func:`with_shallow_optimum`
gives every row of the runs table the bracket at its budget and
``gap_to_shallow_optimum = max_error / shallow_optimum_lower``: below 1, the run beats
every one-hidden-layer net with at most as many parameters as its budget (it may have
fewer itself, never more), the question of depth at equal parameters.

A sweep without ``budgets`` or without an ``optimal-pwl`` method pays nothing: its table
has none of these columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from approx.experiment import bracket
from approx.experiment.config import Config

__all__ = ["COLUMNS", "KIND", "applies", "budget_of", "with_shallow_optimum"]

#: the method kind whose runs give the brackets
KIND = bracket.KIND
#: the columns the runs table gains
COLUMNS = ("budget", "shallow_optimum_lower", "shallow_optimum_upper",
           "gap_to_shallow_optimum")


def applies(config: Config) -> bool:
    """Whether the runs table of ``config`` gains the columns (a budget sweep with an
    ``optimal-pwl`` method, approximating)."""
    return (config.task.name == "approximation" and bool(config.budgets)
            and any(m.kind == KIND for m in config.methods))


def budget_of(n_params: pd.Series, budgets: tuple[int, ...]) -> np.ndarray:
    """The smallest of ``budgets`` that holds each ``n_params`` (NaN where none does, or
    ``n_params`` is missing)."""
    levels = np.sort(np.asarray(budgets, dtype=float))
    n = pd.to_numeric(n_params, errors="coerce").to_numpy(dtype=float)
    index = np.searchsorted(levels, np.nan_to_num(n, nan=np.inf), side="left")
    out = np.full(n.shape, np.nan)
    fits = np.isfinite(n) & (index < levels.size)
    out[fits] = levels[index[fits]]
    return out


def with_shallow_optimum(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """``table`` with each row's ``budget`` and the bracket of the best one-hidden-layer
    net within it (module docstring): float columns, NaN where there is none (a budget
    whose ``optimal-pwl`` run did not finish ok, or a run that fits no budget).

    Parameters
    ----------
    table : DataFrame
        The runs table (columns ``target``, ``kind``, ``status``, ``n_params``,
        ``max_error``, ``max_error_upper`` and, for the ``optimal-pwl`` runs,
        ``info_lower``).
    config : Config
        The sweep's config (its ``budgets``).
    """
    budget = budget_of(table["n_params"], config.budgets)
    out = bracket.with_bracket(table, {"target": table["target"], "budget": budget},
                               COLUMNS[1:])
    out.insert(len(table.columns), "budget", budget)
    return out
