"""File destinations: one record per line, rotated by size and by age, nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

from streaming.files import FileSender
from streaming.records import Record


def records(start: int, count: int) -> list[Record]:
    moment = "2025-01-01T00:00:00.000000Z"
    return [
        Record(f"e{i}", "org_a", moment, "event", f'{{"id":"e{i}"}}')
        for i in range(start, start + count)
    ]


def all_lines(path: Path) -> list[str]:
    rotated = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: p.stat().st_mtime_ns)
    return [line for p in [*rotated, path] if p.exists() for line in p.read_text().splitlines()]


def test_rotates_by_size_and_keeps_every_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    sender = FileSender({"path": str(path), "max_bytes": 1024, "max_seconds": 3600})
    for n in range(10):
        sender.send(records(n * 20, 20))
    rotated = list(tmp_path.glob("out.ndjson.*"))
    assert len(rotated) >= 3
    assert all(p.stat().st_size <= 1024 for p in [*rotated, path])
    assert all_lines(path) == [f'{{"id":"e{i}"}}' for i in range(200)]


def test_rotates_by_age(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    sender = FileSender({"path": str(path), "max_bytes": 10**9, "max_seconds": 60})
    sender.send(records(0, 2))
    sender.send(records(2, 2))
    assert list(tmp_path.glob("out.ndjson.*")) == []
    (tmp_path / ".out.ndjson.started").write_text(str(time.time() - 61))
    sender.send(records(4, 2))
    rotated = list(tmp_path.glob("out.ndjson.*"))
    assert len(rotated) == 1
    assert rotated[0].read_text().count("\n") == 4
    assert path.read_text().count("\n") == 2
