"""Calibration to one organisation: how surprising a finding is HERE.

- A rule that fires for many of the organisation's users in the window says little about
  any one of them: its hits are demoted (one severity step per band of prevalence) and
  their reason says so ("fired for 24% of users over 30 days").
- A rule that fires for the same user on many days is that user's routine (a finance team
  exporting daily): those hits are demoted for that user, the reason says so too.
- Model-only findings live within an alert budget: a few per 100 users per week; the
  organisation's most unusual model-only user-days keep their score (at most medium), the
  rest stay below the finding threshold.
- A rule an analyst called benign for a user is suppressed for that user for a while.

Scores stay comparable across organisations (the same bands and budget rate everywhere),
and severities follow the calibrated scores.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from detection.rules.schema import SEVERITIES, RuleHit

# (share of active users a rule fired for, severity steps it loses), widest band first.
PREVALENCE_BANDS: tuple[tuple[float, int], ...] = ((0.20, 3), (0.10, 2), (0.05, 1))
# A rule firing for fewer users than this is never demoted for prevalence: in a small
# organisation one person is already several percent.
PREVALENCE_MIN_USERS = 4
# A rule is a user's routine when it fired for them on at least ROUTINE_DAYS days and on at
# least ROUTINE_SHARE of the window's days: a campaign of a few weeks in a quarter is not.
ROUTINE_DAYS = 4
ROUTINE_SHARE = 0.5
MODEL_ONLY_MAX = 0.7  # a model-only finding is at most medium
BELOW_FINDING = 0.45  # where model-only user-days beyond the budget are held


@dataclass(frozen=True)
class Calibration:
    """An organisation's calibration settings (see `detection.settings`)."""

    model_alerts_per_100_users_week: float = 2.0
    benign_suppression_days: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.model_alerts_per_100_users_week <= 100:
            raise ValueError(
                "model_alerts_per_100_users_week must be in [0, 100], got: "
                f"{self.model_alerts_per_100_users_week}"
            )
        if not 0 <= self.benign_suppression_days <= 3650:
            raise ValueError(
                f"benign_suppression_days must be in [0, 3650], got: {self.benign_suppression_days}"
            )


@dataclass(frozen=True)
class Suppression:
    """A benign verdict: `rule_id` does not alert for `user_id` from `since` to `until`."""

    user_id: str
    rule_id: str
    since: datetime
    until: datetime
    finding_id: str = ""

    def covers(self, hit: RuleHit) -> bool:
        return (
            hit.user_id == self.user_id
            and hit.rule_id == self.rule_id
            and self.since <= hit.window_end
            and hit.window_start <= self.until
        )


def demoted(severity: str, steps: int) -> str:
    return SEVERITIES[max(0, SEVERITIES.index(severity) - steps)]


def prevalence(hits: Iterable[RuleHit], active_users: int) -> dict[str, tuple[int, float]]:
    """rule id -> (users it fired for, their share of the window's active users)."""
    users: dict[str, set[str]] = {}
    for hit in hits:
        users.setdefault(hit.rule_id, set()).add(hit.user_id)
    total = max(active_users, 1)
    return {rule: (len(fired), len(fired) / total) for rule, fired in users.items()}


def prevalence_steps(users: int, share: float) -> int:
    if users < PREVALENCE_MIN_USERS:
        return 0
    return next((steps for floor, steps in PREVALENCE_BANDS if share >= floor), 0)


def calibrate_hits(
    hits: list[RuleHit],
    *,
    active_users: int,
    window_days: int,
    suppressions: Iterable[Suppression] = (),
    as_authored: Collection[str] = (),
) -> list[RuleHit]:
    """The hits with severities calibrated to the organisation and suppressed ones dropped.

    Hits of the rules in `as_authored` (an organisation's own alerts) are only suppressed,
    never demoted: their author chose the condition and the severity.

    Routine hits (see ROUTINE_DAYS) are demoted two steps and do not count towards the
    rule's prevalence: a daily exporter's exports are already explained, and must not make
    everyone else's rare export look ordinary.
    """
    suppressions = list(suppressions)
    kept = [h for h in hits if not any(s.covers(h) for s in suppressions)]
    days: dict[tuple[str, str], set[date]] = {}
    for hit in kept:
        if hit.rule_id not in as_authored:
            days.setdefault((hit.rule_id, hit.user_id), set()).add(hit.day)
    least = max(ROUTINE_DAYS, math.ceil(ROUTINE_SHARE * window_days))
    routine = {key for key, seen in days.items() if len(seen) >= least}
    unusual = [h for h in kept if (h.rule_id, h.user_id) not in routine]
    spread = prevalence(unusual, active_users)
    out = []
    for hit in kept:
        if hit.rule_id in as_authored:
            out.append(hit)
            continue
        if (hit.rule_id, hit.user_id) in routine:
            seen = len(days[(hit.rule_id, hit.user_id)])
            note = f"routine for this user: fired on {seen} of {window_days} days"
            out.append(_demote(hit, 2, note))
            continue
        users, share = spread.get(hit.rule_id, (0, 0.0))
        steps = prevalence_steps(users, share)
        if steps:
            note = f"fired for {share:.0%} of users over {window_days} days"
            out.append(_demote(hit, steps, note))
        else:
            out.append(hit)
    return out


def _demote(hit: RuleHit, steps: int, note: str) -> RuleHit:
    return replace(hit, severity=demoted(hit.severity, steps), reason=f"{hit.reason} ({note})")


def model_budget(users: int, window_days: int, calibration: Calibration) -> int:
    """How many model-only findings the window may have."""
    weeks = max(window_days, 1) / 7
    return math.ceil(calibration.model_alerts_per_100_users_week * users / 100 * weeks)


def budget_model_part(
    model_part: np.ndarray, has_rules: np.ndarray, budget: int, finding_min: float
) -> np.ndarray:
    """The model parts with model-only user-days held within the budget.

    The `budget` most unusual model-only user-days keep their part, capped at
    MODEL_ONLY_MAX; every other model-only part is held below the finding threshold.
    User-days with a rule hit keep their model part (it ranks them among each other).
    """
    out = model_part.astype(float).copy()
    alone = np.flatnonzero(~has_rules & (out >= finding_min))
    order = alone[np.argsort(-out[alone], kind="stable")]
    keep, drop = order[:budget], order[budget:]
    out[keep] = np.minimum(out[keep], MODEL_ONLY_MAX)
    out[drop] = np.minimum(out[drop], min(BELOW_FINDING, finding_min - 1e-3))
    return out


def active_users(window: pd.DataFrame) -> int:
    return int(window["user_id"].nunique()) if len(window) else 0


def suppressions_from(rows: Iterable[Mapping[str, Any]], days: int) -> list[Suppression]:
    """Suppressions from benign verdicts: rows with finding_id, user_id, detectors (rule ids
    and maybe "model"), window_start (the finding's) and decided_at (the verdict's time)."""
    out = []
    for row in rows:
        for rule_id in row["detectors"]:
            if rule_id == "model":
                continue
            out.append(
                Suppression(
                    user_id=str(row["user_id"]),
                    rule_id=str(rule_id),
                    since=row["window_start"],
                    until=row["decided_at"] + timedelta(days=days),
                    finding_id=str(row["finding_id"]),
                )
            )
    return out
