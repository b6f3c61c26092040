"""The facts every layer shares: event columns, families, the organisation-id pattern, the
user-day rollup's columns, and the actions AuditLens records about its own use.

Each is written here once; the store, the canonical form, the exports, the rules, the
validator and the dashboard import them. The orders are contracts (the COPY row, the
canonical record that seals hash, the export files, the rollup's columns): changing one is a
format change, and the byte-for-byte tests say where.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeGuard

# A stored event's columns, in the order of a row handed to `event_store.insert_events`.
EVENT_COLUMNS: tuple[str, ...] = (
    "organization_id",
    "id",
    "event_time",
    "event_type",
    "event_action",
    "user_id",
    "user_email",
    "ip_address",
    "user_agent",
    "resource_type",
    "resource_id",
    "details",
    "session_id",
)
# Set by AuditLens when it stores an event, never by the producer.
SYSTEM_COLUMNS: tuple[str, ...] = ("received_at", "retention_guaranteed_until", "ingest_seq")
# AuditLens's own use of itself (the meta-audit stream): rows where this column is true are
# left out of the analysed organisation's figures, rollups and detection.
OWN_USE_COLUMN = "own_use"
# Who may see that stream.
OWN_USE_ROLES: tuple[str, ...] = ("admin", "auditor")

# The columns of every export file, with or without proofs (a contract with whoever reads
# the files): the stored columns but the organisation (an export is one organisation's), then
# the store's sequence number. A proof export adds a `proof` column after them.
EXPORT_COLUMNS: tuple[str, ...] = (
    *(c for c in EVENT_COLUMNS if c != "organization_id"),
    "ingest_seq",
)

# The request's four families, sign-ins, and the middleware's API calls, in the order of the
# user-day rollup's per-family columns.
FAMILIES: tuple[str, ...] = (
    "login",
    "log_access",
    "config_change",
    "user_management",
    "data_modification",
    "api_call",
)

# Producers' organisation ids (`org_123`); match with `fullmatch`, so no trailing newline.
ORG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
ORG_ID_RULE = "1-128 letters, digits or _.:@- , starting with a letter or digit"


def is_org_id(value: object) -> TypeGuard[str]:
    """Whether `value` is a well-formed organisation id (a string matching `ORG_ID`)."""
    return isinstance(value, str) and ORG_ID.fullmatch(value) is not None


# The user-day rollup (`ReadModel.user_day_features`), the read model's contract with
# detection: who and which day, additive counts and distinct counts, first and last event time.
USER_DAY_KEYS: tuple[str, ...] = ("day", "user_id", "user_email")
USER_DAY_COUNTS: tuple[str, ...] = (
    "events",
    *FAMILIES,
    "searches",
    "views",
    "downloads",
    "exports",
    "deletions",
    "distinct_resources",
    "distinct_ips",
    "distinct_user_agents",
    "off_hours_events",
    "records_exported",
    "max_results_count",
)
USER_DAY_TIMES: tuple[str, ...] = ("first_event", "last_event")
USER_DAY_COLUMNS: tuple[str, ...] = (*USER_DAY_KEYS, *USER_DAY_COUNTS, *USER_DAY_TIMES)

_ACTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")


class DuplicateAction(ValueError):
    """An own action registered twice: two meanings for one name would split the stream."""


@dataclass(frozen=True)
class OwnAction:
    """One thing AuditLens records about its own use: the `event_action` and its family."""

    name: str
    family: str
    what: str

    def __str__(self) -> str:
        return self.name


class OwnActions:
    """The registry of AuditLens's own actions; registering a name twice is refused."""

    def __init__(self) -> None:
        self._by_name: dict[str, OwnAction] = {}

    def add(self, name: str, family: str, what: str) -> OwnAction:
        if not _ACTION_NAME.fullmatch(name):
            raise ValueError(f"own action must be lower_snake_case (max 50), got: {name!r}")
        if family not in FAMILIES:
            raise ValueError(f"own action {name!r}: unknown family {family!r}")
        if name in self._by_name:
            raise DuplicateAction(f"own action {name!r} is already registered")
        action = OwnAction(name, family, what)
        self._by_name[name] = action
        return action

    def get(self, name: str) -> OwnAction:
        """The registered action called `name`; an unknown name is a ValueError naming it."""
        action = self._by_name.get(name) if isinstance(name, str) else None
        if action is None:
            raise ValueError(f"unknown own action {name!r}")
        return action

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._by_name

    def __iter__(self) -> Iterator[OwnAction]:
        return iter(self._by_name.values())


