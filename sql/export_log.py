"""Rows of `audit_exports`, written ahead of the bytes they describe.

An export that streams gets its row before its first byte leaves (`insert_started`: who, what,
the filter; no rows, the SHA-256 of nothing, not completed, `ended_at` NULL) and has that row
finalised once when it ends (`finalise`: rows, SHA-256 of what was handed out, completed,
`ended_at`). A row left with `ended_at` NULL is an export that began and whose outcome is
unknown (the database went away before its end could be written). A file whose bytes are all
known before any leaves is recorded in one go, already ended (`insert_ended`).

The database holds the rest: the writer may update only the finalising columns, and a row
whose `ended_at` is set cannot change again (see the guarantees migration).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sql.gateway import ScopedSession

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class ExportHeader:
    """What an export is, known before its first byte: recorded when it starts."""

    organization_id: str
    exported_by: str
    kind: str
    file_format: str
    filter: dict[str, Any]
    filter_text: str

    def params(self) -> dict[str, Any]:
        return {
            "org": self.organization_id,
            "by": self.exported_by,
            "kind": self.kind,
            "fmt": self.file_format,
            "filter": json.dumps(self.filter),
            "text": self.filter_text,
        }


_INSERT = (
    "INSERT INTO audit_exports (organization_id, exported_by, export_kind, export_format,"
    " filter, filter_text, row_count, sha256, flagged_for_review, completed, ended_at)"
    " VALUES (:org, :by, :kind, :fmt, CAST(:filter AS jsonb), :text, :rows, :sha,"
    " :flagged, :complete, CASE WHEN :ended THEN now() END) RETURNING export_id"
)


def insert_started(session: ScopedSession, header: ExportHeader) -> int:
    """The row of an export about to hand out its first byte; its id."""
    params = {"rows": 0, "sha": EMPTY_SHA256, "flagged": False, "complete": False, "ended": False}
    return int(session.scalar(_INSERT, {**header.params(), **params}))


def insert_ended(
    session: ScopedSession,
    header: ExportHeader,
    *,
    rows: int,
    sha256: str,
    flagged: bool,
    complete: bool,
) -> int:
    """The row of an export whose bytes are all known and none sent yet; its id."""
    params = {"rows": rows, "sha": sha256, "flagged": flagged, "complete": complete, "ended": True}
    return int(session.scalar(_INSERT, {**header.params(), **params}))


def finalise(
    session: ScopedSession,
    organization_id: str,
    export_id: int,
    *,
    rows: int,
    sha256: str,
    flagged: bool,
    complete: bool,
) -> None:
    """End `organization_id`'s started export `export_id` with what it handed out (once: a
    second time the database refuses). Matched on both: export ids are per organisation."""
    updated = session.execute(
        "UPDATE audit_exports SET row_count = :rows, sha256 = :sha,"
        " flagged_for_review = :flagged, completed = :complete, ended_at = now()"
        " WHERE organization_id = :org AND export_id = :id RETURNING export_id",
        {
            "org": organization_id,
            "id": export_id,
            "rows": rows,
            "sha": sha256,
            "flagged": flagged,
            "complete": complete,
        },
    ).rows
    if not updated:
        raise LookupError(
            f"export {export_id} of {organization_id} has no started record to finalise"
        )


def event_details(
    export_id: int,
    header: ExportHeader,
    *,
    rows: int,
    sha256: str,
    flagged: bool,
    complete: bool,
) -> dict[str, Any]:
    """The `details` of every export's audit event, whatever its kind: the same keys, so the
    read model (`records`) and a reviewer read each export the same way."""
    return {
        "export_id": export_id,
        "kind": header.kind,
        "format": header.file_format,
        "records": rows,
        "sha256": sha256,
        "query": header.filter.get("query", ""),
        "filter": header.filter_text,
        "flagged_for_review": flagged,
        "completed": complete,
    }
