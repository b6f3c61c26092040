"""The audit log audits itself: what dashboard users do becomes audit events.

Every page view (with its filters), search, drill-down, report and export goes through
`record_dashboard_event`, so they all look alike: resource_type `audit_log`, the viewer as
the user, the dashboard session as the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sql.event_store import record_event
from sql.gateway import Database
from sql.vocabulary import OwnAction
from usecases.accounts import Viewer

RESOURCE_TYPE = "audit_log"


def record_dashboard_event(
    db: Database,
    *,
    org: str,
    viewer: Viewer,
    action: OwnAction,
    details: Mapping[str, Any] | None = None,
    resource_id: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> str:
    """Write one audit event about a dashboard user's action in `org`; returns its id."""
    with db.writer() as session:
        return record_event(
            session,
            organization_id=org,
            action=action,
            user_id=viewer.user_id,
            user_email=viewer.email,
            resource_type=RESOURCE_TYPE,
            resource_id=resource_id or "dashboard",
            details=dict(details or {}),
            ip_address=ip_address,
            user_agent=user_agent,
            session_id=viewer.session_id,
        )
