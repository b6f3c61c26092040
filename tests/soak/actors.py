"""The soak's in-process actors, each a bounded loop for a thread: the expired-event seeder,
HTTP senders, dashboard-like sessions, the purger, the rollup refresher and the sealer.

Every loop ends when `stop` is set and waits on it between steps, so none outlives the soak.
Failures while the database or the receiver is away are expected and counted; what each
actor was told (acknowledged ids, exports, rows seen) goes to the ledger for the checks.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from ingest.refresh import refresh_now
from ingest.writer import EventWriter, Item, raw_bytes
from integrity.keys import SigningKey
from integrity.seal import seal_all
from sql.errors import PermissionMissing
from sql.event_filter import EventFilter
from sql.gateway import Database
from sql.retention import purge
from tests.soak.ledger import ExportSeen, Ledger
from tests.soak.workload import (
    ORGS,
    RoundState,
    contested_backs,
    event,
    expired_event,
    month_start,
    org_of,
    user_of,
)
from usecases.exports import Exporter, ExportStream

HTTP_BATCH = 20
CONTESTED_SHARE = 0.25
SEED_PER_MONTH = 4
BULK_BATCH = 200


def expired_batch(rng: random.Random, months: list[datetime], tag: str) -> list[dict[str, Any]]:
    """Expired sign-ins of every soak organisation dated into `months`."""
    return [
        expired_event(rng, org, f"{org}-x{tag}-{m_no}-{k}", month)
        for m_no, month in enumerate(months)
        for org in ORGS
        for k in range(SEED_PER_MONTH)
    ]


def seed_expired(db: Database, batch: list[dict[str, Any]], ledger: Ledger) -> bool:
    """Store `batch` (True), or False when its outcome is unknown: the caller offers the
    same batch again, a no-op for what got in."""
    items = [Item(n, raw_bytes(value), value) for n, value in enumerate(batch)]
    try:
        result = EventWriter(db, source="soak-seed").write(items)
    except Exception as exc:
        ledger.note("seed_failures", exc)
        return False
    if result.rejected:
        ledger.problem(f"seeder: {result.rejected} expired events rejected: {result.rejections}")
    ledger.seeded([value["id"] for value in batch])
    return True


def held_write(db: Database, batch: list[dict[str, Any]], hold: float, ledger: Ledger) -> bool:
    """Store `batch` as a slow bulk writer would: through the product's writer, with the
    transaction kept open `hold` seconds after the COPY (a big batch still streaming). Its
    events count as acknowledged once the commit returns; False when the outcome is unknown."""
    writer = EventWriter(db, source="soak-bulk")
    items = [Item(n, raw_bytes(value), value) for n, value in enumerate(batch)]
    rows, good, bad = writer.check(items)
    try:
        with db.writer() as session:
            result = writer.write_checked(session, rows, good, bad)
            time.sleep(hold)  # widens the window a purge must not drop the rows in
    except Exception as exc:
        ledger.note("bulk_failures", exc)
        return False
    if result.rejected:
        ledger.problem(f"bulk writer: {result.rejected} events rejected: {result.rejections}")
    ledger.ack([value["id"] for value in batch], str(batch[0]["organization_id"]), "bulk")
    return True


def _until_done(stop: threading.Event, attempt: Callable[[], bool]) -> None:
    """Run `attempt` until it succeeds or the soak stops (an outcome left unknown is offered
    again as it was, a no-op for what got in)."""
    while not attempt():
        if stop.wait(0.1):
            return


def seeder(
    db: Database,
    rng: random.Random,
    state: RoundState,
    ledger: Ledger,
    stop: threading.Event,
    *,
    round_seconds: float,
    months_per_round: int,
) -> None:
    """Round by round, fresh months: first a bulk month, alone, gets expired rows and then a
    slow bulk writer's kept events, so while that transaction is open the month holds nothing
    but expired rows (the purge must not drop it under the writer). Then the contested
    months get expired rows and are published to the producers, and keep getting more for the
    rest of the round, so a partition the purge dropped comes back."""
    round_no = 0
    while not stop.is_set():
        backs = contested_backs(round_no, months_per_round + 1)
        round_no += 1
        ends = time.monotonic() + round_seconds
        bulk_month, contested = month_start(backs[-1]), [month_start(b) for b in backs[:-1]]
        org = ORGS[round_no % len(ORGS)]
        first = expired_batch(rng, [bulk_month], f"{round_no}.p")
        _until_done(stop, partial(seed_expired, db, first, ledger))
        bulk = [
            event(rng, org, f"{org}-b{round_no}-{k}", month=bulk_month) for k in range(BULK_BATCH)
        ]
        _until_done(stop, partial(held_write, db, bulk, rng.uniform(0.2, 1.0), ledger))
        step = 0
        while not stop.is_set():
            step += 1
            batch = expired_batch(rng, contested, f"{round_no}.{step}")
            _until_done(stop, partial(seed_expired, db, batch, ledger))
            if step == 1:
                state.publish(round_no, contested)
            if time.monotonic() >= ends:
                break
            stop.wait(0.25)
    ledger.count("rounds", round_no)


def _post(port: int, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/events",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def http_sender(
    idx: int,
    port: int,
    tokens: dict[str, str],
    rng: random.Random,
    state: RoundState,
    ledger: Ledger,
    stop: threading.Event,
) -> None:
    """POST batches for one organisation; an answer 202 acknowledges every event in it.
    A batch without an answer is sent again as it was (a re-sent event is a duplicate)."""
    org = ORGS[idx % len(ORGS)]
    other = ORGS[(idx + 1) % len(ORGS)]
    n = 0
    pending: list[dict[str, Any]] | None = None
    while not stop.is_set():
        if pending is None:
            months = state.months()
            pending = []
            for _ in range(HTTP_BATCH):
                month = rng.choice(months) if months and rng.random() < CONTESTED_SHARE else None
                pending.append(event(rng, org, f"{org}-h{idx}-{n}", month=month))
                n += 1
            if n % (10 * HTTP_BATCH) == 0:
                _cross_org_attempt(port, tokens[org], other, rng, ledger)
        try:
            status, answer = _post(port, tokens[org], json.dumps(pending).encode())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            ledger.note("http_unanswered", exc)
            stop.wait(0.2)
            continue
        if status == 202:
            stored = answer["accepted"] + answer["duplicates"]
            if answer["rejected"] or stored != len(pending):
                ledger.problem(f"sender {idx}: 202 but not all stored: {answer}")
            ledger.ack([e["id"] for e in pending], org, "http")
            ledger.count(f"http_202_{answer['stored']}")
            ledger.count("http_duplicates", answer["duplicates"])
            pending = None
        elif status == 503:
            ledger.count("http_503")
            stop.wait(0.2)
        else:
            ledger.problem(f"sender {idx}: HTTP {status}: {str(answer)[:200]}")
            pending = None
        stop.wait(0.05)


def _cross_org_attempt(
    port: int, token: str, other: str, rng: random.Random, ledger: Ledger
) -> None:
    """A key of one organisation sending events that name the other: must be refused."""
    body = json.dumps([event(rng, other, f"{other}-forged-{rng.randrange(10**9)}")]).encode()
    try:
        status, _ = _post(port, token, body)
    except (OSError, http.client.HTTPException, ValueError):
        return
    if status == 403:
        ledger.count("cross_org_refused")
    elif status != 503:
        ledger.problem(f"a key sent events naming another organisation and got HTTP {status}")


def _session_filter(rng: random.Random, org: str) -> EventFilter:
    recent = datetime.now(UTC) - timedelta(minutes=15)
    choice = rng.randrange(3)
    if choice == 0:
        return EventFilter(users=(user_of(org, rng.randrange(8)),), start=recent)
    if choice == 1:
        return EventFilter(families=("config_change",), resources=(f"alert_{org}_1",))
    return EventFilter(texts=("soak",), start=recent, ips=(f"10.{ORGS.index(org)}.7.0/24",))


def session_actor(
    idx: int, db: Database, rng: random.Random, ledger: Ledger, stop: threading.Event
) -> None:
    """A dashboard-like viewer: searches its organisation's events (and, as an attacker
    would, the other's users and the base table), and every third time exports them."""
    turn = 0
    while not stop.is_set():
        org = ORGS[(idx + turn) % len(ORGS)]
        other = ORGS[(idx + turn + 1) % len(ORGS)]
        turn += 1
        try:
            _search(db, rng, org, other, ledger)
            if turn % 3 == 0:
                _export(db, rng, idx, org, ledger)
        except Exception as exc:
            ledger.note("session_errors", exc)
        stop.wait(0.3)


