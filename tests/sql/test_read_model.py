"""The read model equals the same aggregation computed straight from raw events, on randomised
data with late events, duplicates, several organisations and time zones, whatever part of it
is rolled up and whatever part is still past the watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from sql.gateway import Database
from sql.read_model import FEATURE_COLUMNS, ReadModel, ReadModelError
from tests.sql import read_model_reference as ref
from tests.sql.read_model_reference import (
    DAYS,
    ORG_IDS,
    RANGES,
    START,
    frame_rows,
    org_settings,
)

# The rollups behind ReadModel.resource_details.
DETAIL_TABLES = (
    "rollup_resource_day_actions",
    "rollup_resource_user_action_years",
    "rollup_resource_user_ip_years",
)


def test_timeline_equals_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            for bucket in ("hour", "day"):
                got = model.timeline(org, t0, t1, bucket=bucket)
                assert list(got.columns) == ["bucket", "event_type", "event_action", "events"]
                want = ref.timeline(events, org, t0, t1, bucket)
                assert frame_rows(got) == want, (t0, t1, bucket)
                # Per family only (the chart's stacks): the same counts summed over actions.
                fam_only = model.timeline(org, t0, t1, bucket=bucket, by_action=False)
                assert list(fam_only.columns) == ["bucket", "event_type", "events"]
                summed: dict[tuple[Any, Any], int] = {}
                for b, family, _action, n in want:
                    summed[(b, family)] = summed.get((b, family), 0) + n
                assert frame_rows(fam_only) == [(*k, v) for k, v in sorted(summed.items())]
            fams = ["login", "custom_family"]
            got = model.timeline(org, t0, t1, bucket="day", families=fams)
            assert frame_rows(got) == ref.timeline(events, org, t0, t1, "day", fams)


def test_user_activity_equals_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            got = model.user_activity(org, t0, t1)
            assert list(got.columns) == ["bucket", "user_id", "user_email", "event_type", "events"]
            assert sorted(frame_rows(got), key=repr) == ref.user_activity(events, org, t0, t1)
            one = model.user_activity(org, t0, t1, user_id="user_3")
            assert sorted(frame_rows(one), key=repr) == ref.user_activity(
                events, org, t0, t1, "user_3"
            )


def test_user_hours_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            got = model.user_hours(org, t0, t1)
            assert list(got.columns) == ["user_id", "hour", "events"]
            assert frame_rows(got) == ref.user_hours(events, org, t0, t1), (t0, t1)
            some = model.user_hours(org, t0, t1, user_ids=["user_3", "user_1", "nobody"])
            want = [r for r in ref.user_hours(events, org, t0, t1) if r[0] in ("user_1", "user_3")]
            assert frame_rows(some) == want, (t0, t1)
            assert model.user_hours(org, t0, t1, user_ids=[]).empty


# Whole-hour, DST-switching (New York, Lord Howe's half hour), +05:30 and +05:45 zones.
HEATMAP_ZONES = [
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
]


def test_user_heatmap_equals_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            for zone in HEATMAP_ZONES:
                for user in ("user_3", "user_1", "nobody"):
                    got = model.user_heatmap(org, t0, t1, user, zone)
                    assert list(got.columns) == ["weekday", "hour", "events"]
                    want = ref.user_heatmap(events, org, t0, t1, user, zone)
                    assert frame_rows(got) == want, (org, t0, t1, zone, user)


def test_totals_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            assert model.totals(org, t0, t1) == ref.totals(events, org, t0, t1), (t0, t1)


def test_top_users_and_resources_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            for n in (1, 3, 10):
                got = model.top_users(org, t0, t1, n=n)
                assert list(got.columns) == ["user_id", "user_email", "events"]
                assert frame_rows(got) == ref.top_users(events, org, t0, t1, n)
                res = model.top_resources(org, t0, t1, n=n)
                assert list(res.columns) == [
                    "resource_type",
                    "resource_id",
                    "events",
                    "distinct_users",
                ]
                assert frame_rows(res) == ref.top_resources(events, org, t0, t1, n)
            for family in ("log_access", "custom_family"):
                got = model.top_users(org, t0, t1, n=4, family=family)
                assert frame_rows(got) == ref.top_users(events, org, t0, t1, 4, family), family


def test_user_day_features_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        d0, d1 = START.date(), (START + timedelta(days=DAYS)).date()
        for lo, hi in [(d0, d1), (d0 + timedelta(days=3), d0 + timedelta(days=8)), (d1, d1)]:
            got = model.user_day_features(org, lo, hi)
            assert list(got.columns) == list(FEATURE_COLUMNS)
            assert sorted(frame_rows(got), key=repr) == ref.user_day_features(
                events, org, lo, hi, org_settings()
            )


def test_day_tables_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        d0, d1 = START.date(), (START + timedelta(days=DAYS)).date()
        for lo, hi in [(d0, d1), (d0 + timedelta(days=6), d0 + timedelta(days=7))]:
            got = model.resource_day_access(org, lo, hi)
            assert list(got.columns) == [
                "day",
                "resource_type",
                "resource_id",
                "accesses",
                "distinct_users",
            ]
            assert sorted(frame_rows(got), key=repr) == ref.resource_day_access(events, org, lo, hi)
            one = model.resource_day_access(
                org, lo, hi, resource_type="source", resource_id="auth-logs"
            )
            assert sorted(frame_rows(one), key=repr) == ref.resource_day_access(
                events, org, lo, hi, "source", "auth-logs"
            )
            by_id = model.resource_day_access(org, lo, hi, resource_id="payment-logs")
            assert sorted(frame_rows(by_id), key=repr) == ref.resource_day_access(
                events, org, lo, hi, None, "payment-logs"
            )
            res = model.user_day_resources(org, lo, hi)
            assert sorted(frame_rows(res), key=repr) == ref.user_day_resources(events, org, lo, hi)
            for rtype, rid in (("source", "auth-logs"), (None, "customer-data")):
                who = model.resource_users(org, lo, hi, rtype, rid)
                assert frame_rows(who) == ref.resource_users(events, org, lo, hi, rtype, rid)
            auth = model.user_day_resources(org, lo, hi, "source", resource_id="auth-logs")
            assert sorted(frame_rows(auth), key=repr) == [
                r
                for r in ref.user_day_resources(events, org, lo, hi)
                if r[2] == "source" and r[3] == "auth-logs"
            ]
            ips = model.user_day_ips(org, lo, hi)
            assert list(ips.columns) == ["day", "user_id", "ip_address", "user_agent", "events"]
            assert sorted(frame_rows(ips), key=repr) == ref.user_day_ips(events, org, lo, hi)


def test_answers_do_not_change_when_everything_is_rolled_up(loaded):
    db, events = loaded
    model = ReadModel(db)
    t0, t1 = RANGES[1]
    before = model.totals("org_ny", t0, t1)
    features_before = model.user_day_features("org_ny", START.date(), START.date() + timedelta(13))
    stats = model.refresh()
    assert stats.events == 300  # the third batch; its 30 re-sent events were no-ops
    assert model.totals("org_ny", t0, t1) == before == ref.totals(events, "org_ny", t0, t1)
    after = model.user_day_features("org_ny", START.date(), START.date() + timedelta(13))
    pd.testing.assert_frame_equal(after, features_before)
    assert model.refresh().events == 0


def test_rebuild_gives_the_same_answers(loaded):
    db, events = loaded
    model = ReadModel(db)
    model.refresh()
    rebuilt = model.refresh(rebuild=True)
    assert rebuilt.events == len({(e.org, e.id) for e in events})
    d0, d1 = START.date(), (START + timedelta(days=DAYS)).date()
    got = model.user_day_features("org_kolkata", d0, d1)
    assert sorted(frame_rows(got), key=repr) == ref.user_day_features(
        events, "org_kolkata", d0, d1, org_settings()
    )


def test_bad_arguments_are_refused_with_the_field_named(db: Database):
    model = ReadModel(db)
    t0, t1 = RANGES[0]
    with pytest.raises(ReadModelError, match="bucket"):
        model.timeline("org_a", t0, t1, bucket="week")
    with pytest.raises(ReadModelError, match="before start"):
        model.totals("org_a", t1, t0)
    with pytest.raises(ReadModelError, match="n must be"):
        model.top_users("org_a", t0, t1, n=0)
    with pytest.raises(ReadModelError, match="start_day"):
        model.user_day_ips("org_a", "not a day", "2025-01-01")
    with pytest.raises(Exception, match="organization id"):
        model.totals("org_a' OR true --", t0, t1)
    with pytest.raises(ReadModelError, match="time_zone"):
        model.user_heatmap("org_a", t0, t1, "user_1", "Mars/Olympus")


def test_empty_answers_keep_their_columns_and_types(db: Database):
    model = ReadModel(db)
    t0, t1 = RANGES[0]
    features = model.user_day_features("org_none", t0.date(), t1.date())
    assert list(features.columns) == list(FEATURE_COLUMNS) and features.empty
    assert model.totals("org_none", t0, t1) == {
        "events": 0,
        "users": 0,
        "resources": 0,
        "by_family": {},
    }
    assert model.timeline("org_none", t0, t1).empty
    heat = model.user_heatmap("org_none", t0, t1, "user_1", "UTC")
    assert heat.empty and list(heat.columns) == ["weekday", "hour", "events"]


def test_types_are_utc_timestamps_dates_and_integers(loaded_shared):
    db, _ = loaded_shared
    model = ReadModel(db)
    t0, t1 = RANGES[0]
    timeline = model.timeline("org_ny", t0, t1)
    assert str(timeline["bucket"].dt.tz) == "UTC"
    assert timeline["events"].dtype == "int64"
    features = model.user_day_features("org_ny", t0.date(), t1.date())
    assert all(type(d).__name__ == "date" for d in features["day"])
    assert str(features["first_event"].dt.tz) == "UTC"
    assert features["distinct_ips"].dtype == "int64"
    assert isinstance(datetime.now(UTC), datetime)


def _details(model: ReadModel, org, lo, hi, rtype, rid, any_type=False):
    got = model.resource_details(org, lo, hi, rid, rtype, any_type=any_type)
    assert list(got.by_action.columns) == ["event_type", "event_action", "events"]
    assert list(got.by_user.columns) == ["user_id", "actions", "records", "ip_addresses"]
    assert got.by_action["events"].dtype == got.by_user["records"].dtype == "int64"
    by_user = sorted(frame_rows(got.by_user), key=lambda r: (r[0] is None, r[0] or ""))
    return frame_rows(got.by_action), by_user, got.records, got.ip_addresses


# The compliance report's subjects: a typed resource, the NULL type, every type of an id
# (several types and NULL among them), and one nobody touched.
DETAIL_SUBJECTS = [
    ("source", "auth-logs", False),
    (None, "customer-data", False),
    (None, "payment-logs", True),
    ("alert_rule", "no-such-resource", False),
]


def test_resource_details_equal_raw(loaded):
    """The printable report's additions (their rollups plus raw past the watermark) equal
    aggregating the raw events, before and after everything is rolled up."""
    db, events = loaded
    model = ReadModel(db)
    d0, d1 = START.date(), (START + timedelta(days=DAYS)).date()
    day_ranges = [(d0, d1), (d0 + timedelta(days=3), d0 + timedelta(days=8)), (d1, d1)]
    for rolled_up in (False, True):
        if rolled_up:
            assert model.refresh().events == 300
        for org in ORG_IDS:
            for lo, hi in day_ranges:
                for rtype, rid, any_type in DETAIL_SUBJECTS:
                    want = ref.resource_details(events, org, lo, hi, rtype, rid, any_type=any_type)
                    got = _details(model, org, lo, hi, rtype, rid, any_type)
                    assert got == want, (org, lo, hi, rtype, rid, any_type, rolled_up)
    # Non-trivial data: users with several actions and addresses, NULL users, touched records.
    _, by_user, records, ips = ref.resource_details(
        events, "org_ny", d0, d1, None, "auth-logs", any_type=True
    )
    assert records > 0 and ips == 4 and any(u is None for u, *_ in by_user)
    assert any("," in actions and "," in (hosts or "") for _, actions, _, hosts in by_user)
