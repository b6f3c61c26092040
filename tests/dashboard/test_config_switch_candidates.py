"""What may switch something off or on, as the database sees it (auditlens_may_switch, the
condition of the index the still-off walk reads): a superset of what Python judges a switch,
and the walk reads that index alone."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import psycopg

from dashboard import config_changes
from dashboard.config_changes import (
    config_change_events,
    is_disabling,
    is_enabling,
    never_reverted,
    still_switched_off,
)
from sql.event_store import insert_events
from tests.factories import event_row

NOW = datetime.now(UTC)
EVER = datetime(2000, 1, 1, tzinfo=UTC)


def _spellings(verb: str) -> list[str]:
    return [verb, f"{verb}_alert", f"{verb.upper()}-Source", f"{verb.title()}_api_key"]


def _shapes(field: str, old: object, new: object) -> list[dict[str, object]]:
    """Every shape of `details` producers describe one field's change in."""
    return [
        {"changes": {field: {"old": old, "new": new}}},
        {"changes": {field: {"from": old, "to": new}}},
        {"changes": {field: {"oldValue": old, "newValue": new}}},
        {"changes": {field: [old, new]}},
        {"changes": [{"field": field, "before": old, "after": new}]},
        {"changes": {field: new}, "old_values": {field: old}},
        {"old_values": {field: old}, "new_values": {field: new}},
        {"oldValues": {field: old}, "newValues": {field: new}},
    ]


def _cases() -> list[tuple[str, str]]:
    """(action, details as JSON text) pairs, switches and not, hostile spellings included."""
    actions = [spelling for verb in config_changes._OFF_ACTIONS for spelling in _spellings(verb)]
    actions += [spelling for verb in config_changes._ON_ACTIONS for spelling in _spellings(verb)]
    # Python lowers the Kelvin sign to "k"; PostgreSQL may not.
    actions += ["revo\u212ae_key", "REVO\u212aE", "update_alert", "disabled", "", "enabler"]
    cases = [(action, "{}") for action in actions]
    off_values: list[object] = [False, 0, "0", *sorted(config_changes._OFF_VALUES)]
    off_values += [" OFF ", "\tInactive\n", "Disabled", "NO"]
    on_values: list[object] = [True, 1, "yes", "on", "active", "enabled", 50]
    fields = [*config_changes._SWITCH_FIELDS, "Enabled", "threshold", "name"]
    for field, off, on in itertools.product(fields, off_values, on_values):
        for old, new in ((on, off), (off, on), (None, off), (off, None)):
            cases += [("update_alert", json.dumps(d)) for d in _shapes(field, old, new)]
    # Escapes and other text inside the JSON.
    cases.append(("update_alert", json.dumps({"changes": {"state": ["on", "\toff\u2028"]}})))
    cases.append(("update_alert", json.dumps({"changes": {"threshold": [50, 0]}})))
    return cases


def test_every_change_python_judges_a_switch_is_a_candidate(db):
    cases = _cases()
    with db.admin() as session:
        verdicts = session.execute(
            "SELECT auditlens_may_switch(action, CAST(details AS jsonb)) FROM unnest("
            "CAST(:actions AS text[]), CAST(:details AS text[])) AS c(action, details)",
            {"actions": [a for a, _ in cases], "details": [d for _, d in cases]},
            max_rows=len(cases),
        ).rows
    assert len(verdicts) == len(cases)
    switches = 0
    for (action, details), (candidate,) in zip(cases, verdicts, strict=True):
        parsed = json.loads(details)
        if is_disabling(action, parsed) or is_enabling(action, parsed):
            switches += 1
            assert candidate, (action, details)
    # Both kinds were tried, and the condition narrows: edits that cannot switch are left out.
    assert switches > 1_000
    assert sum(1 for (c,) in verdicts if not c) > 100


def _plan_lines(session, sql: str, params: dict[str, object]) -> list[str]:
    return [row[0] for row in session.execute(f"EXPLAIN {sql}", params, max_rows=1_000).rows]


