"""The registry of rule kinds: each kind is a parameter model (validated when the rule file is
loaded) and an evaluation over a `RuleContext`. A rule file names its kind by key, as pySigma
looks up transformations by name.

Kinds over features (threshold, ratio_to_baseline, first_seen) read only the user-day rollups;
kinds over events (off_hours, pattern, sequence, absence) read one narrow slice per side:
one family (or named sources) over the detection window.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from detection.events import Slice, field_value, records, tuples
from detection.evidence import day_bounds, evidence_query
from detection.explain import feature_label, feature_scope
from detection.features import FEATURE_COLUMNS
from detection.rules.schema import Rule, RuleContext, RuleHit
from sql.vocabulary import EVENT_COLUMNS

# The event fields a rule may match: every stored text column but the organisation (a rule
# runs within one), the id and the time (rules bound time by window), and the details (read
# through `details.<key>`).
_EVENT_COLUMNS = frozenset(EVENT_COLUMNS) - {"organization_id", "id", "event_time", "details"}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """'7d', '12h', '30m' or '45s' as a timedelta."""
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"must be a duration like 7d, 12h or 30m, got: {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _check_field(path: str) -> str:
    if path in _EVENT_COLUMNS or (path.startswith("details.") and len(path) > len("details.")):
        return path
    raise ValueError(f"unknown event field {path!r} (an event column or details.<key>)")


def _check_feature(name: str) -> str:
    if name not in FEATURE_COLUMNS:
        raise ValueError(f"unknown feature {name!r}; known: {', '.join(FEATURE_COLUMNS)}")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Strict):
    """`left op right` between two event fields (or a field and a number)."""

    left: str
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    right: str | float

    @field_validator("left")
    @classmethod
    def _left(cls, value: str) -> str:
        return _check_field(value)

    @field_validator("right")
    @classmethod
    def _right(cls, value: str | float) -> str | float:
        return _check_field(value) if isinstance(value, str) else value


class EventMatch(_Strict):
    """Which events a side of an event rule means."""

    family: str
    actions: list[str] = Field(default_factory=list)
    where: dict[str, list[str]] = Field(default_factory=dict)  # field -> glob values (any)
    regex: dict[str, str] = Field(default_factory=dict)  # field -> regular expression (search)
    compare: list[Comparison] = Field(default_factory=list)
    sensitive: bool = False  # only events on sources tagged sensitive
    query_contains: str | None = None  # literal prefilter on details.query, run in SQL

    @field_validator("where", "regex")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            _check_field(key)
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{key}: invalid regular expression {pattern!r}: {exc}") from exc
        return value

    def slice(self, context: RuleContext, start: datetime, end: datetime) -> Slice:
        resources: tuple[str, ...] = ()
        if self.sensitive:
            known = context.resources["resource_id"].dropna().unique()
            resources = tuple(sorted(r for r in known if context.sensitivity.is_sensitive(r)))
            if not resources:
                resources = ("\x00none",)  # nothing sensitive exists: match nothing
        return Slice(
            family=self.family,
            start=start,
            end=end,
            actions=tuple(self.actions),
            resource_ids=resources,
            query_contains=self.query_contains,
        )

    def filter(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events of a slice that meet `where`, `regex` and `compare`."""
        if events.empty:
            return events
        keep = np.ones(len(events), dtype=bool)
        rows = records(events)
        for path, globs in self.where.items():
            patterns = [re.compile(fnmatch.translate(g), re.IGNORECASE) for g in globs]
            values = [field_value(r, path) for r in rows]
            keep &= [v is not None and any(p.match(str(v)) for p in patterns) for v in values]
        for path, pattern in self.regex.items():
            compiled = re.compile(pattern)
            values = [field_value(r, path) for r in rows]
            keep &= [v is not None and bool(compiled.search(str(v))) for v in values]
        for comparison in self.compare:
            keep &= [_compare(r, comparison) for r in rows]
        return events.loc[keep]


def _compare(record: dict[str, Any], comparison: Comparison) -> bool:
    left = field_value(record, comparison.left)
    right = (
        field_value(record, comparison.right)
        if isinstance(comparison.right, str)
        else comparison.right
    )
    try:
        return bool(_OPS[comparison.op](float(left), float(right)))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- parameter models per kind


