"""Differently shaped worlds: their own resource ids, people, zones and declared sensitive
resources, with the request's five scenarios planted; the default organisation unchanged."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from simulator.engine import Simulation
from simulator.scenarios import REQUEST_SCENARIOS
from simulator.sources import SOURCES
from simulator.worlds import ID_CONVENTIONS, TUNING_WORLDS, WORLDS


def _events(sim: Simulation) -> list[dict]:
    return [orjson.loads(line) for chunk in sim.chunks() for line in chunk]


def test_each_convention_names_every_source_once_and_differently():
    names = [s.name for s in SOURCES]
    styles = {style: [convert(n) for n in names] for style, convert in ID_CONVENTIONS.items()}
    for style, ids in styles.items():
        assert len(set(ids)) == len(ids), style
    assert styles["kebab"][names.index("payment-logs")] == "payment-logs"
    assert styles["pascal"][names.index("payment-logs")] == "PaymentLogs"
    assert styles["coded"][names.index("payment-logs")] == "src_pay_09"
    firsts = {ids[0] for ids in styles.values()}
    assert len(firsts) == len(styles)


def test_worlds_differ_in_shape_and_holdout_is_not_a_tuning_world():
    assert set(TUNING_WORLDS) | {"holdout"} == set(WORLDS) and "holdout" not in TUNING_WORLDS
    assert len({w.ids for w in WORLDS.values()}) == len(WORLDS)
    sizes = sorted(w.users for w in WORLDS.values())
    assert sizes[0] <= 20 and sizes[-1] >= 400
    for world in WORLDS.values():
        assert all(world.scenarios.get(name, 0) >= 1 for name in REQUEST_SCENARIOS), world.name


@pytest.fixture(scope="module")
def startup() -> tuple[Simulation, list[dict]]:
    sim = Simulation(WORLDS["startup"].config())
    return sim, _events(sim)


def test_a_world_uses_its_own_ids_and_declares_what_of_them_is_sensitive(startup):
    sim, events = startup
    world = WORLDS["startup"]
    sources = {
        e["resource_id"]
        for e in events
        if e["resource_type"] == "source" and e["event_type"] == "log_access"
    }
    assert sources <= set(world.resource_ids().values())
    assert not any(s.startswith("source_") for s in sources)
    assert world.sensitive_resource_ids == {"PaymentLogs", "CustomerData", "HrEvents"}
    assert world.sensitive_resource_ids & sources
    listed = {s["resource_id"] for s in sim.labels_document()["sources"]}
    assert listed == set(world.resource_ids().values())


def test_a_world_plants_the_requests_five_and_spreads_its_people_over_zones(startup):
    sim, _ = startup
    document = sim.labels_document()
    planted = Counter(s["scenario"] for s in document["scenarios"])
    assert all(planted[name] >= 1 for name in REQUEST_SCENARIOS)
    zones = {p["time_zone"] for p in document["roster"]}
    assert len(zones) >= 5
    assert "service" in {p["role"] for p in document["roster"]}


def test_shift_workers_service_accounts_and_daily_exporters_work_as_their_job():
    sim = Simulation(WORLDS["payments"].config(users=60))
    events = _events(sim)
    roles = {p["user_id"]: p["role"] for p in sim.labels_document()["roster"]}
    exports = Counter(
        (e["user_id"], e["timestamp"][:10]) for e in events if e["event_action"] == "export"
    )
    finance_days = Counter(user for user, _ in exports if roles.get(user) == "finance_ops")
    assert finance_days and max(finance_days.values()) >= 20  # exports on most working days
    service_hours = {
        int(e["timestamp"][11:13]) for e in events if roles.get(e["user_id"]) == "service"
    }
    assert len(service_hours) >= 20  # around the clock
    night = [e for e in events if roles.get(e["user_id"]) == "night_support"]
    assert night
