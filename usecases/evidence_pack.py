"""An evidence pack's figures: what an auditor files for one organisation and period.

Every section is read through the organisation-scoped views (`db.org_session`), over the
period [start, end): who accessed restricted resources, privileged and user-management
changes, exports (over `REVIEW_THRESHOLD` rows flagged), alerts disabled and not re-enabled
by the end of the period, findings with their latest triage, and the integrity verification
of the seals made in the period. Lists are capped at `MAX_ROWS` each; the counts are not.

The restricted set is a parameter; `restricted_resources` reads it from the organisation's
resource catalogue as detection does. The pack prints which set it used and where it came
from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from detection.features import organisation_sensitivity
from integrity.keys import PublicKeys
from integrity.verify import VerifyReport, verify_organization
from sql.gateway import Database, ScopedSession, check_org_id
from sql.rollup.measures import RECORD_KEYS
from usecases.exports import EXPORT_TIMEOUT_MS, REVIEW_THRESHOLD
from usecases.resource_catalogue import known_resources

MAX_ROWS = 1_000
PRIVILEGED_FAMILIES: tuple[str, ...] = ("user_management", "config_change")


@dataclass(frozen=True)
class RestrictedSet:
    """Which resource ids count as restricted, and where that list came from (printed)."""

    resource_ids: tuple[str, ...]
    source: str


def restricted_resources(
    db: Database, org_id: str, start: datetime | None = None, end: datetime | None = None
) -> RestrictedSet:
    """The organisation's restricted resources, as detection counts them: confirmed
    `restricted` in its resource catalogue, and those nobody described whose names suggest
    `restricted`, among those with events in [start, end) (a pack's period; default the last
    90 days)."""
    known = [k.resource_id for k in known_resources(db, org_id, start, end)]
    sensitive = organisation_sensitivity(db, org_id, known)
    return RestrictedSet(
        tuple(sorted(sensitive.resource_ids)),
        "the resource catalogue (confirmed restricted, or undescribed with a name that"
        " suggests restricted)",
    )


@dataclass(frozen=True)
class Section:
    """One table of the pack: its rows (at most MAX_ROWS) and how many there are in all."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    total: int
    note: str = ""

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


@dataclass(frozen=True)
class EvidenceFigures:
    organization_id: str
    start: datetime
    end: datetime
    restricted: RestrictedSet
    restricted_access: Section
    privileged_changes: Section
    exports: Section
    flagged_exports: int
    alerts_disabled: Section
    findings: Section
    verification: VerifyReport
    headline: dict[str, int] = field(default_factory=dict)

    @property
    def sections(self) -> tuple[Section, ...]:
        return (
            self.restricted_access,
            self.privileged_changes,
            self.exports,
            self.alerts_disabled,
            self.findings,
        )

    @property
    def rows_listed(self) -> int:
        return sum(len(s.rows) for s in self.sections)

    def filters(self) -> dict[str, Any]:
        """The exact filters that made the pack (printed on it and recorded with its export)."""
        return {
            "organization_id": self.organization_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "period": "from (inclusive) to (exclusive), UTC",
            "restricted_resources": list(self.restricted.resource_ids),
            "restricted_source": self.restricted.source,
            "privileged_families": list(PRIVILEGED_FAMILIES),
            "export_actions": "event_action starting with export or download",
            "export_review_threshold_rows": REVIEW_THRESHOLD,
            "alerts": "disable_alert with no later enable_alert of the same alert by the end",
            "findings": "findings whose window starts in the period, with their latest triage",
            "integrity": "seals made in the period, their signatures, chain and gaps",
        }


_PERIOD = "event_time >= :start AND event_time < :end"


def _section(
    session: ScopedSession,
    title: str,
    columns: Sequence[str],
    rows_sql: str,
    count_sql: str,
    params: dict[str, Any],
    note: str = "",
) -> Section:
    rows = session.execute(rows_sql, {**params, "cap": MAX_ROWS}, max_rows=MAX_ROWS).rows
    total = int(session.scalar(count_sql, params))
    return Section(title, tuple(columns), [tuple(r) for r in rows], total, note)


def _restricted_access(session: ScopedSession, params: dict[str, Any]) -> Section:
    grouped = (
        "FROM org_audit_events WHERE " + _PERIOD + " AND resource_id = ANY(:restricted)"
        " GROUP BY user_id, resource_type, resource_id"
    )
    return _section(
        session,
        "Access to restricted resources",
        ("user", "email", "resource type", "resource", "events", "first", "last"),
        "SELECT user_id, max(user_email), resource_type, resource_id, count(*),"
        " min(event_time), max(event_time) " + grouped + " ORDER BY resource_id, user_id"
        " LIMIT :cap",
        "SELECT count(*) FROM (SELECT 1 " + grouped + ") g",  # noqa: S608 - fixed fragments
        params,
        note="one row per user and resource",
    )


def _privileged_changes(session: ScopedSession, params: dict[str, Any]) -> Section:
    where = "FROM org_audit_events WHERE " + _PERIOD + " AND event_type = ANY(:privileged)"
    return _section(
        session,
        "Privileged and user-management changes",
        ("time", "user", "email", "family", "action", "resource type", "resource", "event id"),
        "SELECT event_time, user_id, user_email, event_type, event_action, resource_type,"
        " resource_id, id " + where + " ORDER BY event_time, ingest_seq LIMIT :cap",
        "SELECT count(*) " + where,
        params,
    )


