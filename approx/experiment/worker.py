"""Fit and measure one run: the work a worker process does.

Kept apart from the runner so a spawned worker imports only what fitting needs
(numpy, scipy, the library), not pandas, sqlite or matplotlib.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from approx import methods, metrics
from approx.experiment.config import Run, TargetSpec
from approx.models import save_model
from approx.targets import Target

__all__ = ["Result", "execute", "exit_with"]


@dataclass
class Result:
    """What one run produced.

    Attributes
    ----------
    run : Run
        The run's identity and seed.
    status : str
        ``"ok"``; ``"error"`` when fitting or measuring raised; ``"non-finite"`` when the
        max error is not finite; otherwise the status the method itself reported.
    message : str
        Why the status is not ok (empty when it is).
    n_params : int or None
        Free scalars of the fitted model.
    max_error, max_error_at, l2_error : float
        Sup-norm error attained (a lower bound of the sup), where, and the L2 error (an
        estimate); NaN when not measured.
    max_error_upper : float
        A rigorous upper bound of the sup-norm error (``inf`` when none could be had).
    max_error_tight : bool or None
        True when ``[max_error, max_error_upper]`` met the enclosure's tolerance, False
        when the work cap stopped it first (the bound is then wider, still rigorous).
    fit_seconds, eval_seconds : float
        Wall time of the fit and of the error measurements.
    info : dict
        The method's extra scalar facts.
    history : ndarray of shape (steps,) or None
        Training loss per recorded step.
    model_file : str or None
        The saved model's path relative to the results folder.
    """

    run: Run
    status: str = "ok"
    message: str = ""
    n_params: int | None = None
    max_error: float = float("nan")
    max_error_at: float = float("nan")
    max_error_upper: float = float("nan")
    max_error_tight: bool | None = None
    l2_error: float = float("nan")
    fit_seconds: float = float("nan")
    eval_seconds: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    history: NDArray[np.float64] | None = None
    model_file: str | None = None


@cache
def _blas() -> ThreadpoolController:
    """One controller per process: finding the loaded BLAS libraries costs about a ms."""
    return ThreadpoolController()


@cache
def _target(spec: TargetSpec) -> Target:
    """Targets hold closures that do not pickle, so each process builds (and keeps) its own."""
    return spec.build()


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """Round-trip ``info`` through JSON so numpy scalars become plain Python values."""
    return json.loads(json.dumps(info, default=lambda v: np.asarray(v).tolist()))


def execute(run: Run, folder: Path) -> Result:
    """Fit ``run``, measure its errors and save its model under ``folder/models/``.

    Never raises for a failed fit: the failure is the result's status and message.
    """
    result = Result(run)
    target = _target(run.target)
    # the last bits of a BLAS result depend on its thread count: one thread in every
    # process keeps a run's numbers the same in-process and in a pool of any size
    with _blas().limit(limits=1, user_api="blas"):
        return _execute(run, target, folder, result)


def _execute(run: Run, target: Target, folder: Path, result: Result) -> Result:
    try:
        rng = np.random.default_rng(run.seed)
        start = time.perf_counter()
        fit = methods.fit(run.method.kind, target, run.width, rng, **run.method.kwargs)
        result.fit_seconds = time.perf_counter() - start
        result.n_params = int(fit.n_params)
        result.info = _jsonable(fit.info)
        if fit.history is not None:
            result.history = np.asarray(fit.history, dtype=np.float64)
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            worst = metrics.max_error_at(target, fit.model)
            result.max_error, result.max_error_at = float(worst.value), float(worst.x)
            result.max_error_upper, result.max_error_tight = float(worst.upper), worst.tight
            result.l2_error = float(metrics.l2_error(target, fit.model))
        result.eval_seconds = time.perf_counter() - start
        result.model_file = _save(fit.model, folder, run.run_id)
    except Exception as e:  # a failed run is data, not a crash of the sweep
        result.status, result.message = "error", f"{type(e).__name__}: {e}"
        return result
    if fit.status != "ok":
        result.status, result.message = fit.status, fit.message
    elif not np.isfinite(result.max_error):
        result.status, result.message = "non-finite", f"max error is {result.max_error}"
    return result


def _save(model: Any, folder: Path, run_id: str) -> str:
    """Write the model atomically (temporary file, then rename); return its relative path."""
    relative = Path("models") / f"{run_id}.npz"
    # the pid keeps an orphaned worker and a resumed sweep off each other's temporary file
    tmp = folder / "models" / f"{run_id}.{os.getpid()}.tmp.npz"
    save_model(tmp, model)
    os.replace(tmp, folder / relative)
    return relative.as_posix()


def exit_with(parent: int) -> None:
    """Worker initializer: end this worker when the sweep's process dies (even by SIGKILL).

    An orphaned worker would otherwise wait for work forever.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
