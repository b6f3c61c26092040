"""One handler per action kind: what a session's action renders, as wire fragments.

A role's habits name these kinds (`people.Role.actions`); `Activity.session` draws one per
action and calls its handler with the activity, the person, the time, a source drawn from
the role's sources, and the session's ident and tail fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from simulator.clock import HOUR_MS, MINUTE_MS
from simulator.people import Person
from simulator.queries import AUDIT_QUERIES, SourceInfo
from simulator.sources import retention_policy_id
from simulator.wire import AUDIT_LOG, HEAD, Rendered, resource

if TYPE_CHECKING:
    from simulator.activity import Activity

Handler = Callable[["Activity", Person, int, SourceInfo, str, str], Rendered]

_H_SEARCH, _H_VIEW, _H_ENTRY = HEAD["search"], HEAD["view_logs"], HEAD["view_entry"]
_AUDIT_QUERIES = tuple(orjson.dumps(q).decode() for q in AUDIT_QUERIES)
# The fields whose masking rules admins change (each a `pii_masking_rule` resource).
PII_MASKED_FIELDS = ("email", "phone", "card_number", "ip_address", "iban")

ALERT_NAMES = (
    "High Error Rate",
    "Checkout Latency",
    "5xx Spike",
    "Disk Almost Full",
    "Login Failures",
    "Queue Backlog",
    "Payment Declines",
    "Pod Restarts",
)


# Log access.
def _search(act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
    b = act.bits(11)
    return (_H_SEARCH, src.res, src.search_pre[b & 255] + act.time_range(ms, b >> 8) + "}")


def _view_logs(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    b = act.bits(11)
    return (_H_VIEW, src.res, src.view_pre[b & 255] + act.time_range(ms, b >> 8) + "}")


def _view_entry(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    return (_H_ENTRY, src.res, f'{{"log_id":"log_{act.bits(40):010x}"}}')


def _download(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    r = act.r
    n = int(10 + 900 * r() * r())
    fmt = "csv" if r() < 0.6 else "json"
    return (
        HEAD["download"],
        src.res,
        f'{{"record_count":{n},"format":"{fmt}","time_range":{act.time_range(ms)}}}',
    )


def _api_access(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    n = int(1 + 300 * act.r())
    return (
        HEAD["api_access"],
        src.res,
        f'{{"endpoint":"/api/v1/sources/{src.source.name}/logs","results_count":{n}}}',
    )


def _audit_search(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    r = act.r
    q = _AUDIT_QUERIES[int(r() * len(_AUDIT_QUERIES))]
    n = int(1 + 200 * r() * r())
    return (
        HEAD["search"],
        AUDIT_LOG,
        f'{{"query":{q},"results_count":{n},"time_range":{act.time_range(ms)}}}',
    )


def _audit_view(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    n = int(20 + 80 * act.r())
    return (
        HEAD["view_logs"],
        AUDIT_LOG,
        f'{{"results_count":{n},"time_range":{act.time_range(ms)}}}',
    )


def _export(act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
    r = act.r
    n = int(50 + 2_500 * r() * r())
    return (
        HEAD["export"],
        src.res,
        orjson.dumps(
            {
                "record_count": n,
                "format": "csv" if r() < 0.7 else "json",
                "time_range": orjson.loads(act.time_range(ms)),
                "export_path": f"exports/{src.source.name}/{act.new_object_id('exp')}.csv",
            }
        ).decode(),
    )


# Configuration.
def change(old: dict[str, Any], new: dict[str, Any], **extra: Any) -> str:
    """details with changes (field -> [old, new]), old_values and new_values."""
    changes = {
        k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    }
    return orjson.dumps(
        {"changes": changes, "old_values": old, "new_values": new, **extra}
    ).decode()


def _alert_id(act: Activity) -> str:
    # Benign activity only touches alerts 1-40; planted scenarios use their own ids.
    return f"alert_{1 + int(act.r() * 40):04d}"


def _create_alert(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    r = act.r
    new = {
        "name": ALERT_NAMES[int(r() * len(ALERT_NAMES))],
        "source": src.rid,
        "threshold": 50 * (1 + int(r() * 10)),
        "window_minutes": 5,
        "enabled": True,
    }
    return (
        HEAD["create_alert"],
        resource("alert_rule", act.new_object_id("alert_new")),
        change({}, new),
    )


def _update_alert(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    r = act.r
    old_t = 50 * (1 + int(r() * 10))
    new_t = old_t * 2 if r() < 0.6 else max(10, old_t // 2)
    name = ALERT_NAMES[int(r() * len(ALERT_NAMES))]
    return (
        HEAD["update_alert"],
        resource("alert_rule", _alert_id(act)),
        change({"name": name, "threshold": old_t}, {"name": name, "threshold": new_t}),
    )


def _toggle_alert(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    """Disable an alert during maintenance and re-enable it within hours (benign)."""
    alert = _alert_id(act)
    res = resource("alert_rule", alert)
    later = ms + 10 * MINUTE_MS + int(act.r() * 3 * HOUR_MS)
    act.pending.append(
        (
            later,
            HEAD["enable_alert"],
            ident,
            res,
            change({"enabled": False}, {"enabled": True}),
            tail,
            None,
        )
    )
    return (
        HEAD["disable_alert"],
        res,
        change({"enabled": True}, {"enabled": False}, reason="maintenance window"),
    )


def _delete_alert(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    name = ALERT_NAMES[int(act.r() * len(ALERT_NAMES))]
    return (
        HEAD["delete_alert"],
        resource("alert_rule", act.new_object_id("alert_old")),
        change({"name": name, "enabled": False}, {}),
    )


def _update_retention(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    # Benign changes raise retention or lower it modestly, and are not followed by a purge.
    old = (30, 90, 180, 365)[int(act.r() * 4)]
    new = old * 2 if act.r() < 0.7 else max(30, old // 2)
    return (
        HEAD["update_retention_policy"],
        resource("retention_policy", retention_policy_id(src.rid)),
        change({"retention_days": old}, {"retention_days": new}),
    )


def _add_source(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    sid = act.new_object_id("source_service")
    return (
        HEAD["add_source"],
        resource("source", sid),
        change({}, {"name": sid.removeprefix("source_"), "type": "http"}),
    )


def _remove_source(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    sid = act.new_object_id("source_legacy")
    return (
        HEAD["remove_source"],
        resource("source", sid),
        change({"name": sid.removeprefix("source_"), "type": "syslog"}, {}),
    )


def pii_rule_id(field: str) -> str:
    """The id of the masking rule of one field (`pii_rule_card_number`)."""
    return f"pii_rule_{field}"


def _update_pii_masking(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    r = act.r
    field = PII_MASKED_FIELDS[int(r() * len(PII_MASKED_FIELDS))]
    old, new = ("mask", "hash") if r() < 0.5 else ("hash", "mask")
    return (
        HEAD["update_pii_masking"],
        resource("pii_masking_rule", pii_rule_id(field)),
        change({"field": field, "action": old}, {"field": field, "action": new}),
    )


def _update_org_settings(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    old = (30, 60, 120)[int(act.r() * 3)]
    return (
        HEAD["update_org_settings"],
        resource("organization", act.org),
        change({"session_timeout_minutes": old}, {"session_timeout_minutes": old * 2}),
    )


# User management.
def _invite_user(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    uid = act.new_object_id("user_guest")
    email = f"{uid.removeprefix('user_')}@partner.example"
    return (
        HEAD["invite_user"],
        resource("user", uid),
        orjson.dumps({"email": email, "role": "viewer"}).decode(),
    )


def _change_role(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    # Benign: between viewer and member, never to admin (that is privilege escalation).
    target = act.members[int(act.r() * len(act.members))] if act.members else p
    old = target.role.platform_role if target.role.platform_role != "admin" else "member"
    new = "viewer" if old == "member" else "member"
    return (
        HEAD["change_role"],
        resource("user", target.user_id),
        change({"role": old}, {"role": new}, target_email=target.email),
    )


def _delete_account(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    uid = act.new_object_id("user_former")
    return (
        HEAD["delete_account"],
        resource("user", uid),
        orjson.dumps({"email": f"{uid}@{act.domain}", "reason": "offboarding"}).decode(),
    )


def _create_api_key(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    return (
        HEAD["create_api_key"],
        resource("api_key", act.new_object_id("key")),
        '{"name":"ci-pipeline","scopes":["logs:read"]}',
    )


def _revoke_api_key(
    act: Activity, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
) -> Rendered:
    return (
        HEAD["revoke_api_key"],
        resource("api_key", act.new_object_id("key_old")),
        '{"reason":"rotation"}',
    )


HANDLERS: dict[str, Handler] = {
    "search": _search,
    "view_logs": _view_logs,
    "view_entry": _view_entry,
    "download": _download,
    "api_access": _api_access,
    "audit_search": _audit_search,
    "audit_view": _audit_view,
    "export": _export,
    "create_alert": _create_alert,
    "update_alert": _update_alert,
    "toggle_alert": _toggle_alert,
    "delete_alert": _delete_alert,
    "update_retention_policy": _update_retention,
    "add_source": _add_source,
    "remove_source": _remove_source,
    "update_pii_masking": _update_pii_masking,
    "update_org_settings": _update_org_settings,
    "invite_user": _invite_user,
    "change_role": _change_role,
    "delete_account": _delete_account,
    "create_api_key": _create_api_key,
    "revoke_api_key": _revoke_api_key,
}
