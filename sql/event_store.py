"""Writing validated events: binary COPY into a session staging table, then one
INSERT ... ON CONFLICT DO NOTHING, so a re-sent event is a no-op and retention guarantees are
computed in the database from the policy in force at insert time.

Callers (the ingest layer) validate first; this module trusts its rows' types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uuid_utils
from sqlalchemy import text

from sql.gateway import ScopedSession

# Column order of a row handed to `insert_events`.
EVENT_COLUMNS: tuple[str, ...] = (
    "organization_id",
    "id",
    "event_time",
    "event_type",
    "event_action",
    "user_id",
    "user_email",
    "ip_address",
    "user_agent",
    "resource_type",
    "resource_id",
    "details",
    "session_id",
)
# Binary COPY (about 3x the rows/s of text COPY here): the driver packs each value itself.
# `ip_address` and `details` travel as text and are cast in the INSERT, because the binary
# inet and jsonb encoders want Python objects the ingest layer does not build.
_COPY_TYPES = ["text", "text", "timestamptz"] + ["text"] * 10
_COLUMN_LIST = ", ".join(EVENT_COLUMNS)

_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS audit_events_staging (
  organization_id text, id text, event_time timestamptz, event_type text, event_action text,
  user_id text, user_email text, ip_address text, user_agent text, resource_type text,
  resource_id text, details text, session_id text
) ON COMMIT DROP
"""

_SELECT_STAGED = ", ".join(
    "s.ip_address::inet"
    if c == "ip_address"
    else "coalesce(s.details, '{}')::jsonb"
    if c == "details"
    else "s." + c
    for c in EVENT_COLUMNS
)
_INSERT_FROM_STAGING = f"""
INSERT INTO audit_events ({_COLUMN_LIST}, retention_guaranteed_until)
SELECT {_SELECT_STAGED},
       s.event_time + make_interval(days => coalesce(
         p.retention_days, audit_default_retention_days(s.event_type)))
  FROM audit_events_staging s
  LEFT JOIN retention_policies p
    ON p.organization_id = s.organization_id AND p.event_type = s.event_type
ON CONFLICT DO NOTHING
"""  # noqa: S608 - fixed column names only


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
    conn = session.conn
    conn.execute(text(_CREATE_STAGING))
    driver = conn.connection.driver_connection
    assert driver is not None
    times: list[datetime] = []
    with driver.cursor() as cur:
        with cur.copy(
            f"COPY audit_events_staging ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                when = row[2]
                if not isinstance(when, datetime):
                    when = datetime.fromisoformat(str(when))
                times.append(when)
                details, ip = row[11], row[7]
                if not isinstance(details, str) or (ip is not None and not isinstance(ip, str)):
                    if not isinstance(details, str):
                        details = json.dumps(details, separators=(",", ":"))
                    row = (*row[:2], when, *row[3:7], _text_or_none(ip), *row[8:11], details,
                           row[12])  # fmt: skip
                elif when is not row[2]:
                    row = (*row[:2], when, *row[3:])
                copy.write_row(row)
        months = sorted(
            {
                t.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                for t in times
            }
        )
        cur.execute("SELECT audit_ensure_partitions(%s)", (months,))
        cur.execute(
            "INSERT INTO organizations (organization_id)"
            " SELECT DISTINCT organization_id FROM audit_events_staging ON CONFLICT DO NOTHING"
        )
        cur.execute(_INSERT_FROM_STAGING)
        inserted = cur.rowcount
        # Dropped at commit (a pooled connection serves several roles, and a temp table one
        # role created is not the next role's); clear it now for a second batch.
        cur.execute("TRUNCATE audit_events_staging")
    return InsertOutcome(inserted, len(rows) - inserted)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def new_event_id() -> str:
    """A time-ordered UUIDv7, for events that arrive without an id."""
    return str(uuid_utils.uuid7())


def record_event(
    session: ScopedSession,
    *,
    organization_id: str,
    event_type: str,
    event_action: str,
    user_id: str | None = None,
    user_email: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    session_id: str | None = None,
) -> str:
    """Write one event about AuditLens's own use (purges, exports, settings); returns its id."""
    event_id = new_event_id()
    insert_events(
        session,
        [
            (
                organization_id,
                event_id,
                datetime.now(UTC),
                event_type,
                event_action,
                user_id,
                user_email,
                ip_address,
                user_agent,
                resource_type,
                resource_id,
                dict(details or {}),
                session_id,
            )
        ],
    )
    return event_id