class ThresholdParams(_Strict):
    feature: str
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    value: float
    min_history_days: int = Field(default=0, ge=0)

    _feature = field_validator("feature")(classmethod(lambda cls, v: _check_feature(v)))


class RatioParams(_Strict):
    feature: str
    ratio: float = Field(gt=1)
    baseline: Literal["own", "peer"] = "own"
    min_value: float = Field(default=1, ge=0)
    min_history_days: int = Field(default=5, ge=1)

    _feature = field_validator("feature")(classmethod(lambda cls, v: _check_feature(v)))


class OffHoursParams(_Strict):
    match: EventMatch
    # 'user': hours this user is rarely active at; 'organization': outside working hours.
    reference: Literal["user", "organization"] = "user"
    max_user_share: float = Field(default=0.02, ge=0, le=1)
    # ... and at least this many hours from the middle of the user's usual day (a long
    # evening is not the 2 a.m. of someone who works 9 to 5).
    min_hours_from_usual: float = Field(default=6, ge=0, le=12)
    weekends_are_off_hours: bool = True
    min_events: int = Field(default=1, ge=1)


class PatternParams(_Strict):
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
        return value if value is None else _check_field(value)


class SequenceParams(_Strict):
    first: EventMatch
    then: EventMatch
    within: timedelta
    # Which field of each side must be equal (the actor by default); null links any two events.
    link_first: str | None = "user_id"
    link_then: str | None = "user_id"
    then_from_new_ip: bool = False  # the `then` event comes from an IP new to its user

    _within = field_validator("within", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("link_first", "link_then")
    @classmethod
    def _links(cls, value: str | None) -> str | None:
        return None if value is None else _check_field(value)


class AbsenceParams(_Strict):
    first: EventMatch
    then: EventMatch
    within: timedelta
    link_first: str | None = "resource_id"
    link_then: str | None = "resource_id"

    _within = field_validator("within", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("link_first", "link_then")
    @classmethod
    def _links(cls, value: str | None) -> str | None:
        return None if value is None else _check_field(value)


_FIRST_SEEN_COLUMNS = {
    "ip_address": "new_ips",
    "user_agent": "new_user_agents",
    "resource": "new_resources",
    "sensitive_resource": "new_sensitive_resources",
    "peer_sensitive_resource": "peer_new_sensitive_resources",
}


FirstSeenWhat = Literal[
    "ip_address", "user_agent", "resource", "sensitive_resource", "peer_sensitive_resource"
]


class FirstSeenParams(_Strict):
    what: list[FirstSeenWhat] = Field(min_length=1)
    require: Literal["all", "any"] = "all"
    # New users (a new hire's first week) see everything for the first time: not a finding.
    min_history_days: int = Field(default=5, ge=1)


# ---------------------------------------------------------------- evaluation per kind


def _feature_hits(
    rule: Rule, rows: pd.DataFrame, reason: Callable[[Any], str], families: tuple[str, ...] = ()
) -> list[RuleHit]:
    hits = []
    for row in tuples(rows):
        start, end = day_bounds(row.day)
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=row.user_id,
                user_email=row.user_email,
                day=row.day,
                window_start=start,
                window_end=end,
                reason=reason(row),
                evidence_query=evidence_query(row.user_id, start, end, families=families),
            )
        )
    return hits


