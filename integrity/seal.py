"""Sealing: per organisation, everything received since the previous seal, signed and chained.

A seal covers the events whose inserting transaction id (`ingest_xid`) lies in
[xid_from, xid_to): xid_from is the previous seal's xid_to (0 for the first seal) and xid_to
is `pg_snapshot_xmin(pg_current_snapshot())` when sealing, the oldest transaction still
running. Every transaction below it has ended, so its events are all visible now and none
can appear later: each event is sealed exactly once, a transaction still in flight is sealed
by a later seal, and a period without events still gets a seal (it proves the silence).

Inside a seal the leaves are in `ingest_seq` order. The signed text (format
``auditlens-seal-v1``) is one ``name=value`` line per field of `Seal.canonical`, in that
order, values as described there; ``seal_hash`` is SHA-256 of that text and the next seal
carries it as ``prev_seal_hash`` (the first seal carries 32 zero bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from integrity.canonical import FORMAT as EVENT_FORMAT_V1
from integrity.canonical import FORMAT_V2 as EVENT_FORMAT_V2
from integrity.canonical import PG_EPOCH, apply_sql_settings, format_time, leaf_hash_sql
from integrity.keys import (
    SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
    SigningKey,
    load_signing_key,
)
from integrity.merkle import EMPTY_ROOT, merkle_root, node_hash
from sql.gateway import Database, ScopedSession, check_org_id
from sql.settings import positive_float_env

SEAL_FORMAT_V1 = "auditlens-seal-v1"
SEAL_FORMAT_V2 = "auditlens-seal-v2"
SEAL_FORMAT = SEAL_FORMAT_V2  # what new seals are written in
ZERO_HASH = bytes(32)
ENTRY_SIZE = 48  # ingest_seq int8 | retention guarantee (µs since the format's epoch) int8 | leaf
CHUNK = 1 << 16  # leaves per stored chunk, and per perfect subtree of the streaming root
SEAL_DIR_ENV = "AUDITLENS_SEAL_DIR"
SEAL_INTERVAL_ENV = "AUDITLENS_SEAL_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SealFormat:
    """What a seal format fixes: its events' canonical format and how entries store the
    retention guarantee (v1: µs since 1970 through a numeric; v2: PostgreSQL's binary
    timestamp, µs since 2000, which costs nothing to produce)."""

    name: str
    event_format: str
    guarantee_epoch: datetime
    guarantee_sql: str


SEAL_FORMATS: dict[str, SealFormat] = {
    SEAL_FORMAT_V1: SealFormat(
        SEAL_FORMAT_V1,
        EVENT_FORMAT_V1,
        _EPOCH,
        "int8send((extract(epoch FROM e.retention_guaranteed_until) * 1000000)::bigint)",
    ),
    SEAL_FORMAT_V2: SealFormat(
        SEAL_FORMAT_V2,
        EVENT_FORMAT_V2,
        PG_EPOCH,
        "timestamptz_send(e.retention_guaranteed_until)",
    ),
}


def seal_format(name: str) -> SealFormat:
    """The format a seal names; ValueError for one this version does not know."""
    try:
        return SEAL_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown seal format {name!r}") from None


def entry_sql(fmt: str) -> str:
    """SQL bytea expression of one event's 48-byte entry in seal format `fmt`."""
    spec = seal_format(fmt)
    return (
        f"int8send(e.ingest_seq) || {spec.guarantee_sql} || {leaf_hash_sql('e', spec.event_format)}"
    )


