"""Ordered SQL migrations, applied once each, each in its own transaction, checksummed.

Files are `sql/migrations/NNNN_name.sql`. Each runs as `auditlens_owner` (so the owner owns
every object) unless its first line is `-- run-as: login`. The runner sets the GUC
`auditlens.capability` for the transaction so a migration can branch between plain
PostgreSQL and TimescaleDB. An applied migration whose text changed is refused: fix forward
with a new file instead. A database that records a migration this release does not have (one
built by the pre-release files, since squashed) is refused too: it must be moved, not upgraded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Row, text
from sqlalchemy.exc import DBAPIError

from sql.capabilities import Capabilities, detect, timescaledb_available
from sql.errors import MigrationError, PermissionMissing
from sql.gateway import Database, psycopg_connection

TIMESCALEDB_ENV = "AUDITLENS_TIMESCALEDB"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every AuditLens process.
_MIGRATION_LOCK = 0x41554449
_MOVE_EVENTS = (
    "move its events to a fresh database: for each organisation, `auditlens export events"
    " --org ORG --format ndjson --out FILE` with the AuditLens that built it, then"
    " `auditlens import FILE` into the new database"
)


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def runs_as_login(self) -> bool:
        return self.sql.lstrip().startswith("-- run-as: login")


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """Every migration file in version order; a malformed or duplicate name is an error."""
    if folder is None:
        base = resources.files("sql").joinpath("migrations")
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in base.iterdir()]
    else:
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir()]
    migrations: dict[str, Migration] = {}
    for name, body in entries:
        if not name.endswith(".sql"):
            continue
        match = _FILE.match(name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {name}")
        version = match.group(1)
        if version in migrations:
            raise MigrationError(
                f"two migrations share version {version}: {migrations[version].name} and {name}"
            )
        migrations[version] = Migration(version, name, body)
    return [migrations[v] for v in sorted(migrations)]


def _ensure_timescaledb(conn: Connection) -> None:
    mode = os.environ.get(TIMESCALEDB_ENV, "auto").strip().lower()
    if mode not in ("auto", "off"):
        raise MigrationError(f"{TIMESCALEDB_ENV} must be 'auto' or 'off', got: {mode!r}")
    if mode == "auto" and timescaledb_available(conn):
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))


def migrate(db: Database, *, progress: Callable[[str], None] | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    migrations = load_migrations()
    applied_now: list[str] = []
    try:
        with db.engine.connect() as conn:
            # Session-level lock: a second `migrate` waits here, then finds nothing to do.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
            try:
                with conn.begin():
                    _ensure_timescaledb(conn)
                    conn.execute(
                        text(
                            "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version text PRIMARY KEY, name text NOT NULL,"
                            " checksum text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())"
                        )
                    )
                    caps = detect(conn)
                done = {
                    row.version: row
                    for row in conn.execute(
                        text("SELECT version, name, checksum FROM schema_migrations")
                    )
                }
                conn.commit()
                _refuse_unknown_history(done.values(), migrations)
                for migration in migrations:
                    previous = done.get(migration.version)
                    if previous is not None:
                        if previous.checksum != migration.checksum:
                            raise MigrationError(
                                f"migration {migration.name} was edited after it was applied "
                                f"(checksum {previous.checksum[:12]} in the database, "
                                f"{migration.checksum[:12]} on disk): add a new migration instead"
                            )
                        continue
                    _apply(conn, migration, caps)
                    applied_now.append(migration.name)
                    if progress:
                        progress(migration.name)
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise PermissionMissing(
                f"migrations need a role that may create roles and objects: "
                f"{str(exc.orig).splitlines()[0]}"
            ) from None
        raise
    db.refresh_capabilities()
    return applied_now


def _refuse_unknown_history(recorded: Iterable[Row[Any]], migrations: list[Migration]) -> None:
    """A database whose recorded migrations are not this release's cannot be upgraded here."""
    known = {m.name for m in migrations}
    unknown = sorted(row.name for row in recorded if row.name not in known)
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise MigrationError(
            f"this database was built by migrations this release does not have "
            f"({unknown[0]}{more}; the pre-release ones were squashed), so it cannot be "
            f"upgraded in place: {_MOVE_EVENTS}"
        )


def _apply(conn: Connection, migration: Migration, caps: Capabilities) -> None:
    try:
        with conn.begin():
            conn.execute(
                text("SELECT set_config('auditlens.capability', :flavor, true)"),
                {"flavor": caps.flavor.value},
            )
            if not migration.runs_as_login:
                conn.execute(text("SET LOCAL ROLE auditlens_owner"))
            # No parameters: psycopg sends the file as is, several statements at once.
            psycopg_connection(conn).execute(migration.sql)
            conn.execute(text("RESET ROLE"))
            conn.execute(
                text("INSERT INTO schema_migrations (version, name, checksum) VALUES (:v, :n, :c)"),
                {"v": migration.version, "n": migration.name, "c": migration.checksum},
            )
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise MigrationError(f"migration {migration.name} failed: {reason}") from None
