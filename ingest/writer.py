"""The batched writer every entry point shares: validate, insert the good rows by binary COPY,
keep every bad one in `audit_rejects` with its reason, all in one transaction.

A bad row never fails its batch: the model refuses what it can see is wrong, and if the
database still refuses something (it should not), the batch is split in halves under
savepoints until the offending rows are isolated and recorded as rejects. The counts always
add up: accepted + duplicates + rejected == sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from ingest.model import EventRejected, known_families, normalise_event
from sql.event_store import insert_events
from sql.gateway import Database, ScopedSession
from sql.vocabulary import is_org_id

# SQLSTATE classes that mean "this data", not "this server": data exceptions, integrity
# violations, program limits (e.g. nesting too deep). Anything else (connection lost, server
# shutting down) propagates so the caller can spool the batch.
_ROW_LEVEL_SQLSTATE_CLASSES = ("22", "23", "54")
_MAX_REASON = 500
_TRANSIENT_RETRIES = 5
# A batch's transaction is busy from its first statement to its commit; a client silent in it
# for this long has stopped (hung, SIGSTOP, or its host gone with the connection left open),
# and the ids it inserted would make every replay of them wait: the server ends it instead.
BATCH_IDLE_LIMIT_MS = 10_000


@dataclass
class Item:
    """One event as it arrived: its position (line number or index), the raw bytes (kept for
    a reject), the decoded value, or a rejection already found while decoding."""

    position: int
    raw: bytes
    value: Any = None
    rejected: EventRejected | None = None
    # Set for a line replayed from a spool: recording its reject twice must be a no-op.
    replay_key: str | None = None


@dataclass(frozen=True)
class Rejection:
    position: int
    field: str
    reason: str
    organization_id: str | None = None


@dataclass
class WriteResult:
    """What happened to a batch (or, summed, to a whole import)."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, other: WriteResult, *, keep: int | None = None) -> None:
        """Add another batch's counts; keep at most `keep` rejections (None: all)."""
        self.sent += other.sent
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        room = len(other.rejections) if keep is None else max(0, keep - len(self.rejections))
        self.rejections.extend(other.rejections[:room])

    @property
    def balanced(self) -> bool:
        return self.accepted + self.duplicates + self.rejected == self.sent


