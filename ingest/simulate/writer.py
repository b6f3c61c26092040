"""Writing a simulation: JSONL file (plus the labels file next to it) or the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from ingest.simulate.engine import Simulation
from ingest.writer import EventWriter, Item, WriteResult
from sql.gateway import Database

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class SimulationOutcome:
    events: int
    labels: int
    inserted: int  # rows new to the database (0 when writing a file)
    labels_path: Path | None
    rejected: int = 0  # events the ingest validation refused (always 0 unless a bug)


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


def write_database(
    sim: Simulation,
    db: Database,
    labels: Path | None = None,
    *,
    batch: int = 20_000,
    progress: ProgressFn | None = None,
) -> SimulationOutcome:
    """Validate and insert every event through the ingest writer (one transaction per batch;
    a reject would be kept in `audit_rejects`; re-running the same simulation inserts nothing
    new), then write the labels file if asked."""
    writer = EventWriter(db, source="simulate")
    total = WriteResult()
    items: list[Item] = []

    def flush() -> None:
        total.add(writer.write(items), keep=5)
        if progress:
            progress(len(items))
        items.clear()

    position = 0
    for lines in sim.chunks():
        for line in lines:
            position += 1
            raw = line.encode()
            items.append(Item(position, raw, orjson.loads(raw)))
        if len(items) >= batch:
            flush()
    if items:
        flush()
    if labels is not None:
        write_labels(sim, labels)
    return SimulationOutcome(sim.events, len(sim.labels), total.accepted, labels, total.rejected)
