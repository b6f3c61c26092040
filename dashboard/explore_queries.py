"""Read-side queries of the Explore page: counts, timeline, keyset pages, one event, a session.

Every function takes the organisation and an `EventFilter`; SQL runs in `db.org_session(org)`
with the filter's bound parameters, on the read replica when one is configured (`may_lag`). Raw
rows are only ever read a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from dashboard.queries import ALL_TIME
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
_ROLLUP_UNITS = {timedelta(hours=1): "hour", timedelta(days=1): "day"}
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
    whatever is written meanwhile (the viewer's own search included). `capped`: the count
    stopped at COUNT_CAP (more match)."""

    count: int
    capped: bool
    page: pd.DataFrame

    @property
    def many(self) -> bool:
        return more_than_cap(self.count, self.capped)


def more_than_cap(count: int, capped: bool) -> bool:
    """Whether more than COUNT_CAP events match, counted exactly or up to the cap."""
    return capped or count > COUNT_CAP


def count_events(db: Database, org: str, event_filter: EventFilter) -> tuple[int, bool]:
    """How many events match, (count, capped): exact when the read model answers the filter
    (families, actions and time), else counted up to COUNT_CAP."""
    with db.org_session(org, snapshot=True, may_lag=True) as session:
        return _count(session, db, org, event_filter)


def _count(
    session: ScopedSession, db: Database, org: str, event_filter: EventFilter
) -> tuple[int, bool]:
    if _counted_by_read_model(event_filter):
        # The rollups and the raw events past them, in this snapshot: exact, and without
        # reading up to COUNT_CAP raw events for the broad views (the default one above all).
        count = ReadModel(db, may_lag=True).event_count(
            org,
            event_filter.start or ALL_TIME[0],
            event_filter.end or ALL_TIME[1],
            families=event_filter.families or None,
            actions=event_filter.actions or None,
            session=session,
        )
        return count, False
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
    with db.org_session(org, snapshot=True, may_lag=True) as session:
        count, capped = _count(session, db, org, event_filter)
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
    with db.org_session(org, may_lag=True) as session:
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
    with db.org_session(org, may_lag=True) as session:
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
    with db.org_session(org, may_lag=True) as session:
        return session.frame(
            f"SELECT {_select_list(TABLE_COLUMNS)} FROM org_audit_events"  # noqa: S608
            " WHERE session_id = :sid AND own_use = :own ORDER BY event_time, ingest_seq"
            " LIMIT :limit",
            {"sid": session_id, "own": own_use, "limit": limit},
            max_rows=limit,
        )


# Bar widths a timeline may use, narrowest first: the narrowest that keeps the data's span
# within MAX_BARS bars is used, so six events in five minutes are six minute-bars, not one bar.
BIN_WIDTHS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
)
MAX_BARS = 120
_BIN_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: week bars start on Mondays, UTC


@dataclass(frozen=True)
class Bins:
    """A timeline's bars: `width` wide from `start` (inclusive) to `end` (exclusive)."""

    width: timedelta
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """The width in words, for the axis title: "1 minute", "6 hours", "1 day"."""
        seconds = int(self.width.total_seconds())
        for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
            if seconds % size == 0:
                n = seconds // size
                return f"{n} {unit}{'' if n == 1 else 's'}"
        return f"{seconds} seconds"


def data_span(
    db: Database, org: str, event_filter: EventFilter
) -> tuple[datetime, datetime] | None:
    """The first and last matching event's time (None: no event matches)."""
    where, params = event_filter.sql_for(db)
    with db.org_session(org, may_lag=True) as session:
        first, last = session.execute(
            f"SELECT min(event_time), max(event_time) FROM org_audit_events"  # noqa: S608
            f" WHERE {where}",
            params,
        ).rows[0]
    if first is None or last is None:
        return None
    return first.astimezone(UTC), last.astimezone(UTC)


