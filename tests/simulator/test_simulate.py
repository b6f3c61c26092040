"""The simulator's output: deterministic, wire format, every family and action, benign
oddities unlabelled, scenario counts honoured."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from ingest.model import WIRE_FIELDS, EventRejected, validate_event
from simulator import (
    SCENARIOS,
    SOURCE_TAGS,
    Simulation,
    SimulationConfig,
    parse_counts,
    write_jsonl,
)
from simulator.sources import SENSITIVE_SOURCE_IDS
from tests.simulator.fixtures import SMALL, Output, simulate_to

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def sim_output(tmp_path_factory: pytest.TempPathFactory) -> Output:
    return simulate_to(tmp_path_factory.mktemp("sim"))


def test_same_seed_gives_the_same_bytes(sim_output: Output, tmp_path: Path) -> None:
    again = simulate_to(tmp_path)
    assert again.raw == sim_output.raw
    assert again.labels == sim_output.labels
    other = simulate_to(tmp_path, replace(SMALL, seed=8, days=10))
    shorter = simulate_to(tmp_path, replace(SMALL, days=10))
    assert other.raw != shorter.raw


def test_rendering_in_a_second_process_writes_the_same_bytes(
    sim_output: Output, tmp_path: Path
) -> None:
    """The file writer renders in a forked child by default; labels (applied from the
    child's report) and events must be what the single-process path writes."""
    for parallel in (False, True):
        folder = tmp_path / str(parallel)
        folder.mkdir()
        sim = Simulation(SMALL)
        write_jsonl(sim, folder / "events.jsonl", parallel=parallel)
        assert (folder / "events.jsonl").read_bytes() == sim_output.raw, parallel
        assert orjson.loads((folder / "events.labels.json").read_bytes()) == sim_output.labels
        assert sim.events == len(sim_output.events)
        assert sum(len(label.event_ids) for label in sim.labels) > 0


def test_a_failing_render_process_is_reported(tmp_path: Path) -> None:
    sim = Simulation(replace(SMALL, days=3))
    # The child cannot open its output: the parent raises instead of hanging or passing.
    with pytest.raises(RuntimeError, match="render process failed"):
        write_jsonl(sim, tmp_path / "missing" / "events.jsonl", parallel=True)


def test_events_are_wire_format_in_time_order(sim_output: Output) -> None:
    events = sim_output.events
    assert len(events) > 10_000
    assert all(tuple(e) == WIRE_FIELDS for e in events)
    assert len(sim_output.by_id) == len(events), "ids are unique"
    stamps = [e["timestamp"] for e in events]
    assert all(ISO_Z.match(t) for t in stamps)
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2024-11-18T00:00:00.000Z" and stamps[-1] < "2025-01-02T00:00:00.000Z"
    assert {e["organization_id"] for e in events} == {"org_sim"}
    assert all(isinstance(e["details"], dict) for e in events)
    assert all(e["user_email"].endswith("@company.com") for e in events)


def test_every_event_passes_ingest_validation(sim_output: Output) -> None:
    rejects: list[str] = []
    for line_no, event in enumerate(sim_output.events, 1):
        try:
            checked = validate_event(event)
        except EventRejected as exc:
            rejects.append(f"line {line_no}: {exc}")
            continue
        assert checked.to_wire()["id"] == event["id"]
    assert rejects == []


def test_every_family_and_the_requests_actions_appear(sim_output: Output) -> None:
    seen = Counter((e["event_type"], e["event_action"]) for e in sim_output.events)
    families = {family for family, _ in seen}
    assert families == {
        "log_access",
        "config_change",
        "user_management",
        "data_modification",
        "login",
        "api_call",
    }
    expected = {
        "log_access": {"search", "view_logs", "view_entry", "download", "api_access"},
        "config_change": {
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
        },
        "user_management": {
            "invite_user",
            "change_role",
            "delete_account",
            "create_api_key",
            "revoke_api_key",
        },
        "data_modification": {"export", "delete_logs", "retention_purge", "export_audit_logs"},
        "login": {"login", "logout", "login_failed"},
        "api_call": {"GET", "POST"},
    }
    for family, actions in expected.items():
        assert actions <= {a for f, a in seen if f == family}, family
    # Log access dominates, as in a real log platform.
    assert sum(n for (f, _), n in seen.items() if f == "log_access") > 0.6 * len(sim_output.events)


def test_details_follow_the_request(sim_output: Output) -> None:
    for e in sim_output.events:
        d, action = e["details"], e["event_action"]
        if action == "search":
            assert isinstance(d["query"], str) and d["query"]
            assert isinstance(d["results_count"], int)
            start, end = (datetime.fromisoformat(d["time_range"][k]) for k in ("start", "end"))
            assert start < end <= datetime.fromisoformat(e["timestamp"])
        elif action in ("export", "download"):
            assert d["record_count"] > 0 and d["format"] in ("csv", "json")
        elif e["event_type"] == "config_change" and action not in ("disable_alert",):
            assert {"changes", "old_values", "new_values"} <= set(d)
        elif e["event_type"] == "api_call":
            assert d["method"] == action and d["path"] == e["resource_id"]
    audit_use = [e for e in sim_output.events if e["resource_type"] == "audit_log"]
    assert {e["event_action"] for e in audit_use} >= {"search", "view_logs", "export_audit_logs"}


def test_people_have_habits(sim_output: Output) -> None:
    roster = {u["user_id"]: u for u in sim_output.labels["roster"]}
    assert len(roster) == SMALL.users
    assert {u["role"] for u in roster.values()} == {
        "sre",
        "developer",
        "support",
        "security",
        "compliance",
        "admin",
        "contractor",
    }
    by_role: dict[str, Counter[str]] = {}
    for e in sim_output.events:
        if e["event_type"] == "log_access" and e["resource_type"] == "source":
            by_role.setdefault(roster[e["user_id"]]["role"], Counter())[e["resource_id"]] += 1
    top = {role: c.most_common(1)[0][0] for role, c in by_role.items()}
    assert top["support"] == "source_customer_data"
    assert top["contractor"] in ("source_staging_logs", "source_app_logs")
    assert top["compliance"] in ("source_payment_logs", "source_billing_events")
    # Several addresses and user agents per person, sessions with several actions each.
    ips = Counter(
        len({e["ip_address"] for e in sim_output.events if e["user_id"] == uid}) for uid in roster
    )
    assert sum(n for k, n in ips.items() if k >= 2) >= SMALL.users // 2
    sessions = Counter(e["session_id"] for e in sim_output.events if e["session_id"])
    assert sum(sessions.values()) / len(sessions) > 4
    # Working hours in the person's own zone: most human activity between 7:00 and 20:00.
    from zoneinfo import ZoneInfo

    human = [e for e in sim_output.events if e["event_type"] == "log_access"]
    daytime = sum(
        7
        <= datetime.fromisoformat(e["timestamp"])
        .astimezone(ZoneInfo(roster[e["user_id"]]["time_zone"]))
        .hour
        < 20
        for e in human
    )
    assert daytime > 0.9 * len(human)


def test_source_tags_are_data() -> None:
    assert "restricted" in SOURCE_TAGS["source_payment_logs"]
    assert {"pii", "sensitive"} <= SOURCE_TAGS["source_customer_data"]
    assert "hr" in SOURCE_TAGS["source_hr_events"]
    assert "sensitive" not in SOURCE_TAGS["source_staging_logs"]
    assert {"source_auth_logs", "source_production_api"} <= SENSITIVE_SOURCE_IDS


def test_benign_oddities_are_present_and_carry_no_labels(sim_output: Output) -> None:
    benign = sim_output.labels["benign"]
    kinds = Counter(b["kind"] for b in benign)
    assert set(kinds) == {"on_call_night", "incident_day", "quarter_end", "new_hire", "travel"}
    labelled = {i for s in sim_output.labels["scenarios"] for i in s["event_ids"]}
    for b in benign:
        inside = [
            e
            for e in sim_output.events
            if e["user_id"] == b["user_id"] and b["start"] <= e["timestamp"] <= b["end"]
        ]
        assert inside, f"{b['kind']} of {b['user_email']} has events"
        assert not labelled & {e["id"] for e in inside}, b
    # The oddities are visible: on-call nights are at night, incidents are crowded.
    roster = {u["user_id"]: u for u in sim_output.labels["roster"]}
    from zoneinfo import ZoneInfo

    for b in benign:
        if b["kind"] == "on_call_night":
            local = datetime.fromisoformat(b["start"]).astimezone(
                ZoneInfo(roster[b["user_id"]]["time_zone"])
            )
            assert 0 <= local.hour < 5
    assert kinds["incident_day"] >= 5


def test_new_hire_is_invited_then_ramps_up(sim_output: Output) -> None:
    hire = next(b for b in sim_output.labels["benign"] if b["kind"] == "new_hire")
    events = [e for e in sim_output.events if e["user_id"] == hire["user_id"]]
    invite = [
        e
        for e in sim_output.events
        if e["event_action"] == "invite_user" and e["resource_id"] == hire["user_id"]
    ]
    assert len(invite) == 1 and invite[0]["timestamp"] <= events[0]["timestamp"]
    assert events[0]["timestamp"][:10] >= hire["start"][:10]


def test_scenario_counts_can_be_chosen(tmp_path: Path) -> None:
    config = replace(SMALL, days=20, users=20, scenarios={"large_export": 3, "night_export": 1})
    out = simulate_to(tmp_path, config)
    assert Counter(s["scenario"] for s in out.labels["scenarios"]) == {
        "large_export": 3,
        "night_export": 1,
    }
    none = simulate_to(tmp_path, replace(config, scenarios=parse_counts("none")))
    assert none.labels["scenarios"] == []
    assert not any(
        e["details"].get("record_count", 0) > 10_000 and e["event_action"] == "export"
        for e in none.events
    )


def test_parse_counts() -> None:
    assert parse_counts("none") == {}
    assert parse_counts("all") == dict.fromkeys(SCENARIOS, 1)
    assert parse_counts("all,dormant_account=0,large_export=2")["large_export"] == 2
    assert parse_counts("night_export")["night_export"] == 1
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        parse_counts("nope=1")
    with pytest.raises(ValueError, match="not a number"):
        parse_counts("large_export=many")


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="users"):
        Simulation(SimulationConfig("org_x", users=0, days=3))
    with pytest.raises(ValueError, match="unknown scenario"):
        Simulation(SimulationConfig("org_x", users=3, days=3, scenarios={"bogus": 1}))


def test_tiny_organisations_still_work(tmp_path: Path) -> None:
    out = simulate_to(
        tmp_path, SimulationConfig("org_t", users=2, days=3, seed=1, start=SMALL.start)
    )
    assert out.events
    ids = set(out.by_id)
    for s in out.labels["scenarios"]:
        assert set(s["event_ids"]) <= ids


def test_labels_file_documents_the_run(sim_output: Output) -> None:
    doc = sim_output.labels
    assert doc["format"] == "auditlens-simulation-labels/1"
    assert (doc["organization_id"], doc["seed"], doc["days"]) == ("org_sim", 7, 45)
    assert doc["events"] == len(sim_output.events)
    assert {s["resource_id"] for s in doc["sources"]} == set(SOURCE_TAGS)
    assert orjson.loads(orjson.dumps(doc)) == doc
    start = datetime(2024, 11, 18, tzinfo=UTC)
    for s in doc["scenarios"]:
        assert datetime.fromisoformat(s["start"]) >= start
