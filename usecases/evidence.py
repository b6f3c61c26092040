"""Making an evidence pack: figures, document, signature, and its record as an export.

The export's row is written before the file (`sql/export_log.py`), so the document can name
the export it was filed under, and is finalised with the file's SHA-256 once it is written,
with an `export` audit event: both through the exports use case (`usecases/exports.py`), so
the pack's event carries every export's details. The signature lies beside the file
(`FILE.sig`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrity.keys import PublicKeys, SigningKey
from sql.errors import AuditLensError
from sql.export_log import EMPTY_SHA256
from sql.gateway import Database
from usecases.evidence_document import render_html
from usecases.evidence_pack import EvidenceFigures, RestrictedSet, gather
from usecases.evidence_signature import sign, signature_path
from usecases.exports import Exporter, finish_export, start_export
from usecases.pdf_print import html_to_pdf

FORMATS = ("html", "pdf")
EXPORT_KIND = "evidence_pack"


class EvidencePackError(AuditLensError):
    """A pack that cannot be made as asked; the message names the option."""


@dataclass(frozen=True)
class PackSelection:
    """What a pack covers, as recorded with its export: the filters printed on it."""

    figures: EvidenceFigures
    text: str

    def to_dict(self) -> dict[str, Any]:
        return self.figures.filters()

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class EvidencePack:
    path: Path
    signature: Path
    sha256: str
    export_id: int
    figures: EvidenceFigures


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise EvidencePackError(
            f"--out: {path} exists; a filed pack is never overwritten"
        ) from None
    except OSError as exc:
        raise EvidencePackError(f"--out: cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        # A half-written file is not a pack; it is this call's own, so it goes.
        path.unlink(missing_ok=True)
        raise


def create_pack(
    db: Database,
    org_id: str,
    start: datetime,
    end: datetime,
    *,
    file_format: str,
    out: Path,
    key: SigningKey,
    author: str,
    restricted: RestrictedSet | None = None,
) -> EvidencePack:
    """Make, sign and record `org_id`'s pack for [start, end) as `out` (html or pdf)."""
    if file_format not in FORMATS:
        raise EvidencePackError(f"--format must be one of {', '.join(FORMATS)}, got: {file_format}")
    for path in (out, signature_path(out)):
        if path.exists():
            raise EvidencePackError(f"--out: {path} exists; a filed pack is never overwritten")
    try:
        figures = gather(
            db, org_id, start, end, PublicKeys({key.key_id: key.public}),
            restricted=restricted, actor=author,
        )  # fmt: skip
    except ValueError as exc:
        raise EvidencePackError(f"--from/--to: {exc}") from None
    selection = PackSelection(
        figures, f"evidence pack of {org_id} from {start.isoformat()} to {end.isoformat()}"
    )
    exporter = Exporter(user_id=author)
    export_id = start_export(
        db, org_id, selection, file_format, exporter=exporter, kind=EXPORT_KIND
    )
    sha256, rows, complete = EMPTY_SHA256, 0, False
    try:
        html = render_html(
            figures, author=author, generated_at=datetime.now(UTC), export_id=export_id
        )
        data = html.encode("utf-8") if file_format == "html" else html_to_pdf(html)
        sha256 = hashlib.sha256(data).hexdigest()
        _write_new(out, data)
        try:
            _write_new(signature_path(out), sign(data, org_id, key).encode())
        except BaseException:
            # An unsigned pack would pass for a filed one (the schedule skips what exists):
            # the pack this call wrote goes with its failed signature.
            out.unlink(missing_ok=True)
            raise
        rows, complete = figures.rows_listed, True
    finally:
        finish_export(
            db, org_id, export_id, selection, file_format, rows=rows, sha256=sha256,
            exporter=exporter, kind=EXPORT_KIND, complete=complete,
            extra_details={"key_id": key.key_id},
        )  # fmt: skip
    return EvidencePack(out, signature_path(out), sha256, export_id, figures)
