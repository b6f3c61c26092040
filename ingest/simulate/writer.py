"""Writing a simulation: JSONL file (plus the labels file next to it) or the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ingest.simulate.engine import Simulation
from sql.event_store import insert_events
from sql.gateway import Database

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class SimulationOutcome:
    events: int
    labels: int
    inserted: int  # rows new to the database (0 when writing a file)
    labels_path: Path | None


def labels_path_for(out: Path) -> Path:
    """`events.jsonl` -> `events.labels.json` (same folder)."""
    name = out.name
    for suffix in (".jsonl", ".ndjson", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return out.with_name(name + ".labels.json")


def write_labels(sim: Simulation, path: Path) -> None:
    """The labels document (see README.md) as indented JSON."""
    path.write_bytes(orjson.dumps(sim.labels_document(), option=orjson.OPT_INDENT_2) + b"\n")


def write_jsonl(
    sim: Simulation,
    out: Path,
    labels: Path | None = None,
    progress: ProgressFn | None = None,
) -> SimulationOutcome:
    """Stream every event to `out` as JSONL, then write the labels file."""
    labels = labels or labels_path_for(out)
    with out.open("wb") as fh:
        for lines in sim.chunks():
            fh.write("".join(lines).encode())
            if progress:
                progress(len(lines))
    write_labels(sim, labels)
    return SimulationOutcome(sim.events, len(sim.labels), 0, labels)


def line_to_row(line: str) -> tuple[Any, ...]:
    """A wire-format line -> a row in `EVENT_COLUMNS` order (details stay serialised)."""
    e = orjson.loads(line)
    return (
        e["organization_id"],
        e["id"],
        datetime.fromisoformat(e["timestamp"]),
        e["event_type"],
        e["event_action"],
        e["user_id"],
        e["user_email"],
        e["ip_address"],
        e["user_agent"],
        e["resource_type"],
        e["resource_id"],
        orjson.dumps(e["details"]).decode(),
        e["session_id"],
    )


def write_database(
    sim: Simulation,
    db: Database,
    labels: Path | None = None,
    *,
    batch: int = 20_000,
    progress: ProgressFn | None = None,
) -> SimulationOutcome:
    """Insert every event through the event store (one transaction per batch; re-running the
    same simulation inserts nothing new), then write the labels file if asked."""
    inserted = 0
    rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal inserted
        with db.writer() as session:
            inserted += insert_events(session, rows).inserted
        if progress:
            progress(len(rows))
        rows.clear()

    for lines in sim.chunks():
        rows.extend(line_to_row(line) for line in lines)
        if len(rows) >= batch:
            flush()
    if rows:
        flush()
    if labels is not None:
        write_labels(sim, labels)
    return SimulationOutcome(sim.events, len(sim.labels), inserted, labels)
