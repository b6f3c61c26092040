"""File import: JSONL/NDJSON and CSV, optionally gzip-compressed, streamed in constant memory.

Each line (or CSV record) becomes an `Item` with its line number and raw bytes; lines that do
not decode are rejected with the reason and still counted. Events without an `id` get one
derived from their content (`content_event_id`), so importing the same file twice adds
nothing. Parsing overlaps the database: a writer thread stores batch N while the reader
decodes batch N+1.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ingest import fastjson
from ingest.gil import short_switch_interval
from ingest.model import WIRE_FIELDS, EventRejected
from ingest.writer import EventWriter, Item, WriteResult, make_durable
from sql.errors import AuditLensError
from sql.gateway import Database

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_BATCH = 5_000
WRITER_THREADS = 2
KEEP_REJECTIONS = 20
_WIRE = frozenset(WIRE_FIELDS)


class ImportFileError(AuditLensError):
    """A file cannot be imported at all (missing, unreadable, CSV without the wire header)."""


@dataclass
class _Counter:
    """Bytes consumed from the file on disk (compressed), for the progress bar."""

    raw: IO[bytes]

    def position(self) -> int:
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0


def _open(path: Path) -> tuple[IO[bytes], _Counter]:
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    counter = _Counter(raw)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), counter  # type: ignore[return-value]
    return raw, counter


def detect_format(path: Path, explicit: str = "auto") -> str:
    """'jsonl' or 'csv': from --format, else from the name (.csv, .csv.gz), else jsonl."""
    if explicit != "auto":
        return explicit
    name = path.name.lower().removesuffix(".gz")
    return "csv" if name.endswith(".csv") else "jsonl"


def _decode_json_line(line_no: int, line: bytes) -> Item:
    try:
        value = fastjson.loads(line)
    except UnicodeDecodeError:
        return Item(line_no, line, rejected=EventRejected("line", "is not valid UTF-8"))
    except json.JSONDecodeError as exc:
        return Item(
            line_no,
            line,
            rejected=EventRejected("line", f"is not valid JSON: {exc.msg} at column {exc.colno}"),
        )
    except RecursionError:
        return Item(line_no, line, rejected=EventRejected("line", "nests too deep to read"))
    return Item(line_no, line, value)


# No valid event comes near this (details are at most 64 KiB); longer lines are rejected
# without being held in memory, so a hostile file cannot exhaust it.
MAX_LINE_BYTES = 1024 * 1024


def read_jsonl(stream: IO[bytes]) -> Iterator[Item]:
    """One item per non-blank line, numbered from 1."""
    line_no = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        line_no += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            head = line[:200]
            while line and not line.endswith(b"\n"):
                line = stream.readline(MAX_LINE_BYTES)
            yield Item(
                line_no,
                head,
                rejected=EventRejected("line", f"is longer than {MAX_LINE_BYTES} bytes"),
            )
            continue
        stripped = line.strip()
        if not stripped:
            continue
        yield _decode_json_line(line_no, stripped)


def read_csv(stream: IO[bytes], name: str) -> Iterator[Item]:
    """One item per CSV record; the header must name wire fields; empty cells are absent
    fields and `details` holds a JSON object."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportFileError(f"{name}: line 1: unreadable CSV header: {exc}") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    unknown = [h for h in header if h not in _WIRE]
    if unknown:
        raise ImportFileError(
            f"{name}: line 1: unknown CSV column {unknown[0][:40]!r}"
            f" (columns are the wire fields: {', '.join(WIRE_FIELDS)})"
        )
    width = len(header)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_no = reader.line_num
            yield Item(line_no, b"", rejected=EventRejected("line", f"is not valid CSV: {exc}"))
            continue
        line_no = reader.line_num
        raw = _csv_raw(record)
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != width:
            yield Item(
                line_no,
                raw,
                rejected=EventRejected("line", f"has {len(record)} cells, the header has {width}"),
            )
            continue
        value: dict[str, Any] = {}
        rejected = None
        for key, cell in zip(header, record, strict=True):
            if cell == "":
                continue
            if key == "details":
                try:
                    value[key] = json.loads(cell)
                except (json.JSONDecodeError, RecursionError):
                    rejected = EventRejected("details", "is not a JSON object")
                    break
            else:
                value[key] = cell
        yield Item(line_no, raw, value, rejected)


