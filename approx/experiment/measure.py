"""Fit and measure one run of each task: what a worker computes, and its :class:`Result`.

:func:`approximate` fits a method to a target and measures its max error (certified
enclosure) and L2 error; :func:`classify` fits a classifier to a replicate's samples and
scores it on the held-out ones. Both fill the same :class:`Result`, whose status says
whether the numbers can be trusted. The process around them (time limits, a worker's
death) is :mod:`approx.experiment.worker`'s.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from approx import analysis, methods
from approx.analysis import diagnostics
from approx.certify import targets as certified
from approx.certify.adapters import finite_parameters
from approx.core import deadline
from approx.core.status import RunStatus
from approx.experiment.specs import DatasetSpec, Run, TargetSpec
from approx.problems.datasets import Sample
from approx.problems.targets import Target

__all__ = ["STALL_RATIO", "Result", "approximate", "classify", "constant_error", "target_scale"]

#: a trained run whose final training loss is above this fraction of its initial loss
#: learned nothing: status ``STALLED``
STALL_RATIO = 0.99


@dataclass
class Result:
    """What one run produced.

    Attributes
    ----------
    run : Run
        The run's identity and seed.
    status : RunStatus
        ``OK``; ``ERROR`` when fitting or measuring raised; ``TIMEOUT`` past the time
        limit; ``KILLED`` when the worker process died; ``NON_FINITE`` when the max error
        (or held-out loss) is not finite; ``STALLED`` when training did not lower the
        loss; otherwise the status the method itself reported (``DIVERGED``).
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
        True when ``max_error_upper - max_error ≤ 1e-9 · max_error`` (the rule of
        :mod:`approx.analysis.errors`); False otherwise (the bound is wider, still rigorous).
    tight_reason : str or None
        Why it is not tight (:data:`approx.analysis.errors.TIGHT_REASONS`: ``"rounding"``,
        ``"work cap"``, ``"no enclosure"``, ``"non-finite"``); empty when tight.
    degenerate : bool or None
        For an ok approximation run with a finite certified bound: True when
        ``max_error_upper`` is not below :func:`approx.certify.targets.constant_error`
        (a rigorous lower bound of the best constant's error), i.e. its certificate does
        not show the fit better than the constant ``(max f + min f) / 2``; the status
        stays ok. None otherwise (a failed run, no enclosure, classification).
    host, engine : str or None
        The host of the process that computed the run, and the engine it ran the
        run's training on (:func:`approx.experiment.provenance.run_engine`:
        ``"fused-numba"``, ``"fused-numpy"``, ``"layered"``, or ``""`` for a method that
        trains no net); set by the worker.
    target_scale : float
        An estimate of the target's max |f| (:func:`target_scale`), the reference of the
        rates' rounding floor; measured before the fit, so a failed fit has it too. NaN
        for classification, and for a run whose worker died before reporting.
    accuracy, test_loss : float
        A classifier's held-out accuracy and mean cross-entropy; NaN for approximation.
    fit_seconds, eval_seconds : float
        Wall time of the fit and of the error measurements.
    info : dict
        The method's extra scalar facts.
    history : ndarray of shape (steps,) or None
        Training loss per recorded step.
    arrays : dict of str to ndarray, or None
        The fitted model as plain arrays (``Model.to_arrays``), for the parent to save.
    model_file : str or None
        The saved model's path relative to the results folder (set by the parent).
    """

    run: Run
    status: RunStatus = RunStatus.OK
    message: str = ""
    n_params: int | None = None
    max_error: float = float("nan")
    max_error_at: float = float("nan")
    max_error_upper: float = float("nan")
    max_error_tight: bool | None = None
    tight_reason: str | None = None
    degenerate: bool | None = None
    l2_error: float = float("nan")
    target_scale: float = float("nan")
    accuracy: float = float("nan")
    test_loss: float = float("nan")
    fit_seconds: float = float("nan")
    eval_seconds: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    history: NDArray[np.float64] | None = None
    arrays: dict[str, NDArray[Any]] | None = None
    model_file: str | None = None
    host: str | None = None
    engine: str | None = None


@cache
def _target(spec: TargetSpec) -> Target:
    """Targets hold closures that do not pickle, so each process builds (and keeps) its own."""
    return spec.build()


@cache
def _sample(spec: DatasetSpec, seed: int) -> Sample:
    """A replicate's samples, drawn once per process (every method and width shares them)."""
    return spec.draw(seed)


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """Round-trip ``info`` through JSON so numpy scalars become plain Python values."""
    return json.loads(json.dumps(info, default=lambda v: np.asarray(v).tolist()))


def _record_fit(result: Result, fit: methods.Fit, start: float) -> None:
    """Fill the fit's time (since ``start``), size, facts and history; then check the deadline."""
    result.fit_seconds = time.perf_counter() - start
    result.n_params = int(fit.n_params)
    result.info = _jsonable(fit.info)
    if fit.history is not None:
        result.history = np.asarray(fit.history, dtype=np.float64)
    deadline.check()


def _settle(result: Result, fit: methods.Fit, start: float, score: float, what: str) -> None:
    """Record the evaluation's time (since ``start``) and the model's arrays, then the
    run's status: the fit's own, else ``non-finite`` when ``score`` (named ``what``) is
    not finite, else ``stalled`` when training did not move."""
    result.eval_seconds = time.perf_counter() - start
    result.arrays = fit.model.to_arrays()
    if fit.status != RunStatus.OK:
        result.status, result.message = RunStatus(fit.status), fit.message
    elif not np.isfinite(score):
        result.status, result.message = RunStatus.NON_FINITE, f"{what} is {score}"
    elif (stalled := _stalled(result.info)) is not None:
        result.status, result.message = RunStatus.STALLED, stalled


