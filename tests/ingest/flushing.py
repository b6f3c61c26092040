"""Waiting for an SDK logger's flush in tests, and saying what held it up when it does not end.

A flush's timeout is no assertion about speed. Flushes have overrun 60 s while the host stopped
running this machine (the kernel logged workqueue lockups), and a 250-event replay overran 30 s
while the other worker built a detection-quality world. So a flush gets 120 s more, and only then
fails, with the logger's counters, its threads' stacks, the database's sessions, the CPU time the
host stole and the machine's I/O pressure: enough to tell a stalled machine from a hang.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import pytest


def sessions(db):
    """This database's other sessions: what each is doing or waiting on (for a failure's
    message, so a replay that did not finish says what held it up)."""
    with db.admin() as s:
        return s.execute(
            "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS in_xact,"
            " left(query, 80) AS query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).rows


def flushed(logger, db, timeout: float) -> None:
    """Flush, or fail saying what held it up: the counters, this database's sessions and
    where each of the logger's threads stands (a flush that hangs without a database error
    has been seen only under load, and only its stacks can say where)."""
    steal_before = _steal_ticks()
    # A stall of the whole machine (the host not running this VM for up to a minute, logged by
    # the kernel as a workqueue lockup) is not a hang: such flushes finished given 120 s more.
    if logger.flush(timeout) or logger.flush(120):
        return
    frames = sys._current_frames()
    stacks = {
        t.name: "".join(traceback.format_stack(frames[t.ident])[-6:])
        for t in logger._threads
        if t.ident in frames
    }
    where = (
        f"{logger.counters}; queued {len(logger._queue)}, busy {logger._busy}, spool dirty"
        f" {logger._spool_dirty}; sessions: {sessions(db)}; threads: {stacks}"
    )
    pytest.fail(
        f"flush({timeout}) did not finish, nor in 120 s more: {where}; ticks stolen by the"
        f" host since the flush began: {_steal_ticks() - steal_before}; I/O pressure:"
        f" {_io_pressure()}"
    )


def _steal_ticks() -> int:
    """The machine's CPU time taken by its host (the `steal` column of /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return -1


def _io_pressure() -> str:
    """The kernel's I/O pressure figures (how long tasks waited on the disk), where it has them."""
    try:
        return Path("/proc/pressure/io").read_text().replace("\n", "; ").strip("; ")
    except OSError:
        return "unknown"