# Entries of one organisation's events in [lo, hi), grouped by the seal window they fall in
# (bucket k: bounds[k-1] <= ingest_xid < bounds[k]) and by ``ingest_seq >> 16``, so one scan
# serves many seals in pieces of at most 65,536 events. OFFSET 0 keeps the subquery a scan
# target: PostgreSQL then computes the hashes in its parallel workers instead of above the
# Gather. Order inside a group is not guaranteed by SQL; `order_entries` restores it.
# It runs through the driver in single-row mode, not a server-side cursor: PostgreSQL never
# runs a DECLAREd cursor's query in parallel.
_WINDOWS_SQL = """
SELECT w.bucket, w.chunk, count(*) AS n,
       string_agg(w.entry, ''::bytea) AS entries,
       string_agg(w.idz, ''::bytea) AS ids,
       min(w.ingest_seq) AS first_seq, max(w.ingest_seq) AS last_seq,
       min(w.event_time) AS oldest, max(w.event_time) AS newest
  FROM (SELECT width_bucket(e.ingest_xid, CAST(%(bounds)s AS xid8[])) AS bucket,
               e.ingest_seq >> 16 AS chunk, e.ingest_seq, e.event_time,
               {entry} AS entry,
               convert_to(e.id, 'UTF8') || '\\x00'::bytea AS idz
          FROM audit_events e
         WHERE e.organization_id = %(org)s
           AND e.ingest_xid >= CAST(%(lo)s AS xid8) AND e.ingest_xid < CAST(%(hi)s AS xid8)
        OFFSET 0) w
 GROUP BY w.bucket, w.chunk
 ORDER BY w.bucket, w.chunk
"""
# Sealing and verifying are CPU-bound scans: JIT compilation of the long expression costs more
# than it saves; aggregating in memory avoids spilling sorts to disk; and the planner, which
# prices record_send and sha256 like any cheap function, must be told that handing rows from
# parallel workers is cheap next to hashing them, or it never hashes in parallel.
SCAN_SETTINGS = {"jit": "off", "work_mem": "64MB", "parallel_tuple_cost": "0.001"}
_ENTRY_DTYPE = np.dtype([("seq", ">i8"), ("guarantee", ">i8"), ("leaf", "V32")])


def windows_sql(fmt: str) -> str:
    """The grouped scan (see `_WINDOWS_SQL`) for seals of format `fmt`."""
    return _WINDOWS_SQL.format(entry=entry_sql(fmt))


def apply_scan_settings(session: ScopedSession) -> None:
    """SET LOCAL what the canonical forms and a fast scan need."""
    apply_sql_settings(session)
    for name, value in SCAN_SETTINGS.items():
        session.execute("SELECT set_config(:name, :value, true)", {"name": name, "value": value})


def order_entries(entries: bytes, ids: bytes) -> tuple[bytes, bytes]:
    """Entries (and their ids) sorted by ingest_seq; returned as given when already sorted."""
    if len(entries) % ENTRY_SIZE:
        raise ValueError(f"entries of {len(entries)} bytes are not whole entries")
    table = np.frombuffer(entries, dtype=_ENTRY_DTYPE)
    seqs = table["seq"]
    if len(seqs) < 2 or bool(np.all(seqs[1:] > seqs[:-1])):
        return entries, ids
    order = np.argsort(seqs, kind="stable")
    names = ids.split(b"\x00")[:-1]
    return table[order].tobytes(), b"".join(names[i] + b"\x00" for i in order.tolist())


@dataclass
class WindowPart:
    """One group of the grouped scan: events of one seal window, in ingest_seq order."""

    bucket: int
    count: int
    entries: bytes
    ids: bytes
    first_seq: int
    last_seq: int
    oldest: datetime
    newest: datetime


def scan_windows(
    session: ScopedSession, org: str, fmt: str, bounds: Sequence[int]
) -> Iterator[WindowPart]:
    """The grouped scan of `org`'s events with bounds[0] <= ingest_xid < bounds[-1], in
    (window, ingest_seq) order; `bounds` ascending."""
    params = {
        "org": org,
        "bounds": [str(b) for b in bounds],
        "lo": str(bounds[0]),
        "hi": str(bounds[-1]),
    }
    sql = windows_sql(fmt)
    with (
        session.raw_connection(sql, what="sealing scan") as driver,
        driver.cursor(binary=True) as cursor,
    ):
        for bucket, _chunk, n, entries, ids, lo, hi, old, new in cursor.stream(sql, params):
            ordered, names = order_entries(bytes(entries), bytes(ids))
            yield WindowPart(int(bucket), int(n), ordered, names, int(lo), int(hi), old, new)


def micros(value: datetime, fmt: str = SEAL_FORMAT_V1) -> int:
    """Microseconds since the epoch of seal format `fmt` (how entries store the guarantee)."""
    return (value - seal_format(fmt).guarantee_epoch) // timedelta(microseconds=1)


def from_micros(value: int, fmt: str = SEAL_FORMAT_V1) -> datetime:
    return seal_format(fmt).guarantee_epoch + timedelta(microseconds=value)


