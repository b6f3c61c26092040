"""Alerts from saved searches: made switched off, tried with a dry run, switched on and off.

`dry_run` scores the last `days` days with the alert's rule alone through the same code as
detection (`detection.pipeline.score_days`: the organisation's hours, calibration and benign
verdicts), so the hits it lists are the ones the alert produces when switched on over the
same days. In a live run those hits rank together with the other rules and the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from detection.findings import Finding
from detection.pipeline import score_days
from detection.rules import Rule, RuleHit
from detection.rules.stored import alert_rule, search_rule
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.saved_searches import find_search
from sql.search_alerts import (
    RULE_ID_PREFIX,
    AlertError,
    AlertSpec,
    SearchAlert,
    create_alert,
    get_alert,
    list_alerts,
    switch_alert,
)
from usecases.legal_holds import shown

__all__ = [
    "AlertError",
    "AlertSpec",
    "DryRun",
    "SearchAlert",
    "alert_lines",
    "create",
    "disable",
    "dry_run",
    "dry_run_lines",
    "enable",
    "list_alerts",
]

MAX_DRY_RUN_DAYS = 90


def create(
    db: Database,
    org: str,
    actor: str,
    search: str | int,
    *,
    condition: str = "any",
    threshold: int = 0,
    window_minutes: int = 60,
    severity: str = "high",
) -> SearchAlert:
    """An alert on the saved search `search` (name or id), switched off until enabled."""
    spec = AlertSpec(condition, threshold, window_minutes, severity)
    return create_alert(db, org, actor, search, spec)


def enable(db: Database, org: str, actor: str, alert_id: int, reason: str = "") -> SearchAlert:
    """Switch an alert on: detection evaluates it from its next run."""
    return switch_alert(db, org, actor, alert_id, on=True, reason=reason)


def disable(db: Database, org: str, actor: str, alert_id: int, reason: str = "") -> SearchAlert:
    """Switch an alert off (recorded as `disable_alert`, which the evidence pack lists)."""
    return switch_alert(db, org, actor, alert_id, on=False, reason=reason)


@dataclass(frozen=True)
class DryRun:
    """What an alert would have fired on over [start_day, end_day]."""

    rule: Rule
    start_day: date
    end_day: date
    hits: list[RuleHit]  # the alert's hits, calibrated as a live run calibrates them
    findings: list[Finding]  # the findings those hits make on their own


def _rule(
    db: Database,
    org: str,
    alert: SearchAlert | int | AlertSpec,
    search: str | int | None,
    actor: str | None,
) -> Rule:
    if isinstance(alert, AlertSpec):
        if search is None or actor is None:
            raise AlertError("search: a dry run of a new alert names its search and who asks")
        found = find_search(db, org, actor, search)
        return search_rule(org, f"{RULE_ID_PREFIX}new", found.name, found.query, alert)
    # Read again, within `org`: as stored now, and never another organisation's.
    stored = get_alert(db, org, alert.alert_id if isinstance(alert, SearchAlert) else alert)
    if stored.search_deleted:
        raise AlertError(f"alert: {stored.alert_id}'s search {stored.search_name!r} was deleted")
    return alert_rule(stored)


def dry_run(
    db: Database,
    org: str,
    alert: SearchAlert | int | AlertSpec,
    *,
    search: str | int | None = None,
    actor: str | None = None,
    days: int = 30,
    today: date | None = None,
) -> DryRun:
    """The hits `alert` (stored, by id, or a spec on `search` that `actor` can see) would
    have produced over the last `days` UTC days up to `today` (default: today)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DRY_RUN_DAYS:
        raise AlertError(f"days must be a whole number in [1, {MAX_DRY_RUN_DAYS}], got: {days!r}")
    rule = _rule(db, org, alert, search, actor)
    end_day = today or datetime.now(UTC).date()
    start_day = end_day - timedelta(days=days - 1)
    scored = score_days(
        db, org, start_day, end_day, [rule], read_model=ReadModel(db), use_model=False
    )
    if scored is None:
        return DryRun(rule, start_day, end_day, [], [])
    result, _ = scored
    if rule.id in result.rule_errors:
        raise AlertError(f"query: {result.rule_errors[rule.id]}")
    return DryRun(rule, start_day, end_day, result.hits, result.findings)


def _alert_line(alert: SearchAlert) -> str:
    state = "on" if alert.enabled else "off"
    switched = (
        f"\tswitched {state} {alert.switched_at:%Y-%m-%d %H:%M}Z by {shown(alert.switched_by)}"
        if alert.switched_at is not None
        else ""
    )
    deleted = " (search deleted)" if alert.search_deleted else ""
    return (
        f"{alert.alert_id}\t{state}\t{alert.severity}\t{shown(alert.search_name)}{deleted}"
        f"\t{alert.spec.describe()}\t{alert.rule_id}{switched}"
    )


def alert_lines(db: Database, org: str) -> list[str]:
    """One line per alert of `org`: id, on/off, severity, search, condition, rule id."""
    return [_alert_line(alert) for alert in list_alerts(db, org)]


def dry_run_lines(run: DryRun) -> list[str]:
    """A dry run as the command line prints it: a summary, then one line per hit."""
    users = len({h.user_id for h in run.hits})
    lines = [
        f"{run.rule.title}: {len(run.hits)} hit(s) for {users} user(s) and"
        f" {len(run.findings)} finding(s) from {run.start_day} to {run.end_day}"
    ]
    for hit in run.hits:
        lines.append(
            f"{hit.day}\t{hit.severity}\t{shown(hit.user_id)}\t{shown(hit.reason)}"
            f"\t{shown(hit.evidence_query)}"
        )
    return lines
