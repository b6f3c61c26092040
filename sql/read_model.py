"""The read model: every count the dashboard and detection show, per organisation, without
scanning raw events.

Rollup tables (migration 0020) hold counts per hour and per UTC day for the events whose
ingest transaction lies below a watermark over ingest order (`rollup_state.watermark`, an
xid8). `ReadModel.refresh()` rolls up the events of every transaction that ended since the
last refresh: those with `watermark <= ingest_xid < pg_snapshot_xmin(pg_current_snapshot())`,
so late events (an old `event_time`) and transactions that commit out of order are counted
exactly once. Every read is one snapshot (a REPEATABLE READ transaction): a first statement
reads the organisation's settings, the watermark and the time span of the organisation's
events past it; then ONE statement unions the rollups with the raw events past the watermark
inside that span, so an event is counted as soon as its transaction commits, refresh or not
(and a read plans no raw event partition it cannot need). Ranges that do not start or end on
a bucket boundary read the partial buckets from raw events, so every answer equals the
aggregation over raw events.

Reads run in `db.org_session(org)` through the `org_rollup_*` and `org_audit_events`
security-barrier views; refreshes run as the login role and are serialised by an advisory
lock.

Definitions (shared by the rollups and the raw part of every read):
- Time buckets and days are UTC: `bucket` = the hour (tz-aware UTC), `day` = the UTC date.
- Ranges are half-open: `start <= event_time < end`; `*_day` methods take inclusive days.
- Family counts (`login`, `log_access`, `config_change`, `user_management`,
  `data_modification`, `api_call`) count `event_type` equal to that name.
- Action counts, by `event_action`: `searches` in SEARCH_ACTIONS; `views` in VIEW_ACTIONS;
  `downloads` starts with `download`; `exports` starts with `export`; `deletions` is a
  `data_modification` event whose action starts with `delete` or contains `purge`.
- `records_exported`: sum, over download and export events, of the first of RECORD_KEYS in
  `details` that holds a JSON number in [0, 10^15] (truncated); other values are ignored.
- `max_results_count`: largest such number under RESULT_KEYS on any event (0 when none).
- `off_hours_events`: events outside `organizations.work_start_hour`..`work_end_hour`
  (end exclusive) in `organizations.time_zone`, and every event on a Saturday or Sunday there.
  Start >= end means working hours that wrap midnight. An unknown time zone counts as UTC;
  an organisation without a row uses UTC and 8..19. The rollup stores off-hours as computed
  at refresh time: after changing an organisation's hours or zone, run
  `auditlens refresh --rebuild` to recompute.
- A resource is `(resource_type, resource_id)` with `resource_id` not NULL; distinct users
  and distinct IPs/user agents ignore NULLs; a NULL user is one group of its own.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

import numpy as np
import pandas as pd

from sql.errors import AuditLensError
from sql.gateway import Database, ScopedSession, check_org_id
from sql.resource_details import (
    CLEAR_YEAR_DAYS,
    DETAIL_TABLES,
    MERGE,
    TOUCHED,
    ResourceDetails,
    details_sql,
    shape,
    type_match,
)

FAMILY_COLUMNS: tuple[str, ...] = (
    "login",
    "log_access",
    "config_change",
    "user_management",
    "data_modification",
    "api_call",
)
SEARCH_ACTIONS: tuple[str, ...] = ("search", "search_logs")
VIEW_ACTIONS: tuple[str, ...] = (
    "view",
    "view_logs",
    "view_log",
    "view_entry",
    "view_log_entry",
    "view_source",
)
RECORD_KEYS: tuple[str, ...] = (
    "records",
    "record_count",
    "records_count",
    "recordCount",
    "records_exported",
    "row_count",
)
RESULT_KEYS: tuple[str, ...] = ("results_count", "resultsCount", "result_count")

FEATURE_COLUMNS: tuple[str, ...] = (
    "day",
    "user_id",
    "user_email",
    "events",
    *FAMILY_COLUMNS,
    "searches",
    "views",
    "downloads",
    "exports",
    "deletions",
    "distinct_resources",
    "distinct_ips",
    "distinct_user_agents",
    "off_hours_events",
    "records_exported",
    "max_results_count",
    "first_event",
    "last_event",
)
_ADDITIVE = (
    "events",
    *FAMILY_COLUMNS,
    "searches",
    "views",
    "downloads",
    "exports",
    "deletions",
    "off_hours_events",
    "records_exported",
)
# Any constant works; it only has to be the same in every AuditLens process (and migration
# 0021, which takes it as 1380928588).
REFRESH_LOCK = 0x524F4C4C
ROLLUP_TABLES: tuple[str, ...] = (
    "rollup_hour_actions",
    "rollup_day_actions",
    "rollup_hour_users",
    "rollup_user_days",
    "rollup_user_day_resources",
    "rollup_user_day_ips",
    "rollup_resource_days",
    "rollup_user_years",
    "rollup_resource_years",
    "rollup_resource_user_years",
    "rollup_hour_families",
    "rollup_user_months",
    "rollup_resource_months",
    "rollup_user_day_gaps",
    "rollup_resource_day_gaps",
    *DETAIL_TABLES,
)
# After a refresh this large, VACUUM ANALYZE the rollups so index-only scans stay cheap.
VACUUM_AFTER_EVENTS = 100_000
# TimescaleDB (Timescale license): raw chunks older than this are compressed by the refresh.
COMPRESS_AFTER = "90 days"
# Reads that feed detection return many rows; past this they fail rather than truncate.
MAX_READ_ROWS = 5_000_000


class ReadModelError(AuditLensError):
    """A read-model call got bad arguments or would return more rows than it may."""


def _quote_list(values: Sequence[str]) -> str:
    for value in values:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"not a plain SQL constant: {value!r}")
    return ", ".join(f"'{v}'" for v in values)


def _detail_count(keys: Sequence[str]) -> str:
    parts = ", ".join(f"auditlens_detail_count(e.details, '{k}')" for k in keys)
    _quote_list(keys)
    return f"coalesce({parts})"


_IS_EXPORT = "(e.event_action LIKE 'export%' OR e.event_action LIKE 'download%')"

# One event's derived fields; `e` is an event row, `o` the organisation's (tz, ws, we).
_DERIVED = f"""
  e.organization_id, e.event_time, e.event_type, e.event_action, e.user_id, e.user_email,
  e.ip_address, e.user_agent, e.resource_type, e.resource_id,
  date_trunc('hour', e.event_time, 'UTC') AS bucket,
  (e.event_time AT TIME ZONE 'UTC')::date AS day,
  auditlens_is_off_hours(e.event_time AT TIME ZONE o.tz, o.ws, o.we) AS off_hours,
  CASE WHEN {_IS_EXPORT} THEN {_detail_count(RECORD_KEYS)} END AS records,
  {_detail_count(RESULT_KEYS)} AS results
"""
# The same columns for reads that count events and distinct keys only: the per-event measures
# (off-hours, records, results: nine JSON look-ups an event) only user_day_features sums.
_DERIVED_LEAN = _DERIVED[: _DERIVED.index("  auditlens_is_off_hours")] + (
    "  NULL::boolean AS off_hours, NULL::bigint AS records, NULL::bigint AS results\n"
)

# Additive per-(day, user) measures over derived rows.
_USER_DAY_AGG = f"""
  max(user_email) AS user_email,
  count(*) AS events,
  {", ".join(f"count(*) FILTER (WHERE event_type = '{f}') AS {f}" for f in FAMILY_COLUMNS)},
  count(*) FILTER (WHERE event_action IN ({_quote_list(SEARCH_ACTIONS)})) AS searches,
  count(*) FILTER (WHERE event_action IN ({_quote_list(VIEW_ACTIONS)})) AS views,
  count(*) FILTER (WHERE event_action LIKE 'download%') AS downloads,
  count(*) FILTER (WHERE event_action LIKE 'export%') AS exports,
  count(*) FILTER (WHERE event_type = 'data_modification'
                     AND (event_action LIKE 'delete%' OR event_action LIKE '%purge%')) AS deletions,
  count(*) FILTER (WHERE off_hours) AS off_hours_events,
  coalesce(sum(records), 0)::bigint AS records_exported,
  max(results) AS max_results_count,
  min(event_time) AS first_event,
  max(event_time) AS last_event