@dataclass(frozen=True)
class Seal:
    """One signed seal; `canonical()` is the exact text that is hashed and signed."""

    organization_id: str
    seal_seq: int
    sealed_at: datetime
    prev_seal_hash: bytes
    xid_from: int
    xid_to: int
    event_count: int
    merkle_root: bytes
    index_digest: bytes
    first_ingest_seq: int | None
    last_ingest_seq: int | None
    oldest_event: datetime | None
    newest_event: datetime | None
    key_id: str
    seal_hash: bytes
    signature: bytes
    format: str = SEAL_FORMAT

    def canonical(self) -> bytes:
        return canonical_seal_text(
            organization_id=self.organization_id,
            seal_seq=self.seal_seq,
            sealed_at=self.sealed_at,
            prev_seal_hash=self.prev_seal_hash,
            xid_from=self.xid_from,
            xid_to=self.xid_to,
            event_count=self.event_count,
            merkle_root=self.merkle_root,
            index_digest=self.index_digest,
            first_ingest_seq=self.first_ingest_seq,
            last_ingest_seq=self.last_ingest_seq,
            oldest_event=self.oldest_event,
            newest_event=self.newest_event,
            key_id=self.key_id,
            fmt=self.format,
        )

    def computed_hash(self) -> bytes:
        return hashlib.sha256(self.canonical()).digest()

    def to_json(self) -> dict[str, Any]:
        """A JSON object (seal files, export proofs): hashes hex, signature base64."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, bytes):
                out[name] = base64.b64encode(value).decode() if name == "signature" else value.hex()
            elif isinstance(value, datetime):
                out[name] = format_time(value)
            else:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Seal:
        """The inverse of `to_json`; raises ValueError naming the bad field."""
        try:
            return cls(
                organization_id=str(data["organization_id"]),
                seal_seq=int(data["seal_seq"]),
                sealed_at=_parse_time(data["sealed_at"]),
                prev_seal_hash=bytes.fromhex(data["prev_seal_hash"]),
                xid_from=int(data["xid_from"]),
                xid_to=int(data["xid_to"]),
                event_count=int(data["event_count"]),
                merkle_root=bytes.fromhex(data["merkle_root"]),
                index_digest=bytes.fromhex(data["index_digest"]),
                first_ingest_seq=_opt_int(data.get("first_ingest_seq")),
                last_ingest_seq=_opt_int(data.get("last_ingest_seq")),
                oldest_event=_opt_time(data.get("oldest_event")),
                newest_event=_opt_time(data.get("newest_event")),
                key_id=str(data["key_id"]),
                seal_hash=bytes.fromhex(data["seal_hash"]),
                signature=base64.b64decode(data["signature"], validate=True),
                format=str(data.get("format", SEAL_FORMAT_V1)),
            )
        except KeyError as exc:
            raise ValueError(f"seal is missing field {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"seal has a malformed field: {exc}") from None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Seal:
        return cls(
            organization_id=row["organization_id"],
            seal_seq=int(row["seal_seq"]),
            sealed_at=row["sealed_at"],
            prev_seal_hash=bytes(row["prev_seal_hash"]),
            xid_from=int(row["xid_from"]),
            xid_to=int(row["xid_to"]),
            event_count=int(row["event_count"]),
            merkle_root=bytes(row["merkle_root"]),
            index_digest=bytes(row["index_digest"]),
            first_ingest_seq=_opt_int(row["first_ingest_seq"]),
            last_ingest_seq=_opt_int(row["last_ingest_seq"]),
            oldest_event=row["oldest_event"],
            newest_event=row["newest_event"],
            key_id=row["key_id"],
            seal_hash=bytes(row["seal_hash"]),
            signature=bytes(row["signature"]),
            format=row["format"],
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else _parse_time(str(value))


def canonical_seal_text(
    *,
    organization_id: str,
    seal_seq: int,
    sealed_at: datetime,
    prev_seal_hash: bytes,
    xid_from: int,
    xid_to: int,
    event_count: int,
    merkle_root: bytes,
    index_digest: bytes,
    first_ingest_seq: int | None,
    last_ingest_seq: int | None,
    oldest_event: datetime | None,
    newest_event: datetime | None,
    key_id: str,
    fmt: str = SEAL_FORMAT,
) -> bytes:
    """The signed text: the format name, then ``name=value`` lines (hashes lower-case hex,
    times as in the event format, integers decimal, a missing value as ``-``)."""

    def t(v: datetime | None) -> str:
        return "-" if v is None else format_time(v)

    def i(v: int | None) -> str:
        return "-" if v is None else str(v)

    lines = [
        fmt,
        f"organization_id={organization_id}",
        f"seal_seq={seal_seq}",
        f"sealed_at={t(sealed_at)}",
        f"prev_seal_hash={prev_seal_hash.hex()}",
        f"xid_from={xid_from}",
        f"xid_to={xid_to}",
        f"event_count={event_count}",
        f"merkle_root={merkle_root.hex()}",
        f"index_digest={index_digest.hex()}",
        f"first_ingest_seq={i(first_ingest_seq)}",
        f"last_ingest_seq={i(last_ingest_seq)}",
        f"oldest_event={t(oldest_event)}",
        f"newest_event={t(newest_event)}",
        f"key_id={key_id}",
    ]
    return ("\n".join(lines) + "\n").encode()


class RootBuilder:
    """The RFC 6962 root of a leaf stream in O(log n) memory: full chunks of 2^16 leaves are
    perfect subtrees, merged on a stack as a binary counter; the remainder folds in last."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self._buffer: list[bytes] = []
        self.count = 0

    def add(self, leaves: Sequence[bytes]) -> None:
        self._buffer.extend(leaves)
        self.count += len(leaves)
        while len(self._buffer) >= CHUNK:
            chunk, self._buffer = self._buffer[:CHUNK], self._buffer[CHUNK:]
            self._stack.append((CHUNK, merkle_root(chunk)))
            while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
                (size, right), (_, left) = self._stack.pop(), self._stack.pop()
                self._stack.append((2 * size, node_hash(left, right)))

    def root(self) -> bytes:
        parts = [h for _, h in self._stack]
        if self._buffer:
            parts.append(merkle_root(self._buffer))
        if not parts:
            return EMPTY_ROOT
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result


