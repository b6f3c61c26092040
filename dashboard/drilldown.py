"""From a selection (a bar, a heatmap cell, a point, a row) to the query that shows exactly
those raw events in Explore. Queries use the shared audit-log search syntax
(`sql/event_filter.py`), so the link can be shared and the filter is stated exactly."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

EXPLORE_PAGE = "pages/explore.py"
_BARE = re.compile(r"^[^\s\"]+$")


def quote(value: str) -> str:
    """A qualifier value, quoted when it holds spaces or quotes."""
    if _BARE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def created(start: datetime, end: datetime) -> str:
    """`created:` for the half-open [start, end) as an inclusive ISO range in UTC."""
    last = (end - timedelta(seconds=1)).astimezone(UTC)
    first = start.astimezone(UTC)
    return f"created:{_iso(first)}..{_iso(last)}"


def created_days(first: date, last: date) -> str:
    """`created:` for whole UTC days, both inclusive."""
    return f"created:{first.isoformat()}..{last.isoformat()}"


def join(*parts: str | None) -> str:
    """Qualifiers joined by spaces (AND), empty parts dropped."""
    return " ".join(p for p in parts if p)


def bucket_query(event_type: str, bucket: datetime, width: timedelta) -> str:
    """The events of one family in one timeline bucket."""
    return join(f"family:{quote(event_type)}", created(bucket, bucket + width))


def user_query(user_id: str, start: datetime, end: datetime) -> str:
    """One user's events in [start, end)."""
    return join(f"user:{quote(user_id)}", created(start, end))


def user_day_query(user_id: str, day: date) -> str:
    """One user's events on one UTC day."""
    return join(f"user:{quote(user_id)}", created_days(day, day))


def resource_query(
    resource_type: str | None, resource_id: str, start: datetime, end: datetime
) -> str:
    """The events touching one resource in [start, end)."""
    return join(
        f"resource_type:{quote(resource_type)}" if resource_type else None,
        f"resource:{quote(resource_id)}",
        created(start, end),
    )


def selected_points(event: Any) -> list[Mapping[str, Any]]:
    """The points of a `st.plotly_chart(on_select="rerun")` selection (empty if none)."""
    if not event:
        return []
    selection = event.get("selection") if isinstance(event, Mapping) else event.selection
    if not selection:
        return []
    points = selection.get("points") if isinstance(selection, Mapping) else selection.points
    return list(points or [])


def selected_rows(event: Any) -> Sequence[int]:
    """The row positions of a `st.dataframe(on_select="rerun")` selection (empty if none)."""
    if not event:
        return []
    selection = event.get("selection") if isinstance(event, Mapping) else event.selection
    if not selection:
        return []
    rows = selection.get("rows") if isinstance(selection, Mapping) else selection.rows
    return list(rows or [])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
