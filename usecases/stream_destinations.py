"""Streaming destinations as people manage them, shared by `auditlens destinations` and the
dashboard's Destinations page: times as typed, each destination with its health, a test send
whose failure is a one-line error. Every change itself goes through `streaming.destinations`,
which checks it and audits it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from sql.gateway import Database
from streaming.cursor import Health, health
from streaming.destinations import Changer, Destination, DestinationError, list_destinations
from streaming.service import send_test

HEALTH_COLUMNS = [
    "name",
    "state",
    "kind",
    "where",
    "payload",
    "filter",
    "lag_events",
    "lag_seconds",
    "events_sent",
    "findings_sent",
    "failures_in_a_row",
    "failures_total",
    "last_success_at",
    "last_error_at",
    "last_error",
]


def parse_moment(text: str, field: str) -> datetime:
    """An ISO 8601 time with a zone (`2025-01-01T00:00Z`); else a DestinationError naming
    `field`."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DestinationError(f"{field}: not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise DestinationError(f"{field}: give a time zone, for example {text.strip()}Z")
    return moment


def with_health(db: Database, org: str) -> list[tuple[Destination, Health]]:
    """`org`'s destinations by name, each with its lag and counters."""
    return [(d, health(db, d)) for d in list_destinations(db, org)]


def where(destination: Destination) -> str:
    """Where it sends, never the secret."""
    return destination.describe().split(" -> ", 1)[1]


def health_frame(db: Database, org: str) -> pd.DataFrame:
    """One row per destination in HEALTH_COLUMNS: no secret, no setting that holds one."""
    rows: list[dict[str, Any]] = [
        {
            "name": d.name,
            "state": h.state,
            "kind": d.kind,
            "where": where(d),
            "payload": d.payload,
            "filter": d.query,
            "lag_events": h.lag_events,
            "lag_seconds": round(h.lag_seconds, 1),
            "events_sent": h.events_sent,
            "findings_sent": d.findings_sent,
            "failures_in_a_row": h.consecutive_failures,
            "failures_total": h.failures_total,
            "last_success_at": h.last_success_at,
            "last_error_at": h.last_error_at,
            "last_error": h.last_error,
        }
        for d, h in with_health(db, org)
    ]
    return pd.DataFrame(rows, columns=HEALTH_COLUMNS)


def send_test_event(
    db: Database, org: str, name: str, *, actor: str, how: Changer | None = None
) -> str:
    """Send one real audit event (recording the test) to `name` now; its id. A receiver that
    does not take it is a DestinationError saying why."""
    try:
        return send_test(db, org, name, actor=actor, how=how)
    except (OSError, RuntimeError) as exc:
        raise DestinationError(f"{name}: the receiver did not take it: {exc}") from exc
