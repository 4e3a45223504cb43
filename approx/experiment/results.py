"""A results folder from a notebook: the runs table and the fitted models, in one line.

:func:`load_results` gives the tidy table ``runs.csv`` is written from (the columns are
listed in the README's "Columns of runs.csv"), :func:`load_model` a run's fitted model.
Both read the store read-only and without the folder's lock
(:meth:`~approx.experiment.store.Store.view`), so they work while a sweep is writing
the folder: each call sees the runs recorded so far, and never holds the sweep up.
Both are also ``approx.load_results`` and ``approx.load_model``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from approx import models
from approx.core import validate
from approx.experiment.safe_files import FolderError
from approx.experiment.store import Store, StoreError

__all__ = ["load_model", "load_results"]


def load_results(folder: str | Path) -> pd.DataFrame:
    """The runs recorded in a results folder so far, one tidy row each.

    Parameters
    ----------
    folder : path
        A results folder (``results/<name>/`` or a sweep's ``--out``), finished or
        still being written by a running sweep.

    Returns
    -------
    DataFrame
        The table ``runs.csv`` is written from (same columns, same order, the rows in
        the config's order); a sweep that has recorded nothing yet gives no rows.

    Raises
    ------
    StoreError
        If ``folder`` holds no store, its store holds no sweep yet, or it cannot be
        read (one line).

    Examples
    --------
    >>> import approx
    >>> runs = approx.load_results("results/quickstart")  # doctest: +SKIP
    >>> runs.groupby(["target", "method"])["max_error"].min()  # doctest: +SKIP
    """
    with Store.view(Path(folder)) as store:
        return store.table(store.config())


def load_model(folder: str | Path, run: str | Mapping[str, Any]) -> models.Model:
    """The fitted model of one run of a results folder.

    Parameters
    ----------
    folder : path
        A results folder (finished or still being written).
    run : str or row
        The run's id (the ``run_id`` column: ``<target>.<method>.d<width>.r<replicate>``),
        or a row of :func:`load_results` (anything with a ``"run_id"`` item).

    Returns
    -------
    Model
        The model as the sweep saved it (``models/<run id>.npz``); its outputs are the
        ones the run's errors were measured on.

    Raises
    ------
    StoreError
        If the folder has no such run, the run saved no model (it failed before one
        existed), or the model file has gone or cannot be read (one line).
    """
    run_id = run if isinstance(run, str) else str(run["run_id"])
    folder = Path(folder)
    with Store.view(folder) as store:
        recorded = store.recorded()
        if run_id not in recorded:
            hint = validate.did_you_mean(run_id, recorded)
            raise StoreError(
                f"{folder} has no run {run_id!r}; {hint}its run ids are the run_id column "
                "of load_results(folder)"
            )
        status, relative = recorded[run_id]
        if relative is None:
            raise StoreError(
                f"run {run_id!r} of {folder} has no saved model (its status is {status})"
            )
        try:
            data = store.root.read(relative)
        except FolderError as e:  # a link or a FIFO where the model goes
            raise StoreError(str(e)) from None
        except ValueError:  # a name outside the folder's own: a damaged store
            raise StoreError(f"{folder} is damaged: run {run_id!r} names its model file "
                             f"{relative!r}") from None
        except OSError as e:
            raise StoreError(f"cannot read the model of run {run_id!r}: {e}") from None
    if data is None:
        raise StoreError(
            f"the model file of run {run_id!r}, {folder / relative}, has gone; rerun the "
            "sweep to refit it"
        )
    try:
        return models.load_model(io.BytesIO(data))
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
        raise StoreError(f"{folder / relative} is not a readable model ({e})") from None
