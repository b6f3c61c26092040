"""The Overview's busiest sources, ranked by events only.

`ReadModel.top_resources` also counts each resource's distinct users from the per user-day
resource rollup: for a popular source over weeks that is ~10^5-10^6 rollup rows, most of
the Overview's time on 10 million events, and the Overview does not show it. This reads
only the per resource-day rollup (`org_rollup_resource_days`) plus the raw events the
rollups do not hold for the range: those past the watermark inside the whole UTC days, and
every event of the partial days at either end (the read model's rule, so the answer equals
counting raw events; tests compare it with `ReadModel.top_resources`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from sql.gateway import Database

TTL_SECONDS = 60
MAX_N = 100

_RAW = "SELECT resource_type, resource_id FROM org_audit_events e WHERE resource_id IS NOT NULL"
_BUSIEST = f"""
WITH raw AS MATERIALIZED (
  {_RAW} AND e.ingest_xid >= (SELECT watermark FROM rollup_state WHERE name = 'events')
     AND e.ingest_xid >= CAST(:wm_hint AS xid8)
     AND e.event_time >= :a0 AND e.event_time < :a1
  UNION ALL
  {_RAW} AND e.event_time >= :t0 AND e.event_time < :a0
  UNION ALL
  {_RAW} AND e.event_time >= :a1 AND e.event_time < :t1
)
SELECT resource_type, resource_id, sum(n)::bigint AS events
  FROM (
    SELECT resource_type, resource_id, accesses AS n FROM org_rollup_resource_days
     WHERE day >= :da AND day < :db
    UNION ALL
    SELECT resource_type, resource_id, count(*) FROM raw GROUP BY 1, 2
  ) r
 GROUP BY resource_type, resource_id
 ORDER BY events DESC, resource_type NULLS FIRST, resource_id
 LIMIT :n"""


def _whole_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The largest [a0, a1) of whole UTC days inside [start, end); (end, end) if none."""
    day = timedelta(days=1)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    a0 = epoch - ((epoch - start) // day) * day
    a1 = epoch + ((end - epoch) // day) * day
    return (a0, a1) if a0 < a1 else (end, end)


def busiest_resources(
    db: Database, org: str, start: datetime, end: datetime, n: int = 10
) -> pd.DataFrame:
    """resource_type, resource_id, events: the `n` resources with most events in [start, end)."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N}, got: {n}")
    t0, t1 = start.astimezone(UTC), end.astimezone(UTC)
    if t1 < t0:
        raise ValueError(f"end ({t1.isoformat()}) is before start ({t0.isoformat()})")
    return _busiest(db.url, org, t0, t1, n, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _busiest(
    db_key: str, org: str, t0: datetime, t1: datetime, n: int, *, _db: Database
) -> pd.DataFrame:
    a0, a1 = _whole_days(t0, t1)
    params = {"t0": t0, "t1": t1, "a0": a0, "a1": a1, "da": a0.date(), "db": a1.date(), "n": n}
    with _db.org_session(org) as session:
        session.execute("SET LOCAL jit = off")  # a short read: compiling costs more than it saves
        watermark = session.scalar("SELECT watermark::text FROM rollup_state WHERE name = 'events'")
        frame = session.execute(_BUSIEST, {**params, "wm_hint": watermark}, max_rows=n).frame()
    frame = frame.reindex(columns=["resource_type", "resource_id", "events"])
    frame["events"] = frame["events"].fillna(0).astype("int64")
    return frame
