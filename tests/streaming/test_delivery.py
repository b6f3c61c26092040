"""Delivery from the durable cursor: order, the safe watermark, filters, backfill, failures."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from streaming import destinations
from streaming.cursor import INDEX_WALK, health, pending, pending_query
from streaming.destinations import DestinationError
from streaming.formats import FORMATS, NATIVE_FIELDS, encoder
from streaming.service import Streamer, background_streaming
from streaming.times import as_moment, utc_iso, utc_iso_sql
from tests.factories import event_row
from tests.streaming.helpers import file_ids, store, store_finding

ACTOR = "cli:test"
SECRET = "s3cret"


def add_file(db: Database, tmp_path: Path, name: str = "out", org: str = "org_a", **kw) -> Path:
    path = tmp_path / f"{org}-{name}.ndjson"
    destinations.add(
        db, org, name, kind="file", payload="json", settings={"path": str(path)}, actor=ACTOR, **kw
    )
    return path


def own_actions(db: Database, org: str) -> list[str]:
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT event_action FROM org_audit_events WHERE resource_type = 'stream_destination'"
            " ORDER BY ingest_seq"
        ).rows
    return [r[0] for r in rows]


def test_sends_in_ingest_order_and_moves_the_cursor(db: Database, tmp_path: Path) -> None:
    path = add_file(db, tmp_path)
    first = store(db, 30, prefix="a")
    second = store(db, 20, prefix="b")
    streamer = Streamer(db, batch=7)
    assert streamer.run_once() == 51  # and the destination's own "add" event
    assert [i for i in file_ids(path) if i[0] in "ab"] == first + second
    assert streamer.run_once() == 0  # caught up: nothing sent twice
    dest = destinations.get(db, "org_a", "out")
    assert dest.events_sent == 51
    assert health(db, dest).lag_events == 0
    assert own_actions(db, "org_a") == ["add_stream_destination"]


def test_an_open_transaction_holds_the_watermark(db: Database, tmp_path: Path) -> None:
    """An event of a transaction still running when later ones commit is sent before them,
    never skipped: the cursor stops below the oldest running transaction."""
    store(db, 1, prefix="warm")  # the month's partition exists: no lock on making it
    path = add_file(db, tmp_path)
    streamer = Streamer(db)
    streamer.run_once()
    with db.writer() as early:
        insert_events(early, [event_row(id="early")])
        later = store(db, 5, prefix="late")
        assert streamer.run_once() == 0
        assert "early" not in file_ids(path) and not set(later) & set(file_ids(path))
    streamer.run_once()
    got = file_ids(path)
    assert got[-6:] == ["early", *later]


def test_filter_in_explore_syntax(db: Database, tmp_path: Path) -> None:
    path = add_file(db, tmp_path, query="action:export")
    store(db, 5, prefix="s", event_action="search")
    exports = store(db, 3, prefix="x", event_type="data_modification", event_action="export")
    Streamer(db, batch=2).run_once()
    assert file_ids(path) == exports
    assert destinations.get(db, "org_a", "out").events_sent == 3
    with pytest.raises(Exception, match=r"^query: .*nosuch"):
        add_file(db, tmp_path, name="bad", query="nosuch:thing")


def test_second_organisation_is_never_sent(db: Database, tmp_path: Path) -> None:
    path_a = add_file(db, tmp_path, org="org_a")
    path_b = add_file(db, tmp_path, org="org_b")
    a = store(db, 4, org="org_a", prefix="a")
    b = store(db, 3, org="org_b", prefix="b")
    Streamer(db).run_once()
    assert [i for i in file_ids(path_a) if i[0] == "a"] == a
    assert [i for i in file_ids(path_b) if i[0] == "b"] == b
    assert not {i for i in file_ids(path_a) if i[0] == "b"}
    assert [d.name for d in destinations.list_destinations(db, "org_b")] == ["out"]
    with pytest.raises(DestinationError, match="has no destination"):
        destinations.pause(db, "org_c", "out", actor=ACTOR)


def test_backfill_from_a_time(db: Database, tmp_path: Path) -> None:
    old = store(db, 3, prefix="o", event_time=datetime(2024, 1, 1, tzinfo=UTC))
    recent = store(db, 2, prefix="r", event_time=datetime(2025, 6, 1, tzinfo=UTC))
    path = add_file(db, tmp_path)
    streamer = Streamer(db)
    streamer.run_once()
    assert not set(file_ids(path)) & set(old + recent)
    destinations.backfill(db, "org_a", "out", datetime(2025, 1, 1, tzinfo=UTC), actor=ACTOR)
    after = store(db, 2, prefix="n", event_time=datetime(2023, 1, 1, tzinfo=UTC))
    streamer.run_once()
    got = [i for i in file_ids(path) if i[0] in "orn"]
    assert got == recent + after  # older than the backfill's time: not re-sent; new: all
    dest = destinations.get(db, "org_a", "out")
    assert dest.backfill_from is None
    assert own_actions(db, "org_a") == ["add_stream_destination", "backfill_stream_destination"]


def test_failures_back_off_mark_failing_and_resume_where_they_stopped(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    path = folder / "out.ndjson"
    destinations.add(
        db, "org_a", "out", kind="file", payload="json", settings={"path": str(path)}, actor=ACTOR
    )
    ids = store(db, 10)
    folder.rmdir()  # the receiver is gone: every send fails
    streamer = Streamer(db, failing_after=3, max_backoff=0.0)
    for _ in range(3):
        assert streamer.run_once() == 0
    dest = destinations.get(db, "org_a", "out")
    assert (dest.state, dest.consecutive_failures, dest.failures_total) == ("failing", 3, 3)
    assert "FileNotFoundError" in (dest.last_error or "")
    assert health(db, dest).lag_events == 11
    folder.mkdir()
    assert streamer.run_once() == 11
    dest = destinations.get(db, "org_a", "out")
    assert (dest.state, dest.consecutive_failures, dest.failures_total) == ("active", 0, 3)
    assert file_ids(path)[-10:] == ids
    assert dest.last_success_at is not None


def test_backoff_waits_before_retrying(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    destinations.add(
        db,
        "org_a",
        "out",
        kind="file",
        payload="json",
        settings={"path": str(folder / "o")},
        actor=ACTOR,
    )
    folder.rmdir()
    streamer = Streamer(db, max_backoff=3600.0)
    streamer.run_once()
    streamer.run_once()  # not due yet: no second attempt
    assert destinations.get(db, "org_a", "out").failures_total == 1


def test_paused_sends_nothing_and_resume_goes_on(db: Database, tmp_path: Path) -> None:
    path = add_file(db, tmp_path)
    destinations.pause(db, "org_a", "out", actor=ACTOR)
    ids = store(db, 3)
    streamer = Streamer(db)
    assert streamer.run_once() == 0
    destinations.resume(db, "org_a", "out", actor=ACTOR)
    streamer.run_once()
    assert [i for i in file_ids(path) if i[0] == "e"] == ids
    assert own_actions(db, "org_a")[-2:] == [
        "pause_stream_destination",
        "resume_stream_destination",
    ]


def test_remove_is_audited(db: Database, tmp_path: Path) -> None:
    add_file(db, tmp_path)
    destinations.remove(db, "org_a", "out", actor=ACTOR)
    assert destinations.list_destinations(db, "org_a") == []
    assert own_actions(db, "org_a")[-1] == "remove_stream_destination"


@pytest.mark.parametrize(
    ("kind", "settings", "field"),
    [
        ("syslog", {"host": "x", "port": 0}, "port"),
        ("syslog", {"host": "a b", "port": 514}, "host"),
        ("https", {"url": "http://x"}, "url"),
        ("https", {"url": "https://x", "style": "xml"}, "style"),
        ("file", {"path": "relative.ndjson"}, "path"),
        ("mail", {}, "kind"),
    ],
)
def test_bad_settings_name_the_field(db: Database, kind: str, settings: dict, field: str) -> None:
    with pytest.raises(DestinationError, match=f"^{field}: "):
        destinations.add(
            db,
            "org_a",
            "x",
            kind=kind,
            payload="json",
            settings=settings,
            secret=SECRET,
            actor=ACTOR,
        )


def test_readers_see_their_destinations_but_never_the_secret(db: Database) -> None:
    destinations.add(
        db,
        "org_a",
        "hec",
        kind="https",
        payload="json",
        settings={"url": "https://splunk.example:8088/services/collector/event", "style": "splunk"},
        secret=SECRET,
        actor=ACTOR,
    )
    with db.org_session("org_a") as session:
        assert session.scalar("SELECT name FROM stream_destinations") == "hec"
        with pytest.raises(Exception, match="permission denied"):
            session.scalar("SELECT secret FROM stream_destinations")
    with db.org_session("org_b") as session:
        assert session.scalar("SELECT count(name) FROM stream_destinations") == 0


def test_pending_reads_native_rows(db: Database, tmp_path: Path) -> None:
    add_file(db, tmp_path)
    store(db, 1, details={"text": "a\nb"})
    batch = pending(db, destinations.get(db, "org_a", "out"))
    assert batch.events[-1]["details"] == {"text": "a\nb"}
    assert json.dumps(batch.end)


@pytest.mark.parametrize("payload", list(FORMATS))
def test_a_batch_encodes_as_the_stored_event_does(
    db: Database, tmp_path: Path, payload: str
) -> None:
    """The batch read has the server write times, addresses and details as text; each format
    writes the same line from it as from the event's stored values read as Python objects."""
    add_file(db, tmp_path)
    details = {"big": 2**70, "digits": "1" * 25, "text": 'a\n"b" é漢🙂', "n": [1.5, None, True]}
    store(db, 1, prefix="t", details=details, event_time=datetime(999, 3, 1, 1, 2, 3, tzinfo=UTC))
    store(db, 1, prefix="u", ip_address="2001:db8::1", user_email=None)
    store(db, 1, prefix="v", event_time=datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC))
    batch = pending(db, destinations.get(db, "org_a", "out"))
    with db.org_session("org_a") as session:
        stored = session.execute(
            f"SELECT {', '.join(NATIVE_FIELDS)} FROM org_audit_events"
            " WHERE id IN ('t000000', 'u000000', 'v000000') ORDER BY ingest_seq"
        ).dicts()
    read = [e for e in batch.events if e["id"] in ("t000000", "u000000", "v000000")]
    assert read[0]["details"] == details
    encode = encoder(payload)
    assert [encode(e) for e in read] == [encode(e) for e in stored]


