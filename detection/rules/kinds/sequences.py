"""Kinds over pairs of events (sequence, absence): a `first` event followed, or not followed,
by a linked `then` event within a time; each side reads its own narrow slice."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

import numpy as np
from pydantic import field_validator

from detection.baselines import day_numbers
from detection.events import field_value, records
from detection.rules.kinds.hits import rule_hit
from detection.rules.kinds.matching import (
    EventMatch,
    Strict,
    check_field,
    detection_window,
    parse_duration,
)
from detection.rules.schema import Rule, RuleContext, RuleHit


class _Pair(Strict):
    first: EventMatch
    then: EventMatch
    within: timedelta
    # Which field of each side must be equal; null links any two events.
    link_first: str | None
    link_then: str | None

    @field_validator("within", mode="before")
    @classmethod
    def _within(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("link_first", "link_then")
    @classmethod
    def _links(cls, value: str | None) -> str | None:
        return None if value is None else check_field(value)


class SequenceParams(_Pair):
    link_first: str | None = "user_id"  # the same actor by default
    link_then: str | None = "user_id"
    then_from_new_ip: bool = False  # the `then` event comes from an IP new to its user


class AbsenceParams(_Pair):
    link_first: str | None = "resource_id"  # the same source by default
    link_then: str | None = "resource_id"


def _link_key(record: dict[str, Any], link: str | None) -> Any:
    return "*" if link is None else field_value(record, link)


# The fields a `then` slice can be narrowed by in the database (indexed with the time).
_NARROWABLE = ("user_id", "resource_id")


def _ip_first_days(ctx: RuleContext, users: Collection[str]) -> dict[tuple[str, str], Any]:
    """(user, IP) -> the first day the user used the IP, over `users` (one pass, instead of
    scanning every user-day IP once per event)."""
    ips = ctx.ips.loc[ctx.ips["user_id"].isin(list(users))]
    first: dict[tuple[str, str], Any] = {}
    order = np.argsort(day_numbers(ips["first_day"]), kind="stable")
    ordered = ips.iloc[order]
    for user, ip, day in zip(
        ordered["user_id"], ordered["ip_address"], ordered["first_day"], strict=True
    ):
        first.setdefault((user, str(ip)), day)
    return first


def _humanize(gap: timedelta) -> str:
    seconds = int(gap.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{max(seconds // 60, 0)} minutes"


def sequence(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """A `then` event within `within` after a linked `first`: one hit per user and UTC day."""
    p: SequenceParams = rule.parameters
    start, end = detection_window(ctx)
    firsts = p.first.events(ctx, start - p.within, end)
    if firsts.empty:
        return []
    by_key: dict[Any, list[dict[str, Any]]] = {}
    for record in records(firsts):
        by_key.setdefault(_link_key(record, p.link_first), []).append(record)
    # Only the `then` events a `first` links to can count: fetch just those.
    only = None
    if p.link_first is not None and p.link_then in _NARROWABLE:
        only = {p.link_then: [k for k in by_key if isinstance(k, str)]}
    thens = p.then.events(ctx, start, end, only=only)
    if thens.empty:
        return []
    ip_first_days = (
        _ip_first_days(ctx, set(thens["user_id"].dropna())) if p.then_from_new_ip else {}
    )
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
        if p.then_from_new_ip:
            used_since = ip_first_days.get((user, str(then["ip_address"])))
            if used_since is not None and used_since < first["event_time"].date():
                continue
        seen.add((user, day))
        gap = then["event_time"] - first["event_time"]
        target = f" on {then['resource_id']}" if then.get("resource_id") else ""
        new_ip = f" from new IP {then['ip_address']}" if p.then_from_new_ip else ""
        hits.append(
            rule_hit(
                rule,
                user_id=user,
                user_email=str(then.get("user_email") or ""),
                day=day,
                window=(
                    first["event_time"].to_pydatetime(),
                    then["event_time"].to_pydatetime() + timedelta(seconds=1),
                ),
                reason=(
                    f"{first['event_action']} at {first['event_time']:%Y-%m-%d %H:%M} UTC, then "
                    f"{then['event_action']}{target}{new_ip} {_humanize(gap)} later"
                ),
                families={first["event_type"], then["event_type"]},
                actions={first["event_action"], then["event_action"]},
            )
        )
    return hits


def absence(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """A `first` event with no linked `then` within `within` (e.g. an alert never re-enabled)."""
    p: AbsenceParams = rule.parameters
    start, end = detection_window(ctx)
    # A `first` is judged once its deadline has passed inside the window being detected.
    firsts = p.first.events(ctx, start - p.within, end - p.within)
    if firsts.empty:
        return []
    thens = p.then.events(ctx, start - p.within, end)
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
        target = f" {first['resource_id']}" if first.get("resource_id") else ""
        hits.append(
            rule_hit(
                rule,
                user_id=user,
                user_email=str(first.get("user_email") or ""),
                day=at.date(),
                window=(at.to_pydatetime(), (at + p.within).to_pydatetime()),
                reason=(
                    f"{first['event_action']}{target} at {at:%Y-%m-%d %H:%M} UTC and not "
                    f"followed by {'/'.join(p.then.actions) or p.then.family} within "
                    f"{_humanize(p.within)}"
                ),
                families={first["event_type"]},
                resources=[first["resource_id"]] if first.get("resource_id") else [],
            )
        )
    return hits
