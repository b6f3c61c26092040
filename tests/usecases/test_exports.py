"""Exports: byte-exact CSV (formula cells escaped, \\r\\n), exact NDJSON, org isolation, and
every export recorded in audit_exports and as an audit event."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from sql.export_log import EMPTY_SHA256
from sql.settings import DATABASE_URL_ENV
from tests.factories import event_row
from usecases.exports import (
    REVIEW_THRESHOLD,
    Exporter,
    ExportStream,
    escape_cell,
    export_events,
)

ANN = Exporter(user_id="u_ann", email="ann@example.com", session_id="dash_1")
T = datetime(2025, 1, 15, 14, 32, 15, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (" =1+1", "' =1+1"),
        ("\n=HYPERLINK(1)", "'\n=HYPERLINK(1)"),
        ("\r\n \t+1", "'\r\n \t+1"),
        ("\u3000\u200b@SUM(A1)", "'\u3000\u200b@SUM(A1)"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("\uff0bcmd", "'\uff0bcmd"),
        ("\uff0d2", "'\uff0d2"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("\ufe66cmd", "'\ufe66cmd"),
        ("  plain text", "  plain text"),
        ("\uff41=1", "\uff41=1"),
        ("caf\u00e9", "caf\u00e9"),
        ("   ", "   "),
    ],
)
def test_escape_cell(cell, escaped):
    assert escape_cell(cell) == escaped


@pytest.fixture
def hostile(db):
    rows = [
        event_row(
            id="e1",
            event_time=T,
            user_id='=HYPERLINK("http://x")',
            user_email="ann@example.com",
            resource_id="@payload",
            user_agent='Mo"zilla, 5',
            details={"query": "=cmd|' /C calc'!A0"},
            session_id="-s1",
        ),
        event_row(
            id="e2",
            event_time=T.replace(microsecond=0, second=16),
            user_id="+u2",
            user_agent="\tTab",
            resource_id="line\r\nbreak",
            ip_address=None,
            details={},
            session_id=None,
        ),
        event_row(id="b1", organization_id="org_b", event_time=T, user_id="=other-org"),
    ]
    with db.writer() as s:
        insert_events(s, rows)
    return db


def _seqs(db):
    with db.org_session("org_a") as s:
        return dict(s.execute("SELECT id, ingest_seq FROM org_audit_events").rows)


def test_csv_is_escaped_byte_for_byte(hostile):
    out = io.BytesIO()
    result = export_events(hostile, "org_a", EventFilter(), "csv", out, exporter=ANN)
    seq = _seqs(hostile)
    expected = (
        "id,event_time,event_type,event_action,user_id,user_email,ip_address,user_agent,"
        "resource_type,resource_id,details,session_id,ingest_seq\r\n"
        'e1,2025-01-15T14:32:15.123000Z,log_access,search,"\'=HYPERLINK(""http://x"")",'
        'ann@example.com,192.168.1.100,"Mo""zilla, 5",source,\'@payload,'
        '"{""query"":""=cmd|\' /C calc\'!A0""}",\'-s1,' + str(seq["e1"]) + "\r\n"
        "e2,2025-01-15T14:32:16.000000Z,log_access,search,'+u2,john@company.com,,'\tTab,"
        'source,"line\r\nbreak",{},,' + str(seq["e2"]) + "\r\n"
    ).encode()
    assert out.getvalue() == expected
    assert result.rows == 2 and result.sha256 == hashlib.sha256(expected).hexdigest()
    assert b"other-org" not in out.getvalue()


def test_ndjson_keeps_values_exact(hostile):
    out = io.BytesIO()
    result = export_events(hostile, "org_a", EventFilter(), "ndjson", out, exporter=ANN)
    lines = out.getvalue().decode().split("\n")
    assert lines[-1] == "" and len(lines) == 3
    first = json.loads(lines[0])
    assert first["user_id"] == '=HYPERLINK("http://x")'
    assert first["details"] == {"query": "=cmd|' /C calc'!A0"}
    assert first["event_time"] == "2025-01-15T14:32:15.123000Z"
    assert json.loads(lines[1])["ip_address"] is None
    assert result.rows == 2 and result.mime == "application/x-ndjson"


def test_every_export_is_recorded_and_audited(hostile):
    f = EventFilter.parse("user:+u2")
    out = io.BytesIO()
    result = export_events(hostile, "org_a", f, "csv", out, exporter=ANN)
    with hostile.org_session("org_a") as s:
        (record,) = s.execute("SELECT * FROM org_audit_exports").dicts()
        (event,) = s.execute("SELECT * FROM org_audit_events WHERE event_action = 'export'").dicts()
    assert record["exported_by"] == "ann@example.com" and record["row_count"] == 1
    assert record["sha256"] == hashlib.sha256(out.getvalue()).hexdigest()
    assert record["filter"]["query"] == "user:+u2" and record["filter_text"] == f.describe()
    assert record["flagged_for_review"] is False and record["export_format"] == "csv"
    assert event["event_type"] == "data_modification" and event["resource_type"] == "audit_log"
    assert event["user_id"] == "u_ann" and event["session_id"] == "dash_1"
    assert event["details"]["records"] == 1 and event["details"]["sha256"] == result.sha256
    assert event["details"]["export_id"] == result.export_id
    with hostile.org_session("org_b") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_exports") == 0


def _as_superuser(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _records(db) -> list[dict]:
    with db.org_session("org_a") as s:
        return s.execute("SELECT * FROM org_audit_exports ORDER BY export_id").dicts()


def test_the_export_is_recorded_before_its_first_byte(hostile):
    stream = ExportStream(hostile, "org_a", EventFilter.parse("user:+u2"), "csv", exporter=ANN)
    chunks = iter(stream)
    first = next(chunks)
    (started,) = _records(hostile)  # the first byte is out: its export is on record
    assert started["export_id"] == stream.export_id and started["ended_at"] is None
    assert started["exported_by"] == "ann@example.com" and started["filter_text"]
    assert started["filter"]["query"] == "user:+u2" and started["row_count"] == 0
    assert started["sha256"] == EMPTY_SHA256 and started["completed"] is False
    rest = b"".join(chunks)
    (ended,) = _records(hostile)  # the same row, finalised: counts never double
    assert ended["export_id"] == started["export_id"] and ended["ended_at"] is not None
    assert ended["completed"] is True and ended["row_count"] == 1
    assert ended["sha256"] == hashlib.sha256(first + rest).hexdigest()
    assert ended["exported_at"] == started["exported_at"]


def test_no_byte_leaves_when_the_export_cannot_be_recorded(hostile, fresh_database):
    _as_superuser(fresh_database, "REVOKE INSERT ON audit_exports FROM auditlens_writer")
    out = io.BytesIO()
    with pytest.raises(Exception, match="permission"):
        export_events(hostile, "org_a", EventFilter(), "csv", out, exporter=ANN)
    assert out.getvalue() == b""
    assert _records(hostile) == []


class _GoneAfterFirstChunk(io.BytesIO):
    """A file whose database becomes unwritable (the outcome cannot be stored) once the first
    chunk is in, and whose client goes away at the second."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def write(self, chunk) -> int:  # type: ignore[override]
        if self.tell():
            raise OSError("the client went away")
        _as_superuser(self.url, "REVOKE UPDATE ON audit_exports FROM auditlens_writer")
        return super().write(chunk)


