"""The streamer: sends every active destination's events from its cursor, at least once.

One pass (`deliver`) reads a batch after the cursor, encodes it, hands it to the
destination's sender and, only when that returned, moves the cursor. A failed send leaves
the cursor where it was, counts the failure and backs off (0.5 s doubling, capped); after
`failing_after` failures in a row the destination is marked failing, and it keeps being
retried at the capped interval until it takes the batch, then goes on where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sql.event_store import record_event
from sql.gateway import Database
from sql.periodic import PeriodicTask
from sql.vocabulary import TEST_STREAM_DESTINATION
from streaming.cursor import (
    BATCH,
    Batch,
    acknowledge,
    acknowledge_findings,
    pending,
    pending_findings,
    record_failure,
)
from streaming.destinations import COLUMNS, Changer, Destination, from_row, get
from streaming.files import FileSender
from streaming.formats import NATIVE_SELECT, encoder, stored_event
from streaming.https import HttpsSender
from streaming.records import Record
from streaming.syslog import SyslogSender
from streaming.times import as_text, utc_iso

FAILING_AFTER = 5
MAX_BACKOFF_SECONDS = 60.0
# After a pass failed as a whole (the database away, not one destination).
RETRY_SECONDS = 5.0


class Sender(Protocol):
    def send(self, records: list[Record]) -> None: ...

    def close(self) -> None: ...


def sender_for(destination: Destination) -> Sender:
    if destination.kind == "syslog":
        return SyslogSender(destination.settings)
    if destination.kind == "https":
        return HttpsSender(destination.settings, destination.secret)
    return FileSender(destination.settings)


def records(destination: Destination, events: list[dict[str, Any]]) -> list[Record]:
    encode = encoder(destination.payload)
    return [
        Record(e["id"], e["organization_id"], as_text(e["event_time"]), "event", encode(e))
        for e in events
    ]


def finding_records(destination: Destination, findings: list[dict[str, Any]]) -> list[Record]:
    encode = encoder(destination.payload, finding=True)
    return [
        Record(
            f["finding_id"], f["organization_id"], utc_iso(f["created_at"]), "finding", encode(f)
        )
        for f in findings
    ]


def _due(db: Database) -> list[Destination]:
    with db.admin() as session:
        rows = session.execute(
            f"SELECT {COLUMNS} FROM stream_destinations"  # noqa: S608 - fixed column list
            " WHERE state <> 'paused' AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
            " ORDER BY organization_id, name"
        ).rows
    return [from_row(r) for r in rows]


@dataclass
class Streamer:
    """Holds one sender per destination (connections are reused between passes)."""

    db: Database
    failing_after: int = FAILING_AFTER
    max_backoff: float = MAX_BACKOFF_SECONDS
    batch: int = BATCH
    log: Callable[[str], None] = lambda _line: None
    _senders: dict[tuple[str, str], tuple[Destination, Sender]] = field(default_factory=dict)
    _read_ahead: ThreadPoolExecutor | None = None

    def _sender(self, destination: Destination) -> Sender:
        key = (destination.organization_id, destination.name)
        known = self._senders.get(key)
        # Settings can change only by remove and add; created_at tells the two apart.
        if known is None or known[0].created_at != destination.created_at:
            if known is not None:
                known[1].close()
            known = (destination, sender_for(destination))
            self._senders[key] = known
        return known[1]

    def deliver(self, destination: Destination) -> int:
        """Send batches until `destination` is caught up or a send fails; records sent.

        Events first, then findings (each in its own order, with its own cursor). The batch
        after the one being sent is read meanwhile (the read waits on the database, the send
        on the receiver); it is used only if the cursor then stands where the read began."""
        sent = 0
        for kind in ("event", "finding"):
            if kind == "finding" and not destination.findings:
                break
            batch = self._pending(kind, destination)
            while batch.end is not None:
                ahead = self._reader().submit(
                    self._pending, kind, _at(kind, destination, batch.end)
                )
                moved = self._send(kind, destination, batch)
                if moved is None:
                    _settle(ahead)
                    return sent
                sent += len(batch.events)
                if _read_ahead_holds(kind, destination, moved, batch.end):
                    batch = ahead.result()
                else:  # changed meanwhile (a backfill, say): read again from the cursor
                    _settle(ahead)
                    batch = self._pending(kind, moved)
                destination = moved
        return sent

    def _reader(self) -> ThreadPoolExecutor:
        if self._read_ahead is None:
            self._read_ahead = ThreadPoolExecutor(1, thread_name_prefix="auditlens-stream-read")
        return self._read_ahead

    def _pending(self, kind: str, destination: Destination) -> Batch:
        if kind == "event":
            return pending(self.db, destination, limit=self.batch)
        return pending_findings(self.db, destination, limit=self.batch)

    def _send(self, kind: str, destination: Destination, batch: Batch) -> Destination | None:
        """Send `batch` and acknowledge it: the destination as it is then; None when the send
        failed (counted as a failure)."""
        encode = records if kind == "event" else finding_records
        try:
            self._sender(destination).send(encode(destination, batch.events))
        except Exception as exc:  # any failure of the receiver or the network
            error = f"{type(exc).__name__}: {exc}"
            record_failure(
                self.db,
                destination,
                error,
                failing_after=self.failing_after,
                max_backoff=self.max_backoff,
            )
            self.log(f"{destination.organization_id}/{destination.name}: {error}")
            return None
        take = acknowledge if kind == "event" else acknowledge_findings
        moved = take(self.db, destination, batch)
        # None: changed meanwhile (a backfill reset the cursor, say); as it is now, then.
        return moved or get(self.db, destination.organization_id, destination.name)

    def run_once(self) -> int:
        """One pass over every due destination; events sent."""
        return sum(self.deliver(d) for d in _due(self.db))

    def schedule(
        self,
        *,
        poll_seconds: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
        stop: threading.Event | None = None,
    ) -> PeriodicTask:
        """Pass after pass, the next at once while a pass sent something, else after
        `poll_seconds`; a failed pass goes to `on_error`, the next RETRY_SECONDS later."""
        return PeriodicTask(
            self.run_once,
            name="auditlens-streaming",
            interval=poll_seconds,
            again=lambda sent: sent > 0,
            on_error=on_error,
            error_interval=RETRY_SECONDS,
            stop=stop,
        )

    def run(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        """Pass after pass in this thread until `stop` is set; sleeps `poll_seconds` when idle."""
        try:
            self.schedule(poll_seconds=poll_seconds, stop=stop).run_forever()
        finally:
            self.close()

    def close(self) -> None:
        for _, sender in self._senders.values():
            sender.close()
        self._senders.clear()
        if self._read_ahead is not None:
            self._read_ahead.shutdown(wait=True)
            self._read_ahead = None


def _cursor(kind: str, destination: Destination) -> tuple[int, int]:
    if kind == "event":
        return destination.cursor_xid, destination.cursor_seq
    return destination.finding_cursor_xid, destination.finding_cursor_seq


def _at(kind: str, destination: Destination, end: tuple[int, int]) -> Destination:
    """`destination` as it will be once the batch ending at `end` is acknowledged."""
    if kind == "event":
        return replace(destination, cursor_xid=end[0], cursor_seq=end[1])
    return replace(destination, finding_cursor_xid=end[0], finding_cursor_seq=end[1])


def _read_ahead_holds(
    kind: str, before: Destination, after: Destination, end: tuple[int, int]
) -> bool:
    """A batch read from `end` with `before`'s settings is what `after` would read now.

    Acknowledging may end a backfill (once past its end, where its condition holds for every
    event anyway); anything else that changed means reading again."""
    return (
        _cursor(kind, after) == end
        and after.created_at == before.created_at
        and after.query == before.query
        and after.backfill_from in (before.backfill_from, None)
    )


def _settle(ahead: Future[Batch]) -> None:
    """Wait for a read whose batch is not wanted; its error, if any, is not this pass's."""
    ahead.exception()  # waits; the next read meets any lasting error again


