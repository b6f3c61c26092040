"""HTTPS delivery to a local receiver with a throwaway CA: crash, restart, auth, TLS checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sql.gateway import Database
from streaming import destinations
from streaming.cursor import health
from streaming.service import Streamer
from tests.streaming.helpers import in_order_once_each, order_problem, store
from tests.streaming.https_receiver import HttpsReceiver
from tests.streaming.rsyslog import free_port
from tests.streaming.test_formats import HOSTILE
from tests.streaming.tls import Certificates, make_certificates

TOKEN = "hec-token-1"
RIGHT, WRONG, DD_KEY = "right-key", "wrong-key", "dd-key"


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


@pytest.fixture
def splunk(certificates: Certificates) -> Iterator[HttpsReceiver]:
    receiver = HttpsReceiver(certificates, free_port(), secret=TOKEN, style="splunk")
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def add(db: Database, receiver: HttpsReceiver, certificates: Certificates, **settings) -> None:
    destinations.add(
        db,
        "org_a",
        "hec",
        kind="https",
        payload=settings.pop("payload", "json"),
        settings={
            "url": f"https://127.0.0.1:{receiver.port}/services/collector/event",
            "ca_file": str(certificates.ca),
            **settings,
        },
        secret=settings.pop("secret", TOKEN),
        actor="t",
    )


def test_splunk_hec_through_a_crash_and_a_restart(
    db: Database, splunk: HttpsReceiver, certificates: Certificates
) -> None:
    store(db, 1, prefix="warm")
    add(db, splunk, certificates, style="splunk")
    expected = store(db, 100, prefix="a")
    expected += store(db, 1, prefix="hostile", details={"t": HOSTILE})
    expected += store(db, 60, prefix="b")
    splunk.crash_on_request = 2
    streamer = Streamer(db, batch=25, max_backoff=0.0)
    streamer.run_once()
    assert splunk.crashed.is_set()
    splunk.stop()
    streamer.run_once()  # down: refused
    down = destinations.get(db, "org_a", "hec")
    assert down.failures_total == 2 and down.consecutive_failures == 2 and down.last_error
    assert health(db, down).lag_events > 0
    streamer.close()

    splunk.start()
    Streamer(db, batch=25).run_once()  # a new streamer: from the stored cursor
    events = [r["event"] for r in splunk.records]
    ids = [e["id"] for e in events]
    assert in_order_once_each(ids, expected), order_problem(ids, expected)
    assert len(ids) > len(set(ids))  # the crashed batch came again: duplicates, by id only
    for record in splunk.records:
        assert record["fields"]["event_id"] == record["event"]["id"]
        assert record["sourcetype"] == "auditlens:event"
    hostile = next(e for e in events if e["id"].startswith("hostile"))
    assert hostile["details"] == {"t": HOSTILE}
    done = destinations.get(db, "org_a", "hec")
    assert (done.state, done.consecutive_failures, done.failures_total) == ("active", 0, 2)
    assert done.events_sent >= len(expected)
    assert health(db, done).lag_events == 0


def test_hmac_signature_and_a_wrong_key(db: Database, certificates: Certificates) -> None:
    receiver = HttpsReceiver(certificates, free_port(), secret=RIGHT, style="ndjson")
    receiver.auth = "hmac"
    receiver.start()
    try:
        add(db, receiver, certificates, style="ndjson", auth="hmac", secret=WRONG)
        store(db, 3)
        Streamer(db, failing_after=1).run_once()
        dest = destinations.get(db, "org_a", "hec")
        assert dest.state == "failing"
        assert "HTTP 401" in (dest.last_error or "")
        assert receiver.records == []
        destinations.remove(db, "org_a", "hec", actor="t")
        add(db, receiver, certificates, style="ndjson", auth="hmac", secret=RIGHT)
        ids = store(db, 3, prefix="ok")
        Streamer(db).run_once()
        assert [r["id"] for r in receiver.records if r["id"].startswith("ok")] == ids
    finally:
        receiver.stop()


def test_datadog_logs_carry_ocsf(db: Database, certificates: Certificates) -> None:
    receiver = HttpsReceiver(certificates, free_port(), secret=DD_KEY, style="datadog")
    receiver.header, receiver.header_value = "DD-API-KEY", DD_KEY
    receiver.start()
    try:
        add(db, receiver, certificates, style="datadog", payload="ocsf", secret=DD_KEY)
        ids = store(db, 2, event_type="data_modification", event_action="export")
        Streamer(db).run_once()
        logs = [r for r in receiver.records if r["event_id"] in ids]
        assert [r["event_id"] for r in logs] == ids
        record = json.loads(logs[0]["message"])
        assert (record["class_uid"], record["activity_id"]) == (6001, 7)
        assert logs[0]["ddsource"] == "auditlens"
    finally:
        receiver.stop()


def test_datadog_gets_at_most_1000_logs_a_request(db: Database, certificates: Certificates) -> None:
    receiver = HttpsReceiver(certificates, free_port(), secret=DD_KEY, style="datadog")
    receiver.header, receiver.header_value = "DD-API-KEY", DD_KEY
    receiver.max_entries = 1000  # Datadog's limit: a larger request is refused
    receiver.answer = b"{}" + b" " * 2000  # a long answer, read before the next request
    receiver.start()
    try:
        add(db, receiver, certificates, style="datadog", secret=DD_KEY)
        ids = store(db, 2500)
        Streamer(db, batch=2000).run_once()
        got = [r["event_id"] for r in receiver.records if r["event_id"] in ids]
        assert got == ids, order_problem(got, ids)
        assert max(receiver.entries) == 1000
        assert destinations.get(db, "org_a", "hec").failures_total == 0
    finally:
        receiver.stop()


def test_an_untrusted_certificate_is_refused(
    db: Database, splunk: HttpsReceiver, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    add(db, splunk, make_certificates(other), style="splunk")  # trusts another CA
    store(db, 2)
    Streamer(db).run_once()
    dest = destinations.get(db, "org_a", "hec")
    assert "CERTIFICATE_VERIFY_FAILED" in (dest.last_error or "")
    assert splunk.records == []
