"""The wire format's pieces, pre-rendered: each action's family and head, and resources.

Events are kept as small tuples of pre-rendered JSON fragments until they are written, so
the hot path is string formatting, not dict building: `(ms, head, ident, resource,
details, tail, label)`, where `head` is the event type and action, `ident` the user, the
organisation, the IP and the user agent, `resource` the resource type and id, `details` a
JSON object and `tail` the session id. `writer.py` joins them into wire-format lines.
"""

from __future__ import annotations

import orjson

from simulator.labels import Label

RawEvent = tuple[int, str, str, str, str, str, "Label | None"]
Rendered = tuple[str, str, str]  # head, resource, details

# Every wire action and its family (the request's names; api_call actions are HTTP methods).
FAMILY: dict[str, str] = {
    **dict.fromkeys(("search", "view_logs", "view_entry", "download", "api_access"), "log_access"),
    **dict.fromkeys(
        (
            "create_alert",
            "update_alert",
            "disable_alert",
            "enable_alert",
            "delete_alert",
            "update_retention_policy",
            "add_source",
            "remove_source",
            "update_pii_masking",
            "update_org_settings",
        ),
        "config_change",
    ),
    **dict.fromkeys(
        ("invite_user", "change_role", "delete_account", "create_api_key", "revoke_api_key"),
        "user_management",
    ),
    **dict.fromkeys(
        ("export", "delete_logs", "retention_purge", "export_audit_logs"), "data_modification"
    ),
    **dict.fromkeys(("login", "logout", "login_failed"), "login"),
    **dict.fromkeys(("GET", "POST"), "api_call"),
}
HEAD: dict[str, str] = {
    action: f'"event_type":"{family}","event_action":"{action}",'
    for action, family in FAMILY.items()
}


def resource(resource_type: str | None, resource_id: str | None) -> str:
    """The JSON fragment for a resource (None renders as null)."""
    return (
        f'"resource_type":{orjson.dumps(resource_type).decode()},'
        f'"resource_id":{orjson.dumps(resource_id).decode()},'
    )


AUDIT_LOG = resource("audit_log", "audit_log")
