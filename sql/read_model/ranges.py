"""Time ranges as the rollups see them: UTC instants and days, the part of a range on
bucket boundaries (the rollups answer it) and the edges around it (raw events answer them)."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

import pandas as pd

from sql.read_model.frames import ReadModelError


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the zone files: once per process


def check_time_zone(name: str) -> str:
    """An IANA time zone name, or a one-line error naming the field."""
    if not isinstance(name, str) or name not in _time_zones():
        raise ReadModelError(f"time_zone: unknown IANA zone {name!r} (for example Europe/Berlin)")
    return name


def utc(value: datetime | date | str | pd.Timestamp, name: str) -> datetime:
    """`value` as a tz-aware UTC datetime (naive values are UTC); `name` for the error."""
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except ValueError:
            raise ReadModelError(f"{name} is not a date or time: {value!r}") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ReadModelError(f"{name} must be a date or a datetime, got {type(value).__name__}")


def day(value: date | datetime | str, name: str) -> date:
    """`value` as a UTC date."""
    if isinstance(value, datetime | pd.Timestamp):
        return utc(value, name).date()
    if isinstance(value, date):
        return value
    return utc(value, name).date()


def aligned(start: datetime, end: datetime, step: timedelta) -> tuple[datetime, datetime]:
    """The largest [a0, a1) inside [start, end) on `step` boundaries (UTC); empty -> (end, end)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    a0 = epoch + -((epoch - start) // step) * step  # ceiling
    a1 = epoch + ((end - epoch) // step) * step  # floor
    if a0 >= a1:
        return end, end
    return a0, a1


def range_params(start: Any, end: Any, step: timedelta) -> dict[str, Any]:
    """[start, end) as `t0`/`t1`, its part on `step` boundaries as `a0`/`a1` (and `da`/`db`
    as UTC dates, for the day tables when `step` is a day)."""
    t0, t1 = utc(start, "start"), utc(end, "end")
    if t1 < t0:
        raise ReadModelError(f"end ({t1.isoformat()}) is before start ({t0.isoformat()})")
    a0, a1 = aligned(t0, t1, step)
    return {"t0": t0, "t1": t1, "a0": a0, "a1": a1, "da": a0.date(), "db": a1.date()}


def tier_params(start: Any, end: Any) -> dict[str, Any]:
    """Whole UTC days [d0, d1) from the day table, whole hours [h0, d0) and [d1, h1) from the
    hour table, and the rest from raw events (as `a0`/`a1` = h0/h1 for `raw_cte`)."""
    params = range_params(start, end, timedelta(hours=1))
    h0, h1 = params["a0"], params["a1"]
    d0, d1 = aligned(h0, h1, timedelta(days=1)) if h0 < h1 else (h1, h1)
    params.update(d0=d0, d1=d1, dd0=d0.date(), dd1=d1.date())
    return params


def day_params(start_day: Any, end_day: Any) -> dict[str, Any]:
    """The UTC days start_day..end_day (inclusive) as `d0`/`d1` and as the instants
    [t0, t1) = [a0, a1)."""
    d0, d1 = day(start_day, "start_day"), day(end_day, "end_day")
    if d1 < d0:
        raise ReadModelError(f"end_day ({d1}) is before start_day ({d0})")
    t0 = datetime(d0.year, d0.month, d0.day, tzinfo=UTC)
    t1 = datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1)
    return {"t0": t0, "t1": t1, "a0": t0, "a1": t1, "d0": d0, "d1": d1}


def year_windows(first: date, end: date) -> dict[str, list[int]]:
    """The UTC days [first, end) as (year, first day, end day) slices of the year tables
    (days numbered from 0 = January 1st): parameters `wy`, `wa`, `wb` for `WINDOWS`."""
    years: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    for year in range(first.year, end.year + 1):
        jan1 = date(year, 1, 1)
        # date.max's year has no next January: its slice ends at `end` (the whole range's end).
        next_jan1 = date(year + 1, 1, 1) if year < date.max.year else end
        lo, hi = max(first, jan1), min(end, next_jan1)
        if lo < hi:
            years.append(year)
            starts.append((lo - jan1).days)
            ends.append((hi - jan1).days)
    return {"wy": years, "wa": starts, "wb": ends}


# The slices of `year_windows` as rows (year, a, b).
WINDOWS = """
w AS (
  SELECT * FROM unnest(CAST(:wy AS smallint[]), CAST(:wa AS integer[]), CAST(:wb AS integer[]))
    AS w(year, a, b)
)"""
