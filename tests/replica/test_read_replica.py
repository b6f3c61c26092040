"""Reads that may lag run on a real hot standby (AUDITLENS_READ_DATABASE_URL), writes on the
primary: the dashboard's query modules and detection's reads give the primary's answers once
the standby has replayed, each read one snapshot of the standby while it lags; own-use and
export records land on the primary; the lag is shown; a stopped standby fails those reads
with one line (no fallback to the primary) while writes go on."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

from dashboard import (
    config_changes,
    explore_queries,
    explore_suggestions,
    overview_queries,
    queries,
    resource_queries,
    user_queries,
)
from dashboard.context import SESSION_TOKEN_KEY
from dashboard.resources import _database
from dashboard.user_events import events_in_cells
from detection.events import DatabaseEvents, Slice
from detection.pipeline import data_days, run_detection
from sql.errors import StandbyConflict, StandbyUnavailable
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from sql.settings import DATABASE_URL_ENV, READ_DATABASE_URL_ENV
from sql.standby import StandbyLag, standby_lag
from sql.vocabulary import OWN_ACTIONS
from tests.dashboard.conftest import page_test
from tests.factories import event_row
from tests.replica.conftest import ReplicaPair
from usecases.accounts import Viewer, add_user, open_session
from usecases.exports import Exporter, export_events
from usecases.self_audit import record_dashboard_event

DAY = datetime(2025, 3, 10, tzinfo=UTC)
START, END = DAY - timedelta(days=3), DAY + timedelta(days=2)
_COUNT_ID = "SELECT count(*) FROM org_audit_events WHERE id = :id"
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
VIEWER = Viewer("u_ann", "ann@example.com", None, "dash_1")


def _events(org: str, n: int, *, offset: int = 0) -> list[tuple[Any, ...]]:
    users = ("u_1", "u_2", "u_3")
    return [
        event_row(
            organization_id=org,
            id=f"{org}_{offset + i}",
            event_time=DAY - timedelta(hours=7 * i + offset),
            event_type="config_change" if i % 5 == 0 else "log_access",
            event_action="update_retention" if i % 5 == 0 else "search",
            user_id=users[i % 3],
            user_email=f"{users[i % 3]}@company.com",
            resource_id=f"source_{i % 4}",
            details={"old": {"days": 30}, "new": {"days": 7}} if i % 5 == 0 else {"query": "x"},
        )
        for i in range(n)
    ]


def _seed(pair: ReplicaPair) -> None:
    """Two organisations: some events rolled up, some past the watermark (both read paths)."""
    with pair.primary.writer() as w:
        insert_events(w, _events("org_a", 12) + _events("org_b", 5))
    ReadModel(pair.primary).refresh()
    with pair.primary.writer() as w:
        insert_events(w, _events("org_a", 6, offset=100))


def _dashboard_answers(db: Database, org: str) -> dict[str, Any]:
    """Every dashboard query module's answer (and detection's reads) for `org`, as plain data."""
    overview_queries.st.cache_data.clear()
    found = EventFilter.parse("family:log_access")
    snapshot = explore_queries.count_and_page(db, org, found)
    bins = explore_queries.bins_for(START, END)
    user_days = ReadModel(db, may_lag=True).user_day_features(org, START.date(), END.date())
    answers: dict[str, Any] = {
        "totals": overview_queries.totals(db, org, START, END),
        "timeline": overview_queries.timeline(db, org, START, END, "hour"),
        "top_users": overview_queries.top_users(db, org, START, END),
        "top_resources": overview_queries.top_resources(db, org, START, END),
        "heatmap": overview_queries.user_heatmap(db, org, START, END, "u_1", "UTC"),
        "user_day_features": overview_queries.user_day_features(db, org, START.date(), END.date()),
        "daily": user_queries.daily_events(db, org, START.date(), END.date(), ["u_1", "u_2"]),
        "families": queries.family_counts(db, org),
        "first": queries.first_event_time(db, org),
        "count": (snapshot.count, snapshot.capped),
        "page": snapshot.page,
        "explore_timeline": explore_queries.timeline(db, org, found, bins),
        "span": explore_queries.data_span(db, org, found),
        "cells": events_in_cells(db, org, "u_1", START, END, "UTC", [("Mon", 0), ("Sun", 17)]),
        "config": config_changes.config_change_events(db, org, START, END)[0],
        "data_days": data_days(db, org),
        "suggestions": explore_suggestions.suggestions(db, org),
        "busiest": resource_queries.busiest_resources(db, org, START, END),
        "features": user_days,
        "slice": DatabaseEvents(db, org).fetch(Slice("config_change", START, END)),
    }
    return {k: v.to_dict("split") if isinstance(v, pd.DataFrame) else v for k, v in answers.items()}


def _export_ids(db: Database, org: str) -> list[int]:
    with db.admin() as s:
        rows = s.execute(
            "SELECT export_id FROM audit_exports WHERE organization_id = :org ORDER BY 1",
            {"org": org},
        ).rows
    return [r[0] for r in rows]


def test_every_dashboard_read_answers_as_on_the_primary_and_one_snapshot_of_the_standby(pair):
    _seed(pair)
    pair.sync()
    on_primary = {org: _dashboard_answers(pair.primary, org) for org in ("org_a", "org_b")}
    assert on_primary["org_a"]["totals"]["events"] > 0  # the seed is visible
    assert on_primary["org_a"] != on_primary["org_b"]  # and each answer is per organisation
    for org in ("org_a", "org_b"):
        assert _dashboard_answers(pair.replica, org) == on_primary[org]

    # While the standby does not replay, its reads keep answering from what it replayed:
    # events, rollups and watermark as of one moment, never a mix with the primary's.
    pair.standby.pause_replay()
    try:
        with pair.primary.writer() as w:
            insert_events(w, _events("org_a", 4, offset=200))
        ReadModel(pair.primary).refresh()
        assert _dashboard_answers(pair.primary, "org_a") != on_primary["org_a"]
        assert _dashboard_answers(pair.replica, "org_a") == on_primary["org_a"]
    finally:
        pair.standby.resume_replay()
    pair.sync()
    assert _dashboard_answers(pair.replica, "org_a") == _dashboard_answers(pair.primary, "org_a")


def test_own_use_and_export_records_are_written_to_the_primary(pair):
    _seed(pair)
    pair.sync()
    pair.standby.pause_replay()
    try:
        event_id = record_dashboard_event(
            pair.replica, org="org_a", viewer=VIEWER, action=OWN_ACTIONS.get("search")
        )
        out = io.BytesIO()
        exporter = Exporter(user_id="u_ann", email="ann@example.com", session_id="dash_1")
        result = export_events(pair.replica, "org_a", EventFilter(), "csv", out, exporter=exporter)
        # On the primary at once; the paused standby has neither (it was not written there).
        with pair.primary.org_session("org_a") as s:
            assert s.scalar(_COUNT_ID, {"id": event_id}) == 1
        assert result.export_id in _export_ids(pair.primary, "org_a")
        with pair.replica.org_session("org_a", may_lag=True) as s:
            assert s.scalar(_COUNT_ID, {"id": event_id}) == 0
    finally:
        pair.standby.resume_replay()
    pair.sync()
    with pair.replica.org_session("org_a", may_lag=True) as s:
        assert s.scalar(_COUNT_ID, {"id": event_id}) == 1
    assert out.getvalue().count(b"\r\n") == result.rows + 1


def test_detection_runs_with_its_reads_on_the_standby_and_its_findings_on_the_primary(pair):
    _seed(pair)
    pair.sync()
    pair.standby.pause_replay()  # so that nothing it writes could be read back from there
    try:
        _result, window, _new = run_detection(
            pair.replica, "org_a", start=START.date(), end=END.date(), actor="test"
        )
    finally:
        pair.standby.resume_replay()
    assert window == (START.date(), END.date())
    with pair.primary.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_detection_schedule") == 1


def test_a_read_that_may_lag_cannot_write_on_either_server(pair):
    for db in (pair.primary, pair.replica):  # the primary too: a test without a standby fails
        with (
            pytest.raises(DBAPIError, match="read-only transaction"),
            db.org_session("org_a", may_lag=True) as s,
        ):
            s.execute("CREATE TEMP TABLE scratch (n int)")
    with pair.primary.org_session("org_a") as s:  # the primary's other reads are unchanged
        s.execute("CREATE TEMP TABLE scratch (n int)")


def _lag_once_replayed(pair) -> StandbyLag | None:
    """The standby's lag right after it replayed all the primary's WAL, taken again while the
    primary wrote more in between: the test server is shared (TimescaleDB's scheduler, other
    databases' autovacuum), so WAL can follow the sync before the lag is read."""
    lag = None
    for _ in range(20):
        pair.sync()
        lag = standby_lag(pair.replica)
        if lag is not None and lag.caught_up:
            break
    return lag


def test_the_lag_is_measured_from_both_ends(pair):
    assert standby_lag(pair.primary) is None  # no standby configured
    lag = _lag_once_replayed(pair)
    assert lag is not None and lag.caught_up and lag.seconds_behind == 0
    assert "caught up" in lag.sentence()
    pair.standby.pause_replay()
    try:
        with pair.primary.writer() as w:
            insert_events(w, _events("org_a", 3))
        # Written, not only committed: else the primary's position can still be the paused
        # standby's, a lag of 0 bytes (seen in CI with the WAL writer slow to run).
        pair.standby.flush_primary()
        lag = standby_lag(pair.replica)
        assert lag is not None and lag.bytes_behind and lag.bytes_behind > 0
        assert lag.replay_paused
        assert f"{lag.bytes_behind:,} bytes of WAL behind" in lag.sentence()
        assert "Replay is paused" in lag.sentence()
    finally:
        pair.standby.resume_replay()
    lag = _lag_once_replayed(pair)
    assert lag is not None and lag.caught_up and not lag.replay_paused


def test_the_integrity_page_shows_the_lag_to_admins(pair, monkeypatch):
    admin = add_user(pair.primary, email="ops@company.com", org="org_a", role="admin", actor="t")
    auditor = add_user(
        pair.primary, email="aud@company.com", org="org_a", role="auditor", actor="t"
    )
    admin_token, _ = open_session(pair.primary, admin.user_id, method="test")
    auditor_token, _ = open_session(pair.primary, auditor.user_id, method="test")
    monkeypatch.setenv(DATABASE_URL_ENV, pair.primary.url)
    try:
        at = page_test("tamper_evidence.py", admin_token).run()
        assert not at.exception
        assert any("No standby configured" in c.value for c in at.caption)

        monkeypatch.setenv(READ_DATABASE_URL_ENV, pair.standby.url_for(pair.name))
        pair.sync()
        at = page_test("tamper_evidence.py", admin_token).run()
        assert not at.exception
        assert [h.value for h in at.subheader][-1] == "Read replica"
        # The page's own records of this visit go to the primary first, so whether the standby
        # has replayed them by the time the page reads the lag depends on timing; what the
        # sentence says in each case is checked against paused replay above.
        # The caption is Markdown-escaped: a byte count over 999 reads "4\\,488".
        lag_line = re.compile(
            r"The read replica at .+? is (caught up|[\d,\\]+ bytes of WAL behind)"
        )
        assert any(lag_line.search(c.value) for c in at.caption), [c.value for c in at.caption]

        at = page_test("tamper_evidence.py", auditor_token).run()
        assert not at.exception
        assert "Read replica" not in [h.value for h in at.subheader]
    finally:
        _database.clear()


def test_a_recovery_conflict_is_one_clear_error(pair):
    """The standby cancels a read that holds up replay past max_standby_streaming_delay."""
    pair.standby.configure("max_standby_streaming_delay", "0")
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            with pair.replica.org_session("org_a", may_lag=True, timeout_ms=60_000) as s:
                # Holds a lock on `organizations` (through the view) while it sleeps.
                s.execute("SELECT pg_sleep(60) FROM (SELECT count(*) FROM org_organizations) c")
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    try:
        reader = threading.Thread(target=read)
        reader.start()
        _wait_for_sleeping_read(pair)
        with pair.primary.admin() as s:  # replayed, this lock conflicts with the read's
            s.execute("LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE")
        reader.join(timeout=60)
        assert not reader.is_alive()
    finally:
        pair.standby.configure("max_standby_streaming_delay", None)
    assert len(outcome) == 1 and isinstance(outcome[0], StandbyConflict), outcome
    message = str(outcome[0])
    assert "\n" not in message and "max_standby_streaming_delay" in message
    assert "run it again" in message


def _wait_for_sleeping_read(pair: ReplicaPair) -> None:
    import time

    deadline = time.monotonic() + 30
    with pair.standby.admin() as conn:
        while time.monotonic() < deadline:
            sleeping = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND wait_event = 'PgSleep'",
                (pair.name,),
            ).fetchone()[0]  # type: ignore[index]
            if sleeping:
                return
            time.sleep(0.005)
    raise AssertionError("the read never started on the standby")


