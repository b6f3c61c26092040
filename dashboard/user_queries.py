"""Users page reads sized to what the page shows: the events per day of the users in the
matrix, and one user's features over the baseline days, instead of every user's features
over the whole period (`ReadModel.user_day_features`, the page's former cost).

Each read is one statement over the `org_rollup_*` views plus the raw events past the rollup
watermark (the read model's rule, so nothing waits for a refresh), in `db.org_session(org)`.
Days are probed one by one (`day = ANY(:days)`) so the rollups' (organisation, day, user)
keys are used as index lookups rather than scans of the period. The definitions of the
features are the read model's (`sql/read_model.py` docstring); tests compare these answers
with `ReadModel.user_day_features` on the same data. Cached per database, organisation and
arguments for TTL_SECONDS.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from sql.gateway import Database, ScopedSession
from sql.read_model import RECORD_KEYS, SEARCH_ACTIONS, VIEW_ACTIONS

TTL_SECONDS = 60
# The most days one read spans: a year (the longest preset) plus the baseline.
MAX_DAYS = 400
MAX_USERS = 200

BASELINE_COLUMNS: tuple[str, ...] = (
    "day",
    "user_id",
    "events",
    "searches",
    "views",
    "downloads",
    "exports",
    "records_exported",
    "config_change",
    "user_management",
    "distinct_resources",
    "distinct_ips",
    "off_hours_events",
)

_SETTINGS = """
SELECT coalesce(max(auditlens_valid_time_zone(time_zone)), 'UTC'),
       coalesce(max(work_start_hour), 8), coalesce(max(work_end_hour), 19),
       (SELECT watermark::text FROM rollup_state WHERE name = 'events')
  FROM org_organizations"""

_PAST_WATERMARK = """
  e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
  AND e.ingest_xid >= CAST(:wm_hint AS xid8)
  AND e.event_time >= :t0 AND e.event_time < :t1"""


def _in_list(values: Sequence[str]) -> str:
    # Module constants only (never input): plain identifiers, quoted as SQL literals.
    assert all(v.replace("_", "").isalnum() for v in values)
    return ", ".join(f"'{v}'" for v in values)


_RECORDS = (
    "coalesce(" + ", ".join(f"auditlens_detail_count(e.details, '{k}')" for k in RECORD_KEYS) + ")"
)
assert all(k.replace("_", "").isalnum() for k in RECORD_KEYS)

_DAILY_EVENTS = f"""
SELECT day, user_id, sum(events)::bigint AS events
  FROM (
    SELECT day, user_id, events FROM org_rollup_user_days
     WHERE day = ANY(CAST(:days AS date[])) AND user_id = ANY(CAST(:users AS text[]))
    UNION ALL
    SELECT (e.event_time AT TIME ZONE 'UTC')::date, e.user_id, 1 FROM org_audit_events e
     WHERE e.user_id = ANY(CAST(:users AS text[])) AND {_PAST_WATERMARK}
  ) d
 GROUP BY day, user_id
 ORDER BY day, user_id"""

_ONE_USER = f"""
WITH raw AS MATERIALIZED (
  SELECT (e.event_time AT TIME ZONE 'UTC')::date AS day, e.event_type, e.event_action,
         e.resource_type, e.resource_id, e.ip_address,
         auditlens_is_off_hours(e.event_time AT TIME ZONE CAST(:tz AS text),
                                CAST(:ws AS smallint), CAST(:we AS smallint)) AS off_hours,
         CASE WHEN e.event_action LIKE 'export%' OR e.event_action LIKE 'download%'
              THEN {_RECORDS} END AS records
    FROM org_audit_events e
   WHERE e.user_id = :user AND {_PAST_WATERMARK}
),
days AS (
  SELECT day, events, searches, views, downloads, exports, records_exported, config_change,
         user_management, off_hours_events
    FROM org_rollup_user_days WHERE day = ANY(CAST(:days AS date[])) AND user_id = :user
  UNION ALL
  SELECT day, count(*),
         count(*) FILTER (WHERE event_action IN ({_in_list(SEARCH_ACTIONS)})),
         count(*) FILTER (WHERE event_action IN ({_in_list(VIEW_ACTIONS)})),
         count(*) FILTER (WHERE event_action LIKE 'download%'),
         count(*) FILTER (WHERE event_action LIKE 'export%'),
         coalesce(sum(records), 0),
         count(*) FILTER (WHERE event_type = 'config_change'),
         count(*) FILTER (WHERE event_type = 'user_management'),
         count(*) FILTER (WHERE off_hours)
    FROM raw GROUP BY day
),
res AS (
  SELECT day, count(*) AS distinct_resources
    FROM (
      SELECT day, resource_type, resource_id FROM org_rollup_user_day_resources
       WHERE day = ANY(CAST(:days AS date[])) AND user_id = :user
      UNION
      SELECT day, resource_type, resource_id FROM raw WHERE resource_id IS NOT NULL
    ) r GROUP BY day
),
ips AS (
  SELECT day, count(DISTINCT ip_address) AS distinct_ips
    FROM (
      SELECT day, ip_address FROM org_rollup_user_day_ips
       WHERE day = ANY(CAST(:days AS date[])) AND user_id = :user
      UNION ALL
      SELECT day, ip_address FROM raw
    ) i GROUP BY day
)
SELECT d.day, CAST(:user AS text) AS user_id, sum(d.events)::bigint AS events,
       sum(d.searches)::bigint AS searches, sum(d.views)::bigint AS views,
       sum(d.downloads)::bigint AS downloads, sum(d.exports)::bigint AS exports,
       sum(d.records_exported)::bigint AS records_exported,
       sum(d.config_change)::bigint AS config_change,
       sum(d.user_management)::bigint AS user_management,
       coalesce(max(r.distinct_resources), 0) AS distinct_resources,
       coalesce(max(i.distinct_ips), 0) AS distinct_ips,
       sum(d.off_hours_events)::bigint AS off_hours_events
  FROM days d
  LEFT JOIN res r ON r.day = d.day
  LEFT JOIN ips i ON i.day = d.day
 GROUP BY d.day
 ORDER BY d.day"""


def _days(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"the last day ({last}) is before the first ({first})")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once, got {count}")
    return [first + timedelta(days=n) for n in range(count)]


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    t0 = pd.Timestamp(first, tz="UTC").to_pydatetime()
    return t0, pd.Timestamp(last, tz="UTC").to_pydatetime() + timedelta(days=1)


def _run(session: ScopedSession, sql: str, params: dict[str, object]) -> pd.DataFrame:
    session.execute("SET LOCAL jit = off")  # short reads: compiling costs more than it saves
    tz, ws, we, watermark = session.execute(_SETTINGS).rows[0]
    bound = {**params, "tz": tz, "ws": ws, "we": we, "wm_hint": watermark}
    return session.execute(sql, bound, max_rows=MAX_DAYS * MAX_USERS).frame()


def daily_events(
    db: Database, org: str, first: date, last: date, user_ids: Sequence[str]
) -> pd.DataFrame:
    """day, user_id, events for the given users on the UTC days first..last (inclusive);
    days without events have no row."""
    users = tuple(sorted({str(u) for u in user_ids}))[:MAX_USERS]
    return _daily_events(db.url, org, first, last, users, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _daily_events(
    db_key: str, org: str, first: date, last: date, users: tuple[str, ...], *, _db: Database
) -> pd.DataFrame:
    if not users:
        return pd.DataFrame({"day": [], "user_id": [], "events": []})
    t0, t1 = _bounds(first, last)
    with _db.org_session(org) as session:
        frame = _run(
            session,
            _DAILY_EVENTS,
            {"days": _days(first, last), "users": list(users), "t0": t0, "t1": t1},
        )
    return _typed(frame, ["day", "user_id", "events"])


def user_days(db: Database, org: str, user_id: str, first: date, last: date) -> pd.DataFrame:
    """One user's baseline features per active UTC day first..last (BASELINE_COLUMNS),
    as `ReadModel.user_day_features` has them for that user."""
    return _user_days(db.url, org, str(user_id), first, last, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _user_days(
    db_key: str, org: str, user_id: str, first: date, last: date, *, _db: Database
) -> pd.DataFrame:
    t0, t1 = _bounds(first, last)
    with _db.org_session(org) as session:
        frame = _run(
            session,
            _ONE_USER,
            {"days": _days(first, last), "user": user_id, "t0": t0, "t1": t1},
        )
    return _typed(frame, list(BASELINE_COLUMNS))


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.reindex(columns=columns)
    for column in columns:
        if column == "day":
            frame[column] = [pd.Timestamp(d).date() for d in frame[column]]
        elif column != "user_id":
            frame[column] = frame[column].fillna(0).astype("int64")
    return frame
