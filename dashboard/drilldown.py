"""From a selection (a bar, a heatmap cell, a point, a row) to the query that shows exactly
those raw events in Explore. Queries use the shared audit-log search syntax
(`sql/event_filter.py`), so the link can be shared and the filter is stated exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sql.query_text import created, created_days, join, quote

EXPLORE_PAGE = "pages/explore.py"


def bucket_query(event_type: str, bucket: datetime, width: timedelta) -> str:
    """The events of one family in one timeline bucket."""
    return join(f"family:{quote(event_type)}", created(bucket, bucket + width))


def user_query(user_id: str, start: datetime, end: datetime) -> str:
    """One user's events in [start, end)."""
    return join(f"user:{quote(user_id)}", created(start, end))


def user_day_query(user_id: str, day: date) -> str:
    """One user's events on one UTC day."""
    return join(f"user:{quote(user_id)}", created_days(day, day))


def users_query(keys: Sequence[Sequence[str]], start: datetime, end: datetime) -> str | None:
    """Selected users (customdata `[user_id]`, ORed) in [start, end)."""
    users = [k[0] for k in keys if k and k[0]]
    if not users:
        return None
    return join(*(f"user:{quote(u)}" for u in users), created(start, end))


def resources_query(keys: Sequence[Sequence[str]], start: datetime, end: datetime) -> str | None:
    """Selected resources (customdata `[resource_type, resource_id]`) in [start, end).

    Several resources OR their ids; their types are ORed too, which can only widen the
    match when two types share an id, so a single type is kept and mixed types are dropped.
    """
    picked = [(k[0], k[1]) for k in keys if len(k) == 2 and k[1]]
    if not picked:
        return None
    types = sorted({t for t, _ in picked if t})
    return join(
        f"resource_type:{quote(types[0])}" if len(types) == 1 else None,
        *(f"resource:{quote(r)}" for _, r in picked),
        created(start, end),
    )


def resource_query(
    resource_type: str | None, resource_id: str, start: datetime, end: datetime
) -> str:
    """The events touching one resource in [start, end)."""
    return join(
        f"resource_type:{quote(resource_type)}" if resource_type else None,
        f"resource:{quote(resource_id)}",
        created(start, end),
    )


def timeline_selection_query(points: Sequence[Mapping[str, Any]], width: timedelta) -> str | None:
    """Selected timeline bars -> their families (ORed) over the buckets' span."""
    families = sorted({str(p["customdata"][0]) for p in points if p.get("customdata")})
    buckets = [_moment(p["x"]) for p in points if p.get("x") is not None]
    if not families or not buckets:
        return None
    return join(
        *(f"family:{quote(f)}" for f in families), created(min(buckets), max(buckets) + width)
    )


def ranking_selection_values(points: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The customdata keys of selected ranking bars, in selection order, without repeats."""
    seen: list[list[str]] = []
    for point in points:
        keys = [str(k) for k in point.get("customdata") or []]
        if keys and keys not in seen:
            seen.append(keys)
    return seen


def matrix_selection_cells(points: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Selected heatmap cells as (row, column) labels, without repeats."""
    cells: list[tuple[str, str]] = []
    for point in points:
        data = point.get("customdata")
        if data and len(data) == 2 and (str(data[0]), str(data[1])) not in cells:
            cells.append((str(data[0]), str(data[1])))
    return cells


def heatmap_cells_query(
    user_id: str,
    start: datetime,
    end: datetime,
    time_zone: str,
    cells: Sequence[tuple[str, int]],
    counts: Mapping[tuple[str, int], int],
) -> str | None:
    """One user's events in heatmap cells (weekday label, hour) of `time_zone` in [start, end).

    The syntax ANDs `weekday:` with `hour:`, so the query names every weekday x hour of the
    selection: exact when each cell of that product is selected or empty (`counts`: events
    per cell). None otherwise (two diagonal cells): no query could say only those.
    """
    if not cells:
        return None
    days = sorted({d for d, _ in cells}, key=lambda d: d.lower())
    hours = sorted({int(h) for _, h in cells})
    picked = {(d, int(h)) for d, h in cells}
    if any((d, h) not in picked and counts.get((d, h), 0) for d in days for h in hours):
        return None
    return join(
        f"user:{quote(user_id)}",
        *(f"weekday:{d.lower()}" for d in days),
        *(f"hour:{h}" for h in hours),
        created(start, end),
        f"tz:{quote(time_zone)}" if time_zone != "UTC" else None,
    )


def users_days_query(cells: Sequence[tuple[str, str]]) -> str | None:
    """Users-by-day cells -> those users (ORed) over the span of those days."""
    if not cells:
        return None
    users = sorted({u for u, _ in cells})
    days = [date.fromisoformat(d) for _, d in cells]
    return join(*(f"user:{quote(u)}" for u in users), created_days(min(days), max(days)))


def _moment(value: Any) -> datetime:
    """A Plotly x value (ISO text, possibly without zone, meaning UTC) as an aware datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace(" ", "T").replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
