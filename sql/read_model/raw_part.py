"""The raw part of every read: the organisation's events the rollups do not hold for the
range, found in the read's own snapshot.

Every read is one snapshot (a REPEATABLE READ transaction): a first statement (ORG_SETTINGS)
reads the organisation's settings, the watermark and the time span of the organisation's
events past it; then ONE statement unions the rollups with the raw events past the watermark
inside that span, so an event is counted as soon as its transaction commits, refresh or not.
Ranges that do not start or end on a bucket boundary read the partial buckets from raw events,
so every answer equals the aggregation over raw events. Each branch of the raw part is marked
in the SQL, so the branches that cannot hold an event are dropped before the statement runs
(and it plans no raw event partition it cannot need).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sql.rollup.measures import DERIVED_LEAN, TOUCHED, derived

# The first statement of every read, in the read's own REPEATABLE READ snapshot: the
# organisation's settings (bound into the main statement: the time-zone check traps errors, a
# subtransaction, which parallel plans forbid), the watermark, and the time span of the
# organisation's events past it (auditlens_past_watermark_span), which bounds the main
# statement's raw part. No parameters: psycopg prepares it, so it is planned once per
# connection.
ORG_SETTINGS = """
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

# The derived columns with their types, as a relation without rows: the raw part of a read
# that needs no raw events at all (a range on bucket boundaries, nothing past the watermark).
_NO_RAW_COLUMNS = """NULL::text AS organization_id, NULL::timestamptz AS event_time,
         NULL::text AS event_type, NULL::text AS event_action, NULL::text AS user_id,
         NULL::text AS idless_email, NULL::text AS user_email, NULL::inet AS ip_address,
         NULL::text AS user_agent, NULL::text AS resource_type, NULL::text AS resource_id,
         NULL::timestamptz AS bucket, NULL::date AS day, NULL::boolean AS off_hours,
         NULL::bigint AS records, NULL::bigint AS results"""
# A branch of a raw part: /*raw:KIND:PREFIX*/ ... /*end*/, removed by prune_raw when empty.
_BRANCH = re.compile(r"/\*raw:(past|lo|hi):(\w*)\*/.*?/\*end\*/", re.DOTALL)
_TINY = timedelta(microseconds=1)  # timestamptz's resolution


def raw_cte(
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
    edges [:t0, :a0) and [:a1, :t1). `p` prefixes the parameter names. `Reads._frame`
    drops the branches that cannot hold an event (see prune_raw). Without `measures`, the
    columns off_hours, records and results are NULL; `touched` adds the log records touched
    (for resource_details only)."""
    cond = f" AND ({extra})" if extra else ""
    columns = derived() if measures else DERIVED_LEAN
    no_raw = _NO_RAW_COLUMNS
    if touched:
        columns = f"{columns.rstrip()}, {TOUCHED}"
        no_raw = f"{no_raw}, NULL::bigint AS touched"
    # AuditLens's own use is its own stream, never part of the organisation's figures.
    select = (
        f"UNION ALL SELECT {columns} FROM org_audit_events e CROSS JOIN org o"
        " WHERE NOT e.own_use AND "
    )
    head = f"{_ORG_CTE},\n" if org else ""
    # :{p}pa0/:{p}pa1: the aligned part narrowed to the span of the organisation's events
    # past the watermark, which the read's first statement found in the same snapshot.
    return f"""{head}{name} AS MATERIALIZED (
  SELECT {no_raw}
   WHERE false
  /*raw:past:{p}*/ {select}
           e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
       AND e.ingest_xid >= CAST(:wm_hint AS xid8)
       AND e.event_time >= :{p}pa0 AND e.event_time < :{p}pa1{cond} /*end*/
  /*raw:lo:{p}*/ {select} e.event_time >= :{p}t0 AND e.event_time < :{p}a0{cond} /*end*/
  /*raw:hi:{p}*/ {select} e.event_time >= :{p}a1 AND e.event_time < :{p}t1{cond} /*end*/
)"""


def prune_raw(
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
