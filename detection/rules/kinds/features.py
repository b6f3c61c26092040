"""Kinds over the user-day features (threshold, ratio_to_baseline, first_seen): they read only
the rollups, never raw events."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from detection.baselines import day_numbers
from detection.explain import feature_label, feature_scope
from detection.rules.kinds.hits import feature_hits
from detection.rules.kinds.matching import OPERATORS, Operator, Strict, check_feature
from detection.rules.schema import Rule, RuleContext, RuleHit


class _OnFeature(Strict):
    feature: str

    @field_validator("feature")
    @classmethod
    def _feature(cls, value: str) -> str:
        return check_feature(value)


class ThresholdParams(_OnFeature):
    op: Operator = ">"
    value: float
    min_history_days: int = Field(default=0, ge=0)


class RatioParams(_OnFeature):
    ratio: float = Field(gt=1)
    baseline: Literal["own", "peer"] = "own"
    min_value: float = Field(default=1, ge=0)
    min_history_days: int = Field(default=5, ge=1)


FirstSeenWhat = Literal[
    "ip_address", "user_agent", "resource", "sensitive_resource", "peer_sensitive_resource"
]
# The feature column that counts each kind of first, and how a reason names one.
_FIRST_SEEN_COLUMNS = {
    "ip_address": "new_ips",
    "user_agent": "new_user_agents",
    "resource": "new_resources",
    "sensitive_resource": "new_sensitive_resources",
    "peer_sensitive_resource": "peer_new_sensitive_resources",
}
_FIRST_SEEN_PHRASES = {
    "ip_address": "new IP {}",
    "user_agent": "new device/user agent {}",
    "resource": "first access to {}",
    "sensitive_resource": "first access to sensitive {}",
    "peer_sensitive_resource": "first access to {} in the peer group",
}


class FirstSeenParams(Strict):
    what: list[FirstSeenWhat] = Field(min_length=1)
    require: Literal["all", "any"] = "all"
    # New users (a new hire's first week) see everything for the first time: not a finding.
    min_history_days: int = Field(default=5, ge=1)


def threshold(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """User-days whose feature compares to a fixed value."""
    p: ThresholdParams = rule.parameters
    rows = ctx.window_rows()
    mask = OPERATORS[p.op](rows[p.feature], p.value) & (rows["history_days"] >= p.min_history_days)
    label = feature_label(p.feature)
    return feature_hits(
        rule,
        rows.loc[mask.fillna(False)],
        lambda r: f"{label} {getattr(r, p.feature):,.0f} ({p.op} {p.value:,.0f})",
        feature_scope(p.feature),
    )


def ratio_to_baseline(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """User-days whose feature is some times the user's own or the peer group's median."""
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

    return feature_hits(rule, rows.loc[mask.fillna(False)], reason, feature_scope(p.feature))


def first_seen(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """User-days with a first IP, device or source (all or any of those asked for)."""
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

    return feature_hits(rule, hit_rows, reason)


def _first_days(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The row of each `keys` combination's first day (`first_day`; rows with a missing key
    left out), ordered by `keys`. Integer day numbers: a groupby min over date objects is a
    Python loop."""
    known = frame.dropna(subset=keys)
    order = np.argsort(day_numbers(known["first_day"]), kind="stable")
    return known.iloc[order].drop_duplicates(keys).sort_values(keys, kind="stable")


def _first_seen_values(
    ctx: RuleContext, rows: pd.DataFrame
) -> dict[tuple[Any, Any, str], list[str]]:
    """The actual new values (IPs, agents, sources) behind the counts, for the explanation."""
    out: dict[tuple[Any, Any, str], list[str]] = {}
    users = set(rows["user_id"])
    ips = ctx.ips.loc[ctx.ips["user_id"].isin(users)]
    for column in ("ip_address", "user_agent"):
        first = _first_days(ips, ["user_id", column])
        for user, day, value in zip(
            first["user_id"], first["first_day"], first[column], strict=True
        ):
            out.setdefault((user, day, column), []).append(str(value))
    res = ctx.resources.loc[ctx.resources["user_id"].isin(users)]
    first = _first_days(res, ["user_id", "resource_id"])
    for user, day, rid in zip(
        first["user_id"], first["first_day"], first["resource_id"], strict=True
    ):
        out.setdefault((user, day, "resource"), []).append(str(rid))
        if ctx.sensitivity.is_sensitive(rid):
            out.setdefault((user, day, "sensitive_resource"), []).append(str(rid))
    if "peer_group" in ctx.resources:
        resources = ctx.resources
        number = day_numbers(resources["first_day"])
        peer_first = (
            resources.assign(_n=number)
            .groupby(["peer_group", "resource_id"], observed=True)["_n"]
            .transform("min")
            .to_numpy()
        )
        fresh = resources.loc[
            (number == peer_first)
            & resources["user_id"].isin(users).to_numpy()
            & ctx.sensitivity.mask(resources["resource_id"])
        ]
        # The read model answers in no particular order: name a day's sources in one that
        # is fixed.
        fresh = fresh.sort_values(
            ["first_day", "user_id", "resource_type", "resource_id"],
            na_position="first",
            kind="stable",
        )
        for user, day, rid in zip(
            fresh["user_id"], fresh["first_day"], fresh["resource_id"], strict=True
        ):
            out.setdefault((user, day, "peer_sensitive_resource"), []).append(str(rid))
    return out
