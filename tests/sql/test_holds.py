"""Legal holds outrank retention: the database keeps a held event, whoever purges."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sql.event_filter import EventFilter
from sql.event_store import insert_events
from sql.gateway import Database
from sql.holds import HoldError, held_event_count, lift_hold, list_holds, place_hold
from sql.retention import PurgeSummary, purge
from tests.factories import event_row

NOW = datetime.now(UTC)
OLD = datetime(2015, 3, 10, tzinfo=UTC)  # a month of its own, long expired
HOSTILE = "'); DELETE FROM audit_events; -- <script>alert(1)</script> \u202eevil\n\t\x1b[31m"


def _ids(db: Database, org: str = "org_a") -> set[str]:
    with db.admin() as session:
        rows = session.execute(
            "SELECT id FROM audit_events WHERE organization_id = :org"
            " AND resource_type IS DISTINCT FROM 'legal_hold'"
            " AND event_action <> 'retention_purge'",
            {"org": org},
        ).rows
    return {r[0] for r in rows}


def _expired(event_id: str, **fields) -> tuple:
    return event_row(id=event_id, event_type="login", event_action="login", **fields)


def test_a_held_event_survives_a_row_wise_purge_that_removes_its_neighbours(db: Database):
    # An unexpired event shares the month, so the month's partition cannot be dropped.
    when = NOW - timedelta(days=200)
    with db.writer() as w:
        insert_events(
            w,
            [
                _expired("held", user_id="u_suspect", event_time=when),
                _expired("neighbour", user_id="u_other", event_time=when),
                event_row(id="young", event_type="config_change", event_time=when),
            ],
        )
    hold = place_hold(
        db, "org_a", "user:u_suspect", reason="litigation", reference="CASE-1", actor="t:admin"
    )
    summary = purge(db, actor="t:purger")
    assert summary.removed == {("org_a", "login"): 1}
    assert summary.kept == {("org_a", hold.hold_id, "login"): 1}
    assert _ids(db) == {"held", "young"}
    with db.org_session("org_a") as session:
        details = session.scalar(
            "SELECT details FROM org_audit_events WHERE event_action = 'retention_purge'"
        )
    assert details["kept_by_hold"] == {str(hold.hold_id): {"login": 1}}
    assert details["removed_by_family"] == {"login": 1}


def test_a_held_event_keeps_its_partition_and_only_unheld_rows_go(db: Database, capabilities):
    # Without the hold this whole month would be dropped (test_retention covers that).
    with db.writer() as w:
        insert_events(
            w,
            [_expired(f"old_{h}", event_time=OLD + timedelta(hours=h)) for h in range(5)]
            + [_expired("held", event_time=OLD + timedelta(hours=9), resource_id="payments")],
        )
    hold = place_hold(
        db, "org_a", "resource:payments", reason="audit", reference="CASE-2", actor="t:admin"
    )
    summary = purge(db)
    assert summary.removed == {("org_a", "login"): 5}
    assert summary.kept == {("org_a", hold.hold_id, "login"): 1}
    assert _ids(db) == {"held"}
    if not capabilities.hypertables:
        with db.admin() as session:
            assert session.scalar("SELECT to_regclass('audit_events_2015_03')") is not None


def test_the_delete_guard_refuses_a_held_row_even_on_the_purge_path(db: Database):
    with db.writer() as w:
        insert_events(
            w,
            [
                _expired("held", event_time=OLD),
                _expired("free", event_time=OLD - timedelta(days=1)),
            ],
        )
    place_hold(db, "org_a", "created:2015-03-10", reason="r", reference="C-3", actor="t:admin")
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('auditlens.purging', 'on', true)"))
        with pytest.raises(Exception, match="under a legal hold"):
            conn.execute(text("DELETE FROM audit_events WHERE id IN ('held', 'free')"))
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('auditlens.purging', 'on', true)"))
        # Outside the hold's day: the guard lets the purge path remove it.
        conn.execute(text("DELETE FROM audit_events WHERE id = 'free'"))
    assert _ids(db) == {"held"}


def test_placing_and_lifting_are_audited_and_a_lifted_hold_protects_nothing(db: Database):
    with db.writer() as w:
        insert_events(w, [_expired("held", user_id="u1", event_time=OLD)])
    hold = place_hold(db, "org_a", "user:u1", reason="why", reference="C-4", actor="t:alice")
    assert held_event_count(db, "org_a", hold.hold_id) == 1
    assert purge(db).removed == {}
    lifted = lift_hold(db, "org_a", hold.hold_id, reason="case closed", actor="t:bob")
    assert (lifted.lifted_by, lifted.lift_reason) == ("t:bob", "case closed")
    assert lifted.lifted_at is not None
    assert held_event_count(db, "org_a", hold.hold_id) == 0
    with db.org_session("org_a") as session:
        audit = session.execute(
            "SELECT event_action, event_type, user_id, resource_id, details FROM org_audit_events"
            " WHERE resource_type = 'legal_hold' ORDER BY ingest_seq"
        ).rows
    assert [(a, f, u, r) for a, f, u, r, _ in audit] == [
        ("place_legal_hold", "config_change", "t:alice", str(hold.hold_id)),
        ("lift_legal_hold", "config_change", "t:bob", str(hold.hold_id)),
    ]
    assert audit[0][4]["reference"] == "C-4" and audit[0][4]["query"] == "user:u1"
    assert audit[1][4]["reason"] == "case closed"
    assert purge(db).removed == {("org_a", "login"): 1}
    # The hold's record stays, lifted.
    (kept,) = list_holds(db, "org_a")
    assert (kept.hold_id, kept.active) == (hold.hold_id, False)
    with pytest.raises(HoldError, match="lifted already"):
        lift_hold(db, "org_a", hold.hold_id, reason="again", actor="t:bob")


def test_another_organisations_hold_protects_nothing_here(db: Database):
    with db.writer() as w:
        insert_events(
            w,
            [
                _expired("a_evt", user_id="u1", event_time=OLD),
                _expired("b_evt", user_id="u1", event_time=OLD, organization_id="org_b"),
            ],
        )
    hold = place_hold(db, "org_b", "user:u1", reason="b's case", reference="B-1", actor="t:b")
    summary = purge(db)
    assert summary.removed == {("org_a", "login"): 1}
    assert summary.kept == {("org_b", hold.hold_id, "login"): 1}
    assert _ids(db, "org_a") == set()
    assert _ids(db, "org_b") == {"b_evt"}
    # Nor can org_a see, count or lift org_b's hold.
    assert list_holds(db, "org_a") == []
    with pytest.raises(HoldError, match="no hold"):
        lift_hold(db, "org_a", hold.hold_id, reason="x", actor="t:a")
    with pytest.raises(HoldError, match="no hold"):
        held_event_count(db, "org_a", hold.hold_id)


def test_criteria_match_as_explore_does(db: Database):
    with db.writer() as w:
        insert_events(
            w,
            [
                _expired("by_email", user_id="other", user_email="Suspect@Corp.example",
                         event_time=OLD),
                _expired("in_net", ip_address="10.1.2.3", event_time=OLD),
                _expired("out_of_net", ip_address="192.0.2.1", event_time=OLD),
                _expired("no_ip", ip_address=None, event_time=OLD),
            ],
        )  # fmt: skip
    place_hold(db, "org_a", "user:suspect@corp.example", reason="r", reference="C", actor="t")
    place_hold(db, "org_a", "ip:10.0.0.0/8", reason="r", reference="C", actor="t")
    purge(db)
    assert _ids(db) == {"by_email", "in_net"}


def test_a_hold_keeps_every_event_explore_shows_for_a_non_ascii_email(db: Database):
    # Explore folds the typed email in Python and the stored one with auditlens_fold_email;
    # the database's lower() under the C locale folds ASCII only, so the hold must fold the
    # same way or it keeps fewer events than the query it was placed with shows.
    with db.writer() as w:
        insert_events(
            w, [_expired("umlaut", user_id="u1", user_email="björn@corp.example", event_time=OLD)]
        )
    query = "user:BJÖRN@corp.example"
    event_filter = EventFilter.parse(query)
    where, params = event_filter.sql_for(db)
    with db.org_session("org_a") as session:
        shown = session.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params)
    assert shown == 1
    hold = place_hold(db, "org_a", query, reason="r", reference="C", actor="t")
    assert held_event_count(db, "org_a", hold.hold_id) == 1
    purge(db)
    assert "umlaut" in _ids(db)


def test_a_hold_is_never_edited_or_deleted(db: Database):
    hold = place_hold(db, "org_a", "", reason="everything", reference="C-5", actor="t:admin")
    assert hold.filter_text == "all events"
    for statement in (
        "UPDATE audit_holds SET reason = 'changed'",
        "UPDATE audit_holds SET lifted_by = 'x', users = '{nobody}'",
        "DELETE FROM audit_holds",
        "TRUNCATE audit_holds",
    ):
        with (
            db.engine.connect() as conn,
            conn.begin(),
            pytest.raises(Exception, match="audit_holds"),
        ):
            conn.execute(text(statement))
    (kept,) = list_holds(db, "org_a")
    assert (kept.reason, kept.active) == ("everything", True)


def test_hostile_reason_and_reference_are_kept_as_text(db: Database):
    with db.writer() as w:
        insert_events(w, [_expired("held", event_time=OLD)])
    hold = place_hold(db, "org_a", "family:login", reason=HOSTILE, reference=HOSTILE[:200],
                      actor="t:admin")  # fmt: skip
    (stored,) = list_holds(db, "org_a")
    assert (stored.reason, stored.reference) == (HOSTILE, HOSTILE[:200])
    assert purge(db).kept == {("org_a", hold.hold_id, "login"): 1}
    assert _ids(db) == {"held"}


@pytest.mark.parametrize(
    ("query", "reason", "reference", "field"),
    [
        ("user:u1", "", "C", "reason"),
        ("user:u1", "   ", "C", "reason"),
        ("user:u1", "r", "", "reference"),
        ("user:u1", "r", "x" * 201, "reference"),
        ("user:u1", "a\x00b", "C", "reason"),
        ("payments", "r", "C", "query"),
        ("user:", "r", "C", "query"),
        ("created:2025-02-01..2025-01-01", "r", "C", "query"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(db, query, reason, reference, field):
    with pytest.raises(HoldError) as raised:
        place_hold(db, "org_a", query, reason=reason, reference=reference, actor="t")
    message = str(raised.value)
    assert message.startswith(f"{field}") and "\n" not in message
    assert list_holds(db, "org_a") == []


def test_a_hold_placed_while_a_purge_looks_is_waited_for(db: Database):
    """The purge locks the holds first: a hold whose placement is still open when the purge
    starts is waited for and then respected, never purged over."""
    with db.writer() as w:
        insert_events(w, [_expired("held", user_id="u1", event_time=OLD)])
    outcome: list[object] = []

    def run_purge() -> None:
        try:
            outcome.append(purge(db))
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    purger = threading.Thread(target=run_purge)
    with db.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "INSERT INTO audit_holds (organization_id, query, filter_text, users, reason,"
                " reference, placed_by) VALUES ('org_a', 'user:u1', 'u1', '{u1}', 'r', 'C', 't')"
            )
        )
        placer = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        purger.start()
        deadline = time.monotonic() + 120
        while True:
            with db.admin() as s:
                waiting = s.scalar(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE CAST(:pid AS integer) = ANY(pg_blocking_pids(pid))",
                    {"pid": placer},
                )
            if waiting:
                break
            assert purger.is_alive(), outcome
            assert time.monotonic() < deadline, "the purge did not wait for the hold"
            time.sleep(0.02)
    purger.join(timeout=120)
    (summary,) = outcome
    assert isinstance(summary, PurgeSummary), summary
    assert summary.removed == {}
    assert _ids(db) == {"held"}


def test_a_purge_whose_snapshot_predates_a_hold_refuses_to_run(db: Database):
    """Under REPEATABLE READ the purge's snapshot may be older than its lock on the holds: a
    hold committed in between is invisible to it, so it refuses instead of purging over it."""
    with db.writer() as w:
        insert_events(w, [_expired("held", user_id="u1", event_time=OLD)])
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SELECT count(*) FROM audit_holds"))  # takes the snapshot
            place_hold(db, "org_a", "user:u1", reason="r", reference="C", actor="t")
            with pytest.raises(Exception, match="placed after this transaction began"):
                conn.execute(text("SELECT * FROM audit_purge_expired(now())"))
    assert _ids(db) == {"held"}
    # In its own transaction the same purge runs and keeps the held event.
    assert purge(db).removed == {}


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("-user:ann", "-user:ann"),
        ("family:login -action:login", "-action:login"),
        ('user:ann -"dry run"', '-"dry run"'),
        ("hour:3", "hour:3"),
        ("user:ann weekday:mon tz:Europe/Paris", "weekday:mon"),
        ("stream:auditlens", "stream:auditlens"),
    ],
)
def test_a_term_the_database_cannot_match_is_refused_not_ignored(db: Database, query, term):
    """A hold's sentence is its legal scope: a term the database's match ignores would make it
    say "user is not ann" while it holds ann's events too. Refused, naming the term."""
    with db.writer() as w:
        insert_events(w, [_expired("ann", user_id="ann", event_time=OLD)])
    with pytest.raises(HoldError) as raised:
        place_hold(db, "org_a", query, reason="r", reference="C", actor="t")
    message = str(raised.value)
    assert message.startswith("query: ") and "\n" not in message and term in message
    assert list_holds(db, "org_a") == []
