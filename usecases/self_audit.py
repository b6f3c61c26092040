"""The audit log audits itself: what dashboard users do becomes audit events.

Every page view (with its filters), search, drill-down, report and export goes through
`record_dashboard_event`, so they all look alike: resource_type `audit_log`, the viewer as
the user, the dashboard session as the session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sql.event_store import record_event
from sql.gateway import Database
from usecases.accounts import Viewer

RESOURCE_TYPE = "audit_log"
_ACTION = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The family of each dashboard action; any other well-formed action is log access.
ACTIONS: dict[str, str] = {
    "view_logs": "log_access",  # a page view, with its filters
    "view_entry": "log_access",  # one event's detail
    "search": "log_access",  # a query run on Explore
    "drill_down": "log_access",  # from a chart, finding or row to its raw events
    "generate_report": "log_access",  # compliance report
    "export": "data_modification",  # the request lists "user exported data" there
    "download_export": "log_access",
    "triage_finding": "config_change",
}


def record_dashboard_event(
    db: Database,
    *,
    org: str,
    viewer: Viewer,
    action: str,
    details: Mapping[str, Any] | None = None,
    resource_id: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Write one audit event about a dashboard user's action in `org`; returns its id."""
    if not _ACTION.match(action):
        raise ValueError(f"dashboard action must be lower_snake_case, got: {action!r}")
    with db.writer() as session:
        return record_event(
            session,
            organization_id=org,
            event_type=ACTIONS.get(action, "log_access"),
            event_action=action,
            user_id=viewer.user_id,
            user_email=viewer.email,
            resource_type=RESOURCE_TYPE,
            resource_id=resource_id or "dashboard",
            details=dict(details or {}),
            ip_address=ip_address,
            user_agent=user_agent,
            session_id=viewer.session_id,
        )
