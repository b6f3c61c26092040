"""Every distinct-user count is a count of people by the one rule of sql/user_identity.py (the
user id, else the email, else one unknown person), equal to counting the raw events directly:
the Overview's users, the busiest resources' users, users per resource-day, the catalogue's
users and the access report agree on the same data, rolled up, past the watermark or late."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sql.event_store import insert_events
from sql.read_model import ReadModel
from sql.rollup.refresh import refresh
from sql.user_identity import has_user_id, identity_key
from tests.factories import event_row
from usecases.access_report import access_query, build_access_report
from usecases.resource_catalogue import resources_in_data

ORG, OTHER = "payments-co", "other-co"
DAY1 = datetime(2026, 11, 4, 12, tzinfo=UTC)
DAY2 = datetime(2026, 11, 6, 9, tzinfo=UTC)
# The reads' ranges: whole days, and edges inside a day (read from raw events).
RANGES = [
    (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    (datetime(2026, 11, 4, 11, 30, tzinfo=UTC), datetime(2026, 11, 6, 9, 30, tzinfo=UTC)),
]


def _row(org: str = ORG, **fields: Any) -> dict[str, Any]:
    return {
        "organization_id": org,
        "event_time": DAY1,
        "resource_type": "source",
        "resource_id": "customer-data",
        **fields,
    }


FIRST = [
    _row(id="1", user_id="ann", user_email="ann@x.com"),
    _row(id="2", user_id="ann ", user_email="ann@x.com"),
    _row(id="3", user_id=None, user_email="bob@x.com", event_action="export"),
    _row(id="4", user_id="", user_email="bob@x.com", event_time=DAY2),
    _row(id="5", user_id=" \t", user_email="carol@x.com"),
    _row(id="6", user_id="", user_email="carol@x.com", resource_id="auth-logs"),
    _row(id="7", user_id=None, user_email=None),
    _row(id="8", user_id="", user_email="  "),
    _row(id="9", user_id="\u3000", user_email=None, resource_id="auth-logs"),
    _row(id="10", user_id="bob@x.com", user_email="bob@x.com"),
    _row(id="11", user_id=None, user_email="ann", resource_id="auth-logs"),
    _row(id="12", user_id=None, user_email="carol@x.com", event_time=DAY2, resource_type=None),
    # Another organisation: the same shapes, never in payments-co's counts.
    _row(org=OTHER, id="o1", user_id=None, user_email="mallory@x.com"),
    _row(org=OTHER, id="o2", user_id="", user_email="bob@x.com"),
    _row(org=OTHER, id="o3", user_id="ann", user_email=None),
]
# Arrive after the refresh: a new person without an id, a late event (an old day) of one
# already rolled up, and an id that only this batch has.
LATER = [
    _row(id="20", user_id=None, user_email="dave@x.com", event_time=DAY2 + timedelta(hours=1)),
    _row(id="21", user_id="", user_email="bob@x.com", event_time=DAY1 - timedelta(days=2)),
    _row(id="22", user_id="zed", user_email=None, event_time=DAY1 + timedelta(minutes=5)),
    _row(id="23", user_id=" ", user_email=None, event_time=DAY2, resource_id="auth-logs"),
]


def _insert(db, rows: list[dict[str, Any]]) -> None:
    with db.writer() as w:
        insert_events(w, [event_row(**r) for r in rows])


def _in(r: dict[str, Any], org: str, t0: datetime, t1: datetime) -> bool:
    return r["organization_id"] == org and t0 <= r.get("event_time", DAY1) < t1


def _people(rows: list[dict[str, Any]]) -> int:
    return len({identity_key(r["user_id"], r["user_email"]) for r in rows})


def _expected(rows: list[dict[str, Any]], org: str, t0: datetime, t1: datetime) -> dict[str, Any]:
    sel = [r for r in rows if _in(r, org, t0, t1)]
    resources: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    days: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in sel:
        resources.setdefault((r["resource_type"], r["resource_id"]), []).append(r)
        day = r["event_time"].date()
        days.setdefault((day, r["resource_type"], r["resource_id"]), []).append(r)
    return {
        "users": _people(sel),
        "resources": {k: _people(v) for k, v in resources.items()},
        "days": {k: _people(v) for k, v in days.items()},
    }


def _check(db, rows: list[dict[str, Any]]) -> None:
    model = ReadModel(db)
    for org in (ORG, OTHER):
        for t0, t1 in RANGES:
            want = _expected(rows, org, t0, t1)
            assert model.totals(org, t0, t1)["users"] == want["users"], (org, t0)
            top = model.top_resources(org, t0, t1, n=50)
            got = {
                (None if t is None or t != t else t, rid): int(n)
                for t, rid, n in zip(
                    top["resource_type"], top["resource_id"], top["distinct_users"], strict=True
                )
            }
            assert got == want["resources"], (org, t0)
        first, last = date(2026, 11, 1), date(2026, 11, 30)
        per_day = model.resource_day_access(org, first, last)
        got_days = {
            (d, None if t is None or t != t else t, rid): int(n)
            for d, t, rid, n in zip(
                per_day["day"],
                per_day["resource_type"],
                per_day["resource_id"],
                per_day["distinct_users"],
                strict=True,
            )
        }
        whole = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
        assert got_days == _expected(rows, org, *whole)["days"], org
        # The access report, the catalogue and the busiest resources say the same number.
        report = build_access_report(
            db, org, access_query("customer-data", "source", first, last), generated_by="t"
        )
        people = _expected(rows, org, *whole)["resources"][("source", "customer-data")]
        assert report.summary["users"] == people, org
        catalogue = resources_in_data(db, org, *whole).set_index("resource_id")
        assert int(catalogue.loc["customer-data", "users"]) == people, org


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rolled-up"])
def test_distinct_users_count_people_rolled_up_late_or_raw(db, rolled_up):
    _insert(db, FIRST)
    if rolled_up:
        refresh(db)
    _check(db, FIRST)
    # The example of the access report's page: six people, not five.
    model = ReadModel(db)
    top = model.top_resources(ORG, *RANGES[0], n=5).set_index(["resource_type", "resource_id"])
    assert int(top.loc[("source", "customer-data"), "distinct_users"]) == 6
    _insert(db, LATER)
    _check(db, FIRST + LATER)
    refresh(db)
    _check(db, FIRST + LATER)


def test_a_rebuild_counts_the_same_people(db):
    _insert(db, FIRST)
    refresh(db)
    _insert(db, LATER)
    refresh(db, rebuild=True)
    _check(db, FIRST + LATER)


def test_the_database_and_python_agree_on_what_is_blank(db):
    # Every character Python's str.strip() removes, and lookalikes it keeps.
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    kept = ["\u200b", "\ufeff", "\u00ad", "\u2060", "_", "a", "\x00a"[1:], "\u180e"]
    values = [None, "", *spaces, "".join(spaces), *kept, " a ", "\u3000x"]
    with db.admin() as session:
        got = session.execute(
            "SELECT auditlens_has_text(v) FROM unnest(CAST(:v AS text[])) WITH ORDINALITY"
            " AS t(v, i) ORDER BY i",
            {"v": values},
        ).rows
    assert [bool(g) for (g,) in got] == [has_user_id(v) for v in values]