def send_test(db: Database, org: str, name: str, *, actor: str, how: Changer | None = None) -> str:
    """Record a `test_stream_destination` event and send it to `name` at once; its id.

    The event is a real one, so the destination also gets it again in its turn (the same
    id: a receiver that de-duplicates keeps one). A failure raises, naming the cause."""
    destination = get(db, org, name)
    with db.admin() as session:
        event_id = record_event(
            session,
            organization_id=org,
            action=TEST_STREAM_DESTINATION,
            user_id=actor,
            user_email=how.email if how is not None else None,
            resource_type="stream_destination",
            resource_id=name,
            details={"kind": destination.kind}
            | ({"via": how.via} if how is not None and how.via else {}),
        )
    with db.org_session(org) as session:
        rows = session.execute(
            f"SELECT {NATIVE_SELECT} FROM org_audit_events"  # noqa: S608
            " WHERE id = :id",
            {"id": event_id},
        ).rows
    events = [stored_event(row) for row in rows]
    sender = sender_for(destination)
    try:
        sender.send(records(destination, events))
    finally:
        sender.close()
    return event_id


@contextmanager
def background_streaming(db: Database, log: Callable[[str], None]) -> Iterator[Streamer]:
    """Run the streamer in a thread while the block runs; stopped (a batch in flight ends) on
    exit. With no destinations it only polls the table once a second."""
    streamer = Streamer(db, log=log)

    def failed(exc: Exception) -> None:  # the database away: say so and try again
        log(f"streaming: {type(exc).__name__}: {exc} (will retry)")
        streamer.close()

    task = streamer.schedule(on_error=failed).start()
    try:
        yield streamer
    finally:
        task.stop(60)
        if not task.running:  # a pass still stuck after that keeps its senders
            streamer.close()
