"""Storing events: duplicates are no-ops, every month is accepted, organisations are isolated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from sql.event_store import insert_events, record_event
from sql.gateway import Database
from sql.vocabulary import EXPORT
from tests.factories import event_row


def test_resent_event_is_not_duplicated(db: Database):
    rows = [event_row(id="audit_abc123"), event_row(id="audit_def456")]
    with db.writer() as w:
        first = insert_events(w, rows)
    with db.writer() as w:
        again = insert_events(w, [*rows, rows[0]])
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (again.inserted, again.duplicates) == (0, 3)
    with db.admin() as session:
        assert session.scalar("SELECT count(*) FROM audit_events") == 2


def test_same_id_in_two_organisations_is_two_events(db: Database):
    with db.writer() as w:
        outcome = insert_events(
            w,
            [
                event_row(id="same", organization_id="org_a"),
                event_row(id="same", organization_id="org_b"),
            ],
        )
    assert outcome.inserted == 2


@pytest.mark.parametrize(
    "when",
    [
        datetime(1990, 2, 3, tzinfo=UTC),
        datetime(2011, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2099, 7, 1, tzinfo=UTC),
    ],
)
def test_events_in_far_months_are_stored(db: Database, when: datetime):
    with db.writer() as w:
        assert insert_events(w, [event_row(event_time=when)]).inserted == 1
    with db.admin() as session:
        assert (
            session.scalar("SELECT count(*) FROM audit_events WHERE event_time = :t", {"t": when})
            == 1
        )


def _holds_its_time(session, capabilities, when: datetime) -> bool:
    """True when the table holding the rows at `when` is one made for that time: its month's
    partition (plain PostgreSQL), or a chunk whose range covers it (TimescaleDB)."""
    holders = session.execute(
        "SELECT DISTINCT tableoid::regclass::text FROM audit_events WHERE event_time = :t",
        {"t": when},
    ).rows
    assert len(holders) == 1, holders
    (holder,) = holders[0]
    if not capabilities.hypertables:
        return bool(holder == f"audit_events_{when:%Y_%m}")
    return bool(
        session.scalar(
            "SELECT range_start <= :t AND :t < range_end FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'audit_events'"
            " AND CAST(chunk_schema || '.' || chunk_name AS regclass) = CAST(:h AS regclass)",
            {"t": when, "h": holder},
        )
    )


def test_new_month_gets_its_own_partition(db: Database, capabilities):
    when = datetime(2031, 5, 17, tzinfo=UTC)
    with db.writer() as w:
        insert_events(w, [event_row(event_time=when)])
    with db.admin() as session:
        assert _holds_its_time(session, capabilities, when)


def test_insert_straight_into_a_month_without_partition_never_fails(db: Database, capabilities):
    # A producer bypassing our writer lands in the DEFAULT partition instead of failing.
    with db.writer() as w:
        w.execute(
            "INSERT INTO audit_events (organization_id, id, event_time, event_type, event_action,"
            " retention_guaranteed_until) VALUES ('org_a', 'x', '2077-03-03Z', 'login', 'login',"
            " '2077-06-01Z')"
        )
    with db.writer() as w:
        # ...and later batches for that month still succeed, in the same place.
        assert (
            insert_events(w, [event_row(event_time=datetime(2077, 3, 9, tzinfo=UTC))]).inserted == 1
        )


def test_reader_sees_only_its_organisation(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_a") for _ in range(3)])
        insert_events(w, [event_row(organization_id="org_b") for _ in range(5)])
    with db.org_session("org_a") as session:
        assert session.scalar("SELECT count(*) FROM org_audit_events") == 3
        assert (
            session.scalar("SELECT count(*) FROM org_audit_events WHERE organization_id = 'org_b'")
            == 0
        )
        assert session.scalar("SELECT count(*) FROM org_organizations") == 1
    with db.org_session("org_b") as session:
        assert session.scalar("SELECT count(*) FROM org_audit_events") == 5


@pytest.mark.parametrize(
    "view",
    [
        "org_audit_events",
        "org_audit_rejects",
        "org_audit_exports",
        "org_organizations",
        "org_retention_policies",
        "org_audit_purges",
    ],
)
def test_reader_without_organisation_sees_nothing(db: Database, view: str):
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_a")])
        w.execute(
            "INSERT INTO audit_rejects (organization_id, source, reason, raw_payload)"
            " VALUES ('org_a', 'test', 'bad', '\\x00')"
        )
    with db.admin() as session:
        session.execute("INSERT INTO retention_policies VALUES ('org_a', 'login', 30, now(), 't')")
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        assert conn.execute(text(f"SELECT count(*) FROM {view}")).scalar() == 0
        conn.execute(text("SELECT set_config('auditlens.organization_id', '', false)"))
        assert conn.execute(text(f"SELECT count(*) FROM {view}")).scalar() == 0


def test_org_scope_does_not_leak_between_pooled_transactions(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_a")])
    with db.org_session("org_a") as session:
        assert session.scalar("SELECT count(*) FROM org_audit_events") == 1
    # The same pooled connection afterwards, without a scope: nothing, and not the reader role.
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT auditlens_current_org()")).scalar() is None
        assert conn.execute(text("SELECT current_user")).scalar() != "auditlens_reader"


def test_org_id_is_checked_before_it_reaches_sql(db: Database):
    from sql.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="organization id"), db.org_session("a'; --"):
        pass


def test_record_event_writes_an_event_of_our_own(db: Database):
    with db.writer() as w:
        event_id = record_event(
            w,
            organization_id="org_a",
            action=EXPORT,
            details={"rows": 3},
        )
    with db.org_session("org_a") as session:
        row = session.execute(
            "SELECT id, details, event_type, event_action FROM org_audit_events"
        ).rows[0]
    assert row == (event_id, {"rows": 3}, "data_modification", "export")
    assert len(event_id) == 36 and event_id[14] == "7"  # a UUIDv7


def test_streaming_leaves_the_transaction_usable_for_writes(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row() for _ in range(7)])
    with db.admin() as session:
        batches = list(session.stream("SELECT id FROM audit_events ORDER BY id", batch_size=3))
        # A statement after the stream must run as an ordinary one (it used to fail).
        session.execute(
            "INSERT INTO audit_rejects (source, reason, raw_payload) VALUES ('t', 'r', '\\x00')"
        )
        assert session.scalar("SELECT count(*) FROM audit_rejects") == 1
    assert [len(rows) for _, rows in batches] == [3, 3, 1]
    assert batches[0][0] == ["id"]


def test_admin_sessions_have_no_time_limit_and_readers_have_the_configured_one(db: Database):
    with db.admin() as session:
        assert session.scalar("SHOW statement_timeout") == "0"
    with db.org_session("org_a") as session:
        assert session.scalar("SHOW statement_timeout") == "15s"
    with db.admin(timeout_ms=2_000) as session:
        assert session.scalar("SHOW statement_timeout") == "2s"


def test_org_id_with_a_trailing_newline_is_refused(db: Database):
    from sql.errors import ConfigurationError

    with pytest.raises(ConfigurationError), db.org_session("org_a\n"):
        pass


def test_two_writers_meeting_a_new_month_both_succeed(db: Database, capabilities):
    import threading

    month = datetime(2041, 4, 10, tzinfo=UTC)
    errors: list[BaseException] = []
    with db.writer() as first:
        # The first writer creates the month's partition (or chunk) and holds its lock until
        # commit...
        insert_events(first, [event_row(event_time=month)])

        def second_writer() -> None:
            try:
                with db.writer() as second:
                    insert_events(second, [event_row(event_time=month)])
            except BaseException as exc:
                errors.append(exc)

        waiter = threading.Thread(target=second_writer)
        waiter.start()
        waiter.join(timeout=1.0)  # ...so the second one is now waiting for that lock
    waiter.join()
    assert errors == []
    with db.admin() as session:
        assert (
            session.scalar("SELECT count(*) FROM audit_events WHERE event_time = :t", {"t": month})
            == 2
        )
        assert _holds_its_time(session, capabilities, month)


def test_addresses_are_stored_as_the_server_reads_them(db: Database):
    """The direct COPY encodes addresses itself; what it stores must be what PostgreSQL's own
    inet input makes of the same text (forms it cannot encode go through the server)."""
    texts = ["10.1.2.3", "10.0.0.0/8", "0.0.0.0",  # noqa: S104 - data, not a bind address
              "255.255.255.255", "::1", "2001:db8::1/64",
             "::ffff:1.2.3.4", "fe80::1:2:3:4", "2001:DB8::A"]  # fmt: skip
    rows = [event_row(id=f"ip{i}", ip_address=t) for i, t in enumerate(texts)]
    with db.writer() as w:
        assert insert_events(w, rows).inserted == len(texts)
    with db.admin() as s:
        for i, t in enumerate(texts):
            assert s.scalar(
                "SELECT ip_address = CAST(:t AS inet)"
                " AND family(ip_address) = family(CAST(:t AS inet))"
                " AND masklen(ip_address) = masklen(CAST(:t AS inet))"
                " FROM audit_events WHERE id = :id",
                {"t": t, "id": f"ip{i}"},
            ), t


def test_retention_guarantee_follows_the_policy_in_force(db: Database):
    when = datetime(2025, 3, 30, 12, tzinfo=UTC)
    with db.admin() as s:
        s.execute(
            "INSERT INTO retention_policies (organization_id, event_type, retention_days,"
            " updated_by) VALUES ('org_a', 'log_access', 400, 'test')"
        )
    with db.writer() as w:
        insert_events(w, [event_row(id="p1", event_time=when, event_type="log_access"),
                          event_row(id="p2", event_time=when, event_type="login"),
                          event_row(id="p3", event_time=when, event_type="log_access",
                                    organization_id="org_b")])  # fmt: skip
    with db.admin() as s:
        got = dict(
            s.execute(
                "SELECT organization_id || '/' || id, retention_guaranteed_until - event_time"
                " FROM audit_events"
            ).rows
        )
    from datetime import timedelta

    assert got == {"org_a/p1": timedelta(days=400), "org_a/p2": timedelta(days=90),
                   "org_b/p3": timedelta(days=365)}  # fmt: skip


def test_the_writer_copies_directly_and_falls_back_only_for_duplicates(db: Database):
    """Row-level security refuses COPY FROM into audit_events; the writer's COPY goes into the
    month partitions instead, so only a batch with a duplicate takes the slow way."""
    from sql import event_store

    before = event_store.direct_copies
    months = [datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 2, 15, tzinfo=UTC),
              datetime(1990, 2, 3, tzinfo=UTC)]  # fmt: skip
    rows = [event_row(id=f"d{i}", event_time=m) for i, m in enumerate(months)]
    with db.writer() as w:
        assert insert_events(w, rows) == event_store.InsertOutcome(3, 0)
    assert event_store.direct_copies == before + 1
    with db.writer() as w:
        assert insert_events(w, [*rows[:1], event_row(id="d9")]) == event_store.InsertOutcome(1, 1)
    assert event_store.direct_copies == before + 1
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_events") == 4
        assert (
            s.scalar(
                "SELECT count(*) FROM audit_events WHERE ingest_seq IS NOT NULL"
                " AND ingest_xid IS NOT NULL AND received_at IS NOT NULL"
            )
            == 4
        )
