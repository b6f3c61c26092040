"""A shorter GIL switch interval for processes that mostly move events into PostgreSQL.

A writer thread that waits on the server (a round trip, a COPY whose socket buffer is full)
releases the GIL; when the answer comes it must win the GIL back from a thread that is busy
decoding and checking the next batch, and CPython hands it over only after the switch
interval (5 ms by default). With about ten round trips per batch that stall is longer than the
server's own work, and the server sits idle meanwhile. 0.5 ms keeps both sides busy; the cost
is a few more thread switches (measured in bench/ingest.py).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

INGEST_SWITCH_INTERVAL = 0.0005


@contextmanager
def short_switch_interval(seconds: float = INGEST_SWITCH_INTERVAL) -> Iterator[None]:
    """Run the block with at most `seconds` as the switch interval, then restore it."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


_held: list[float] = []  # the interval before the first holder, while any holds it
_lock = threading.Lock()


def hold_short_switch_interval(seconds: float = INGEST_SWITCH_INTERVAL) -> Callable[[], None]:
    """Shorten the switch interval until the returned function is called (for objects that
    live longer than a block, such as an SDK logger); holders nest, the last one restores."""
    with _lock:
        _held.append(sys.getswitchinterval())
        sys.setswitchinterval(min(_held[-1], seconds))
    released = False

    def release() -> None:
        nonlocal released
        with _lock:
            if released:
                return
            released = True
            first = _held[0]
            _held.pop()
            if not _held:
                sys.setswitchinterval(first)

    return release
