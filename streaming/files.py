"""File delivery: one record per line, appended and fsynced, rotated by size and by age.

A shipping agent picks up the rotated files (`NAME.YYYYmmddTHHMMSSZ-N`); the current one keeps
the configured name. A batch counts as taken once it is on disk (fsync).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streaming.records import Record


class FileSender:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.path = Path(settings["path"])
        self.max_bytes: int = settings["max_bytes"]
        self.max_seconds: int = settings["max_seconds"]

    def _rotate_if_due(self, adding: int) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        too_big = stat.st_size > 0 and stat.st_size + adding > self.max_bytes
        too_old = stat.st_size > 0 and time.time() - _born(self.path) >= self.max_seconds
        if too_big or too_old:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            n = 0
            while (target := self.path.with_name(f"{self.path.name}.{stamp}-{n}")).exists():
                n += 1
            os.replace(self.path, target)
            _born_marker(self.path).unlink(missing_ok=True)

    def send(self, records: Sequence[Record]) -> None:
        if not records:
            return
        data = b"".join(r.line.encode() + b"\n" for r in records)
        self._rotate_if_due(len(data))
        new = not self.path.exists()
        with open(self.path, "ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if new:
            _born_marker(self.path).write_text(str(time.time()))

    def close(self) -> None:
        return None


def _born_marker(path: Path) -> Path:
    # When the current file was started (file systems do not all keep a birth time).
    return path.with_name(f".{path.name}.started")


def _born(path: Path) -> float:
    try:
        return float(_born_marker(path).read_text())
    except (FileNotFoundError, ValueError):
        return path.stat().st_mtime