def test_the_server_writes_times_as_python_does(db: Database) -> None:
    moments = [
        datetime(2025, 1, 15, 14, 32, 15, tzinfo=UTC),
        datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 3, 1, 1, 2, 3, 40, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    ]
    with db.admin() as session:
        session.execute("SET LOCAL TimeZone = 'Asia/Kolkata'")  # the text is UTC whatever this is
        written = [
            session.scalar(
                f"SELECT {utc_iso_sql('t')} FROM (SELECT CAST(:t AS timestamptz) AS t) s",
                {"t": moment},
            )
            for moment in moments
        ]
    assert written == [utc_iso(m) for m in moments]
    assert [as_moment(w) for w in written] == moments


def test_run_stops_when_asked(db: Database, tmp_path: Path) -> None:
    path = add_file(db, tmp_path)
    store(db, 2)
    stop = threading.Event()
    streamer = Streamer(db)
    thread = threading.Thread(target=streamer.run, args=(stop,), kwargs={"poll_seconds": 0.05})
    thread.start()
    try:
        for _ in range(200):
            if len(file_ids(path)) >= 3:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert len(file_ids(path)) == 3


def test_findings_stream_after_events_in_their_own_order(db: Database, tmp_path: Path) -> None:
    path = add_file(db, tmp_path)
    off = add_file(db, tmp_path, name="events-only", findings=False)
    store(db, 2)
    store_finding(db, "org_a", "f1", title="a|b\nc")
    store_finding(db, "org_a", "f2")
    store_finding(db, "org_b", "fb")
    with db.writer() as early:
        early.execute(
            "INSERT INTO detection_runs (organization_id, start_day, end_day, actor, rules)"
            " VALUES ('org_a', '2025-01-15', '2025-01-15', 't', '{}')"
        )
        store_finding(db, "org_a", "f3")  # commits while an older transaction still runs
        Streamer(db).run_once()
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        assert [x["finding_id"] for x in lines if x.get("kind") == "finding"] == ["f1", "f2"]
    Streamer(db).run_once()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    found = [x for x in lines if x.get("kind") == "finding"]
    assert [x["finding_id"] for x in found] == ["f1", "f2", "f3"]
    assert found[0]["title"] == "a|b\nc"
    assert destinations.get(db, "org_a", "out").findings_sent == 3
    assert not any(json.loads(x).get("kind") == "finding" for x in off.read_text().splitlines())