def _threshold(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: ThresholdParams = rule.parameters
    rows = ctx.window_rows()
    mask = _OPS[p.op](rows[p.feature], p.value) & (rows["history_days"] >= p.min_history_days)
    label = feature_label(p.feature)
    return _feature_hits(
        rule,
        rows.loc[mask.fillna(False)],
        lambda r: f"{label} {getattr(r, p.feature):,.0f} ({p.op} {p.value:,.0f})",
        feature_scope(p.feature),
    )


def _ratio(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: RatioParams = rule.parameters
    rows = ctx.window_rows()
    ratio = rows[f"{p.feature}_{p.baseline}_ratio"]
    mask = (ratio >= p.ratio) & (rows[p.feature] >= p.min_value)
    if p.baseline == "own":
        mask &= rows["history_days"] >= p.min_history_days
    label = feature_label(p.feature)
    whose = "own 30-day median" if p.baseline == "own" else "peer group's median"

    def reason(r: Any) -> str:
        median = getattr(r, f"{p.feature}_{p.baseline}_median")
        value = getattr(r, p.feature)
        times = getattr(r, f"{p.feature}_{p.baseline}_ratio")
        return f"{label} {times:.0f}x above {whose} ({value:,.0f} vs {median:,.0f})"

    return _feature_hits(rule, rows.loc[mask.fillna(False)], reason, feature_scope(p.feature))


def _window(ctx: RuleContext) -> tuple[datetime, datetime]:
    return day_bounds(ctx.start_day)[0], day_bounds(ctx.end_day)[1]


def _event_hits(
    rule: Rule,
    ctx: RuleContext,
    events: pd.DataFrame,
    reason: Callable[[pd.DataFrame], str],
    min_events: int = 1,
) -> list[RuleHit]:
    """One hit per (user, UTC day) of matching events."""
    if events.empty:
        return []
    hits = []
    days = events["event_time"].dt.date
    for (user, day), group in events.groupby([events["user_id"].fillna(""), days], sort=True):
        if len(group) < min_events or not user:
            continue
        start = group["event_time"].min().to_pydatetime()
        end = group["event_time"].max().to_pydatetime() + timedelta(seconds=1)
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=str(user),
                user_email=str(group["user_email"].iloc[0] or ""),
                day=cast(date, day),
                window_start=start,
                window_end=end,
                reason=reason(group),
                evidence_query=evidence_query(
                    str(user),
                    start,
                    end,
                    families=group["event_type"].unique(),
                    actions=group["event_action"].unique(),
                ),
            )
        )
    return hits


def _off_hours(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: OffHoursParams = rule.parameters
    start, end = _window(ctx)
    events = p.match.filter(ctx.events.fetch(p.match.slice(ctx, start, end)))
    if events.empty:
        return []
    zone = ZoneInfo(ctx.time_zone)
    local = events["event_time"].dt.tz_convert(zone)
    outside = (local.dt.hour < ctx.work_start_hour) | (local.dt.hour >= ctx.work_end_hour)
    if p.weekends_are_off_hours:
        outside |= local.dt.day_of_week >= 5
    if p.reference == "user":
        unusual = []
        for user, hour, org_outside in zip(
            events["user_id"], events["event_time"].dt.hour, outside, strict=True
        ):
            profile = ctx.hour_profile(str(user))
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

    return _event_hits(rule, ctx, odd, reason, p.min_events)


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


def _pattern_totals(rule: Rule, ctx: RuleContext, sum_field: str) -> list[RuleHit]:
    p: PatternParams = rule.parameters
    start, end = _window(ctx)
    path = tuple(sum_field.split(".")[1:])
    totals = ctx.events.totals(p.match.slice(ctx, start, end), path)
    totals = totals.loc[(totals["total"] >= p.min_sum) & (totals["events"] >= p.min_events)]
    hits = []
    for row in records(totals):
        window_start = row["first_time"].to_pydatetime()
        window_end = row["last_time"].to_pydatetime() + timedelta(seconds=1)
        values = _SafeFormat(total=f"{row['total']:,.0f}", events=f"{row['events']:,}")
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=str(row["user_id"]),
                user_email=str(row["user_email"] or ""),
                day=row["day"],
                window_start=window_start,
                window_end=window_end,
                reason=p.reason.format_map(values),
                evidence_query=evidence_query(
                    str(row["user_id"]),
                    window_start,
                    window_end,
                    families=[p.match.family],
                    actions=p.match.actions,
                ),
            )
        )
    return hits


