"""Configuration history: who changed what, before -> after, and what was switched off and
never switched back on (the request's "who disabled the alert?" story).

Producers describe a change in `details` as the request's example does: `changes` (a diff),
`old_values`/`new_values` (snake or camel case). All shapes seen in the wild are accepted:
`changes` as {field: {"old": a, "new": b}}, {field: [a, b]}, [{"field", "old", "new"}], or
absent (then the diff of old and new values is used).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from sql.gateway import Database, ScopedSession

CHANGE_COLUMNS = (
    "id",
    "event_time",
    "user_id",
    "user_email",
    "event_action",
    "resource_type",
    "resource_id",
    "details",
)
_OLD_KEYS = ("old", "from", "before", "old_value", "oldValue")
_NEW_KEYS = ("new", "to", "after", "new_value", "newValue")
# Fields whose change to one of these values switches something off.
_SWITCH_FIELDS = ("enabled", "active", "is_enabled", "isEnabled", "status", "state")
_OFF_VALUES = {"false", "0", "off", "disabled", "paused", "inactive", "muted", "no"}
_OFF_ACTIONS = ("disable", "deactivate", "pause", "mute", "suspend", "revoke")
_ON_ACTIONS = ("enable", "activate", "resume", "unmute", "unpause", "reactivate")
_CHANGES_SQL = """
SELECT id, event_time, user_id, user_email, event_action, resource_type, resource_id, details
  FROM org_audit_events
 WHERE event_type = 'config_change' AND NOT own_use AND event_time >= :start AND event_time < :end
 ORDER BY event_time DESC, id DESC
 LIMIT :limit
"""
# Whether a switch is off now depends on its whole history, not on the period viewed. The
# database keeps what can matter: changes that may switch something off or on (the SQL
# function auditlens_may_switch: a superset of what `is_disabling` and `is_enabling` accept),
# and of each target only those from its newest change with an "on" verb onwards, unless the
# target is one of :whole_types/:whole_ids. The candidates' condition is the one of the index
# audit_events_org_switch_changes, so the walk reads that index alone; the details of the
# changes it keeps are read afterwards (`_ROWS_SQL`). Python judges them exactly
# (`never_reverted`), and asks again with the whole history of any target whose newest "on"
# change did not switch it on after all.
# The candidates, spelled as the index's predicate (or the planner cannot prove it applies).
_SWITCH_CANDIDATES = (
    "event_type = 'config_change' AND NOT own_use AND auditlens_may_switch(event_action, details)"
)
_STILL_OFF_SQL = f"""
SELECT id, event_time, switched_on_at IS NOT NULL AND NOT whole AS history_cut
  FROM (SELECT candidates.*,
               max(event_time) FILTER (WHERE verb = ANY(:on_verbs))
                 OVER (PARTITION BY target_type, target_id) AS switched_on_at,
               (target_type, target_id) IN (
                 SELECT * FROM unnest(CAST(:whole_types AS text[]), CAST(:whole_ids AS text[]))
               ) AS whole
          FROM (SELECT id, event_time,
                       coalesce(resource_type, '') AS target_type,
                       coalesce(resource_id, '') AS target_id,
                       split_part(replace(lower(event_action), '-', '_'), '_', 1) AS verb
                  FROM org_audit_events
                 WHERE {_SWITCH_CANDIDATES} AND event_time < :end
               ) candidates
       ) judged
 WHERE switched_on_at IS NULL OR event_time >= switched_on_at OR whole
 ORDER BY event_time DESC, id DESC
 LIMIT :limit
"""  # noqa: S608 - the constant predicate is all that is interpolated
# How many candidates the store holds and the newest one's time: what the judgement depends
# on, read from the candidates' index alone (a cache key that changes with any candidate,
# even one that arrives late with an old time).
_CANDIDATES_HELD_SQL = (
    f"SELECT count(*), max(event_time) FROM org_audit_events WHERE {_SWITCH_CANDIDATES}"  # noqa: S608
)
# The rows of the changes `_STILL_OFF_SQL` kept, by primary key.
_ROWS_SQL = """
SELECT id, event_time, user_id, user_email, event_action, resource_type, resource_id, details
  FROM org_audit_events
 WHERE (id, event_time) IN (
         SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:times AS timestamptz[])))
