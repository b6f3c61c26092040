"""Findings in the database: append-only, organisation-scoped, triage as new audited rows."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from cli import app
from detection.findings import (
    NOT_RUN_YET,
    DetectionRun,
    Finding,
    FindingError,
    count_findings,
    detection_coverage,
    get_finding,
    last_detected_day,
    list_findings,
    save_findings,
    triage,
)
from sql.errors import PermissionMissing


def _finding(user: str, score: float, severity: str, day: date = date(2025, 1, 10)) -> Finding:
    return Finding(
        user_id=user,
        user_email=f"{user}@company.com",
        day=day,
        window_start=datetime(day.year, day.month, day.day, tzinfo=UTC),
        window_end=datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC),
        score=score,
        severity=severity,
        detectors=["large-export", "model"],
        title="Export of more than 10,000 records",
        explanation="records exported 25,000 (> 10,000)",
        evidence_query=f"user:{user} created:2025-01-10T00:00:00Z..2025-01-11T00:00:00Z",
        rule_score=0.75,
        model_score=0.61,
        model_percentile=0.999,
        model_version="isolation-forest-abc",
    )


def _run() -> DetectionRun:
    return DetectionRun(
        start_day=date(2025, 1, 10),
        end_day=date(2025, 1, 10),
        actor="test",
        rules=["large-export"],
        model_version="isolation-forest-abc",
        model_params={"n_estimators": 150},
        libraries={"scikit-learn": "1.x"},
        user_days=10,
    )


def test_save_list_get_and_triage(db):
    findings = [_finding("u1", 0.95, "critical"), _finding("u2", 0.6, "medium")]
    run_id, inserted = save_findings(db, "org_a", _run(), findings)
    assert inserted == 2 and run_id > 0
    # Re-running the same window adds nothing: one finding per user-day.
    assert save_findings(db, "org_a", _run(), [_finding("u1", 0.99, "critical")])[1] == 0
    listed = list_findings(db, "org_a")
    assert list(listed["user_id"]) == ["u1", "u2"]
    assert list(listed.columns) == [
        "finding_id", "created_at", "user_id", "user_email", "window_start", "window_end",
        "score", "severity", "detectors", "title", "explanation", "evidence_query", "status",
        "status_comment",
    ]  # fmt: skip
    assert listed.loc[0, "detectors"] == ["large-export", "model"]
    assert set(listed["status"]) == {"new"}
    assert list(list_findings(db, "org_a", min_severity="high")["user_id"]) == ["u1"]

    fid = listed.loc[0, "finding_id"]
    triage(db, "org_a", fid, "investigating", "looking", actor="analyst@company.com")
    triage(db, "org_a", fid, "confirmed", "exfiltration", actor="analyst@company.com")
    one = get_finding(db, "org_a", fid)
    assert one is not None
    assert one["status"] == "confirmed" and [t["status"] for t in one["triage"]] == [
        "investigating",
        "confirmed",
    ]
    assert one["run"]["model_params"] == {"n_estimators": 150}
    assert list(list_findings(db, "org_a", status="confirmed")["finding_id"]) == [fid]
    assert list_findings(db, "org_a", status="new")["user_id"].tolist() == ["u2"]
    with db.org_session("org_a") as session:
        audit = session.execute(
            "SELECT user_id, details FROM org_audit_events WHERE event_action = 'triage_finding'"
            " ORDER BY ingest_seq"
        ).rows
    assert [a[0] for a in audit] == ["analyst@company.com"] * 2
    assert audit[1][1]["status"] == {"old": "investigating", "new": "confirmed"}
    assert last_detected_day(db, "org_a") == date(2025, 1, 10)


def test_a_runs_findings_are_stored_exactly_in_one_statement(db):
    from sqlalchemy import event

    findings = [_finding(f"u{n:03d}", 0.5 + n / 1000, "medium") for n in range(120)]
    findings[0] = replace(
        findings[0],
        detectors=[],
        model_score=None,
        model_percentile=None,
        model_version=None,
        user_email="",
        title="<script>alert('x')</script> ,{\"a\": [1]}",
        explanation="a 'quoted', \"double\" and back\\slash; then ÄÖÜ",
    )
    findings[1] = replace(findings[1], detectors=["with,comma", 'with"quote', "model"])
    findings.append(replace(findings[5], finding_id="dup-of-5"))  # the same user-day twice
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        _, inserted = save_findings(db, "org_a", _run(), findings)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert inserted == 120
    assert sum("INSERT INTO findings" in s for s in statements) == 1
    stored = {r["finding_id"]: r for r in list_findings(db, "org_a", limit=500).to_dict("records")}
    assert len(stored) == 120 and "dup-of-5" not in stored
    for finding in findings[:120]:
        row = stored[finding.finding_id]
        assert (row["user_id"], row["user_email"], row["severity"]) == (
            finding.user_id, finding.user_email, finding.severity
        )  # fmt: skip
        assert row["detectors"] == finding.detectors and row["score"] == finding.score
        assert (row["title"], row["explanation"]) == (finding.title, finding.explanation)
        assert row["window_start"] == finding.window_start
    first = get_finding(db, "org_a", findings[0].finding_id)
    assert first is not None and first["model_score"] is None and first["detectors"] == []


def test_findings_are_scoped_to_their_organisation(db):
    save_findings(db, "org_a", _run(), [_finding("u1", 0.9, "high")])
    assert list_findings(db, "org_b").empty
    fid = list_findings(db, "org_a").loc[0, "finding_id"]
    assert get_finding(db, "org_b", fid) is None
    with pytest.raises(FindingError, match="no finding"):
        triage(db, "org_b", fid, "benign", "", actor="x")
    with db.org_session("org_a") as session, pytest.raises(PermissionMissing):
        session.execute("SELECT * FROM findings")


def test_findings_and_triage_are_append_only(db):
    save_findings(db, "org_a", _run(), [_finding("u1", 0.9, "high")])
    fid = list_findings(db, "org_a").loc[0, "finding_id"]
    triage(db, "org_a", fid, "benign", "ok", actor="x")
    for statement in (
        "UPDATE findings SET score = 0",
        "DELETE FROM findings",
        "UPDATE finding_triage SET status = 'new'",
        "DELETE FROM finding_triage",
        "TRUNCATE findings CASCADE",
    ):
        with pytest.raises((DBAPIError, PermissionMissing)), db.admin() as session:
            session.execute(statement)
    with db.writer() as session, pytest.raises((DBAPIError, PermissionMissing)):
        session.execute("UPDATE findings SET score = 0")


def test_since_and_until_keep_the_findings_whose_window_overlaps_them(db):
    # A finding's window holds its start and not its end, as [since, until) does.
    day = _finding("u1", 0.9, "high")
    end = datetime(2025, 1, 11, tzinfo=UTC)
    save_findings(db, "org_a", _run(), [replace(day, window_end=end)])
    before_end, start = end - timedelta(microseconds=1), day.window_start
    for since, until, kept in (
        (end, None, 0),  # starts where the window ends: no overlap
        (date(2025, 1, 11), None, 0),
        (before_end, None, 1),
        (None, start, 0),  # ends where the window starts
        (None, start + timedelta(microseconds=1), 1),
        (start, end, 1),
    ):
        listed = list_findings(db, "org_a", since=since, until=until)
        assert (len(listed), count_findings(db, "org_a", since=since, until=until)) == (
            kept,
            kept,
        ), (since, until)


def test_bad_triage_and_filters_are_refused_naming_the_value(db):
    save_findings(db, "org_a", _run(), [_finding("u1", 0.9, "high")])
    fid = list_findings(db, "org_a").loc[0, "finding_id"]
    with pytest.raises(FindingError, match="status must be one of"):
        triage(db, "org_a", fid, "closed", "", actor="x")
    with pytest.raises(FindingError, match="min_severity"):
        list_findings(db, "org_a", min_severity="urgent")
    with pytest.raises(FindingError, match="limit"):
        list_findings(db, "org_a", limit=0)


def test_when_detection_last_ran_has_one_source_the_runs(db, fresh_database, monkeypatch):
    """`auditlens findings` says what the Anomalies page says, from the append-only runs
    of the organisation alone; the schedule row keeps no second copy of the time."""
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    runner = CliRunner()
    before = runner.invoke(app, ["findings", "--org", "org_a", "--format", "json"])
    assert before.exit_code == 0 and NOT_RUN_YET in before.stderr
    save_findings(db, "org_a", _run(), [_finding("u1", 0.9, "high")])
    save_findings(db, "org_a", _run(), [])
    save_findings(db, "org_b", _run(), [_finding("u9", 0.9, "high")])
    with db.org_session("org_a") as s:
        ran = s.scalar("SELECT max(started_at) FROM org_detection_runs")
    coverage = detection_coverage(db, "org_a")
    assert coverage is not None and (coverage.last_run_at, coverage.runs) == (ran, 2)
    after = runner.invoke(app, ["findings", "--org", "org_a", "--format", "json"])
    assert after.exit_code == 0, after.output
    said = coverage.sentence(f"{ran.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    assert said in after.stderr and "(2 runs so far)" in said
    assert len(json.loads(after.stdout)) == 1  # stdout stays exactly the rows
    with db.admin() as s:
        columns = s.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'detection_schedule'"
        ).rows
    assert ("last_run_at",) not in columns and ("last_run_id",) in columns
