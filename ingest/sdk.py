"""The Python SDK: `AuditLogger.log_event(...)` returns in microseconds, never raises into
the caller, and loses nothing it acknowledged.

    logger = AuditLogger(organization_id="org_123")
    logger.log_search(user_id="user_xyz789", query="level:error", results_count=47,
                      start=..., end=..., resource_id="source_production_api")
    logger.close()          # also runs at interpreter exit

How: `log_event` gives the event its id and puts it on a bounded in-memory queue; a
background thread writes batches (by size, or every `flush_interval`) through the shared
`EventWriter`. When the database is unavailable, or the queue is full, events go to a
durable local spool (append + fsync, rotated segment files under AUDITLENS_DATA_DIR/spool or
the folder given) and are replayed when the database is back and on the next start. Because
ids are assigned before anything is written, a batch whose commit was cut off is replayed as
a no-op for what did get in: after an outage the database holds each event exactly once.

`durable=True` appends each event to the spool (group commit: concurrent callers share one
fsync) before `log_event` returns, so even `kill -9` of the process loses nothing that was
acknowledged; the background thread then moves spooled events to the database. It costs an
fsync per call (shared between threads), so it is for producers that need that promise.

`short_switch_interval=True` sets the process's GIL switch interval to 0.5 ms while the logger
is open (restored at close): a writer thread back from the database then waits at most that
long for the GIL behind busy producer threads, instead of up to 5 ms per round trip, which
lets one process write several times more events per second (bench/ingest.py prints both).
"""

from __future__ import annotations

import atexit
import collections
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.gil import hold_short_switch_interval
from ingest.model import _json_default
from ingest.spool import Spool, SpooledLine
from ingest.writer import EventWriter, Item
from sql.event_store import new_event_id
from sql.gateway import Database
from sql.settings import Settings


@dataclass(frozen=True)
class Counters:
    """A snapshot of what the logger did since it started."""

    queued: int  # in memory now, waiting for the next batch
    written: int  # stored in the database (accepted + duplicates)
    accepted: int
    duplicates: int
    spooled: int  # appended to the local spool (outage, full queue, or durable mode)
    replayed: int  # spooled events later offered to the database
    rejected: int  # refused by validation, kept in audit_rejects
    dropped: int  # could be neither queued nor spooled (e.g. the disk is full)
    database_errors: int