# The candidates index and its copy on every partition (plain PostgreSQL) or chunk
# (TimescaleDB), by the names the server gave them: plans name the copies they scan.
_CANDIDATE_INDEXES = """
WITH RECURSIVE tree(rel) AS (
  SELECT 'audit_events'::regclass::oid
  UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.rel
)
SELECT c.relname FROM pg_index x JOIN tree ON x.indrelid = tree.rel
  JOIN pg_class c ON c.oid = x.indexrelid
 WHERE pg_get_indexdef(x.indexrelid) LIKE '%auditlens_may_switch%'
"""


def test_the_still_off_walk_reads_the_candidates_index_alone(db, fresh_database, capabilities):
    t = NOW - timedelta(days=20)
    rows = []
    for i in range(300):
        when = t + timedelta(minutes=i)
        rows.append(
            event_row(
                event_type="config_change",
                event_action=("disable_alert", "enable_alert", "update_alert")[i % 3],
                event_time=when,
                resource_type="alert_rule",
                resource_id=f"alert_{i % 40}",
                details={"changes": {"threshold": [i, i + 1]}},
            )
        )
        rows.append(event_row(event_time=when))
    with db.writer() as session:
        insert_events(session, rows)
    # As autovacuum leaves an insert-only table: every page visible, statistics current.
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) audit_events")
    params = {
        "end": NOW,
        "limit": 50_001,
        "on_verbs": list(config_changes._ON_ACTIONS),
        "whole_types": [],
        "whole_ids": [],
    }
    with db.admin() as session:
        names = {row[0] for row in session.execute(_CANDIDATE_INDEXES).rows}
    assert "audit_events_org_switch_changes" in names, names
    with db.org_session("org_a") as session:
        # Sequential and bitmap scans cost less on a table this small; at scale they read
        # every config change's row, which is what the index is there to avoid.
        session.execute("SELECT set_config('enable_seqscan', 'off', true)")
        session.execute("SELECT set_config('enable_bitmapscan', 'off', true)")
        plan = _plan_lines(session, config_changes._STILL_OFF_SQL, params)
    scans = [line.strip().removeprefix("->").strip() for line in plan if " Scan " in line]
    relation_scans = [
        scan
        for scan in scans
        if not scan.startswith(("Function Scan", "Subquery Scan", "Custom Scan", "CTE Scan"))
    ]
    assert relation_scans, plan
    # With the Timescale license readers see events through a security-barrier view (no
    # row-level security there), which keeps a condition on a function that is not LEAKPROOF
    # out of the scan below it: the partial index cannot be proven to apply, and the walk
    # reads the config changes' rows as before. The answer is checked on every flavour below.
    index_usable = not capabilities.compression
    for scan in relation_scans if index_usable else []:
        assert scan.startswith("Index Only Scan using "), plan
        assert scan.split()[4] in names, plan
    # The answer is still the one over every config change.
    every_change, _ = config_change_events(db, "org_a", EVER, NOW, limit=10_000)
    still_off, cut = still_switched_off(db, "org_a", NOW)
    assert not cut
    assert len(still_off) > 0
    assert still_off.equals(never_reverted(every_change))


def test_rows_are_matched_by_id_and_time_when_an_id_recurs(db):
    # Producers' ids need only be unique per time: two changes share one here, and a third
    # organisation's change shares it too.
    t = NOW - timedelta(days=3)
    hour = timedelta(hours=1)
    rows = [
        event_row(
            id="dup",
            event_type="config_change",
            event_action="disable_alert",
            event_time=t,
            resource_type="alert_rule",
            resource_id="a",
            details={"reason": "first"},
        ),
        event_row(
            id="dup",
            event_type="config_change",
            event_action="Pause-Source",
            event_time=t + hour,
            resource_type="source",
            resource_id="b",
            details={"reason": "second"},
        ),
        event_row(
            id="dup",
            organization_id="org_b",
            event_type="config_change",
            event_action="disable_alert",
            event_time=t + 2 * hour,
            resource_type="alert_rule",
            resource_id="c",
        ),
    ]
    with db.writer() as session:
        insert_events(session, rows)
    still_off, _ = still_switched_off(db, "org_a", NOW)
    assert list(still_off["target"]) == ["source:b", "alert_rule:a"]
    assert list(still_off["reason"]) == ["second", "first"]
    every_change, _ = config_change_events(db, "org_a", EVER, NOW, limit=10_000)
    assert still_off.equals(never_reverted(every_change))
