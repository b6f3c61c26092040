"""`ReadModel.event_count` equals a direct count of raw events, on the randomised data (late
events, duplicates, events past the watermark, several organisations, users without an id or
an email), for aligned and unaligned ranges, all time, and filters on families and actions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sql.gateway import Database
from sql.read_model import ReadModel, ReadModelError
from tests.sql.read_model_reference import ORG_IDS, RANGES

ALL_TIME = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
FILTERS = [
    (None, None),
    (["login", "custom_family"], None),
    (None, ["search", "GET", "no_such_action"]),
    (["log_access", "api_call"], ["search", "POST", "login"]),
    ([], None),
]


def _direct(db: Database, org: str, t0, t1, families, actions) -> int:
    where = ["organization_id = :org", "NOT own_use", "event_time >= :t0", "event_time < :t1"]
    params = {"org": org, "t0": t0, "t1": t1}
    if families is not None:
        where.append("event_type = ANY(:families)")
        params["families"] = families
    if actions is not None:
        where.append("event_action = ANY(:actions)")
        params["actions"] = actions
    with db.admin() as session:
        return int(
            session.scalar(f"SELECT count(*) FROM audit_events WHERE {' AND '.join(where)}", params)
        )


def test_event_count_equals_a_direct_count(loaded_shared):
    db, _events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in [*RANGES, ALL_TIME]:
            for families, actions in FILTERS:
                got = model.event_count(org, t0, t1, families=families, actions=actions)
                assert got == _direct(db, org, t0, t1, families, actions), (org, t0, t1)


def test_event_count_in_the_callers_snapshot(loaded_shared):
    db, _events = loaded_shared
    model = ReadModel(db)
    with db.org_session("org_utc", snapshot=True) as session:
        inside = model.event_count("org_utc", *ALL_TIME, session=session)
    assert inside == model.event_count("org_utc", *ALL_TIME) > 0
    # A session of one organisation never answers for another.
    with db.org_session("org_utc", snapshot=True) as session, pytest.raises(ReadModelError):
        model.event_count("org_ny", *ALL_TIME, session=session)


def test_event_count_refuses_one_string_for_names(db: Database):
    with pytest.raises(ReadModelError, match="families must be a sequence"):
        ReadModel(db).event_count("org_a", *ALL_TIME, families="login")
