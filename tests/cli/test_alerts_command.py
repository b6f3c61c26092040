"""`auditlens alerts list|create|dry-run|enable|disable`, and `auditlens detect` evaluating a
switched-on alert beside the rule files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from detection.findings import list_findings
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from tests.run_cli import run_cli

DAY = date(2025, 3, 10)


@pytest.fixture
def env(db: Database, fresh_database: str) -> dict[str, str]:
    rows = [
        event_row(
            user_id=user,
            user_email=f"{user}@x.com",
            event_action="view",
            resource_id="logs",
            event_time=datetime(2025, 3, 1, 9, tzinfo=UTC) + timedelta(days=d, minutes=m),
        )
        for d in range(10)
        for m in range(0, 60, 10)
        for user in ("ann", "bob")
    ]
    rows += [
        event_row(
            user_id="ann",
            user_email="ann@x.com",
            event_type="data_modification",
            event_action="export",
            resource_id="payments",
            event_time=datetime(DAY.year, DAY.month, DAY.day, 2, m, tzinfo=UTC),
        )
        for m in range(4)
    ]
    with db.writer() as w:
        insert_events(w, rows)
    return {"AUDITLENS_DATABASE_URL": fresh_database}


def _ok(*args: str, env: dict[str, str]) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_create_dry_run_enable_detect_disable(env: dict[str, str], db: Database):
    bad_query = run_cli("searches", "save", "--org", "org_a", "--name", "x",
                        "--query", "action:export hour:25", env=env)  # fmt: skip
    assert bad_query.returncode != 0 and bad_query.stderr.count("\n") == 1
    assert bad_query.stderr.startswith("auditlens: error: query: query error at column 20: hour:")
    _ok("searches", "save", "--org", "org_a", "--name", "Night exports 2",
        "--query", "action:export hour:0 hour:1 hour:2", env=env)  # fmt: skip
    created = _ok("alerts", "create", "--org", "org_a", "--search", "night exports 2",
                  "--condition", "per_user", "--threshold", "3", "--window", "10",
                  "--severity", "critical", env=env)  # fmt: skip
    assert created.startswith(
        "alert 1 created on org_a (off): Night exports 2, more than 3 matches by one user in"
        " 10 minutes, critical"
    )
    assert _ok("alerts", "list", "--org", "org_a", env=env) == (
        "1\toff\tcritical\tNight exports 2\tmore than 3 matches by one user in 10 minutes"
        "\tsearch-alert-1\n"
    )
    dry = _ok("alerts", "dry-run", "--org", "org_a", "1", "--to", str(DAY), "--days", "10",
              env=env).splitlines()  # fmt: skip
    assert dry[0] == (
        "Saved search: Night exports 2: 1 hit(s) for 1 user(s) and 1 finding(s)"
        f" from {DAY - timedelta(days=9)} to {DAY}"
    )
    assert dry[1].startswith(f"{DAY}\tcritical\tann\t4 matches of saved search 'Night exports 2'")
    assert len(dry) == 2
    assert _ok("alerts", "enable", "--org", "org_a", "1", "--as", "lee@x.com", env=env) == (
        "alert 1 switched on: Night exports 2\n"
    )
    again = run_cli("alerts", "enable", "--org", "org_a", "1", env=env)
    assert again.returncode != 0
    assert again.stderr == "auditlens: error: alert: 1 is switched on already\n"
    deleting = run_cli("searches", "delete", "--org", "org_a", "Night exports 2", env=env)
    assert "feeds alert(s) 1, switched on; disable them first" in deleting.stderr
    _ok("detect", "--org", "org_a", "--from", str(DAY - timedelta(days=2)), "--to", str(DAY),
        env=env)  # fmt: skip
    found = list_findings(db, "org_a", limit=100)
    assert [d for d in found["detectors"] if "search-alert-1" in d] != []
    assert _ok("alerts", "disable", "--org", "org_a", "1", "--reason", "Testing, will re-enable",
               env=env) == "alert 1 switched off: Night exports 2\n"  # fmt: skip
    listed = _ok("alerts", "list", "--org", "org_a", env=env)
    assert listed.startswith("1\toff\tcritical\tNight exports 2\t")
    assert "\tswitched off " in listed
    assert _ok("alerts", "list", "--org", "org_b", env=env) == "org_b: no alerts\n"
    elsewhere = run_cli("alerts", "dry-run", "--org", "org_b", "1", env=env)
    assert elsewhere.stderr == "auditlens: error: alert: no alert 1 in organisation org_b\n"
    bad = run_cli("alerts", "create", "--org", "org_a", "--search", "Night exports 2",
                  "--condition", "often", env=env)  # fmt: skip
    assert bad.stderr == (
        "auditlens: error: condition must be one of any, count, per_user, got: 'often'\n"
    )
