"""A small default simulation shared by the simulator tests (generated once per module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from simulator import Simulation, SimulationConfig, write_jsonl

# 45 days ending on Jan 1 cover a quarter end (benign compliance spike) and a holiday season.
SMALL = SimulationConfig("org_sim", users=40, days=45, seed=7, start=date(2024, 11, 18))


@dataclass
class Output:
    path: Path
    raw: bytes
    events: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    labels: dict[str, Any]


def simulate_to(folder: Path, config: SimulationConfig = SMALL) -> Output:
    out = folder / "events.jsonl"
    outcome = write_jsonl(Simulation(config), out)
    assert outcome.labels_path == folder / "events.labels.json"
    raw = out.read_bytes()
    events = [orjson.loads(line) for line in raw.splitlines()]
    labels = orjson.loads(outcome.labels_path.read_bytes())
    return Output(out, raw, events, {e["id"]: e for e in events}, labels)
