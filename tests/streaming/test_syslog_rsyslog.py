"""Syslog to a real rsyslogd over TCP and TLS: kills, restarts, hostile events, health."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sql.gateway import Database
from streaming import destinations
from streaming.cursor import health
from streaming.service import Streamer
from streaming.syslog import SyslogSender
from tests.streaming.helpers import in_order_once_each, order_problem, store
from tests.streaming.rsyslog import Rsyslog
from tests.streaming.test_formats import HOSTILE, parse_cef
from tests.streaming.tls import make_certificates

_RECORD = re.compile(r'\[auditlens@32473 id="((?:[^"\\\]]|\\.)*)" org="([^"]*)"\] (.*)')


def parse(line: str) -> tuple[str, str]:
    match = _RECORD.fullmatch(line)
    assert match, f"not one whole record: {line[:120]!r}"
    return re.sub(r"\\(.)", r"\1", match.group(1)), match.group(3)


@pytest.fixture(params=["tcp", "tls"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Rsyslog, dict]]:
    certificates = make_certificates(tmp_path) if request.param == "tls" else None
    rsyslog = Rsyslog(tmp_path, certificates)
    rsyslog.start()
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": rsyslog.port, "timeout": 10}
    if certificates is not None:
        settings.update(tls=True, ca_file=str(certificates.ca))
    try:
        yield rsyslog, settings
    finally:
        rsyslog.kill()


@pytest.mark.parametrize("payload", ["json", "cef"])
def test_every_event_arrives_in_order_through_kills_and_restarts(
    db: Database, receiver: tuple[Rsyslog, dict], payload: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rsyslog, settings = receiver
    store(db, 1, prefix="warm")
    destinations.add(
        db, "org_a", "siem", kind="syslog", payload=payload, settings=settings, actor="t"
    )
    store(db, 1, org="org_b", prefix="other")
    expected = store(db, 120, prefix="a")
    expected += store(
        db,
        1,
        prefix='hostile"] [x id="forged"]\\',
        user_id='u"] [x id="forged"]',
        details={"t": HOSTILE},
    )
    expected += store(db, 80, prefix="b")

    # Kill the receiver mid-stream: after two batches were taken, before the third connects.
    # (Plain syslog has no acknowledgement: a receiver killed after reading a batch but
    # before writing it loses that batch, so the kill lands between batches; the HTTPS
    # tests cover a receiver dying after it took a batch.)
    real_send = SyslogSender.send
    calls = {"n": 0}

    def send_or_die(self: SyslogSender, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            rsyslog.kill()
        real_send(self, batch)

    monkeypatch.setattr(SyslogSender, "send", send_or_die)
    streamer = Streamer(db, batch=40, max_backoff=0.0)
    streamer.run_once()
    down = destinations.get(db, "org_a", "siem")
    assert down.consecutive_failures == 1 and "Connection refused" in (down.last_error or "")
    assert down.events_sent == 80  # two batches taken before the kill
    assert health(db, down).lag_events > 0
    streamer.run_once()  # still down: another failure, the cursor stays
    assert destinations.get(db, "org_a", "siem").failures_total >= 2
    streamer.close()

    rsyslog.start()
    monkeypatch.setattr(SyslogSender, "send", real_send)
    Streamer(db, batch=40).run_once()  # a new streamer resumes from the stored cursor

    received = [parse(line) for line in rsyslog.lines()]
    ids = [event_id for event_id, _ in received]
    last = destinations.get(db, "org_a", "siem")
    assert in_order_once_each(ids, expected), (order_problem(ids, expected), last.last_error)
    assert not any(i.startswith("other") for i in ids)
    for event_id, body in received:
        if payload == "json":
            assert json.loads(body)["id"] == event_id
        else:
            assert parse_cef(body)[1]["externalId"] == event_id
    hostile_bodies = [b for i, b in received if i.startswith("hostile")]
    assert hostile_bodies
    for body in hostile_bodies:
        if payload == "json":
            event = json.loads(body)
            assert event["details"] == {"t": HOSTILE}
            assert event["user_id"] == 'u"] [x id="forged"]'
        else:
            fields = parse_cef(body)[1]
            assert json.loads(fields["cs5"]) == {"t": HOSTILE}
            assert fields["suid"] == 'u"] [x id="forged"]'
    done = destinations.get(db, "org_a", "siem")
    assert done.state == "active" and done.consecutive_failures == 0
    assert done.events_sent >= len(expected)
    assert done.failures_total >= 2 and done.last_success_at is not None
    assert health(db, done).lag_events == 0
