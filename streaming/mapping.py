"""Which OCSF class and activity, and which CEF signature and severity, each event gets.

Data only: the formats look an event up here by (family, action), falling back to its
family's default. One table, so the OCSF and CEF outputs never disagree on what an event is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OcsfClass:
    """An OCSF event class: its uid and name, and its category's."""

    uid: int
    name: str
    category_uid: int
    category_name: str
    activities: dict[int, str]


WEB_RESOURCES_ACTIVITY = OcsfClass(
    6001,
    "Web Resources Activity",
    6,
    "Application Activity",
    {
        1: "Create",
        2: "Read",
        3: "Update",
        4: "Delete",
        5: "Search",
        6: "Import",
        7: "Export",
        99: "Other",
    },
)
API_ACTIVITY = OcsfClass(
    6003,
    "API Activity",
    6,
    "Application Activity",
    {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"},
)
ENTITY_MANAGEMENT = OcsfClass(
    3004,
    "Entity Management",
    3,
    "Identity & Access Management",
    {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"},
)
ACCOUNT_CHANGE = OcsfClass(
    3001,
    "Account Change",
    3,
    "Identity & Access Management",
    {1: "Create", 2: "Enable", 5: "Disable", 6: "Delete", 99: "Other"},
)
AUTHENTICATION = OcsfClass(
    3002,
    "Authentication",
    3,
    "Identity & Access Management",
    {1: "Logon", 2: "Logoff", 99: "Other"},
)
USER_ACCESS_MANAGEMENT = OcsfClass(
    3005,
    "User Access Management",
    3,
    "Identity & Access Management",
    {1: "Assign Privileges", 2: "Revoke Privileges", 99: "Other"},
)
DETECTION_FINDING = OcsfClass(
    2004, "Detection Finding", 2, "Findings", {1: "Create", 2: "Update", 3: "Close", 99: "Other"}
)


@dataclass(frozen=True)
class Mapping:
    """What one kind of event is in OCSF and CEF. `failed` marks a refused attempt."""

    ocsf: OcsfClass
    activity_id: int
    cef_severity: int
    failed: bool = False

    @property
    def activity_name(self) -> str:
        return self.ocsf.activities[self.activity_id]

    @property
    def type_uid(self) -> int:
        return self.ocsf.uid * 100 + self.activity_id


# Each family's default: what an action not listed below is.
FAMILY_DEFAULTS: dict[str, Mapping] = {
    "login": Mapping(AUTHENTICATION, 99, 3),
    "log_access": Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    "config_change": Mapping(ENTITY_MANAGEMENT, 3, 5),
    "user_management": Mapping(ACCOUNT_CHANGE, 99, 5),
    "data_modification": Mapping(WEB_RESOURCES_ACTIVITY, 3, 5),
    "api_call": Mapping(API_ACTIVITY, 99, 2),
}

# (family, action) -> mapping, for the request's actions and AuditLens's own.
ACTIONS: dict[tuple[str, str], Mapping] = {
    ("log_access", "search"): Mapping(WEB_RESOURCES_ACTIVITY, 5, 3),
    ("log_access", "view_logs"): Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    ("log_access", "view_entry"): Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    ("log_access", "drill_down"): Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    ("log_access", "api_access"): Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    ("log_access", "generate_report"): Mapping(WEB_RESOURCES_ACTIVITY, 2, 3),
    ("log_access", "download"): Mapping(WEB_RESOURCES_ACTIVITY, 7, 6),
    ("log_access", "download_export"): Mapping(WEB_RESOURCES_ACTIVITY, 7, 6),
    ("data_modification", "export"): Mapping(WEB_RESOURCES_ACTIVITY, 7, 6),
    ("data_modification", "export_audit_logs"): Mapping(WEB_RESOURCES_ACTIVITY, 7, 6),
    ("data_modification", "delete_logs"): Mapping(WEB_RESOURCES_ACTIVITY, 4, 7),
    ("data_modification", "retention_purge"): Mapping(WEB_RESOURCES_ACTIVITY, 4, 5),
    ("config_change", "create_alert"): Mapping(ENTITY_MANAGEMENT, 1, 4),
    ("config_change", "add_source"): Mapping(ENTITY_MANAGEMENT, 1, 4),
    ("config_change", "delete_alert"): Mapping(ENTITY_MANAGEMENT, 4, 6),
    ("config_change", "remove_source"): Mapping(ENTITY_MANAGEMENT, 4, 6),
    ("config_change", "disable_alert"): Mapping(ENTITY_MANAGEMENT, 3, 7),
    ("user_management", "invite_user"): Mapping(ACCOUNT_CHANGE, 1, 5),
    ("user_management", "invite_member"): Mapping(ACCOUNT_CHANGE, 1, 5),
    ("user_management", "create_api_key"): Mapping(ACCOUNT_CHANGE, 1, 5),
    ("user_management", "api_key_created"): Mapping(ACCOUNT_CHANGE, 1, 5),
    ("user_management", "delete_account"): Mapping(ACCOUNT_CHANGE, 6, 6),
    ("user_management", "remove_member"): Mapping(ACCOUNT_CHANGE, 6, 6),
    ("user_management", "revoke_api_key"): Mapping(ACCOUNT_CHANGE, 5, 5),
    ("user_management", "api_key_revoked"): Mapping(ACCOUNT_CHANGE, 5, 5),
    ("user_management", "change_role"): Mapping(USER_ACCESS_MANAGEMENT, 1, 6),
    ("user_management", "change_permissions"): Mapping(USER_ACCESS_MANAGEMENT, 1, 6),
    ("login", "login"): Mapping(AUTHENTICATION, 1, 3),
    ("login", "login_failed"): Mapping(AUTHENTICATION, 1, 5, failed=True),
    ("login", "logout"): Mapping(AUTHENTICATION, 2, 2),
}

# Findings: Detection Finding "Create"; CEF severity by the finding's own severity.
FINDING = Mapping(DETECTION_FINDING, 1, 7)
FINDING_SEVERITY_IDS: dict[str, int] = {"low": 2, "medium": 3, "high": 4, "critical": 5}
FINDING_CEF_SEVERITY: dict[str, int] = {"low": 3, "medium": 5, "high": 8, "critical": 10}


def mapping_for(family: str, action: str) -> Mapping:
    """The mapping of an event; an unknown family is a Web Resources Activity "Other"."""
    found = ACTIONS.get((family, action)) or FAMILY_DEFAULTS.get(family)
    return found or Mapping(WEB_RESOURCES_ACTIVITY, 99, 3)
