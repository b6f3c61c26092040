"""The one gateway to the database: connections, time limits, row caps, organisation scope.

Pages, detectors and importers never open their own connections. Reads go through
`Database.org_session(org)`, which runs as `auditlens_reader` with the organisation set for the
transaction, so a query can only ever see that organisation's rows; writes go through
`Database.writer()`, which runs as `auditlens_writer`. With a read replica configured
(AUDITLENS_READ_DATABASE_URL), `org_session(org, may_lag=True)` runs on it; everything else,
every write above all, runs on the primary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from sql.capabilities import MIN_SERVER_VERSION, Capabilities, detect
from sql.embedded import EmbeddedPostgres
from sql.errors import (
    ConfigurationError,
    PermissionMissing,
    QueryTimeout,
    ServerTooOld,
    ServerUnavailable,
)
from sql.settings import DATABASE_URL_ENV, READ_DATABASE_URL_ENV, Settings
from sql.standby import Standby, server_where, standby_error
from sql.vocabulary import ORG_ID_RULE, is_org_id

Params = Mapping[str, Any]


def check_org_id(org_id: str) -> str:
    """An organisation id as producers send it (`org_123`); refuse anything else loudly."""
    if not is_org_id(org_id):
        raise ConfigurationError(f"organization id must be {ORG_ID_RULE}, got: {org_id!r}")
    return org_id


def sqlalchemy_url(url: str, setting: str = DATABASE_URL_ENV) -> str:
    """Validate a PostgreSQL URL and point it at the psycopg 3 driver (errors name `setting`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"{setting} is not a database URL (expected postgresql://user@host:port/db)"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"{setting} must be a postgresql:// URL, got scheme {parsed.drivername!r}"
        )
    if parsed.port is not None and not (0 < parsed.port < 65536):
        raise ConfigurationError(f"{setting} has an invalid port: {parsed.port}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@dataclass
class QueryResult:
    """Rows of one query, capped: `truncated` says the cap cut the result short."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    sql: str = field(default="", repr=False)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=self.columns)


class ScopedSession:
    """A transaction bound to one role (and, for readers, one organisation)."""

    def __init__(
        self, conn: Connection, *, org_id: str | None, max_rows: int, standby: str | None = None
    ) -> None:
        self.conn = conn
        self.org_id = org_id
        self.max_rows = max_rows
        # Where the read replica this session runs on is (None: on the primary).
        self.standby = standby

    def execute(
        self, sql: str, params: Params | None = None, *, max_rows: int | None = None
    ) -> QueryResult:
        """Run one statement with bound parameters; at most `max_rows` rows come back."""
        cap = self.max_rows if max_rows is None else max_rows
        try:
            result = self.conn.execute(text(sql), dict(params or {}))
        except DBAPIError as exc:
            raise _translate(exc, sql, standby=self.standby) from exc
        if not result.returns_rows:
            return QueryResult([], [], False, sql)
        columns = list(result.keys())
        # The driver's own tuples: a text() statement has no result processors, and a Row
        # per row costs more than the fetch itself on detection's reads (10^5-10^6 rows).
        rows = list(result.cursor.fetchmany(cap + 1))
        result.close()
        truncated = len(rows) > cap
        return QueryResult(columns, rows[:cap], truncated, sql)

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        try:
            return self.conn.execute(text(sql), dict(params or {})).scalar()
        except DBAPIError as exc:
            raise _translate(exc, sql, standby=self.standby) from exc

    def frame(self, sql: str, params: Params | None = None, *, max_rows: int | None = None) -> Any:
        return self.execute(sql, params, max_rows=max_rows).frame()

    @property
    def driver(self) -> psycopg.Connection[Any]:
        """This transaction's psycopg connection, errors untranslated: for callers that handle
        the driver's own errors (the event writer's COPY isolating a bad row)."""
        return psycopg_connection(self.conn)

    @contextmanager
    def raw_connection(
        self, sql: str, *, what: str | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """This transaction's psycopg connection, for what SQLAlchemy cannot do (binary
        parameters, single-row streaming), running `sql`; a timeout or a missing permission
        raised inside becomes the gateway's error, as from `execute`."""
        try:
            yield self.driver
        except psycopg.Error as exc:
            translated = _translate(exc, sql, what, standby=self.standby)
            if translated is exc:
                raise
            raise translated from exc

    def stream(
        self, sql: str, params: Params | None = None, *, batch_size: int = 5_000
    ) -> Iterator[tuple[list[str], Sequence[tuple[Any, ...]]]]:
        """Yield (columns, rows) batches from a server-side cursor: for exports, never capped."""
        try:
            # Options on the statement, not the connection: Connection.execution_options
            # changes the connection itself, and every later statement of the transaction
            # (an INSERT recording the export, say) would then go through a named cursor.
            statement = text(sql).execution_options(stream_results=True, yield_per=batch_size)
            result = self.conn.execute(statement, dict(params or {}))
            columns = list(result.keys())
            for part in result.partitions(batch_size):
                yield columns, [tuple(r) for r in part]
        except DBAPIError as exc:
            raise _translate(exc, sql, standby=self.standby) from exc


