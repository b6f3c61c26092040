"""An organisation's calibration settings and benign verdicts, in the database: newest
setting wins, every change audited, scoped to the organisation, append-only; a benign verdict
silences its rules for its user until re-triaged or its time runs out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from detection.calibration import Calibration, calibrate_hits
from detection.findings import DetectionRun, Finding, list_findings, save_findings, triage
from detection.rules.schema import RuleHit
from detection.settings import (
    SettingsError,
    benign_suppressions,
    load_calibration,
    save_calibration,
)
from sql.errors import PermissionMissing

DAY = date(2025, 1, 10)


def _finding(user: str, detectors: list[str]) -> Finding:
    start = datetime(DAY.year, DAY.month, DAY.day, 2, tzinfo=UTC)
    return Finding(
        user_id=user,
        user_email=f"{user}@company.com",
        day=DAY,
        window_start=start,
        window_end=start + timedelta(minutes=5),
        score=0.8,
        severity="high",
        detectors=detectors,
        title="Export at an hour the user is almost never active",
        explanation="exported at 02:00",
        evidence_query="user:u1",
    )


def _run() -> DetectionRun:
    return DetectionRun(DAY, DAY, "test", ["off-hours-export"], None, {}, {}, 10)


def _hit(user: str, rule: str, day: date) -> RuleHit:
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
    return RuleHit(rule, "high", user, f"{user}@x.com", day, at, at, "exported", "q")


def test_defaults_until_set_then_the_newest_wins_and_each_change_is_audited(db):
    assert load_calibration(db, "org_a") == Calibration()
    save_calibration(db, "org_a", actor="ana", model_alerts_per_100_users_week=5)
    save_calibration(db, "org_a", actor="ana", benign_suppression_days=7)
    assert load_calibration(db, "org_a") == Calibration(5.0, 7)
    assert load_calibration(db, "org_b") == Calibration()  # another organisation's own
    with db.org_session("org_a") as session:
        events = session.execute(
            "SELECT user_id, details FROM org_audit_events"
            " WHERE event_action = 'update_detection_settings' ORDER BY event_time",
            max_rows=10,
        ).rows
    assert [e[0] for e in events] == ["ana", "ana"]
    assert events[0][1]["changes"] == {"model_alerts_per_100_users_week": [2.0, 5.0]}
    assert events[1][1]["changes"] == {"benign_suppression_days": [30, 7]}


def test_out_of_range_settings_are_refused_naming_the_setting(db):
    with pytest.raises(SettingsError, match="model_alerts_per_100_users_week must be"):
        save_calibration(db, "org_a", actor="ana", model_alerts_per_100_users_week=101)
    with pytest.raises(SettingsError, match="benign_suppression_days must be"):
        save_calibration(db, "org_a", actor="ana", benign_suppression_days=-1)
    with pytest.raises(SettingsError, match="actor is required"):
        save_calibration(db, "org_a", actor="", benign_suppression_days=3)
    assert load_calibration(db, "org_a") == Calibration()


def test_settings_are_append_only_and_read_through_the_organisation_view(db):
    save_calibration(db, "org_a", actor="ana", model_alerts_per_100_users_week=1)
    for statement in (
        "UPDATE detection_settings SET benign_suppression_days = 0",
        "DELETE FROM detection_settings",
        "TRUNCATE detection_settings",
    ):
        with pytest.raises((DBAPIError, PermissionMissing)), db.admin() as session:
            session.execute(statement)
    with db.org_session("org_a") as session, pytest.raises(PermissionMissing):
        session.execute("SELECT * FROM detection_settings")


def test_a_benign_verdict_silences_its_rules_for_its_user_and_re_triage_lifts_it(db):
    save_findings(db, "org_a", _run(), [_finding("u1", ["off-hours-export", "model"])])
    fid = list_findings(db, "org_a").loc[0, "finding_id"]
    assert benign_suppressions(db, "org_a", 30) == []
    triage(db, "org_a", fid, "benign", "night shift", actor="ana")
    silenced = benign_suppressions(db, "org_a", 30)
    assert [(s.user_id, s.rule_id, s.finding_id) for s in silenced] == [
        ("u1", "off-hours-export", fid)
    ]
    assert benign_suppressions(db, "org_b", 30) == []  # not another organisation's
    assert benign_suppressions(db, "org_a", 0) == []  # suppression turned off
    soon = datetime.now(UTC).date() + timedelta(days=3)
    later = datetime.now(UTC).date() + timedelta(days=40)
    hits = [_hit("u1", "off-hours-export", soon), _hit("u2", "off-hours-export", soon)]
    hits += [_hit("u1", "large-export", soon), _hit("u1", "off-hours-export", later)]
    kept = calibrate_hits(hits, active_users=50, window_days=60, suppressions=silenced)
    assert {(h.user_id, h.rule_id, h.day) for h in kept} == {
        ("u2", "off-hours-export", soon),
        ("u1", "large-export", soon),
        ("u1", "off-hours-export", later),
    }
    # Reversible: a later triage to any other status lifts the suppression.
    triage(db, "org_a", fid, "investigating", "second look", actor="ana")
    assert benign_suppressions(db, "org_a", 30) == []
