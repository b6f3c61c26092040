"""Exports of the filtered raw events as CSV or NDJSON: streamed, escaped, recorded.

Rows come from a server-side cursor (`session.stream`) in the viewer's organisation, so an
export of a million rows never sits in memory as rows; the file is hashed as it is written.
Every export becomes a row of `audit_exports` (who, the filter as JSON and in words, rows,
SHA-256 of the file, flagged for review above 10,000 rows) and an audit event of its own. The
row is written before the first byte leaves and finalised when the export ends
(`sql/export_log.py`), so an export cut short by an outage is still on record, as started.

CSV cells that a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab
or carriage return) get a leading single quote. NDJSON stays exact: it is JSON, which no
spreadsheet evaluates, and an investigator needs the values as they were.

With `with_proofs`, the file is written in the proof export format instead
(`integrity/proof.py`: the same columns plus a `proof` column holding each row's Merkle
inclusion path and signed seal), so `auditlens verify-export FILE --public-key seal.pub`
checks it offline; rows not sealed yet carry an empty proof (and fail that check).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.exc import DBAPIError

from ingest.spreadsheet import escape_cell
from integrity.proof import ProofBuilder, filtered_export_sql, write_export
from sql.event_filter import EventFilter
from sql.event_store import record_event
from sql.export_log import (
    ExportHeader,
    event_details,
    finalise,
    insert_ended,
    insert_started,
)
from sql.gateway import Database, check_org_id
from sql.vocabulary import EXPORT, EXPORT_COLUMNS

_log = logging.getLogger(__name__)

FORMATS = ("csv", "ndjson")
REVIEW_THRESHOLD = 10_000
RECORD_ATTEMPTS = 5
EXPORT_TIMEOUT_MS = 600_000
_MIME = {"csv": "text/csv", "ndjson": "application/x-ndjson"}


class Selection(Protocol):
    """What an export holds, as recorded with it: an EventFilter, or another kind's criteria."""

    def to_dict(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Exporter:
    """Who exports: recorded with the export and as the audit event's user."""

    user_id: str
    email: str | None = None
    session_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ExportResult:
    export_id: int
    event_id: str
    rows: int
    sha256: str
    flagged_for_review: bool
    file_format: str

    @property
    def mime(self) -> str:
        return _MIME[self.file_format]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    return str(value)  # inet and anything else exotic


def _select(db: Database, event_filter: EventFilter) -> tuple[str, dict[str, Any]]:
    where, params = event_filter.sql_for(db)
    # Column names are the fixed EXPORT_COLUMNS; the filter's values are all bound.
    sql = (
        f"SELECT {', '.join(EXPORT_COLUMNS)} FROM org_audit_events WHERE {where}"  # noqa: S608
        " ORDER BY event_time, ingest_seq"
    )
    return sql, params


def _encode(file_format: str, rows: Any, header: bool) -> Iterator[bytes]:
    if file_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if header:
            writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([escape_cell(_text(v)) for v in row])
        yield buffer.getvalue().encode("utf-8")
    else:
        lines = [
            json.dumps(
                {c: _json_value(v) for c, v in zip(EXPORT_COLUMNS, row, strict=True)},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
            for row in rows
        ]
        yield "".join(lines).encode("utf-8")


class ExportStream:
    """One export as the chunks of its file, for a writer (`export_events`) or an HTTP
    response (`dashboard/download_route.py`). Iterating first records the export as started
    (`export_id` is its row; if that fails, no byte leaves), then reads the rows in one read
    transaction (a consistent snapshot) with a server-side cursor and hashes the bytes as they
    go; after the last chunk the record is finalised as completed and `result` holds it.
    A consumer that stops early (a download cut off: it closes the iterator) or a failure
    partway finalises it with what was handed out, as not completed (its rows and the SHA-256
    of those bytes): at most that much reached the client, and it may have. If even that
    cannot be written (the database is gone), the record stays started and never ended.
    """

    def __init__(
        self,
        db: Database,
        org: str,
        event_filter: EventFilter,
        file_format: str,
        *,
        exporter: Exporter,
        batch_size: int = 5_000,
        with_proofs: bool = False,
    ) -> None:
        check_org_id(org)
        if file_format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got: {file_format!r}")
        self.db, self.org, self.event_filter = db, org, event_filter
        self.file_format, self.exporter = file_format, exporter
        self.batch_size, self.with_proofs = batch_size, with_proofs
        self.kind = "events_with_proofs" if with_proofs else "events"
        self.rows = 0  # rows handed out so far (counted as each chunk is)
        self.proven = 0  # of those, rows with a proof (proof exports only)
        self.export_id: int | None = None  # the started record, once written
        self.result: ExportResult | None = None

    def __iter__(self) -> Generator[bytes, None, None]:
        export_id = self.export_id = start_export(
            self.db,
            self.org,
            self.event_filter,
            self.file_format,
            exporter=self.exporter,
            kind=self.kind,
        )
        digest = hashlib.sha256()
        chunks = self._proof_chunks() if self.with_proofs else self._chunks()
        complete = False
        try:
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
            complete = True
        finally:
            if not complete:
                # Closed early (the browser went away) or failed partway: whatever was handed
                # out may have reached the client, so the record says so, as not completed.
                chunks.close()  # ends the read transaction first
                self._finish_cut_off(export_id, digest.hexdigest())
        self.result = self._finish(export_id, digest.hexdigest(), complete=True)

    def _finish(self, export_id: int, sha256: str, *, complete: bool) -> ExportResult:
        return finish_export(
            self.db,
            self.org,
            export_id,
            self.event_filter,
            self.file_format,
            rows=self.rows,
            sha256=sha256,
            exporter=self.exporter,
            kind=self.kind,
            complete=complete,
            extra_details={"with_proofs": self.proven} if self.with_proofs else None,
        )

    def _finish_cut_off(self, export_id: int, sha256: str) -> None:
        try:
            self.result = self._finish(export_id, sha256, complete=False)
        except Exception:  # the original failure (if any) is the one to raise
            _log.exception(
                "export %s cut off after %d rows stays recorded as started, never ended",
                export_id,
                self.rows,
            )

    def _chunks(self) -> Generator[bytes, None, None]:
        sql, params = _select(self.db, self.event_filter)
        # Exports may be long; each FETCH is its own statement, but the first one may sort.
        with self.db.org_session(self.org, timeout_ms=EXPORT_TIMEOUT_MS) as session:
            first = True
            for _columns, batch in session.stream(sql, params, batch_size=self.batch_size):
                self.rows += len(batch)
                yield from _encode(self.file_format, batch, header=first)
                first = False
            if first and self.file_format == "csv":
                # No rows at all: the CSV still carries its header.
                yield from _encode(self.file_format, [], header=True)

    def _proof_chunks(self) -> Generator[bytes, None, None]:
        """The proof export format (see the module docstring)."""
        where, params = self.event_filter.sql_for(self.db)
        sql = filtered_export_sql(where)
        csv_format = self.file_format == "csv"
        with self.db.org_session(self.org, timeout_ms=EXPORT_TIMEOUT_MS) as session:
            # The reader session can only ever prove this organisation's own rows.
            builder = ProofBuilder(session)
            first = True
            for _columns, batch in session.stream(sql, params, batch_size=self.batch_size):
                proofs = builder.proofs(r[0] for r in batch)
                text = io.StringIO()
                write_export(batch, proofs, text, self.file_format)
                body = text.getvalue()
                if not first and csv_format:
                    body = body.split("\n", 1)[1]  # the header only once
                self.rows += len(batch)
                self.proven += sum(1 for r in batch if r[0] in proofs)
                yield body.encode("utf-8")
                first = False
            if first and csv_format:
                text = io.StringIO()
                write_export([], {}, text, self.file_format)
                yield text.getvalue().encode("utf-8")


def export_events(
    db: Database,
    org: str,
    event_filter: EventFilter,
    file_format: str,
    out: IO[bytes],
    *,
    exporter: Exporter,
    batch_size: int = 5_000,
    with_proofs: bool = False,
) -> ExportResult:
    """Write the filtered events of `org` to `out` and record the export; returns the record.

    The export is recorded as started before the first byte is written; the rows are read in
    one read transaction (a consistent snapshot), then the record is finalised and the audit
    event written in one write transaction.
    """
    stream = ExportStream(
        db,
        org,
        event_filter,
        file_format,
        exporter=exporter,
        batch_size=batch_size,
        with_proofs=with_proofs,
    )
    return _written(stream, out)


def export_to_file(
    db: Database,
    org: str,
    event_filter: EventFilter,
    file_format: str,
    path: Path,
    *,
    exporter: Exporter,
    with_proofs: bool = False,
) -> tuple[ExportResult, int]:
    """`export_events` into `path`, a new file (one that exists is refused before anything
    is recorded): the record, and how many rows carry a proof (`with_proofs`; rows not sealed
    yet carry none)."""
    stream = ExportStream(
        db, org, event_filter, file_format, exporter=exporter, with_proofs=with_proofs
    )
    try:
        out = path.open("xb")
    except FileExistsError:
        raise ValueError(f"{path} exists; refusing to overwrite it") from None
    with out:
        return _written(stream, out), stream.proven


def _written(stream: ExportStream, out: IO[bytes]) -> ExportResult:
    for chunk in stream:
        out.write(chunk)
    if stream.result is None:  # set once the last chunk is out
        raise RuntimeError(f"the export of {stream.org} ended without its record")
    return stream.result


def start_export(
    db: Database,
    org: str,
    selection: Selection,
    file_format: str,
    *,
    exporter: Exporter,
    kind: str = "events",
) -> int:
    """Record an export as started, before its first byte leaves; its `export_id`, which
    `finish_export` finalises when it ends."""
    header = _header(org, selection, file_format, exporter, kind)
    with db.writer() as session:
        return insert_started(session, header)


def finish_export(
    db: Database,
    org: str,
    export_id: int,
    selection: Selection,
    file_format: str,
    *,
    rows: int,
    sha256: str,
    exporter: Exporter,
    kind: str = "events",
    complete: bool = True,
    extra_details: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Finalise the started export `export_id` with what was handed out (`complete=False` for
    one cut off partway) and write its `data_modification`/`export` event, in one transaction.
    `extra_details` adds what only this kind has (an evidence pack's signing key) to the
    details every export's event carries (`sql.export_log.event_details`).

    The bytes are out already, so a finalisation the server rolled back on its own (a deadlock
    or serialization failure, e.g. with a concurrent purge) is written again, not given up."""
    return _retried(
        lambda: _write_record(
            db,
            org,
            export_id,
            selection,
            file_format,
            rows,
            sha256,
            exporter,
            kind,
            complete,
            extra_details,
        )
    )


def record_export(
    db: Database,
    org: str,
    selection: Selection,
    file_format: str,
    *,
    rows: int,
    sha256: str,
    exporter: Exporter,
    kind: str = "events",
    complete: bool = True,
) -> ExportResult:
    """Record, already ended, an export whose bytes are all known and none sent yet (a report,
    a findings file): its row and its event in one transaction. Call it before writing them."""
    return _retried(
        lambda: _write_record(
            db, org, None, selection, file_format, rows, sha256, exporter, kind, complete, None
        )
    )


def _retried(write: Callable[[], ExportResult]) -> ExportResult:
    """`write()`, again when the server rolled it back on its own (class 40: a deadlock or a
    serialization failure), up to RECORD_ATTEMPTS times."""
    for _ in range(RECORD_ATTEMPTS - 1):
        try:
            return write()
        except Exception as exc:
            # The event's COPY goes through the driver: its errors are psycopg's, unwrapped.
            orig = exc.orig if isinstance(exc, DBAPIError) else exc
            if not str(getattr(orig, "sqlstate", "") or "").startswith("40"):
                raise
    return write()


def _header(
    org: str, selection: Selection, file_format: str, exporter: Exporter, kind: str
) -> ExportHeader:
    return ExportHeader(
        organization_id=org,
        exported_by=exporter.email or exporter.user_id,
        kind=kind,
        file_format=file_format,
        filter=selection.to_dict(),
        filter_text=selection.describe(),
    )


def _write_record(
    db: Database,
    org: str,
    export_id: int | None,
    selection: Selection,
    file_format: str,
    rows: int,
    sha256: str,
    exporter: Exporter,
    kind: str,
    complete: bool,
    extra_details: Mapping[str, Any] | None,
) -> ExportResult:
    """Finalise `export_id`, or with None insert the record already ended; then its event."""
    flagged = rows > REVIEW_THRESHOLD
    header = _header(org, selection, file_format, exporter, kind)
    with db.writer() as session:
        if export_id is None:
            export_id = insert_ended(
                session, header, rows=rows, sha256=sha256, flagged=flagged, complete=complete
            )
        else:
            finalise(
                session,
                org,
                export_id,
                rows=rows,
                sha256=sha256,
                flagged=flagged,
                complete=complete,
            )
        event_id = record_event(
            session,
            organization_id=org,
            action=EXPORT,
            user_id=exporter.user_id,
            user_email=exporter.email,
            resource_type="audit_log",
            resource_id=f"export/{export_id}",
            # The common keys last: a kind's additions never change what every export says.
            details={
                **(extra_details or {}),
                **event_details(
                    export_id, header, rows=rows, sha256=sha256, flagged=flagged, complete=complete
                ),
            },
            ip_address=exporter.ip_address,
            user_agent=exporter.user_agent,
            session_id=exporter.session_id,
        )
    return ExportResult(int(export_id), event_id, rows, sha256, flagged, file_format)
