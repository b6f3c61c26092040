"""Shared by the streaming tests: storing events, reading what a receiver got."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row


def store(
    db: Database, count: int, *, org: str = "org_a", prefix: str = "e", **fields: Any
) -> list[str]:
    """Store `count` events in one transaction; their ids, in order."""
    rows = [event_row(organization_id=org, id=f"{prefix}{i:06d}", **fields) for i in range(count)]
    with db.writer() as session:
        insert_events(session, rows)
    return [r[1] for r in rows]


def file_ids(path: Path) -> list[str]:
    """The ids in an NDJSON file of native events, in file order."""
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def in_order_once_each(received: list[str], expected: list[str]) -> bool:
    """Every expected id arrived, first arrivals in the expected order; repeats only of ids."""
    first: dict[str, int] = {}
    for i, event_id in enumerate(received):
        first.setdefault(event_id, i)
    return set(first) >= set(expected) and sorted(expected, key=first.__getitem__) == expected


def order_problem(received: list[str], expected: list[str]) -> str:
    """What `in_order_once_each` found wrong, for assertion messages."""
    first: dict[str, int] = {}
    for i, event_id in enumerate(received):
        first.setdefault(event_id, i)
    missing = [e for e in expected if e not in first]
    if missing:
        return f"missing {len(missing)}: {missing[:5]}"
    order = sorted(expected, key=first.__getitem__)
    bad = next(i for i, (a, b) in enumerate(zip(order, expected, strict=True)) if a != b)
    return f"out of order at {bad}: got {order[bad - 1 : bad + 2]}"


def store_finding(db: Database, org: str, finding_id: str, title: str = "Bulk export") -> None:
    # As detection does: the writer role inserts the run and its findings.
    with db.writer() as session:
        run = session.scalar(
            "INSERT INTO detection_runs (organization_id, start_day, end_day, actor, rules)"
            " VALUES (:org, '2025-01-15', '2025-01-15', 't', '{}') RETURNING run_id",
            {"org": org},
        )
        session.execute(
            "INSERT INTO findings (organization_id, finding_id, run_id, user_id, day,"
            " window_start, window_end, score, severity, detectors, title, explanation,"
            " evidence_query, rule_score) VALUES (:org, :id, :run, :id, '2025-01-15',"
            " '2025-01-15T00:00Z', '2025-01-16T00:00Z', 0.91, 'high', '{export}',"
            " :title, 'x', 'user:u1', 0.9)",
            {"org": org, "id": finding_id, "run": run, "title": title},
        )