def split_ids(blob: bytes) -> list[str]:
    """Event ids from their stored form (each in UTF-8 followed by a NUL byte)."""
    return [part.decode() for part in blob.split(b"\x00")[:-1]]


def join_ids(ids: Sequence[str]) -> bytes:
    return "".join(i + "\x00" for i in ids).encode()


class IndexBuilder:
    """Hashes a seal's entries and ids, chunk by chunk, into its Merkle root and index digest
    (the scan groups events by ``ingest_seq >> 16``, so a chunk never holds more than 65,536
    events); the chunks themselves are stored by the sealer."""

    def __init__(self) -> None:
        self.root = RootBuilder()
        self._entries_hash = hashlib.sha256()
        self._ids_hash = hashlib.sha256()

    def add(self, entries: bytes, ids: bytes) -> None:
        if len(entries) % ENTRY_SIZE or len(entries) // ENTRY_SIZE != ids.count(b"\x00"):
            raise ValueError("entries and ids disagree in length")
        self._entries_hash.update(entries)
        self._ids_hash.update(ids)
        self.root.add([entries[k + 16 : k + 48] for k in range(0, len(entries), ENTRY_SIZE)])

    @property
    def count(self) -> int:
        return self.root.count

    def finish(self) -> tuple[bytes, bytes]:
        """(merkle_root, index_digest); the index digest is
        SHA-256(SHA-256(all entries) || SHA-256(each event id followed by a NUL byte))."""
        digest = hashlib.sha256(self._entries_hash.digest() + self._ids_hash.digest()).digest()
        return self.root.root(), digest


def index_digest_of(entries: bytes, ids: bytes) -> bytes:
    builder = IndexBuilder()
    builder.add(entries, ids)
    return builder.finish()[1]


@dataclass(frozen=True)
class WindowScan:
    count: int
    first_seq: int | None
    last_seq: int | None
    oldest: datetime | None
    newest: datetime | None


def stream_rows(
    session: ScopedSession, sql: str, params: dict[str, Any], *, batch_size: int = 8
) -> Iterator[tuple[Any, ...]]:
    """Rows of one statement from a server-side cursor, `batch_size` rows a fetch."""
    for _columns, rows in session.stream(sql, params, batch_size=batch_size):
        yield from rows


