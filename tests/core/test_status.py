"""Run statuses: one enum whose values are the strings stores have always held."""

import pickle
import sqlite3

import pytest

from approx.core.status import RunStatus

#: every status a results store or runs.csv holds, as written before the enum existed
STORED = {"ok", "error", "killed", "timeout", "diverged", "non-finite", "stalled"}
#: the statuses retried on resume before the enum (``experiment.store.TRANSIENT``)
OLD_TRANSIENT = {"error", "killed"}


def test_values_are_the_stored_strings():
    assert {s.value for s in RunStatus} == STORED
    for text in STORED:
        status = RunStatus(text)
        assert status == text and str(status) == text and f"{status}" == text
        assert hash(status) == hash(text)  # a dict keyed by the text finds the enum


def test_transient_matches_the_old_set():
    assert {s.value for s in RunStatus if s.transient} == OLD_TRANSIENT


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="not a valid RunStatus"):
        RunStatus("failed")


@pytest.mark.parametrize("status", list(RunStatus))
def test_sqlite_and_pickle_see_the_plain_string(status):
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE runs (status TEXT NOT NULL)")
        db.execute("INSERT INTO runs VALUES (?)", (status,))
        assert db.execute("SELECT typeof(status), status FROM runs").fetchone() == (
            "text", status.value
        )
    assert pickle.loads(pickle.dumps(status)) is status
