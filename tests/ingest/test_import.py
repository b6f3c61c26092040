"""`auditlens import`: JSONL/CSV/gzip, summary with line numbers, exit codes, re-import adds
nothing, dry run writes nothing, hostile files never crash it."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.files import import_file
from ingest.gil import INGEST_SWITCH_INTERVAL
from tests.ingest.hostile import hostile_events, mostly_valid_events
from tests.run_cli import run_cli


def event(i: int, **extra):
    base = {
        "timestamp": f"2025-01-15T14:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "event_type": "log_access",
        "event_action": "search",
        "organization_id": "org_a",
        "user_id": f"user_{i % 7}",
        "ip_address": "10.0.0.1",
        "details": {"query": f"level:error n={i}"},
    }
    base.update(extra)
    return base


def cli(*args: str, db) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"AUDITLENS_DATABASE_URL": db.url})


def count(db, table="org_audit_events", org="org_a"):
    with db.org_session(org) as s:
        return s.scalar(f"SELECT count(*) FROM {table}")


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_reports_rejects_with_line_numbers_and_exit_code_1(db, tmp_path):
    lines = [json.dumps(event(i)) for i in range(10)]  # no ids: content-derived
    lines[3] = json.dumps(event(3, ip_address="999.0.0.1"))
    lines[6] = "{not json"
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    first = cli("import", "--org", "org_a", str(path), db=db)
    assert first.returncode == 1, first.stderr
    assert "10 events: 8 accepted, 0 duplicates, 2 rejected" in first.stdout
    assert f"{path}:4: ip_address:" in first.stdout
    assert f"{path}:7: line: is not valid JSON" in first.stdout
    assert count(db) == 8 and count(db, "org_audit_rejects") == 2

    again = cli("import", str(path), db=db)
    assert again.returncode == 1
    assert "8 duplicates" in again.stdout
    assert count(db) == 8, "re-importing the same file adds nothing"


def test_clean_gzip_csv_import_exits_0_and_reimport_adds_nothing(db, tmp_path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "event_type", "event_action", "organization_id", "details"])
        for i in range(50):
            e = event(i)
            out.writerow(
                [e["timestamp"], "log_access", "view_logs", "org_a", json.dumps(e["details"])]
            )
    first = cli("import", str(path), db=db)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "50 events: 50 accepted" in first.stdout
    second = cli("import", str(path), db=db)
    assert second.returncode == 0 and "50 duplicates" in second.stdout
    assert count(db) == 50
    with db.admin() as s:  # the import refreshed the read model (rollups) afterwards
        assert s.scalar("SELECT events_total FROM rollup_state WHERE name = 'events'") == 50


def test_dry_run_writes_nothing(db, tmp_path):
    path = write_jsonl(tmp_path / "e.ndjson", [json.dumps(event(i)) for i in range(5)])
    result = cli("import", "--dry-run", str(path), db=db)
    assert result.returncode == 0 and "5 would be offered" in result.stdout
    assert count(db) == 0


def test_unusable_input_exits_2_with_one_line(db, tmp_path):
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("when,what\n1,2\n")
    result = cli("import", str(bad_header), db=db)
    assert result.returncode == 2
    assert "unknown CSV column 'when'" in result.stderr
    missing = cli("import", str(tmp_path / "nope.jsonl"), db=db)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_csv_rows_with_nul_and_wrong_width_are_rejected_not_fatal(db, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(
        b"timestamp,event_type,event_action,organization_id\n"
        b"2025-01-15T14:00:00Z,login,login,org_a\n"
        b"2025-01-15T14:00:01Z,login,lo\x00gin,org_a\n"
        b"2025-01-15T14:00:02Z,login\n"
        b"2025-01-15T14:00:03Z,login,\xff\xfe,org_a\n"
        b"2025-01-15T14:00:04Z,login,logout,org_a\n"
    )
    result = import_file(db, path)
    assert (result.sent, result.accepted, result.rejected) == (5, 2, 3)
    assert [r.position for r in result.rejections] == [3, 4, 5]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            hostile_events().map(lambda e: json.dumps(e, default=repr)),
            mostly_valid_events().map(lambda e: json.dumps(e, default=repr)),
            st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ").decode("latin-1")),
        ),
        min_size=1,
        max_size=25,
    )
)
@example(["\x1c", "\x85", " \t"])  # str whitespace that is not blank bytes; a blank line
def test_hostile_files_always_add_up(db, tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("hostile") / "h.jsonl"
    path.write_bytes(b"\n".join(line.encode("utf-8", "surrogatepass") for line in lines) + b"\n")
    # Blank as the importer sees it: ASCII whitespace of the bytes (str.strip would also drop
    # '\x1c' or '\x85', which the importer rightly sends on and rejects as bad JSON).
    non_blank = sum(1 for line in lines if line.encode("utf-8", "surrogatepass").strip())
    with db.admin() as s:
        before = s.scalar("SELECT count(*) FROM audit_events")
    result = import_file(db, path, batch_size=7)
    assert result.sent == non_blank and result.balanced
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_events") - before == result.accepted


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_import_streams_in_batches(db, tmp_path, fmt):
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "big.jsonl", [json.dumps(event(i)) for i in range(1200)])
    else:
        path = tmp_path / "big.csv"
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["timestamp", "event_type", "event_action", "organization_id"])
            for i in range(1200):
                out.writerow([event(i)["timestamp"], "login", f"a{i}", "org_a"])
    seen: list[int] = []
    result = import_file(db, path, batch_size=100, progress=seen.append)
    assert result.accepted == 1200 and len(seen) == 12
    assert seen == sorted(seen)


def test_an_endless_line_is_rejected_without_reading_it_whole(db, tmp_path):
    path = tmp_path / "long.jsonl"
    with path.open("wb") as f:
        f.write(json.dumps(event(1)).encode() + b"\n")
        f.write(b'{"details": "' + b"x" * (3 * 1024 * 1024) + b'"}\n')
        f.write(json.dumps(event(2)).encode() + b"\n")
    result = import_file(db, path)
    assert (result.accepted, result.rejected) == (2, 1)
    assert result.rejections[0].position == 2 and "longer than" in result.rejections[0].reason


def test_the_import_runs_with_a_short_switch_interval_and_restores_it(db, tmp_path, monkeypatch):
    """Writer threads wait on the server while the reader checks the next batch: during the
    import the GIL switch interval is short (ingest/gil.py), and afterwards what it was."""
    import ingest.files

    seen = []
    write_rows = ingest.files.EventWriter.write_rows

    def spy(self, *args):
        seen.append(sys.getswitchinterval())
        return write_rows(self, *args)

    monkeypatch.setattr(ingest.files.EventWriter, "write_rows", spy)
    path = write_jsonl(tmp_path / "few.jsonl", [json.dumps(event(i)) for i in range(3)])
    before = sys.getswitchinterval()
    result = import_file(db, path, batch_size=1)
    assert result.accepted == 3
    assert len(seen) == 3 and max(seen) <= INGEST_SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before


def test_batches_commit_without_waiting_and_the_import_waits_once_at_the_end(
    db, tmp_path, monkeypatch
):
    """Each batch of an import commits with synchronous_commit off; before import_file
    reports anything it makes every batch durable (one synchronous commit after the last)."""
    import ingest.files
    import ingest.writer

    calls = []
    write_checked = ingest.writer.EventWriter.write_checked

    def spy(self, session, *args):
        calls.append(("batch", session.scalar("SELECT current_setting('synchronous_commit')")))
        return write_checked(self, session, *args)

    def durable(database):
        calls.append(("durable", None))
        ingest.writer.make_durable(database)

    monkeypatch.setattr(ingest.writer.EventWriter, "write_checked", spy)
    monkeypatch.setattr(ingest.files, "make_durable", durable)
    path = write_jsonl(tmp_path / "few.jsonl", [json.dumps(event(i)) for i in range(4)])
    assert import_file(db, path, batch_size=2).accepted == 4
    assert calls == [("batch", "off"), ("batch", "off"), ("durable", None)]
    assert count(db) == 4