def scan_window(
    session: ScopedSession,
    org: str,
    xid_from: int,
    xid_to: int,
    sink: Callable[[bytes, bytes], None],
    fmt: str = SEAL_FORMAT,
) -> WindowScan:
    """Stream the entries of `org`'s events in [xid_from, xid_to) to `sink`, in order."""
    count = 0
    first = last = None
    oldest = newest = None
    if xid_to <= xid_from:
        return WindowScan(0, None, None, None, None)
    for part in scan_windows(session, org, fmt, [xid_from, xid_to]):
        sink(part.entries, part.ids)
        count += part.count
        first = part.first_seq if first is None else min(first, part.first_seq)
        last = part.last_seq if last is None else max(last, part.last_seq)
        oldest = part.oldest if oldest is None else min(oldest, part.oldest)
        newest = part.newest if newest is None else max(newest, part.newest)
    return WindowScan(count, first, last, oldest, newest)


def _lock_org(session: ScopedSession, org: str) -> None:
    # Two sealers of one organisation would race for the same seal_seq; the second waits.
    session.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('auditlens.seal:' || :org, 0))",
        {"org": org},
    )


def last_seal(session: ScopedSession, org: str) -> Seal | None:
    result = session.execute(
        "SELECT * FROM audit_seals WHERE organization_id = :org ORDER BY seal_seq DESC LIMIT 1",
        {"org": org},
    )
    return Seal.from_row(result.dicts()[0]) if result.rows else None


def seal_organization(
    db: Database,
    org: str,
    key: SigningKey,
    *,
    seal_dir: Path | None = None,
    fmt: str = SEAL_FORMAT,
) -> Seal:
    """Seal everything `org` received since its previous seal (possibly nothing).

    `fmt` exists to write seals as an older version did (tests of stores sealed before v2)."""
    check_org_id(org)
    seal_format(fmt)
    with db.admin() as session:
        _lock_org(session, org)
        apply_scan_settings(session)
        prev = last_seal(session, org)
        row = session.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xid_to,"
            " clock_timestamp() AS sealed_at"
        ).dicts()[0]
        xid_from = prev.xid_to if prev else 0
        xid_to = int(row["xid_to"])
        seal_seq = (prev.seal_seq + 1) if prev else 1
        parts: list[tuple[bytes, bytes]] = []
        scan = scan_window(session, org, xid_from, xid_to, lambda e, i: parts.append((e, i)), fmt)
        # The server writes the leaves while this thread hashes the tree: the insert waits on
        # the server with the GIL released, so the two overlap instead of adding up. The
        # connection is the storing thread's alone until it is done.
        with ThreadPoolExecutor(1, thread_name_prefix="auditlens-seal-leaves") as pool:
            stored = pool.submit(_store_leaves, session, org, seal_seq, parts)
            builder = IndexBuilder()
            for entries, ids in parts:
                builder.add(entries, ids)
            root, digest = builder.finish()
            stored.result()
        fields: dict[str, Any] = {
            "organization_id": org,
            "seal_seq": seal_seq,
            "sealed_at": row["sealed_at"],
            "prev_seal_hash": prev.seal_hash if prev else ZERO_HASH,
            "xid_from": xid_from,
            "xid_to": xid_to,
            "event_count": scan.count,
            "merkle_root": root,
            "index_digest": digest,
            "first_ingest_seq": scan.first_seq,
            "last_ingest_seq": scan.last_seq,
            "oldest_event": scan.oldest,
            "newest_event": scan.newest,
            "key_id": key.key_id,
        }
        text = canonical_seal_text(**fields, fmt=fmt)
        seal = Seal(
            **fields,
            seal_hash=hashlib.sha256(text).digest(),
            signature=key.sign(text),
            format=fmt,
        )
        _store(session, seal)
    if seal_dir is not None:
        write_seal_file(seal, seal_dir)
    return seal


def _store(session: ScopedSession, seal: Seal) -> None:
    values = {k: (str(v) if k in ("xid_from", "xid_to") else v) for k, v in asdict(seal).items()}
    columns = ", ".join(values)
    placeholders = ", ".join(
        f"CAST(:{k} AS xid8)" if k in ("xid_from", "xid_to") else f":{k}" for k in values
    )
    session.execute(
        f"INSERT INTO audit_seals ({columns}) VALUES ({placeholders})",  # noqa: S608 - fixed names
        values,
    )


def _store_leaves(
    session: ScopedSession, org: str, seal_seq: int, chunks: list[tuple[bytes, bytes]]
) -> None:
    if not chunks:
        return
    # Through the driver with binary parameters: megabytes of hashes then travel as they are
    # instead of hex-escaped and parsed back (the same transaction: one connection).
    sql = (
        "INSERT INTO audit_seal_leaves (organization_id, seal_seq, chunk_no, entries,"
        " event_ids) VALUES (%s, %s, %s, %b, %b)"
    )
    with session.raw_connection(sql) as driver, driver.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (org, seal_seq, chunk_no, entries, ids)
                for chunk_no, (entries, ids) in enumerate(chunks)
            ],
        )


