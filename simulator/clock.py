"""Simulated time: milliseconds since the simulation's first day (UTC midnight), rendered
as ISO 8601 with `Z` quickly, plus local time zones, weekends and public holidays.

Formatting a datetime per event is the single largest cost of a naive simulator, so times
stay integers and are rendered from cached day and second strings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# "HH:MM:SS" for every second of a day, built once (86,400 short strings).
HMS: list[str] = [
    f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
]

# Public holidays (month, day) per country: enough for realistic quiet days, not a calendar.
HOLIDAYS: dict[str, frozenset[tuple[int, int]]] = {
    "US": frozenset({(1, 1), (1, 15), (5, 27), (7, 4), (9, 2), (11, 28), (11, 29), (12, 25)}),
    "GB": frozenset({(1, 1), (4, 18), (4, 21), (5, 6), (8, 26), (12, 25), (12, 26)}),
    "DE": frozenset({(1, 1), (4, 18), (5, 1), (10, 3), (12, 24), (12, 25), (12, 26)}),
    "IN": frozenset({(1, 26), (8, 15), (10, 2), (10, 31), (11, 1), (12, 25)}),
    "PT": frozenset({(1, 1), (4, 25), (6, 10), (10, 5), (12, 8), (12, 25)}),
    "PH": frozenset({(1, 1), (4, 9), (6, 12), (8, 26), (11, 30), (12, 25), (12, 30)}),
}


class Clock:
    """Renders simulation milliseconds as wire timestamps; knows each day's date."""

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        self.days = days
        self.epoch = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self._prefix: dict[int, str] = {}
        self._offsets: dict[tuple[str, int], int] = {}

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)

    def prefix(self, day: int) -> str:
        """'YYYY-MM-DDT' of a simulation day (negative days are before the start)."""
        text = self._prefix.get(day)
        if text is None:
            text = self._prefix[day] = (self.start + timedelta(days=day)).isoformat() + "T"
        return text

    def iso(self, ms: int) -> str:
        """ISO 8601 with milliseconds and Z, e.g. 2025-01-15T14:32:15.123Z."""
        day, rest = divmod(ms, DAY_MS)
        seconds, milli = divmod(rest, 1000)
        prefix = self._prefix.get(day) or self.prefix(day)
        return f"{prefix}{HMS[seconds]}.{milli:03d}Z"

    def iso_minute(self, ms: int) -> str:
        """ISO 8601 to the minute, for the time ranges users pick in a UI."""
        day, rest = divmod(ms, DAY_MS)
        prefix = self._prefix.get(day) or self.prefix(day)
        return f"{prefix}{HMS[(rest // 60_000) * 60][:5]}:00Z"

    def datetime_of(self, ms: int) -> datetime:
        return self.epoch + timedelta(milliseconds=ms)

    def utc_offset_ms(self, tz: str, day: int) -> int:
        """The zone's UTC offset at local noon of a simulation day (DST-aware)."""
        key = (tz, day)
        offset = self._offsets.get(key)
        if offset is None:
            d = self.date_of(day)
            local_noon = datetime(d.year, d.month, d.day, 12, tzinfo=ZoneInfo(tz))
            delta = local_noon.utcoffset() or timedelta(0)
            offset = self._offsets[key] = int(delta.total_seconds() * 1000)
        return offset

    def is_day_off(self, country: str, day: int) -> bool:
        """Weekend or public holiday in that country."""
        d = self.date_of(day)
        return d.weekday() >= 5 or (d.month, d.day) in HOLIDAYS.get(country, frozenset())

    def is_weekday(self, day: int) -> bool:
        return self.date_of(day).weekday() < 5
