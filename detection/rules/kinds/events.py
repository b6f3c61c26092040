"""Kinds over single events (off_hours, pattern): each reads one narrow slice of events, one
family (or named sources) over the detection window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from detection.events import records
from detection.rules.kinds.hits import event_hits, rule_hit
from detection.rules.kinds.matching import EventMatch, Strict, check_field, detection_window
from detection.rules.schema import Rule, RuleContext, RuleHit


class OffHoursParams(Strict):
    match: EventMatch
    # 'user': hours this user is rarely active at; 'organization': outside working hours.
    reference: Literal["user", "organization"] = "user"
    max_user_share: float = Field(default=0.02, ge=0, le=1)
    # ... and at least this many hours from the middle of the user's usual day (a long
    # evening is not the 2 a.m. of someone who works 9 to 5).
    min_hours_from_usual: float = Field(default=6, ge=0, le=12)
    weekends_are_off_hours: bool = True
    min_events: int = Field(default=1, ge=1)


class PatternParams(Strict):
    match: EventMatch
    min_events: int = Field(default=1, ge=1)
    reason: str = "{event_action} on {resource_id}"  # str.format over the first event's fields
    # Aggregate instead of listing events: fire when a user-day's sum of this number reaches
    # `min_sum` (summed in the database; `reason` may use {total} and {events}).
    sum_field: str | None = None
    min_sum: float = Field(default=0, ge=0)

    @field_validator("sum_field")
    @classmethod
    def _sum_field(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("details."):
            raise ValueError(f"must be a details.<key> path, got: {value!r}")
        return value if value is None else check_field(value)


def off_hours(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """Matching events at an hour the user is almost never active (or outside working hours)."""
    p: OffHoursParams = rule.parameters
    events = p.match.events(ctx, *detection_window(ctx))
    if events.empty:
        return []
    zone = ZoneInfo(ctx.time_zone)
    local = events["event_time"].dt.tz_convert(zone)
    outside = (local.dt.hour < ctx.work_start_hour) | (local.dt.hour >= ctx.work_end_hour)
    if p.weekends_are_off_hours:
        outside |= local.dt.day_of_week >= 5
    if p.reference == "user":
        unusual = []
        # Only the users with matching events: their profiles are all this rule reads.
        profiles = ctx.hour_profiles({str(u) for u in events["user_id"]})
        for user, hour, org_outside in zip(
            events["user_id"], events["event_time"].dt.hour, outside, strict=True
        ):
            profile = profiles.get(str(user))
            if profile is None:  # no history: fall back on the organisation's working hours
                unusual.append(bool(org_outside))
                continue
            near = profile[[(hour - 1) % 24, hour, (hour + 1) % 24]].sum()
            far = hours_from_usual(profile, hour) >= p.min_hours_from_usual
            unusual.append(bool(near <= p.max_user_share and far))
        keep = np.asarray(unusual, dtype=bool)
    else:
        keep = outside.to_numpy(dtype=bool)
    odd = events.loc[keep]

    def reason(group: pd.DataFrame) -> str:
        first = group.iloc[0]
        at = first["event_time"].tz_convert(zone).strftime("%H:%M")
        whom = (
            "an hour this user is almost never active"
            if p.reference == "user"
            else "outside working hours"
        )
        what = f"{len(group)} {first['event_action']}" if len(group) > 1 else first["event_action"]
        return f"{what} at {at} ({ctx.time_zone}), {whom}"

    return event_hits(rule, odd, reason, p.min_events)


def hours_from_usual(profile: np.ndarray, hour: int) -> float:
    """Circular distance in hours between `hour` and the middle of a 24-hour profile."""
    angles = np.arange(24) * (2 * np.pi / 24)
    x, y = float(np.dot(profile, np.cos(angles))), float(np.dot(profile, np.sin(angles)))
    if abs(x) < 1e-9 and abs(y) < 1e-9:
        return 12.0  # activity all round the clock: no usual middle
    middle = (np.arctan2(y, x) % (2 * np.pi)) * 24 / (2 * np.pi)
    distance = abs(hour - middle) % 24
    return float(min(distance, 24 - distance))


class _SafeFormat(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _format_reason(template: str, event: dict[str, Any]) -> str:
    values = _SafeFormat({k: v for k, v in event.items() if k != "details"})
    for key, value in (event.get("details") or {}).items():
        values[f"details_{key}"] = value
    try:
        return template.replace("details.", "details_").format_map(values)
    except (ValueError, IndexError, AttributeError):
        return template


def pattern(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """User-days with at least `min_events` matching events (or a large enough sum of a field)."""
    p: PatternParams = rule.parameters
    if p.sum_field is not None:
        return _pattern_totals(rule, ctx, p.sum_field)
    events = p.match.events(ctx, *detection_window(ctx))

    def reason(group: pd.DataFrame) -> str:
        text = _format_reason(p.reason, records(group.iloc[:1])[0])
        return text if len(group) == 1 else f"{text} ({len(group)} times)"

    return event_hits(rule, events, reason, p.min_events)


def _pattern_totals(rule: Rule, ctx: RuleContext, sum_field: str) -> list[RuleHit]:
    p: PatternParams = rule.parameters
    path = tuple(sum_field.split(".")[1:])
    totals = ctx.events.totals(p.match.slice(ctx, *detection_window(ctx)), path)
    totals = totals.loc[(totals["total"] >= p.min_sum) & (totals["events"] >= p.min_events)]
    hits = []
    for row in records(totals):
        values = _SafeFormat(total=f"{row['total']:,.0f}", events=f"{row['events']:,}")
        hits.append(
            rule_hit(
                rule,
                user_id=str(row["user_id"]),
                user_email=str(row["user_email"] or ""),
                day=row["day"],
                window=(
                    row["first_time"].to_pydatetime(),
                    row["last_time"].to_pydatetime() + timedelta(seconds=1),
                ),
                reason=p.reason.format_map(values),
                families=[p.match.family],
                actions=p.match.actions,
            )
        )
    return hits
