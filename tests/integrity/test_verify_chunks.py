"""Tamper evidence on TimescaleDB: what is done to a compressed chunk behind the triggers'
back (as a superuser with triggers off) is named event by event, like any deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from integrity import keys as keymod
from integrity.seal import seal_organization
from integrity.verify import verify_organization
from sql.compression import compress_old_chunks
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from tests.sql.chunk_helpers import roll_up

ORG = "org_a"
# Compressed (older than 30 days) and still under its seven-year guarantee, so no purge
# could explain its absence.
WHEN = datetime.now(UTC) - timedelta(days=60)


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def sealed(db: Database, key: keymod.SigningKey, timescale_only) -> tuple[Database, list[str]]:
    rows = [
        event_row(event_type="config_change", event_action="update_alert_rule", event_time=WHEN)
        for _ in range(4)
    ]
    with db.writer() as w:
        insert_events(w, rows)
    seal_organization(db, ORG, key)
    roll_up(db)  # compression takes rolled-up events only
    assert compress_old_chunks(db, days=30) == 1
    return db, [r[1] for r in rows]


def _tamper(db: Database, *statements: str, triggers_off: bool = True) -> None:
    with db.engine.connect() as conn:
        if triggers_off:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            conn.execute(text(statement))
        conn.commit()


def _deleted(db: Database, key: keymod.SigningKey) -> tuple[set[str], set[str]]:
    report = verify_organization(db, ORG, keymod.PublicKeys({key.key_id: key.public}))
    return {p.event_id for p in report.problems if p.kind == "event_deleted"}, {
        p.kind for p in report.problems
    }


def _chunk(db: Database, event_id: str) -> str:
    with db.admin() as s:
        return str(
            s.scalar(
                "SELECT tableoid::regclass::text FROM audit_events WHERE id = :id", {"id": event_id}
            )
        )


def test_a_compressed_chunk_verifies_clean(sealed, key):
    db, _ = sealed
    assert _deleted(db, key) == (set(), set())


def test_deleting_a_compressed_batch_names_every_lost_event(sealed, key):
    db, ids = sealed
    with db.admin() as s:
        batches = s.scalar(
            "SELECT format('%I.%I', z.schema_name, z.table_name) FROM _timescaledb_catalog.chunk c"
            " JOIN _timescaledb_catalog.chunk z ON z.id = c.compressed_chunk_id"
            " WHERE format('%I.%I', c.schema_name, c.table_name) = :c",
            {"c": _chunk(db, ids[0])},
        )
    _tamper(db, f"DELETE FROM {batches}")
    assert _deleted(db, key) == (set(ids), {"event_deleted"})


def test_dropping_a_compressed_chunk_names_every_lost_event(sealed, key):
    db, ids = sealed
    # With triggers on: TimescaleDB's own cleanup of its catalogue is an event trigger.
    _tamper(db, f"DROP TABLE {_chunk(db, ids[0])}", triggers_off=False)
    assert _deleted(db, key) == (set(ids), {"event_deleted"})
