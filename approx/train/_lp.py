"""Small linear programs solved by HiGHS as ``scipy.optimize.linprog(method="highs")``
solves them, without its wrapper's cost.

The exchange (:mod:`approx.train.exchange`) and Madsen's steps
(:mod:`approx.train.minimax`) solve about 25 programs of a few hundred rows each per
fit; ``linprog`` spends more time checking and converting its inputs, stacking sparse
blocks and setting options one by one than HiGHS spends solving. :func:`solve` hands
the rows to the HiGHS binding that scipy ships (``scipy.optimize._highspy._core``, the
same solver, version and options ``linprog`` uses: the same points, bit for bit) and
applies ``linprog``'s own checks: its refusal of non-finite data and its test of the
returned point, so a program it reports failed (infeasible, unbounded, iteration or
time limit, numerical trouble, a point off its constraints) is reported failed here;
past an iteration limit, which ``linprog`` does not set, a program is solved again
without presolve (:data:`ITERATIONS_PER_SIZE`: HiGHS's dual simplex can cycle).
Where that binding is absent (scipy before 1.15, or a later one that moved it) or does
not solve a program of one column as used here (a later one that changed it),
``linprog`` itself runs. A program met again (the same data, bit for bit) takes the
solution found the first time (:data:`KEPT`): HiGHS gives the same point again.

:class:`Rows` is a sparse matrix by rows (CSR arrays); :func:`rows`, :func:`take` and
:func:`stack` build the programs' constraint blocks from such arrays directly.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import threading
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: ``linprog``'s test of a returned point: bounds and constraints within
#: ``10 √tol`` with its default ``tol = 1e-9``
CHECK = 10.0 * np.sqrt(1e-9)
#: HiGHS's default feasibility tolerances (``linprog``'s when none is given)
DEFAULT_TOLERANCE = 1e-7
#: solutions kept per thread: a program met again is not solved again (HiGHS gives the
#: same point for the same program, bit for bit; the exchange meets two thirds of the
#: quickstart's programs more than once)
KEPT = 256

_local = threading.local()


class Rows(NamedTuple):
    """A sparse matrix by rows: row ``i`` holds ``data[indptr[i]:indptr[i + 1]]`` in the
    columns ``indices[indptr[i]:indptr[i + 1]]`` (no column twice in a row)."""

    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    data: Array
    ncols: int

    @property
    def nrows(self) -> int:
        return self.indptr.size - 1


def rows(matrix: Any) -> Rows:
    """``matrix`` (a scipy sparse matrix or a dense 2-d array) as :class:`Rows`; a dense
    array's zeros are left out, as ``linprog`` leaves them out."""
    if isinstance(matrix, Rows):
        return matrix
    if hasattr(matrix, "tocsr"):
        m = matrix.tocsr()
        return Rows(m.indptr.astype(np.int32), m.indices.astype(np.int32),
                    np.asarray(m.data, dtype=float), m.shape[1])
    dense = np.atleast_2d(np.asarray(matrix, dtype=float))
    r, c = np.nonzero(dense)
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(r, minlength=dense.shape[0]), out=indptr[1:])
    return Rows(indptr, c.astype(np.int32), dense[r, c], dense.shape[1])


def take(matrix: Rows, keep: NDArray[Any] | None = None, scale: float = 1.0,
         border: float | None = None) -> Rows:
    """The rows ``keep`` (a mask or indices; all if ``None``) of ``scale · matrix``,
    each given one more column, last, holding ``border`` (left empty if ``None``)."""
    counts = np.diff(matrix.indptr)
    chosen = np.arange(matrix.nrows) if keep is None else np.arange(matrix.nrows)[keep]
    counts = counts[chosen]
    starts = matrix.indptr[:-1][chosen]
    extra = 0 if border is None else 1
    indptr = np.zeros(chosen.size + 1, dtype=np.int32)
    np.cumsum(counts + extra, out=indptr[1:])
    # the source position of every kept entry, row by row
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    source = np.repeat(starts, counts) + offsets
    if border is None:
        return Rows(indptr, matrix.indices[source], scale * matrix.data[source],
                    matrix.ncols)
    slots = np.ones(int(indptr[-1]), dtype=bool)
    slots[indptr[1:] - 1] = False
    indices = np.full(slots.size, matrix.ncols, dtype=np.int32)
    data = np.full(slots.size, float(border))
    indices[slots], data[slots] = matrix.indices[source], scale * matrix.data[source]
    return Rows(indptr, indices, data, matrix.ncols + 1)


def stack(*blocks: Rows) -> Rows:
    """The blocks' rows one under another (``ncols`` the largest: a narrower block's
    missing columns are empty)."""
    ends = np.cumsum([0] + [int(b.indptr[-1]) for b in blocks[:-1]])
    shifted = [b.indptr[1:] + e for b, e in zip(blocks, ends, strict=True)]
    indptr = np.concatenate([np.zeros(1, dtype=np.int32), *shifted]).astype(np.int32)
    return Rows(indptr, np.concatenate([b.indices for b in blocks]).astype(np.int32),
                np.concatenate([b.data for b in blocks]), max(b.ncols for b in blocks))


