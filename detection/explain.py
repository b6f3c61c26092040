"""Plain-words explanations: "exports 47x above own 30-day median; first access to
payment-logs in the peer group"."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# What a count column is called in a sentence.
LABELS = {
    "events": "events",
    "login": "sign-ins",
    "log_access": "log accesses",
    "config_change": "configuration changes",
    "user_management": "user-management actions",
    "data_modification": "data modifications",
    "api_call": "API calls",
    "searches": "searches",
    "views": "log views",
    "downloads": "downloads",
    "exports": "exports",
    "deletions": "deletions",
    "distinct_resources": "distinct sources",
    "distinct_ips": "distinct IPs",
    "distinct_user_agents": "distinct user agents",
    "off_hours_events": "off-hours events",
    "records_exported": "records exported",
    "max_results_count": "largest result count",
    "sensitive_events": "events on sensitive sources",
    "new_ips": "new IPs",
    "new_user_agents": "new user agents",
    "new_resources": "sources accessed for the first time",
    "new_sensitive_resources": "sensitive sources accessed for the first time",
    "peer_new_sensitive_resources": "sensitive sources new to the peer group",
    "off_hours_share": "share of off-hours activity",
    "history_days": "active days in the last 30",
    "days_since_previous": "days since previous activity",
    "transfer_days_14d": "days with downloads or exports in the last 14",
    "records_exported_14d": "records exported in the last 14 days",
}

# The families whose events a feature counts, to narrow the evidence filter.
SCOPES: dict[str, tuple[str, ...]] = {
    "log_access": ("log_access",),
    "searches": ("log_access",),
    "views": ("log_access",),
    "downloads": ("log_access",),
    "max_results_count": ("log_access",),
    "config_change": ("config_change",),
    "user_management": ("user_management",),
    "data_modification": ("data_modification",),
    "deletions": ("data_modification",),
    "login": ("login",),
}


def feature_label(feature: str) -> str:
    return LABELS.get(feature, feature.replace("_", " "))


def feature_scope(feature: str) -> tuple[str, ...]:
    return SCOPES.get(feature, ())


def _base(model_feature: str) -> tuple[str, str]:
    for suffix, kind in (("_own_z_excess", "own"), ("_own_z", "own"), ("_peer_ratio", "peer")):
        if model_feature.endswith(suffix):
            return model_feature[: -len(suffix)], kind
    return model_feature, "count"


def describe(row: Any, model_feature: str) -> str | None:
    """One clause about why `model_feature` is unusual in `row` (a mapping of feature values)."""
    base, kind = _base(model_feature)
    value = _number(row.get(base))
    label = feature_label(base)
    if value is None:
        return None
    if base == "days_since_previous":
        return f"first activity in {value:.0f} days" if value >= 2 else None
    if base == "off_hours_share":
        return f"{value:.0%} of activity off hours" if value > 0 else None
    if base.startswith("new_") or base.startswith("peer_new_"):
        return f"{value:.0f} {label}" if value > 0 else None
    own_ratio = _number(row.get(f"{base}_own_ratio"))
    own_median = _number(row.get(f"{base}_own_median"))
    peer_ratio = _number(row.get(f"{base}_peer_ratio"))
    if kind != "peer" and own_median is not None and own_median < 1 and value >= 1:
        return f"{value:,.0f} {label} (own 30-day median 0)"
    if kind != "peer" and own_ratio is not None and own_ratio >= 2 and value > 0:
        return (
            f"{label} {own_ratio:.0f}x above own 30-day median ({value:,.0f} vs {own_median:,.0f})"
        )
    if peer_ratio is not None and peer_ratio >= 2 and value > 0:
        return f"{label} {peer_ratio:.0f}x the peer group's median ({value:,.0f})"
    if value > 0 and kind == "count":
        return f"{value:,.0f} {label}"
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def explain_model(
    row: Any,
    deviations: np.ndarray,
    feature_names: list[str],
    *,
    top: int = 3,
    already_said: str = "",
) -> list[str]:
    """Clauses for the features that deviate most (upwards) from the training data.

    Features whose label already appears in `already_said` (the rules' reasons) are skipped.
    """
    order = np.argsort(-deviations)
    clauses: list[str] = []
    seen_bases: set[str] = set()
    for index in order:
        if deviations[index] <= 1.5 or len(clauses) >= top:
            break
        name = feature_names[index]
        base = _base(name)[0]
        if base in seen_bases or feature_label(base) in already_said:
            continue
        clause = describe(row, name)
        if clause:
            clauses.append(clause)
            seen_bases.add(base)
    return clauses
