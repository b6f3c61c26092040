"""Detection on a schedule: the day being written re-scored each tick, a new high finding
posted to the webhook by the next tick and never twice, one run per organisation at a time,
and the edge cases a scheduler meets (no events, one user, no history)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from detection.features import Sensitivity
from detection.findings import list_findings, schedule_state
from detection.notify import Webhook
from detection.pipeline import run_detection
from detection.schedule import DetectionScheduler, detect_and_notify, org_lock
from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS
from tests.detection.frames import small_org
from tests.factories import event_row


class Receiver:
    """A local webhook: records each posted body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook/SECRET"

    def posted_lines(self) -> list[str]:
        """One line per finding posted (the payload's text, header line dropped)."""
        return [line for body in self.bodies for line in body["text"].splitlines()[1:]]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _insert(db: Database, events: Any) -> None:
    rows = [tuple(r[c] for c in EVENT_COLUMNS) for r in events.to_dict("records")]
    with db.writer() as session:
        insert_events(session, rows)


@pytest.fixture
def org_until_today(db: Database, monkeypatch):
    """A small organisation whose last (planted) day is "today", minus its large export."""
    monkeypatch.setattr("detection.pipeline.organisation_sensitivity", lambda *_: Sensitivity())
    events, labels, _roster = small_org(users=18, days=40)
    events = events.assign(organization_id="org_a")
    today = max(label["day"] for label in labels)
    big = next(lb["user_id"] for lb in labels if lb["scenario"] == "large_export")
    is_large = (events["user_id"] == big) & (events["event_action"] == "export")
    _insert(db, events.loc[~is_large])
    return db, today, big, events.loc[is_large]


def test_a_new_high_finding_reaches_the_webhook_by_the_next_tick_and_only_once(
    org_until_today, receiver
):
    db, today, big, large_export = org_until_today
    webhook = Webhook(receiver.url, min_severity="high")
    scheduler = DetectionScheduler(db, webhook=webhook, today=lambda: today)

    [first] = scheduler.run_once()
    assert first.days is not None and first.days[1] == today - timedelta(days=1)
    assert first.current_day == today
    state = schedule_state(db, "org_a")
    assert state is not None
    assert (state.complete_through, state.current_day) == (today - timedelta(days=1), today)
    before = receiver.posted_lines()
    assert not any(big in line or "user5@" in line for line in before)

    # The export happens during the day; the next tick scores it and posts it, alone.
    _insert(db, large_export)
    [second] = scheduler.run_once()
    assert second.days is None and second.current_day == today
    assert second.notified == 1
    new = receiver.posted_lines()[len(before) :]
    assert len(new) == 1 and "[high]" in new[0] and "user5@company.com" in new[0]
    assert "Export of more than 10,000 records" in new[0]

    # Nothing new: nothing posted again.
    posts = len(receiver.bodies)
    [third] = scheduler.run_once()
    assert third.notified == 0 and len(receiver.bodies) == posts
    stored = list_findings(db, "org_a", limit=1000)
    assert stored.groupby(["user_id", stored["window_start"].dt.date]).size().max() == 1


def test_a_run_waits_for_or_skips_an_organisation_another_run_holds(org_until_today, receiver):
    db, today, _big, _large = org_until_today
    webhook = Webhook(receiver.url, min_severity="medium")
    seen: list[Any] = []

    def opener(request: Any, timeout: float) -> Any:
        # While the first run posts (holding the lock), a second run of the same organisation
        # starts on its own connection: it must skip, not score or post the same findings.
        seen.append(detect_and_notify(db, "org_a", today=today, webhook=webhook))
        import urllib.request

        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - local receiver

    first = detect_and_notify(db, "org_a", today=today, webhook=webhook, opener=opener)
    assert [t.skipped for t in seen] == [True]
    assert first.notified > 0 and len(receiver.bodies) == 1
    after = detect_and_notify(db, "org_a", today=today, webhook=webhook)
    assert not after.skipped and after.inserted == 0 and after.notified == 0
    assert len(receiver.bodies) == 1
    with db.org_session("org_a") as session:
        per_day = session.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM org_findings GROUP BY user_id, day) c"
        ).rows
    assert per_day == [(1,)]


def test_two_runs_at_once_write_each_finding_once(org_until_today):
    db, today, _big, _large = org_until_today
    start = today - timedelta(days=3)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        with org_lock(db, "org_a", wait=True):
            results.append(run_detection(db, "org_a", start=start, end=today, today=today)[2])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = list_findings(db, "org_a", limit=1000)
    assert sorted(results)[0] == 0 and sorted(results)[1] == len(stored) > 0


