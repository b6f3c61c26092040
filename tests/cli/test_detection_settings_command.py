"""`auditlens detection-settings` shows and sets an organisation's calibration (audited);
`auditlens evaluate --world` refuses an unknown world by name."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from detection.settings import SettingsError
from sql.gateway import Database


def test_show_set_and_refuse_out_of_range(
    db: Database, fresh_database: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    runner = CliRunner()
    shown = runner.invoke(app, ["detection-settings", "--org", "org_a"])
    assert shown.exit_code == 0, shown.output
    assert "2 per 100 users per week" in shown.output and "for 30 days" in shown.output
    changed = runner.invoke(
        app,
        ["detection-settings", "--org", "org_a", "--model-alerts", "0.5", "--suppress-days", "7"],
    )
    assert changed.exit_code == 0, changed.output
    assert "0.5 per 100 users per week" in changed.output and "for 7 days" in changed.output
    bad = runner.invoke(app, ["detection-settings", "--org", "org_a", "--suppress-days", "-3"])
    assert isinstance(bad.exception, SettingsError)
    assert "benign_suppression_days must be in [0, 3650], got: -3" in str(bad.exception)
    with db.org_session("org_a") as session:
        assert (
            session.scalar(
                "SELECT count(*) FROM org_audit_events"
                " WHERE event_action = 'update_detection_settings'"
            )
            == 1
        )


def test_evaluate_refuses_an_unknown_world_by_name(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    result = CliRunner().invoke(app, ["evaluate", "--world", "payments,atlantis"])
    assert result.exit_code != 0
    assert "unknown world 'atlantis'" in result.output and "holdout" in result.output
