"""The read model's narrow reads for the dashboard equal the raw aggregation: features of
chosen users only (the Users page's matrix and baseline) and the busiest resources without
their distinct users (the Overview's ranking), whatever is rolled up or past the watermark."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sql.read_model import FEATURE_COLUMNS, MAX_FEATURE_USERS, ReadModel, ReadModelError
from tests.sql import read_model_reference as ref
from tests.sql.read_model_reference import DAYS, ORG_IDS, RANGES, START, frame_rows, org_settings


def test_user_day_features_of_chosen_users_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    d0, d1 = START.date(), (START + timedelta(days=DAYS)).date()
    long_last = d0 + timedelta(days=500)  # past the per-day probes: a range scan instead
    for org in ORG_IDS:
        for lo, hi in [(d0, d1), (d0 + timedelta(days=3), d0 + timedelta(days=8)), (d0, long_last)]:
            everyone = ref.user_day_features(events, org, lo, hi, org_settings())
            for users in (["user_3"], ["user_1", "user_4", "nobody"], []):
                got = model.user_day_features(org, lo, hi, user_ids=users)
                assert list(got.columns) == list(FEATURE_COLUMNS)
                want = [row for row in everyone if row[1] in users]
                assert sorted(frame_rows(got), key=repr) == want, (org, lo, hi, users)


def test_user_ids_are_checked(db):
    model = ReadModel(db)
    day = START.date()
    with pytest.raises(ReadModelError, match="user_ids"):
        model.user_day_features("org_a", day, day, user_ids="user_1")
    too_many = [f"u{i}" for i in range(MAX_FEATURE_USERS + 1)]
    with pytest.raises(ReadModelError, match="user_ids"):
        model.user_day_features("org_a", day, day, user_ids=too_many)


def test_top_resources_without_distinct_users_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    for org in ORG_IDS:
        for t0, t1 in RANGES:
            for n in (1, 3, 10):
                got = model.top_resources(org, t0, t1, n=n, distinct_users=False)
                assert list(got.columns) == ["resource_type", "resource_id", "events"]
                want = [row[:3] for row in ref.top_resources(events, org, t0, t1, n)]
                assert frame_rows(got) == want, (org, t0, t1, n)


def test_user_emails_on_a_day_equal_raw(loaded_shared):
    db, events = loaded_shared
    model = ReadModel(db)
    emails_seen = 0
    for org in ORG_IDS:
        days = sorted({e.day for e in events if e.org == org})
        users = sorted({ref.uid(e) for e in events if e.org == org and ref.uid(e) is not None})
        # Each user on some day, a day without events too (-> NULL), and a stranger.
        asked = {u: days[i % len(days)] for i, u in enumerate(users)} if days else {}
        asked["nobody"] = START.date()
        got = model.user_emails(org, asked)
        assert list(got.columns) == ["user_id", "user_email"]
        want = []
        for user, day in sorted(asked.items()):
            emails = [
                e.user_email
                for e in events
                if e.org == org and ref.uid(e) == user and e.day == day and e.user_email
            ]
            want.append((user, max(emails, default=None)))
        assert frame_rows(got) == want, org
        emails_seen += sum(email is not None for _, email in want)
    assert emails_seen > 10
    assert model.user_emails("org_a", {}).empty
