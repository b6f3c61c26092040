"""Ground truth: what was planted (labels) and what is odd but innocent (benign context).

The labels file (JSON, written next to the events) is documented in README.md. Labels grow
while events are written: each planted event is given its label object, and the writer
appends the event's id and widens the label's time range when it writes that event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LABELS_FORMAT = "auditlens-simulation-labels/1"


@dataclass(eq=False)
class Label:
    """One planted scenario instance: who, when, and exactly which events."""

    scenario: str
    user_id: str
    user_email: str
    description: str
    event_ids: list[str] = field(default_factory=list)
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, event_id: str, ms: int) -> None:
        self.event_ids.append(event_id)
        if self.first_ms is None or ms < self.first_ms:
            self.first_ms = ms
        if self.last_ms is None or ms > self.last_ms:
            self.last_ms = ms


@dataclass(eq=False)
class Benign:
    """An innocent oddity (on-call night, incident, quarter end, new hire, travel): context
    for measuring false positives, never a label."""

    kind: str
    user_id: str
    user_email: str
    description: str
    first_ms: int | None = None
    last_ms: int | None = None

    def cover(self, ms: int) -> None:
        if self.first_ms is None or ms < self.first_ms:
            self.first_ms = ms
        if self.last_ms is None or ms > self.last_ms:
            self.last_ms = ms


def labels_document(
    *,
    organization_id: str,
    seed: int,
    start: str,
    days: int,
    events: int,
    roster: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    labels: list[Label],
    benign: list[Benign],
    iso: Any,
) -> dict[str, Any]:
    """The labels file's content (see README.md, "Simulation labels")."""
    return {
        "format": LABELS_FORMAT,
        "organization_id": organization_id,
        "seed": seed,
        "start": start,
        "days": days,
        "events": events,
        "roster": roster,
        "sources": sources,
        "scenarios": [
            {
                "scenario": lab.scenario,
                "user_id": lab.user_id,
                "user_email": lab.user_email,
                "start": iso(lab.first_ms),
                "end": iso(lab.last_ms),
                "description": lab.description,
                "event_ids": lab.event_ids,
            }
            for lab in labels
            if lab.event_ids
        ],
        "benign": [
            {
                "kind": b.kind,
                "user_id": b.user_id,
                "user_email": b.user_email,
                "start": iso(b.first_ms),
                "end": iso(b.last_ms),
                "description": b.description,
            }
            for b in benign
            if b.first_ms is not None
        ],
    }
