"""Evidence filters: the event query (GitHub audit-log syntax, `sql/event_filter.py`) that
reproduces the raw events behind a finding, e.g.
`user:u123 created:2025-01-10T00:00:00Z..2025-01-11T00:00:00Z`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

_BARE = re.compile(r"^[A-Za-z0-9_.@:/+\-]+$")


def quote(value: str) -> str:
    """A qualifier value as the query syntax reads it: bare when safe, else double-quoted."""
    if _BARE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def evidence_query(
    user_id: str,
    start: datetime,
    end: datetime,
    *,
    families: Iterable[str] = (),
    actions: Iterable[str] = (),
    resources: Iterable[str] = (),
) -> str:
    """The filter for one user's events in [start, end], narrowed to families/actions/sources."""
    parts = [f"user:{quote(user_id)}", f"created:{iso_z(start)}..{iso_z(end)}"]
    parts += [f"family:{quote(f)}" for f in sorted(set(families))]
    parts += [f"action:{quote(a)}" for a in sorted(set(actions))]
    parts += [f"resource:{quote(r)}" for r in sorted(set(resources))]
    return " ".join(parts)