def test_background_streaming_sends_while_the_block_runs(db: Database, tmp_path: Path) -> None:
    """What `auditlens run` and `serve-ingest` wrap themselves in."""
    path = add_file(db, tmp_path)
    ids = store(db, 3)
    logged: list[str] = []
    with background_streaming(db, logged.append):
        for _ in range(400):
            if set(ids) <= set(file_ids(path)):
                break
            threading.Event().wait(0.05)
    assert [i for i in file_ids(path) if i in ids] == ids
    assert logged == []


def test_a_batch_reads_only_its_own_rows_after_a_bulk_import(db: Database, tmp_path: Path) -> None:
    """Early in one transaction's 3,000 events, with no statistics gathered yet (right after
    an import), a batch of 100 reads about 100 rows, not every event after the cursor."""
    add_file(db, tmp_path)
    store(db, 3000, prefix="big")
    dest = destinations.get(db, "org_a", "out")
    first = pending(db, dest, limit=100)
    assert first.end is not None
    xid, seq = first.end
    sql, params = pending_query(
        db, dataclasses.replace(dest, cursor_xid=xid, cursor_seq=seq), limit=100
    )
    with db.org_session("org_a") as session:
        session.execute(INDEX_WALK)
        plan = session.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).rows[0][0]
    read = _rows_read(plan[0]["Plan"])
    assert read <= 110, f"the batch read {read} rows"