@functools.cache
def _binding() -> Any:
    """scipy's HiGHS binding, or ``None`` where this scipy has none there or one whose
    interface differs from the one used here (:func:`_works`): ``linprog`` runs then."""
    try:
        from scipy.optimize._highspy import _core
    except ImportError:  # pragma: no cover - older or rearranged scipy
        return None
    return _core if _works(_core) else None


def _works(core: Any) -> bool:
    """Whether ``core`` solves a program of one column as this module uses it: min x
    subject to −x ≤ −1, at x = 1 (a private interface, which a later scipy may change)."""
    kept = getattr(_local, "highs", None)
    _local.highs = None  # (a solver of its own, not kept)
    try:
        x = _by_binding(core, np.ones(1), rows(np.array([[-1.0]])), np.array([-1.0]),
                        np.array([-np.inf]), np.array([[-np.inf, np.inf]]), 1,
                        DEFAULT_TOLERANCE)
    except Exception:  # another interface: missing names, other signatures
        return False
    finally:
        _local.highs = kept
    return x is not None and x.shape == (1,) and x[0] == 1.0


def _highs(core: Any) -> Any:
    """This thread's solver object, options set as ``linprog(method="highs")`` sets them."""
    h = getattr(_local, "highs", None)
    if h is None:
        h = core._Highs()
        for key, value in (("output_flag", False), ("log_to_console", False),
                           ("presolve", "on"), ("highs_debug_level", 0),
                           ("simplex_strategy", 1)):  # dual simplex, as linprog asks
            h.setOptionValue(key, value)
        _local.highs = h
    return h


def _finite(name: str, values: Array) -> None:
    if not np.isfinite(values).all():
        raise ValueError(f"linear program: {name} must be finite")


def _checked(x: Array, fun: float, row_value: Array, upper: Array, bounds: Array,
             n_ub: int) -> Array | None:
    """``x`` if it passes ``linprog``'s test of a returned point, else ``None``."""
    slack = upper - row_value
    if np.isnan(x).any() or np.isnan(fun) or np.isnan(slack).any():
        return None
    ok = ((x >= bounds[:, 0] - CHECK) & (x <= bounds[:, 1] + CHECK)).all()
    ok &= not (slack[:n_ub] < -CHECK).any() and not (np.abs(slack[n_ub:]) > CHECK).any()
    return x if ok else None


def solve(cost: Array, A_ub: Any, b_ub: Array, bounds: Any, A_eq: Any = None,
          b_eq: Array | None = None, tolerance: float | None = None) -> Array | None:
    """``min cost · x`` subject to ``A_ub x ≤ b_ub``, ``A_eq x = b_eq`` and
    ``bounds[:, 0] ≤ x ≤ bounds[:, 1]``, by HiGHS's dual simplex after presolve.

    Parameters
    ----------
    cost : ndarray
        The objective's coefficients, one per column.
    A_ub, A_eq : Rows, scipy sparse matrix or 2-d array
        The constraint rows (``A_eq`` may be ``None``).
    b_ub, b_eq : ndarray
        Their right-hand sides.
    bounds : array_like
        ``(lower, upper)`` per column; ``None``, NaN or ±inf for none.
    tolerance : float, optional
        HiGHS's primal and dual feasibility tolerances (default 1e-7).

    Returns
    -------
    ndarray or None
        The optimal point, or ``None`` wherever ``linprog`` reports a status other than
        0 (infeasible, unbounded, limit reached, numerical trouble).

    Raises
    ------
    ValueError
        Non-finite ``cost``, constraint coefficients or right-hand sides (as ``linprog``).
    """
    cost = np.asarray(cost, dtype=float)
    bounds = np.array(bounds, dtype=float).reshape(cost.size, 2)
    bounds[np.isnan(bounds[:, 0]), 0], bounds[np.isnan(bounds[:, 1]), 1] = -np.inf, np.inf
    upper = np.asarray(b_ub, dtype=float)
    A = rows(A_ub)
    lower = np.full(upper.size, -np.inf)
    if A_eq is not None:
        eq, b = rows(A_eq), np.asarray(b_eq, dtype=float)
        A, upper, lower = stack(A, eq), np.concatenate([upper, b]), np.concatenate([lower, b])
    for name, values in (("cost", cost), ("constraint matrix", A.data), ("right-hand side", upper)):
        _finite(name, values)
    core = _binding()
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    n_ub = np.asarray(b_ub).size
    key = _key(cost, A, upper, lower, bounds, n_ub, tol)
    solved = _solved()
    if key in solved:
        solved.move_to_end(key)
        x = solved[key]
    else:
        x = (_by_linprog(cost, A_ub, b_ub, bounds, A_eq, b_eq, tol) if core is None
             else _by_binding(core, cost, A, upper, lower, bounds, n_ub, tol))
        solved[key] = x
        if len(solved) > KEPT:
            solved.popitem(last=False)
    return None if x is None else x.copy()


