"""approx.core.orphans.sigint_ignored: SIGINT ignored inside, restored after (an error
included), untouched off the main thread."""

from __future__ import annotations

import signal
import threading

import pytest

from approx.core.orphans import sigint_ignored


def test_sigint_is_ignored_inside_and_restored_after_even_on_an_error():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError), sigint_ignored():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        raise RuntimeError("spawn failed")
    assert signal.getsignal(signal.SIGINT) is before


def test_off_the_main_thread_nothing_changes():
    seen = []

    def spawn() -> None:
        with sigint_ignored():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=spawn)
    thread.start()
    thread.join()
    assert seen == [before]
