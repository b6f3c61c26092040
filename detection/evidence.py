"""Evidence filters: the event query (GitHub audit-log syntax, `sql/event_filter.py`) that
reproduces the raw events behind a finding, e.g.
`user:u123 created:2025-01-10T00:00:00Z..2025-01-11T00:00:00Z`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta


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
    """The filter for one user's events in [start, end), narrowed to families/actions/sources.

    Built with `sql.event_filter.EventFilter`, so it always parses back to the same filter.
    """
    from sql.event_filter import EventFilter

    return EventFilter(
        users=(user_id,),
        families=tuple(sorted(set(families))),
        actions=tuple(sorted(set(actions))),
        resources=tuple(sorted(set(resources))),
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
    ).to_query()