def _key(cost: Array, A: Rows, upper: Array, lower: Array, bounds: Array, n_ub: int,
         tol: float) -> bytes:
    """A digest of everything a program's solution depends on."""
    h = hashlib.blake2b(digest_size=20)
    for a in (cost, A.indptr, A.indices, A.data, upper, lower, bounds):
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(repr((A.ncols, n_ub, float(tol))).encode())
    return h.digest()


def _solved() -> collections.OrderedDict[bytes, Array | None]:
    """This thread's last :data:`KEPT` solutions by :func:`_key`."""
    solved = getattr(_local, "solved", None)
    if solved is None:
        solved = _local.solved = collections.OrderedDict()
    return solved


def _by_binding(core: Any, cost: Array, A: Rows, upper: Array, lower: Array, bounds: Array,
                n_ub: int, tol: float) -> Array | None:
    """:func:`solve` through the binding ``core``: rows ``lower ≤ A x ≤ upper`` (the first
    ``n_ub`` one-sided)."""
    h = _highs(core)
    h.setOptionValue("primal_feasibility_tolerance", tol)
    h.setOptionValue("dual_feasibility_tolerance", tol)
    lp = core.HighsLp()
    lp.num_col_, lp.num_row_ = cost.size, upper.size
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, bounds[:, 0].copy(), bounds[:, 1].copy()
    lp.row_lower_, lp.row_upper_ = lower, upper
    matrix = lp.a_matrix_
    matrix.format_ = core.MatrixFormat.kRowwise
    matrix.num_col_, matrix.num_row_ = cost.size, upper.size
    matrix.start_, matrix.index_, matrix.value_ = A.indptr, A.indices, A.data
    error = core.HighsStatus.kError
    h.setOptionValue("simplex_iteration_limit", _iterations(cost.size, upper.size))
    if h.passModel(lp) == error or h.run() == error:
        return None
    if h.getModelStatus() == core.HighsModelStatus.kIterationLimit:  # cycling: again
        h.clearSolver()
        h.setOptionValue("presolve", "off")
        try:
            if h.run() == error:
                return None
        finally:
            h.setOptionValue("presolve", "on")
    if h.getModelStatus() != core.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    return _checked(np.array(solution.col_value), h.getInfo().objective_function_value,
                    np.array(solution.row_value), upper, bounds, n_ub)


#: simplex iterations a program may take: :data:`ITERATIONS_PER_SIZE` per row and
#: column, and :data:`ITERATIONS_FLOOR` more; past them it is solved again without
#: presolve (:func:`_by_binding`), and reported failed if that stops short too. The
#: fits' programs take under one iteration per row and column (the quickstart's
#: targets, |x|^1.5 and two cusps at d = 32 … 1024: at most 0.6); one of
#: (1 − 4x² + |1 − 4x²|)/2 at d = 256 (515 columns, 1553 rows) cycled in the dual
#: simplex, 600 000 iterations in 20 s and on, where without presolve it solves in
#: 0.03 s. (``linprog`` sets no limit: it would not have returned.)
ITERATIONS_PER_SIZE, ITERATIONS_FLOOR = 20, 1000


def _iterations(ncols: int, nrows: int) -> int:
    return ITERATIONS_PER_SIZE * (ncols + nrows) + ITERATIONS_FLOOR


def _by_linprog(cost: Array, A_ub: Any, b_ub: Array, bounds: Array, A_eq: Any,
                b_eq: Array | None, tol: float) -> Array | None:
    """:func:`solve` by ``scipy.optimize.linprog`` itself (iterations as
    :func:`_by_binding` limits them, and solved again without presolve past them)."""
    from scipy import sparse
    from scipy.optimize import linprog

    def matrix(m: Any) -> Any:
        return sparse.csr_matrix((m.data, m.indices, m.indptr), shape=(m.nrows, m.ncols)
                                 ) if isinstance(m, Rows) else m

    eq = {} if A_eq is None else {"A_eq": matrix(A_eq), "b_eq": b_eq}
    options = {"primal_feasibility_tolerance": tol, "dual_feasibility_tolerance": tol,
               "maxiter": _iterations(cost.size, np.asarray(b_ub).size + (
                   0 if b_eq is None else np.asarray(b_eq).size))}
    for presolve in (True, False):  # past the iteration limit (status 1): again, without
        res = linprog(cost, A_ub=matrix(A_ub), b_ub=b_ub, bounds=bounds, method="highs",
                      **eq, options={**options, "presolve": presolve})
        if res.status != 1:
            break
    return res.x if res.status == 0 else None
