"""Helpers of the TimescaleDB chunk tests: old login events stored as the writer, and where
TimescaleDB keeps them (the chunk holding an event, the table of a compressed chunk's batches)."""

from __future__ import annotations

import os

from sql.compression import COMPRESS_AFTER_DAYS_ENV
from sql.event_store import insert_events
from sql.gateway import Database
from sql.rollup.refresh import refresh
from tests.factories import event_row


def login(event_id: str, **fields) -> tuple:
    """A login event (kept 90 days by default) with this id."""
    return event_row(id=event_id, event_type="login", event_action="login", **fields)


def store(db: Database, rows: list[tuple], *, rolled_up: bool = True) -> None:
    """Insert `rows` as the writer does, in one transaction, then (`rolled_up`) refresh the
    rollups without compressing anything: compression takes only rolled-up events."""
    with db.writer() as w:
        insert_events(w, rows)
    if rolled_up:
        roll_up(db)


def roll_up(db: Database) -> None:
    """Refresh the rollups, leaving every chunk as it is (compression is the test's to run)."""
    previous = os.environ.get(COMPRESS_AFTER_DAYS_ENV)
    os.environ[COMPRESS_AFTER_DAYS_ENV] = "36500"
    try:
        refresh(db)
    finally:
        if previous is None:
            os.environ.pop(COMPRESS_AFTER_DAYS_ENV)
        else:
            os.environ[COMPRESS_AFTER_DAYS_ENV] = previous


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