"""


def config_change_events(
    db: Database, org: str, start: datetime, end: datetime, limit: int = 2_000
) -> tuple[pd.DataFrame, bool]:
    """Config-change events of `org` in [start, end), newest first, at most `limit`.

    Returns the frame and whether the limit cut it short.
    """
    with db.org_session(org, may_lag=True) as session:
        result = session.execute(
            _CHANGES_SQL, {"start": start, "end": end, "limit": limit + 1}, max_rows=limit + 1
        )
    frame = pd.DataFrame.from_records(result.rows[:limit], columns=list(CHANGE_COLUMNS))
    return frame, len(result.rows) > limit


def still_switched_off(
    db: Database, org: str, end: datetime, limit: int = 50_000
) -> tuple[pd.DataFrame, bool]:
    """What `org` switched off before `end` and never switched back on (`never_reverted`'s
    rows), judged over its whole config history, newest first.

    The database returns at most `limit` candidate changes (the newest); returns the frame and
    whether the limit cut them short.
    """
    params: dict[str, Any] = {"end": end, "limit": limit + 1, "on_verbs": list(_ON_ACTIONS)}
    whole: list[tuple[str, str]] = []
    with db.org_session(org, snapshot=True, may_lag=True) as session:
        # The planner prices the window over every candidate high enough to JIT-compile it,
        # which costs more than the read.
        session.execute("SELECT set_config('jit', 'off', true)")
        while True:
            params["whole_types"] = [kind for kind, _ in whole]
            params["whole_ids"] = [ident for _, ident in whole]
            kept = session.execute(_STILL_OFF_SQL, params, max_rows=limit + 1).rows
            cut = len(kept) > limit
            kept = kept[:limit]
            frame = _with_rows(session, kept)
            still_off, switched_on = _walk_back(frame)
            history_cut = frame[frame["history_cut"]]
            unsure = {_target(r) for r in history_cut.to_dict("records")} - switched_on
            if cut or not unsure:
                return still_off, cut
            whole.extend(sorted(unsure))


def switch_changes_held(db: Database, org: str) -> tuple[int, datetime | None]:
    """(number, newest time) of `org`'s changes that may switch something (see
    `_CANDIDATES_HELD_SQL`)."""
    with db.org_session(org, may_lag=True) as session:
        count, newest = session.execute(_CANDIDATES_HELD_SQL, max_rows=1).rows[0]
    return int(count), newest


def _with_rows(session: ScopedSession, kept: list[Any]) -> pd.DataFrame:
    """The kept (id, event_time, history_cut) triples with their changes' rows."""
    columns = [*CHANGE_COLUMNS, "history_cut"]
    if not kept:
        return pd.DataFrame(columns=columns)
    params = {"ids": [row[0] for row in kept], "times": [row[1] for row in kept]}
    rows = session.execute(_ROWS_SQL, params, max_rows=len(kept)).rows
    by_key = {(row[0], row[1]): row for row in rows}
    return pd.DataFrame.from_records(
        [(*by_key[(change_id, when)], cut) for change_id, when, cut in kept], columns=columns
    )


def change_diff(details: Any) -> pd.DataFrame:
    """One change's fields with their whole before and after values (JSON for structures)."""
    triples = field_changes(as_details(details))
    return pd.DataFrame(
        [(_label(name), _show(old), _show(new)) for name, old, new in triples],
        columns=["field", "before", "after"],
    )


