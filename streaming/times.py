"""Times as streamed: UTC, ISO 8601 with microseconds and a Z (`2025-01-15T14:32:15.123456Z`).

Written here for a datetime, and by the server for a batch read (`utc_iso_sql`): parsing each
stored time into a datetime only to write it back as text cost more than the rest of reading
an event. Both give the same text (a test holds them together).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

_SQL_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


# Cached: the events of one transaction share their received_at and retention time.
@lru_cache(maxsize=4096)
def utc_iso(moment: datetime) -> str:
    """`moment` in UTC, ISO 8601 with microseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def utc_iso_sql(column: str) -> str:
    """The SQL that writes the timestamptz `column` (a fixed name, never input) as `utc_iso`."""
    return f"to_char({column} AT TIME ZONE 'UTC', '{_SQL_FORMAT}')"


def as_moment(value: datetime | str) -> datetime:
    """A time as read (a datetime, or the text `utc_iso` writes) as an aware datetime."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def as_text(value: datetime | str) -> str:
    """A time as read, as the text `utc_iso` writes."""
    return value if isinstance(value, str) else utc_iso(value)