def bins_for(first: datetime, last: datetime) -> Bins:
    """Bars that follow the data: the narrowest width of BIN_WIDTHS keeping the span within
    MAX_BARS, from the bar holding `first` to the end of the bar holding `last`."""
    span = last - first
    width = next((w for w in BIN_WIDTHS if span / w < MAX_BARS), BIN_WIDTHS[-1])
    start = _floor(first, width)
    return Bins(width, start, _floor(last, width) + width)


def _floor(moment: datetime, width: timedelta) -> datetime:
    return _BIN_ORIGIN + ((moment - _BIN_ORIGIN) // width) * width


def timeline_is_cheap(event_filter: EventFilter, many: bool) -> bool:
    """Whether the timeline can be drawn at once: the read model answers it (families and time
    only), or at most COUNT_CAP events match (`many`: more do). Otherwise it would count every
    matching raw event (seconds for a broad filter over millions), so the page draws it on
    request."""
    return not many or _only_rollup_fields(event_filter)


def _only_rollup_fields(event_filter: EventFilter) -> bool:
    """Families and time only: what the timeline's rollup read answers."""
    return _counted_by_read_model(event_filter) and not event_filter.actions


def _counted_by_read_model(event_filter: EventFilter) -> bool:
    """Whether the filter is families, actions and time only, of the organisation's stream:
    what the rollups count (per day or hour, family and action)."""
    plain = EventFilter(families=event_filter.families, actions=event_filter.actions)
    return event_filter.with_values(start=None, end=None) == plain


def timeline(db: Database, org: str, event_filter: EventFilter, bins: Bins) -> pd.DataFrame:
    """Events per bar and family: `bucket, event_type, events`.

    Hour or day bars over a filter on families and time only are answered by the read model
    (rollups plus the raw events past their watermark); anything else counts the matching raw
    events (index-backed, bounded by the bars' range).
    """
    start = max(bins.start, event_filter.start) if event_filter.start else bins.start
    end = min(bins.end, event_filter.end) if event_filter.end else bins.end
    unit = _ROLLUP_UNITS.get(bins.width)
    if unit is not None and _only_rollup_fields(event_filter):
        return _rollup_timeline(db, org, event_filter, start, end, unit)
    bounded = event_filter.with_values(start=start, end=end)
    where, params = bounded.sql_for(db)
    with db.org_session(org, may_lag=True) as session:
        frame = session.frame(
            "SELECT date_bin(:width, event_time, :origin) AS bucket, event_type,"  # noqa: S608
            f" count(*) AS events FROM org_audit_events WHERE {where}"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            {**params, "width": bins.width, "origin": _BIN_ORIGIN},
            max_rows=100_000,
        )
    if not frame.empty:
        frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
        frame["events"] = frame["events"].astype("int64")
    return frame


def _rollup_timeline(
    db: Database, org: str, event_filter: EventFilter, start: datetime, end: datetime, bucket: str
) -> pd.DataFrame:
    frame = ReadModel(db, may_lag=True).timeline(
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


@dataclass(frozen=True)
class SealState:
    """How many matching events no seal covers yet (up to COUNT_CAP), and whether the
    organisation has any seal at all: what a proof export can and cannot prove."""

    unsealed: int
    capped: bool
    any_seal: bool


def seal_state(db: Database, org: str, event_filter: EventFilter) -> SealState:
    """Matching events past the organisation's last seal (those get no proof)."""
    where, params = event_filter.sql_for(db)
    with db.org_session(org, snapshot=True, may_lag=True) as session:
        xid_to = session.scalar(
            "SELECT xid_to::text FROM org_audit_seals ORDER BY seal_seq DESC LIMIT 1"
        )
        unsealed = session.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM org_audit_events"  # noqa: S608
            f" WHERE {where} AND ingest_xid >= CAST(coalesce(:xid, '0') AS xid8)"
            " LIMIT :cap) AS pending",
            {**params, "xid": xid_to, "cap": COUNT_CAP + 1},
        )
    return SealState(min(int(unsealed), COUNT_CAP), int(unsealed) > COUNT_CAP, xid_to is not None)
