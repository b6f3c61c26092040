"""Retention: per-organisation policies and the purge, both audited.

A policy change applies to events stored after it; every stored event keeps the guarantee it
was given (`retention_guaranteed_until`), so lowering a policy never shortens what is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.rollup import recompute_days
from sql.vocabulary import RETENTION_PURGE, UPDATE_RETENTION_POLICY

SYSTEM_ACTOR = "system:auditlens"


@dataclass(frozen=True)
class PurgeSummary:
    removed: dict[tuple[str, str], int]  # (organization, family) -> rows removed
    # (organization, hold id, family) -> expired rows that hold kept (an event under two
    # holds counts for each)
    kept: dict[tuple[str, int, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def set_policy(db: Database, org_id: str, family: str, days: int, *, actor: str) -> int | None:
    """Set how long new events of a family are kept; returns the previous days (None: default).

    The change is itself written as a config_change event of the organisation.
    """
    check_org_id(org_id)
    if not 1 <= days <= 36500:
        raise ValueError(f"retention days must be between 1 and 36500, got: {days}")
    with db.admin() as session:
        previous = session.scalar(
            "SELECT retention_days FROM retention_policies"
            " WHERE organization_id = :org AND event_type = :family FOR UPDATE",
            {"org": org_id, "family": family},
        )
        default = session.scalar("SELECT audit_default_retention_days(:f)", {"f": family})
        session.execute(
            "INSERT INTO retention_policies (organization_id, event_type, retention_days,"
            " updated_by) VALUES (:org, :family, :days, :actor)"
            " ON CONFLICT (organization_id, event_type) DO UPDATE"
            " SET retention_days = excluded.retention_days, updated_by = excluded.updated_by,"
            " updated_at = now()",
            {"org": org_id, "family": family, "days": days, "actor": actor},
        )
        record_event(
            session,
            organization_id=org_id,
            action=UPDATE_RETENTION_POLICY,
            user_id=actor,
            resource_type="retention_policy",
            resource_id=family,
            details={
                "changes": {"retention_days": {"old": previous or default, "new": days}},
                "old_values": {"retention_days": previous or default},
                "new_values": {"retention_days": days},
                "applies_to": "events stored from now on; stored events keep their guarantee",
            },
        )
    return int(previous) if previous is not None else None


def purge(
    db: Database, *, actor: str = SYSTEM_ACTOR, as_of: datetime | None = None
) -> PurgeSummary:
    """Remove events whose guarantee has passed and that no legal hold covers; record the
    purge (what it removed, and what each hold kept) as an audit event per organisation."""
    with db.admin() as session:
        result = session.execute(
            "SELECT organization_id, event_type, removed_count"
            " FROM audit_purge_expired(coalesce(CAST(:as_of AS timestamptz), now()))",
            {"as_of": as_of},
            max_rows=1_000_000,
        )
        # The function also records every removed event in audit_purged_events, so
        # `auditlens verify` tells this purge from a deletion whoever runs it.
        removed = {(org, family): int(count) for org, family, count in result.rows}
        kept = {
            (org, int(hold), family): int(count)
            for org, hold, family, count in session.execute(
                "SELECT organization_id, hold_id, event_type, kept_count FROM pg_temp.purge_kept",
                max_rows=1_000_000,
            ).rows
        }
        # The rollups must not keep counting what is gone: the days that lost events are
        # rolled up again from what remains, before this transaction commits.
        recompute_days(
            session,
            "SELECT organization_id, (event_time AT TIME ZONE 'UTC')::date AS day"
            " FROM pg_temp.purge_removed",
        )
        per_org: dict[str, dict[str, int]] = {}
        for (org, family), count in removed.items():
            per_org.setdefault(org, {})[family] = count
        kept_per_org: dict[str, dict[str, dict[str, int]]] = {}
        for (org, hold, family), count in kept.items():
            kept_per_org.setdefault(org, {}).setdefault(str(hold), {})[family] = count
        for org in sorted(per_org.keys() | kept_per_org.keys()):
            counts = per_org.get(org, {})
            details: dict[str, object] = {
                "removed_by_family": counts,
                "removed_total": sum(counts.values()),
            }
            if org in kept_per_org:
                details["kept_by_hold"] = kept_per_org[org]
            record_event(
                session,
                organization_id=org,
                action=RETENTION_PURGE,
                user_id=actor,
                resource_type="audit_log",
                resource_id="audit_events",
                details=details,
            )
    return PurgeSummary(removed, kept)
