"""Alerts made from saved searches: a condition over a search's matches, with a severity.

"any" fires on every match; "count" when more than `threshold` matches fall within
`window_minutes`; "per_user" when one user has more than `threshold` within them. An alert
is made switched off (its dry run is looked at first), switched on and off by people, each
act recorded as an audit event (`enable_alert` / `disable_alert`, the names the evidence
pack and the disabled-alert rule read). Detection evaluates the switched-on ones as rules
(`detection.rules.stored`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sql.errors import AuditLensError
from sql.event_store import record_event
from sql.gateway import Database, ScopedSession, check_org_id
from sql.saved_searches import check_actor, lock_searches, visible_search
from sql.vocabulary import CREATE_ALERT, DISABLE_ALERT, ENABLE_ALERT, OwnAction

CONDITIONS = ("any", "count", "per_user")
# Detection's severities (detection.rules.schema.SEVERITIES; a test keeps the two equal).
SEVERITIES = ("low", "medium", "high", "critical")
MAX_THRESHOLD = 1_000_000
MAX_WINDOW_MINUTES = 43_200  # 30 days
MAX_REASON = 4_000
RULE_ID_PREFIX = "search-alert-"
# The columns a SearchAlert is built from, in its fields' order (a fixed text in every query).
_COLUMNS = (
    "a.alert_id, a.organization_id, a.search_id, s.name, s.query, s.deleted_at IS NOT NULL,"
    " a.condition, a.threshold, a.window_minutes, a.severity, a.enabled, a.created_by,"
    " a.created_at, a.switched_by, a.switched_at"
)


class AlertError(AuditLensError):
    """An alert that cannot be made, found or switched as asked; names the field."""


@dataclass(frozen=True)
class AlertSpec:
    """What an alert asks, checked: the condition, its threshold and window, its severity."""

    condition: str = "any"
    threshold: int = 0
    window_minutes: int = 60
    severity: str = "high"

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise AlertError(
                f"condition must be one of {', '.join(CONDITIONS)}, got: {self.condition!r}"
            )
        if self.severity not in SEVERITIES:
            raise AlertError(
                f"severity must be one of {', '.join(SEVERITIES)}, got: {self.severity!r}"
            )
        for name, value, low, high in (
            ("threshold", self.threshold, 0, MAX_THRESHOLD),
            ("window", self.window_minutes, 1, MAX_WINDOW_MINUTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise AlertError(
                    f"{name} must be a whole number in [{low}, {high}], got: {value!r}"
                )
        if self.condition == "any" and self.threshold != 0:
            raise AlertError("threshold: an 'any' alert fires on every match; leave it at 0")

    def describe(self) -> str:
        """The condition in words: "any match", "more than 5 matches in 60 minutes", ..."""
        if self.condition == "any":
            return "any match"
        who = " by one user" if self.condition == "per_user" else ""
        return f"more than {self.threshold} matches{who} in {self.window_minutes} minutes"


@dataclass(frozen=True)
class SearchAlert:
    alert_id: int
    organization_id: str
    search_id: int
    search_name: str
    query: str
    search_deleted: bool
    condition: str
    threshold: int
    window_minutes: int
    severity: str
    enabled: bool
    created_by: str
    created_at: datetime
    switched_by: str | None
    switched_at: datetime | None

    @property
    def spec(self) -> AlertSpec:
        return AlertSpec(self.condition, self.threshold, self.window_minutes, self.severity)

    @property
    def rule_id(self) -> str:
        """The id its findings name among detection's rules."""
        return f"{RULE_ID_PREFIX}{self.alert_id}"


def _select(where: str) -> str:
    # Fixed texts only: the caller's values are bound.
    return (
        "SELECT " + _COLUMNS + " FROM search_alerts a JOIN saved_searches s"  # noqa: S608
        " ON s.organization_id = a.organization_id AND s.search_id = a.search_id WHERE " + where
    )


