"""TimescaleDB with compression: what a reader's query over org_audit_events reads of the
compressed chunks. The plans are the server's own (EXPLAIN ANALYZE), never assumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sql.compression import compress_old_chunks
from sql.gateway import Database, ScopedSession
from tests.sql.chunk_helpers import batches_of, chunk_of, login, store
from usecases.access_report import access_query, build_access_report

OLD = datetime(2015, 3, 10, tzinfo=UTC)  # a week of its own, long before the compression age


def _batches_read(node: dict[str, Any]) -> int:
    """Compressed batches the plan's scans of batch tables returned (each loop counted)."""
    relation = node.get("Relation Name") or ""
    own = node["Actual Rows"] * node["Actual Loops"] if relation.startswith("compress_") else 0
    return own + sum(_batches_read(child) for child in node.get("Plans", []))


def _plan(db: Database, org: str, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    with db.org_session(org) as session:
        explained = session.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        return explained.rows[0][0][0]["Plan"]


@pytest.fixture
def two_organisations(db: Database, compression_only) -> Database:
    """org_a's and org_b's events of one old week, compressed: one batch of each."""
    for org in ("org_a", "org_b"):
        store(
            db,
            [
                login(f"{org}_{i}", organization_id=org, event_time=OLD + timedelta(hours=i))
                for i in range(20)
            ],
        )
    assert compress_old_chunks(db, days=30) == 1
    with db.admin() as s:
        s.execute("ANALYZE audit_events")
    return db


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM org_audit_events",
        "SELECT count(*) FROM org_audit_events WHERE event_time >= '2015-03-10'",
        "SELECT * FROM org_audit_events WHERE user_id = 'user_xyz789'"
        " ORDER BY event_time DESC LIMIT 5",
    ],
    ids=["all", "count", "ordered page"],
)
def test_a_reader_decompresses_only_its_own_organisations_batches(two_organisations, sql: str):
    db = two_organisations
    plan = _plan(db, "org_a", sql)
    assert _batches_read(plan) == 1, "org_b's batch was read (and decompressed) for org_a"
    with db.org_session("org_b") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events") == 20
        assert s.scalar("SELECT count(*) FROM org_audit_events WHERE id LIKE 'org_a%'") == 0


def test_the_access_reports_first_and_last_events_read_one_chunks_batch_each(
    db: Database, compression_only, monkeypatch
):
    """The report's first page (oldest first) and last access (newest first) over four
    compressed weeks stop in the first and the last week: no statement decompresses more than
    one week's batch, where one ordered read through the security-barrier view reads all four."""
    weeks = [OLD + timedelta(weeks=w) for w in range(4)]
    store(
        db,
        [
            login(f"w{w}_{i}", event_time=t + timedelta(hours=i), resource_id="r1")
            for w, t in enumerate(weeks)
            for i in range(5)
        ],
    )
    assert compress_old_chunks(db, days=30) == 4
    with db.admin() as s:
        s.execute("ANALYZE audit_events")
    read = _explained_ordered_reads(monkeypatch)
    query = access_query("r1", None, weeks[0].date(), weeks[-1].date())
    report = build_access_report(db, "org_a", query, generated_by="auditor", event_limit=3)
    assert list(report.events["id"]) == ["w0_0", "w0_1", "w0_2"]
    assert report.summary["last_access"] == weeks[-1] + timedelta(hours=4)
    assert read and max(read) == 1, f"batches read per ordered statement: {read}"


def _explained_ordered_reads(monkeypatch) -> list[int]:
    """Compressed batches read by each ordered statement over org_audit_events from now on
    (each is run under EXPLAIN ANALYZE first, in its own transaction and snapshot)."""
    read: list[int] = []
    plain_execute = ScopedSession.execute

    def explained(self, sql, params=None, *, max_rows=None):
        if "FROM org_audit_events" in sql and "ORDER BY event_time" in sql:
            plan = plain_execute(self, "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            read.append(_batches_read(plan.rows[0][0][0]["Plan"]))
        return plain_execute(self, sql, params, max_rows=max_rows)

    monkeypatch.setattr(ScopedSession, "execute", explained)
    return read


# One user's page of a day: the dashboard's drill-down and the benchmark's user-day read.
USER_DAY_PAGE = (
    "SELECT id FROM org_audit_events WHERE user_id = :u AND event_time >= :s"
    " AND event_time < :e ORDER BY event_time DESC, id DESC LIMIT 100"
)


def test_one_users_day_decompresses_only_the_batch_holding_that_user(
    db: Database, compression_only
):
    """30 users active all through the same 30 hours, a minute apart, compressed into two
    batches of up to 1,000 events: one user's day is read from one of them, where batches
    laid out by time each hold every user and are both decompressed. The page is exact: the
    user's events of that day, a late event stored after compression included, and none of
    another organisation's user of the same name."""
    users = [f"u{k:02d}" for k in range(30)]
    rows = [
        login(f"{user}_{i}", user_id=user, event_time=OLD + timedelta(minutes=i * 30 + k))
        for i in range(60)
        for k, user in enumerate(users)
    ]
    rows += [
        login(f"b_{i}", organization_id="org_b", user_id="u00", event_time=OLD + timedelta(hours=i))
        for i in range(20)
    ]
    store(db, rows)
    assert compress_old_chunks(db, days=30) == 1
    late = OLD + timedelta(hours=23, minutes=59)
    store(db, [login("u00_late", user_id="u00", event_time=late)])
    with db.admin() as s:
        s.execute("ANALYZE audit_events")
        batches = s.scalar(
            f"SELECT count(*) FROM {batches_of(db, chunk_of(db, 'u00_0'))}"
            " WHERE organization_id = 'org_a'"
        )
    assert batches >= 2, "org_a's events are in one batch: nothing to choose from"
    day = {"u": "u00", "s": OLD, "e": OLD + timedelta(days=1)}
    assert _batches_read(_plan(db, "org_a", USER_DAY_PAGE, day)) == 1
    with db.org_session("org_a") as s:
        page = [row[0] for row in s.execute(USER_DAY_PAGE, day).rows]
    # u00's events at minutes 0, 30, 60, ...: 48 of them in the first 24 hours, newest first.
    expected = ["u00_late"] + [f"u00_{i}" for i in reversed(range(48))]
    assert page == expected
