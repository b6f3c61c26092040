"""An organisation's streaming destinations: their settings, and every change to them.

Each change is made as the login role (like legal holds) and recorded as an audit event in
the same transaction. Settings are checked here, with errors naming the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from sql.errors import AuditLensError
from sql.event_filter import EventFilter, QuerySyntaxError
from sql.event_store import record_event
from sql.gateway import Database, ScopedSession, check_org_id
from sql.vocabulary import (
    ADD_STREAM_DESTINATION,
    BACKFILL_STREAM_DESTINATION,
    PAUSE_STREAM_DESTINATION,
    REMOVE_STREAM_DESTINATION,
    RESUME_STREAM_DESTINATION,
    OwnAction,
)
from streaming.formats import FORMATS
from streaming.network import AddressRefused, check_host

KINDS = ("syslog", "https", "file")
HTTPS_STYLES = ("ndjson", "splunk", "datadog")
HTTPS_AUTH = ("header", "hmac")
STATES = ("active", "paused", "failing")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_SECONDS = 3600
# Settings are readable by readers, listed, and kept in the add event for ever: a credential
# there is a leak. Query parameters whose names contain one of these are taken for one.
CREDENTIAL_PARAMETERS = (
    "token", "key", "secret", "password", "passwd", "sig", "auth", "credential"
)  # fmt: skip
# Where a user gives the secret: the CLI reads it from the environment, the page from a field.
SECRET_VARIABLE = "AUDITLENS_DESTINATION_SECRET"  # noqa: S105 - a variable's name
SECRET_FROM = f"{SECRET_VARIABLE}, or the Destinations page's token field"
USE_SECRET = f"give it as the destination's secret instead ({SECRET_FROM})"
# One printable ASCII line without surrounding spaces: it becomes an HTTP header value.
_SECRET = re.compile(r"[!-~](?:[ -~]*[!-~])?")


class DestinationError(AuditLensError):
    """A destination's settings are not usable; the message names the field."""


@dataclass(frozen=True)
class Destination:
    """One destination as stored: where, what, its filter, cursor and health."""

    organization_id: str
    name: str
    kind: str
    payload: str
    settings: dict[str, Any]
    secret: str | None
    query: str
    state: str
    cursor_xid: int
    cursor_seq: int
    backfill_from: datetime | None
    backfill_until_xid: int | None
    backfill_until_seq: int | None
    events_sent: int
    consecutive_failures: int
    failures_total: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_attempt_at: datetime | None
    created_by: str
    created_at: datetime
    findings: bool
    finding_cursor_xid: int
    finding_cursor_seq: int
    findings_sent: int

    @property
    def event_filter(self) -> EventFilter:
        return EventFilter.parse(self.query)

    def describe(self) -> str:
        """One line for `destinations list`: never the secret."""
        where = {
            "syslog": lambda s: f"{'tls' if s.get('tls') else 'tcp'}://{s['host']}:{s['port']}",
            "https": lambda s: f"{s['url']} ({s['style']}, {s['auth']})",
            "file": lambda s: str(s["path"]),
        }[self.kind](self.settings)
        return f"{self.name}: {self.kind} {self.payload} -> {where}"


COLUMNS = (
    "organization_id, name, kind, payload, settings, secret, query, state,"
    " cursor_xid::text, cursor_seq, backfill_from, backfill_until_xid::text, backfill_until_seq,"
    " events_sent, consecutive_failures, failures_total, last_success_at, last_error,"
    " last_error_at, next_attempt_at, created_by, created_at, findings,"
    " finding_cursor_xid::text, finding_cursor_seq, findings_sent"
)


def from_row(row: Any) -> Destination:
    values = list(row)
    values[8] = int(values[8])
    values[11] = None if values[11] is None else int(values[11])
    values[23] = int(values[23])
    return Destination(*values)


def _int(settings: dict[str, Any], key: str, low: int, high: int, default: int | None) -> int:
    value = settings.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DestinationError(f"{key}: must be a whole number from {low} to {high}, got {value!r}")
    return value