def organizations(db: Database) -> list[str]:
    with db.admin() as session:
        result = session.execute(
            "SELECT organization_id FROM organizations ORDER BY organization_id",
            max_rows=1_000_000,
        )
    return [r[0] for r in result.rows]


def seal_all(
    db: Database,
    key: SigningKey,
    *,
    orgs: Sequence[str] | None = None,
    seal_dir: Path | None = None,
) -> list[Seal]:
    """One seal for each organisation (all known ones unless `orgs` is given)."""
    return [
        seal_organization(db, org, key, seal_dir=seal_dir)
        for org in (orgs if orgs is not None else organizations(db))
    ]


def seal_dir_from_env() -> Path | None:
    raw = os.environ.get(SEAL_DIR_ENV)
    return Path(raw) if raw else None


def interval_from_env() -> float:
    return positive_float_env(SEAL_INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)


def seal_file_path(seal_dir: Path, org: str, seal_seq: int) -> Path:
    return seal_dir / org / f"{seal_seq:012d}.json"


def write_seal_file(seal: Seal, seal_dir: Path) -> Path:
    """Write the seal as JSON for WORM storage; an existing file is never overwritten."""
    path = seal_file_path(seal_dir, seal.organization_id, seal.seal_seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:
        json.dump(seal.to_json(), out, indent=1, sort_keys=True)
        out.write("\n")
    return path


def read_seal_files(seal_dir: Path, org: str) -> Iterator[tuple[Path, Seal | str]]:
    """Each seal file of `org`, parsed, or the reason it could not be."""
    folder = seal_dir / org
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            yield path, Seal.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            yield path, str(exc)


class SealScheduler:
    """Seals every organisation every `interval` seconds in a background thread, for
    long-running processes (`auditlens serve-ingest`, `auditlens run`, `auditlens seal
    --forever`). The first run is immediate; `wait` (default: the stop event's wait, which
    returns True once stopped) is injectable so tests drive the loop without a clock."""

    def __init__(
        self,
        db: Database,
        key: SigningKey,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        seal_dir: Path | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_sealed: Callable[[list[Seal]], None] | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.db, self.key, self.interval, self.seal_dir = db, key, interval, seal_dir
        self.on_error, self.on_sealed = on_error, on_sealed
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.first_run_done = threading.Event()  # set after the first run, sealed or failed

    def run_once(self) -> list[Seal]:
        """One tick: seal every organisation now."""
        seals = seal_all(self.db, self.key, seal_dir=self.seal_dir)
        if self.on_sealed:
            self.on_sealed(seals)
        return seals

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # a failed run must not end the schedule
                if self.on_error is None:
                    raise
                self.on_error(exc)
            finally:
                self.runs += 1
                self.first_run_done.set()
            if self._wait(self.interval):
                break

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SealScheduler:
        self._thread = threading.Thread(
            target=self.run_forever, name="auditlens-sealer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30) -> None:
        """Ask the loop to end and wait for a seal in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def signing_key_configured() -> bool:
    """True when AUDITLENS_SIGNING_KEY_FILE or AUDITLENS_SIGNING_KEY is set."""
    return bool(os.environ.get(SIGNING_KEY_FILE_ENV) or os.environ.get(SIGNING_KEY_ENV))


@contextmanager
def background_sealing(db: Database, log: Callable[[str], None]) -> Iterator[SealScheduler | None]:
    """Seal every AUDITLENS_SEAL_INTERVAL_SECONDS (default 300) while the block runs, when a
    signing key is configured; a configured key that cannot be loaded is an error, not a
    silent "no sealing". The scheduler is stopped (a seal in progress finishes) on exit."""
    if not signing_key_configured():
        log(f"sealing: off (set {SIGNING_KEY_FILE_ENV} to seal every organisation on a schedule)")
        yield None
        return
    scheduler = SealScheduler(
        db,
        load_signing_key(),
        interval=interval_from_env(),
        seal_dir=seal_dir_from_env(),
        on_error=lambda exc: log(f"sealing failed (will retry): {exc}"),
    )
    log(f"sealing every {scheduler.interval:g} s with key {scheduler.key.key_id}")
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