def _exports(session: ScopedSession, params: dict[str, Any]) -> tuple[Section, int]:
    records = (
        "coalesce("
        + ", ".join(f"auditlens_detail_count(details, :rk{i})" for i in range(len(RECORD_KEYS)))
        + ")"
    )
    keys = {f"rk{i}": k for i, k in enumerate(RECORD_KEYS)}
    where = (
        "FROM org_audit_events WHERE " + _PERIOD + " AND (event_action LIKE 'export%'"
        " OR event_action LIKE 'download%')"
    )
    section = _section(
        session,
        "Exports and downloads",
        ("time", "user", "email", "action", "resource", "rows", "flagged", "event id"),
        "SELECT event_time, user_id, user_email, event_action, resource_id, " + records + ","
        " CASE WHEN "
        + records
        + " > :threshold THEN 'FLAGGED' ELSE '' END, id "
        + where
        + " ORDER BY event_time, ingest_seq LIMIT :cap",
        "SELECT count(*) " + where,
        {**params, **keys},
        note=f"rows from the event's details; over {REVIEW_THRESHOLD:,} rows is flagged",
    )
    flagged = int(
        session.scalar(
            "SELECT count(*) " + where + " AND " + records + " > :threshold",
            {**params, **keys},
        )
    )
    return section, flagged


def _alerts_disabled(session: ScopedSession, params: dict[str, Any]) -> Section:
    where = (
        "FROM org_audit_events d WHERE d.event_time >= :start AND d.event_time < :end"
        " AND d.event_action = 'disable_alert' AND NOT EXISTS (SELECT 1 FROM org_audit_events r"
        " WHERE r.event_action = 'enable_alert' AND r.resource_id = d.resource_id"
        " AND r.event_time > d.event_time AND r.event_time < :end)"
    )
    return _section(
        session,
        "Alerts disabled and not re-enabled",
        ("disabled at", "user", "email", "alert", "reason", "event id"),
        "SELECT d.event_time, d.user_id, d.user_email, d.resource_id, d.details->>'reason',"
        " d.id " + where + " ORDER BY d.event_time, d.ingest_seq LIMIT :cap",
        "SELECT count(*) " + where,
        params,
        note="not re-enabled by the end of the period",
    )


def _findings(session: ScopedSession, params: dict[str, Any]) -> Section:
    return _section(
        session,
        "Findings and their triage",
        ("day", "user", "severity", "score", "title", "status", "triaged by", "comment"),
        "SELECT f.day, f.user_id, f.severity, round(f.score::numeric, 3), f.title,"
        " coalesce(t.status, 'new'), t.actor, t.comment FROM org_findings f LEFT JOIN LATERAL"
        " (SELECT status, actor, comment FROM org_finding_triage x"
        " WHERE x.finding_id = f.finding_id ORDER BY x.triage_id DESC LIMIT 1) t ON true"
        " WHERE f.window_start >= :start AND f.window_start < :end"
        " ORDER BY f.day, f.user_id LIMIT :cap",
        "SELECT count(*) FROM org_findings f"
        " WHERE f.window_start >= :start AND f.window_start < :end",
        params,
        note="status is the newest triage (new when never triaged)",
    )


def gather(
    db: Database,
    org_id: str,
    start: datetime,
    end: datetime,
    keys: PublicKeys,
    *,
    restricted: RestrictedSet | None = None,
    actor: str = "system:auditlens",
) -> EvidenceFigures:
    """Every figure of `org_id`'s pack for [start, end), verified under `keys`."""
    check_org_id(org_id)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("from and to must carry a time zone")
    if end <= start:
        raise ValueError(f"to must be after from, got: from {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    # The period's own resources: a quarter filed long after it ends still judges what it touched.
    chosen = restricted or restricted_resources(db, org_id, start, end)
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "restricted": list(chosen.resource_ids),
        "privileged": list(PRIVILEGED_FAMILIES),
        "threshold": REVIEW_THRESHOLD,
    }
    # One snapshot: every section describes the same moment of the store.
    with db.org_session(
        org_id, snapshot=True, max_rows=MAX_ROWS, timeout_ms=EXPORT_TIMEOUT_MS
    ) as session:
        access = _restricted_access(session, params)
        changes = _privileged_changes(session, params)
        exports, flagged = _exports(session, params)
        alerts = _alerts_disabled(session, params)
        findings = _findings(session, params)
    verification = verify_organization(db, org_id, keys, start=start, end=end, actor=actor)
    return EvidenceFigures(
        organization_id=org_id,
        start=start,
        end=end,
        restricted=chosen,
        restricted_access=access,
        privileged_changes=changes,
        exports=exports,
        flagged_exports=flagged,
        alerts_disabled=alerts,
        findings=findings,
        verification=verification,
        headline={
            "restricted resource accesses (user and resource pairs)": access.total,
            "privileged and user-management changes": changes.total,
            "exports and downloads": exports.total,
            f"exports over {REVIEW_THRESHOLD:,} rows (flagged)": flagged,
            "alerts disabled and not re-enabled": alerts.total,
            "findings": findings.total,
            "integrity problems": len(verification.problems),
        },
    )
