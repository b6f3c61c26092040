"""Errors that reach a user as one line: what is wrong and what to do, never a traceback."""

from __future__ import annotations


class AuditLensError(Exception):
    """Base for every error the command line prints as one line and exits non-zero on."""

    exit_code = 2


class ConfigurationError(AuditLensError):
    """A setting is malformed or missing."""


class ServerUnavailable(AuditLensError):
    """The database server cannot be reached."""


class ServerTooOld(AuditLensError):
    """The server is older than the oldest PostgreSQL we support."""


class PermissionMissing(AuditLensError):
    """The login role lacks a privilege AuditLens needs."""


class MigrationError(AuditLensError):
    """A migration failed or an applied migration was edited."""


class QueryTimeout(AuditLensError):
    """A query ran past its time limit; carries the SQL so it can be diagnosed."""

    def __init__(self, message: str, sql: str) -> None:
        super().__init__(message)
        self.sql = sql


class EmbeddedServerError(AuditLensError):
    """The embedded PostgreSQL could not be found, initialised or started."""


class StandbyUnavailable(ServerUnavailable):
    """The read replica (AUDITLENS_READ_DATABASE_URL) cannot be reached."""


class StandbyConflict(AuditLensError):
    """The read replica cancelled a read to replay the primary's changes (a recovery conflict)."""
