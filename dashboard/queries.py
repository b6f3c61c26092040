"""Read-side queries of the dashboard. Every one takes the organisation: it is the scope of the
query and part of every cache key."""

from __future__ import annotations

from sql.gateway import Database


def organization_ids(db: Database) -> list[str]:
    """Organisations known to the store (the viewer's memberships narrow this later)."""
    with db.admin() as session:
        result = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id", max_rows=10_000
        )
    return [row[0] for row in result.rows]


def family_counts(db: Database, org: str) -> dict[str, int]:
    """Events per family of one organisation, largest first."""
    with db.org_session(org) as session:
        result = session.execute(
            "SELECT event_type, count(*) FROM org_audit_events GROUP BY event_type"
            " ORDER BY count(*) DESC, event_type"
        )
    return {family: int(count) for family, count in result.rows}
