"""The first events in time order: one ordered read where org_audit_events is read in index
order, time window by time window where it is not.

With the Timescale license org_audit_events is a security-barrier view (TimescaleDB refuses
row-level security on a hypertable with compression), and PostgreSQL plans such a view as a
subquery of its own: an outer ORDER BY event_time LIMIT n cannot reach the chunks' index or
compression order, so every matching event of the range is read (and decompressed) and sorted
to keep n. Read window by window from the ordered end instead (an hour, then twice as long
each time), the read stops once n events are found: the busiest resource's first page reads an
hour of its events, not a quarter's. Each window is a half-open time range and the windows are
read in order, so the rows are exactly the single ordered read's; in one snapshot
(`org_session(..., snapshot=True)`) they are the same rows too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sql.gateway import Database, QueryResult, ScopedSession

FIRST_WINDOW = timedelta(hours=1)
# Tiebreakers among events of one instant: columns, not SQL (they are written into it).
TIEBREAKERS = frozenset({"id", "ingest_seq"})


def first_by_time(
    session: ScopedSession,
    db: Database,
    select: str,
    where: str,
    params: Mapping[str, Any],
    *,
    start: datetime,
    end: datetime,
    limit: int,
    newest_first: bool = False,
    tiebreaker: str = "id",
) -> QueryResult:
    """The first `limit` rows of `SELECT {select} FROM org_audit_events WHERE {where}` with
    start <= event_time < end, ordered by event_time then `tiebreaker` (both descending when
    `newest_first`). `select` and `where` are the caller's SQL, every value in `params`."""
    if tiebreaker not in TIEBREAKERS:
        raise ValueError(f"tiebreaker must be one of {sorted(TIEBREAKERS)}, got: {tiebreaker!r}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got: {limit}")
    way = " DESC" if newest_first else ""
    sql = (
        f"SELECT {select} FROM org_audit_events WHERE ({where})"  # noqa: S608 - the caller's SQL
        " AND event_time >= :window_start AND event_time < :window_end"
        f" ORDER BY event_time{way}, {tiebreaker}{way} LIMIT :window_limit"
    )

    def read(lo: datetime, hi: datetime, n: int) -> QueryResult:
        bounds = {"window_start": lo, "window_end": hi, "window_limit": n}
        return session.execute(sql, {**params, **bounds}, max_rows=n)

    if not db.capabilities.compression:
        return read(start, end, limit)
    found: QueryResult | None = None
    width = FIRST_WINDOW
    lo, hi = start, end
    while lo < hi and (found is None or len(found.rows) < limit):
        if width >= hi - lo:
            window = lo, hi
        elif newest_first:
            window = hi - width, hi
        else:
            window = lo, lo + width
        if newest_first:
            hi = window[0]
        else:
            lo = window[1]
        got = read(*window, limit - (len(found.rows) if found else 0))
        found = got if found is None else QueryResult(found.columns, found.rows + got.rows)
        width *= 2
    return found if found is not None else read(start, end, limit)
