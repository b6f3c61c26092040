"""Exports of the filtered raw events as CSV or NDJSON: streamed, escaped, recorded.

Rows come from a server-side cursor (`session.stream`) in the viewer's organisation, so an
export of a million rows never sits in memory as rows; the file is hashed as it is written.
Every export becomes a row of `audit_exports` (who, the filter as JSON and in words, rows,
SHA-256 of the file, flagged for review above 10,000 rows) and an audit event of its own.

CSV cells that a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab
or carriage return) get a leading single quote. NDJSON stays exact: it is JSON, which no
spreadsheet evaluates, and an investigator needs the values as they were.

With `with_proofs`, the file is written in the proof export format instead
(`integrity/proof.py`: the wire fields plus a `proof` column holding each row's Merkle
inclusion path and signed seal), so `auditlens verify-export FILE --public-key seal.pub`
checks it offline; rows not sealed yet carry an empty proof (and fail that check).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from sqlalchemy.exc import DBAPIError

from ingest.spreadsheet import escape_cell
from integrity.proof import ProofBuilder, filtered_export_sql, write_export
from sql.event_filter import EventFilter
from sql.event_store import record_event
from sql.gateway import Database, check_org_id
from sql.vocabulary import EVENT_COLUMNS, EXPORT

_log = logging.getLogger(__name__)

FORMATS = ("csv", "ndjson")
REVIEW_THRESHOLD = 10_000
RECORD_ATTEMPTS = 5
EXPORT_TIMEOUT_MS = 600_000
# The CSV/NDJSON columns (a contract with whoever reads the files): the stored columns but
# the organisation (an export is one organisation's), then the store's sequence number.
EXPORT_COLUMNS: tuple[str, ...] = (
    *(c for c in EVENT_COLUMNS if c != "organization_id"),
    "ingest_seq",
)
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
    response (`dashboard/download_route.py`). Iterating reads the rows in one read transaction
    (a consistent snapshot) with a server-side cursor and hashes the bytes as they go; after
    the last chunk the export is recorded (`record_export`) and `result` holds the record.
    A consumer that stops early (a download cut off: it closes the iterator) or a failure
    partway records what was handed out as an export that did not complete
    (`audit_exports.completed` false, its rows and the SHA-256 of those bytes): at most that
    much reached the client, and it may have.
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
        self.rows = 0  # rows handed out so far (counted as each chunk is)
        self.result: ExportResult | None = None

    def __iter__(self) -> Generator[bytes, None, None]:
        digest = hashlib.sha256()
        chunks = self._proof_chunks() if self.with_proofs else self._chunks()
        handed_out = False
        complete = False
        try:
            for chunk in chunks:
                digest.update(chunk)
                handed_out = True
                yield chunk
            complete = True
        finally:
            if not complete:
                # Closed early (the browser went away) or failed partway: whatever was handed
                # out may have reached the client, so it is recorded, as not completed.
                chunks.close()  # ends the read transaction first
                if handed_out:
                    self._record_cut_off(digest.hexdigest())
        self.result = self._record(digest.hexdigest(), complete=True)

    def _record(self, sha256: str, *, complete: bool) -> ExportResult:
        return record_export(
            self.db,
            self.org,
            self.event_filter,
            self.file_format,
            rows=self.rows,
            sha256=sha256,
            exporter=self.exporter,
            kind="events_with_proofs" if self.with_proofs else "events",
            complete=complete,
        )

    def _record_cut_off(self, sha256: str) -> None:
        try:
            self.result = self._record(sha256, complete=False)
        except Exception:  # the original failure (if any) is the one to raise
            _log.exception("could not record an export cut off after %d rows", self.rows)

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
                text = io.StringIO()
                write_export(batch, builder.proofs(r[0] for r in batch), text, self.file_format)
                body = text.getvalue()
                if not first and csv_format:
                    body = body.split("\n", 1)[1]  # the header only once
                self.rows += len(batch)
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

    The rows are read in one read transaction (a consistent snapshot), then the export is
    recorded in `audit_exports` and as an audit event in one write transaction.
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
    for chunk in stream:
        out.write(chunk)
    if stream.result is None:  # set once the last chunk is out
        raise RuntimeError(f"the export of {org} ended without its record")
    return stream.result


def record_export(
    db: Database,
    org: str,
    event_filter: Selection,
    file_format: str,
    *,
    rows: int,
    sha256: str,
    exporter: Exporter,
    kind: str = "events",
    complete: bool = True,
) -> ExportResult:
    """Record an export in `audit_exports` and as a `data_modification`/`export` event;
    `complete=False` for one cut off partway (`rows` and `sha256` of what was handed out).

    The bytes are out already, so a record the server rolled back on its own (a deadlock or
    serialization failure, e.g. with a concurrent purge) is written again, not given up."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return _record_once(
                db, org, event_filter, file_format, rows, sha256, exporter, kind, complete
            )
        except Exception as exc:
            # The event's COPY goes through the driver: its errors are psycopg's, unwrapped.
            orig = exc.orig if isinstance(exc, DBAPIError) else exc
            state = str(getattr(orig, "sqlstate", "") or "")
            if attempt == RECORD_ATTEMPTS - 1 or not state.startswith("40"):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _record_once(
    db: Database,
    org: str,
    event_filter: Selection,
    file_format: str,
    rows: int,
    sha256: str,
    exporter: Exporter,
    kind: str,
    complete: bool,
) -> ExportResult:
    flagged = rows > REVIEW_THRESHOLD
    filter_json = event_filter.to_dict()
    filter_text = event_filter.describe()
    with db.writer() as session:
        export_id = session.scalar(
            "INSERT INTO audit_exports (organization_id, exported_by, export_kind, export_format,"
            " filter, filter_text, row_count, sha256, flagged_for_review, completed)"
            " VALUES (:org, :by, :kind, :fmt, CAST(:filter AS jsonb), :text, :rows, :sha,"
            " :flagged, :complete) RETURNING export_id",
            {
                "org": org,
                "by": exporter.email or exporter.user_id,
                "kind": kind,
                "fmt": file_format,
                "filter": json.dumps(filter_json),
                "text": filter_text,
                "rows": rows,
                "sha": sha256,
                "flagged": flagged,
                "complete": complete,
            },
        )
        event_id = record_event(
            session,
            organization_id=org,
            action=EXPORT,
            user_id=exporter.user_id,
            user_email=exporter.email,
            resource_type="audit_log",
            resource_id=f"export/{export_id}",
            details={
                "export_id": export_id,
                "kind": kind,
                "format": file_format,
                "records": rows,
                "sha256": sha256,
                "query": filter_json["query"],
                "filter": filter_text,
                "flagged_for_review": flagged,
                "completed": complete,
            },
            ip_address=exporter.ip_address,
            user_agent=exporter.user_agent,
            session_id=exporter.session_id,
        )
    return ExportResult(int(export_id), event_id, rows, sha256, flagged, file_format)
