"""`auditlens destinations ...` and `auditlens stream --once` against a file destination."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from sql.gateway import Database
from streaming import destinations
from tests.run_cli import run_cli
from tests.streaming.helpers import store


@pytest.fixture
def cli_db(db: Database, fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    return db


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_the_whole_life_of_a_destination(cli_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "audit.ndjson"
    added = run(
        "destinations",
        "add",
        "--org",
        "org_a",
        "siem",
        "--kind",
        "file",
        "--payload",
        "ocsf",
        "--path",
        str(out),
        "--query",
        "family:login",
        "--no-findings",
    )
    assert f"siem: file ocsf -> {out}" in added
    assert not destinations.get(cli_db, "org_a", "siem").findings
    store(cli_db, 2, event_type="login", event_action="login")
    store(cli_db, 2, prefix="s")
    assert "sent 2 events" in run("stream", "--once")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["class_uid"] for r in records] == [3002, 3002]
    listed = run("destinations", "list", "--org", "org_a")
    assert "state active; lag 0 events" in listed and "sent 2" in listed
    assert "filter: family:login" in listed
    tested = run("destinations", "test", "--org", "org_a", "siem")
    assert "the receiver took event" in tested
    assert "paused" in run("destinations", "pause", "--org", "org_a", "siem")
    assert "active" in run("destinations", "resume", "--org", "org_a", "siem")
    run("destinations", "backfill", "--org", "org_a", "siem", "--from", "2020-01-01T00:00Z")
    assert "removed" in run("destinations", "remove", "--org", "org_a", "siem")
    assert "no destinations" in run("destinations", "list", "--org", "org_a")
    with cli_db.org_session("org_a") as session:
        actions = session.execute(
            "SELECT event_action FROM org_audit_events WHERE resource_type = 'stream_destination'"
            " ORDER BY ingest_seq"
        ).rows
    assert [a for (a,) in actions] == [
        "add_stream_destination",
        "test_stream_destination",
        "pause_stream_destination",
        "resume_stream_destination",
        "backfill_stream_destination",
        "remove_stream_destination",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "syslog", "--host", "h", "--port", "70000"], "port:"),
        (["--kind", "https", "--url", "http://x"], "url:"),
        (["--kind", "file", "--path", "/x.ndjson", "--query", "user:"], "query:"),
        (["--kind", "file", "--path", "/x.ndjson", "--from", "yesterday"], "from:"),
    ],
)
def test_bad_input_is_one_line(cli_db: Database, args: list[str], message: str) -> None:
    result = run_cli("destinations", "add", "--org", "org_a", "x", *args, env={})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditlens: error:"), result.stderr
    assert message in lines[0]
