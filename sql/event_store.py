"""Writing validated events: binary COPY straight into `audit_events` (on plain PostgreSQL
into its month partitions, since row-level security on the table refuses COPY FROM; the
writer may insert there) under a savepoint, so a batch costs one pass over the rows and
the table's own indexes, and nothing else.

Duplicates are rare (a re-sent batch, a replayed spool, a re-imported file): when the direct
COPY meets one, the savepoint is rolled back and the batch goes the careful way instead, COPY
into a session staging table and one INSERT ... ON CONFLICT DO NOTHING, so a re-sent event is a
no-op and counted as a duplicate. The same fallback serves a server where the COPY is
refused (a hypertable with row-level security, a partition the writer may not insert into).
`direct_copies` counts batches that went the direct way (tests check it is the common one).

The server sets what a writer must not choose (a trigger on `audit_events`): `received_at`,
`ingest_seq`, `ingest_xid` and the retention guarantee, the event's time plus
`audit_retention_days(org, family)` (the policy in force in the inserting transaction), so
the COPY carries the event's own columns only.

Callers (the ingest layer) validate first; this module trusts its rows' types.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import uuid_utils
from psycopg import sql as pgsql
from psycopg.adapt import Dumper

from sql.gateway import ScopedSession
from sql.vocabulary import EVENT_COLUMNS, OwnAction

# What the COPY writes: the event's own columns (the server's trigger sets the rest).
_COPY_COLUMNS = EVENT_COLUMNS
# Binary COPY (about 3x the rows/s of text COPY here): the driver packs each value itself.
# `ip_address` and `details` arrive as text; the two dumpers below turn that text into the
# binary inet and jsonb forms, so no cast (and no staging table) is needed.
_TYPES = {"event_time": "timestamptz", "ip_address": "inet", "details": "jsonb"}
_COPY_TYPES = [_TYPES.get(c, "text") for c in _COPY_COLUMNS]
_COLUMN_LIST = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in _COPY_COLUMNS)
_COPY_INTO = pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)")
_STAGING_COPY = pgsql.SQL("COPY audit_events_staging ({}) FROM STDIN (FORMAT BINARY)").format(
    _COLUMN_LIST
)

# The staging table takes the address and details as text and the INSERT casts them, so the
# server alone judges what the direct COPY could not encode.
_CAST = ("ip_address", "details")
_STAGING_TYPES = [
    "text" if c in _CAST else t for c, t in zip(_COPY_COLUMNS, _COPY_TYPES, strict=True)
]
_CREATE_STAGING = pgsql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS audit_events_staging ({}) ON COMMIT DROP"
).format(
    pgsql.SQL(", ").join(
        pgsql.SQL("{} {}").format(pgsql.Identifier(c), pgsql.SQL(t))
        for c, t in zip(_COPY_COLUMNS, _STAGING_TYPES, strict=True)
    )
)
_INSERT_FROM_STAGING = pgsql.SQL(
    "INSERT INTO audit_events ({cols}) SELECT {staged} FROM audit_events_staging"
    " ON CONFLICT DO NOTHING"
).format(
    cols=_COLUMN_LIST,
    staged=pgsql.SQL(", ").join(
        pgsql.SQL("{}::{}").format(pgsql.Identifier(c), pgsql.SQL(_TYPES[c]))
        if c in _CAST
        else pgsql.Identifier(c)
        for c in _COPY_COLUMNS
    ),
)

# unique_violation: a duplicate; feature_not_supported: COPY FROM refused (row-level security
# on the table); check_violation: a row outside the partition it was routed to (a partition
# someone made by hand); insufficient_privilege: a partition the writer may not insert into.
_FALL_BACK_SQLSTATES = frozenset({"23505", "0A000", "23514", "42501"})

# Where each month's rows go: on plain PostgreSQL the month's partition (as
# audit_ensure_partitions names it) or the default one, since row-level security on
# audit_events refuses COPY FROM into the table itself while its partitions take it (the
# access migration grants INSERT on each); a hypertable (TimescaleDB) takes the COPY itself.
_COPY_TARGETS = """
SELECT m, CASE WHEN pt.partrelid IS NULL THEN 'audit_events'::regclass
               ELSE coalesce(to_regclass(format('audit_events_%%s',
                                                to_char(m AT TIME ZONE 'UTC', 'YYYY_MM'))),
                             to_regclass('audit_events_default'), 'audit_events'::regclass)
          END::text
  FROM unnest(%s::timestamptz[]) AS m
  LEFT JOIN pg_partitioned_table pt ON pt.partrelid = 'audit_events'::regclass