def field_changes(details: Mapping[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """The (field, before, after) triples a config-change event describes, in stable order."""
    if not isinstance(details, Mapping):
        return []
    changes = details.get("changes")
    triples: list[tuple[str, Any, Any]] = []
    if isinstance(changes, Mapping):
        for name, change in changes.items():
            if isinstance(change, Mapping) and _has_any(change, _OLD_KEYS + _NEW_KEYS):
                triples.append((str(name), _first(change, _OLD_KEYS), _first(change, _NEW_KEYS)))
            elif isinstance(change, list | tuple) and len(change) == 2:
                triples.append((str(name), change[0], change[1]))
            else:
                old = _values(details, "old").get(name)
                triples.append((str(name), old, change))
    elif isinstance(changes, list):
        for change in changes:
            if isinstance(change, Mapping):
                name = change.get("field") or change.get("name") or change.get("path") or "?"
                triples.append((str(name), _first(change, _OLD_KEYS), _first(change, _NEW_KEYS)))
    if triples:
        return triples
    old, new = _values(details, "old"), _values(details, "new")
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            triples.append((name, old.get(name), new.get(name)))
    return triples


def describe_changes(details: Mapping[str, Any] | None) -> str:
    """Human before/after text: "Threshold 100 -> 200; Enabled true -> false"."""
    parts = [
        f"{_label(name)} {_show(old)} -> {_show(new)}" for name, old, new in field_changes(details)
    ]
    return "; ".join(parts)


def is_disabling(action: str, details: Mapping[str, Any] | None) -> bool:
    """Whether this change switched something off (by its action or by a switch field)."""
    if _action_matches(action, _OFF_ACTIONS):
        return True
    return any(
        name in _SWITCH_FIELDS and _is_off(new) and not _is_off(old)
        for name, old, new in field_changes(details)
    )


def is_enabling(action: str, details: Mapping[str, Any] | None) -> bool:
    """Whether this change switched something (back) on."""
    if _action_matches(action, _ON_ACTIONS):
        return True
    return any(
        name in _SWITCH_FIELDS and _is_off(old) and new is not None and not _is_off(new)
        for name, old, new in field_changes(details)
    )


def change_history(events: pd.DataFrame) -> pd.DataFrame:
    """The events as a table: when, who, action, what (type:id), before -> after."""
    if events.empty:
        return pd.DataFrame(columns=["event_time", "who", "action", "target", "change", "id"])
    details = events["details"].map(as_details)
    return pd.DataFrame(
        {
            "event_time": events["event_time"],
            "who": events["user_email"].fillna(events["user_id"]),
            "action": events["event_action"],
            "target": events["resource_type"].fillna("") + ":" + events["resource_id"].fillna(""),
            "change": details.map(describe_changes),
            "id": events["id"],
        }
    )


def never_reverted(events: pd.DataFrame) -> pd.DataFrame:
    """Disabling changes with no later enabling change to the same resource, newest first.

    `events` must hold every config change from the earliest disabling one onwards, so a
    re-enable after the window still counts as a revert.
    """
    return _walk_back(events)[0]


_STILL_OFF_COLUMNS = ["event_time", "who", "action", "target", "change", "reason", "id"]


def _walk_back(events: pd.DataFrame) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """`never_reverted`'s rows, and the targets some change in `events` switched on."""
    switched_on: set[tuple[str, str]] = set()
    if events.empty:
        return pd.DataFrame(columns=_STILL_OFF_COLUMNS), switched_on
    newest_first = events.sort_values(["event_time", "id"], ascending=False, kind="stable")
    # Walking back in time, a target's enabling change reverts every older disabling one:
    # nothing older of that target needs judging.
    rows: list[dict[str, Any]] = []
    for row in newest_first[list(CHANGE_COLUMNS)].itertuples(index=False, name=None):
        change_id, when, user_id, user_email, action, resource_type, resource_id, raw = row
        target = _target({"resource_type": resource_type, "resource_id": resource_id})
        if target in switched_on:
            continue
        details = as_details(raw)
        action = _text(action)
        if is_disabling(action, details):
            rows.append(
                {
                    "event_time": when,
                    "who": _text(user_email) or _text(user_id),
                    "action": action,
                    "target": f"{target[0]}:{target[1]}",
                    "change": describe_changes(details),
                    "reason": str(details.get("reason") or ""),
                    "id": change_id,
                }
            )
        elif is_enabling(action, details):
            switched_on.add(target)
    return pd.DataFrame(rows, columns=_STILL_OFF_COLUMNS), switched_on


def _target(row: Mapping[Any, Any]) -> tuple[str, str]:
    return _text(row["resource_type"]), _text(row["resource_id"])


def _text(value: Any) -> str:
    """A text column's value, "" for SQL NULL (None, or NaN once pandas has read it)."""
    return "" if value is None or pd.isna(value) else str(value)


def as_details(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _values(details: Mapping[str, Any], which: str) -> dict[str, Any]:
    for key in (f"{which}_values", f"{which}Values", f"{which}_value", f"{which}Value"):
        value = details.get(key)
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
    return {}


def _has_any(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    return any(k in mapping for k in keys)


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def _label(name: str) -> str:
    """`retention_days` / `retentionDays` -> `Retention days`."""
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in name).replace("_", " ")
    spaced = " ".join(spaced.split())
    return spaced[:1].upper() + spaced[1:] if spaced else name


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _is_off(value: Any) -> bool:
    if isinstance(value, bool):
        return not value
    return value is not None and str(value).strip().lower() in _OFF_VALUES


def _action_matches(action: str, verbs: tuple[str, ...]) -> bool:
    words = (action or "").lower().replace("-", "_").split("_")
    return bool(words) and words[0] in verbs
