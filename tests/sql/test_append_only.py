"""Audit events can be added and read, never changed: for every role, loudly."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

ROLES = ["auditlens_writer", "auditlens_reader", "auditlens_owner", None]  # None: superuser
STATEMENTS = {
    "UPDATE": "UPDATE audit_events SET event_action = 'tampered'",
    "DELETE": "DELETE FROM audit_events",
    "TRUNCATE": "TRUNCATE audit_events",
}


@pytest.fixture
def stored(db: Database) -> Database:
    with db.writer() as w:
        insert_events(w, [event_row(), event_row(event_type="config_change")])
    return db


def _attempt(db: Database, role: str | None, statement: str) -> str:
    with db.engine.connect() as conn:
        if role:
            conn.execute(text(f"SET ROLE {role}"))
        with pytest.raises(Exception) as raised:
            conn.execute(text(statement))
        conn.rollback()
    return str(raised.value)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "superuser")
@pytest.mark.parametrize("operation", list(STATEMENTS))
def test_change_is_rejected_for_every_role(stored: Database, role: str | None, operation: str):
    message = _attempt(stored, role, STATEMENTS[operation])
    assert "append-only" in message or "permission denied" in message
    with stored.admin() as session:
        assert session.scalar("SELECT count(*) FROM audit_events") == 2
        assert (
            session.scalar("SELECT count(*) FROM audit_events WHERE event_action = 'tampered'") == 0
        )


@pytest.mark.parametrize("operation", list(STATEMENTS))
def test_superuser_gets_the_append_only_message_not_a_silent_no_op(stored: Database, operation):
    # The superuser bypasses privileges, so only the triggers stand in the way: they must speak.
    assert "audit_events is append-only" in _attempt(stored, None, STATEMENTS[operation])


def test_owner_delete_is_refused_by_the_trigger_with_the_reason(stored: Database):
    assert "append-only: DELETE" in _attempt(stored, "auditlens_owner", STATEMENTS["DELETE"])


def test_truncating_one_partition_directly_is_rejected(stored: Database, capabilities):
    if capabilities.hypertables:
        part = "audit_events"  # chunks are internal on TimescaleDB; the hypertable is the target
    else:
        with stored.admin() as session:
            part = session.scalar(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'audit_events'::regclass"
                " AND EXISTS (SELECT 1 FROM audit_events WHERE tableoid = c.oid)"
            )
    assert "append-only" in _attempt(stored, None, f"TRUNCATE {part}")
    with stored.admin() as session:
        assert session.scalar("SELECT count(*) FROM audit_events") == 2


def test_the_purge_switch_alone_cannot_delete_a_guaranteed_row(stored: Database):
    # Setting the purge GUC by hand must not open a back door: guaranteed rows stay.
    with stored.engine.connect() as conn:
        conn.execute(text("SELECT set_config('auditlens.purging', 'on', false)"))
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM audit_events"))


def test_no_rule_turns_tampering_into_a_silent_no_op(db: Database):
    with db.admin() as session:
        rules = session.scalar("SELECT count(*) FROM pg_rules WHERE tablename LIKE 'audit_%'")
    assert rules == 0


def test_reader_cannot_read_base_tables(db: Database):
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        with pytest.raises(Exception) as raised:
            conn.execute(text("SELECT count(*) FROM audit_events"))
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)  # type: ignore[attr-defined]
