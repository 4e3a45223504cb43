"""approx.train._lp: linear programs through scipy's HiGHS binding give linprog's points
bit for bit and fail where linprog fails; the row helpers against scipy.sparse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import linprog

from approx.train import _lp


def _linprog(cost, A, b, bounds, A_eq=None, b_eq=None, tol=None):
    eq = {} if A_eq is None else {"A_eq": A_eq, "b_eq": b_eq}
    options = {} if tol is None else {"primal_feasibility_tolerance": tol,
                                      "dual_feasibility_tolerance": tol}
    res = linprog(cost, A_ub=A, b_ub=b, bounds=bounds, method="highs", options=options, **eq)
    return res.x if res.status == 0 else None


def _program(seed: int, m: int, n: int, density: float, with_eq: bool, boxed: bool):
    """A random minimax-like program: min t with |A x − r| ≤ t rows, some columns boxed."""
    rng = np.random.default_rng(seed)
    J = sparse.random(m, n, density=density, random_state=rng, format="csr")
    J.data = rng.standard_normal(J.data.size)
    ones = sparse.csr_matrix(np.ones((m, 1)))
    A = sparse.vstack([sparse.hstack([J, -ones]), sparse.hstack([-J, -ones])]).tocsr()
    r = rng.standard_normal(m)
    b = np.concatenate([r, -r])
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    bounds = np.tile([-np.inf, np.inf], (n + 1, 1))
    if boxed:
        width = rng.uniform(0.1, 2.0, n)
        bounds[:-1] = np.c_[-width, width]
    bounds[-1] = (0.0, np.inf)
    eq = {}
    if with_eq:
        row = np.zeros((1, n + 1))
        row[0, rng.choice(n, size=min(n, 3), replace=False)] = rng.choice([-1.0, 1.0], min(n, 3))
        eq = {"A_eq": row, "b_eq": np.zeros(1)}
    return cost, A, b, bounds, eq


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 60), n=st.integers(1, 25),
       density=st.floats(0.05, 1.0), with_eq=st.booleans(), boxed=st.booleans(),
       tol=st.sampled_from([None, 1e-9, 1e-10]))
def test_the_same_points_as_linprog(seed, m, n, density, with_eq, boxed, tol):
    cost, A, b, bounds, eq = _program(seed, m, n, density, with_eq, boxed)
    expected = _linprog(cost, A, b, bounds, tol=tol, **eq)
    got = _lp.solve(cost, A, b, bounds, tolerance=tol, **eq)
    assert (got is None) == (expected is None)
    if got is not None:
        np.testing.assert_array_equal(got, expected)


def test_the_same_points_from_rows_built_by_hand():
    cost, A, b, bounds, eq = _program(7, 40, 12, 0.3, True, True)
    J = _lp.rows(A)
    assert np.array_equal(_lp.solve(cost, J, b, bounds, **eq),
                          _linprog(cost, A, b, bounds, **eq))


def test_infeasible_and_unbounded_programs_fail():
    # x ≤ −1 and x ≥ 1
    assert _lp.solve(np.ones(1), np.array([[1.0], [-1.0]]), np.array([-1.0, -1.0]),
                     [(None, None)]) is None
    # min −x, x ≥ 0 unbounded above
    assert _lp.solve(-np.ones(1), np.array([[-1.0]]), np.zeros(1), [(0.0, None)]) is None
    # the bounds contradict each other
    assert _lp.solve(np.ones(2), np.array([[1.0, 1.0]]), np.ones(1),
                     [(1.0, 0.0), (0.0, 1.0)]) is None
    # an equality no point within the bounds meets
    assert _lp.solve(np.ones(2), np.array([[1.0, 0.0]]), np.ones(1), [(0.0, 1.0)] * 2,
                     A_eq=np.array([[1.0, 1.0]]), b_eq=np.array([5.0])) is None
    # and a feasible one next to them is solved: min x + y, x + y ≥ 1 → 1
    x = _lp.solve(np.ones(2), np.array([[-1.0, -1.0]]), -np.ones(1), [(0.0, None)] * 2)
    assert x is not None and x.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("field", ["cost", "matrix", "rhs", "eq"])
def test_non_finite_data_refused_as_linprog_refuses_it(field):
    cost, A, b = np.ones(2), np.array([[1.0, 2.0]]), np.ones(1)
    A_eq, b_eq = np.array([[1.0, -1.0]]), np.zeros(1)
    if field == "cost":
        cost[0] = np.nan
    elif field == "matrix":
        A[0, 1] = np.inf
    elif field == "rhs":
        b[0] = np.inf
    else:
        b_eq[0] = np.nan
    with pytest.raises(ValueError):
        linprog(cost, A_ub=A, b_ub=b, A_eq=A_eq, b_eq=b_eq, method="highs")
    with pytest.raises(ValueError):
        _lp.solve(cost, A, b, [(0.0, 1.0)] * 2, A_eq=A_eq, b_eq=b_eq)


def _dense(rows: _lp.Rows) -> np.ndarray:
    return sparse.csr_matrix((rows.data, rows.indices, rows.indptr),
                             shape=(rows.nrows, rows.ncols)).toarray()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(0, 12), n=st.integers(1, 8),
       scale=st.sampled_from([1.0, -1.0, 2.5]), border=st.sampled_from([None, -1.0, 3.0]))
def test_take_and_stack_as_dense_arrays(seed, m, n, scale, border):
    rng = np.random.default_rng(seed)
    M = sparse.random(m, n, density=0.4, random_state=rng, format="csr")
    keep = rng.random(m) < 0.5
    got = _dense(_lp.take(_lp.rows(M), keep, scale, border))
    expected = scale * M.toarray()[keep]
    if border is not None:
        expected = np.c_[expected, np.full(int(keep.sum()), border)]
    np.testing.assert_array_equal(got, expected)
    wide = np.ones((2, n + 2))
    stacked = _dense(_lp.stack(_lp.rows(M), _lp.rows(wide)))
    np.testing.assert_array_equal(stacked, np.r_[np.c_[M.toarray(), np.zeros((m, 2))], wide])


def test_dense_rows_leave_zeros_out():
    rows = _lp.rows(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]))
    assert rows.indptr.tolist() == [0, 1, 1, 3]
    assert rows.indices.tolist() == [1, 0, 2] and rows.data.tolist() == [2.0, 1.0, -1.0]


def test_this_scipys_binding_is_the_one_used():
    assert _lp._binding() is not None, "the binding's probe failed: linprog runs every program"


@pytest.mark.parametrize("seed", range(4))
def test_without_the_binding_linprog_gives_the_same_points(seed, monkeypatch):
    cost, A, b, bounds, eq = _program(seed, 40, 8, 0.5, seed % 2 == 0, seed < 2)
    through = _lp.solve(cost, A, b, bounds, eq.get("A_eq"), eq.get("b_eq"))
    monkeypatch.setattr(_lp, "_binding", lambda: None)
    _lp._solved().clear()  # (else the binding's solution, kept, comes back)
    by_linprog = _lp.solve(cost, _lp.rows(A), b, bounds,
                           None if not eq else _lp.rows(eq["A_eq"]), eq.get("b_eq"))
    assert through is not None
    np.testing.assert_array_equal(by_linprog, through)


class _Renamed:
    """A binding whose interface changed: the model class under another name."""

    def __init__(self, core):
        self._Highs, self.MatrixFormat = core._Highs, core.MatrixFormat
        self.HighsStatus, self.HighsModelStatus = core.HighsStatus, core.HighsModelStatus
        self.HighsModel = core.HighsLp  # (not HighsLp)


def test_a_binding_with_another_interface_is_not_used():
    core = _lp._binding()
    assert _lp._works(core)
    assert not _lp._works(_Renamed(core))
    assert not _lp._works(object())
    # the probe leaves this thread's solver as it was: programs still solve
    cost, A, b, bounds, _ = _program(0, 20, 4, 0.5, False, False)
    np.testing.assert_array_equal(_lp.solve(cost, A, b, bounds), _linprog(cost, A, b, bounds))


def test_a_program_met_again_is_not_solved_again(monkeypatch):
    cost, A, b, bounds, eq = _program(3, 30, 6, 0.5, True, True)
    calls = []
    solve = _lp._by_binding
    monkeypatch.setattr(_lp, "_by_binding", lambda *a: (calls.append(1), solve(*a))[1])
    _lp._solved().clear()
    first = _lp.solve(cost, A, b, bounds, **eq)
    first[0] += 1.0  # the caller's copy
    again = _lp.solve(cost, A, b, bounds, **eq)
    assert len(calls) == 1
    np.testing.assert_array_equal(again, _linprog(cost, A, b, bounds, **eq))
    _lp.solve(cost, A, b, bounds, **eq, tolerance=1e-9)  # another program: solved
    b = b.copy()
    b[0] = np.nextafter(b[0], np.inf)
    _lp.solve(cost, A, b, bounds, **eq)  # one bit of data changed: solved
    assert len(calls) == 3


def test_the_solutions_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(_lp, "KEPT", 3)
    _lp._solved().clear()
    for seed in range(5):
        cost, A, b, bounds, _ = _program(seed, 10, 3, 0.5, False, False)
        _lp.solve(cost, A, b, bounds)
    assert len(_lp._solved()) == 3


def _cycling():
    """A program of the exchange (flattop (1 − 4x² + |1 − 4x²|)/2 at d = 256, 515
    columns, 1553 rows) on which HiGHS's dual simplex after presolve cycles: 600 000
    iterations in 20 s and on; without presolve it solves in 0.03 s."""
    data = np.load(Path(__file__).parent / "data" / "cycling_lp.npz")
    A = _lp.Rows(data["indptr"], data["indices"], data["data"], int(data["ncols"]))
    return data["cost"], A, data["b_ub"], data["bounds"], float(data["tol"])


@pytest.mark.parametrize("binding", [True, False])
def test_a_program_the_dual_simplex_cycles_on_is_solved_again_without_presolve(
        binding, monkeypatch):
    cost, A, b, bounds, tol = _cycling()
    if not binding:
        monkeypatch.setattr(_lp, "_binding", lambda: None)
    _lp._solved().clear()
    x = _lp.solve(cost, A, b, bounds, tolerance=tol)
    assert x is not None
    dense = sparse.csr_matrix((A.data, A.indices, A.indptr), shape=(A.nrows, A.ncols))
    reference = linprog(cost, A_ub=dense, b_ub=b, bounds=bounds, method="highs-ipm")
    assert reference.status == 0
    assert abs(cost @ x - reference.fun) <= 2 * tol
    assert np.all(dense @ x - b <= _lp.CHECK)
    if binding:  # (the solver kept for the next program has its presolve back)
        assert _lp._highs(_lp._binding()).getOptionValue("presolve")[1] == "on"