"""


class _JsonbTextDumper(Dumper):
    """JSON text (already checked by the model) as binary jsonb: a version byte, then text."""

    format = psycopg.pq.Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + obj.encode("utf-8")


class _InetBinaryDumper(Dumper):
    """An inet already in binary form (`_inet_binary`), passed through."""

    format = psycopg.pq.Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


@functools.lru_cache(maxsize=16_384)  # producers send the same few addresses over and over
def _inet_binary(value: str) -> bytes | None:
    """`value` (an address, optionally /bits) as binary inet (family, bits, is_cidr, length,
    address), or None when it is not a form this knows for sure the server reads the same
    way: then the batch goes through the staging table, and the server decides."""
    address, slash, bits_text = value.partition("/")
    parts = address.split(".")
    packed: bytes | None = None
    if len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and (p == "0" or p[0] != "0") for p in parts
    ):
        numbers = [int(p) for p in parts]
        if max(numbers) <= 255:
            packed = bytes(numbers)
    if packed is None:
        if ":" not in address or "%" in address:
            return None
        try:
            packed = ipaddress.IPv6Address(address).packed
        except ValueError:
            return None
    width = 8 * len(packed)
    bits = width
    if slash:
        if not (bits_text.isascii() and bits_text.isdigit() and len(bits_text) <= 3):
            return None
        bits = int(bits_text)
        if bits > width:
            return None
    family = 2 if len(packed) == 4 else 3
    return bytes((family, bits, 0, len(packed))) + packed


_INET4_HEAD = bytes((2, 32, 0, 4))  # binary inet header: AF_INET, /32, not cidr, 4 bytes


def _inet(value: str) -> bytes | None:
    """`_inet_binary`, with the common case first: a plain dotted quad, which the C library's
    inet_pton accepts only as exactly four decimal numbers 0-255 without leading zeros (the
    form the server reads the same way); anything else goes the careful way."""
    try:
        return _INET4_HEAD + socket.inet_pton(socket.AF_INET, value)
    except (OSError, ValueError, UnicodeError):
        return _inet_binary(value)


direct_copies = 0  # batches stored by the direct COPY, since the process started


@dataclass(frozen=True)
class InsertOutcome:
    inserted: int
    duplicates: int


def insert_events(session: ScopedSession, rows: Sequence[Sequence[Any]]) -> InsertOutcome:
    """Insert rows (in EVENT_COLUMNS order) in the session's transaction; duplicates are no-ops.

    `details` may be a dict or an already serialised JSON string.
    """
    if not rows:
        return InsertOutcome(0, 0)
    driver = session.driver
    prepared = _prepare(rows)
    # Months as (year, month): two attribute reads per row instead of a datetime.replace.
    month_keys = sorted({(row[2].year, row[2].month) for row in prepared})
    times = [datetime(y, m, 1, tzinfo=UTC) for y, m in month_keys]
    orgs = sorted({row[0] for row in prepared})
    with driver.cursor() as cur, driver.cursor() as places:
        # One round trip for what the COPY needs (in order: partitions, organisations, each
        # month's target, the savepoint): a writer thread waiting on
        # the server gives up the GIL, and getting it back behind a busy thread can take a
        # whole switch interval, so each round trip saved is worth more than its latency.
        with driver.pipeline():
            cur.execute("SELECT audit_ensure_partitions(%s)", (times,))
            cur.execute(
                "INSERT INTO organizations (organization_id) SELECT unnest(%s::text[])"
                " ON CONFLICT DO NOTHING",
                (orgs,),
            )
            places.execute(_COPY_TARGETS, (times,))
            cur.execute("SAVEPOINT auditlens_direct_copy")
        targets = {month.astimezone(UTC): str(name) for month, name in places.fetchall()}
        _register_dumpers(cur)
        groups = _direct_rows(prepared)
        if groups is None:
            cur.execute("RELEASE SAVEPOINT auditlens_direct_copy")
            return _insert_via_staging(cur, prepared)
        try:
            for month, part in groups.items():
                # regclass text is already quoted and schema-qualified as needed.
                target = pgsql.SQL(targets[datetime(*month, 1, tzinfo=UTC)])
                with cur.copy(_COPY_INTO.format(target, _COLUMN_LIST)) as copy:
                    copy.set_types(_COPY_TYPES)
                    write_row = copy.write_row
                    for row in part:
                        write_row(row)
        except Exception as exc:
            cur.execute("ROLLBACK TO SAVEPOINT auditlens_direct_copy")
            cur.execute("RELEASE SAVEPOINT auditlens_direct_copy")
            if getattr(exc, "sqlstate", None) not in _FALL_BACK_SQLSTATES:
                raise
            return _insert_via_staging(cur, prepared)
        cur.execute("RELEASE SAVEPOINT auditlens_direct_copy")
    global direct_copies
    direct_copies += 1
    return InsertOutcome(len(prepared), 0)


def _direct_rows(
    rows: list[tuple[Any, ...]],
) -> dict[tuple[int, int], list[tuple[Any, ...]]] | None:
    """The direct COPY's rows, grouped by (year, month), the address in binary inet form, in
    one pass. None if an address cannot be encoded here
    (then the staging table lets the server judge it)."""
    groups: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    inet = _inet
    for row in rows:
        ip = row[7]
        if ip is not None:
            ip = inet(ip)
            if ip is None:
                return None
        when = row[2]
        key = (when.year, when.month)
        part = groups.get(key)
        if part is None:
            part = groups[key] = []
        part.append((*row[:7], ip, *row[8:]))
    return groups


def _insert_via_staging(cur: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> InsertOutcome:
    """The careful way: stage the batch, then INSERT ... ON CONFLICT DO NOTHING."""
    cur.execute(_CREATE_STAGING)
    with cur.copy(_STAGING_COPY) as copy:
        copy.set_types(_STAGING_TYPES)
        for row in rows:
            copy.write_row(row)
    cur.execute(_INSERT_FROM_STAGING)
    inserted = cur.rowcount
    # Dropped at commit (a pooled connection serves several roles, and a temp table one role
    # created is not the next role's); clear it now for a second batch.
    cur.execute("TRUNCATE audit_events_staging")
    return InsertOutcome(inserted, len(rows) - inserted)


_DUMPERS: dict[tuple[str, int], type[Dumper]] = {}


def _register_dumpers(cur: psycopg.Cursor[Any]) -> None:
    """Use the text-taking dumpers for jsonb and inet in this cursor's COPY (by oid only, so
    nothing else of the connection changes)."""
    types = cur.adapters.types
    for name, dumper in (("jsonb", _JsonbTextDumper), ("inet", _InetBinaryDumper)):
        info = types[name]
        key = (name, info.oid)
        if key not in _DUMPERS:
            _DUMPERS[key] = type(dumper.__name__, (dumper,), {"oid": info.oid})
        cur.adapters.register_dumper(None, _DUMPERS[key])


def _prepare(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with a tz-aware UTC datetime, details as JSON text and the address as text."""
    out: list[tuple[Any, ...]] = []
    for row in rows:
        when, details, ip = row[2], row[11], row[7]
        if (
            type(when) is datetime
            and when.tzinfo is UTC
            and type(details) is str
            and (ip is None or type(ip) is str)
        ):
            # What the ingest model hands over: already in the form the COPY takes.
            out.append(row if type(row) is tuple else tuple(row))
            continue
        if type(when) is not datetime or when.tzinfo is not UTC:
            if not isinstance(when, datetime):
                when = datetime.fromisoformat(str(when))
            when = when.astimezone(UTC)
        if type(details) is not str:
            details = "{}" if details is None else json.dumps(details, separators=(",", ":"))
        if ip is not None and type(ip) is not str:
            ip = str(ip)
        out.append((*row[:2], when, *row[3:7], ip, *row[8:11], details, row[12]))
    return out


def new_event_id() -> str:
    """A time-ordered UUIDv7, for events that arrive without an id."""
    return str(uuid_utils.uuid7())


def record_event(
    session: ScopedSession,
    *,
    organization_id: str,
    action: OwnAction,
    user_id: str | None = None,
    user_email: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    session_id: str | None = None,
    event_time: datetime | None = None,
) -> str:
    """Write one event about AuditLens's own use (purges, exports, settings); returns its id.

    `event_time` is now unless given: only a simulated organisation, whose whole history is
    simulated, dates its own setup. The row is marked as AuditLens's own (`own_use`, set by
    the server's trigger from a transaction-local setting this function alone sets), so no
    producer can write one."""
    event_id = new_event_id()
    row = (
        organization_id,
        event_id,
        event_time or datetime.now(UTC),
        action.family,
        action.name,
        user_id,
        user_email,
        ip_address,
        user_agent,
        resource_type,
        resource_id,
        dict(details or {}),
        session_id,
    )
    # Transaction-local: a failed insert aborts the transaction and the setting with it.
    session.execute("SELECT set_config('auditlens.own_use', 'on', true)")
    insert_events(session, [row])
    session.execute("SELECT set_config('auditlens.own_use', 'off', true)")
    return event_id
