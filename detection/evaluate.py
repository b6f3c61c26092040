"""The evaluation harness: simulate, ingest, detect, and compare with the simulator's labels.

Also reads the simulator's roster (roles and departments are the peer groups).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sql.errors import ConfigurationError


def read_roster(path: Path) -> dict[str, str]:
    """user_id -> peer group (role, else department) from JSON, JSONL or CSV."""
    text = path.read_text(encoding="utf-8")
    entries: list[dict[str, Any]]
    try:
        if path.suffix.lower() == ".csv":
            entries = list(csv.DictReader(text.splitlines()))
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("roster", data.get("users", data))
            entries = list(data.values()) if isinstance(data, dict) else list(data)
    except (ValueError, csv.Error) as exc:
        raise ConfigurationError(f"{path}: not a roster file: {exc}") from exc
    roster: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("user_id"):
            raise ConfigurationError(f"{path}: entry {number} has no user_id")
        group = entry.get("role") or entry.get("department")
        if group:
            roster[str(entry["user_id"])] = str(group)
    return roster