"""

_VALID_TZ = "auditlens_valid_time_zone({tz})"

# The first statement of every read, in the read's own REPEATABLE READ snapshot: the
# organisation's settings (bound into the main statement: the time-zone check traps errors, a
# subtransaction, which parallel plans forbid), the watermark, and the time span of the
# organisation's events past it (migration 0026), which bounds the main statement's raw part.
# No parameters: psycopg prepares it, so it is planned once per connection.
_ORG_SETTINGS = """
SELECT s.tz, s.ws, s.we, s.wm, p.first_time, p.last_time, s.jit, s.work_mem
  FROM (SELECT coalesce(max(auditlens_valid_time_zone(time_zone)), 'UTC') AS tz,
               coalesce(max(work_start_hour), 8) AS ws, coalesce(max(work_end_hour), 19) AS we,
               (SELECT watermark::text FROM rollup_state WHERE name = 'events') AS wm,
               (SELECT set_config('jit', 'off', true)) AS jit,
               (SELECT set_config('work_mem', '64MB', true)) AS work_mem
          FROM org_organizations) s
 CROSS JOIN auditlens_past_watermark_span() p"""
_ORG_CTE = """
org AS (
  SELECT CAST(:org_tz AS text) AS tz, CAST(:org_ws AS smallint) AS ws,
         CAST(:org_we AS smallint) AS we
)"""


# The columns of _DERIVED with their types, as a relation without rows: the raw part of a read
# that needs no raw events at all (a range on bucket boundaries, nothing past the watermark).
_NO_RAW = """SELECT NULL::text AS organization_id, NULL::timestamptz AS event_time,
         NULL::text AS event_type, NULL::text AS event_action, NULL::text AS user_id,
         NULL::text AS user_email, NULL::inet AS ip_address, NULL::text AS user_agent,
         NULL::text AS resource_type, NULL::text AS resource_id, NULL::timestamptz AS bucket,
         NULL::date AS day, NULL::boolean AS off_hours, NULL::bigint AS records,
         NULL::bigint AS results
   WHERE false"""
# A branch of a raw part: /*raw:KIND:PREFIX*/ ... /*end*/, removed by _prune_raw when empty.
_BRANCH = re.compile(r"/\*raw:(past|lo|hi):(\w*)\*/.*?/\*end\*/", re.DOTALL)
_TINY = timedelta(microseconds=1)  # timestamptz's resolution


def _raw_cte(
    extra: str = "",
    *,
    name: str = "raw",
    p: str = "",
    org: bool = True,
    measures: bool = False,
    touched: bool = False,
) -> str:
    """Raw events of the session's organisation that the rollups do not hold for the range:
    past the watermark inside the aligned part [:a0, :a1), and every event of the unaligned
    edges [:t0, :a0) and [:a1, :t1). `p` prefixes the parameter names. `ReadModel._frame`
    drops the branches that cannot hold an event (see _prune_raw). Without `measures`, the
    columns off_hours, records and results are NULL; `touched` adds the log records touched
    (sql.resource_details, for resource_details only)."""
    cond = f" AND ({extra})" if extra else ""
    derived = _DERIVED if measures else _DERIVED_LEAN
    no_raw = _NO_RAW
    if touched:
        derived = f"{derived.rstrip()}, {TOUCHED}"
        no_raw = _NO_RAW.replace("\n   WHERE false", ", NULL::bigint AS touched\n   WHERE false")
    select = f"UNION ALL SELECT {derived} FROM org_audit_events e CROSS JOIN org o WHERE "
    head = f"{_ORG_CTE},\n" if org else ""
    # :{p}pa0/:{p}pa1: the aligned part narrowed to the span of the organisation's events
    # past the watermark, which the read's first statement found in the same snapshot.
    return f"""{head}{name} AS MATERIALIZED (
  {no_raw}
  /*raw:past:{p}*/ {select}
           e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
       AND e.ingest_xid >= CAST(:wm_hint AS xid8)
       AND e.event_time >= :{p}pa0 AND e.event_time < :{p}pa1{cond} /*end*/
  /*raw:lo:{p}*/ {select} e.event_time >= :{p}t0 AND e.event_time < :{p}a0{cond} /*end*/
  /*raw:hi:{p}*/ {select} e.event_time >= :{p}a1 AND e.event_time < :{p}t1{cond} /*end*/
)"""


def _prune_raw(
    sql: str, params: dict[str, Any], first: datetime | None, last: datetime | None
) -> str:
    """The raw parts of `sql` without the branches that cannot hold an event, and the past
    branches' bounds in `params`: the edges when empty, the past-watermark branch outside
    [first, last] (the span of the organisation's events past the watermark, None: none).
    Exact because the read's statements share one snapshot; what is left plans only the
    partitions that can hold an event, none at all for an aligned range with nothing past
    the watermark."""

    def keep(match: re.Match[str]) -> str:
        kind, p = match.group(1), match.group(2)
        if kind == "lo":
            return match.group(0) if params[f"{p}t0"] < params[f"{p}a0"] else ""
        if kind == "hi":
            return match.group(0) if params[f"{p}a1"] < params[f"{p}t1"] else ""
        if first is None or last is None:
            return ""
        lo, hi = max(params[f"{p}a0"], first), min(params[f"{p}a1"], last + _TINY)
        if lo >= hi:
            return ""
        params[f"{p}pa0"], params[f"{p}pa1"] = lo, hi
        return match.group(0)

    return _BRANCH.sub(keep, sql)


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the zone files: once per process


def check_time_zone(name: str) -> str:
    """An IANA time zone name, or a one-line error naming the field."""
    if not isinstance(name, str) or name not in _time_zones():
        raise ReadModelError(f"time_zone: unknown IANA zone {name!r} (for example Europe/Berlin)")
    return name


def _utc(value: datetime | date | str | pd.Timestamp, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except ValueError:
            raise ReadModelError(f"{name} is not a date or time: {value!r}") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ReadModelError(f"{name} must be a date or a datetime, got {type(value).__name__}")


def _day(value: date | datetime | str, name: str) -> date:
    if isinstance(value, datetime | pd.Timestamp):
        return _utc(value, name).date()
    if isinstance(value, date):
        return value
    return _utc(value, name).date()


def _aligned(start: datetime, end: datetime, step: timedelta) -> tuple[datetime, datetime]:
    """The largest [a0, a1) inside [start, end) on `step` boundaries (UTC); empty -> (end, end)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    a0 = epoch + -((epoch - start) // step) * step  # ceiling
    a1 = epoch + ((end - epoch) // step) * step  # floor
    if a0 >= a1:
        return end, end
    return a0, a1


def _range_params(start: Any, end: Any, step: timedelta) -> dict[str, Any]:
    t0, t1 = _utc(start, "start"), _utc(end, "end")
    if t1 < t0:
        raise ReadModelError(f"end ({t1.isoformat()}) is before start ({t0.isoformat()})")
    a0, a1 = _aligned(t0, t1, step)
    # da/db: the aligned part as UTC dates, for the day tables (when step is one day).
    return {"t0": t0, "t1": t1, "a0": a0, "a1": a1, "da": a0.date(), "db": a1.date()}


def _tier_params(start: Any, end: Any) -> dict[str, Any]:
    """Whole UTC days [d0, d1) from the day table, whole hours [h0, d0) and [d1, h1) from the
    hour table, and the rest from raw events (as `a0`/`a1` = h0/h1 for `_raw_cte`)."""
    params = _range_params(start, end, timedelta(hours=1))
    h0, h1 = params["a0"], params["a1"]
    d0, d1 = _aligned(h0, h1, timedelta(days=1)) if h0 < h1 else (h1, h1)
    params.update(d0=d0, d1=d1, dd0=d0.date(), dd1=d1.date())
    return params


def _year_windows(first: date, end: date) -> dict[str, list[int]]:
    """The UTC days [first, end) as (year, first day, end day) slices of the year tables
    (days numbered from 0 = January 1st): parameters `wy`, `wa`, `wb` for `_WINDOWS`."""
    years: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    for year in range(first.year, end.year + 1):
        jan1 = date(year, 1, 1)
        # date.max's year has no next January: its slice ends at `end` (the whole range's end).
        next_jan1 = date(year + 1, 1, 1) if year < date.max.year else end
        lo, hi = max(first, jan1), min(end, next_jan1)
        if lo < hi:
            years.append(year)
            starts.append((lo - jan1).days)
            ends.append((hi - jan1).days)
    return {"wy": years, "wa": starts, "wb": ends}


# The slices of `_year_windows` as rows (year, a, b).
_WINDOWS = """
w AS (
  SELECT * FROM unnest(CAST(:wy AS smallint[]), CAST(:wa AS integer[]), CAST(:wb AS integer[]))
    AS w(year, a, b)
)"""
# Events of a rollup_user_years row `y` in its window `w`.
_YEAR_EVENTS = "(SELECT coalesce(sum(x), 0) FROM unnest(y.counts[w.a + 1 : w.b]) AS x)"


# Counts per (hour or day) bucket, family and action over the tiers of `_tier_params`.
_TIERED_ACTIONS = """
    SELECT (day::timestamp AT TIME ZONE 'UTC') AS bucket, event_type, event_action, events
      FROM org_rollup_day_actions WHERE day >= :dd0 AND day < :dd1{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :a0 AND bucket < :d0{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :d1 AND bucket < :a1{fam}
    UNION ALL
    SELECT bucket, event_type, event_action, count(*) FROM raw GROUP BY 1, 2, 3"""


def _day_params(start_day: Any, end_day: Any) -> dict[str, Any]:
    d0, d1 = _day(start_day, "start_day"), _day(end_day, "end_day")
    if d1 < d0:
        raise ReadModelError(f"end_day ({d1}) is before start_day ({d0})")
    t0 = datetime(d0.year, d0.month, d0.day, tzinfo=UTC)
    t1 = datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1)
    return {"t0": t0, "t1": t1, "a0": t0, "a1": t1, "d0": d0, "d1": d1}


# user_emails: every user of a busy resource's report (the 10M-event benchmark: ~6,000).
MAX_EMAIL_USERS = 100_000
# user_day_features(user_ids=...): a page's worth of users (the Users page shows 30).
MAX_FEATURE_USERS = 500
# Up to this many days, a user filter probes the rollups' (organisation, day, user) keys one
# (day, user) pair at a time instead of reading every user's rows of the period.
_PROBED_DAYS = 400


def _user_day_filter(params: dict[str, Any], user_ids: Sequence[str] | None) -> tuple[str, str]:
    """The rollup tables' condition and the raw events' one for user_day_features; adds the
    parameters it binds to `params`."""
    if user_ids is None:
        return "day BETWEEN :d0 AND :d1", ""
    if isinstance(user_ids, str):
        raise ReadModelError("user_ids must be a sequence of user ids, not one string")
    users = sorted({str(u) for u in user_ids})
    if len(users) > MAX_FEATURE_USERS:
        raise ReadModelError(f"user_ids: at most {MAX_FEATURE_USERS} users, got {len(users)}")
    params["users"] = users
    count = (params["d1"] - params["d0"]).days + 1
    if count <= _PROBED_DAYS:
        params["days"] = [params["d0"] + timedelta(days=n) for n in range(count)]
        days = "day = ANY(CAST(:days AS date[]))"
    else:
        days = "day BETWEEN :d0 AND :d1"
    users_match = "user_id = ANY(CAST(:users AS text[]))"
    return f"{days} AND {users_match}", f"e.{users_match}"


def _epoch_us(expression: str) -> str:
    """A timestamptz expression as integer microseconds since the Unix epoch (exact)."""
    return f"(extract(epoch FROM {expression}) * 1000000)::bigint"


# One non-NULL join key per user_id, NULL included and distinct from every real id ('' too):
# plain equality, so the planner can hash or merge on it.
_USER_KEY = "(CASE WHEN user_id IS NULL THEN 'n' ELSE 'u' || user_id END)"


# The resource counterpart of _USER_KEY: (rkey, resource_id) identifies a resource.
_RESOURCE_KEY = "(CASE WHEN resource_type IS NULL THEN 'n' ELSE 't' || resource_type END)"

# Top-N candidates: the busiest RANK_DEPTH rows of every month the range touches, with
# RANK_DEPTH = max(RANK_DEPTH_MIN, RANK_DEPTH_PER_ROW * n) (module constants, so tests can
# force the threshold to fail and the exhaustive ranking to answer).
RANK_DEPTH_MIN = 100
RANK_DEPTH_PER_ROW = 10


def _rank_params(first: date, end: date, n: int) -> dict[str, Any]:
    return {"n": n, "k": max(RANK_DEPTH_MIN, RANK_DEPTH_PER_ROW * n), "rda": first, "rdb": end}


def _ranking(
    *,
    months: str,
    value: str,
    keys: list[str],
    join: str,
    exact: str,
    order: str,
    ranked_all: str,
) -> str:
    """CTEs ending in `ranked`: the exact top :n of the whole days [:rda, :rdb) plus `rawc`
    (counts of the raw part per key, column n), ranked from a few candidates when a bound
    proves it, else by `ranked_all` (every key).

    Candidates: the :k busiest rows of each month that the days touch (`months`: a function
    of migration 0027 over a month table, which reads them in its rank index's order), and every
    key of the raw part. Any other key has at most the :k-th count of each such month there
    (0 in a month with fewer rows; at most a month's count in the range, nothing raw), so at
    most `tau`, their sum: when the
    n-th candidate, counted exactly (`exact`, over `c`), has more than tau, or tau is 0, the
    candidates' top n is the answer. Otherwise `ranked_all` runs (a one-time filter: only
    then)."""
    cols = ", ".join(keys)
    x_cols = ", ".join(f"x.{k}" for k in keys)
    c_cols = ", ".join(f"c.{k}" for k in keys)
    return f"""
mo AS (
  SELECT CAST(m AS date) AS month
    FROM (SELECT CAST(date_trunc('month', min(day)) AS date) AS lo, max(day) AS hi
            FROM org_rollup_day_actions) x,
         generate_series(greatest(x.lo, CAST(date_trunc('month', CAST(:rda AS date)) AS date)),
                         least(x.hi, CAST(:rdb AS date) - 1), INTERVAL '1 month') m
   WHERE x.lo IS NOT NULL AND CAST(:rda AS date) < CAST(:rdb AS date)
),
best AS MATERIALIZED (
  SELECT mo.month, b.* FROM mo CROSS JOIN LATERAL (
    SELECT {x_cols}, x.{value} AS v FROM {months}(mo.month, CAST(:k AS integer)) x
  ) b
),
bound AS (
  SELECT coalesce(sum(kth), 0) AS tau
    FROM (SELECT min(v) AS kth FROM best GROUP BY month HAVING count(*) = :k) m
),
cand AS (SELECT {cols} FROM best UNION SELECT {cols} FROM rawc),
exact AS MATERIALIZED (
  SELECT {c_cols}, CAST({exact} + coalesce(rawc.n, 0) AS bigint) AS events
    FROM cand c LEFT JOIN rawc ON {join}
),
top AS (
  SELECT {cols}, events FROM exact WHERE events > 0 ORDER BY events DESC, {order} LIMIT :n
),
verdict AS (
  SELECT (SELECT tau FROM bound) = 0
      OR ((SELECT count(*) FROM top) = :n
          AND (SELECT min(events) FROM top) > (SELECT tau FROM bound)) AS fast
),
ranked AS (
  SELECT {cols}, events FROM top WHERE (SELECT fast FROM verdict)
  UNION ALL
  SELECT * FROM ({ranked_all}
  ) a WHERE NOT (SELECT fast FROM verdict)
)"""


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh did: events rolled up, seconds taken, the new watermark."""

    events: int
    seconds: float
    watermark: str
    skipped: bool = False

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class ReadModel:
    """Per-organisation counts from rollups plus the raw events past the watermark."""

    def __init__(self, db: Database, *, max_rows: int = MAX_READ_ROWS) -> None:
        self.db = db
        self.max_rows = max_rows

    @property
    def maintains_continuous_aggregates(self) -> bool:
        """True on TimescaleDB with the Timescale license: the refresh also materialises the
        continuous aggregates of migration 0023 (org_cagg_* views) and compresses old raw
        chunks. Reads still come from the rollup tables on every flavour: a continuous
        aggregate cannot tell which late events (old timestamps, inserted after its last
        refresh) it holds, so it could not be combined exactly with raw events, and counting
        every event exactly once and at once is the read model's promise."""
        return self.db.capabilities.continuous_aggregates

    # -- reads -------------------------------------------------------------------------------

    def _frame(self, org: str, sql: str, params: Mapping[str, Any]) -> pd.DataFrame:
        check_org_id(org)
        # One snapshot for both statements: the second relies on what the first found.
        with self.db.org_session(org, max_rows=self.max_rows, snapshot=True) as session:
            # One round trip for the session settings and the organisation's: jit off (the
            # planner cannot know how few events are past the watermark and prices the raw
            # part high enough to JIT-compile: ~0.7 s of a ~10 ms read); work_mem so distinct
            # counts over ~10^5 rollup rows hash in memory instead of sorting.
            tz, ws, we, wm, first, last, *_ = session.execute(_ORG_SETTINGS).rows[0]
            # wm_hint: the watermark as a constant, so the planner sees how few events are
            # past it. The statement still reads the watermark itself (one snapshot with the
            # rollups); committed watermarks only grow, so the hint never hides an event.
            bound = {**params, "org_tz": tz, "org_ws": ws, "org_we": we, "wm_hint": wm}
            sql = _prune_raw(sql, bound, first, last)
            result = session.execute(sql, bound, max_rows=self.max_rows)
        if result.truncated:
            raise ReadModelError(
                f"the answer has more than {self.max_rows:,} rows: narrow the time range"
            )
        return result.frame()

    def timeline(
        self,
        org: str,
        start: Any,
        end: Any,
        bucket: str = "hour",
        families: Sequence[str] | None = None,
        by_action: bool = True,
    ) -> pd.DataFrame:
        """Events per time bucket ('hour' or 'day', UTC), family and action; per bucket and
        family only (no event_action column) with `by_action=False`, as the chart stacks them:
        by the hour that reads 0025's hourly family rollup, a quarter of the rows."""
        if bucket not in ("hour", "day"):
            raise ReadModelError(f"bucket must be 'hour' or 'day', got: {bucket!r}")
        params = (
            _range_params(start, end, timedelta(hours=1))
            if bucket == "hour"
            else _tier_params(start, end)
        )
        fam = ""
        if families is not None:
            params["families"] = [str(f) for f in families]
            fam = "event_type = ANY(:families)"
        where_fam = f" AND {fam}" if fam else ""
        if bucket == "hour" and not by_action:
            outer = "bucket"
            source = f"""
    SELECT bucket, event_type, NULL AS event_action, events FROM org_rollup_hour_families
     WHERE bucket >= :a0 AND bucket < :a1{where_fam}
    UNION ALL
    SELECT bucket, event_type, NULL, count(*) FROM raw GROUP BY 1, 2"""
        elif bucket == "hour":
            outer = "bucket"
            source = f"""
    SELECT bucket, event_type, event_action, events FROM org_rollup_hour_actions
     WHERE bucket >= :a0 AND bucket < :a1{where_fam}
    UNION ALL
    SELECT bucket, event_type, event_action, count(*) FROM raw GROUP BY 1, 2, 3"""
        else:
            outer = "date_trunc('day', bucket, 'UTC')"
            source = _TIERED_ACTIONS.format(fam=where_fam)
        keys = ["event_type", "event_action"] if by_action else ["event_type"]
        cols = ", ".join(keys)
        # One row per series (family, action) with its buckets (epoch seconds: whole hours or
        # days, exact in float8's date_part) and counts as unordered arrays: tens of thousands
        # of (hour, series) cells cross the driver as a few dozen rows, and neither side sorts
        # or merges them in SQL; pandas sums a bucket the rollups and raw events both hold.
        sql = f"""
WITH {_raw_cte("e." + fam if fam else "")}
SELECT {cols}, array_agg(CAST(date_part('epoch', {outer}) AS bigint)) AS buckets,
       array_agg(events) AS counts
  FROM ({source}
  ) u
 GROUP BY {cols}"""
        packed = self._frame(org, sql, params)
        columns = ["bucket", *keys, "events"]
        if packed.empty:
            return _shape(packed, columns, times=["bucket"])
        lengths = packed["buckets"].map(len).to_numpy()
        if lengths.sum() > self.max_rows:
            raise ReadModelError(
                f"the answer has more than {self.max_rows:,} rows: narrow the time range"
            )
        cells = pd.DataFrame(
            {
                "bucket": np.concatenate([np.asarray(b, dtype="int64") for b in packed["buckets"]]),
                **{k: np.repeat(packed[k].to_numpy(), lengths) for k in keys},
                "events": np.concatenate([np.asarray(c, dtype="int64") for c in packed["counts"]]),
            }
        )
        frame = pd.DataFrame(
            cells.groupby(["bucket", *keys], sort=True, as_index=False)["events"].sum()
        )
        frame["bucket"] = pd.to_datetime(frame["bucket"], unit="s", utc=True)
        return _shape(frame, columns, times=["bucket"])

    def user_activity(
        self, org: str, start: Any, end: Any, user_id: str | None = None
    ) -> pd.DataFrame:
        """Events per hour (UTC), user and family; one user's when `user_id` is given."""
        params = _range_params(start, end, timedelta(hours=1))
        filt = ""
        if user_id is not None:
            params["user_id"] = str(user_id)
            filt = "user_id = :user_id"
        and_filt = f" AND {filt}" if filt else ""
        sql = f"""
WITH {_raw_cte("e." + filt if filt else "")}
SELECT {_epoch_us("bucket")} AS bucket, user_id, max(user_email) AS user_email, event_type,
       sum(events)::bigint AS events
  FROM (
    SELECT bucket, user_id, user_email, event_type, events FROM org_rollup_hour_users
     WHERE bucket >= :a0 AND bucket < :a1{and_filt}
    UNION ALL
    SELECT bucket, user_id, max(user_email), event_type, count(*) FROM raw GROUP BY 1, 2, 4
  ) u
 GROUP BY u.bucket, user_id, event_type
 ORDER BY u.bucket, user_id NULLS LAST, event_type"""
        frame = self._frame(org, sql, params)
        return _shape(
            frame, ["bucket", "user_id", "user_email", "event_type", "events"], times=["bucket"]
        )

    def user_heatmap(
        self, org: str, start: Any, end: Any, user_id: str, time_zone: str
    ) -> pd.DataFrame:
        """One user's events in [start, end) by ISO weekday (1 = Monday .. 7 = Sunday) and
        hour of day in `time_zone` (an IANA name): at most 7 x 24 rows, the cells with
        events, aggregated in SQL. The hour rule of the Users page and its drill-down
        (dashboard/user_events.py): the UTC hour bucket an event falls in, shifted whole into
        the zone (with a +05:30 zone, the local hour that bucket starts in)."""
        params = _range_params(start, end, timedelta(hours=1))
        params.update(user_id=str(user_id), tz=check_time_zone(time_zone))
        sql = f"""
WITH {_raw_cte("e.user_id = :user_id")}
SELECT CAST(extract(isodow FROM l) AS integer) AS weekday,
       CAST(extract(hour FROM l) AS integer) AS hour, sum(events)::bigint AS events
  FROM (
    SELECT bucket AT TIME ZONE CAST(:tz AS text) AS l, events
      FROM (
        SELECT bucket, events FROM org_rollup_hour_users
         WHERE user_id = :user_id AND bucket >= :a0 AND bucket < :a1
        UNION ALL
        SELECT bucket, 1 FROM raw
      ) b
  ) c
 GROUP BY 1, 2
 ORDER BY 1, 2"""
        frame = self._frame(org, sql, params)
        return _shape(frame, ["weekday", "hour", "events"])

    def totals(self, org: str, start: Any, end: Any) -> dict[str, Any]:
        """Events, distinct users, distinct resources and events per family in [start, end)."""
        hour = _tier_params(start, end)
        day = _range_params(start, end, timedelta(days=1))
        params = {**hour, **{f"d{k}": v for k, v in day.items()}}
        day_raw = _raw_cte(name="draw", p="d", org=False)
        # Distinct users (resources) of the whole days [dda, ddb): those with a first active
        # day there (0025's day gaps), plus the raw part's that have no rolled-up day there
        # (one index probe each: OFFSET 0 keeps the planner from hashing every user-day).
        in_days = "u.day >= :dda AND u.day < :ddb"
        sql = f"""
WITH {_raw_cte()},
{day_raw}
SELECT 'family' AS kind, event_type AS name, sum(events)::bigint AS n
  FROM ({_TIERED_ACTIONS.format(fam="")}
  ) f GROUP BY event_type
UNION ALL
SELECT 'users', NULL,
       (SELECT coalesce(sum(g.users), 0) FROM org_rollup_user_day_gaps g
         WHERE g.day >= :dda AND g.day < :ddb AND (g.prev_day IS NULL OR g.prev_day < :dda))
     + (SELECT count(*) FROM (SELECT DISTINCT user_id FROM draw WHERE user_id IS NOT NULL) d
         WHERE NOT EXISTS (SELECT 1 FROM org_rollup_user_days u
                            WHERE u.user_id = d.user_id AND {in_days} OFFSET 0))
UNION ALL
SELECT 'resources', NULL,
       (SELECT coalesce(sum(g.resources), 0) FROM org_rollup_resource_day_gaps g
         WHERE g.day >= :dda AND g.day < :ddb AND (g.prev_day IS NULL OR g.prev_day < :dda))
     + (SELECT count(*)
          FROM (SELECT DISTINCT resource_type, resource_id FROM draw
                 WHERE resource_id IS NOT NULL) d
         WHERE NOT CASE WHEN d.resource_type IS NULL
                   THEN EXISTS (SELECT 1 FROM org_rollup_resource_days u
                                 WHERE u.resource_id = d.resource_id
                                   AND u.resource_type IS NULL AND {in_days})
                   ELSE EXISTS (SELECT 1 FROM org_rollup_resource_days u
                                 WHERE u.resource_id = d.resource_id
                                   AND u.resource_type = d.resource_type AND {in_days})
                   END)"""
        frame = self._frame(org, sql, params)
        by_family: dict[str, int] = {}
        users = resources = 0
        for kind, name, n in frame.itertuples(index=False):
            if kind == "family":
                by_family[str(name)] = int(n)
            elif kind == "users":
                users = int(n)
            else:
                resources = int(n)
        by_family = dict(sorted(by_family.items(), key=lambda kv: (-kv[1], kv[0])))
        return {
            "events": sum(by_family.values()),
            "users": users,
            "resources": resources,
            "by_family": by_family,
        }

    def top_users(
        self, org: str, start: Any, end: Any, n: int = 10, family: str | None = None
    ) -> pd.DataFrame:
        """The `n` users with most events (of `family`, when given) in [start, end)."""
        n = _limit(n)
        if family is not None:
            # Per family from the hourly user rollup (it keeps each family's own emails).
            params = _range_params(start, end, timedelta(hours=1))
            params.update(n=n, family=str(family))
            sql = f"""
WITH {_raw_cte("e.event_type = :family")}
SELECT user_id, max(user_email) AS user_email, sum(events)::bigint AS events
  FROM (
    SELECT user_id, user_email, events FROM org_rollup_hour_users
     WHERE bucket >= :a0 AND bucket < :a1 AND event_type = :family
    UNION ALL
    SELECT user_id, max(user_email), count(*) FROM raw GROUP BY 1
  ) u
 GROUP BY user_id
 ORDER BY events DESC, user_id NULLS LAST
 LIMIT :n"""
        else:
            params = _range_params(start, end, timedelta(days=1))
            params.update(_rank_params(params["da"], params["db"], n))
            params.update(_year_windows(params["da"], params["db"]))
            # Events of one user in the whole days: its year rows' slices.
            # (year = ANY: the years are an index condition, not a filter over every row.)
            year_events = """(SELECT coalesce(sum({e}), 0) FROM org_rollup_user_years y
                      JOIN w ON w.year = y.year
                     WHERE y.year = ANY(CAST(:wy AS smallint[])) AND {match})""".replace(
                "{e}", _YEAR_EVENTS
            )
            exact = f"""CASE WHEN c.user_id IS NULL
                 THEN {year_events.format(match="y.user_id IS NULL")}
                 ELSE {year_events.format(match="y.user_id = c.user_id")} END"""
            ranked_all = """
  SELECT user_id, sum(events)::bigint AS events
    FROM (
      SELECT y.user_id, {e} AS events
        FROM org_rollup_user_years y JOIN w ON w.year = y.year
      UNION ALL
      SELECT user_id, n FROM rawc
    ) u
   GROUP BY user_id HAVING sum(events) > 0
   ORDER BY events DESC, user_id NULLS LAST
   LIMIT :n""".replace("{e}", _YEAR_EVENTS)
            sql = f"""
WITH {_raw_cte()},{_WINDOWS},
rawc AS (SELECT user_id, {_USER_KEY} AS ukey, count(*) AS n FROM raw GROUP BY user_id),
{
                _ranking(
                    months="auditlens_top_user_months",
                    value="events",
                    keys=["user_id"],
                    join="rawc.ukey = " + _USER_KEY.replace("user_id", "c.user_id"),
                    exact=exact,
                    order="user_id NULLS LAST",
                    ranked_all=ranked_all,
                )
            }
SELECT t.user_id,
       (SELECT max(q.email) FROM (
          SELECT d.user_email AS email FROM org_rollup_user_days d
           WHERE d.user_id = t.user_id AND d.day >= :da AND d.day < :db
          UNION ALL
          SELECT d.user_email FROM org_rollup_user_days d
           WHERE d.user_id IS NULL AND t.user_id IS NULL AND d.day >= :da AND d.day < :db
          UNION ALL
          SELECT r.user_email FROM raw r WHERE r.user_id IS NOT DISTINCT FROM t.user_id
        ) q) AS user_email,
       t.events
  FROM ranked t
 ORDER BY t.events DESC, t.user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        return _shape(frame, ["user_id", "user_email", "events"])

    def top_resources(
        self, org: str, start: Any, end: Any, n: int = 10, *, distinct_users: bool = True
    ) -> pd.DataFrame:
        """The `n` resources with most events in [start, end), with their distinct users
        unless `distinct_users=False` (then without that column: counting a popular source's
        users over weeks reads many rollup rows, which a ranking by events does not need)."""
        params = _range_params(start, end, timedelta(days=1))
        params.update(_rank_params(params["da"], params["db"], _limit(n)))
        params.update(_year_windows(params["da"], params["db"]))
        year_events = """(SELECT coalesce(sum({e}), 0) FROM org_rollup_resource_years y
                      JOIN w ON w.year = y.year
                     WHERE y.year = ANY(CAST(:wy AS smallint[]))
                       AND y.resource_id = c.resource_id AND {match})""".replace(
            "{e}", _YEAR_EVENTS
        )
        exact = f"""CASE WHEN c.resource_type IS NULL
                 THEN {year_events.format(match="y.resource_type IS NULL")}
                 ELSE {year_events.format(match="y.resource_type = c.resource_type")} END"""
        ranked_all = """
  SELECT resource_type, resource_id, sum(events)::bigint AS events
    FROM (
      SELECT y.resource_type, y.resource_id, {e} AS events
        FROM org_rollup_resource_years y JOIN w ON w.year = y.year
      UNION ALL
      SELECT resource_type, resource_id, n FROM rawc
    ) r
   GROUP BY resource_type, resource_id HAVING sum(events) > 0
   ORDER BY events DESC, resource_type NULLS FIRST, resource_id
   LIMIT :n""".replace("{e}", _YEAR_EVENTS)
        sql = f"""
WITH {_raw_cte("e.resource_id IS NOT NULL")},{_WINDOWS},
rawc AS (
  SELECT resource_type, resource_id, {_RESOURCE_KEY} AS rkey, count(*) AS n
    FROM raw GROUP BY resource_type, resource_id
),
{
            _ranking(
                months="auditlens_top_resource_months",
                value="accesses",
                keys=["resource_type", "resource_id"],
                join="rawc.resource_id = c.resource_id AND rawc.rkey = "
                + _RESOURCE_KEY.replace("resource_type", "c.resource_type"),
                exact=exact,
                order="resource_type NULLS FIRST, resource_id",
                ranked_all=ranked_all,
            )
        }"""
        if not distinct_users:
            sql += """
SELECT resource_type, resource_id, events FROM ranked
 ORDER BY events DESC, resource_type NULLS FIRST, resource_id"""
            frame = self._frame(org, sql, params)
            return _shape(frame, ["resource_type", "resource_id", "events"])
        # Distinct users without a DISTINCT over each winner's ~thousands of rows: a user has
        # one row per year, so the rollup's users are its rows active in the window (the
        # first such year's, when the window spans years), plus the raw part's users that
        # have none. Those checks probe the whole key, year by year (LATERAL and OFFSET 0: one
        # probe a row and year, not a scan of every row of the resource); `{k}`: the row.
        active = """EXISTS (SELECT 1 FROM w CROSS JOIN LATERAL (
                  SELECT p.days FROM org_rollup_resource_user_years p
                   WHERE p.year = w.year AND p.resource_id = {k}.resource_id AND {type}
                     AND p.user_id = {k}.user_id OFFSET 0) p
                 WHERE auditlens_any_day(p.days, w.a, w.b){earlier})"""

        def probe(k: str, earlier: str = "") -> str:
            null_type = active.format(k=k, type="p.resource_type IS NULL", earlier=earlier)
            same_type = active.format(
                k=k, type=f"p.resource_type = {k}.resource_type", earlier=earlier
            )
            return f"CASE WHEN {k}.resource_type IS NULL THEN {null_type} ELSE {same_type} END"

        sql += f"""
SELECT t.resource_type, t.resource_id, t.events,
       (SELECT count(*) FROM org_rollup_resource_user_years x JOIN w ON w.year = x.year
         WHERE x.resource_id = t.resource_id
           AND x.resource_type IS NOT DISTINCT FROM t.resource_type
           AND x.user_id IS NOT NULL AND auditlens_any_day(x.days, w.a, w.b)
           AND (cardinality(CAST(:wy AS smallint[])) = 1
                OR NOT {probe("x", " AND w.year < x.year")}))
     + (SELECT count(DISTINCT r.user_id) FROM raw r
         WHERE r.resource_id = t.resource_id
           AND r.resource_type IS NOT DISTINCT FROM t.resource_type
           AND r.user_id IS NOT NULL AND NOT {probe("r")})
       AS distinct_users
  FROM ranked t
 ORDER BY t.events DESC, t.resource_type NULLS FIRST, t.resource_id"""
        frame = self._frame(org, sql, params)
        return _shape(frame, ["resource_type", "resource_id", "events", "distinct_users"])

    def user_day_features(
        self, org: str, start_day: Any, end_day: Any, *, user_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """One row per (UTC day, user) with detection's features; days inclusive. With
        `user_ids`, only those users (at most MAX_FEATURE_USERS; a NULL user is never one)."""
        params = _day_params(start_day, end_day)
        days, raw_users = _user_day_filter(params, user_ids)
        rollup_cols = ", ".join(f"sum({c})::bigint AS {c}" for c in _ADDITIVE)
        sql = f"""
WITH {_raw_cte(raw_users, measures=True)},
base AS (
  SELECT day, user_id, user_email, {", ".join(_ADDITIVE)}, max_results_count,
         first_event, last_event
    FROM org_rollup_user_days WHERE {days}
  UNION ALL
  SELECT day, user_id, {_USER_DAY_AGG}
    FROM raw GROUP BY day, user_id
),
feat AS (
  SELECT day, user_id, {_USER_KEY} AS ukey, max(user_email) AS user_email, {rollup_cols},
         coalesce(max(max_results_count), 0)::bigint AS max_results_count,
         min(first_event) AS first_event, max(last_event) AS last_event
    FROM base GROUP BY day, user_id
),
res AS (
  SELECT day, {_USER_KEY} AS ukey, count(*) AS distinct_resources
    FROM (
      SELECT day, user_id, resource_type, resource_id FROM org_rollup_user_day_resources
       WHERE {days}
      UNION
      SELECT day, user_id, resource_type, resource_id FROM raw WHERE resource_id IS NOT NULL
    ) r GROUP BY day, ukey
),
ips AS (
  SELECT day, {_USER_KEY} AS ukey, count(DISTINCT ip_address) AS distinct_ips,
         count(DISTINCT user_agent) AS distinct_user_agents
    FROM (
      SELECT day, user_id, ip_address, user_agent FROM org_rollup_user_day_ips
       WHERE {days}
      UNION ALL
      SELECT day, user_id, ip_address, user_agent FROM raw
    ) i GROUP BY day, ukey
)
SELECT f.day, f.user_id, f.user_email, f.events,
       {", ".join(f"f.{c}" for c in FAMILY_COLUMNS)},
       f.searches, f.views, f.downloads, f.exports, f.deletions,
       coalesce(r.distinct_resources, 0) AS distinct_resources,
       coalesce(i.distinct_ips, 0) AS distinct_ips,
       coalesce(i.distinct_user_agents, 0) AS distinct_user_agents,
       f.off_hours_events, f.records_exported, f.max_results_count,
       {_epoch_us("f.first_event")} AS first_event, {_epoch_us("f.last_event")} AS last_event
  FROM feat f
  LEFT JOIN res r ON r.day = f.day AND r.ukey = f.ukey
  LEFT JOIN ips i ON i.day = f.day AND i.ukey = f.ukey
 ORDER BY f.day, f.user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        return _shape(
            frame, list(FEATURE_COLUMNS), times=["first_event", "last_event"], days=["day"]
        )

    def resource_day_access(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> pd.DataFrame:
        """Accesses and distinct users per (UTC day, resource); days inclusive."""
        params = _day_params(start_day, end_day)
        conds = []
        if resource_type is not None:
            params["resource_type"] = str(resource_type)
            conds.append("resource_type = :resource_type")
        if resource_id is not None:
            params["resource_id"] = str(resource_id)
            conds.append("resource_id = :resource_id")
        extra = " AND ".join(["resource_id IS NOT NULL", *conds])
        raw_extra = " AND ".join(f"e.{c}" for c in ["resource_id IS NOT NULL", *conds])
        sql = f"""
WITH {_raw_cte(raw_extra)}
SELECT day, resource_type, resource_id, sum(events)::bigint AS accesses,
       count(DISTINCT user_id) AS distinct_users
  FROM (
    SELECT day, resource_type, resource_id, user_id, events FROM org_rollup_user_day_resources
     WHERE day BETWEEN :d0 AND :d1 AND {extra}
    UNION ALL
    SELECT day, resource_type, resource_id, user_id, count(*) FROM raw GROUP BY 1, 2, 3, 4
  ) r
 GROUP BY day, resource_type, resource_id
 ORDER BY day, resource_type NULLS FIRST, resource_id"""
        frame = self._frame(org, sql, params)
        return _shape(
            frame,
            ["day", "resource_type", "resource_id", "accesses", "distinct_users"],
            days=["day"],
        )

    def user_day_resources(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> pd.DataFrame:
        """Events per (UTC day, user, resource); days inclusive; optionally one resource
        (the compliance question "who accessed X between ... and ...")."""
        params = _day_params(start_day, end_day)
        conds = ["resource_id IS NOT NULL"]
        if resource_type is not None:
            params["resource_type"] = str(resource_type)
            conds.append("resource_type = :resource_type")
        if resource_id is not None:
            params["resource_id"] = str(resource_id)
            conds.append("resource_id = :resource_id")
        sql = f"""
WITH {_raw_cte(" AND ".join("e." + c for c in conds))}
SELECT day, user_id, resource_type, resource_id, sum(events)::bigint AS events
  FROM (
    SELECT day, user_id, resource_type, resource_id, events FROM org_rollup_user_day_resources
     WHERE day BETWEEN :d0 AND :d1 AND {" AND ".join(conds)}
    UNION ALL
    SELECT day, user_id, resource_type, resource_id, count(*) FROM raw GROUP BY 1, 2, 3, 4
  ) r
 GROUP BY day, user_id, resource_type, resource_id
 ORDER BY day, user_id NULLS LAST, resource_type NULLS FIRST, resource_id"""
        frame = self._frame(org, sql, params)
        return _shape(
            frame, ["day", "user_id", "resource_type", "resource_id", "events"], days=["day"]
        )

    def resource_users(
        self, org: str, start_day: Any, end_day: Any, resource_type: str | None, resource_id: str
    ) -> pd.DataFrame:
        """Who accessed one resource between two UTC days (inclusive), one row per user:
        `user_id, events, first_day, last_day, active_days`, most events first. The summary of
        the compliance question; the events themselves are one indexed query away."""
        params = _day_params(start_day, end_day)
        params.update(resource_id=str(resource_id), resource_type=resource_type)
        match = "resource_id = :resource_id AND resource_type IS NOT DISTINCT FROM :resource_type"
        # The rollup holds one row per (day, user) of the resource: each user's figures are
        # one hash aggregate over an index-only range (migration 0055's covering index), no
        # sort for count(DISTINCT day). The few raw (day, user) pairs past the watermark add
        # their events, and a day only when the rollup does not already hold it.
        sql = f"""
WITH {_raw_cte("e." + match.replace("resource_type IS", "e.resource_type IS"))},
rolled AS (
  SELECT user_id, sum(events) AS events, min(day) AS first_day, max(day) AS last_day,
         count(*) AS active_days
    FROM org_rollup_user_day_resources
   WHERE day BETWEEN :d0 AND :d1 AND {match}
   GROUP BY user_id
),
raw_days AS (
  SELECT r.user_id, r.day, count(*) AS events,
         NOT EXISTS (
           SELECT 1 FROM org_rollup_user_day_resources x
            WHERE x.day = r.day AND x.user_id IS NOT DISTINCT FROM r.user_id
              AND x.resource_id = :resource_id
              AND x.resource_type IS NOT DISTINCT FROM :resource_type) AS new_day
    FROM raw r GROUP BY r.user_id, r.day
)
SELECT user_id, sum(events)::bigint AS events, min(first_day) AS first_day,
       max(last_day) AS last_day, sum(active_days)::bigint AS active_days
  FROM (
    SELECT user_id, events, first_day, last_day, active_days FROM rolled
    UNION ALL
    SELECT user_id, events, day, day, new_day::int FROM raw_days
  ) u
 GROUP BY user_id
 ORDER BY events DESC, user_id NULLS LAST"""
        frame = self._frame(org, sql, params)
        frame = _shape(
            frame,
            ["user_id", "events", "first_day", "last_day", "active_days"],
            days=["first_day", "last_day"],
        )
        frame["active_days"] = frame["active_days"].astype("int64")
        return frame

    def resource_details(
        self,
        org: str,
        start_day: Any,
        end_day: Any,
        resource_id: str,
        resource_type: str | None = None,
        *,
        any_type: bool = False,
    ) -> ResourceDetails:
        """The compliance report's printable additions for one resource between two UTC days
        (inclusive): accesses by family and action, log records touched and distinct IP
        addresses (overall and per user), each user's distinct actions
        (`sql.resource_details`: migration 0044's tables). `resource_type` None is the NULL
        type; `any_type=True` takes every type of the id together (a user's figures then
        span its types). One statement; equals aggregating the resource's raw events."""
        params = _day_params(start_day, end_day)
        params.update(_year_windows(params["d0"], params["d1"] + timedelta(days=1)))
        params["resource_id"] = str(resource_id)
        if resource_type is not None and not any_type:
            params["resource_type"] = str(resource_type)
        types, e_types, x_types = (
            type_match(resource_type, any_type=any_type, alias=a) for a in ("", "e.", "x.")
        )
        raw = _raw_cte(f"e.resource_id = :resource_id AND {e_types}", touched=True)
        sql = details_sql(raw, _WINDOWS, types, x_types)
        return shape(self._frame(org, sql, params))

    def user_emails(self, org: str, user_days: Mapping[str, Any]) -> pd.DataFrame:
        """`user_id, user_email`: each user's email on one UTC day (`user_days` maps a user id
        to that day; the largest email the user's events carry that day, NULL when none or
        no events). One index probe per user: the email next to a per-user summary (the
        compliance report's "who accessed it", at each user's last access day)."""
        if len(user_days) > MAX_EMAIL_USERS:
            raise ReadModelError(
                f"user_days: at most {MAX_EMAIL_USERS:,} users, got {len(user_days):,}"
            )
        users = [str(u) for u in user_days]
        days = [_day(d, "user_days") for d in user_days.values()]
        if not users:
            return _shape(pd.DataFrame(), ["user_id", "user_email"])
        params = _day_params(min(days), max(days))
        params.update(users=users, days=days)
        sql = f"""
WITH {_raw_cte("e.user_id = ANY(CAST(:users AS text[]))")}
SELECT u.user_id,
       (SELECT max(q.user_email) FROM (
          SELECT d.user_email FROM org_rollup_user_days d
           WHERE d.user_id = u.user_id AND d.day = u.day
          UNION ALL
          SELECT r.user_email FROM raw r WHERE r.user_id = u.user_id AND r.day = u.day
        ) q) AS user_email
  FROM unnest(CAST(:users AS text[]), CAST(:days AS date[])) AS u(user_id, day)
 ORDER BY u.user_id"""
        frame = self._frame(org, sql, params)
        return _shape(frame, ["user_id", "user_email"])

    def user_day_ips(self, org: str, start_day: Any, end_day: Any) -> pd.DataFrame:
        """Events per (UTC day, user, IP address, user agent); days inclusive. IPs as text."""
        params = _day_params(start_day, end_day)
        sql = f"""
WITH {_raw_cte()}
SELECT day, user_id, abbrev(r.ip_address) AS ip_address, user_agent, sum(events)::bigint AS events
  FROM (
    SELECT day, user_id, ip_address, user_agent, events FROM org_rollup_user_day_ips
     WHERE day BETWEEN :d0 AND :d1
    UNION ALL
    SELECT day, user_id, ip_address, user_agent, count(*) FROM raw GROUP BY 1, 2, 3, 4
  ) r
 GROUP BY day, user_id, r.ip_address, user_agent
 ORDER BY day, user_id NULLS LAST, r.ip_address NULLS FIRST, user_agent NULLS FIRST"""
        frame = self._frame(org, sql, params)
        return _shape(frame, ["day", "user_id", "ip_address", "user_agent", "events"], days=["day"])

    # -- refresh -----------------------------------------------------------------------------

    def watermark(self) -> str:
        """The current watermark (an xid8, as text)."""
        with self.db.admin() as session:
            return str(
                session.scalar("SELECT watermark::text FROM rollup_state WHERE name = 'events'")
            )

    def refresh(self, *, wait: bool = True, rebuild: bool = False) -> RefreshStats:
        """Roll up every event whose transaction ended since the last refresh.

        Concurrent refreshes are serialised by an advisory lock; with `wait=False` a refresh
        that finds another one running returns at once (`skipped`), since that one or the
        next will take these events. `rebuild` empties the rollups and rolls up everything
        again (after an organisation's working hours or time zone changed; a retention
        purge keeps the rollups exact itself, see `recompute_days`).
        """
        started = time.perf_counter()
        with self.db.admin(timeout_ms=24 * 3_600_000) as session:
            if wait:
                session.execute("SELECT pg_advisory_xact_lock(:k)", {"k": REFRESH_LOCK})
            elif not session.scalar("SELECT pg_try_advisory_xact_lock(:k)", {"k": REFRESH_LOCK}):
                return RefreshStats(0, time.perf_counter() - started, "", skipped=True)
            # The delta's GROUP BYs hash in memory instead of spilling sorts to disk.
            session.execute("SET LOCAL work_mem = '256MB'")
            if rebuild:
                session.execute(f"TRUNCATE {', '.join(ROLLUP_TABLES)}")
                session.execute(
                    "UPDATE rollup_state SET watermark = '0'::xid8, events_total = 0"
                    " WHERE name = 'events'"
                )
            old = session.scalar(
                "SELECT watermark::text FROM rollup_state WHERE name = 'events' FOR UPDATE"
            )
            new = session.scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
            if int(new) <= int(old):
                return RefreshStats(0, time.perf_counter() - started, str(old))
            events = _roll_up(session, str(old), str(new))
            session.execute(
                "UPDATE rollup_state SET watermark = CAST(:new AS xid8), refreshed_at = now(),"
                " events_total = events_total + :n WHERE name = 'events'",
                {"new": new, "n": events},
            )
        if events >= VACUUM_AFTER_EVENTS:
            self._vacuum()
        if self.maintains_continuous_aggregates:
            self._refresh_continuous_aggregates()
        return RefreshStats(events, time.perf_counter() - started, str(new))

    def _autocommit(self, statements: Sequence[str]) -> None:
        with self.db.raw_connection() as conn:
            previous = conn.autocommit
            conn.rollback()
            conn.autocommit = True
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.autocommit = previous

    def _refresh_continuous_aggregates(self) -> None:
        """Materialise the continuous aggregates up to the last whole bucket (real-time
        aggregation covers the rest) and compress raw chunks older than COMPRESS_AFTER.
        Outside any transaction: refresh_continuous_aggregate refuses to run inside one."""
        self._autocommit(
            [
                "CALL refresh_continuous_aggregate('cagg_hour_actions', NULL,"
                " date_trunc('hour', now(), 'UTC'))",
                "CALL refresh_continuous_aggregate('cagg_hour_users', NULL,"
                " date_trunc('hour', now(), 'UTC'))",
                "CALL refresh_continuous_aggregate('cagg_day_actions', NULL,"
                " date_trunc('day', now(), 'UTC'))",
            ]
        )
        with self.db.admin() as session:
            compressed = session.scalar(
                "SELECT coalesce(bool_or(compression_enabled), false)"
                " FROM timescaledb_information.hypertables WHERE hypertable_name = 'audit_events'"
            )
            if compressed:
                session.execute(
                    "SELECT compress_chunk(c, if_not_compressed => true)"
                    " FROM show_chunks('audit_events', older_than => CAST(:age AS interval)) c",
                    {"age": COMPRESS_AFTER},
                    max_rows=1_000_000,
                )

    def _vacuum(self) -> None:
        # VACUUM cannot run in a transaction: an autocommit connection of the pool's own.
        self._autocommit([f"VACUUM (ANALYZE) {', '.join(ROLLUP_TABLES)}"])


def _fill_delta(
    session: ScopedSession, where: str, params: Mapping[str, Any], *, join: str = ""
) -> int:
    """Derive the events matching `where` (over `audit_events e`, plus `join`) into the temp
    table rollup_delta; returns their count."""
    session.execute(
        """
CREATE TEMP TABLE rollup_delta (
  organization_id text, event_time timestamptz, event_type text, event_action text,
  user_id text, user_email text, ip_address inet, user_agent text, resource_type text,
  resource_id text, bucket timestamptz, day date, off_hours boolean, records bigint,
  results bigint, touched bigint
) ON COMMIT DROP"""
    )
    session.execute(
        f"""
INSERT INTO rollup_delta
WITH o AS (
  SELECT organization_id, {_VALID_TZ.format(tz="time_zone")} AS tz,
         work_start_hour AS ws, work_end_hour AS we
    FROM organizations
)
SELECT {
            _DERIVED.replace("o.tz", "coalesce(o.tz, 'UTC')")
            .replace("o.ws", "coalesce(o.ws, 8::smallint)")
            .replace("o.we", "coalesce(o.we, 19::smallint)")
        }, {TOUCHED}
  FROM audit_events e {join} LEFT JOIN o ON o.organization_id = e.organization_id
 WHERE {where}""",
        params,
    )
    return int(session.scalar("SELECT count(*) FROM rollup_delta"))


def _roll_up(session: ScopedSession, old: str, new: str) -> int:
    """Add the events with old <= ingest_xid < new to every rollup table; returns their count."""
    events = _fill_delta(
        session,
        "e.ingest_xid >= CAST(:old AS xid8) AND e.ingest_xid < CAST(:new AS xid8)",
        {"old": old, "new": new},
    )
    if events == 0:
        session.execute("DROP TABLE rollup_delta")
        return 0
    _merge_delta(session)
    return events


def _merge_delta(session: ScopedSession, *, gaps: bool = True) -> None:
    """Add rollup_delta's events to every rollup table (then drop rollup_delta). `gaps=False`
    leaves the day gaps (0025) to the caller (recompute_days)."""
    session.execute("ANALYZE rollup_delta")
    session.execute(
        """
INSERT INTO rollup_hour_actions AS r (organization_id, bucket, event_type, event_action, events)
SELECT organization_id, bucket, event_type, event_action, count(*)
  FROM rollup_delta GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, bucket, event_type, event_action)
DO UPDATE SET events = r.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_day_actions AS r (organization_id, day, event_type, event_action, events)
SELECT organization_id, day, event_type, event_action, count(*)
  FROM rollup_delta GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, day, event_type, event_action)
DO UPDATE SET events = r.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_hour_users AS r
  (organization_id, user_id, bucket, event_type, user_email, events)
SELECT organization_id, user_id, bucket, event_type, max(user_email), count(*)
  FROM rollup_delta GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, user_id, bucket, event_type)
DO UPDATE SET events = r.events + excluded.events,
              user_email = greatest(r.user_email, excluded.user_email)"""
    )
    additive = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _ADDITIVE)
    if gaps:
        _create_new_days(session)
    # The user-days that did not exist before (inserted, xmax = 0) change the day gaps.
    capture = (
        "WITH ins AS ({}\n RETURNING organization_id, user_id, day, xmax = 0 AS inserted)"
        " INSERT INTO rollup_new_user_days SELECT organization_id, user_id, day FROM ins"
        " WHERE inserted AND user_id IS NOT NULL"
        if gaps
        else "{}"
    )
    session.execute(
        capture.format(
            f"""
INSERT INTO rollup_user_days AS r (organization_id, day, user_id, user_email,
  {", ".join(_ADDITIVE)}, max_results_count, first_event, last_event)
SELECT organization_id, day, user_id, {_USER_DAY_AGG}
  FROM rollup_delta GROUP BY organization_id, day, user_id
ON CONFLICT (organization_id, day, user_id)
DO UPDATE SET {additive},
              user_email = greatest(r.user_email, excluded.user_email),
              max_results_count = greatest(r.max_results_count, excluded.max_results_count),
              first_event = least(r.first_event, excluded.first_event),
              last_event = greatest(r.last_event, excluded.last_event)"""
        )
    )
    session.execute(
        """
INSERT INTO rollup_user_day_resources AS r
  (organization_id, day, user_id, resource_type, resource_id, events, touched)
SELECT organization_id, day, user_id, resource_type, resource_id, count(*),
       coalesce(sum(touched), 0)
  FROM rollup_delta WHERE resource_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (organization_id, day, user_id, resource_type, resource_id)
DO UPDATE SET events = r.events + excluded.events, touched = r.touched + excluded.touched"""
    )
    for statement in MERGE:
        session.execute(statement)
    session.execute(
        """
INSERT INTO rollup_user_day_ips AS r
  (organization_id, day, user_id, ip_address, user_agent, events)
SELECT organization_id, day, user_id, ip_address, user_agent, count(*)
  FROM rollup_delta GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (organization_id, day, user_id, ip_address, user_agent)
DO UPDATE SET events = r.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_user_years AS r (organization_id, user_id, year, counts)
SELECT organization_id, user_id, year,
       (SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY g)
          FROM generate_series(0, 365) AS g
          LEFT JOIN unnest(doys, ns) AS c(doy, n) ON c.doy = g)
  FROM (
    SELECT organization_id, user_id, extract(year FROM day)::smallint AS year,
           array_agg(auditlens_day_of_year(day)) AS doys, array_agg(n) AS ns
      FROM (SELECT organization_id, user_id, day, count(*) AS n
              FROM rollup_delta GROUP BY 1, 2, 3) d
     GROUP BY 1, 2, 3
  ) u
ON CONFLICT (organization_id, year, user_id)
DO UPDATE SET counts = auditlens_add_counts(r.counts, excluded.counts)"""
    )
    session.execute(
        """
INSERT INTO rollup_resource_years AS r (organization_id, resource_type, resource_id, year, counts)
SELECT organization_id, resource_type, resource_id, year,
       (SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY g)
          FROM generate_series(0, 365) AS g
          LEFT JOIN unnest(doys, ns) AS c(doy, n) ON c.doy = g)
  FROM (
    SELECT organization_id, resource_type, resource_id, extract(year FROM day)::smallint AS year,
           array_agg(auditlens_day_of_year(day)) AS doys, array_agg(n) AS ns
      FROM (SELECT organization_id, resource_type, resource_id, day, count(*) AS n
              FROM rollup_delta WHERE resource_id IS NOT NULL GROUP BY 1, 2, 3, 4) d
     GROUP BY 1, 2, 3, 4
  ) u
ON CONFLICT (organization_id, year, resource_type, resource_id)
DO UPDATE SET counts = auditlens_add_counts(r.counts, excluded.counts)"""
    )
    session.execute(
        """
INSERT INTO rollup_resource_user_years AS r
  (organization_id, resource_type, resource_id, user_id, year, days)
SELECT organization_id, resource_type, resource_id, user_id, extract(year FROM day)::smallint,
       bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1))
  FROM (SELECT DISTINCT organization_id, resource_type, resource_id, user_id, day
          FROM rollup_delta WHERE resource_id IS NOT NULL) d
 GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (organization_id, resource_id, resource_type, year, user_id)
DO UPDATE SET days = r.days | excluded.days"""
    )
    capture = (
        "WITH ins AS ({}\n RETURNING organization_id, resource_type, resource_id, day,"
        " xmax = 0 AS inserted)"
        " INSERT INTO rollup_new_resource_days"
        " SELECT organization_id, resource_type, resource_id, day FROM ins WHERE inserted"
        if gaps
        else "{}"
    )
    session.execute(
        capture.format(
            """
INSERT INTO rollup_resource_days AS r (organization_id, day, resource_type, resource_id, accesses)
SELECT organization_id, day, resource_type, resource_id, count(*)
  FROM rollup_delta WHERE resource_id IS NOT NULL GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, day, resource_type, resource_id)
DO UPDATE SET accesses = r.accesses + excluded.accesses"""
        )
    )
    session.execute(
        """
INSERT INTO rollup_hour_families AS r (organization_id, bucket, event_type, events)
SELECT organization_id, bucket, event_type, count(*) FROM rollup_delta GROUP BY 1, 2, 3
ON CONFLICT (organization_id, bucket, event_type)
DO UPDATE SET events = r.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_user_months AS r (organization_id, month, user_id, events)
SELECT organization_id, date_trunc('month', day)::date, user_id, count(*)
  FROM rollup_delta GROUP BY 1, 2, 3
ON CONFLICT (organization_id, month, user_id) DO UPDATE SET events = r.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_resource_months AS r
  (organization_id, month, resource_type, resource_id, accesses)
SELECT organization_id, date_trunc('month', day)::date, resource_type, resource_id, count(*)
  FROM rollup_delta WHERE resource_id IS NOT NULL GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, month, resource_type, resource_id)
DO UPDATE SET accesses = r.accesses + excluded.accesses"""
    )
    if gaps:
        for spec in _GAPS:
            _shift_gaps(session, spec)
        session.execute("DROP TABLE rollup_new_user_days, rollup_new_resource_days")
    session.execute("DROP TABLE rollup_delta")


@dataclass(frozen=True)
class _GapSpec:
    """A day table whose keys' active days feed a gaps table (migration 0025)."""

    days: str  # the day table
    gaps: str  # its gaps table
    count: str  # the gaps table's count column
    keys: str  # the key columns
    match: str  # a key of `k` matches a day-table row `u`
    where: str  # day-table rows that count
    new: str  # the temp table of days a merge inserted


_GAPS = (
    _GapSpec(
        "rollup_user_days",
        "rollup_user_day_gaps",
        "users",
        "user_id",
        "k.user_id = u.user_id",
        "u.user_id IS NOT NULL",
        "rollup_new_user_days",
    ),
    _GapSpec(
        "rollup_resource_days",
        "rollup_resource_day_gaps",
        "resources",
        "resource_type, resource_id",
        "k.resource_id = u.resource_id AND k.resource_type IS NOT DISTINCT FROM u.resource_type",
        "true",
        "rollup_new_resource_days",
    ),
)


def _cols(spec: _GapSpec) -> list[str]:
    return [k.strip() for k in spec.keys.split(",")]


def _create_new_days(session: ScopedSession) -> None:
    session.execute(
        "CREATE TEMP TABLE rollup_new_user_days (organization_id text, user_id text, day date)"
        " ON COMMIT DROP"
    )
    session.execute(
        "CREATE TEMP TABLE rollup_new_resource_days (organization_id text, resource_type text,"
        " resource_id text, day date) ON COMMIT DROP"
    )


def _gap_rows(spec: _GapSpec, keys: str, sign: int, extra: str = "") -> str:
    """The gaps contributed by the keys in the table `keys`: one per active day and its
    previous active day (NULL: none), each counted `sign`; `extra` narrows the days."""
    return f"""
  SELECT organization_id, day,
         lag(day) OVER (PARTITION BY organization_id, {spec.keys} ORDER BY day) AS prev_day,
         {sign} AS n
    FROM {spec.days} u
   WHERE {spec.where} AND EXISTS (SELECT 1 FROM {keys} k
                                    WHERE k.organization_id = u.organization_id
                                      AND {spec.match}){extra}"""


def _add_gaps(session: ScopedSession, spec: _GapSpec, rows: str) -> None:
    session.execute(
        f"""
INSERT INTO {spec.gaps} AS g (organization_id, day, prev_day, {spec.count})
SELECT organization_id, day, prev_day, sum(n) FROM ({rows}) c
 GROUP BY 1, 2, 3 HAVING sum(n) <> 0
ON CONFLICT (organization_id, day, prev_day)
DO UPDATE SET {spec.count} = g.{spec.count} + excluded.{spec.count}"""
    )
    session.execute(f"DELETE FROM {spec.gaps} WHERE {spec.count} = 0")


def _shift_gaps(session: ScopedSession, spec: _GapSpec) -> None:
    """After a merge inserted the days in `spec.new`: the gaps of their keys now minus before
    (their rows without the inserted days)."""
    session.execute(
        f"CREATE TEMP TABLE rollup_gap_keys ON COMMIT DROP AS"
        f" SELECT DISTINCT organization_id, {spec.keys} FROM {spec.new}"
    )
    session.execute("ANALYZE rollup_gap_keys")
    session.execute(f"ANALYZE {spec.new}")
    before = (
        f"\n     AND NOT EXISTS (SELECT 1 FROM {spec.new} k"
        " WHERE k.organization_id = u.organization_id AND k.day = u.day"
        f" AND {spec.match})"
    )
    rows = (
        _gap_rows(spec, "rollup_gap_keys", 1)
        + "\n  UNION ALL"
        + _gap_rows(spec, "rollup_gap_keys", -1, before)
    )
    _add_gaps(session, spec, rows)
    session.execute("DROP TABLE rollup_gap_keys")


# Each rollup table and how its rows are placed in time: by UTC `day` or by hourly `bucket`.
_ROLLUP_TIME: dict[str, str] = {
    "rollup_hour_actions": "bucket",
    "rollup_day_actions": "day",
    "rollup_hour_users": "bucket",
    "rollup_user_days": "day",
    "rollup_user_day_resources": "day",
    "rollup_user_day_ips": "day",
    "rollup_resource_days": "day",
    "rollup_user_years": "year",
    "rollup_resource_years": "year",
    "rollup_resource_user_years": "year",
    "rollup_hour_families": "bucket",
    "rollup_user_months": "month",
    "rollup_resource_months": "month",
    "rollup_user_day_gaps": "gap",
    "rollup_resource_day_gaps": "gap",
    "rollup_resource_day_actions": "day",
    "rollup_resource_user_action_years": "year",
    "rollup_resource_user_ip_years": "year",
}


_RECOMPUTE_YEARS = """
SELECT organization_id, extract(year FROM day)::smallint AS year,
       array_agg(auditlens_day_of_year(day)) AS doys,
       ~bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1)) AS keep
  FROM rollup_recompute GROUP BY 1, 2"""
_CLEAR_YEAR_DAYS = f"""
WITH m AS ({_RECOMPUTE_YEARS}),
counts AS (
  UPDATE rollup_user_years t
     SET counts = (SELECT array_agg(CASE WHEN i - 1 = ANY(m.doys) THEN 0 ELSE x END ORDER BY i)
                     FROM unnest(t.counts) WITH ORDINALITY AS c(x, i))
    FROM m WHERE t.organization_id = m.organization_id AND t.year = m.year
  RETURNING 1
),
resource_counts AS (
  UPDATE rollup_resource_years t
     SET counts = (SELECT array_agg(CASE WHEN i - 1 = ANY(m.doys) THEN 0 ELSE x END ORDER BY i)
                     FROM unnest(t.counts) WITH ORDINALITY AS c(x, i))
    FROM m WHERE t.organization_id = m.organization_id AND t.year = m.year
  RETURNING 1
)
UPDATE rollup_resource_user_years t SET days = t.days & m.keep
  FROM m WHERE t.organization_id = m.organization_id AND t.year = m.year"""


def recompute_days(session: ScopedSession, org_days_sql: str) -> int:
    """Make the rollups of some (organisation, UTC day) pairs equal to the aggregation of the
    raw events still stored below the watermark, in the caller's (admin) transaction.

    `org_days_sql` is a query returning `organization_id, day` pairs (fixed SQL, no values:
    e.g. over the purge's temp table). The retention purge calls this in its own
    transaction, so the rollups never count a purged event. Takes the refresh lock: a refresh
    waits for the purge to commit and then rolls up from the same watermark. Returns the
    number of events rolled up again."""
    if set(_ROLLUP_TIME) != set(ROLLUP_TABLES):
        raise RuntimeError("every rollup table needs its time column in _ROLLUP_TIME")
    session.execute("SELECT pg_advisory_xact_lock(:k)", {"k": REFRESH_LOCK})
    watermark = session.scalar(
        "SELECT watermark::text FROM rollup_state WHERE name = 'events' FOR UPDATE"
    )
    session.execute(
        "CREATE TEMP TABLE rollup_recompute (organization_id text, day date, t0 timestamptz,"
        " t1 timestamptz, PRIMARY KEY (organization_id, day)) ON COMMIT DROP"
    )
    session.execute(
        "INSERT INTO rollup_recompute"
        " SELECT organization_id, day, day::timestamp AT TIME ZONE 'UTC',"
        "        (day + 1)::timestamp AT TIME ZONE 'UTC'"
        f" FROM (SELECT DISTINCT organization_id, day FROM ({org_days_sql}) q) d"
        " WHERE organization_id IS NOT NULL AND day IS NOT NULL"
    )
    session.execute("ANALYZE rollup_recompute")
    # Month totals lose the days about to be recomputed (the merge adds back what remains);
    # the day gaps lose every gap of the users and resources active on those days, and get
    # them back from their remaining days after the merge.
    session.execute(
        """
INSERT INTO rollup_user_months AS m (organization_id, month, user_id, events)
SELECT t.organization_id, date_trunc('month', t.day)::date, t.user_id, -sum(t.events)
  FROM rollup_user_days t JOIN rollup_recompute r
    ON t.organization_id = r.organization_id AND t.day = r.day
 GROUP BY 1, 2, 3
ON CONFLICT (organization_id, month, user_id) DO UPDATE SET events = m.events + excluded.events"""
    )
    session.execute(
        """
INSERT INTO rollup_resource_months AS m
  (organization_id, month, resource_type, resource_id, accesses)
SELECT t.organization_id, date_trunc('month', t.day)::date, t.resource_type, t.resource_id,
       -sum(t.accesses)
  FROM rollup_resource_days t JOIN rollup_recompute r
    ON t.organization_id = r.organization_id AND t.day = r.day
 GROUP BY 1, 2, 3, 4
ON CONFLICT (organization_id, month, resource_type, resource_id)
DO UPDATE SET accesses = m.accesses + excluded.accesses"""
    )
    for spec in _GAPS:
        session.execute(
            f"CREATE TEMP TABLE {spec.new}_keys ON COMMIT DROP AS"
            f" SELECT DISTINCT u.organization_id, {', '.join('u.' + k for k in _cols(spec))}"
            f" FROM {spec.days} u JOIN rollup_recompute r"
            f" ON u.organization_id = r.organization_id AND u.day = r.day WHERE {spec.where}"
        )
        session.execute(f"ANALYZE {spec.new}_keys")
        _add_gaps(session, spec, _gap_rows(spec, f"{spec.new}_keys", -1))
    for table, column in _ROLLUP_TIME.items():
        if column in ("year", "month", "gap"):
            continue
        match = "t.day = r.day" if column == "day" else "t.bucket >= r.t0 AND t.bucket < r.t1"
        session.execute(
            f"DELETE FROM {table} t USING rollup_recompute r"
            f" WHERE t.organization_id = r.organization_id AND {match}"
        )
    # The year tables: zero the affected days of every row of that organisation and year.
    session.execute(_CLEAR_YEAR_DAYS)
    for statement in CLEAR_YEAR_DAYS:
        session.execute(statement.format(recompute=_RECOMPUTE_YEARS))
    # One indexed range per (organisation, day): a nested loop over the few pairs.
    events = _fill_delta(
        session,
        "e.ingest_xid < CAST(:wm AS xid8)",
        {"wm": watermark},
        join="JOIN rollup_recompute r ON e.organization_id = r.organization_id"
        " AND e.event_time >= r.t0 AND e.event_time < r.t1",
    )
    if events:
        _merge_delta(session, gaps=False)
    else:
        session.execute("DROP TABLE rollup_delta")
    for spec in _GAPS:
        _add_gaps(session, spec, _gap_rows(spec, f"{spec.new}_keys", 1))
        session.execute(f"DROP TABLE {spec.new}_keys")
    session.execute("DELETE FROM rollup_user_months WHERE events = 0")
    session.execute("DELETE FROM rollup_resource_months WHERE accesses = 0")
    session.execute("DROP TABLE rollup_recompute")
    return events


def _limit(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000:
        raise ReadModelError(f"n must be a whole number from 1 to 10000, got: {n!r}")
    return n


def _shape(
    frame: pd.DataFrame,
    columns: list[str],
    *,
    times: Sequence[str] = (),
    days: Sequence[str] = (),
) -> pd.DataFrame:
    """Exactly the contracted columns and types, also when there are no rows."""
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame = frame[columns].copy()
    for column in times:
        # Times travel as integer microseconds since the epoch: exact, and far cheaper than
        # one tz-aware datetime object per row through the driver and pandas.
        values = frame[column]
        if pd.api.types.is_integer_dtype(values):
            frame[column] = pd.to_datetime(values, unit="us", utc=True)
        else:
            frame[column] = pd.to_datetime(values, utc=True)
    for column in columns:
        if column in times or column in days:
            continue
        if column in _INT_COLUMNS:
            frame[column] = frame[column].astype("int64")
    return frame.reset_index(drop=True)


_INT_COLUMNS = frozenset(
    {
        "weekday",
        "hour",
        "events",
        "accesses",
        "distinct_users",
        "distinct_resources",
        "distinct_ips",
        "distinct_user_agents",
        "max_results_count",
        *_ADDITIVE,
    }
)


class RefreshTimer:
    """Refreshes the rollups every `interval` seconds in a daemon thread, for long-running
    processes (the dashboard, the HTTP receiver). `stop()` ends it; usable as a context
    manager. A failed refresh is remembered in `last_error` and retried next interval."""

    def __init__(self, db: Database, interval: float = 30.0) -> None:
        if interval <= 0:
            raise ValueError(f"refresh interval must be positive, got: {interval}")
        self.model = ReadModel(db)
        self.interval = interval
        self.last_error: Exception | None = None
        self.last_stats: RefreshStats | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auditlens-refresh", daemon=True)

    def start(self) -> RefreshTimer:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_stats = self.model.refresh(wait=False)
                self.last_error = None
            except Exception as exc:  # a background timer must outlive one failed refresh
                self.last_error = exc
            self._stop.wait(self.interval)

    def __enter__(self) -> RefreshTimer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refresh_after_ingest(db: Database) -> RefreshStats:
    """The cheap call for writers after a batch: rolls up what ended since the last refresh
    unless another refresh is running (then it returns at once; that one or the next takes
    these events). Reads never wait for it: they add raw events past the watermark."""
    return ReadModel(db).refresh(wait=False)