def _pattern(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: PatternParams = rule.parameters
    if p.sum_field is not None:
        return _pattern_totals(rule, ctx, p.sum_field)
    start, end = _window(ctx)
    events = p.match.filter(ctx.events.fetch(p.match.slice(ctx, start, end)))

    def reason(group: pd.DataFrame) -> str:
        text = _format_reason(p.reason, records(group.iloc[:1])[0])
        return text if len(group) == 1 else f"{text} ({len(group)} times)"

    return _event_hits(rule, ctx, events, reason, p.min_events)


def _link_key(record: dict[str, Any], link: str | None) -> Any:
    return "*" if link is None else field_value(record, link)


def _ips_before(ctx: RuleContext, user: str, day: Any) -> set[str]:
    ips = ctx.ips
    seen = ips.loc[(ips["user_id"] == user) & (ips["day"] < day), "ip_address"]
    return {str(ip) for ip in seen}


def _sequence(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: SequenceParams = rule.parameters
    start, end = _window(ctx)
    firsts = p.first.filter(ctx.events.fetch(p.first.slice(ctx, start - p.within, end)))
    if firsts.empty:
        return []
    thens = p.then.filter(ctx.events.fetch(p.then.slice(ctx, start, end)))
    if thens.empty:
        return []
    by_key: dict[Any, list[dict[str, Any]]] = {}
    for record in records(firsts):
        by_key.setdefault(_link_key(record, p.link_first), []).append(record)
    hits: list[RuleHit] = []
    seen: set[tuple[str, Any]] = set()
    for then in records(thens):
        key = _link_key(then, p.link_then)
        candidates = [
            f
            for f in by_key.get(key, [])
            if f["event_time"] <= then["event_time"] <= f["event_time"] + p.within
        ]
        if not candidates:
            continue
        first = candidates[-1]
        user = str(then["user_id"] or "")
        day = then["event_time"].date()
        if not user or (user, day) in seen:
            continue
        if p.then_from_new_ip and str(then["ip_address"]) in _ips_before(
            ctx, user, first["event_time"].date()
        ):
            continue
        seen.add((user, day))
        window_start = first["event_time"].to_pydatetime()
        window_end = then["event_time"].to_pydatetime() + timedelta(seconds=1)
        gap = then["event_time"] - first["event_time"]
        target = f" on {then['resource_id']}" if then.get("resource_id") else ""
        new_ip = f" from new IP {then['ip_address']}" if p.then_from_new_ip else ""
        reason = (
            f"{first['event_action']} at {first['event_time']:%Y-%m-%d %H:%M} UTC, then "
            f"{then['event_action']}{target}{new_ip} {_humanize(gap)} later"
        )
        query = evidence_query(
            user,
            window_start,
            window_end,
            families={first["event_type"], then["event_type"]},
            actions={first["event_action"], then["event_action"]},
        )
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=user,
                user_email=str(then.get("user_email") or ""),
                day=day,
                window_start=window_start,
                window_end=window_end,
                reason=reason,
                evidence_query=query,
            )
        )
    return hits