def create_alert(
    db: Database, org_id: str, actor: str, search: str | int, spec: AlertSpec
) -> SearchAlert:
    """An alert on the saved search `search` (a name or an id) that `actor` can see, made
    switched off; recorded as an audit event."""
    check_org_id(org_id)
    actor = check_actor(actor)
    with db.admin() as session:
        # Found and inserted under the lock its owner's changes take, so the search cannot be
        # made private or deleted in between: whoever made an alert can see its search.
        lock_searches(session, org_id)
        found = visible_search(session, org_id, actor, search)
        if found.event_filter().own_use:
            raise AlertError(
                f"search: {found.name!r} reads AuditLens's own use (stream:auditlens);"
                " alerts read the organisation's events"
            )
        alert_id = session.scalar(
            "INSERT INTO search_alerts (organization_id, search_id, condition, threshold,"
            " window_minutes, severity, created_by) VALUES (:org, :search, :condition,"
            " :threshold, :window, :severity, :actor) RETURNING alert_id",
            {
                "org": org_id,
                "search": found.search_id,
                "condition": spec.condition,
                "threshold": spec.threshold,
                "window": spec.window_minutes,
                "severity": spec.severity,
                "actor": actor,
            },
        )
        alert = _get(session, org_id, int(alert_id), lock=False)
        _audit(session, alert, CREATE_ALERT, actor, {"enabled": False})
    return alert


def _audit(
    session: ScopedSession,
    alert: SearchAlert,
    action: OwnAction,
    actor: str,
    extra: dict[str, object],
) -> None:
    record_event(
        session,
        organization_id=alert.organization_id,
        action=action,
        user_id=actor,
        resource_type="search_alert",
        resource_id=alert.rule_id,
        details={
            "search": alert.search_name,
            "query": alert.query,
            "condition": alert.spec.describe(),
            "severity": alert.severity,
            **extra,
        },
    )


def _get(session: ScopedSession, org_id: str, alert_id: int, *, lock: bool) -> SearchAlert:
    rows = session.execute(
        _select("a.organization_id = :org AND a.alert_id = :id")
        + (" FOR UPDATE OF a" if lock else ""),
        {"org": org_id, "id": alert_id},
    ).rows
    if not rows:
        # Another organisation's alert is as unknown here as one that does not exist.
        raise AlertError(f"alert: no alert {alert_id} in organisation {org_id}")
    return SearchAlert(*rows[0])


def get_alert(db: Database, org_id: str, alert_id: int) -> SearchAlert:
    check_org_id(org_id)
    with db.admin() as session:
        return _get(session, org_id, alert_id, lock=False)


def switch_alert(
    db: Database, org_id: str, actor: str, alert_id: int, *, on: bool, reason: str = ""
) -> SearchAlert:
    """Switch an alert on or off; recorded as an audit event (with the reason, if given).
    Switching to the state it is in already is refused, so the record says what changed."""
    check_org_id(org_id)
    actor = check_actor(actor)
    if not isinstance(reason, str) or "\x00" in reason or len(reason) > MAX_REASON:
        raise AlertError(f"reason must be text of at most {MAX_REASON:,} characters, without NUL")
    with db.admin() as session:
        # As deleting a search does: an alert is never switched on for a search just deleted.
        lock_searches(session, org_id)
        current = _get(session, org_id, alert_id, lock=True)
        if current.enabled == on:
            state = "on" if on else "off"
            raise AlertError(f"alert: {alert_id} is switched {state} already")
        if on and current.search_deleted:
            raise AlertError(f"alert: {alert_id}'s search {current.search_name!r} was deleted")
        session.execute(
            "UPDATE search_alerts SET enabled = :on, switched_by = :actor, switched_at = now()"
            " WHERE organization_id = :org AND alert_id = :id",
            {"on": on, "actor": actor, "org": org_id, "id": alert_id},
        )
        alert = _get(session, org_id, alert_id, lock=False)
        extra: dict[str, object] = {"reason": reason} if reason else {}
        _audit(session, alert, ENABLE_ALERT if on else DISABLE_ALERT, actor, extra)
    return alert


def list_alerts(db: Database, org_id: str, *, enabled_only: bool = False) -> list[SearchAlert]:
    """`org_id`'s alerts by id (read through the organisation-scoped views)."""
    with db.org_session(org_id) as session:
        rows = session.execute(
            "SELECT " + _COLUMNS + " FROM org_search_alerts a JOIN org_saved_searches s"  # noqa: S608
            " ON s.organization_id = a.organization_id AND s.search_id = a.search_id"
            " WHERE a.enabled OR NOT CAST(:enabled_only AS boolean) ORDER BY a.alert_id",
            {"enabled_only": enabled_only},
        ).rows
    return [SearchAlert(*row) for row in rows]