def test_an_export_cut_off_while_the_database_is_gone_stays_started(hostile, fresh_database):
    out = _GoneAfterFirstChunk(fresh_database)
    stream = ExportStream(hostile, "org_a", EventFilter(), "ndjson", exporter=ANN, batch_size=1)
    with pytest.raises(OSError, match="went away"):
        for chunk in stream:
            out.write(chunk)
    assert out.getvalue() and stream.result is None
    (record,) = _records(hostile)  # who, when, what: on record; the outcome: unknown
    assert record["export_id"] == stream.export_id and record["ended_at"] is None
    assert record["exported_by"] == "ann@example.com" and record["completed"] is False
    with hostile.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events WHERE event_action = 'export'") == 0


def test_an_export_failing_partway_is_finalised_with_what_went_out(hostile):
    out = io.BytesIO()
    stream = ExportStream(hostile, "org_a", EventFilter(), "ndjson", exporter=ANN, batch_size=1)
    with pytest.raises(OSError):
        for chunk in stream:
            if out.tell():
                raise OSError("disk full")
            out.write(chunk)
    (record,) = _records(hostile)
    assert record["export_id"] == stream.export_id and record["ended_at"] is not None
    assert record["completed"] is False and record["row_count"] == 2  # one written, one held
    assert stream.result is not None and stream.result.export_id == stream.export_id


class _RecordWatcher(io.BytesIO):
    """A file that notes, at its first write, which exports the database holds by then."""

    def __init__(self, db) -> None:
        super().__init__()
        self.db = db
        self.records_at_first_write: list[dict] | None = None

    def write(self, chunk) -> int:  # type: ignore[override]
        if self.records_at_first_write is None:
            self.records_at_first_write = _records(self.db)
        return super().write(chunk)


