"""The read API's pages: an organisation's events or findings after an opaque cursor, in
ingest order, so that following `next_cursor` never skips or repeats a row while others
insert (see `sql.ingest_order`).

A page holds at most `limit` rows matching the query. When fewer match, the reader has seen
every row below the oldest running transaction, and `next_cursor` moves to that bound:
polling again reads only what arrived since, however selective the query.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from sql.errors import AuditLensError
from sql.event_filter import QUALIFIERS, EventFilter
from sql.filter_clauses import match_clause
from sql.finding_windows import overlap_clauses
from sql.gateway import Database
from sql.ingest_order import BOUND_PARAMETER, Position, after, caught_up, oldest_running
from streaming.formats import NATIVE_SELECT, stored_event

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
EVENTS = "e"
FINDINGS = "f"
_MAX_CURSOR_LENGTH = 64
_CURSOR = re.compile(r"([ef]):(0|[1-9][0-9]{0,19}):(0|[1-9][0-9]{0,18})")
_BAD_CURSOR = "cursor: not a cursor this API gave out (pass next_cursor as it is)"
_XID8_MAX = 2**64 - 1
_BIGINT_MAX = 2**63 - 1
# What a findings query may hold: whose finding, and when its window was.
FINDING_FIELDS = ("users",)


class ReadError(AuditLensError):
    """A request the read API cannot answer (bad cursor, query or limit); the message names
    the parameter."""


def encode_cursor(kind: str, position: Position) -> str:
    """The opaque cursor for `position` in the `kind` (events or findings) order."""
    text = f"{kind}:{position.xid}:{position.seq}"
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> Position:
    """The position an opaque cursor names; no cursor means the start. Anything this API did
    not give out for `kind` is a ReadError."""
    if cursor is None or cursor == "":
        return Position(0, 0)
    if len(cursor) > _MAX_CURSOR_LENGTH or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise ReadError(_BAD_CURSOR)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ReadError(_BAD_CURSOR) from None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match[2]) > _XID8_MAX or int(match[3]) > _BIGINT_MAX:
        raise ReadError(_BAD_CURSOR)
    if match[1] != kind:
        other = "findings" if match[1] == FINDINGS else "events"
        raise ReadError(f"cursor: this cursor pages {other}, not {_NAMES[kind]}")
    return Position(int(match[2]), int(match[3]))


_NAMES = {EVENTS: "events", FINDINGS: "findings"}


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ReadError(f"limit: must be a whole number from 1 to {MAX_LIMIT}, got: {limit!r}")
    return limit


@dataclass(frozen=True)
class Page:
    """Rows of one page, where the next page starts, and whether it is already there."""

    rows: list[dict[str, Any]]
    next_position: Position
    has_more: bool


def _page(
    rows: list[dict[str, Any]], positions: list[Position], start: Position, bound: int, limit: int
) -> Page:
    """The page from `limit + 1` rows read (and their positions): the extra row only says
    there is more."""
    if len(rows) > limit:
        return Page(rows[:limit], positions[limit - 1], True)
    # Every matching row below the bound was read: the next page starts at the bound.
    return Page(rows, max(start, *positions, caught_up(bound)), False)


def events_page(
    db: Database, org: str, event_filter: EventFilter, start: Position, limit: int
) -> Page:
    """`org`'s events matching `event_filter` after `start`, at most `limit`, ingest order."""
    check_limit(limit)
    where, params = event_filter.sql_for(db)
    # The columns are the fixed NATIVE_SELECT and the filter's SQL binds every value.
    sql = (
        f"SELECT {NATIVE_SELECT}, ingest_xid::text AS _xid, ingest_seq AS _seq"  # noqa: S608
        f" FROM org_audit_events WHERE ({where})"
        f" AND {after('ingest_xid', 'ingest_seq', bound=BOUND_PARAMETER)}"
        " ORDER BY ingest_xid, ingest_seq LIMIT :limit"
    )
    with db.org_session(org) as session:
        bound = oldest_running(session)
        params.update(start.params(), c_bound=str(bound), limit=limit + 1)
        rows = session.execute(sql, params, max_rows=limit + 1).rows
    positions = [Position(int(row[-2]), int(row[-1])) for row in rows]
    return _page([stored_event(row) for row in rows], positions, start, bound, limit)


def check_finding_filter(event_filter: EventFilter) -> EventFilter:
    """Findings are filtered by `user:` and `created:` (their window) only: the other terms
    of the query syntax describe single events. A ReadError names the first other term."""
    if event_filter.own_use:
        raise ReadError("q: stream: does not apply to findings (use user: and created:)")
    for key, name in QUALIFIERS.items():
        if name not in FINDING_FIELDS and getattr(event_filter, name):
            raise ReadError(f"q: {key}: does not apply to findings (use user: and created:)")
    if event_filter.texts or event_filter.excluded or event_filter.time_zone:
        what = "tz:" if event_filter.time_zone else "text and - terms"
        raise ReadError(f"q: {what} do not apply to findings (use user: and created:)")
    return event_filter


def findings_page(
    db: Database, org: str, event_filter: EventFilter, start: Position, limit: int
) -> Page:
    """`org`'s findings after `start` in the order they were stored, at most `limit`: those
    of the filter's users whose window overlaps its `created:` range."""
    check_limit(limit)
    check_finding_filter(event_filter)
    clauses = [after("o.finding_xid", "o.finding_seq", bound=BOUND_PARAMETER)]
    params: dict[str, Any] = {}
    if event_filter.users:
        clauses.append(match_clause("users", event_filter.users, "f_users", params))
    clauses.append(overlap_clauses("f_start", "f_end"))
    params.update(f_start=event_filter.start, f_end=event_filter.end)
    # Every clause is fixed text or match_clause's, which binds every value.
    sql = (
        "SELECT f.*, o.finding_xid::text AS _xid, o.finding_seq AS _seq"  # noqa: S608
        " FROM stream_finding_order o JOIN org_findings f"
        "   ON f.organization_id = o.organization_id AND f.finding_id = o.finding_id"
        f" WHERE {' AND '.join(clauses)}"
        " ORDER BY o.finding_xid, o.finding_seq LIMIT :limit"
    )
    with db.org_session(org) as session:
        bound = oldest_running(session)
        params.update(start.params(), c_bound=str(bound), limit=limit + 1)
        rows = session.execute(sql, params, max_rows=limit + 1).dicts()
    positions = [Position(int(row.pop("_xid")), int(row.pop("_seq"))) for row in rows]
    return _page(rows, positions, start, bound, limit)
