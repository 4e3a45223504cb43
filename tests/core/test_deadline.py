"""Time limits: check() raises only inside an expired time_limit block."""

import time

import pytest

from approx.core import deadline


def test_check_is_free_outside_a_time_limit():
    deadline.check()
    assert deadline.remaining() is None


def test_check_raises_after_the_limit_and_not_before():
    with deadline.time_limit(60.0):
        deadline.check()
        assert 0 < deadline.remaining() <= 60.0
    with deadline.time_limit(0.01):
        time.sleep(0.02)
        with pytest.raises(deadline.DeadlineExceeded, match=r"0\.01 s"):
            deadline.check()
    deadline.check()  # the limit ended with its block


def test_nested_limits_keep_the_earlier_deadline():
    with deadline.time_limit(0.01), deadline.time_limit(100.0):
        assert deadline.remaining() <= 0.01
        time.sleep(0.02)
        with pytest.raises(deadline.DeadlineExceeded):
            deadline.check()


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_bad_limits_are_refused(seconds):
    with pytest.raises(ValueError, match="must be > 0"), deadline.time_limit(seconds):
        pass
