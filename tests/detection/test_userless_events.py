"""Events that name no user (a service, a system job) are counted but never scored as a user:
detection over an organisation that has them finishes and names no one for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from detection.pipeline import run_detection
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row

FIRST = date(2025, 2, 3)
LAST = FIRST + timedelta(days=20)
USERS = ("ann", "bob", "cat", "dan")


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def test_detection_over_events_without_a_user_finishes_and_names_no_one_for_them(db: Database):
    rows = []
    for offset in range((LAST - FIRST).days + 1):
        day = FIRST + timedelta(days=offset)
        for n, user in enumerate(USERS):
            for k in range(8):
                rows.append(
                    event_row(
                        user_id=user,
                        user_email=f"{user}@x.com",
                        event_action="view",
                        resource_id=f"logs_{k % 3}",
                        event_time=_at(day, 9 + k, 5 * n),
                    )
                )
        # A nightly job with no user: a few reads every day, then a flood on the last days,
        # at 3 a.m., of exports of a payments source.
        flood = 400 if offset >= 18 else 3
        rows += [
            event_row(
                user_id=None,
                user_email=None,
                event_type="data_modification",
                event_action="export",
                resource_id="payment-logs",
                event_time=_at(day, 3, i % 60),
                details={"records_exported": 50_000},
            )
            for i in range(flood)
        ]
    with db.writer() as w:
        insert_events(w, rows)
    result, window, _ = run_detection(
        db, "org_a", start=FIRST, end=LAST, actor="test", today=LAST + timedelta(days=1)
    )
    assert result is not None and window == (FIRST, LAST)
    assert result.rule_errors == {}
    named = {f.user_id for f in result.findings} | {h.user_id for h in result.hits}
    assert named <= set(USERS)
