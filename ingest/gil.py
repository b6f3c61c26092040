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
from collections.abc import Iterator
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