def test_a_stopped_standby_fails_reads_with_one_line_and_writes_go_on(pair, monkeypatch):
    _seed(pair)
    admin = add_user(pair.primary, email="ops@company.com", org="org_a", role="admin", actor="t")
    token, _ = open_session(pair.primary, admin.user_id, method="test")
    monkeypatch.setenv(DATABASE_URL_ENV, pair.primary.url)
    monkeypatch.setenv(READ_DATABASE_URL_ENV, pair.standby.url_for(pair.name))
    pair.sync()
    pair.standby.embedded.stop()
    try:
        # The dashboard: the page stops at its first read, with the one line, no traceback.
        app = AppTest.from_file(str(APP), default_timeout=30)
        app.session_state[SESSION_TOKEN_KEY] = token
        app.run()
        assert not app.exception
        assert len(app.error) == 1 and "\n" not in app.error[0].value
        assert "cannot read from the read replica" in app.error[0].value
        with pytest.raises(StandbyUnavailable) as caught:
            overview_queries.st.cache_data.clear()
            overview_queries.totals(pair.replica, "org_a", START, END)
        message = str(caught.value)
        assert "\n" not in message
        assert pair.replica.standby.where in message and READ_DATABASE_URL_ENV in message
        assert "not sent to the primary" in message
        with pytest.raises(StandbyUnavailable):
            standby_lag(pair.replica)
        # Writes and the primary's own reads do not depend on the standby.
        event_id = record_dashboard_event(
            pair.replica, org="org_a", viewer=VIEWER, action=OWN_ACTIONS.get("search")
        )
        with pair.replica.org_session("org_a") as s:
            assert s.scalar(_COUNT_ID, {"id": event_id}) == 1
    finally:
        _database.clear()
        pair.standby.embedded.start()
    pair.sync()
    assert overview_queries.totals(pair.replica, "org_a", START, END)["events"] > 0
    assert date(2025, 3, 10) == data_days(pair.replica, "org_a")[1]
