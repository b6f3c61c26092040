"""Quality floors in EVERY world (simulator.worlds), the held-out one included: each of the
request's five scenario types found at high or critical (recall >= 0.9), at most 5% of
ordinary users with a high or critical finding over the window, and planted users filling
at least 6 of the top 8 scored users. Floors, not exact numbers (the worlds are seeded)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.scenarios import REQUEST_SCENARIOS
from simulator.world_evaluation import TOP_USERS, WorldReport, evaluate_world
from simulator.worlds import WORLDS
from sql.gateway import Database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evaluated(
    world_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], WorldReport]:
    """Each world simulated, detected and measured once per module, whatever order its
    tests run in (a parametrised module fixture is rebuilt when the order interleaves)."""
    labels = Path(tmp_path_factory.mktemp("worlds"))

    @functools.cache
    def report(name: str) -> WorldReport:
        return evaluate_world(world_db, WORLDS[name], labels_dir=labels)

    return report


# A group per world: each is built once, by whichever xdist worker runs its tests, and
# different worlds are built in parallel.
WORLD_PARAMS = [
    pytest.param(world, marks=pytest.mark.xdist_group(f"world {world}")) for world in sorted(WORLDS)
]


@pytest.fixture(params=WORLD_PARAMS)
def report(request: pytest.FixtureRequest, evaluated: Callable[[str], WorldReport]) -> WorldReport:
    return evaluated(request.param)


def test_the_requests_five_are_found_at_high_or_critical(report):
    recall = report.recall.set_index("scenario")
    for scenario in REQUEST_SCENARIOS:
        assert recall.loc[scenario, "recall"] >= 0.9, (report.world, scenario, report.recall)


def test_at_most_5_percent_of_ordinary_users_get_a_high_or_critical_finding(report):
    assert report.ordinary_alerted_share <= 0.05, (report.summary(), report.noise)


def test_planted_users_fill_most_of_the_top_8(report):
    assert report.planted_in_top >= 6, report.summary()
    assert TOP_USERS == 8
