"""The read replica: a hot standby of the primary that serves the reads that may lag
(AUDITLENS_READ_DATABASE_URL), its errors as one line, and how far behind it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from sql.errors import AuditLensError, ConfigurationError, StandbyConflict, StandbyUnavailable
from sql.settings import READ_DATABASE_URL_ENV

if TYPE_CHECKING:
    from sql.gateway import Database

# SQLSTATEs of a recovery conflict: serialization_failure (snapshot, lock, buffer pin) and
# database_dropped; the message tells a conflict from any other 40001.
_CONFLICT_STATES = ("40001", "57P04")
# Equal on a primary and every physical standby made from it; other clusters differ.
_SYSTEM_ID = "SELECT system_identifier FROM pg_control_system()"


def server_where(url: str) -> str:
    """Where a URL's server is, for messages: host:port or the socket folder (no password)."""
    parsed = urlsplit(url.replace("+psycopg", ""))
    if parsed.hostname:
        return f"{parsed.hostname}:{parsed.port or 5432}"
    query = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
    return f"socket {query.get('host', 'default')}".replace("%2F", "/")


class Standby:
    """The read replica's connection pool (connected on first use)."""

    def __init__(self, url: str, *, pool_size: int) -> None:
        self.url = url
        self.where = server_where(url)
        self.engine: Engine = sa.create_engine(
            url,
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "auditlens"},
        )
        # The primary's system identifier once this standby was found to share it.
        self.verified_copy_of: int | None = None

    def check_copy_of(self, primary: Engine, conn: Connection) -> None:
        """Refuse a read server that is not a physical copy of the primary (another cluster
        would answer for other data); checked on first use, a system identifier per side."""
        if self.verified_copy_of is not None:
            return
        with primary.connect() as primary_conn:
            expected = primary_conn.execute(sa.text(_SYSTEM_ID)).scalar_one()
        found = conn.execute(sa.text(_SYSTEM_ID)).scalar_one()
        conn.rollback()  # before the caller's BEGIN and its isolation level
        if found != expected:
            raise ConfigurationError(
                f"{READ_DATABASE_URL_ENV} points at {self.where}, which is not a copy of the "
                f"primary (system identifier {found}, the primary's is {expected}): give the "
                "URL of a streaming standby of the primary"
            )
        self.verified_copy_of = int(expected)


def standby_error(orig: psycopg.Error, where: str) -> AuditLensError | None:
    """The one-line error for what a read on the standby at `where` ran into, or None when it
    is not the standby's doing (a bad statement is reported as it is)."""
    message = str(orig).strip()
    if orig.sqlstate in _CONFLICT_STATES and "conflict with recovery" in message:
        return StandbyConflict(
            f"the read replica at {where} cancelled this read to replay the primary's changes "
            "(a recovery conflict: the read ran longer than its max_standby_streaming_delay); "
            "run it again"
        )
    # No SQLSTATE: the connection failed or broke; 08: connection exceptions; 57P: the server
    # is shutting down or starting up.
    state = orig.sqlstate or ""
    if isinstance(orig, psycopg.OperationalError) and (not state or state[:2] in ("08", "57")):
        reason = message.splitlines()[-1] if message else type(orig).__name__
        return StandbyUnavailable(
            f"cannot read from the read replica at {where}: {reason} (reads that may lag are "
            f"not sent to the primary instead: start the standby, or unset "
            f"{READ_DATABASE_URL_ENV} to read from the primary)"
        )
    return None


@dataclass(frozen=True)
class StandbyLag:
    """How far the read replica is behind the primary, measured from both ends."""

    where: str
    primary_lsn: str
    replay_lsn: str | None  # None: the server at `where` is not replaying (not a standby)
    bytes_behind: int | None  # WAL the primary has written that the standby has not replayed
    last_replayed_commit: datetime | None  # commit time of the last transaction replayed
    seconds_behind: float | None  # primary's now minus that commit time; 0 when caught up
    replay_paused: bool

    @property
    def caught_up(self) -> bool:
        return self.bytes_behind == 0

    def sentence(self) -> str:
        """One line for a page: where the standby is and how far behind."""
        if self.replay_lsn is None:
            return (
                f"The read replica at {self.where} is not a standby (it replays no WAL): "
                f"check {READ_DATABASE_URL_ENV}."
            )
        paused = " Replay is paused on the standby." if self.replay_paused else ""
        if self.caught_up:
            return (
                f"The read replica at {self.where} is caught up "
                f"(replayed up to {self.replay_lsn}).{paused}"
            )
        age = (
            f", its last replayed commit is {self.seconds_behind:,.1f} s old"
            if self.seconds_behind is not None
            else ""
        )
        return (
            f"The read replica at {self.where} is {self.bytes_behind:,} bytes of WAL behind the "
            f"primary (replayed {self.replay_lsn} of {self.primary_lsn}{age}).{paused}"
        )


_PRIMARY = "SELECT pg_current_wal_lsn()::text, now()"
# CASE: pg_is_wal_replay_paused() raises on a server that is not in recovery.
_STANDBY = """
SELECT pg_last_wal_replay_lsn()::text,
       greatest(pg_wal_lsn_diff(CAST(:primary AS pg_lsn), pg_last_wal_replay_lsn()), 0)::bigint,
       pg_last_xact_replay_timestamp(),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END"""


def standby_lag(db: Database) -> StandbyLag | None:
    """How far `db`'s read replica is behind its primary; None when none is configured.

    The primary's position is read first, so a standby that replays meanwhile shows at most
    caught up, never ahead. Raises `StandbyUnavailable` when the standby cannot be reached."""
    standby = db.standby
    if standby is None:
        return None
    with db.admin(timeout_ms=db.settings.statement_timeout_ms) as session:
        primary_lsn, primary_now = session.execute(_PRIMARY).rows[0]
    try:
        with standby.engine.connect() as conn:
            standby.check_copy_of(db.engine, conn)
            row = conn.execute(sa.text(_STANDBY), {"primary": primary_lsn}).one()
    except DBAPIError as exc:
        orig = exc.orig
        error = standby_error(orig, standby.where) if isinstance(orig, psycopg.Error) else None
        raise (error or exc) from None
    replay_lsn, behind, replayed_at, paused = row
    if replay_lsn is None:
        return StandbyLag(standby.where, primary_lsn, None, None, None, None, False)
    behind = int(behind)
    seconds = 0.0 if behind == 0 or replayed_at is None else None
    if behind and replayed_at is not None:
        seconds = max((primary_now - replayed_at).total_seconds(), 0.0)
    return StandbyLag(
        standby.where, primary_lsn, replay_lsn, behind, replayed_at, seconds, bool(paused)
    )
