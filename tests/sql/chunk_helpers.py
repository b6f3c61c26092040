"""Helpers of the TimescaleDB chunk tests: old login events stored as the writer, and where
TimescaleDB keeps them (the chunk holding an event, the table of a compressed chunk's batches)."""

from __future__ import annotations

from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row


def login(event_id: str, **fields) -> tuple:
    """A login event (kept 90 days by default) with this id."""
    return event_row(id=event_id, event_type="login", event_action="login", **fields)


def store(db: Database, rows: list[tuple]) -> None:
    """Insert `rows` as the writer does, in one transaction."""
    with db.writer() as w:
        insert_events(w, rows)


def chunk_of(db: Database, event_id: str) -> str:
    """The chunk (or partition) holding the event with this id."""
    with db.admin() as s:
        return str(
            s.scalar(
                "SELECT tableoid::regclass::text FROM audit_events WHERE id = :id", {"id": event_id}
            )
        )


def batches_of(db: Database, chunk: str) -> str:
    """The table holding a compressed chunk's batches."""
    with db.admin() as s:
        return str(
            s.scalar(
                "SELECT format('%I.%I', z.schema_name, z.table_name)"
                " FROM _timescaledb_catalog.chunk c"
                " JOIN _timescaledb_catalog.chunk z ON z.id = c.compressed_chunk_id"
                " WHERE format('%I.%I', c.schema_name, c.table_name) = :chunk",
                {"chunk": chunk},
            )
        )