def _humanize(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{max(seconds // 60, 0)} minutes"


def _absence(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: AbsenceParams = rule.parameters
    start, end = _window(ctx)
    # A `first` is judged once its deadline has passed inside the window being detected.
    firsts = p.first.filter(ctx.events.fetch(p.first.slice(ctx, start - p.within, end - p.within)))
    if firsts.empty:
        return []
    thens = p.then.filter(ctx.events.fetch(p.then.slice(ctx, start - p.within, end)))
    followed: dict[Any, list[Any]] = {}
    for record in records(thens):
        followed.setdefault(_link_key(record, p.link_then), []).append(record["event_time"])
    hits = []
    for first in records(firsts):
        at = first["event_time"]
        times = followed.get(_link_key(first, p.link_first), [])
        if any(at < t <= at + p.within for t in times):
            continue
        user = str(first["user_id"] or "")
        if not user:
            continue
        window_start = at.to_pydatetime()
        window_end = (at + p.within).to_pydatetime()
        target = f" {first['resource_id']}" if first.get("resource_id") else ""
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=user,
                user_email=str(first.get("user_email") or ""),
                day=at.date(),
                window_start=window_start,
                window_end=window_end,
                reason=(
                    f"{first['event_action']}{target} at {at:%Y-%m-%d %H:%M} UTC and not "
                    f"followed by {'/'.join(p.then.actions) or p.then.family} within "
                    f"{_humanize(p.within)}"
                ),
                evidence_query=evidence_query(
                    user,
                    window_start,
                    window_end,
                    families={first["event_type"]},
                    resources=[first["resource_id"]] if first.get("resource_id") else [],
                ),
            )
        )
    return hits


def _first_seen(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    p: FirstSeenParams = rule.parameters
    rows = ctx.window_rows()
    flags = [rows[_FIRST_SEEN_COLUMNS[w]] > 0 for w in p.what]
    mask = flags[0]
    for flag in flags[1:]:
        mask = (mask & flag) if p.require == "all" else (mask | flag)
    mask &= rows["history_days"] >= p.min_history_days
    hit_rows = rows.loc[mask.fillna(False)]
    if hit_rows.empty:
        return []
    names = _first_seen_values(ctx, hit_rows)

    def reason(r: Any) -> str:
        parts = []
        for what in p.what:
            values = names.get((r.user_id, r.day, what), [])
            shown = ", ".join(values[:3]) or str(int(getattr(r, _FIRST_SEEN_COLUMNS[what])))
            parts.append(_FIRST_SEEN_PHRASES[what].format(shown))
        return "; ".join(parts)

    return _feature_hits(rule, hit_rows, reason)


_FIRST_SEEN_PHRASES = {
    "ip_address": "new IP {}",
    "user_agent": "new device/user agent {}",
    "resource": "first access to {}",
    "sensitive_resource": "first access to sensitive {}",
    "peer_sensitive_resource": "first access to {} in the peer group",
}


def _first_seen_values(
    ctx: RuleContext, rows: pd.DataFrame
) -> dict[tuple[Any, Any, str], list[str]]:
    """The actual new values (IPs, agents, sources) behind the counts, for the explanation."""
    out: dict[tuple[Any, Any, str], list[str]] = {}
    users = set(rows["user_id"])
    ips = ctx.ips.loc[ctx.ips["user_id"].isin(users)]
    for column, what in (("ip_address", "ip_address"), ("user_agent", "user_agent")):
        first = ips.groupby(["user_id", column], observed=True)["day"].min().reset_index()
        for r in tuples(first):
            out.setdefault((r.user_id, r.day, what), []).append(str(getattr(r, column)))
    res = ctx.resources.loc[ctx.resources["user_id"].isin(users)]
    first = res.groupby(["user_id", "resource_id"], observed=True)["day"].min().reset_index()
    for r in tuples(first):
        out.setdefault((r.user_id, r.day, "resource"), []).append(str(r.resource_id))
        if ctx.sensitivity.is_sensitive(r.resource_id):
            out.setdefault((r.user_id, r.day, "sensitive_resource"), []).append(str(r.resource_id))
    if "peer_group" in ctx.resources:
        peer_first = ctx.resources.groupby(["peer_group", "resource_id"], observed=True)[
            "day"
        ].transform("min")
        fresh = ctx.resources.loc[
            (ctx.resources["day"] == peer_first) & ctx.resources["user_id"].isin(users)
        ]
        for r in tuples(fresh):
            if ctx.sensitivity.is_sensitive(r.resource_id):
                out.setdefault((r.user_id, r.day, "peer_sensitive_resource"), []).append(
                    str(r.resource_id)
                )
    return out


@dataclass(frozen=True)
class Kind:
    """A rule kind: how its parameters are validated and how it is evaluated."""

    parameters: type[BaseModel]
    evaluate: Callable[[Rule, RuleContext], list[RuleHit]]
    reads_events: bool


KINDS: dict[str, Kind] = {
    "threshold": Kind(ThresholdParams, _threshold, reads_events=False),
    "ratio_to_baseline": Kind(RatioParams, _ratio, reads_events=False),
    "first_seen": Kind(FirstSeenParams, _first_seen, reads_events=False),
    "off_hours": Kind(OffHoursParams, _off_hours, reads_events=True),
    "pattern": Kind(PatternParams, _pattern, reads_events=True),
    "sequence": Kind(SequenceParams, _sequence, reads_events=True),
    "absence": Kind(AbsenceParams, _absence, reads_events=True),
}


def evaluate_rule(rule: Rule, context: RuleContext) -> list[RuleHit]:
    """The hits of `rule` in `context`, by its kind (the registry looks the rule up, so the
    rule model never imports what processes it)."""
    return KINDS[rule.kind].evaluate(rule, context)
