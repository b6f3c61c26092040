"""Legal holds: an organisation's events matching a query, kept whatever their retention.

A hold is placed with a reason and a reference (a case number) and later lifted; both are
audited, and neither removes the hold's record. The database enforces it: the purge skips
held events and the delete guard on `audit_events` refuses one (the holds and guarantees
migrations). A hold's query is Explore's syntax (`EventFilter`) without free-text terms,
which the database could not match the way Explore does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sql.errors import AuditLensError
from sql.event_filter import OWN_STREAM, QUALIFIERS, STREAM_KEY, EventFilter, QuerySyntaxError
from sql.event_store import record_event
from sql.filter_text import quote_term
from sql.gateway import Database, ScopedSession, check_org_id
from sql.vocabulary import LIFT_LEGAL_HOLD, PLACE_LEGAL_HOLD

MAX_REASON = 4_000
MAX_REFERENCE = 200


class HoldError(AuditLensError):
    """A hold that cannot be placed or lifted as asked; the message names the field."""


@dataclass(frozen=True)
class Hold:
    hold_id: int
    organization_id: str
    query: str
    filter_text: str
    reason: str
    reference: str
    placed_by: str
    placed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


def _text(value: str, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HoldError(f"{field} must not be empty")
    if len(value) > limit:
        raise HoldError(f"{field} is {len(value):,} characters long (at most {limit:,})")
    if "\x00" in value:
        raise HoldError(f"{field} contains a NUL character")
    return value


def hold_filter(query: str) -> EventFilter:
    """The filter a hold's query names (field `query`). Terms the database's match
    (`audit_hold_covers`) cannot apply are refused rather than ignored, since a hold's
    sentence is its legal scope: free text, `-` terms, `weekday:`, `hour:`, `tz:` and
    `stream:`."""
    try:
        event_filter = EventFilter.parse(query)
    except QuerySyntaxError as exc:
        raise HoldError(f"query: {exc}") from None
    if event_filter.texts:
        raise HoldError(f"{_HOLD_TERMS}, not free text ({event_filter.texts[0]!r})")
    unmatched = _unmatched_term(event_filter)
    if unmatched is not None:
        raise HoldError(f"{_HOLD_TERMS}; it cannot hold by {unmatched}")
    return event_filter


_HOLD_TERMS = (
    "query: a hold names users, resources, families, actions, sessions, IP addresses"
    " or a created: range"
)


def _unmatched_term(event_filter: EventFilter) -> str | None:
    """The first term of `event_filter` that a hold could not match, as typed; else None."""
    if event_filter.excluded:
        name, value = event_filter.excluded[0]
        key = "" if name == "texts" else next(k for k, f in QUALIFIERS.items() if f == name) + ":"
        return f"-{key}{quote_term(value, qualifier=bool(key))}"
    for key, values in (("weekday", event_filter.weekdays), ("hour", event_filter.hours)):
        if values:
            return f"{key}:{values[0]}"
    if event_filter.time_zone is not None:
        return f"tz:{event_filter.time_zone}"
    if event_filter.own_use:
        return f"{STREAM_KEY}:{OWN_STREAM}"
    return None


def _row_params(event_filter: EventFilter) -> dict[str, Any]:
    return {
        "users": list(event_filter.users),
        "emails": list(event_filter.emails),
        "families": list(event_filter.families),
        "actions": list(event_filter.actions),
        "resource_types": list(event_filter.resource_types),
        "resources": list(event_filter.resources),
        "sessions": list(event_filter.sessions),
        "networks": list(event_filter.ips),
        "starts_at": event_filter.start,
        "ends_at": event_filter.end,
    }


def place_hold(
    db: Database, org_id: str, query: str, *, reason: str, reference: str, actor: str
) -> Hold:
    """Place a hold on `org_id`'s events matching `query`; recorded as an audit event."""
    check_org_id(org_id)
    event_filter = hold_filter(query)
    reason = _text(reason, "reason", MAX_REASON)
    reference = _text(reference, "reference", MAX_REFERENCE)
    with db.admin() as session:
        row = session.execute(
            "INSERT INTO audit_holds (organization_id, query, filter_text, users, emails,"
            " families, actions, resource_types, resources, sessions, networks, starts_at,"
            " ends_at, reason, reference, placed_by) VALUES (:org, :query, :text, :users,"
            " :emails, :families, :actions, :resource_types, :resources, :sessions,"
            " CAST(:networks AS inet[]),"
            " :starts_at, :ends_at, :reason, :reference, :actor) RETURNING hold_id,"
            " organization_id, query, filter_text, reason, reference, placed_by, placed_at,"
            " lifted_by, lifted_at, lift_reason",
            {
                "org": org_id,
                "query": event_filter.to_query(),
                "text": event_filter.describe(),
                "reason": reason,
                "reference": reference,
                "actor": actor,
                **_row_params(event_filter),
            },
        ).rows[0]
        hold = Hold(*row)
        record_event(
            session,
            organization_id=org_id,
            action=PLACE_LEGAL_HOLD,
            user_id=actor,
            resource_type="legal_hold",
            resource_id=str(hold.hold_id),
            details={
                "query": hold.query,
                "filter": hold.filter_text,
                "reason": reason,
                "reference": reference,
            },
        )
    return hold


