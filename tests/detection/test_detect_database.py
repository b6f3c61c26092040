"""Detection against the database: the real read model, raw-event slices, stored findings,
incremental runs, and the `detect` / `findings` / `triage` commands."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from detection.events import DatabaseEvents, FrameEvents, Slice
from detection.evidence import day_bounds
from detection.features import Sensitivity, load_user_days
from detection.findings import list_findings
from detection.pipeline import run_detection
from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.vocabulary import EVENT_COLUMNS
from tests.detection.frames import small_org
from tests.factories import event_row


def test_run_detection_finds_the_planted_users_and_is_incremental(seeded, monkeypatch):
    db, _events, labels, roster = seeded
    monkeypatch.setattr("detection.pipeline.organisation_sensitivity", lambda *_: Sensitivity())
    end = max(label["day"] for label in labels)
    result, window, inserted = run_detection(
        db, "org_a", start=end - timedelta(days=4), end=end, peer_groups=roster, actor="test"
    )
    assert result is not None and window == (end - timedelta(days=4), end)
    stored = list_findings(db, "org_a", limit=500)
    assert len(stored) == inserted == len(result.findings)
    planted = {label["user_id"] for label in labels}
    assert planted <= set(stored["user_id"])
    assert set(stored.head(len(planted))["user_id"]) == planted
    with db.org_session("org_a") as session:
        run = session.execute(
            "SELECT model_version, model_params, rules FROM org_detection_runs"
        ).rows
    assert run[0][0].startswith("isolation-forest-") and run[0][1]["n_estimators"] == 100
    assert "large-export" in run[0][2]
    # The data ends on `end`: nothing new to detect, nothing stored twice.
    assert run_detection(db, "org_a", peer_groups=roster) == (None, None, 0)
    assert len(list_findings(db, "org_a", limit=500)) == inserted


def test_database_slices_and_totals_equal_the_in_memory_ones(seeded):
    db, events, labels, _ = seeded
    end = max(label["day"] for label in labels)
    start, stop = day_bounds(end)[0] - timedelta(days=3), day_bounds(end)[1]
    wanted = Slice("log_access", start, stop, actions=("search",), query_contains="*")
    from_db = DatabaseEvents(db, "org_a").fetch(wanted)
    in_memory = FrameEvents(events).fetch(wanted)
    assert sorted(from_db["id"]) == sorted(in_memory["id"]) and len(from_db) == 1
    assert from_db["details"].iloc[0]["query"] == "email:*@company.com"
    broad = Slice("log_access", start, stop)
    totals_db = DatabaseEvents(db, "org_a").totals(broad, ("results_count",))
    totals_mem = FrameEvents(events).totals(broad, ("results_count",))
    key = ["user_id", "day"]
    merged = totals_db.merge(totals_mem, on=key, suffixes=("_db", "_mem"))
    assert len(merged) == len(totals_db) == len(totals_mem) > 0
    assert (merged["events_db"] == merged["events_mem"]).all()
    assert (merged["total_db"] == merged["total_mem"]).all()
    # Narrowed to some users (a sequence's `then` side): the same events from both sources.
    in_memory_all = FrameEvents(events).fetch(broad)
    users = tuple(sorted(set(in_memory_all["user_id"].dropna()))[:3])
    narrowed = Slice("log_access", start, stop, user_ids=users)
    from_db = DatabaseEvents(db, "org_a").fetch(narrowed)
    in_memory = FrameEvents(events).fetch(narrowed)
    assert sorted(from_db["id"]) == sorted(in_memory["id"])
    assert 0 < len(from_db) < len(in_memory_all) and set(from_db["user_id"]) == set(users)
    assert DatabaseEvents(db, "org_a").fetch(Slice("log_access", start, stop, user_ids=())).empty


def test_commands_detect_list_as_csv_and_json_and_triage(seeded, fresh_database, monkeypatch):
    _db, _events, labels, _roster = seeded
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    monkeypatch.setattr("detection.pipeline.organisation_sensitivity", lambda *_: Sensitivity())
    end = max(label["day"] for label in labels)
    runner = CliRunner()
    first = (end - timedelta(days=2)).isoformat()
    detected = runner.invoke(app, ["detect", "--org", "org_a", "--from", first, "--to", str(end)])
    assert detected.exit_code == 0, detected.output
    assert f"org_a: {first}..{end}:" in detected.output

    as_csv = runner.invoke(app, ["findings", "--org", "org_a", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout_bytes.startswith(b"finding_id,created_at,user_id,user_email,window_start,")
    assert as_csv.stdout_bytes.endswith(b"\r\n") and b"\n" not in as_csv.stdout_bytes.replace(
        b"\r\n", b""
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {label["user_id"] for label in labels} <= {r["user_id"] for r in rows}
    # The file is an export like any other: recorded with its rows and hash, and audited.
    with _db.org_session("org_a") as s:
        exports = s.execute(
            "SELECT export_kind, export_format, row_count, sha256, filter_text, export_id"
            " FROM org_audit_exports ORDER BY export_id"
        ).rows
        kind, fmt, count, digest, words, export_id = exports[-1]
        audited = s.execute(
            "SELECT details FROM org_audit_events WHERE resource_id = :r",
            {"r": f"export/{export_id}"},
        ).rows
    assert (kind, fmt, count) == ("findings", "csv", len(rows))
    assert digest == hashlib.sha256(as_csv.stdout_bytes).hexdigest()
    assert words == "all findings; highest score first, at most 100"
    assert [(d["kind"], d["records"], d["sha256"]) for (d,) in audited] == [
        ("findings", len(rows), digest)
    ]

    as_json = json.loads(
        runner.invoke(app, ["findings", "--org", "org_a", "--format", "json"]).stdout
    )
    fid = as_json[0]["finding_id"]
    assert as_json[0]["status"] == "new" and isinstance(as_json[0]["detectors"], list)

    triaged = runner.invoke(
        app, ["triage", fid, "--org", "org_a", "--status", "benign", "--comment", "=cmd()"]
    )
    assert triaged.exit_code == 0, triaged.output
    again = runner.invoke(
        app, ["findings", "--org", "org_a", "--format", "csv", "--status", "benign"]
    )
    benign = list(csv.DictReader(io.StringIO(again.stdout)))
    assert [r["finding_id"] for r in benign] == [fid]
    assert benign[0]["status_comment"] == "'=cmd()"  # a spreadsheet must not run it

    table = runner.invoke(app, ["findings", "--org", "org_a"])
    assert table.exit_code == 0 and "explanation" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["findings", "--org", "org_a", "--format", "xml"], "--format must be one of"),
        (["findings", "--org", "org_a", "--min-severity", "urgent"], "--min-severity"),
        (["detect", "--from", "2025-13-01"], "--from must be a date"),
        (["detect", "--from", "2025-02-01", "--to", "2025-01-01"], "is after --to"),
        (["detect", "--roster", "/nonexistent.json"], "no such file"),
    ],
)
def test_bad_command_input_is_one_clear_line(fresh_database, monkeypatch, args, message):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output


def test_run_detects_the_freshly_seeded_demo_organisation(db, tmp_path):
    from cli.run_command import _detect_demo
    from simulator.demo import DEMO_ORG, seed_demo

    seeded = seed_demo(db, users=30, days=35, labels_dir=tmp_path)
    assert seeded is not None
    _detect_demo(db, seeded.labels_path)
    findings = list_findings(db, DEMO_ORG, limit=1000)
    assert len(findings) > 0
    labels = json.loads(seeded.labels_path.read_text())
    planted = {s["user_id"] for s in labels["scenarios"]}
    assert set(findings.head(10)["user_id"]) & planted


def test_an_organisation_with_nothing_known_to_be_sensitive_is_scored(db: Database):
    # Ids unlike the simulator's: no resource is sensitive, and the rules that read only
    # sensitive resources must match nothing (they once sent a NUL placeholder and crashed).
    events, _labels, _roster = small_org(users=18, days=40)
    events = events.assign(
        organization_id="org_a",
        resource_id=events["resource_id"].map(lambda r: None if r is None else f"x-{r}"),
    )
    rows = [tuple(r[c] for c in EVENT_COLUMNS) for r in events.to_dict("records")]
    with db.writer() as session:
        insert_events(session, rows)
    result, window, _inserted = run_detection(db, "org_a")
    assert result is not None and window is not None
    start = events["event_time"].min()
    nothing = Slice("log_access", start, start + timedelta(days=60), resource_ids=())
    everything = Slice("log_access", start, start + timedelta(days=60))
    source = DatabaseEvents(db, "org_a")
    assert source.fetch(nothing).empty and not source.fetch(everything).empty
    assert source.totals(nothing, ("results_count",)).empty
    assert FrameEvents(events).fetch(nothing).empty


def test_detection_counts_distinct_sources_and_addresses_as_the_read_model_does(seeded):
    db, _events, labels, _ = seeded
    end = max(label["day"] for label in labels)
    at = day_bounds(end)[0] + timedelta(hours=9)
    # NULL addresses, agents, users and sources count as SQL's count(DISTINCT ...) does.
    odd = [
        event_row(organization_id="org_a", event_time=at, user_id="u001", ip_address=None),
        event_row(organization_id="org_a", event_time=at, user_id="u001", user_agent=None),
        event_row(organization_id="org_a", event_time=at, user_id=None, resource_id=None),
        event_row(organization_id="org_a", event_time=at, user_id="u002", resource_type=None),
    ]
    with db.writer() as session:
        insert_events(session, odd)
    model = ReadModel(db)
    loaded = load_user_days(model, "org_a", end - timedelta(days=3), end, history_days=5)
    expected = model.user_day_features("org_a", loaded.start_day, end)
    # The user-less day is in the read model's figures but is nobody to score.
    assert expected["user_id"].isna().sum() == 1
    expected = expected.loc[expected["user_id"].notna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded.features, expected)


def test_detections_bulk_reads_get_their_own_time_limit(seeded, monkeypatch):
    # An organisation of thousands of users outlasts an interactive read's limit in these
    # reads; every other statement keeps the configured one.
    from detection.pipeline import READ_TIMEOUT_MS

    db, _events, labels, roster = seeded
    end = max(label["day"] for label in labels)
    limits: list[tuple[str, int | None]] = []
    session = db.org_session

    def recording(org_id, **kwargs):
        limits.append((org_id, kwargs.get("timeout_ms")))
        return session(org_id, **kwargs)

    monkeypatch.setattr(db, "org_session", recording)
    run_detection(db, "org_a", start=end - timedelta(days=2), end=end, peer_groups=roster)
    bulk = [limit for _, limit in limits if limit == READ_TIMEOUT_MS]
    # The three user-day reads, the hourly profiles and the raw-event slices at least.
    assert len(bulk) >= 5 and db.settings.statement_timeout_ms < READ_TIMEOUT_MS
