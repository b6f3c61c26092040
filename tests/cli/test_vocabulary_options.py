"""Command-line options checked against the shared vocabulary: every family can have a
retention policy, and `--org` takes exactly the organisation ids the store accepts."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from cli import app
from sql.event_store import insert_events
from sql.settings import DATABASE_URL_ENV
from tests.factories import event_row


def test_every_family_can_have_a_retention_policy(db, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, db.url)
    result = CliRunner().invoke(
        app, ["retention", "set", "--org", "org_a", "--family", "api_call", "--days", "30"]
    )
    assert result.exit_code == 0, result.output
    assert "api_call events stored from now on are kept 30 days" in result.output
    when = datetime(2025, 1, 15, 12, tzinfo=UTC)
    with db.writer() as w:
        insert_events(
            w, [event_row(organization_id="org_a", event_type="api_call", event_time=when)]
        )
    with db.org_session("org_a") as s:
        # Not the command's own audit record (a config change, kept 7 years) in the same org.
        kept = s.scalar(
            "SELECT retention_guaranteed_until - event_time FROM org_audit_events"
            " WHERE event_type = 'api_call'"
        )
    assert kept.days == 30


def test_an_unknown_family_is_refused_by_name(db, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, db.url)
    result = CliRunner().invoke(
        app, ["retention", "set", "--org", "org_a", "--family", "logins", "--days", "30"]
    )
    assert result.exit_code == 2
    assert "--family must be one of" in result.output and "logins" in result.output


def test_simulate_refuses_an_organisation_id_with_a_trailing_newline(tmp_path):
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        app,
        ["simulate", "--org", "org_a\n", "--users", "3", "--days", "2", "--out", str(out)],
    )
    assert result.exit_code == 2
    assert "--org must be 1-128 letters" in result.output
    assert not out.exists()