def lift_hold(db: Database, org_id: str, hold_id: int, *, reason: str, actor: str) -> Hold:
    """Lift hold `hold_id` of `org_id` (its record stays); recorded as an audit event."""
    check_org_id(org_id)
    reason = _text(reason, "reason", MAX_REASON)
    with db.admin() as session:
        current = _locked(session, org_id, hold_id)
        if current.lifted_at is not None:
            raise HoldError(
                f"hold: {hold_id} was lifted already, by {current.lifted_by}"
                f" at {current.lifted_at.isoformat()}"
            )
        row = session.execute(
            "UPDATE audit_holds SET lifted_by = :actor, lift_reason = :reason"
            " WHERE hold_id = :id AND organization_id = :org RETURNING hold_id,"
            " organization_id, query, filter_text, reason, reference, placed_by, placed_at,"
            " lifted_by, lifted_at, lift_reason",
            {"actor": actor, "reason": reason, "id": hold_id, "org": org_id},
        ).rows[0]
        hold = Hold(*row)
        record_event(
            session,
            organization_id=org_id,
            action=LIFT_LEGAL_HOLD,
            user_id=actor,
            resource_type="legal_hold",
            resource_id=str(hold_id),
            details={
                "query": hold.query,
                "filter": hold.filter_text,
                "reference": hold.reference,
                "reason": reason,
                "placed_by": hold.placed_by,
                "placed_at": hold.placed_at.isoformat(),
            },
        )
    return hold


def _no_hold(org_id: str, hold_id: int) -> HoldError:
    # Another organisation's hold is as unknown here as one that does not exist.
    return HoldError(f"hold: no hold {hold_id} in organisation {org_id}")


def _locked(session: ScopedSession, org_id: str, hold_id: int) -> Hold:
    rows = session.execute(
        "SELECT hold_id, organization_id, query, filter_text, reason, reference, placed_by,"
        " placed_at, lifted_by, lifted_at, lift_reason FROM audit_holds"
        " WHERE organization_id = :org AND hold_id = :id FOR UPDATE",
        {"org": org_id, "id": hold_id},
    ).rows
    if not rows:
        raise _no_hold(org_id, hold_id)
    return Hold(*rows[0])


def list_holds(db: Database, org_id: str, *, include_lifted: bool = True) -> list[Hold]:
    """`org_id`'s holds, newest first (read through the organisation-scoped view)."""
    with db.org_session(org_id) as session:
        rows = session.execute(
            "SELECT hold_id, organization_id, query, filter_text, reason, reference, placed_by,"
            " placed_at, lifted_by, lifted_at, lift_reason FROM org_audit_holds"
            " WHERE CAST(:all AS boolean) OR lifted_at IS NULL ORDER BY hold_id DESC",
            {"all": include_lifted},
        ).rows
    return [Hold(*row) for row in rows]


def held_event_count(db: Database, org_id: str, hold_id: int) -> int:
    """How many stored events of `org_id` hold `hold_id` covers now (0 once lifted)."""
    check_org_id(org_id)
    with db.admin() as session:
        rows = session.execute(
            "SELECT (SELECT count(*) FROM audit_events e"
            " WHERE e.organization_id = h.organization_id"
            " AND audit_hold_covers(h, e.organization_id, e.event_time, e.event_type,"
            " e.event_action, e.user_id, e.user_email, e.resource_type, e.resource_id,"
            " e.session_id, e.ip_address)) FROM audit_holds h"
            " WHERE h.hold_id = :id AND h.organization_id = :org",
            {"id": hold_id, "org": org_id},
        ).rows
    if not rows:
        raise _no_hold(org_id, hold_id)
    return int(rows[0][0])