def _ca_file(settings: dict[str, Any]) -> str | None:
    ca = settings.get("ca_file")
    if ca is None:
        return None
    if not isinstance(ca, str) or not Path(ca).is_file():
        raise DestinationError(f"ca_file: no such file: {ca!r}")
    return str(Path(ca).resolve())


def _https_url(url: Any) -> str:
    """`url` checked: https, a host, no credential in it (the error never repeats one)."""
    if not isinstance(url, str) or not url.isprintable() or " " in url:
        raise DestinationError("url: must be an https:// URL without spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise DestinationError("url: is not a valid URL") from None
    if "@" in parts.netloc:
        raise DestinationError(f"url: must not hold a user name or password; {USE_SECRET}")
    # Split on ";" as well as "&": some servers still take either as the separator.
    for field in re.split("[&;]", parts.query):
        name = unquote_plus(field.partition("=")[0])
        for word in CREDENTIAL_PARAMETERS:
            if word in name.lower():  # the name itself is not shown: it may hold the value
                raise DestinationError(
                    f"url: a query parameter named like {word!r} looks like a credential;"
                    f" {USE_SECRET}"
                )
    if parts.fragment:
        raise DestinationError("url: must not have a #fragment (it is never sent)")
    if parts.scheme != "https" or not parts.hostname:
        raise DestinationError(f"url: must be an https:// URL, got {url!r}")
    _reachable(parts.hostname, parts.port or 443, "url")
    return url


def _reachable(host: str, port: int, field: str) -> None:
    """`host` is not, and does not resolve to, an address a destination may not reach."""
    try:
        check_host(host, port, field)
    except (AddressRefused, ValueError) as exc:
        raise DestinationError(str(exc)) from None


def check_secret(secret: str | None) -> None:
    """A secret must be one line of printable ASCII; the message never shows it."""
    if secret and (not isinstance(secret, str) or not _SECRET.fullmatch(secret)):
        raise DestinationError(
            "secret: must be one line of printable ASCII characters, without control"
            f" characters or surrounding spaces (check {SECRET_FROM})"
        )


def check_settings(
    kind: str, payload: str, settings: dict[str, Any], secret: str | None
) -> dict[str, Any]:
    """The settings of a `kind` destination, checked and with defaults filled in."""
    if kind not in KINDS:
        raise DestinationError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if payload not in FORMATS:
        raise DestinationError(f"payload: must be one of {', '.join(FORMATS)}, got {payload!r}")
    check_secret(secret)
    if kind == "syslog":
        host = settings.get("host")
        if isinstance(host, str) and "@" in host:
            raise DestinationError(f"host: must not hold a user name or password; {USE_SECRET}")
        if not isinstance(host, str) or not host or any(c.isspace() for c in host):
            raise DestinationError(f"host: must be a host name or address, got {host!r}")
        port = _int(settings, "port", 1, 65535, None)
        _reachable(host, port, "host")
        return {
            "host": host,
            "port": port,
            "tls": bool(settings.get("tls", False)),
            "ca_file": _ca_file(settings),
            "timeout": _int(settings, "timeout", 1, 300, 10),
        }
    if kind == "https":
        url = _https_url(settings.get("url"))
        style = settings.get("style", "ndjson")
        if style not in HTTPS_STYLES:
            raise DestinationError(
                f"style: must be one of {', '.join(HTTPS_STYLES)}, got {style!r}"
            )
        auth = settings.get("auth", "header")
        if auth not in HTTPS_AUTH:
            raise DestinationError(f"auth: must be one of {', '.join(HTTPS_AUTH)}, got {auth!r}")
        if not secret:
            raise DestinationError("secret: an https destination needs a token or HMAC key")
        header = (
            settings.get("header")
            or {
                "splunk": "Authorization",
                "datadog": "DD-API-KEY",
                "ndjson": "Authorization",
            }[style]
        )
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
            raise DestinationError(f"header: must be an HTTP header name, got {header!r}")
        return {
            "url": url,
            "style": style,
            "auth": auth,
            "header": header,
            "ca_file": _ca_file(settings),
            "timeout": _int(settings, "timeout", 1, 300, 30),
        }
    path = settings.get("path")
    if not isinstance(path, str) or not Path(path).is_absolute():
        raise DestinationError(f"path: must be an absolute file path, got {path!r}")
    if not Path(path).parent.is_dir():
        raise DestinationError(f"path: no such folder: {str(Path(path).parent)!r}")
    return {
        "path": path,
        "max_bytes": _int(settings, "max_bytes", 1024, 2**40, DEFAULT_MAX_BYTES),
        "max_seconds": _int(settings, "max_seconds", 1, 10 * 365 * 86400, DEFAULT_MAX_SECONDS),
    }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DestinationError(
            "name: 1-63 lowercase letters, digits, _ or -, starting with a letter or digit,"
            f" got {name!r}"
        )
    return name


@dataclass(frozen=True)
class Changer:
    """Who made a change beyond their id, for its audit event: their email and where from
    (`cli`, `dashboard`)."""

    email: str | None = None
    via: str | None = None


def _audit(
    session: ScopedSession,
    org: str,
    action: OwnAction,
    actor: str,
    name: str,
    details: dict[str, Any],
    how: Changer | None = None,
) -> None:
    if how is not None and how.via:
        details = {**details, "via": how.via}
    record_event(
        session,
        organization_id=org,
        action=action,
        user_id=actor,
        user_email=how.email if how is not None else None,
        resource_type="stream_destination",
        resource_id=name,
        details=details,
    )


def add(
    db: Database,
    org: str,
    name: str,
    *,
    kind: str,
    payload: str,
    settings: dict[str, Any],
    secret: str | None = None,
    query: str = "",
    start: datetime | None = None,
    findings: bool = True,
    actor: str,
    how: Changer | None = None,
) -> Destination:
    """Add a destination; it sends events from now on (and from `start` on, as a backfill)."""
    check_org_id(org)
    check_name(name)
    checked = check_settings(kind, payload, settings, secret)
    try:
        query = EventFilter.parse(query).to_query()
    except QuerySyntaxError as exc:
        raise DestinationError(f"query: {exc}") from exc
    with db.admin() as session:
        exists = session.scalar(
            "SELECT 1 FROM stream_destinations WHERE organization_id = :org AND name = :name",
            {"org": org, "name": name},
        )
        if exists:
            raise DestinationError(f"name: {org} already has a destination called {name!r}")
        session.execute(
            "INSERT INTO stream_destinations (organization_id, name, kind, payload, settings,"
            " secret, query, findings, cursor_xid, finding_cursor_xid, created_by)"
            " VALUES (:org, :name, :kind, :payload, CAST(:settings AS jsonb), :secret, :query,"
            " :findings, pg_snapshot_xmin(pg_current_snapshot()),"
            " pg_snapshot_xmin(pg_current_snapshot()), :actor)",
            {
                "org": org,
                "name": name,
                "kind": kind,
                "payload": payload,
                "settings": _json(checked),
                "secret": secret,
                "query": query,
                "findings": findings,
                "actor": actor,
            },
        )
        _audit(
            session,
            org,
            ADD_STREAM_DESTINATION,
            actor,
            name,
            {
                "kind": kind,
                "payload": payload,
                "settings": checked,
                "query": query,
                "findings": findings,
            },
            how,
        )
        if start is not None:
            _backfill(session, org, name, start)
            _audit(
                session,
                org,
                BACKFILL_STREAM_DESTINATION,
                actor,
                name,
                {"from": start.isoformat()},
                how,
            )
    return get(db, org, name)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def get(db: Database, org: str, name: str) -> Destination:
    """The destination `name` of `org`; a missing one is a DestinationError naming it."""
    with db.admin() as session:
        rows = session.execute(
            f"SELECT {COLUMNS} FROM stream_destinations"  # noqa: S608 - fixed column list
            " WHERE organization_id = :org AND name = :name",
            {"org": check_org_id(org), "name": name},
        ).rows
    if not rows:
        raise DestinationError(f"name: {org} has no destination called {name!r}")
    return from_row(rows[0])


def list_destinations(db: Database, org: str) -> list[Destination]:
    with db.admin() as session:
        rows = session.execute(
            f"SELECT {COLUMNS} FROM stream_destinations"  # noqa: S608 - fixed column list
            " WHERE organization_id = :org ORDER BY name",
            {"org": check_org_id(org)},
        ).rows
    return [from_row(r) for r in rows]


def _change(
    db: Database,
    org: str,
    name: str,
    sql: str,
    action: OwnAction,
    actor: str,
    details: dict[str, Any],
    how: Changer | None,
) -> Destination:
    get(db, org, name)
    with db.admin() as session:
        session.execute(sql, {"org": org, "name": name})
        _audit(session, org, action, actor, name, details, how)
    return get(db, org, name)


def pause(
    db: Database, org: str, name: str, *, actor: str, how: Changer | None = None
) -> Destination:
    return _change(
        db,
        org,
        name,
        "UPDATE stream_destinations SET state = 'paused'"
        " WHERE organization_id = :org AND name = :name",
        PAUSE_STREAM_DESTINATION,
        actor,
        {},
        how,
    )


def resume(
    db: Database, org: str, name: str, *, actor: str, how: Changer | None = None
) -> Destination:
    """Resume a paused or failing destination at its cursor, retrying at once."""
    return _change(
        db,
        org,
        name,
        "UPDATE stream_destinations SET state = 'active', consecutive_failures = 0,"
        " next_attempt_at = NULL WHERE organization_id = :org AND name = :name",
        RESUME_STREAM_DESTINATION,
        actor,
        {},
        how,
    )


def remove(db: Database, org: str, name: str, *, actor: str, how: Changer | None = None) -> None:
    destination = get(db, org, name)
    with db.admin() as session:
        session.execute(
            "DELETE FROM stream_destinations WHERE organization_id = :org AND name = :name",
            {"org": org, "name": name},
        )
        _audit(
            session,
            org,
            REMOVE_STREAM_DESTINATION,
            actor,
            name,
            {"kind": destination.kind, "events_sent": destination.events_sent},
            how,
        )


def _backfill(session: ScopedSession, org: str, name: str, start: datetime) -> None:
    # Remember where the cursor was: before it, only events from `start` are re-sent.
    session.execute(
        "UPDATE stream_destinations SET backfill_from = :start,"
        " backfill_until_xid = CASE WHEN backfill_from IS NULL THEN cursor_xid"
        "   ELSE greatest(cursor_xid, backfill_until_xid) END,"
        " backfill_until_seq = CASE WHEN backfill_from IS NULL THEN cursor_seq"
        "   WHEN cursor_xid > backfill_until_xid THEN cursor_seq"
        "   WHEN cursor_xid < backfill_until_xid THEN backfill_until_seq"
        "   ELSE greatest(cursor_seq, backfill_until_seq) END,"
        " cursor_xid = '0'::xid8, cursor_seq = 0"
        " WHERE organization_id = :org AND name = :name",
        {"org": org, "name": name, "start": start},
    )


def backfill(
    db: Database,
    org: str,
    name: str,
    start: datetime,
    *,
    actor: str,
    how: Changer | None = None,
) -> Destination:
    """Re-send `org`'s events whose time is from `start` on, in ingest order, then go on."""
    if start.tzinfo is None:
        raise DestinationError("from: give a time zone (for example 2025-01-01T00:00Z)")
    get(db, org, name)
    with db.admin() as session:
        _backfill(session, org, name, start)
        _audit(
            session,
            org,
            BACKFILL_STREAM_DESTINATION,
            actor,
            name,
            {"from": start.isoformat()},
            how,
        )
    return get(db, org, name)
