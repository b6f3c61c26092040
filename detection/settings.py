"""An organisation's detection calibration settings, stored append-only (newest wins), and
the benign verdicts that silence a rule for a user. Every change is audited."""

from __future__ import annotations

from dataclasses import asdict

from detection.calibration import Calibration, Suppression, suppressions_from
from sql.errors import AuditLensError
from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.vocabulary import UPDATE_DETECTION_SETTINGS


class SettingsError(AuditLensError):
    """A detection setting out of range (names the setting)."""


def load_calibration(db: Database, org: str) -> Calibration:
    """The organisation's newest settings, else the defaults."""
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT model_alerts_per_100_users_week, benign_suppression_days"
            " FROM org_detection_settings ORDER BY setting_id DESC LIMIT 1",
            max_rows=1,
        ).rows
    if not rows:
        return Calibration()
    budget, days = rows[0]
    return Calibration(float(budget), int(days))


def save_calibration(
    db: Database,
    org: str,
    *,
    actor: str,
    model_alerts_per_100_users_week: float | None = None,
    benign_suppression_days: int | None = None,
) -> Calibration:
    """Set one or both settings (the other keeps its value); audited; returns the new ones."""
    check_org_id(org)
    if not actor or not isinstance(actor, str):
        raise SettingsError("actor is required: who changed the detection settings")
    old = load_calibration(db, org)
    try:
        new = Calibration(
            old.model_alerts_per_100_users_week
            if model_alerts_per_100_users_week is None
            else float(model_alerts_per_100_users_week),
            old.benign_suppression_days
            if benign_suppression_days is None
            else int(benign_suppression_days),
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    with db.writer() as session:
        session.execute(
            "INSERT INTO detection_settings (organization_id, model_alerts_per_100_users_week,"
            " benign_suppression_days, actor) VALUES (:org, :budget, :days, :actor)",
            {
                "org": org,
                "budget": new.model_alerts_per_100_users_week,
                "days": new.benign_suppression_days,
                "actor": actor,
            },
        )
        before, after = asdict(old), asdict(new)
        record_event(
            session,
            organization_id=org,
            action=UPDATE_DETECTION_SETTINGS,
            user_id=actor,
            resource_type="detection_settings",
            resource_id=org,
            details={
                "changes": {k: [before[k], after[k]] for k in after if before[k] != after[k]},
                "old_values": before,
                "new_values": after,
            },
        )
    return new


# Findings whose newest triage says benign: their rules are silenced for their user.
_BENIGN = """
SELECT f.finding_id, f.user_id, f.detectors, f.window_start, t.created_at AS decided_at
  FROM org_findings f
  JOIN LATERAL (
    SELECT status, created_at FROM org_finding_triage t
     WHERE t.finding_id = f.finding_id ORDER BY t.triage_id DESC LIMIT 1
  ) t ON t.status = 'benign'
"""


def benign_suppressions(db: Database, org: str, days: int) -> list[Suppression]:
    """What benign verdicts silence: each rule of the finding, for its user, from the
    finding's start until `days` after the verdict. Re-triaging the finding to any other
    status lifts it."""
    if days <= 0:
        return []
    with db.org_session(org) as session:
        rows = session.execute(_BENIGN, max_rows=100_000).dicts()
    return suppressions_from(rows, days)
