"""The narrow reads of the Users page and the Overview equal the read model's contract
(`user_day_features`, `top_resources`) on the same data, whether events are rolled up or
still past the watermark, and stay inside one organisation."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from dashboard import user_queries
from sql.event_store import insert_events
from sql.read_model import ReadModel
from tests.factories import event_row

FIRST = date(2025, 3, 1)
LAST = date(2025, 3, 10)
USERS = ["u_a", "u_b", "u_c"]
ACTIONS = [
    ("log_access", "search"),
    ("log_access", "view_logs"),
    ("log_access", "download"),
    ("data_modification", "export"),
    ("config_change", "update_alert"),
    ("user_management", "invite_user"),
    ("login", "login"),
]


def _rows(seed: int, n: int, org: str = "org_a") -> list:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        family, action = rng.choice(ACTIONS)
        when = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(10 * 24 * 60))
        rows.append(
            event_row(
                organization_id=org,
                event_time=when,
                user_id=rng.choice(USERS),
                event_type=family,
                event_action=action,
                resource_type="source",
                resource_id=f"src_{rng.randrange(4)}",
                ip_address=f"10.0.0.{rng.randrange(3)}",
                details={"records": rng.randrange(2000), "results_count": rng.randrange(90)},
            )
        )
    return rows


@pytest.fixture
def half_rolled_up(dashboard_db):
    """Events of org_a, half rolled up and half past the watermark; noise in org_b."""
    with dashboard_db.writer() as s:
        insert_events(s, _rows(1, 300))
        insert_events(s, _rows(9, 200, org="org_b"))
    ReadModel(dashboard_db).refresh()
    with dashboard_db.writer() as s:
        insert_events(s, _rows(2, 150))
    return dashboard_db


def _expected(db) -> pd.DataFrame:
    return ReadModel(db).user_day_features("org_a", FIRST, LAST)


def test_one_users_days_equal_the_read_models(half_rolled_up):
    expected = _expected(half_rolled_up)
    for user in USERS:
        got = user_queries.user_days(half_rolled_up, "org_a", user, FIRST, LAST)
        want = expected[expected["user_id"] == user][list(user_queries.BASELINE_COLUMNS)]
        assert len(got) > 0
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
        )


def test_daily_events_equal_the_read_models(half_rolled_up):
    expected = _expected(half_rolled_up)
    got = user_queries.daily_events(half_rolled_up, "org_a", FIRST, LAST, ["u_a", "u_c"])
    want = expected[expected["user_id"].isin(["u_a", "u_c"])][["day", "user_id", "events"]]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )
    assert got["events"].sum() > 0


def test_another_organisations_users_are_not_there(half_rolled_up):
    # org_b has users with the same ids: its answer is its own, never org_a's.
    theirs = ReadModel(half_rolled_up).user_day_features("org_b", FIRST, LAST)
    got = user_queries.user_days(half_rolled_up, "org_b", "u_a", FIRST, LAST)
    assert got["events"].sum() == theirs[theirs["user_id"] == "u_a"]["events"].sum() > 0
    ours = user_queries.user_days(half_rolled_up, "org_a", "u_a", FIRST, LAST)
    assert got["events"].sum() != ours["events"].sum()
    # org_c has no events at all: nothing of org_a's users leaks into it.
    assert user_queries.user_days(half_rolled_up, "org_c", "u_a", FIRST, LAST).empty
    assert user_queries.daily_events(half_rolled_up, "org_c", FIRST, LAST, USERS).empty


def test_ranges_are_bounded(half_rolled_up):
    with pytest.raises(ValueError, match="at most"):
        user_queries.user_days(half_rolled_up, "org_a", "u_a", FIRST, FIRST + timedelta(days=500))
    with pytest.raises(ValueError, match="before"):
        user_queries.daily_events(half_rolled_up, "org_a", LAST, FIRST, USERS)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC)),  # whole days
        (datetime(2025, 3, 2, 7, 30, tzinfo=UTC), datetime(2025, 3, 9, 13, tzinfo=UTC)),
        (datetime(2025, 3, 4, 1, tzinfo=UTC), datetime(2025, 3, 4, 2, tzinfo=UTC)),  # one hour
    ],
)
def test_busiest_resources_equal_the_read_models(half_rolled_up, start, end):
    from dashboard import resource_queries

    want = ReadModel(half_rolled_up).top_resources("org_a", start, end, n=3)
    got = resource_queries.busiest_resources(half_rolled_up, "org_a", start, end, n=3)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        want[["resource_type", "resource_id", "events"]].reset_index(drop=True),
        check_dtype=False,
    )
    assert resource_queries.busiest_resources(half_rolled_up, "org_c", start, end).empty


def test_daily_events_read_no_per_resource_or_per_ip_rollups(half_rolled_up, monkeypatch):
    # The matrix shows events only; distinct counts over those rollups cost most of the read.
    from sql.gateway import ScopedSession

    statements: list[str] = []
    execute = ScopedSession.execute

    def spy(self, sql, *args, **kwargs):
        statements.append(str(sql))
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(ScopedSession, "execute", spy)
    user_queries._daily_events.clear()
    got = user_queries.daily_events(half_rolled_up, "org_a", FIRST, LAST, USERS)
    assert got["events"].sum() > 0 and statements
    read = " ".join(statements)
    assert "org_rollup_user_day_resources" not in read
    assert "org_rollup_user_day_ips" not in read