def _csv_raw(record: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(record)
    return out.getvalue().encode("utf-8", "surrogateescape")


def read_items(path: Path, fmt: str, stream: IO[bytes]) -> Iterator[Item]:
    if fmt == "csv":
        return read_csv(stream, str(path))
    return read_jsonl(stream)


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


Progress = Callable[[int], None]


def import_file(
    db: Database | None,
    path: Path,
    *,
    fmt: str = "auto",
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    default_org: str | None = None,
) -> WriteResult:
    """Import one file; returns its counts and the first rejections (with line numbers).
    With `dry_run` (or no database) nothing is written: rows are only validated, and
    `accepted` counts what would be offered to the database. Rejected lines that name no
    valid organisation are filed under `default_org` (else under none)."""
    fmt = detect_format(path, fmt)
    stream, counter = _open(path)
    total = WriteResult()
    # Batches commit without waiting for the disk; the import waits once, at the end, before
    # it reports anything (make_durable). A crash before that fails the import, and running
    # it again adds exactly what is missing (ids are content-derived when absent).
    try:
        batches = _batches(read_items(path, fmt, stream), batch_size)
        if dry_run or db is None:
            checker = EventWriter(None, source="dry-run", content_ids=True)
            for batch in batches:
                rows, _, bad = checker.check(batch)
                total.add(
                    WriteResult(
                        sent=len(batch),
                        accepted=len(rows),
                        rejected=len(bad),
                        rejections=_rejections(bad),
                    ),
                    keep=KEEP_REJECTIONS,
                )
                if progress:
                    progress(counter.position())
            return total
        writer = EventWriter(
            db,
            source=f"import:{path.name}",
            content_ids=True,
            default_org=default_org,
            synchronous_commit=False,
        )
        with short_switch_interval():
            _pipelined(writer, batches, total, progress, counter)
        make_durable(db)
        return total
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImportFileError(
            f"{path}: read failed: {exc} (the {total.sent} events before it were processed)"
        ) from None
    finally:
        stream.close()
        counter.raw.close()


def _rejections(bad: list[Item]) -> list[Any]:
    from ingest.writer import Rejection

    return [
        Rejection(
            i.position,
            i.rejected.field if i.rejected else "event",
            i.rejected.reason if i.rejected else "rejected",
        )
        for i in bad
    ]


_DONE = object()


def _pipelined(
    writer: EventWriter,
    batches: Iterator[list[Item]],
    total: WriteResult,
    progress: Progress | None,
    counter: _Counter,
) -> None:
    """Decode and validate in this thread while writer threads store: psycopg releases the
    GIL while the server works, so checking batch N+1 overlaps storing batch N, and two
    transactions at once let the server use a second core for index maintenance."""
    pending: queue.Queue[Any] = queue.Queue(maxsize=WRITER_THREADS + 1)
    failure: list[BaseException] = []
    lock = threading.Lock()

    def drain() -> None:
        while True:
            batch = pending.get()
            if batch is _DONE:
                return
            if failure:
                continue
            try:
                result = writer.write_rows(*batch)
            except BaseException as exc:
                failure.append(exc)
                continue
            with lock:
                total.add(result, keep=KEEP_REJECTIONS)

    threads = [
        threading.Thread(target=drain, name=f"auditlens-import-writer-{n}", daemon=True)
        for n in range(WRITER_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            if failure:
                break
            # Validation here, storing in the writer threads: the two overlap.
            pending.put(writer.check(batch))
            if progress:
                progress(counter.position())
    finally:
        for _ in threads:
            pending.put(_DONE)
        for thread in threads:
            thread.join()
    if failure:
        raise failure[0]
