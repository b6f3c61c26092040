"""Writing a simulation: JSONL file (plus the labels file next to it) or the database."""

from __future__ import annotations

import contextlib
import marshal
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from operator import itemgetter
from pathlib import Path

import orjson

from ingest.writer import EventWriter, Item, WriteResult
from simulator.catalogue import describe_simulation
from simulator.engine import Simulation
from sql.gateway import Database

ProgressFn = Callable[[int], None]
_first = itemgetter(0)


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
    *,
    parallel: bool | None = None,
) -> SimulationOutcome:
    """Stream every event to `out` as JSONL, then write the labels file.

    With `parallel` (the default where `fork` exists and there is more than one CPU) a child
    process gives the events their ids, renders and writes them while this one simulates the
    next day: a quarter of the work moves to the other core. Both ways write the same bytes.
    """
    labels = labels or labels_path_for(out)
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods()
    if parallel:
        _write_rendered_elsewhere(sim, out, progress)
    else:
        with out.open("wb") as fh:
            for lines in sim.chunks():
                fh.write("".join(lines).encode())
                if progress:
                    progress(len(lines))
    write_labels(sim, labels)
    return SimulationOutcome(sim.events, len(sim.labels), 0, labels)


def _write_rendered_elsewhere(sim: Simulation, out: Path, progress: ProgressFn | None) -> None:
    """Simulate here; order, render and write in a forked child (see `write_jsonl`).

    Each day's new events go through a pipe with marshal (tuples of strings and integers
    are all a batch holds; marshal costs a quarter of rendering, pickle twice that), at
    most one batch in flight beyond the pipe's buffer, so memory stays bounded. Labels
    cannot cross as objects: each labelled event carries its label's index in
    `sim.labels`, and the child sends back (index, id, ms) for each, applied here in the
    order the single-process path would have applied them.
    """
    ours, theirs = mp.get_context("fork").Pipe()
    child = mp.get_context("fork").Process(
        target=_render_child, args=(sim, theirs, out), name="auditlens-simulate-render"
    )
    child.start()
    theirs.close()
    index: dict[int, int] = {}
    try:
        for upto, new in sim.day_batches():
            for i, event in enumerate(new):
                label = event[6]
                if label is not None:
                    if id(label) not in index:
                        index.update((id(lab), k) for k, lab in enumerate(sim.labels))
                    new[i] = (*event[:6], index[id(label)])
            # Sorted here, the child's sort of what it holds plus this is a cheap merge of two
            # runs (stable either way, so the same order): it balances the two processes.
            new.sort(key=_first)
            ours.send_bytes(marshal.dumps((upto, new)))
            if progress:
                progress(len(new))
        ours.send_bytes(b"")
        outcome = ours.recv()
    except (BrokenPipeError, EOFError, ConnectionResetError) as exc:
        # The child stopped early; its own exception, when it could send one, says why.
        reason: object = exc
        with contextlib.suppress(EOFError, OSError):
            if ours.poll(5):
                reason = ours.recv()
        raise RuntimeError(f"the simulator's render process failed: {reason!r}") from exc
    finally:
        ours.close()
        child.join()
    if isinstance(outcome, BaseException):
        raise RuntimeError(f"the simulator's render process failed: {outcome!r}")
    sim.events, hits = outcome
    for k, event_id, ms in hits:
        sim.labels[k].add(event_id, ms)


def _render_child(sim: Simulation, conn: Connection, out: Path) -> None:
    hits: list[tuple[int, str, int]] = []

    def hit(k: int, event_id: str, ms: int) -> None:
        hits.append((k, event_id, ms))

    try:
        with out.open("wb") as fh:
            while batch := conn.recv_bytes():
                # Only our own parent writes to this pipe (a socketpair made before fork).
                upto, new = marshal.loads(batch)  # noqa: S302
                ready = sim.take_ready(new, upto)
                fh.write("".join(sim.render(ready, hit)).encode())
        conn.send((sim.events, hits))
    except BaseException as exc:  # reported to the parent, which raises
        conn.send(exc)
    finally:
        conn.close()


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
    new), describe its resources in the catalogue, refresh the rollups (as `auditlens import`
    does: a dashboard over events past the rollups' watermark reads them raw, seconds per
    page), then write the labels file if asked."""
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
    describe_simulation(db, sim.org, sim.config.start, sim.config.resource_ids)
    # Imported here: the read model loads pandas, which `auditlens simulate --out` and the
    # command line's start-up do not need.
    from sql.read_model import ReadModel

    ReadModel(db).refresh()
    if labels is not None:
        write_labels(sim, labels)
    return SimulationOutcome(sim.events, len(sim.labels), total.accepted, labels, total.rejected)