def _search(db: Database, rng: random.Random, org: str, other: str, ledger: Ledger) -> None:
    where, params = _session_filter(rng, org).sql_for(db)
    foreign_where, foreign_params = EventFilter(users=(user_of(other, 0),)).sql_for(db)
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT id, organization_id FROM org_audit_events"
            f" WHERE {where} ORDER BY event_time DESC LIMIT 500",
            params,
        ).rows
        rows += session.execute(
            f"SELECT id, organization_id FROM org_audit_events WHERE {foreign_where}",
            foreign_params,
            max_rows=50,
        ).rows
        try:
            rows += session.execute(
                "SELECT id, organization_id FROM audit_events WHERE organization_id = :o",
                {"o": other},
                max_rows=50,
            ).rows
        except PermissionMissing:
            ledger.count("base_table_refused")
    ledger.count("sessions")
    ledger.count("rows_seen", len(rows))
    for event_id, row_org in rows:
        if row_org != org:
            ledger.problem(f"a session of {org} saw {row_org}'s event {event_id}")


def _export(db: Database, rng: random.Random, idx: int, org: str, ledger: Ledger) -> None:
    out = io.BytesIO()
    exporter = Exporter(user_id=f"soak_viewer_{idx}", session_id=f"soak_session_{idx}")
    stream = ExportStream(db, org, _session_filter(rng, org), "ndjson", exporter=exporter)
    try:
        for chunk in stream:
            out.write(chunk)
    except Exception as exc:
        data = out.getvalue()
        if data:  # bytes reached us, then the call failed: they must be on record anyway
            rows = data.count(b"\n")
            digest = hashlib.sha256(data).hexdigest()
            failure = str(exc).splitlines()[0][:200]
            ledger.export(ExportSeen(org, digest, rows, stream.export_id, failure))
            ledger.note("exports_failed_after_bytes", exc)
        raise
    result = stream.result
    if result is None:
        raise RuntimeError(f"the export of {org} ended without its record")
    data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    ledger.export(ExportSeen(org, digest, result.rows, result.export_id))
    if digest != result.sha256:
        ledger.problem(f"export {result.export_id}: recorded SHA-256 is not the file's")
    for line in data.splitlines():
        event_id = json.loads(line)["id"]
        owner = org_of(event_id)
        if owner is None:
            ledger.saw_unprefixed(event_id, org)
        elif owner != org:
            ledger.problem(f"an export of {org} held {owner}'s event {event_id}")
    ledger.count("export_rows", result.rows)


def purger(db: Database, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            summary = purge(db, actor="soak:purger")
            ledger.count("purges")
            ledger.count("purged_during", summary.total)
            ledger.count("purge_ms", int(1000 * (time.monotonic() - started)))
        except Exception as exc:
            ledger.note("purge_failures", exc)
        stop.wait(0.05)


def refresher(db: Database, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.wait(2.0):
        ledger.count("refreshes" if refresh_now(db) is None else "refresh_failures")


def sealer(db: Database, key: SigningKey, ledger: Ledger, stop: threading.Event) -> None:
    while not stop.wait(2.0):
        try:
            ledger.count("seals", len(seal_all(db, key, orgs=list(ORGS))))
        except Exception as exc:
            ledger.note("seal_failures", exc)
