"""Narrow slices of raw events for the rules that need an event's own fields (a search's
query, a retention change's old and new values, the order of two events).

A slice is always one family (or a handful of named sources) over the detection window, so it
rides the (organisation, family, time) or (organisation, resource, time) index; detection
never scans all raw events. Totals come from the read model instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import pandas as pd

from sql.event_filter import EventFilter
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS

# Every stored wire field but the organisation (a slice is read within one organisation).
SLICE_COLUMNS = [column for column in EVENT_COLUMNS if column != "organization_id"]


@dataclass(frozen=True)
class Slice:
    """Which raw events a rule needs: one family, optional actions and sources, a time range."""

    family: str
    start: datetime
    end: datetime
    actions: tuple[str, ...] = ()
    # None: any resource; a tuple, only those (an empty one matches nothing).
    resource_ids: tuple[str, ...] | None = None
    # None: any user; a tuple, only those (an empty one matches nothing).
    user_ids: tuple[str, ...] | None = None
    # A literal substring of details->>'query' that every match must contain (a cheap prefilter).
    query_contains: str | None = None


TOTAL_COLUMNS = ["user_id", "user_email", "day", "events", "total", "first_time", "last_time"]
# What a saved search's alert reads of each match (`DatabaseEvents.matching`).
MATCH_COLUMNS = [
    "id",
    "event_time",
    "event_type",
    "event_action",
    "user_id",
    "user_email",
    "resource_id",
]


class TooManyMatches(ValueError):
    """A query matched more events in a window than a rule may read."""


class EventSource(Protocol):
    """Where rules get raw events from: the database, or a frame in tests."""

    def fetch(self, wanted: Slice) -> pd.DataFrame: ...

    def totals(self, wanted: Slice, path: tuple[str, ...]) -> pd.DataFrame:
        """Per (user, UTC day): events and the sum of the number at details -> path."""
        ...


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SLICE_COLUMNS})


class DatabaseEvents:
    """Raw-event slices of one organisation, read through its `org_audit_events` view (on the
    read replica when one is configured)."""

    def __init__(
        self, db: Database, org: str, *, max_events: int = 500_000, timeout_ms: int | None = None
    ) -> None:
        """`timeout_ms`: each slice's statement timeout (None: the configured one)."""
        self.db = db
        self.org = org
        self.max_events = max_events
        self.timeout_ms = timeout_ms

    def _where(self, wanted: Slice) -> tuple[str, dict[str, Any]]:
        # AuditLens's own use (the meta-audit) is not the organisation's behaviour.
        clauses = [
            "NOT own_use",
            "event_type = :family",
            "event_time >= :start",
            "event_time < :end",
        ]
        params: dict[str, Any] = {
            "family": wanted.family,
            "start": wanted.start,
            "end": wanted.end,
        }
        if wanted.actions:
            clauses.append("event_action = ANY(:actions)")
            params["actions"] = list(wanted.actions)
        if wanted.resource_ids is not None:
            clauses.append("resource_id = ANY(:resources)")
            params["resources"] = list(wanted.resource_ids)
        if wanted.user_ids is not None:
            clauses.append("user_id = ANY(:users)")
            params["users"] = list(wanted.user_ids)
        if wanted.query_contains:
            clauses.append("strpos(details->>'query', :contains) > 0")
            params["contains"] = wanted.query_contains
        # Fixed clause texts only; every value is bound.
        return " AND ".join(clauses), params

    def totals(self, wanted: Slice, path: tuple[str, ...]) -> pd.DataFrame:
        where, params = self._where(wanted)
        params["path"] = list(path)
        # Aggregated in the database: one row per user-day leaves it, not every event.
        sql = (
            "SELECT user_id, max(user_email) AS user_email,"  # noqa: S608
            " (event_time AT TIME ZONE 'UTC')::date AS day, count(*) AS events,"
            " sum(CASE WHEN jsonb_typeof(details #> CAST(:path AS text[])) = 'number'"
            " THEN (details #>> CAST(:path AS text[]))::numeric ELSE 0 END) AS total,"
            " min(event_time) AS first_time, max(event_time) AS last_time"
            " FROM org_audit_events WHERE " + where + " AND user_id IS NOT NULL"
            " GROUP BY user_id, 3"
        )
        with self.db.org_session(self.org, may_lag=True, timeout_ms=self.timeout_ms) as session:
            result = session.execute(sql, params, max_rows=self.max_events)
        frame = pd.DataFrame.from_records(result.rows, columns=TOTAL_COLUMNS)
        frame["total"] = frame["total"].astype(float)
        for column in ("first_time", "last_time"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def matching(
        self, event_filter: EventFilter, start: datetime, end: datetime, *, cap: int
    ) -> pd.DataFrame:
        """The events in [start, end) that `event_filter` shows on Explore (its SQL, as an
        export reads it), oldest first; TooManyMatches beyond `cap` rather than a part."""
        where, params = event_filter.sql_for(self.db)
        sql = (
            "SELECT " + ", ".join(MATCH_COLUMNS) + " FROM org_audit_events"  # noqa: S608
            " WHERE " + where + " AND event_time >= :match_start AND event_time < :match_end"
            " ORDER BY event_time, ingest_seq LIMIT :match_cap"
        )
        params.update(match_start=start, match_end=end, match_cap=cap + 1)
        rows: list[Any] = []
        with self.db.org_session(self.org) as session:
            for _, batch in session.stream(sql, params):
                rows.extend(batch)
        if len(rows) > cap:
            raise TooManyMatches(f"more than {cap:,} events match between {start} and {end}")
        frame = pd.DataFrame.from_records(rows, columns=MATCH_COLUMNS)
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
        return frame

    def fetch(self, wanted: Slice) -> pd.DataFrame:
        where, params = self._where(wanted)
        sql = (
            "SELECT id, event_time, event_type, event_action, user_id, user_email,"  # noqa: S608
            " host(ip_address) AS ip_address, user_agent, resource_type, resource_id, details,"
            " session_id FROM org_audit_events WHERE " + where + " ORDER BY event_time LIMIT :cap"
        )
        params["cap"] = self.max_events
        rows: list[Any] = []
        with self.db.org_session(self.org, may_lag=True, timeout_ms=self.timeout_ms) as session:
            for _, batch in session.stream(sql, params):
                rows.extend(batch)
        if not rows:
            return _empty()
        frame = pd.DataFrame.from_records(rows, columns=SLICE_COLUMNS)
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
        details = [d if isinstance(d, dict) else json.loads(d or "{}") for d in frame["details"]]
        frame["details"] = pd.Series(details, index=frame.index, dtype=object)
        return frame


class FrameEvents:
    """Raw-event slices from an in-memory frame of events (tests and the evaluation harness)."""

    def __init__(self, events: pd.DataFrame) -> None:
        frame = events.copy()
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
        self.events = frame

    def fetch(self, wanted: Slice) -> pd.DataFrame:
        e = self.events
        mask = (
            (e["event_type"] == wanted.family)
            & (e["event_time"] >= pd.Timestamp(wanted.start))
            & (e["event_time"] < pd.Timestamp(wanted.end))
        )
        if wanted.actions:
            mask &= e["event_action"].isin(wanted.actions)
        if wanted.resource_ids is not None:
            mask &= e["resource_id"].isin(wanted.resource_ids)
        if wanted.user_ids is not None:
            mask &= e["user_id"].isin(wanted.user_ids)
        out = e.loc[mask]
        if wanted.query_contains:
            queries = out["details"].map(lambda d: str((d or {}).get("query", "")))
            out = out.loc[queries.str.contains(wanted.query_contains, regex=False)]
        if out.empty:
            return _empty()
        return out[SLICE_COLUMNS].sort_values("event_time", ignore_index=True)

    def totals(self, wanted: Slice, path: tuple[str, ...]) -> pd.DataFrame:
        events = self.fetch(wanted)
        events = events.loc[events["user_id"].notna()]
        if events.empty:
            return pd.DataFrame(columns=TOTAL_COLUMNS)

        def number(details: Any) -> float:
            value: Any = details
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return float(value) if ok else 0.0

        frame = events.assign(day=events["event_time"].dt.date, total=events["details"].map(number))
        grouped = frame.groupby(["user_id", "day"], as_index=False).agg(
            user_email=("user_email", "max"),
            events=("id", "size"),
            total=("total", "sum"),
            first_time=("event_time", "min"),
            last_time=("event_time", "max"),
        )
        return grouped[TOTAL_COLUMNS]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name."""
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def tuples(frame: pd.DataFrame) -> list[Any]:
    """Rows as named tuples (attribute access by column name)."""
    return list(frame.itertuples(index=False))


def field_value(event: Any, path: str) -> Any:
    """A field of an event row: a column name, or `details.a.b` into the details object."""
    if not path.startswith("details."):
        return event[path]
    value: Any = event["details"]
    for part in path.split(".")[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
