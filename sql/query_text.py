"""Writing query text in the shared audit-log search syntax that `EventFilter` parses back:
the pieces every face (dashboard links, reports, the command line) builds queries from."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sql.event_filter import EventFilter

_BARE = re.compile(r"^[^\s\"]+$")


def quote(value: str) -> str:
    """A qualifier value, quoted when it holds spaces or quotes."""
    if _BARE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def created(start: datetime, end: datetime) -> str:
    """`created:` for the half-open [start, end), written by EventFilter itself (its range
    end is inclusive, so the text ends a microsecond before `end`, or on the day before a
    midnight `end`)."""
    return EventFilter(start=start, end=end).to_query()


def created_days(first: date, last: date) -> str:
    """`created:` for whole UTC days, both inclusive."""
    start = datetime.combine(first, time(0), tzinfo=UTC)
    return created(start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC))


def join(*parts: str | None) -> str:
    """Qualifiers joined by spaces (AND), empty parts dropped."""
    return " ".join(p for p in parts if p)
