"""Read-side queries of the Explore page: counts, timeline, keyset pages, one event, a session.

Every function takes the organisation and an `EventFilter`; SQL runs in `db.org_session(org)`
with the filter's bound parameters. Raw rows are only ever read a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from sql.event_filter import EventFilter
from sql.gateway import Database, ScopedSession
from sql.read_model import ReadModel

COUNT_CAP = 100_000
PAGE_SIZE = 50
TABLE_COLUMNS = (
    "event_time",
    "event_type",
    "event_action",
    "user_email",
    "user_id",
    "resource_type",
    "resource_id",
    "ip_address",
    "id",
    "session_id",
    "ingest_seq",
)
DETAIL_COLUMNS = (*TABLE_COLUMNS, "user_agent", "details", "received_at")
_BUCKETS = ("hour", "day")
# inet comes back as ipaddress objects, which Arrow (st.dataframe) cannot show: send text.
_SELECT_AS = {"ip_address": "abbrev(ip_address) AS ip_address"}


def _select_list(columns: tuple[str, ...]) -> str:
    return ", ".join(_SELECT_AS.get(c, c) for c in columns)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the next (older) page starts strictly after this row."""

    event_time: datetime
    ingest_seq: int


@dataclass(frozen=True)
class Snapshot:
    """What one view of Explore shows, read in one transaction: the count and the page agree
    whatever is written meanwhile (the viewer's own search included)."""

    count: int
    capped: bool
    page: pd.DataFrame


def count_events(db: Database, org: str, event_filter: EventFilter) -> tuple[int, bool]:
    """How many events match, counted up to COUNT_CAP; (count, capped)."""
    with db.org_session(org) as session:
        return _count(session, db, event_filter)


def _count(session: ScopedSession, db: Database, event_filter: EventFilter) -> tuple[int, bool]:
    where, params = event_filter.sql_for(db)
    count = session.scalar(
        f"SELECT count(*) FROM (SELECT 1 FROM org_audit_events WHERE {where}"  # noqa: S608
        " LIMIT :cap) AS matching",
        {**params, "cap": COUNT_CAP + 1},
    )
    return min(int(count), COUNT_CAP), int(count) > COUNT_CAP


def count_and_page(
    db: Database, org: str, event_filter: EventFilter, *, after: Cursor | None = None
) -> Snapshot:
    """The count and one page (as `page_events`) from one REPEATABLE READ snapshot."""
    with db.org_session(org, snapshot=True) as session:
        count, capped = _count(session, db, event_filter)
        page = _page(session, db, event_filter, after=after, limit=PAGE_SIZE)
    return Snapshot(count, capped, page)


