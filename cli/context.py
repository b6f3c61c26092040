"""Opening the database for a command: one place, so every command behaves the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sql.gateway import Database
from sql.migrate import migrate


@contextmanager
def open_database(*, migrated: bool = True) -> Iterator[Database]:
    """The configured (or embedded) database, migrated; an embedded server this command
    started is stopped again when the command ends."""
    db = Database.open()
    try:
        if migrated:
            migrate(db)
        yield db
    finally:
        db.close(stop_embedded=True)
