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


# ---- columns the guarantees rest on are the server's --------------------------------------

_FORGED = {
    "received_at": "2000-01-01T00:00:00Z",
    "retention_guaranteed_until": "2020-01-01T00:00:00Z",
    "ingest_seq": 2**62,
    "ingest_xid": str(2**62),
}
_WHEN = "2025-01-15T14:32:15Z"


def _server_columns(db: Database, event_id: str) -> tuple[object, ...]:
    with db.admin() as s:
        return tuple(
            s.execute(
                "SELECT received_at > '2020-01-01', retention_guaranteed_until,"
                " ingest_seq < 2 ^ 62, ingest_xid < pg_current_xact_id()"
                " FROM audit_events WHERE id = :id",
                {"id": event_id},
            ).rows[0]
        )


def _expected(db: Database) -> tuple[object, ...]:
    with db.admin() as s:
        guarantee = s.scalar(
            "SELECT CAST(:t AS timestamptz) + make_interval(days => 2555)", {"t": _WHEN}
        )
    return (True, guarantee, True, True)


def test_a_writer_cannot_forge_the_server_columns_by_insert(db: Database):
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_writer"))
        conn.execute(
            text(
                "INSERT INTO audit_events (organization_id, id, event_time, event_type,"
                " event_action, received_at, retention_guaranteed_until, ingest_seq, ingest_xid)"
                " VALUES ('org_a', 'forged_insert', :t, 'config_change', 'update_settings',"
                " :received_at, :retention_guaranteed_until, :ingest_seq,"
                " CAST(:ingest_xid AS xid8))"
            ),
            {"t": _WHEN, **_FORGED},
        )
        conn.commit()
    assert _server_columns(db, "forged_insert") == _expected(db)


def test_a_writer_cannot_forge_the_server_columns_by_copy(db: Database):
    """The writer's fast path: COPY straight into the month's partition (or the hypertable)."""
    columns = (
        "organization_id, id, event_time, event_type, event_action,"
        " received_at, retention_guaranteed_until, ingest_seq, ingest_xid"
    )
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_writer"))
        target = conn.execute(
            text(
                "SELECT audit_ensure_partitions(ARRAY[CAST(:t AS timestamptz)]),"
                " coalesce(to_regclass('audit_events_2025_01'), 'audit_events')::text"
            ),
            {"t": _WHEN},
        ).one()[1]
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor().copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            copy.write_row(
                ("org_a", "forged_copy", _WHEN, "config_change", "update_settings",
                 *_FORGED.values())
            )  # fmt: skip
        conn.commit()
    assert _server_columns(db, "forged_copy") == _expected(db)


# ---- who may run the SECURITY DEFINER functions --------------------------------------------


def test_the_reader_cannot_create_partitions(db: Database):
    with db.engine.connect() as conn:
        conn.execute(text("SET ROLE auditlens_reader"))
        with pytest.raises(Exception, match="permission denied for function audit_ensure_part"):
            conn.execute(text("SELECT audit_ensure_partitions(ARRAY[timestamptz '2031-05-01Z'])"))
        conn.rollback()
    with db.admin() as s:
        assert s.scalar("SELECT to_regclass('audit_events_2031_05')") is None


def test_no_security_definer_function_is_public(db: Database):
    """Every function may be executed by PUBLIC unless revoked: a SECURITY DEFINER one must
    be revoked, and granted to the roles that call it only."""
    with db.admin() as s:
        public = s.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
            " WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef"
            " AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'"
        ).rows
        definers = s.scalar(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosecdef"
        )
    assert public == []
    assert definers >= 5  # the check looked at something


def _started_export(db: Database) -> int:
    from sql.export_log import ExportHeader, insert_started

    header = ExportHeader("org_a", "ann@example.com", "events", "csv", {"query": ""}, "all")
    with db.writer() as w:
        return insert_started(w, header)


def _finalise(db: Database, export_id: int, rows: int) -> None:
    from sql.export_log import finalise

    with db.writer() as w:
        finalise(w, "org_a", export_id, rows=rows, sha256="a" * 64, flagged=False, complete=True)


def test_an_export_is_finalised_once_and_never_again(db: Database):
    export_id = _started_export(db)
    with db.admin() as s:
        started = s.execute(
            "SELECT row_count, completed, ended_at FROM audit_exports WHERE export_id = :i",
            {"i": export_id},
        ).rows
    assert started == [(0, False, None)]
    _finalise(db, export_id, 7)
    with pytest.raises(Exception, match="has ended already"):
        _finalise(db, export_id, 8)
    for role in ROLES:  # nobody reopens it or rewrites its outcome
        message = _attempt(db, role, "UPDATE audit_exports SET ended_at = NULL")
        assert "ended already" in message or "permission denied" in message
    with db.admin() as s:
        assert s.scalar("SELECT row_count FROM audit_exports") == 7


def test_an_export_is_finalised_only_under_its_own_organisation(db: Database):
    from sql.export_log import finalise

    export_id = _started_export(db)
    refused = f"export {export_id} of org_b has no started record"
    with pytest.raises(LookupError, match=refused), db.writer() as w:
        finalise(w, "org_b", export_id, rows=9, sha256="b" * 64, flagged=True, complete=True)
    with db.admin() as s:
        row = s.execute(
            "SELECT organization_id, row_count, completed, ended_at FROM audit_exports"
        ).rows
    assert row == [("org_a", 0, False, None)]
    _finalise(db, export_id, 7)  # its own organisation still can


def test_an_update_must_end_the_export_and_keep_who_and_what(db: Database):
    _started_export(db)
    assert "must end it" in _attempt(
        db, "auditlens_writer", "UPDATE audit_exports SET row_count = 3"
    )
    changed = _attempt(
        db, None, "UPDATE audit_exports SET exported_by = 'someone', ended_at = now()"
    )
    assert "never change" in changed
    # The writer may set the outcome only, not who exported.
    refused = _attempt(db, "auditlens_writer", "UPDATE audit_exports SET exported_by = 'x'")
    assert "permission denied" in refused


@pytest.mark.parametrize("role", ["auditlens_reader", "auditlens_org_scope"])
def test_a_reader_cannot_finalise_an_export(db: Database, role: str):
    export_id = _started_export(db)
    refused = _attempt(
        db, role, f"UPDATE audit_exports SET ended_at = now() WHERE export_id = {export_id}"
    )
    assert "permission denied" in refused


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "superuser")
@pytest.mark.parametrize("statement", ["DELETE FROM audit_exports", "TRUNCATE audit_exports"])
def test_no_role_removes_an_export_record(db: Database, role: str | None, statement: str):
    _finalise(db, _started_export(db), 1)
    message = _attempt(db, role, statement)
    assert "keeps every record" in message or "permission denied" in message
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_exports") == 1


def test_an_export_ends_at_the_servers_time_not_the_writers(db: Database):
    export_id = _started_export(db)
    with db.writer() as w:
        w.execute(
            "UPDATE audit_exports SET ended_at = '2000-01-01T00:00:00Z' WHERE export_id = :i",
            {"i": export_id},
        )
    with db.admin() as s:
        assert s.scalar("SELECT ended_at >= exported_at FROM audit_exports") is True