def _translate(
    exc: DBAPIError | psycopg.Error,
    sql: str,
    what: str | None = None,
    *,
    standby: str | None = None,
) -> BaseException:
    """The gateway's error for a driver error: a timeout or a missing permission gets its own
    exception (a timeout says `what` ran past its limit, else the statement's first line), and
    so does a read replica (at `standby`) that cancelled the read or went away; anything else
    comes back as it was."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, psycopg.errors.QueryCanceled):
        first_line = " ".join(sql.split())[:120]
        message = (
            f"{what} ran past its time limit"
            if what
            else f"query ran past its time limit: {first_line}"
        )
        return QueryTimeout(message, sql)
    if isinstance(orig, psycopg.errors.InsufficientPrivilege):
        return PermissionMissing(str(orig).splitlines()[0])
    if standby is not None and isinstance(orig, psycopg.Error):
        return standby_error(orig, standby) or exc
    return exc


def psycopg_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (its errors untranslated)."""
    return _psycopg(conn.connection.driver_connection)


def _psycopg(driver: Any) -> psycopg.Connection[Any]:
    # The engine always uses psycopg 3; None means the pool has dropped the connection.
    if isinstance(driver, psycopg.Connection):
        return driver
    if driver is None:
        raise ServerUnavailable("the database connection was closed under this session")
    raise TypeError(f"expected a psycopg 3 connection, got {type(driver).__name__}")


