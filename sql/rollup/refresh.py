"""The refresh: roll up every event whose ingest transaction ended since the last one.

Rollup tables hold counts for the events whose ingest transaction lies below a watermark over
ingest order (`rollup_state.watermark`, an xid8). A refresh rolls up the events with
`watermark <= ingest_xid < pg_snapshot_xmin(pg_current_snapshot())`, so late events (an old
`event_time`) and transactions that commit out of order are counted exactly once. Refreshes
run as the login role and are serialised by an advisory lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sql.compression import compress_old_chunks
from sql.gateway import Database, ScopedSession
from sql.rollup.gaps import GAPS, create_new_days, shift_gaps
from sql.rollup.measures import TOUCHED, derived, valid_time_zone
from sql.rollup.tables import ROLLUP_TABLES, TABLES

# Any constant works; it only has to be the same in every AuditLens process (and in the SQL
# that back-fills rollups at migration time, which takes it as 1380928588).
REFRESH_LOCK = 0x524F4C4C
# After a refresh this large, VACUUM ANALYZE the rollups so index-only scans stay cheap.
VACUUM_AFTER_EVENTS = 100_000


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


def watermark(db: Database) -> str:
    """The current watermark (an xid8, as text)."""
    with db.admin() as session:
        return str(session.scalar("SELECT watermark::text FROM rollup_state WHERE name = 'events'"))


def refresh(db: Database, *, wait: bool = True, rebuild: bool = False) -> RefreshStats:
    """Roll up every event whose transaction ended since the last refresh.

    Concurrent refreshes are serialised by an advisory lock; with `wait=False` a refresh
    that finds another one running returns at once (`skipped`), since that one or the
    next will take these events. `rebuild` empties the rollups and rolls up everything
    again (after an organisation's working hours or time zone changed; a retention
    purge keeps the rollups exact itself, see `recompute_days`).
    """
    started = time.perf_counter()
    with db.admin(timeout_ms=24 * 3_600_000) as session:
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
        # VACUUM cannot run in a transaction: an autocommit connection of the pool's own.
        _autocommit(db, [f"VACUUM (ANALYZE) {', '.join(ROLLUP_TABLES)}"])
    elif events:
        _analyse_unmeasured(db)
    # TimescaleDB: old chunks are compressed here, AuditLens's own policy (sql.compression).
    compress_old_chunks(db, wait=wait)
    return RefreshStats(events, time.perf_counter() - started, str(new))


def _analyse_unmeasured(db: Database) -> None:
    """ANALYZE the rollup tables whose planner statistics still say "no rows" (never
    analysed, or analysed while empty). A small first load (a demo, a new organisation) is
    below VACUUM_AFTER_EVENTS, and until autovacuum comes round the planner takes such a
    table for empty: it chose nested loops that re-aggregated the rollups once per output
    row (the Users page's matrix, 0.5-1.5 s instead of 30 ms)."""
    with db.admin() as session:
        unmeasured = session.execute(
            "SELECT c.relname FROM pg_class c"
            " WHERE c.relname = ANY(:tables) AND c.relnamespace = 'public'::regnamespace"
            "   AND c.reltuples <= 0",
            {"tables": list(ROLLUP_TABLES)},
        ).rows
        for (table,) in unmeasured:
            # Names come from ROLLUP_TABLES (checked above against the catalogue), not input.
            session.execute(f"ANALYZE public.{table}")


def fill_delta(
    session: ScopedSession, where: str, params: Mapping[str, Any], *, join: str = ""
) -> int:
    """Derive the events matching `where` (over `audit_events e`, plus `join`) into the temp
    table rollup_delta; returns their count."""
    session.execute(
        """
CREATE TEMP TABLE rollup_delta (
  organization_id text, event_time timestamptz, event_type text, event_action text,
  user_id text, idless_email text, user_email text, ip_address inet, user_agent text,
  resource_type text, resource_id text, bucket timestamptz, day date, off_hours boolean,
  records bigint, results bigint, touched bigint
) ON COMMIT DROP"""
    )
    columns = derived(
        tz="coalesce(o.tz, 'UTC')",
        ws="coalesce(o.ws, 8::smallint)",
        we="coalesce(o.we, 19::smallint)",
    )
    session.execute(
        f"""
INSERT INTO rollup_delta
WITH o AS (
  SELECT organization_id, {valid_time_zone("time_zone")} AS tz,
         work_start_hour AS ws, work_end_hour AS we
    FROM organizations
)
SELECT {columns}, {TOUCHED}
  FROM audit_events e {join} LEFT JOIN o ON o.organization_id = e.organization_id
 WHERE NOT e.own_use AND ({where})""",
        params,
    )
    return int(session.scalar("SELECT count(*) FROM rollup_delta"))


def _roll_up(session: ScopedSession, old: str, new: str) -> int:
    """Add the events with old <= ingest_xid < new to every rollup table; returns their count."""
    events = fill_delta(
        session,
        "e.ingest_xid >= CAST(:old AS xid8) AND e.ingest_xid < CAST(:new AS xid8)",
        {"old": old, "new": new},
    )
    if events == 0:
        session.execute("DROP TABLE rollup_delta")
        return 0
    merge_delta(session)
    return events


def merge_delta(session: ScopedSession, *, gaps: bool = True) -> None:
    """Add rollup_delta's events to every rollup table (then drop rollup_delta). `gaps=False`
    leaves the day gaps to the caller (recompute_days)."""
    session.execute("ANALYZE rollup_delta")
    if gaps:
        create_new_days(session)
    for table in TABLES:
        session.execute(table.merge_sql(gaps=gaps))
    if gaps:
        for spec in GAPS:
            shift_gaps(session, spec)
        session.execute(f"DROP TABLE {', '.join(spec.new for spec in GAPS)}")
    session.execute("DROP TABLE rollup_delta")


def _autocommit(
    db: Database,
    statements: Sequence[str | tuple[str, tuple[Any, ...]]],
    *,
    lock: int | None = None,
    wait: bool = True,
) -> bool:
    """Run `statements` (SQL, or SQL and its parameters) outside any transaction; with
    `lock`, under that session-level advisory lock, waiting for it (or with `wait=False`
    running nothing, False, when it is held elsewhere)."""
    with db.raw_connection() as conn:
        previous = conn.autocommit
        conn.rollback()
        conn.autocommit = True
        try:
            if lock is not None:
                if wait:
                    conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
                else:
                    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
                    if not (row and row[0]):
                        return False
            try:
                for statement in statements:
                    sql, params = statement if isinstance(statement, tuple) else (statement, ())
                    conn.execute(sql, params)
            finally:
                if lock is not None:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
        finally:
            conn.autocommit = previous
    return True