def target_scale(spec: TargetSpec) -> float:
    """An estimate of max |f| for a target entry (NaN if it no longer builds)."""
    try:
        return float(certified.scale(_target(spec)))
    except ValueError:
        return float("nan")


def constant_error(spec: TargetSpec) -> float:
    """A rigorous lower bound of the best constant's max error for a target entry
    (:func:`approx.certify.targets.constant_error`; NaN if it no longer builds)."""
    try:
        return float(certified.constant_error(_target(spec)))
    except ValueError:
        return float("nan")


def approximate(run: Run, result: Result) -> None:
    """Fit ``run``'s method to its target and measure the errors into ``result``."""
    target = _target(run.target)
    result.target_scale = target_scale(run.target)
    rng = np.random.default_rng(run.seed)
    start = time.perf_counter()
    fit = methods.fit(run.method.kind, target, run.width, rng, **run.method.kwargs)
    _record_fit(result, fit, start)
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        worst = analysis.max_error_at(target, fit.model)
        result.max_error, result.max_error_at = float(worst.value), float(worst.x)
        result.max_error_upper, result.max_error_tight = float(worst.upper), worst.tight
        result.tight_reason = worst.reason
        deadline.check()  # a status must not depend on a long phase that checks nowhere
        result.l2_error = float(analysis.l2_error(target, fit.model))
        deadline.check()
    overflow = _overflow(fit.model, worst)
    _settle(result, fit, start, math.nan if overflow else result.max_error, "max error")
    if overflow and result.status == RunStatus.NON_FINITE:
        result.message = overflow
    result.degenerate = _degenerate(result, run.target)
    _diagnose(result, target, fit.model)


def _diagnose(result: Result, target: Target, model: Any) -> None:
    """For a ``1 → d → 1`` ReLU net with finite weights, its wasted units
    (:func:`approx.analysis.diagnostics.unit_counts`) and, for an ok run, the alternating
    extrema of its error near the max (:func:`~approx.analysis.diagnostics.alternation`)
    as ``info`` facts: ``units_zero``, ``units_outside``, ``units_merged``,
    ``alternations`` (left out when the error curve cannot be evaluated)."""
    if not diagnostics.is_shallow_relu(model) or not finite_parameters(model):
        return
    counts = diagnostics.unit_counts(model, target.domain)
    result.info.update(units_zero=counts.zero, units_outside=counts.outside,
                       units_merged=counts.merged)
    if result.status == RunStatus.OK:
        try:  # a diagnostic never fails a measured run: left empty if it cannot be had
            with np.errstate(all="ignore"):
                curve = diagnostics.error_curve(target, model)
            result.info["alternations"] = diagnostics.alternation(*curve).count
        except (ValueError, ArithmeticError):
            pass
        deadline.check()


def _degenerate(result: Result, spec: TargetSpec) -> bool | None:
    """Whether an ok run's certified error is not below the best constant's (see
    :class:`Result`); None for a failed run or one without a finite certified bound."""
    if result.status != RunStatus.OK or not math.isfinite(result.max_error_upper):
        return None
    constant = constant_error(spec)
    if not math.isfinite(constant):
        return None
    return bool(result.max_error_upper >= constant)


def _overflow(model: Any, worst: analysis.MaxError) -> str | None:
    """Why a model's max error is no number, if it is for want of floats: its parameters
    overflowed (a construction from huge values), or its real function does."""
    if not finite_parameters(model):
        return (
            "the model's parameters (or the coefficients they define) are not finite: "
            "they overflowed while it was fitted"
        )
    if worst.value >= np.finfo(np.float64).max:
        return f"the model's error passes the largest float (upper bound {worst.upper})"
    return None


def classify(run: Run, result: Result) -> None:
    """Fit ``run``'s classifier to its replicate's samples and score it into ``result``."""
    from approx.methods import classifiers  # (a worker of approximation runs never needs it)

    assert run.sample_seed is not None  # set by expand for every classification run
    sample = _sample(run.target, run.sample_seed)
    rng = np.random.default_rng(run.seed)
    start = time.perf_counter()
    width = run.width if classifiers.get(run.method.kind).has_width else None
    fit = classifiers.fit(run.method.kind, sample, width, rng, **run.method.kwargs)
    _record_fit(result, fit, start)
    start = time.perf_counter()
    with np.errstate(all="ignore"):
        scores = classifiers.evaluate(fit.model, sample.X_test, sample.y_test)
    result.accuracy, result.test_loss = scores.accuracy, scores.loss
    _settle(result, fit, start, result.test_loss, "test loss")


def _stalled(info: dict[str, Any]) -> str | None:
    """The message for a training loss that never went below its start, else None."""
    loss, initial = info.get("loss"), info.get("initial_loss")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (loss, initial)):
        return None
    if loss > STALL_RATIO * initial:
        return (
            f"training loss ended at {loss:.4g}, above {STALL_RATIO:g} × its initial "
            f"{initial:.4g}: training did not learn (a step size, a budget or a start it "
            "cannot leave?)"
        )
    return None
