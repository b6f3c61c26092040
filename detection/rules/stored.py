"""Rules an organisation authors: alerts made from saved searches, stored in the database
(`sql.search_alerts`) instead of in rule files, parsed by the same loader into `Rule`s of the
`search` kind, so they rank, explain, triage, notify and stream like the shipped rules."""

from __future__ import annotations

import logging
from typing import Any

from detection.rules.loader import parse_rule
from detection.rules.schema import Rule, RuleLoadError
from sql.gateway import Database
from sql.search_alerts import AlertSpec, SearchAlert, list_alerts

_log = logging.getLogger(__name__)


def search_rule(
    org: str, rule_id: str, search_name: str, query: str, spec: AlertSpec, *, enabled: bool = True
) -> Rule:
    """The rule an alert on the search `search_name` (its `query`) with `spec` is."""
    data: dict[str, Any] = {
        "id": rule_id,
        "title": f"Saved search: {search_name}",
        "severity": spec.severity,
        "description": f"{spec.describe()} of saved search {search_name!r}: {query or '(all)'}",
        "kind": "search",
        "parameters": {
            "query": query,
            "condition": spec.condition,
            "threshold": spec.threshold,
            "window_minutes": spec.window_minutes,
            "name": search_name,
        },
        "enabled": enabled,
    }
    return parse_rule(data, f"organisation {org}, {rule_id}")


def alert_rule(alert: SearchAlert) -> Rule:
    """The rule a stored alert is."""
    return search_rule(
        alert.organization_id,
        alert.rule_id,
        alert.search_name,
        alert.query,
        alert.spec,
        enabled=alert.enabled,
    )


def organisation_rules(db: Database, org: str) -> list[Rule]:
    """`org`'s switched-on alerts as rules, by id. One that no longer parses (a query the
    parser has since refused) is logged and left out, not allowed to stop detection."""
    rules = []
    for alert in list_alerts(db, org, enabled_only=True):
        if alert.search_deleted:
            continue
        try:
            rules.append(alert_rule(alert))
        except RuleLoadError as exc:
            _log.warning("alert %s of %s left out of detection: %s", alert.alert_id, org, exc)
    return rules
