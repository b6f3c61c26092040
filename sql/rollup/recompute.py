"""Rolling some (organisation, UTC day) pairs up again: the retention purge's way of keeping
the rollups exact in its own transaction, so no read ever counts a purged event."""

from __future__ import annotations

from sql.gateway import ScopedSession
from sql.rollup.gaps import GAPS, add_gaps, gap_rows
from sql.rollup.refresh import REFRESH_LOCK, fill_delta, merge_delta
from sql.rollup.tables import DAY_COUNTS, DAY_SET, TABLES

# Per (organisation, year) of the days being recomputed: their days of the year (`doys`)
# and the day set of the year's other days (`keep`).
_RECOMPUTE_YEARS = """
SELECT organization_id, extract(year FROM day)::smallint AS year,
       array_agg(auditlens_day_of_year(day)) AS doys,
       ~bit_or(set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1)) AS keep
  FROM rollup_recompute GROUP BY 1, 2"""


def _clear_year_days(table: str, shape: str) -> tuple[str, ...]:
    """A year table loses the days being recomputed: its per-day counts become 0, a day set
    loses those days; a row left without an event goes (a rebuild would not have it)."""
    if shape == DAY_COUNTS:
        return (
            f"""
UPDATE {table} t
   SET counts = (SELECT array_agg(CASE WHEN i - 1 = ANY(m.doys) THEN 0 ELSE x END ORDER BY i)
                   FROM unnest(t.counts) WITH ORDINALITY AS c(x, i))
  FROM ({_RECOMPUTE_YEARS}) m
 WHERE t.organization_id = m.organization_id AND t.year = m.year""",
            f"""
DELETE FROM {table} t USING ({_RECOMPUTE_YEARS}) m
 WHERE t.organization_id = m.organization_id AND t.year = m.year AND 0 = ALL(t.counts)""",
        )
    # Only rows holding a cleared day are touched.
    return (
        f"""
UPDATE {table} t SET days = t.days & m.keep
  FROM ({_RECOMPUTE_YEARS}) m
 WHERE t.organization_id = m.organization_id AND t.year = m.year
   AND position(B'1' IN (t.days & ~m.keep)) > 0""",
        f"""
DELETE FROM {table} t USING ({_RECOMPUTE_YEARS}) m
 WHERE t.organization_id = m.organization_id AND t.year = m.year
   AND position(B'1' IN t.days) = 0""",
    )


def recompute_days(session: ScopedSession, org_days_sql: str) -> int:
    """Make the rollups of some (organisation, UTC day) pairs equal to the aggregation of the
    raw events still stored below the watermark, in the caller's (admin) transaction.

    `org_days_sql` is a query returning `organization_id, day` pairs (fixed SQL, no values:
    e.g. over the purge's temp table). The retention purge calls this in its own
    transaction, so the rollups never count a purged event. Takes the refresh lock: a refresh
    waits for the purge to commit and then rolls up from the same watermark. Returns the
    number of events rolled up again."""
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
    for spec in GAPS:
        session.execute(
            f"CREATE TEMP TABLE {spec.new}_keys ON COMMIT DROP AS"
            f" SELECT DISTINCT u.organization_id, {', '.join('u.' + k for k in spec.keys)}"
            f" FROM {spec.days} u JOIN rollup_recompute r"
            f" ON u.organization_id = r.organization_id AND u.day = r.day WHERE {spec.where}"
        )
        session.execute(f"ANALYZE {spec.new}_keys")
        add_gaps(session, spec, gap_rows(spec, f"{spec.new}_keys", -1))
    for table in TABLES:
        if table.time == "day":
            match = "t.day = r.day"
        elif table.time == "bucket":
            match = "t.bucket >= r.t0 AND t.bucket < r.t1"
        else:
            continue  # the months above, the years below
        session.execute(
            f"DELETE FROM {table.name} t USING rollup_recompute r"
            f" WHERE t.organization_id = r.organization_id AND {match}"
        )
    for table in TABLES:
        if table.shape in (DAY_COUNTS, DAY_SET):
            for statement in _clear_year_days(table.name, table.shape):
                session.execute(statement)
    # One indexed range per (organisation, day): a nested loop over the few pairs.
    events = fill_delta(
        session,
        "e.ingest_xid < CAST(:wm AS xid8)",
        {"wm": watermark},
        join="JOIN rollup_recompute r ON e.organization_id = r.organization_id"
        " AND e.event_time >= r.t0 AND e.event_time < r.t1",
    )
    if events:
        merge_delta(session, gaps=False)
    else:
        session.execute("DROP TABLE rollup_delta")
    for spec in GAPS:
        add_gaps(session, spec, gap_rows(spec, f"{spec.new}_keys", 1))
        session.execute(f"DROP TABLE {spec.new}_keys")
    session.execute("DELETE FROM rollup_user_months WHERE events = 0")
    session.execute("DELETE FROM rollup_resource_months WHERE accesses = 0")
    session.execute("DROP TABLE rollup_recompute")
    return events