def _rows_read(node: dict[str, Any]) -> int:
    """Rows the plan's scans returned (a scan of a partition counts each of its loops)."""
    own = node["Actual Rows"] * node["Actual Loops"] if "Scan" in node["Node Type"] else 0
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


def test_a_backfill_asked_for_during_a_send_is_not_skipped_by_the_batch_read_ahead(
    db: Database, tmp_path: Path
) -> None:
    """While the first batch is being sent (and the next one read ahead), a backfill resets
    the cursor: the events from the backfill's time come next, not the batch read ahead."""
    recent = store(db, 4, prefix="r", event_time=datetime(2025, 6, 1, tzinfo=UTC))
    path = add_file(db, tmp_path)
    new = store(db, 12, prefix="n", event_time=datetime(2025, 7, 1, tzinfo=UTC))
    streamer = Streamer(db, batch=5)
    sender = streamer._sender(destinations.get(db, "org_a", "out"))
    plain_send = sender.send
    calls = 0

    def send_and_backfill(batch: list[Any]) -> None:
        nonlocal calls
        calls += 1
        plain_send(batch)
        if calls == 1:
            destinations.backfill(db, "org_a", "out", datetime(2025, 1, 1, tzinfo=UTC), actor=ACTOR)

    sender.send = send_and_backfill  # type: ignore[method-assign]
    streamer.run_once()
    got = [i for i in file_ids(path) if i[0] in "rn"]
    first = got[:4]  # the first batch: the add event and four new ones
    assert first == new[:4]
    # Then from the backfill's time: the recent events (never sent before), then all new ones.
    assert got[4:] == recent + new, got
    streamer.close()


def test_an_address_streams_as_an_address_without_a_netmask(db: Database, tmp_path: Path) -> None:
    # inet's text cast appends the netmask (192.168.1.100/32); a SIEM reads an address.
    path = add_file(db, tmp_path)
    store(db, 1, prefix="v4", ip_address="192.168.1.100")
    store(db, 1, prefix="v6", ip_address="::ffff:1.2.3.4")
    Streamer(db).run_once()
    sent = {e["id"]: e["ip_address"] for e in map(json.loads, path.read_text().splitlines())}
    assert (sent["v4000000"], sent["v6000000"]) == ("192.168.1.100", "::ffff:1.2.3.4")


def test_a_batch_does_not_walk_another_organisations_events(db: Database, tmp_path: Path) -> None:
    """org_a's destination is caught up; org_b stores 3,000 events after it: org_a's next
    read finds nothing without reading org_b's events."""
    add_file(db, tmp_path)
    Streamer(db).run_once()
    store(db, 3000, org="org_b", prefix="b")
    dest = destinations.get(db, "org_a", "out")
    sql, params = pending_query(db, dest, limit=100)
    with db.org_session("org_a") as session:
        session.execute(INDEX_WALK)
        plan = session.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).rows[0][0]
    assert _rows_read(plan[0]["Plan"]) == 0
    assert _rows_removed(plan[0]["Plan"]) <= 10, "it read another organisation's events"


def _rows_removed(node: dict[str, Any]) -> int:
    own = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
    return own + sum(_rows_removed(child) for child in node.get("Plans", []))