class Database:
    """One server connection pool and the scoped sessions opened on it."""

    def __init__(
        self,
        url: str,
        settings: Settings | None = None,
        *,
        embedded: EmbeddedPostgres | None = None,
        pool_size: int = 5,
        read_url: str | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.url = sqlalchemy_url(url)
        # Connected on first use: a standby that is down fails the reads sent to it, never the
        # commands that do not read from it (ingest, seal, purge).
        self.standby = (
            Standby(sqlalchemy_url(read_url, READ_DATABASE_URL_ENV), pool_size=pool_size)
            if read_url
            else None
        )
        self.embedded = embedded
        self.engine: Engine = sa.create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "auditlens"},
        )

    @property
    def cache_key(self) -> str:
        """What a cached answer of a read that may lag depends on: the primary and the
        replica it was read from (two gateways in one process never share an entry)."""
        return self.url if self.standby is None else f"{self.url} read from {self.standby.url}"

    @classmethod
    def open(cls, settings: Settings | None = None) -> Database:
        """Connect to AUDITLENS_DATABASE_URL, or start the embedded server when it is unset."""
        settings = settings or Settings.from_env()
        read_url = settings.read_database_url
        if settings.database_url:
            db = cls(settings.database_url, settings, read_url=read_url)
        else:
            server = EmbeddedPostgres(settings.data_dir)
            db = cls(server.start(), settings, embedded=server, read_url=read_url)
        db.check_server()
        return db

    def check_server(self) -> Capabilities:
        """Connect once and refuse servers we cannot serve, with a one-line reason."""
        try:
            with self.engine.connect() as conn:
                caps = detect(conn)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[-1] if exc.orig else str(exc)
            raise ServerUnavailable(
                f"cannot connect to PostgreSQL at {server_where(self.url)}: {reason} "
                f"(is the server running? check {DATABASE_URL_ENV})"
            ) from None
        if caps.server_version_num < MIN_SERVER_VERSION:
            raise ServerTooOld(
                f"PostgreSQL {caps.server_version} at {server_where(self.url)} is too old: "
                "AuditLens needs PostgreSQL 15 or newer"
            )
        self.__dict__["capabilities"] = caps
        return caps

    @cached_property
    def capabilities(self) -> Capabilities:
        with self.engine.connect() as conn:
            return detect(conn)

    def refresh_capabilities(self) -> Capabilities:
        self.__dict__.pop("capabilities", None)
        return self.capabilities

    def _prepare(
        self,
        conn: Connection,
        role: str | None,
        timeout_ms: int | None,
        org: str | None = None,
        idle_ms: int | None = None,
    ) -> None:
        """Role, statement timeout, idle limit and organisation scope for this transaction, in
        one round trip (set_config('role', ..., true) is SET LOCAL ROLE with a bound name)."""
        settings = ["set_config('statement_timeout', :ms, true)"]
        # None: the configured limit; 0: no limit (maintenance such as a rollup rebuild).
        values = {
            "ms": str(self.settings.statement_timeout_ms if timeout_ms is None else timeout_ms)
        }
        if idle_ms is not None:
            settings.append("set_config('idle_in_transaction_session_timeout', :idle, true)")
            values["idle"] = str(idle_ms)
        if role is not None:
            settings.insert(0, "set_config('role', :role, true)")
            values["role"] = role
        if org is not None:
            settings.append("set_config('auditlens.organization_id', :org, true)")
            values["org"] = org
        conn.execute(text("SELECT " + ", ".join(settings)), values)

    @contextmanager
    def org_session(
        self,
        org_id: str,
        *,
        timeout_ms: int | None = None,
        max_rows: int | None = None,
        snapshot: bool = False,
        may_lag: bool = False,
    ) -> Iterator[ScopedSession]:
        """A read transaction that sees only `org_id`'s rows (as auditlens_reader).

        `snapshot=True`: REPEATABLE READ, so every statement of the transaction sees the one
        snapshot its first statement took (a later statement may rely on what an earlier one
        found). Set on the driver connection, it goes out with the BEGIN: no round trip.

        `may_lag=True`: the caller accepts an answer as of a moment ago, so the transaction
        runs on the read replica when one is configured (the whole transaction: one snapshot
        of one server). It is READ ONLY on every server, so a read that would write fails in
        every test, not first on a standby. A replica that is down fails the read with
        `StandbyUnavailable` rather than falling back to the primary (see docs/scaling.md)."""
        check_org_id(org_id)
        standby = self.standby if may_lag else None
        options: dict[str, Any] = {}
        if snapshot:
            options["isolation_level"] = "REPEATABLE READ"
        if may_lag:
            options["postgresql_readonly"] = True
        with self._connect(standby) as conn:
            if options:
                conn.execution_options(**options)
            with conn.begin():
                self._prepare(conn, "auditlens_reader", timeout_ms, org_id)
                yield ScopedSession(
                    conn,
                    org_id=org_id,
                    max_rows=max_rows or self.settings.max_rows,
                    standby=standby.where if standby else None,
                )

    @contextmanager
    def _connect(self, standby: Standby | None) -> Iterator[Connection]:
        """A pooled connection to the primary, or to `standby` (its failures translated)."""
        if standby is None:
            with self.engine.connect() as conn:
                yield conn
            return
        try:
            conn = standby.engine.connect()
        except DBAPIError as exc:
            raise _translate(exc, "", standby=standby.where) from None
        try:
            with conn:
                standby.check_copy_of(self.engine, conn)
                yield conn
        except DBAPIError as exc:  # the COMMIT, or closing a connection the standby dropped
            raise _translate(exc, "", standby=standby.where) from exc

    @contextmanager
    def writer(
        self, *, timeout_ms: int | None = None, idle_timeout_ms: int | None = None
    ) -> Iterator[ScopedSession]:
        """A write transaction as auditlens_writer: INSERT only, never UPDATE or DELETE.

        `idle_timeout_ms`: the server ends the session if its client leaves the transaction
        open that long between statements (hung, stopped, or gone without the connection
        closing), so the rows it holds stop blocking other writers."""
        with self.engine.connect() as conn, conn.begin():
            self._prepare(conn, "auditlens_writer", timeout_ms, idle_ms=idle_timeout_ms)
            yield ScopedSession(conn, org_id=None, max_rows=self.settings.max_rows)

    @contextmanager
    def admin(self, *, timeout_ms: int | None = None) -> Iterator[ScopedSession]:
        """A transaction as the login role: migrations, maintenance and the purge only."""
        with self.engine.connect() as conn, conn.begin():
            self._prepare(conn, None, 0 if timeout_ms is None else timeout_ms)
            yield ScopedSession(conn, org_id=None, max_rows=self.settings.max_rows)

    @contextmanager
    def raw_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The psycopg connection under a pooled one, for COPY; returned to the pool after."""
        pooled = self.engine.raw_connection()
        try:
            yield _psycopg(pooled.driver_connection)
        finally:
            pooled.close()

    def close(self, *, stop_embedded: bool = False) -> None:
        self.engine.dispose()
        if self.standby is not None:
            self.standby.engine.dispose()
        if stop_embedded and self.embedded is not None and self.embedded.started_here:
            self.embedded.stop()