def test_the_printable_report_is_recorded_before_its_bytes(hostile):
    from usecases import access_report

    query = access_report.access_query("@payload", None, T.date(), T.date())
    report = access_report.build_access_report(hostile, "org_a", query, generated_by="ann")
    out = _RecordWatcher(hostile)
    result = access_report.write_html(hostile, "org_a", report, out, exporter=ANN)
    (record,) = out.records_at_first_write or [None]
    assert record is not None and record["export_id"] == result.export_id
    assert record["export_kind"] == "access_report" and record["ended_at"] is not None
    assert record["sha256"] == hashlib.sha256(out.getvalue()).hexdigest()


class _DeadlockAfterRead(io.BytesIO):
    """An export's file that, at its first chunk, sets a trap for the export's record: a
    session queued for audit_events behind the export's read (so the record's event waits on
    it), which then asks for audit_exports, held by the record by then: a deadlock that the
    record's backend detects first (this session waits 30 s before it looks)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None
        self.trap_pid: int | None = None
        self.connected = threading.Event()

    def write(self, chunk) -> int:  # type: ignore[override]
        if self.thread is None:
            self.thread = threading.Thread(target=self._trap)
            self.thread.start()
            assert self.connected.wait(60), "the trap could not connect"
            # Only once the trap is queued behind this read may the export go on.
            self._wait_for_waiter("= %s", self.trap_pid)
        return super().write(chunk)

    def _wait_for_waiter(self, pid_test: str, pid: int | None) -> None:
        deadline = time.monotonic() + 60
        query = f"SELECT count(*) FROM pg_locks WHERE NOT granted AND pid {pid_test}"
        with psycopg.connect(self.url, autocommit=True) as watch:
            while watch.execute(query, (pid,)).fetchone()[0] == 0:  # type: ignore[index]
                assert time.monotonic() < deadline, f"no lock wait (pid {pid_test} {pid})"
                time.sleep(0.02)

    def _trap(self) -> None:
        try:
            with psycopg.connect(self.url) as trap:
                self.trap_pid = trap.info.backend_pid
                trap.execute("SET deadlock_timeout = '30s'")
                self.connected.set()
                trap.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
                self._wait_for_waiter("<> %s", self.trap_pid)  # the record, behind this lock
                trap.execute("LOCK TABLE audit_exports IN ACCESS EXCLUSIVE MODE")
        except BaseException as exc:
            self.failure = exc
            self.connected.set()


def test_an_export_whose_record_deadlocks_is_recorded_all_the_same(hostile, fresh_database):
    out = _DeadlockAfterRead(fresh_database)
    result = export_events(hostile, "org_a", EventFilter(), "csv", out, exporter=ANN)
    assert out.thread is not None
    out.thread.join(timeout=120)
    assert out.failure is None
    with hostile.org_session("org_a") as s:
        (record,) = s.execute("SELECT export_id, sha256, row_count FROM org_audit_exports").rows
    assert record == (result.export_id, hashlib.sha256(out.getvalue()).hexdigest(), result.rows)


def test_another_organisation_exports_nothing_of_org_a(hostile):
    out = io.BytesIO()
    result = export_events(
        hostile, "org_b", EventFilter.parse("user:+u2"), "csv", out, exporter=ANN
    )
    assert result.rows == 0
    assert out.getvalue() == (
        b"id,event_time,event_type,event_action,user_id,user_email,ip_address,user_agent,"
        b"resource_type,resource_id,details,session_id,ingest_seq\r\n"
    )


def test_large_export_is_flagged_for_review(db):
    rows = [event_row(event_time=T) for _ in range(REVIEW_THRESHOLD + 1)]
    with db.writer() as s:
        insert_events(s, rows)
    out = io.BytesIO()
    result = export_events(
        db, "org_a", EventFilter(), "ndjson", out, exporter=ANN, batch_size=4_000
    )
    assert result.rows == REVIEW_THRESHOLD + 1 and result.flagged_for_review
    assert out.getvalue().count(b"\n") == REVIEW_THRESHOLD + 1
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT flagged_for_review FROM org_audit_exports") is True


def test_cli_export_writes_the_same_bytes_and_records_it(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, hostile.url)
    target = tmp_path / "events.csv"
    result = CliRunner().invoke(
        app, ["export", "events", "--org", "org_a", "--query", "user:+u2", "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert (
        data.endswith(b"\r\n") and b"'+u2" in data and data.count(b"\r\n") == 3
    )  # header, row, and the row's own CRLF
    assert hashlib.sha256(data).hexdigest() in result.output
    with hostile.org_session("org_a") as s:
        assert s.scalar("SELECT exported_by FROM org_audit_exports").startswith("cli:")


def test_cli_export_refuses_a_bad_query_with_its_position(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, hostile.url)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "events",
            "--org",
            "org_a",
            "--query",
            "usr:x",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code != 0
    assert "unknown qualifier 'usr'" in result.output
    assert not (tmp_path / "x.csv").exists()
