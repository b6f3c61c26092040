"""A small first load leaves the rollups with planner statistics: below the bulk threshold
the planner took a never-analysed rollup table for empty until autovacuum came round, and
chose plans that re-aggregated the rollups once per output row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.event_store import insert_events
from sql.gateway import Database
from sql.rollup.refresh import VACUUM_AFTER_EVENTS, refresh
from sql.rollup.tables import ROLLUP_TABLES
from tests.factories import event_row


def _estimates(db: Database) -> dict[str, float]:
    with db.admin() as session:
        rows = session.execute(
            "SELECT relname, reltuples FROM pg_class"
            " WHERE relname = ANY(:t) AND relnamespace = 'public'::regnamespace",
            {"t": list(ROLLUP_TABLES)},
        ).rows
    return {name: float(tuples) for name, tuples in rows}


def _filled(db: Database) -> set[str]:
    filled = set()
    with db.admin() as session:
        for table in ROLLUP_TABLES:
            if session.scalar(f"SELECT EXISTS (SELECT 1 FROM public.{table})"):
                filled.add(table)
    return filled


def test_a_first_small_refresh_leaves_every_filled_rollup_with_statistics(db: Database):
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    rows = [
        event_row(
            id=f"e{i}",
            event_time=start + timedelta(hours=i),
            user_id=f"u{i % 7}",
            resource_id=f"r{i % 5}",
            ip_address=f"10.0.0.{i % 9}",
        )
        for i in range(120)
    ]
    assert len(rows) < VACUUM_AFTER_EVENTS
    with db.writer() as session:
        insert_events(session, rows)
    assert refresh(db).events == len(rows)
    filled = _filled(db)
    assert len(filled) >= 5, filled
    estimates = _estimates(db)
    unmeasured = {table: estimates[table] for table in filled if estimates[table] <= 0}
    assert not unmeasured, unmeasured
