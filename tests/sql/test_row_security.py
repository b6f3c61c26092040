"""Organisation scope of audit_events by row-level security (the access migration): isolation
holds through the view, the base table, every partition or chunk and a leaky function, and
the planner answers Explore's newest-first page and a user-day page from ordered index scans
(LIMIT over index scans, no sort of every matching row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from sql.capabilities import Capabilities
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _store_two_orgs(db: Database) -> None:
    # Three months, so plain PostgreSQL stores them in three partitions.
    rows = [
        event_row(organization_id=org, user_id=f"u{i % 5}", event_time=T0 + timedelta(hours=7 * i))
        for org in ("org_a", "org_b")
        for i in range(300)
    ]
    with db.writer() as w:
        insert_events(w, rows)


@pytest.fixture
def reader(db: Database) -> Iterator[Connection]:
    """A connection as auditlens_reader with no organisation set (as a careless caller has)."""
    _store_two_orgs(db)
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        yield conn
        conn.rollback()


def _partitions(db: Database) -> list[str]:
    """Every table that holds audit_events rows: partitions or TimescaleDB chunks."""
    with db.admin() as session:
        rows = session.execute(
            "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'audit_events'::regclass"
        ).rows
    return [r[0] for r in rows]


def _denied(conn: Connection, sql: str) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(text(sql))
    except DBAPIError as exc:
        return isinstance(exc.orig, psycopg.errors.InsufficientPrivilege)
    return False


def test_reader_without_an_organisation_sees_no_event(reader: Connection):
    assert reader.execute(text("SELECT count(*) FROM org_audit_events")).scalar() == 0
    assert (
        reader.execute(
            text("SELECT count(*) FROM org_audit_events WHERE organization_id = 'org_b'")
        ).scalar()
        == 0
    )


def test_reader_cannot_read_the_base_table_or_any_partition(db: Database, reader: Connection):
    partitions = _partitions(db)
    assert len(partitions) >= 3  # months (PostgreSQL) or chunks (TimescaleDB) holding rows
    reader.execute(text("SELECT set_config('auditlens.organization_id', 'org_a', false)"))
    assert _denied(reader, "SELECT count(*) FROM audit_events")
    assert _denied(reader, "SELECT count(*) FROM ONLY audit_events")
    for partition in partitions:
        assert _denied(reader, f"SELECT count(*) FROM {partition}"), partition


def test_one_organisation_never_sees_another(db: Database, reader: Connection):
    reader.execute(text("SELECT set_config('auditlens.organization_id', 'org_a', false)"))
    assert reader.execute(text("SELECT count(*) FROM org_audit_events")).scalar() == 300
    orgs = reader.execute(text("SELECT DISTINCT organization_id FROM org_audit_events")).all()
    assert [o[0] for o in orgs] == ["org_a"]
    assert (
        reader.execute(
            text("SELECT count(*) FROM org_audit_events WHERE organization_id = 'org_b'")
        ).scalar()
        == 0
    )
    # Ordered, limited pages (the plans this isolation exists for) are scoped the same way.
    page = reader.execute(
        text("SELECT organization_id FROM org_audit_events ORDER BY event_time DESC LIMIT 1000")
    ).all()
    assert {p[0] for p in page} == {"org_a"} and len(page) == 300


def test_a_leaky_function_sees_only_rows_of_the_organisation(db: Database, reader: Connection):
    """A function that is not leakproof (it raises the value it is given) runs only on rows
    the policy already let through, as with the security_barrier view before."""
    reader.execute(text("SELECT set_config('auditlens.organization_id', 'org_a', false)"))
    reader.execute(
        text(
            "CREATE FUNCTION pg_temp.leak(org text) RETURNS boolean LANGUAGE plpgsql COST 0.0001"
            " AS $$ BEGIN IF org <> 'org_a' THEN RAISE EXCEPTION 'saw %', org; END IF;"
            " RETURN true; END $$"
        )
    )
    assert (
        reader.execute(
            text("SELECT count(*) FROM org_audit_events WHERE pg_temp.leak(organization_id)")
        ).scalar()
        == 300
    )


def test_writer_and_owner_keep_their_access(db: Database):
    _store_two_orgs(db)
    with db.writer() as w:
        # The writer reads every organisation (duplicate checks), as before row security.
        assert w.scalar("SELECT count(*) FROM audit_events") == 600
    with db.admin() as session:
        assert session.scalar("SELECT count(*) FROM audit_events") == 600
    with db.org_session("org_b") as session:
        assert session.scalar("SELECT count(*) FROM org_audit_events") == 300


def _plan(db: Database, org: str, sql: str, params: dict[str, object]) -> str:
    with db.org_session(org) as session:
        # Tiny test data makes a sequential scan the cheapest plan; taking it away asks the
        # planner whether an ordered index path exists at all. Under the old security_barrier
        # view it did not: the view was a subquery and the sort stayed above it.
        session.execute("SET LOCAL enable_seqscan = off")
        session.execute("SET LOCAL enable_bitmapscan = off")
        rows = session.execute("EXPLAIN (COSTS OFF) " + sql, params).rows
    return "\n".join(r[0] for r in rows)


def _assert_limit_over_index_scans(plan: str) -> None:
    lines = [line.strip() for line in plan.splitlines()]
    assert lines[0].startswith("Limit"), plan
    assert "Index Scan" in plan, plan
    # No full sort of the matching rows: at most an incremental sort on the index's order.
    assert not any(line in ("Sort", "->  Sort") for line in lines), plan


def test_explore_newest_first_page_uses_an_index_scan_with_a_limit(
    db: Database, capabilities: Capabilities
):
    _store_two_orgs(db)
    with db.admin() as session:
        session.execute("ANALYZE audit_events")
    explore_page = (
        "SELECT id, event_time, ingest_seq FROM org_audit_events WHERE TRUE"
        " ORDER BY event_time DESC, ingest_seq DESC LIMIT 50"
    )
    user_day = (
        "SELECT * FROM org_audit_events WHERE user_id = :u AND event_time >= :s"
        " AND event_time < :e ORDER BY event_time DESC LIMIT 100"
    )
    by_resource = (
        "SELECT * FROM org_audit_events WHERE resource_type = :rt AND resource_id = :rid"
        " AND event_time >= :s AND event_time < :e ORDER BY event_time LIMIT 100"
    )
    plans = [
        _plan(db, "org_a", explore_page, {}),
        _plan(db, "org_a", user_day, {"u": "u1", "s": T0, "e": T0 + timedelta(days=1)}),
        _plan(
            db,
            "org_a",
            by_resource,
            {"rt": "source", "rid": "source_production_api", "s": T0, "e": T0 + timedelta(90)},
        ),
    ]
    if capabilities.compression:
        # Timescale license: audit_events keeps the security_barrier view (no row security on
        # a hypertable with compression), so only the isolation is asserted there.
        with db.admin() as session:
            assert not session.scalar(
                "SELECT relrowsecurity FROM pg_class WHERE oid = 'audit_events'::regclass"
            )
        return
    for plan in plans:
        _assert_limit_over_index_scans(plan)
    assert "event_time" in plans[0]


def test_row_security_is_on_where_the_server_allows_it(db: Database, capabilities: Capabilities):
    with db.admin() as session:
        enabled, forced = session.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE oid = 'audit_events'::regclass"
        ).rows[0]
        barrier = session.scalar(
            "SELECT coalesce('security_barrier=true' = ANY(reloptions), false) FROM pg_class"
            " WHERE oid = 'org_audit_events'::regclass"
        )
        reader_grant = session.scalar(
            "SELECT has_table_privilege('auditlens_reader', 'audit_events', 'SELECT')"
        )
    assert reader_grant is False
    assert forced is False  # the owner's purge, refresh and sealing see every organisation
    if capabilities.compression:
        assert (enabled, barrier) == (False, True)
    else:
        assert (enabled, barrier) == (True, False)
