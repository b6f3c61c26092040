"""What the command line prints from ingested text cannot act on the reader's terminal.

A producer chooses user ids, emails and resource ids. Printed raw, an escape sequence clears
the screen or plants a hyperlink, a line break makes one resource look like three, a
right-to-left override reverses what follows, and Rich markup (`[link=...]`) turns into a
link. Each is printed as an escape (`\\x1b`, `\\n`, `\\u202e`) or as the text it is."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli import app
from detection.findings import DetectionRun, Finding, save_findings
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from tests.run_cli import run_cli

ORG = "payments-co"
# A screen clear, an OSC 8 hyperlink, a line break that fakes two more rows, an RTL override.
HOSTILE = "evil\x1b[2J\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\nfake-row\u202egnp.exe"
MARKUP = "[link=http://evil.example/]mallory[/link]"


def _assert_inert(output: str) -> None:
    assert "\x1b" not in output and "\u202e" not in output
    # The hostile value stays on one line, its controls written as escapes.
    assert not any(line.strip(" │┃").startswith("fake-row") for line in output.splitlines())
    assert "\\x1b[2J" in output and "\\n" in output and "\\u202e" in output


@pytest.fixture
def hostile_org(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    now = datetime.now(UTC) - timedelta(hours=1)
    with db.writer() as session:
        insert_events(
            session,
            [event_row(organization_id=ORG, resource_id=HOSTILE, user_id="u1", event_time=now)],
        )
    return db


def test_resources_list_prints_an_ingested_resource_id_as_text(hostile_org):
    done = CliRunner().invoke(app, ["resources", "list", "--org", ORG])
    assert done.exit_code == 0, done.output
    _assert_inert(done.stdout)


def _finding(user_id: str, email: str) -> Finding:
    day = date(2025, 1, 10)
    return Finding(
        user_id=user_id,
        user_email=email,
        day=day,
        window_start=datetime(2025, 1, 10, tzinfo=UTC),
        window_end=datetime(2025, 1, 10, 23, 59, tzinfo=UTC),
        score=0.9,
        severity="high",
        detectors=["large-export"],
        title="Export of more than 10,000 records",
        explanation=f"exported {HOSTILE}",
        evidence_query="user:u1",
        rule_score=0.9,
        model_score=None,
        model_percentile=None,
        model_version=None,
    )


def _run() -> DetectionRun:
    return DetectionRun(
        start_day=date(2025, 1, 10),
        end_day=date(2025, 1, 10),
        actor="test",
        rules=["large-export"],
        model_version=None,
        model_params={},
        libraries={},
        user_days=1,
    )


def test_findings_table_prints_ingested_users_and_explanations_as_text(db, monkeypatch):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    save_findings(db, ORG, _run(), [_finding("u1", HOSTILE), _finding(MARKUP, "")])
    done = CliRunner().invoke(app, ["findings", "--org", ORG])
    assert done.exit_code == 0, done.output
    _assert_inert(done.stdout)
    # Rich markup in a user id is shown as typed, not turned into a link.
    assert "[link=http://evil.example/]" in done.stdout


def test_an_export_prints_its_exact_filter_whatever_its_text(db, monkeypatch, tmp_path):
    """The filter line is the export's record of what made it: a text term that looks like
    Rich markup is printed as typed, not swallowed as a style or a link."""
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    query = '"[bold]x[/bold]" "[link=http://evil.example/]y"'
    done = CliRunner().invoke(
        app,
        ["export", "events", "--org", ORG, "--query", query, "--out", str(tmp_path / "e.csv")],
    )
    assert done.exit_code == 0, done.output
    printed = " ".join(done.stderr.split())  # the console wraps long lines at spaces
    assert 'details contain "[bold]x[/bold]"' in printed
    assert 'details contain "[link=http://evil.example/]y"' in printed


def test_verify_export_prints_a_forged_row_id_as_text(db, tmp_path):
    """The file under check is the untrusted party: an id edited to clear the screen and
    print a line of its own must show as the escapes it holds, on its problem's line."""
    key, pub = tmp_path / "seal.key", tmp_path / "seal.pub"
    env = {"AUDITLENS_DATABASE_URL": db.url, "AUDITLENS_SIGNING_KEY_FILE": str(key)}
    assert run_cli("signing-key", "create", "--out", str(key), "--public-out", str(pub),
                   env=env).returncode == 0  # fmt: skip
    with db.writer() as session:
        insert_events(
            session, [event_row(organization_id=ORG, event_time=datetime.now(UTC)) for _ in "ab"]
        )
    assert run_cli("seal", "--org", ORG, env=env).returncode == 0
    out = tmp_path / "export.ndjson"
    made = run_cli("export-proof", "--org", ORG, "--format", "ndjson", "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    first, rest = out.read_text().split("\n", 1)
    row = json.loads(first)
    row["id"] = HOSTILE
    out.write_text(json.dumps(row) + "\n" + rest)
    checked = run_cli("verify-export", str(out), "--public-key", str(pub), env=env)
    assert checked.returncode == 1
    _assert_inert(checked.stdout)