OWN_ACTIONS = OwnActions()
# What a dashboard viewer does (through `usecases.self_audit`).
VIEW_LOGS = OWN_ACTIONS.add("view_logs", "log_access", "a page view, with its filters")
VIEW_ENTRY = OWN_ACTIONS.add("view_entry", "log_access", "one event's or finding's detail")
SEARCH = OWN_ACTIONS.add("search", "log_access", "a query run on Explore")
DRILL_DOWN = OWN_ACTIONS.add("drill_down", "log_access", "from a chart, finding or row to events")
GENERATE_REPORT = OWN_ACTIONS.add("generate_report", "log_access", "a compliance report")
DOWNLOAD_EXPORT = OWN_ACTIONS.add("download_export", "log_access", "an export file fetched")
# The request lists "user exported data" under data modification.
EXPORT = OWN_ACTIONS.add("export", "data_modification", "events exported as a file")
TRIAGE_FINDING = OWN_ACTIONS.add("triage_finding", "data_modification", "a finding's status set")
UPDATE_DETECTION_SETTINGS = OWN_ACTIONS.add(
    "update_detection_settings", "config_change", "detection's alert budget or suppression set"
)
# Storage.
UPDATE_RETENTION_POLICY = OWN_ACTIONS.add(
    "update_retention_policy", "config_change", "a family's retention days set"
)
RETENTION_PURGE = OWN_ACTIONS.add("retention_purge", "data_modification", "expired events purged")
PLACE_LEGAL_HOLD = OWN_ACTIONS.add(
    "place_legal_hold", "config_change", "a legal hold placed on matching events"
)
LIFT_LEGAL_HOLD = OWN_ACTIONS.add("lift_legal_hold", "config_change", "a legal hold lifted")
# Accounts and keys.
INVITE_MEMBER = OWN_ACTIONS.add("invite_member", "user_management", "a member added")
CHANGE_PERMISSIONS = OWN_ACTIONS.add("change_permissions", "user_management", "a role changed")
REMOVE_MEMBER = OWN_ACTIONS.add("remove_member", "user_management", "a membership taken back")
API_KEY_CREATED = OWN_ACTIONS.add(
    "api_key_created", "user_management", "an ingest or read key made"
)
API_KEY_REVOKED = OWN_ACTIONS.add(
    "api_key_revoked", "user_management", "an ingest or read key revoked"
)
LOGIN = OWN_ACTIONS.add("login", "login", "a dashboard sign-in")
LOGIN_FAILED = OWN_ACTIONS.add("login_failed", "login", "a refused sign-in")
LOGOUT = OWN_ACTIONS.add("logout", "login", "a dashboard sign-out")
# The resource catalogue (`sql.catalogue`).
DESCRIBE_RESOURCE = OWN_ACTIONS.add(
    "describe_resource", "config_change", "a resource's catalogue entry set"
)
IMPORT_RESOURCE_CATALOGUE = OWN_ACTIONS.add(
    "import_resource_catalogue", "config_change", "catalogue entries imported from a file"
)

# How sensitive a resource is, least to most (the catalogue's CHECK lists the same words).
SENSITIVITY_LEVELS: tuple[str, ...] = ("internal", "confidential", "restricted")
# The levels detection's rules treat as sensitive ("first access to a sensitive source",
# "mass sensitive read"): restricted only. Confidential sources (production APIs, billing)
# are read by many people every day as their job; counting them would make those rules fire
# on ordinary work. Pages still show every level.
RULE_SENSITIVE_LEVELS: frozenset[str] = frozenset({"restricted"})
# A catalogue tag: a lower-case word (the catalogue's CHECK has the same pattern).
RESOURCE_TAG = re.compile(r"[a-z][a-z0-9_-]{0,31}")
RESOURCE_TAG_RULE = "a lower-case word: a letter, then up to 31 letters, digits, _ or -"
MAX_RESOURCE_TAGS = 20
# Tags the suggestions use; others are allowed.
KNOWN_RESOURCE_TAGS: tuple[str, ...] = (
    "pci",
    "pii",
    "hr",
    "financial",
    "credentials",
    "customer",
    "security",
)

# SIEM streaming destinations.
ADD_STREAM_DESTINATION = OWN_ACTIONS.add(
    "add_stream_destination", "config_change", "a SIEM streaming destination added"
)
REMOVE_STREAM_DESTINATION = OWN_ACTIONS.add(
    "remove_stream_destination", "config_change", "a SIEM streaming destination removed"
)
PAUSE_STREAM_DESTINATION = OWN_ACTIONS.add(
    "pause_stream_destination", "config_change", "a SIEM streaming destination paused"
)
RESUME_STREAM_DESTINATION = OWN_ACTIONS.add(
    "resume_stream_destination", "config_change", "a SIEM streaming destination resumed"
)
BACKFILL_STREAM_DESTINATION = OWN_ACTIONS.add(
    "backfill_stream_destination", "config_change", "a destination asked to re-send from a time"
)
TEST_STREAM_DESTINATION = OWN_ACTIONS.add(
    "test_stream_destination", "config_change", "a test record sent to a destination"
)

# The read API (`GET /api/v1/events`, `/api/v1/findings`): each page a read key fetched.
API_READ = OWN_ACTIONS.add("api_read", "log_access", "a page read through the read API")

# Saved searches and the alerts made from them.
SAVE_SEARCH = OWN_ACTIONS.add("save_search", "config_change", "an Explore query saved by name")
UPDATE_SAVED_SEARCH = OWN_ACTIONS.add(
    "update_saved_search", "config_change", "a saved search's query, description or sharing set"
)
RENAME_SAVED_SEARCH = OWN_ACTIONS.add(
    "rename_saved_search", "config_change", "a saved search renamed"
)
DELETE_SAVED_SEARCH = OWN_ACTIONS.add(
    "delete_saved_search", "config_change", "a saved search deleted"
)
CREATE_ALERT = OWN_ACTIONS.add("create_alert", "config_change", "an alert made from a search")
# The names the evidence pack and the request's third scenario look for.
ENABLE_ALERT = OWN_ACTIONS.add("enable_alert", "config_change", "an alert switched on")
DISABLE_ALERT = OWN_ACTIONS.add("disable_alert", "config_change", "an alert switched off")
