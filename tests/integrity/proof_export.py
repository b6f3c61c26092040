"""A proof export into a file, as `auditlens export-proof` makes it."""

from __future__ import annotations

from pathlib import Path

from sql.event_filter import EventFilter
from sql.gateway import Database
from usecases.exports import Exporter, export_to_file


def export_with_proofs(
    db: Database, org: str, out: Path, fmt: str, actor: str = "tester"
) -> tuple[int, int, str]:
    """Every event of `org` with its proof: (rows written, rows with a proof, file SHA-256)."""
    record, proven = export_to_file(
        db, org, EventFilter(), fmt, out, exporter=Exporter(actor), with_proofs=True
    )
    return record.rows, proven, record.sha256
