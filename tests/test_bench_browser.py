"""The browser benchmark cleans up when it is stopped: a SIGTERM unwinds it like an error, so
the database copy it made is dropped (Python's default would end it on the spot)."""

from __future__ import annotations

import os
import signal

import pytest

from bench.browser import unwound_on_terminate


def test_a_terminated_run_unwinds_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    unwound = []
    with pytest.raises(SystemExit) as stopped, unwound_on_terminate():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):  # the handler runs between bytecodes, at once
                pass
        finally:
            unwound.append(True)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert unwound == [True]
    assert signal.getsignal(signal.SIGTERM) is before
