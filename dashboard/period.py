"""The period a page looks at: a preset ("Last 7 days") ending at the coming full hour, all
of the organisation's history, or explicit UTC days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PRESETS: dict[str, timedelta] = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "Last 365 days": timedelta(days=365),
}
ALL_TIME = "All time"
CUSTOM = "Custom days"


@dataclass(frozen=True)
class Period:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    @property
    def bucket(self) -> str:
        """Hourly buckets up to a week, daily beyond: a timeline keeps at most ~170 bars."""
        return "hour" if self.end - self.start <= timedelta(days=7) else "day"

    @property
    def bucket_width(self) -> timedelta:
        return timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The last UTC day with any instant in the period (end is exclusive)."""
        return (self.end - timedelta(microseconds=1)).date()

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def anchor_end(now: datetime) -> datetime:
    """The end of preset periods: the start of the hour after `now`, so buckets are whole."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def all_time_period(first_event: datetime | None, end: datetime) -> Period:
    """From the day of the organisation's first event (or `end` less a day) up to `end`."""
    if first_event is None:
        return Period(end - timedelta(days=1), end)
    first = first_event.astimezone(UTC)
    return Period(datetime.combine(first.date(), time(0), tzinfo=UTC), end)


def preset_period(preset: str, end: datetime) -> Period:
    """The preset's span ending at `end`; a clear error for an unknown preset name."""
    if preset not in PRESETS:
        raise ValueError(f"period must be one of {', '.join(PRESETS)}, got: {preset!r}")
    return Period(end - PRESETS[preset], end)


def day_period(first: date, last: date) -> Period:
    """Whole UTC days, both inclusive."""
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    start = datetime.combine(first, time(0), tzinfo=UTC)
    return Period(start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC))
