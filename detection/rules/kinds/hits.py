"""How a kind turns what it found into `RuleHit`s, each with the query that shows its events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any, cast

import pandas as pd

from detection.events import tuples
from detection.evidence import day_bounds, evidence_query
from detection.rules.schema import Rule, RuleHit


def rule_hit(
    rule: Rule,
    *,
    user_id: str,
    user_email: str,
    day: date,
    window: tuple[datetime, datetime],
    reason: str,
    families: Iterable[str] = (),
    actions: Iterable[str] = (),
    resources: Iterable[str] = (),
) -> RuleHit:
    """One hit of `rule`; its evidence is the user's events in `window`, narrowed as given."""
    start, end = window
    return RuleHit(
        rule_id=rule.id,
        severity=rule.severity,
        user_id=user_id,
        user_email=user_email,
        day=day,
        window_start=start,
        window_end=end,
        reason=reason,
        evidence_query=evidence_query(
            user_id, start, end, families=families, actions=actions, resources=resources
        ),
    )


def feature_hits(
    rule: Rule, rows: pd.DataFrame, reason: Callable[[Any], str], families: tuple[str, ...] = ()
) -> list[RuleHit]:
    """One hit per user-day row, over that whole UTC day."""
    return [
        rule_hit(
            rule,
            user_id=row.user_id,
            user_email=row.user_email,
            day=row.day,
            window=day_bounds(row.day),
            reason=reason(row),
            families=families,
        )
        for row in tuples(rows)
    ]


def event_hits(
    rule: Rule,
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
            rule_hit(
                rule,
                user_id=str(user),
                user_email=str(group["user_email"].iloc[0] or ""),
                day=cast(date, day),
                window=(start, end),
                reason=reason(group),
                families=group["event_type"].unique(),
                actions=group["event_action"].unique(),
            )
        )
    return hits