def test_findings_says_when_it_shows_fewer_than_exist(org_until_today, fresh_database, monkeypatch):
    db, today, _big, _large = org_until_today
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", fresh_database)
    # The whole history but today: every planted day before it, so more than one finding
    # whatever calibration demotes.
    run_detection(db, "org_a", start=today - timedelta(days=39), end=today - timedelta(days=1))
    total = len(list_findings(db, "org_a", limit=1000))
    assert total >= 2
    runner = CliRunner()
    cut = runner.invoke(app, ["findings", "--org", "org_a", "--limit", "1", "--format", "json"])
    assert cut.exit_code == 0, cut.output
    assert len(json.loads(cut.stdout)) == 1
    assert f"showing 1 of {total}; use --limit to see more" in cut.stderr
    whole = runner.invoke(app, ["findings", "--org", "org_a", "--limit", str(total)])
    assert whole.exit_code == 0 and "showing" not in whole.stderr


def _events_of(org: str, user: str, days: list[date], per_day: int = 5) -> list[tuple[Any, ...]]:
    rows = []
    for day in days:
        for k in range(per_day):
            at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=7 * k)
            rows.append(event_row(organization_id=org, user_id=user, event_time=at))
    return rows


def test_an_organisation_with_no_events_has_nothing_to_detect(db, receiver):
    with db.writer() as session:
        session.execute(
            "INSERT INTO organizations (organization_id) VALUES ('org_empty')"
            " ON CONFLICT DO NOTHING"
        )
    webhook = Webhook(receiver.url)
    tick = detect_and_notify(db, "org_empty", today=date(2025, 3, 1), webhook=webhook)
    assert (tick.days, tick.current_day, tick.inserted, tick.notified) == (None, None, 0, 0)
    assert tick.describe() == "org_empty: nothing new: 0 new finding(s), 0 notified"
    assert schedule_state(db, "org_empty") is None and receiver.bodies == []


def test_one_user_and_no_history_give_a_result_not_a_traceback(db):
    today = date(2025, 3, 3)
    # One user on their first day: nothing to compare with, nothing to fit a model on.
    with db.writer() as session:
        insert_events(session, _events_of("org_new", "only", [today], per_day=1))
    tick = detect_and_notify(db, "org_new", today=today)
    assert tick.current_day == today and not tick.skipped
    # One user with a month of history: scored, and still no traceback.
    days = [today - timedelta(days=n) for n in range(1, 31)]
    with db.writer() as session:
        insert_events(session, _events_of("org_one", "solo", days))
    result, window, _ = run_detection(db, "org_one", today=today)
    assert window is not None and window[1] == today - timedelta(days=1)
    assert result is not None and len(result.scores) > 0
    # Another organisation's runs never show up here.
    assert schedule_state(db, "org_new") is not None
    assert list_findings(db, "org_one", limit=10)["user_id"].isin(["solo"]).all()


def test_serve_ingest_detects_on_a_schedule_while_serving(db, monkeypatch, receiver):
    import uvicorn

    started: list[DetectionScheduler] = []
    original = DetectionScheduler.start

    def start(self: DetectionScheduler) -> DetectionScheduler:
        started.append(self)
        return original(self)

    today = datetime.now(UTC).date()
    with db.writer() as session:
        insert_events(session, _events_of("org_live", "early", [today], per_day=3))
    monkeypatch.setattr(DetectionScheduler, "start", start)
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    monkeypatch.setenv("AUDITLENS_DETECT_INTERVAL_SECONDS", "7200")
    monkeypatch.setenv("AUDITLENS_WEBHOOK_URL", receiver.url)
    seen: dict[str, object] = {}

    def serve(*args: object, **kwargs: object) -> None:
        scheduler = started[0]
        seen["first"] = scheduler.first_run_done.wait(120)
        seen["running"] = scheduler.running
        seen["interval"] = scheduler.interval

    monkeypatch.setattr(uvicorn, "run", serve)
    result = CliRunner().invoke(app, ["serve-ingest", "--port", "8698"])
    assert result.exit_code == 0, result.output
    assert seen == {"first": True, "running": True, "interval": 7200}
    assert not started[0].running
    assert "detection every 7200 s, new findings to Webhook(url='http://127.0.0.1/…'" in (
        result.output
    )
    assert "SECRET" not in result.output
    state = schedule_state(db, "org_live")
    assert state is not None and state.current_day == today


def test_a_bad_detection_interval_is_a_one_line_error(db, monkeypatch):
    import uvicorn

    monkeypatch.setenv("AUDITLENS_DATABASE_URL", db.url)
    monkeypatch.setenv("AUDITLENS_DETECT_INTERVAL_SECONDS", "0")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    result = CliRunner().invoke(app, ["serve-ingest"])
    assert result.exit_code != 0
    assert "AUDITLENS_DETECT_INTERVAL_SECONDS must be a whole number greater than 0, got: 0" in (
        str(result.exception)
    )