def _encode(event: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(event, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError, RecursionError):
        # Still spooled: it will be rejected (with its bytes kept) rather than vanish.
        text = json.dumps({"unserialisable_event": repr(event)[:65_536]})
    return text.encode("utf-8", "surrogatepass") + b"\n"


def _encode_line(value: Any) -> bytes:
    """An event's bytes for its reject record (the spool's encoding, without the newline)."""
    return _encode(value).rstrip(b"\n") if value is not None else b""


def config_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from `old` to `new`: one {path, old, new} per changed leaf; nested objects
    are compared key by key (`alert.threshold`), anything else as a whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                changes.append({"path": sub, "old": old[key], "new": None, "change": "removed"})
            elif key not in old:
                changes.append({"path": sub, "old": None, "new": new[key], "change": "added"})
            else:
                changes.extend(config_diff(old[key], new[key], sub))
        return changes
    if old == new:
        return []
    return [{"path": path or "value", "old": old, "new": new, "change": "changed"}]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# How often a flush looks whether everything is written, and wakes a writer at most.
_FLUSH_LOOK = 0.05


class AuditLogger:
    """Batched, spooled, never-raising audit event logger; see the module docstring."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        organization_id: str | None = None,
        spool_dir: Path | str | None = None,
        name: str = "sdk",
        durable: bool = False,
        batch_size: int = 2_000,
        flush_interval: float = 0.2,
        max_queue: int = 50_000,
        retry_interval: float = 1.0,
        close_at_exit: bool = True,
        writers: int = 2,
        short_switch_interval: bool = False,
    ) -> None:
        self._owns_db = db is None
        self.db = db or Database.open()
        self.organization_id = organization_id
        self.durable = durable
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.retry_interval = retry_interval
        root = Path(spool_dir) if spool_dir else Settings.from_env().data_dir / "spool"
        self.spool = Spool(root, name)
        self._writer = EventWriter(self.db, source=name, encode_raw=_encode_line)
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0  # batches being checked or written right now
        self._replaying = threading.Lock()
        self._stopping = False
        self._down_until = 0.0
        # Something from an earlier run (or another process that died) may be waiting.
        self._spool_dirty = self.spool.pending() > 0 or bool(self.spool.orphan_folders())
        self._counts = collections.Counter[str]()
        # Two writers by default: while one thread's COPY waits on the server (psycopg releases
        # the GIL), the other checks its next batch, and the server works on two batches.
        self._threads = [
            threading.Thread(target=self._run, name=f"auditlens-{name}-{n}", daemon=True)
            for n in range(max(1, writers))
        ]
        for thread in self._threads:
            thread.start()
        # Opt-in, since it changes the whole process: with busy producer threads, a writer
        # thread back from the server otherwise waits up to 5 ms for the GIL (ingest/gil.py).
        self._release_gil_setting = hold_short_switch_interval() if short_switch_interval else None
        self._atexit = close_at_exit
        if close_at_exit:
            atexit.register(self.close)

    # -- the producer side: fast, never raises ---------------------------------------------

    def log_event(self, event: Mapping[str, Any] | None = None, /, **fields: Any) -> bool:
        """Record one event (wire fields, as a dict and/or keywords). Returns True once the
        event is acknowledged (queued, or on disk in durable mode); never raises. The
        timestamp defaults to now, the organisation to the logger's, the id to a UUIDv7."""
        try:
            record = dict(event) if event else {}
            if fields:
                record.update(fields)
            stamp = record.get("timestamp")
            if stamp is None:
                record["timestamp"] = datetime.now(UTC).isoformat()
            elif isinstance(stamp, datetime):
                record["timestamp"] = stamp.isoformat()
            if record.get("organization_id") is None and self.organization_id:
                record["organization_id"] = self.organization_id
            if record.get("id") is None:
                record["id"] = new_event_id()
            if self.durable:
                self.spool.append([_encode(record)])
                with self._lock:
                    self._counts["spooled"] += 1
                    self._spool_dirty = True
                return True
            with self._lock:
                if len(self._queue) < self.max_queue:
                    self._queue.append(record)
                    if len(self._queue) >= self.batch_size:
                        self._wake.set()
                    return True
            # Queue full: straight to disk rather than unbounded memory.
            self.spool.append([_encode(record)])
            with self._lock:
                self._counts["spooled"] += 1
                self._spool_dirty = True
            return True
        except Exception:
            try:
                with self._lock:
                    self._counts["dropped"] += 1
            except Exception:  # noqa: S110 - log_event must never raise into the caller
                pass
            return False

    def log_search(
        self,
        *,
        query: str,
        results_count: int | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        resource_type: str = "source",
        resource_id: str | None = None,
        **context: Any,
    ) -> bool:
        """A log search (event_type log_access, action search) with its query, time range
        and result count; `context` holds user_id, user_email, ip_address, session_id, ..."""
        details: dict[str, Any] = {"query": query}
        if results_count is not None:
            details["results_count"] = results_count
        if start is not None or end is not None:
            details["time_range"] = {"start": _iso(start), "end": _iso(end)}
        details.update(context.pop("details", None) or {})
        return self.log_event(
            event_type="log_access",
            event_action="search",
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
            **context,
        )

    def log_config_change(
        self,
        *,
        resource_type: str,
        resource_id: str,
        old: Any,
        new: Any,
        action: str = "update",
        reason: str | None = None,
        **context: Any,
    ) -> bool:
        """A configuration change (event_type config_change) with old and new values and the
        computed diff (`details.changes`: path, old, new per changed setting)."""
        details: dict[str, Any] = {
            "old_value": old,
            "new_value": new,
            "changes": config_diff(old, new),
        }
        if reason is not None:
            details["reason"] = reason
        details.update(context.pop("details", None) or {})
        return self.log_event(
            event_type="config_change",
            event_action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
            **context,
        )

    def log_export(
        self,
        *,
        format: str,
        record_count: int,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        query: str | None = None,
        resource_type: str = "source",
        resource_id: str | None = None,
        **context: Any,
    ) -> bool:
        """A data export (event_type data_modification, action export) with its format,
        record count, time range and filter."""
        details: dict[str, Any] = {"format": format, "record_count": record_count}
        if start is not None or end is not None:
            details["time_range"] = {"start": _iso(start), "end": _iso(end)}
        if query is not None:
            details["query"] = query
        details.update(context.pop("details", None) or {})
        return self.log_event(
            event_type="data_modification",
            event_action="export",
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
            **context,
        )

    # -- state -----------------------------------------------------------------------------

    @property
    def counters(self) -> Counters:
        with self._lock:
            c = self._counts
            return Counters(
                queued=len(self._queue),
                written=c["accepted"] + c["duplicates"],
                accepted=c["accepted"],
                duplicates=c["duplicates"],
                spooled=c["spooled"],
                replayed=c["replayed"],
                rejected=c["rejected"],
                dropped=c["dropped"],
                database_errors=c["database_errors"],
            )

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything logged so far is in the database (True), or `timeout`
        seconds passed (False: what is left stays queued or spooled, nothing is lost)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # A flush is a reason to try the database now. After that a writer is woken only for
        # work it can take, once the retry delay has passed and at most every _FLUSH_LOOK: each
        # writer round wakes the flush, so waking a writer on every look spins the two of them
        # (and, with the database down, makes a connection attempt per round).
        self._down_until = 0.0
        self._wake.set()
        woken = time.monotonic()
        with self._idle:
            while True:
                with self._lock:
                    waiting = bool(self._queue) or self._spool_dirty
                    done = not waiting and not self._busy
                if done:
                    return True
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                if waiting and now >= max(self._down_until, woken + _FLUSH_LOOK):
                    self._wake.set()
                    woken = now
                self._idle.wait(_FLUSH_LOOK)

    def close(self, timeout: float = 10.0) -> None:
        """Flush (up to `timeout`), spool whatever is still in memory, stop the thread."""
        if self._stopping:
            return
        if self._atexit:
            atexit.unregister(self.close)
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=max(timeout, 1.0))
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
        if left:
            self._spool_batch(left)
        self.spool.close()
        if self._release_gil_setting is not None:
            self._release_gil_setting()
        if self._owns_db:
            self.db.close(stop_embedded=True)

    def __enter__(self) -> AuditLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            with self._lock:
                # Keep the other writer awake while a full batch is still waiting.
                if len(self._queue) < 2 * self.batch_size:
                    self._wake.clear()
            try:
                self._cycle()
            except Exception:  # noqa: S112 - the thread must outlive any one failure
                continue
            finally:
                with self._idle:
                    self._idle.notify_all()

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            n = min(self.batch_size, len(self._queue))
            self._busy += 1  # until this round (batch and replay) is over
            return [self._queue.popleft() for _ in range(n)]

    def _cycle(self) -> None:
        while True:
            batch = self._take()
            try:
                if time.monotonic() < self._down_until:
                    if batch:
                        self._spool_batch(batch)
                    return
                if self._spool_dirty:
                    self._replay()
                if not batch:
                    return
                self._write([Item(i, b"", event) for i, event in enumerate(batch)])
            except Exception:
                with self._lock:
                    self._counts["database_errors"] += 1
                self._down_until = time.monotonic() + self.retry_interval
                if batch:
                    self._spool_batch(batch)
                return
            finally:
                with self._lock:
                    self._busy -= 1

    def _write(self, items: list[Item], *, replayed: bool = False) -> None:
        # Raw bytes are kept only for rejects: the writer encodes those (encode_raw) when it
        # records them, rather than every event being serialised once more here.
        result = self._writer.write(items)
        with self._lock:
            self._counts["accepted"] += result.accepted
            self._counts["duplicates"] += result.duplicates
            self._counts["rejected"] += result.rejected
            if replayed:
                self._counts["replayed"] += result.sent

    def _spool_batch(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.spool.append([_encode(event) for event in batch])
        except Exception:
            with self._lock:
                self._counts["dropped"] += len(batch)
            return
        with self._lock:
            self._counts["spooled"] += len(batch)
            self._spool_dirty = True

    def _replay(self) -> None:
        # One replay at a time: the other writer goes on with the queue meanwhile.
        if not self._replaying.acquire(blocking=False):
            return
        try:
            with self._lock:
                self._spool_dirty = False
            try:
                self.spool.replay(self._write_spooled, batch_size=self.batch_size)
            except Exception:
                with self._lock:
                    self._spool_dirty = True
                raise
        finally:
            self._replaying.release()

    def _write_spooled(self, lines: list[SpooledLine]) -> None:
        items = []
        for line_no, raw, value, key in lines:
            item = Item(line_no, raw, value, replay_key=key)
            if value is None:
                from ingest.model import EventRejected

                item.rejected = EventRejected("event", "spooled line is not valid JSON")
            items.append(item)
        self._write(items, replayed=True)
