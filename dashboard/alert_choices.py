"""What the Alerts page offers: the conditions in words, the windows T, who may change
alerts, and the alert a form describes; no Streamlit here."""

from __future__ import annotations

from usecases.search_alerts import AlertSpec, SearchAlert

# Analysts make and switch alerts (the request's journey is an analyst's); admins do
# everything; auditors read alerts and their dry runs.
ALERT_ROLES = ("admin", "analyst")
CONDITION_LABELS = {
    "any": "Any match",
    "count": "More than N matches in T",
    "per_user": "More than N matches by one user in T",
}
# T, in minutes: from a burst to a week.
WINDOWS = (5, 15, 30, 60, 240, 1_440, 10_080)
DEFAULT_WINDOW = 60
DEFAULT_SEVERITY = "high"


def window_label(minutes: int) -> str:
    """`5 minutes`, `1 hour`, `4 hours`, `1 day`, `7 days`."""
    for size, unit in ((1_440, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}" + ("" if count == 1 else "s")
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def spec_from_form(condition: str, threshold: int, window_minutes: int, severity: str) -> AlertSpec:
    """The alert the form describes; N and T mean nothing to "any match" and are left out.
    An invalid value is the store's one-line `AlertError`."""
    if condition == "any":
        return AlertSpec("any", 0, DEFAULT_WINDOW, severity)
    return AlertSpec(condition, int(threshold), int(window_minutes), severity)


def condition_text(alert: SearchAlert) -> str:
    """The condition in words, T as the form offers it: "more than 5 matches in 1 hour"."""
    if alert.condition == "any":
        return "any match"
    who = " by one user" if alert.condition == "per_user" else ""
    return f"more than {alert.threshold:,} matches{who} in {window_label(alert.window_minutes)}"


def alert_label(alert: SearchAlert) -> str:
    """One plain-text line for a picker."""
    state = "on" if alert.enabled else "off"
    gone = " (search deleted)" if alert.search_deleted else ""
    return (
        f"#{alert.alert_id} {alert.search_name}{gone}: {condition_text(alert)},"
        f" {alert.severity}, {state}"
    )
