"""The scan that turns stored events into leaf entries: one grouped query serves many seal
windows at once, for sealing and for verifying."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrity.canonical import apply_sql_settings
from integrity.leaf_index import entry_sql, order_entries
from integrity.seal_formats import SEAL_FORMAT
from sql.gateway import ScopedSession

# Entries of one organisation's events in [lo, hi), grouped by the seal window they fall in
# (bucket k: bounds[k-1] <= ingest_xid < bounds[k]) and by ``ingest_seq >> 16``, so one scan
# serves many seals in pieces of at most 65,536 events. OFFSET 0 keeps the subquery a scan
# target: PostgreSQL then computes the hashes in its parallel workers instead of above the
# Gather. Order inside a group is not guaranteed by SQL; `order_entries` restores it.
# It runs through the driver in single-row mode, not a server-side cursor: PostgreSQL never
# runs a DECLAREd cursor's query in parallel.
_WINDOWS_SQL = """
SELECT w.bucket, w.chunk, count(*) AS n,
       string_agg(w.entry, ''::bytea) AS entries,
       string_agg(w.idz, ''::bytea) AS ids,
       min(w.ingest_seq) AS first_seq, max(w.ingest_seq) AS last_seq,
       min(w.event_time) AS oldest, max(w.event_time) AS newest
  FROM (SELECT width_bucket(e.ingest_xid, CAST(%(bounds)s AS xid8[])) AS bucket,
               e.ingest_seq >> 16 AS chunk, e.ingest_seq, e.event_time,
               {entry} AS entry,
               convert_to(e.id, 'UTF8') || '\\x00'::bytea AS idz
          FROM audit_events e
         WHERE e.organization_id = %(org)s
           AND e.ingest_xid >= CAST(%(lo)s AS xid8) AND e.ingest_xid < CAST(%(hi)s AS xid8)
        OFFSET 0) w
 GROUP BY w.bucket, w.chunk
 ORDER BY w.bucket, w.chunk
"""
# Sealing and verifying are CPU-bound scans: JIT compilation of the long expression costs more
# than it saves; aggregating in memory avoids spilling sorts to disk; and the planner, which
# prices record_send and sha256 like any cheap function, must be told that handing rows from
# parallel workers is cheap next to hashing them, or it never hashes in parallel.
SCAN_SETTINGS = {"jit": "off", "work_mem": "64MB", "parallel_tuple_cost": "0.001"}


def windows_sql(fmt: str) -> str:
    """The grouped scan (see `_WINDOWS_SQL`) for seals of format `fmt`."""
    return _WINDOWS_SQL.format(entry=entry_sql(fmt))


def apply_scan_settings(session: ScopedSession) -> None:
    """SET LOCAL what the canonical forms and a fast scan need."""
    apply_sql_settings(session)
    for name, value in SCAN_SETTINGS.items():
        session.execute("SELECT set_config(:name, :value, true)", {"name": name, "value": value})


@dataclass
class WindowPart:
    """One group of the grouped scan: events of one seal window, in ingest_seq order."""

    bucket: int
    count: int
    entries: bytes
    ids: bytes
    first_seq: int
    last_seq: int
    oldest: datetime
    newest: datetime


def scan_windows(
    session: ScopedSession, org: str, fmt: str, bounds: Sequence[int]
) -> Iterator[WindowPart]:
    """The grouped scan of `org`'s events with bounds[0] <= ingest_xid < bounds[-1], in
    (window, ingest_seq) order; `bounds` ascending."""
    params = {
        "org": org,
        "bounds": [str(b) for b in bounds],
        "lo": str(bounds[0]),
        "hi": str(bounds[-1]),
    }
    sql = windows_sql(fmt)
    with (
        session.raw_connection(sql, what="sealing scan") as driver,
        driver.cursor(binary=True) as cursor,
    ):
        for bucket, _chunk, n, entries, ids, lo, hi, old, new in cursor.stream(sql, params):
            ordered, names = order_entries(bytes(entries), bytes(ids))
            yield WindowPart(int(bucket), int(n), ordered, names, int(lo), int(hi), old, new)


@dataclass(frozen=True)
class WindowScan:
    """What the scan of one window saw: how many events, their ingest_seq and time span."""

    count: int
    first_seq: int | None
    last_seq: int | None
    oldest: datetime | None
    newest: datetime | None


def scan_window(
    session: ScopedSession,
    org: str,
    xid_from: int,
    xid_to: int,
    sink: Callable[[bytes, bytes], None],
    fmt: str = SEAL_FORMAT,
) -> WindowScan:
    """Stream the entries of `org`'s events in [xid_from, xid_to) to `sink`, in order."""
    count = 0
    first = last = None
    oldest = newest = None
    if xid_to <= xid_from:
        return WindowScan(0, None, None, None, None)
    for part in scan_windows(session, org, fmt, [xid_from, xid_to]):
        sink(part.entries, part.ids)
        count += part.count
        first = part.first_seq if first is None else min(first, part.first_seq)
        last = part.last_seq if last is None else max(last, part.last_seq)
        oldest = part.oldest if oldest is None else min(oldest, part.oldest)
        newest = part.newest if newest is None else max(newest, part.newest)
    return WindowScan(count, first, last, oldest, newest)


def stream_rows(
    session: ScopedSession, sql: str, params: dict[str, Any], *, batch_size: int = 8
) -> Iterator[tuple[Any, ...]]:
    """Rows of one statement from a server-side cursor, `batch_size` rows a fetch."""
    for _columns, rows in session.stream(sql, params, batch_size=batch_size):
        yield from rows