def clean_text(value: str, limit: int = _MAX_REASON) -> str:
    """Text safe for a PostgreSQL text column: valid UTF-8, no NUL, one line, bounded."""
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\x00", "\\0").replace("\r", " ").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def content_event_id(event_time: datetime, raw: bytes) -> str:
    """A UUIDv7-shaped id for an event that came without one, derived from its time and its
    bytes: still time-ordered, and the same every time the same line is imported or re-sent,
    so re-importing a file adds nothing."""
    millis = int(event_time.timestamp() * 1000) & ((1 << 48) - 1)
    digest = int.from_bytes(hashlib.sha256(raw).digest()[:10], "big")
    rand_a = digest >> 68 & 0xFFF
    rand_b = digest & ((1 << 62) - 1)
    value = millis << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def raw_bytes(value: Any) -> bytes:
    """Bytes to keep for a reject that arrived as a Python object (SDK, JSON arrays)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError, RecursionError):
        return repr(value).encode("utf-8", "backslashreplace")


def _org_of(value: Any, fallback: str | None) -> str | None:
    if isinstance(value, dict):
        org = value.get("organization_id")
        if is_org_id(org):
            return org
    return fallback


def _transient(exc: BaseException) -> bool:
    """Worth running the batch again: deadlock or serialization failure (class 40), or two
    writers creating the same month's partition at once (42P07: the loser's catalog view was
    stale; on the retry the partition exists)."""
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", "") or "")
    return state.startswith("40") or state == "42P07"


def _fresh(item: Item) -> Item:
    return Item(item.position, item.raw, item.value, item.rejected, item.replay_key)


def _row_level(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    return bool(state) and str(state)[:2] in _ROW_LEVEL_SQLSTATE_CLASSES


class EventWriter:
    """Writes batches of `Item`s from one source ('sdk', 'http', 'import:FILE', ...).

    `org_check(org) -> reason | None` lets the HTTP receiver refuse events of another
    organisation than its key's; `content_ids` gives id-less events a content-derived id.
    """

    def __init__(
        self,
        db: Database | None,
        *,
        source: str,
        default_org: str | None = None,
        org_check: Callable[[str], str | None] | None = None,
        content_ids: bool = False,
        encode_raw: Callable[[Any], bytes] | None = None,
        synchronous_commit: bool = True,
    ) -> None:
        self.db = db
        self.source = clean_text(source, 200)
        self.default_org = default_org
        self.org_check = org_check
        self.content_ids = content_ids
        self.encode_raw = encode_raw or raw_bytes
        # False: batches commit without waiting for their WAL to reach the disk; the caller
        # then owes a `make_durable` before it reports anything as stored (the file import,
        # whose summary comes at the end; never the SDK or the receiver, which acknowledge
        # batch by batch).
        self.synchronous_commit = synchronous_commit

    def check(self, items: Iterable[Item]) -> tuple[list[tuple[Any, ...]], list[Item], list[Item]]:
        """Validate items: (rows, the items they came from, rejected items)."""
        now = datetime.now(UTC)
        families = known_families()
        rows: list[tuple[Any, ...]] = []
        good: list[Item] = []
        bad: list[Item] = []
        for item in items:
            if item.rejected is None:
                try:
                    row = self._normalise(item, now, families)
                except EventRejected as exc:
                    item.rejected = exc
                except RecursionError:
                    item.rejected = EventRejected("event", "nests too deep to read")
                else:
                    rows.append(row)
                    good.append(item)
                    continue
            bad.append(item)
        return rows, good, bad

    def _normalise(self, item: Item, now: datetime, families: frozenset[str]) -> tuple[Any, ...]:
        value = item.value
        if self.content_ids and isinstance(value, dict) and value.get("id") is None:
            row = normalise_event(value, now=now, families=families)
            row = (row[0], content_event_id(row[2], item.raw), *row[2:])
        else:
            row = normalise_event(value, now=now, families=families)
        if self.org_check is not None:
            reason = self.org_check(row[0])
            if reason:
                raise EventRejected("organization_id", reason)
        return row

    def write(self, items: Sequence[Item]) -> WriteResult:
        """Validate and store one batch in one transaction; raises only if the database is
        unreachable (then nothing of the batch is stored and the caller may retry or spool)."""
        rows, good, bad = self.check(items)
        return self.write_rows(rows, good, bad)

    def write_rows(
        self, rows: list[tuple[Any, ...]], good: list[Item], bad: list[Item]
    ) -> WriteResult:
        """Store what `check` returned, in one transaction of its own (so checking the next
        batch can overlap storing this one)."""
        if self.db is None:
            raise RuntimeError("a writer without a database only checks")
        for attempt in range(_TRANSIENT_RETRIES + 1):
            try:
                with self.db.writer(idle_timeout_ms=BATCH_IDLE_LIMIT_MS) as session:
                    if not self.synchronous_commit:
                        session.execute("SET LOCAL synchronous_commit TO off")
                    return self.write_checked(session, rows, list(good), [_fresh(i) for i in bad])
            except Exception as exc:
                # Concurrent batches can deadlock (the same ids in different orders) or race
                # to create a partition; the loser simply runs again.
                if attempt == _TRANSIENT_RETRIES or not _transient(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def write_checked(
        self,
        session: ScopedSession,
        rows: list[tuple[Any, ...]],
        good: list[Item],
        bad: list[Item],
    ) -> WriteResult:
        """Store rows already checked (and record the rejects) in the caller's transaction."""
        inserted, refused = self._insert_isolating(session, rows, good)
        for item, reason in refused:
            item.rejected = EventRejected("event", f"refused by the database: {reason}")
            bad.append(item)
        rejections = [
            Rejection(
                item.position,
                clean_text(item.rejected.field, 100) if item.rejected else "event",
                clean_text(item.rejected.reason) if item.rejected else "rejected",
                # The receiver files rejects under its key's organisation only: an event that
                # names another one must not land in that tenant's rejects.
                self.default_org if self.org_check else _org_of(item.value, self.default_org),
            )
            for item in bad
        ]
        recorded = self._record_rejects(session, bad, rejections) if bad else 0
        rejections.sort(key=lambda r: r.position)
        accepted_rows = len(rows) - len(refused)
        # A replayed line whose reject is already on file is a duplicate, like a re-sent event.
        return WriteResult(
            sent=len(rows) + len(bad) - len(refused),
            accepted=inserted,
            duplicates=accepted_rows - inserted + len(bad) - recorded,
            rejected=recorded,
            rejections=rejections,
        )

    def _insert_isolating(
        self, session: ScopedSession, rows: list[tuple[Any, ...]], items: list[Item]
    ) -> tuple[int, list[tuple[Item, str]]]:
        if not rows:
            return 0, []
        try:
            with session.conn.begin_nested():
                return insert_events(session, rows).inserted, []
        except Exception as exc:
            if not isinstance(exc, DBAPIError | _psycopg_error()) or not _row_level(exc):
                raise
            if len(rows) == 1:
                orig = getattr(exc, "orig", None) or exc
                return 0, [(items[0], clean_text(str(orig).splitlines()[0] if str(orig) else ""))]
        half = len(rows) // 2
        left, bad_left = self._insert_isolating(session, rows[:half], items[:half])
        right, bad_right = self._insert_isolating(session, rows[half:], items[half:])
        return left + right, bad_left + bad_right

    def _record_rejects(
        self, session: ScopedSession, items: list[Item], rejections: list[Rejection]
    ) -> int:
        """Record rejects; returns how many were new (a replayed one may be on file)."""
        for item in items:
            if not item.raw and item.value is not None:
                item.raw = self.encode_raw(item.value)
        driver = session.driver
        if any(item.replay_key for item in items):
            with driver.cursor() as cur:
                cur.execute(
                    "INSERT INTO audit_rejects (organization_id, source, line_no, field, reason,"
                    " raw_payload, replay_key)"
                    " SELECT * FROM unnest(%s::text[], %s::text[], %s::int8[], %s::text[],"
                    " %s::text[], %s::bytea[], %s::text[]) ON CONFLICT DO NOTHING",
                    (
                        [r.organization_id for r in rejections],
                        [self.source] * len(items),
                        [item.position for item in items],
                        [r.field for r in rejections],
                        [r.reason for r in rejections],
                        [item.raw for item in items],
                        [item.replay_key for item in items],
                    ),
                )
                return cur.rowcount
        with (
            driver.cursor() as cur,
            cur.copy(
                "COPY audit_rejects (organization_id, source, line_no, field, reason, raw_payload)"
                " FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["text", "text", "int8", "text", "text", "bytea"])
            for item, rejection in zip(items, rejections, strict=True):
                copy.write_row(
                    (
                        rejection.organization_id,
                        self.source,
                        item.position,
                        rejection.field,
                        rejection.reason,
                        item.raw,
                    )
                )
        return len(items)


def make_durable(db: Database) -> None:
    """Wait until every transaction committed so far is on disk: a transaction with an id
    commits synchronously, and the WAL is one stream, so flushing up to its commit record
    flushes every earlier one (batches written with synchronous_commit=False included)."""
    with db.writer() as session:
        session.scalar("SELECT pg_current_xact_id()")


def _psycopg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error
