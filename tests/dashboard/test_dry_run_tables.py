"""A dry run's hits tabled per hit, per day and per user, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dashboard.dry_run_tables import by_day, by_user, hits_frame
from detection.rules import RuleHit

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)


def _hit(user: str, day: date, *, email: bool = True) -> RuleHit:
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    return RuleHit(
        rule_id="search-alert-1",
        severity="high",
        user_id=user,
        user_email=f"{user}@x.com" if email else "",
        day=day,
        window_start=at,
        window_end=at,
        reason="r",
        evidence_query=f"user:{user} day:{day}",
    )


HITS = [_hit("bob", D1), _hit("ann", D1), _hit("ann", D2), _hit("svc", D2, email=False)]
COUNTS = {"user:ann day:2026-01-05": 6, "user:bob day:2026-01-05": 1,
          "user:ann day:2026-01-06": 2, "user:svc day:2026-01-06": 4}  # fmt: skip


def test_each_hit_with_its_matching_events_newest_day_first():
    frame = hits_frame(HITS, COUNTS)
    assert list(zip(frame["day"], frame["user"], frame["matches"], strict=True)) == [
        (D2, "ann@x.com", 2), (D2, "svc", 4), (D1, "ann@x.com", 6), (D1, "bob@x.com", 1),
    ]  # fmt: skip


def test_counts_per_day_and_per_user():
    frame = hits_frame(HITS, COUNTS)
    assert by_day(frame).to_dict("records") == [
        {"day": D2, "users": 2, "matches": 6},
        {"day": D1, "users": 2, "matches": 7},
    ]
    assert by_user(frame).to_dict("records") == [
        {"user": "ann@x.com", "days": 2, "matches": 8},
        {"user": "bob@x.com", "days": 1, "matches": 1},
        {"user": "svc", "days": 1, "matches": 4},
    ]


def test_uncounted_hits_show_no_total_rather_than_zero():
    frame = hits_frame(HITS, {})
    assert frame["matches"].isna().all()
    assert by_day(frame)["matches"].isna().all()
    assert by_user(frame)["days"].tolist() == [2, 1, 1]


def test_no_hits_are_empty_tables_with_their_columns():
    frame = hits_frame([], {})
    assert frame.empty and list(by_day(frame).columns) == ["day", "users", "matches"]
    assert list(by_user(frame).columns) == ["user", "days", "matches"]


def test_users_sharing_an_email_are_counted_and_listed_apart():
    # Two service accounts with one team address, and an id that reads like an email: four
    # people, as sql.user_identity counts them.
    shared = [
        RuleHit(**{**vars(_hit(u, D1)), "user_email": "ops@x.com"}) for u in ("svc-a", "svc-b")
    ]
    twins = [_hit("zoe", D2), RuleHit(**{**vars(_hit("zoe@x.com", D2)), "user_email": ""})]
    frame = hits_frame(shared + twins, {})
    assert frame["user"].nunique() == 4
    assert sorted(by_user(frame)["user"]) == ["svc-a", "svc-b", "zoe", "zoe@x.com"]
    assert by_day(frame)["users"].tolist() == [2, 2]
    # A user with their own address keeps it.
    assert hits_frame(HITS, {})["user"].tolist() == ["ann@x.com", "svc", "ann@x.com", "bob@x.com"]
