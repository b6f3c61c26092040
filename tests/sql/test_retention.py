"""Retention: the purge removes only what is past its guarantee, and says so."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sql.event_store import insert_events
from sql.gateway import Database
from sql.retention import PurgeSummary, purge, set_policy
from tests.factories import event_row

NOW = datetime.now(UTC)


def _guarantee(db: Database, event_id: str) -> datetime:
    with db.admin() as session:
        return session.scalar(
            "SELECT retention_guaranteed_until FROM audit_events WHERE id = :id", {"id": event_id}
        )


def test_default_guarantees_follow_the_family_table(db: Database):
    when = datetime(2025, 1, 1, tzinfo=UTC)
    expected = {
        "login": 90,
        "log_access": 365,
        "config_change": 2555,
        "user_management": 2555,
        "data_modification": 2555,
    }
    with db.writer() as w:
        insert_events(w, [event_row(id=f, event_type=f, event_time=when) for f in expected])
    for family, days in expected.items():
        assert _guarantee(db, family) == when + timedelta(days=days)


def test_purge_keeps_every_guaranteed_row_and_logs_itself(db: Database):
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(id="old_login", event_type="login", event_time=NOW - timedelta(days=91)),
                event_row(id="new_login", event_type="login", event_time=NOW - timedelta(days=89)),
                event_row(
                    id="old_access", event_type="log_access", event_time=NOW - timedelta(days=400)
                ),
                event_row(
                    id="kept_config",
                    event_type="config_change",
                    event_time=NOW - timedelta(days=400),
                ),
                event_row(
                    id="other_org",
                    organization_id="org_b",
                    event_type="login",
                    event_time=NOW - timedelta(days=200),
                ),
            ],
        )
    summary = purge(db, actor="test:purger")
    assert summary.removed == {
        ("org_a", "login"): 1,
        ("org_a", "log_access"): 1,
        ("org_b", "login"): 1,
    }
    with db.admin() as session:
        left = {
            r[0]
            for r in session.execute(
                "SELECT id FROM audit_events WHERE event_action <> 'retention_purge'"
            ).rows
        }
        logs = session.execute(
            "SELECT organization_id, user_id, details FROM audit_events"
            " WHERE event_action = 'retention_purge' ORDER BY organization_id"
        ).rows
        recorded = session.scalar("SELECT sum(removed_count) FROM audit_purges")
    assert left == {"new_login", "kept_config"}
    assert [(org, user) for org, user, _ in logs] == [
        ("org_a", "test:purger"),
        ("org_b", "test:purger"),
    ]
    assert logs[0][2]["removed_by_family"] == {"login": 1, "log_access": 1}
    assert recorded == 3


def test_purge_drops_a_whole_expired_partition(db: Database, capabilities):
    old = datetime(2015, 3, 10, tzinfo=UTC)
    with db.writer() as w:
        insert_events(
            w,
            [event_row(event_type="login", event_time=old + timedelta(hours=h)) for h in range(10)],
        )
    summary = purge(db)
    assert summary.total == 10
    if not capabilities.hypertables:
        with db.admin() as session:
            assert session.scalar("SELECT to_regclass('audit_events_2015_03')") is None


def test_lowered_policy_leaves_old_guarantees_intact(db: Database):
    when = NOW - timedelta(days=30)
    with db.writer() as w:
        insert_events(w, [event_row(id="before", event_type="config_change", event_time=when)])
    previous = set_policy(db, "org_a", "config_change", 10, actor="test:admin")
    with db.writer() as w:
        insert_events(w, [event_row(id="after", event_type="config_change", event_time=when)])
    assert previous is None
    assert _guarantee(db, "before") == when + timedelta(days=2555)
    assert _guarantee(db, "after") == when + timedelta(days=10)
    summary = purge(db)
    assert summary.removed == {("org_a", "config_change"): 1}
    with db.admin() as session:
        ids = {
            r[0]
            for r in session.execute(
                "SELECT id FROM audit_events WHERE event_type = 'config_change'"
                " AND event_action <> 'update_retention_policy'"
            ).rows
        }
    assert ids == {"before"}


def test_policy_change_is_itself_audited(db: Database):
    set_policy(db, "org_a", "login", 30, actor="cli:alice")
    set_policy(db, "org_a", "login", 60, actor="cli:bob")
    with db.org_session("org_a") as session:
        rows = session.execute(
            "SELECT user_id, details->'changes'->'retention_days' FROM org_audit_events"
            " WHERE event_action = 'update_retention_policy' ORDER BY ingest_seq"
        ).rows
    assert rows == [("cli:alice", {"old": 90, "new": 30}), ("cli:bob", {"old": 30, "new": 60})]


def test_purge_never_drops_what_a_writer_commits_while_it_waits(db: Database):
    """An expired login is alone in its month; a writer is adding 10 config changes (7-year
    guarantee) to that month when the purge looks. The purge must wait for the writer and
    keep its rows, not drop the month's partition over them."""
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(
                    id="expired", event_type="login", event_time=datetime(2023, 6, 15, tzinfo=UTC)
                )
            ],
        )
    kept = [
        event_row(id=f"kept_{i}", event_type="config_change", event_action="update_settings",
                  event_time=datetime(2023, 6, 20, tzinfo=UTC))
        for i in range(10)
    ]  # fmt: skip
    outcome: list[object] = []

    def run_purge() -> None:
        try:
            outcome.append(purge(db))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    purger = threading.Thread(target=run_purge)
    with db.writer() as w:
        insert_events(w, kept)
        writer_pid = w.scalar("SELECT pg_backend_pid()")
        purger.start()
        # Commit only once the purge has looked and is waiting for this writer (or is done:
        # a hypertable's purge deletes row by row and never waits for it).
        deadline = time.monotonic() + 120
        while purger.is_alive():
            with db.admin() as s:
                waiting = s.scalar(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE CAST(:pid AS integer) = ANY(pg_blocking_pids(pid))",
                    {"pid": writer_pid},
                )
            if waiting:
                break
            assert time.monotonic() < deadline, "the purge neither waited nor finished"
            time.sleep(0.02)
    purger.join(timeout=120)
    assert not purger.is_alive()
    (summary,) = outcome
    assert isinstance(summary, PurgeSummary), summary
    assert summary.removed == {("org_a", "login"): 1}
    with db.admin() as session:
        remaining = session.scalar("SELECT count(*) FROM audit_events WHERE id LIKE 'kept\\_%'")
    assert remaining == 10