def page_events(
    db: Database,
    org: str,
    event_filter: EventFilter,
    *,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> pd.DataFrame:
    """One page of matching events, newest first, strictly older than `after`."""
    with db.org_session(org) as session:
        return _page(session, db, event_filter, after=after, limit=limit)


def _page(
    session: ScopedSession,
    db: Database,
    event_filter: EventFilter,
    *,
    after: Cursor | None,
    limit: int,
) -> pd.DataFrame:
    where, params = event_filter.sql_for(db)
    keyset = ""
    if after is not None:
        keyset = " AND (event_time, ingest_seq) < (:after_time, :after_seq)"
        params = {**params, "after_time": after.event_time, "after_seq": after.ingest_seq}
    return session.frame(
        f"SELECT {_select_list(TABLE_COLUMNS)} FROM org_audit_events"  # noqa: S608
        f" WHERE {where}{keyset} ORDER BY event_time DESC, ingest_seq DESC LIMIT :limit",
        {**params, "limit": limit},
        max_rows=limit,
    )


def last_cursor(page: pd.DataFrame) -> Cursor | None:
    if page.empty:
        return None
    row = page.iloc[-1]
    return Cursor(row["event_time"].to_pydatetime(), int(row["ingest_seq"]))


def event_detail(
    db: Database, org: str, event_id: str, *, own_use: bool = False
) -> dict[str, Any] | None:
    """One event of the organisation's stream (or of AuditLens's own use) by id, or None."""
    with db.org_session(org) as session:
        rows = session.execute(
            f"SELECT {_select_list(DETAIL_COLUMNS)} FROM org_audit_events"  # noqa: S608
            " WHERE id = :id AND own_use = :own ORDER BY event_time LIMIT 1",
            {"id": event_id, "own": own_use},
        ).dicts()
    return rows[0] if rows else None


def session_events(
    db: Database, org: str, session_id: str, *, own_use: bool = False, limit: int = 200
) -> pd.DataFrame:
    """The events of one session in one stream (oldest first), capped at `limit`."""
    with db.org_session(org) as session:
        return session.frame(
            f"SELECT {_select_list(TABLE_COLUMNS)} FROM org_audit_events"  # noqa: S608
            " WHERE session_id = :sid AND own_use = :own ORDER BY event_time, ingest_seq"
            " LIMIT :limit",
            {"sid": session_id, "own": own_use, "limit": limit},
            max_rows=limit,
        )


def time_bounds(db: Database, org: str, event_filter: EventFilter) -> tuple[datetime, datetime]:
    """The filter's time range; open ends are closed with the first/last matching event."""
    start, end = event_filter.start, event_filter.end
    if start is None or end is None:
        where, params = event_filter.sql_for(db)
        with db.org_session(org) as session:
            first, last = session.execute(
                f"SELECT min(event_time), max(event_time) FROM org_audit_events"  # noqa: S608
                f" WHERE {where}",
                params,
            ).rows[0]
        now = datetime.now().astimezone()
        start = start or first or now - timedelta(days=1)
        end = end or ((last + timedelta(microseconds=1)) if last else now)
    return start, end


def bucket_for(start: datetime, end: datetime) -> str:
    """Hourly bars up to three days, daily beyond."""
    return "hour" if end - start <= timedelta(days=3) else "day"


def timeline_is_cheap(event_filter: EventFilter, capped: bool) -> bool:
    """Whether the timeline can be drawn at once: the read model answers it (families and time
    only), or at most COUNT_CAP events match. Otherwise it would count every matching raw
    event (seconds for a broad filter over millions), so the page draws it on request."""
    return not capped or _only_rollup_fields(event_filter)


def _only_rollup_fields(event_filter: EventFilter) -> bool:
    plain = EventFilter(families=event_filter.families)
    return event_filter.with_values(start=None, end=None) == plain and not event_filter.actions


def timeline(
    db: Database, org: str, event_filter: EventFilter, start: datetime, end: datetime, bucket: str
) -> pd.DataFrame:
    """Events per bucket and family: `bucket, event_type, events`.

    A filter on families and time only is answered by the read model (rollups plus the raw
    events past their watermark); any other filter counts the matching raw events
    (index-backed, time-bounded).
    """
    if bucket not in _BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(_BUCKETS)}, got: {bucket!r}")
    if _only_rollup_fields(event_filter):
        return _rollup_timeline(db, org, event_filter, start, end, bucket)
    bounded = event_filter.with_values(start=start, end=end)
    where, params = bounded.sql_for(db)
    with db.org_session(org) as session:
        frame = session.frame(
            "SELECT date_trunc(:unit, event_time, 'UTC') AS bucket, event_type,"  # noqa: S608
            f" count(*) AS events FROM org_audit_events WHERE {where}"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            {**params, "unit": bucket},
            max_rows=100_000,
        )
    if not frame.empty:
        frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
        frame["events"] = frame["events"].astype("int64")
    return frame


def _rollup_timeline(
    db: Database, org: str, event_filter: EventFilter, start: datetime, end: datetime, bucket: str
) -> pd.DataFrame:
    frame = ReadModel(db).timeline(
        org,
        start,
        end,
        bucket=bucket,
        families=list(event_filter.families) or None,
        by_action=False,
    )
    if frame.empty:
        return pd.DataFrame(columns=["bucket", "event_type", "events"])
    return frame.sort_values(["bucket", "event_type"]).reset_index(drop=True)
