"""`auditlens resources list|set|import`: suggestions for ids the simulator never makes, an
import whose bad lines are named one by one while the good ones are kept, every change
audited, hostile names printed as text."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli import app
from sql.catalogue import entries
from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import DESCRIBE_RESOURCE, IMPORT_RESOURCE_CATALOGUE
from tests.factories import event_row

IDS = ("payment-logs", "customer-data", "hr-events", "build-logs")


@pytest.fixture
def real_org(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """An organisation named the way a new user names things, with recent events."""
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    now = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        event_row(
            organization_id="org_real",
            resource_id=rid,
            user_id=f"user_{n}",
            event_time=now - timedelta(minutes=n),
        )
        for n, rid in enumerate(IDS * 3)
    ]
    with db.writer() as session:
        insert_events(session, rows)
    return db


def _list(fmt: str = "json") -> str:
    done = CliRunner().invoke(app, ["resources", "list", "--org", "org_real", "--format", fmt])
    assert done.exit_code == 0, done.output
    return done.stdout


def _audit(db: Database, action: str) -> list[dict]:
    with db.org_session("org_real") as s:
        return [
            r[0]
            for r in s.execute(
                "SELECT details FROM org_audit_events WHERE event_action = :a ORDER BY ingest_seq",
                {"a": action},
            ).rows
        ]


def test_list_suggests_levels_for_names_the_simulator_never_makes(real_org):
    rows = {r["resource_id"]: r for r in json.loads(_list())}
    assert set(rows) == set(IDS)
    for rid in ("payment-logs", "customer-data", "hr-events"):
        assert rows[rid]["status"] == "suggested" and rows[rid]["sensitivity"] == "restricted"
    assert "payment" in rows["payment-logs"]["reason"]
    assert "pci" in rows["payment-logs"]["tags"] and "hr" in rows["hr-events"]["tags"]
    assert (
        rows["build-logs"]["status"] == "undescribed" and rows["build-logs"]["sensitivity"] is None
    )
    assert rows["payment-logs"]["users"] == 3
    # The CSV says the same, and which entries are only suggested.
    as_csv = list(csv.DictReader(io.StringIO(_list("csv"))))
    assert {r["resource_id"]: r["status"] for r in as_csv}["hr-events"] == "suggested"


def test_set_confirms_and_keeps_what_it_is_not_told(real_org):
    runner = CliRunner()
    done = runner.invoke(app, ["resources", "set", "build-logs", "--org", "org_real"])
    assert done.exit_code != 0 and "--level: required" in done.output
    done = runner.invoke(
        app,
        ["resources", "set", "payment-logs", "--org", "org_real", "--level", "restricted",
         "--name", "Payment logs", "--tags", "pci,financial", "--owner", "Payments"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app, ["resources", "set", "payment-logs", "--org", "org_real", "--owner", "Finance"]
    )
    assert done.exit_code == 0, done.output
    stored = entries(real_org, "org_real")["payment-logs"]
    assert (stored.display_name, stored.tags, stored.owner_team) == (
        "Payment logs",
        ("pci", "financial"),
        "Finance",
    )
    bad = runner.invoke(
        app, ["resources", "set", "payment-logs", "--org", "org_real", "--level", "top"]
    )
    assert bad.exit_code != 0 and "sensitivity: must be one of" in bad.output
    rows = {r["resource_id"]: r for r in json.loads(_list())}
    assert rows["payment-logs"]["status"] == "confirmed"
    assert rows["payment-logs"]["display_name"] == "Payment logs"
    changes = _audit(real_org, DESCRIBE_RESOURCE.name)
    assert [c["changes"].get("owner_team", {}).get("new") for c in changes] == [
        "Payments",
        "Finance",
    ]


def test_import_names_each_bad_line_and_keeps_the_good_ones(real_org, tmp_path):
    file = tmp_path / "catalogue.csv"
    file.write_text(
        "resource_id,display_name,sensitivity,tags,owner_team\n"
        'payment-logs,Payment logs,restricted,"pci,financial",Payments\n'
        "customer-data,Customer data,secret,pii,Support\n"
        "hr-events,HR events,restricted,Bad Tag!,People\n"
        "build-logs,Build logs,internal,,Platform\n"
        "payment-logs,Again,internal,,\n"
        ",No id,internal,,\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(app, ["resources", "import", str(file), "--org", "org_real"])
    assert done.exit_code == 1
    errors = [line for line in done.output.splitlines() if line.startswith("catalogue.csv: ")]
    assert errors == [
        "catalogue.csv: line 3: sensitivity: must be one of internal, confidential, "
        "restricted, got 'secret'",
        "catalogue.csv: line 4: tags: 'Tag!' is not a lower-case word: a letter, then up to 31"
        " letters, digits, _ or -",
        "catalogue.csv: line 6: resource_id: 'payment-logs' is already on line 2",
        "catalogue.csv: line 7: resource_id: required",
    ]
    assert "6 record(s): 2 added, 0 changed, 0 unchanged, 4 refused" in done.output
    assert set(entries(real_org, "org_real")) == {"payment-logs", "build-logs"}
    assert len(_audit(real_org, DESCRIBE_RESOURCE.name)) == 2
    (summary,) = _audit(real_org, IMPORT_RESOURCE_CATALOGUE.name)
    assert summary["added"] == 2 and summary["rejected"] == 4 and summary["file"] == file.name
    # A JSON lines file: a broken line is named, the rest stored.
    lines = tmp_path / "more.jsonl"
    lines.write_text(
        '{"resource_id": "hr-events", "sensitivity": "restricted", "tags": ["hr"]}\n'
        "{not json\n"
        '{"resource_id": "customer-data", "sensitivity": "restricted", "colour": "red"}\n',
        encoding="utf-8",
    )
    done = CliRunner().invoke(app, ["resources", "import", str(lines), "--org", "org_real"])
    assert done.exit_code == 1
    assert "more.jsonl: line 2: not JSON" in done.output
    assert "more.jsonl: line 3: 'colour': unknown field" in done.output
    assert set(entries(real_org, "org_real")) == {"payment-logs", "build-logs", "hr-events"}
    # A header that is not the catalogue's refuses the file in one line, storing nothing.
    odd = tmp_path / "odd.csv"
    odd.write_text("id,level\nx,internal\n", encoding="utf-8")
    done = CliRunner().invoke(app, ["resources", "import", str(odd), "--org", "org_real"])
    assert done.exit_code == 1 and "odd.csv: line 1: header: 'id': unknown column" in done.output


def test_hostile_names_are_printed_as_typed(real_org):
    name = "[bold red]x[/] <script>alert(1)</script>"
    done = CliRunner().invoke(
        app,
        ["resources", "set", "build-logs", "--org", "org_real", "--level", "internal",
         "--name", name],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "[bold red]x[/] <script>" in _list("table")
    assert json.loads(_list())[0]["display_name"] == name
