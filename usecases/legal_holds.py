"""Legal holds as the command line and the dashboard show them.

`holds_table` is what the retention/integrity page lists; `hold_lines`, `place` and `lift`
are the command line's. Every text a person typed (reason, reference, query) is shown with
control and direction characters escaped, so it reads as the text it is.
"""

from __future__ import annotations

from typing import Any

from sql.gateway import Database
from sql.holds import Hold, held_event_count, lift_hold, list_holds, place_hold


def shown(value: str | None) -> str:
    """`value` on one line, with characters a terminal would act on written as escapes."""
    if value is None:
        return ""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)


def holds_table(db: Database, org_id: str, *, include_lifted: bool = True) -> list[dict[str, Any]]:
    """`org_id`'s holds, newest first, one dict per hold with the events it covers now."""
    return [
        {
            "hold": hold.hold_id,
            "status": "active" if hold.active else "lifted",
            "covers": hold.filter_text,
            "query": hold.query,
            "reason": hold.reason,
            "reference": hold.reference,
            "placed_by": hold.placed_by,
            "placed_at": hold.placed_at,
            "events_held": held_event_count(db, org_id, hold.hold_id) if hold.active else 0,
            "lifted_by": hold.lifted_by,
            "lifted_at": hold.lifted_at,
            "lift_reason": hold.lift_reason,
        }
        for hold in list_holds(db, org_id, include_lifted=include_lifted)
    ]


def _line(hold: Hold, held: int | None) -> str:
    status = (
        f"active, {held:,} stored event(s) held"
        if hold.active
        else f"lifted {hold.lifted_at:%Y-%m-%d %H:%M}Z by {shown(hold.lifted_by)}"
        f" ({shown(hold.lift_reason)})"
    )
    return (
        f"hold {hold.hold_id}\t{status}\tref {shown(hold.reference)}\t{shown(hold.filter_text)}"
        f"\tplaced {hold.placed_at:%Y-%m-%d %H:%M}Z by {shown(hold.placed_by)}"
        f"\treason: {shown(hold.reason)}"
    )


def hold_lines(db: Database, org_id: str, *, include_lifted: bool = True) -> list[str]:
    """One line per hold of `org_id`, newest first."""
    return [
        _line(hold, held_event_count(db, org_id, hold.hold_id) if hold.active else None)
        for hold in list_holds(db, org_id, include_lifted=include_lifted)
    ]


def place(db: Database, org_id: str, query: str, *, reason: str, reference: str, actor: str) -> str:
    """Place a hold; the sentence saying what it keeps."""
    hold = place_hold(db, org_id, query, reason=reason, reference=reference, actor=actor)
    held = held_event_count(db, org_id, hold.hold_id)
    return (
        f"hold {hold.hold_id} placed on {org_id}: {shown(hold.filter_text)}"
        f" ({held:,} stored event(s) now held; ref {shown(hold.reference)})"
    )


def lift(db: Database, org_id: str, hold_id: int, *, reason: str, actor: str) -> str:
    """Lift a hold; the sentence saying so."""
    hold = lift_hold(db, org_id, hold_id, reason=reason, actor=actor)
    return (
        f"hold {hold.hold_id} lifted on {org_id}: {shown(hold.filter_text)}"
        " is under retention again (the hold's record stays)"
    )
