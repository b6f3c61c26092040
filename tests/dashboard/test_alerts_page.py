"""The Alerts page (AppTest): an analyst makes an alert from a saved search, its dry run shows
the backend's hits with their events per user and day, switching is audited, detection's
findings from it are listed; auditors read only; another organisation's alerts stay unknown;
typed names show as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.markdown_text import md
from detection.pipeline import run_detection
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.dashboard.test_hostile_text import _assert_inert, _rendered
from tests.factories import event_row
from usecases import saved_searches, search_alerts

QUERY = "action:export resource:payments"
HOSTILE = "![x](http://host/i.png) [Session expired](http://host/phish) `x` <b>b</b> :red[r]"


def _export(user: str, at: datetime, org: str = "org_a") -> tuple:
    return event_row(
        organization_id=org,
        user_id=user,
        user_email=f"{user}@x.com",
        event_type="data_modification",
        event_action="export",
        resource_id="payments",
        event_time=at,
    )


@pytest.fixture
def exports(dashboard_db):
    """org_a: ann exports payments six times in 25 minutes on the last weekday at least three
    days ago, bob once two days before; org_b: eve exports nine times.

    A weekday at 10:00 UTC is within org_a's working hours: on a Saturday the off-hours export
    rule fired too, and its title led the finding's (failed on Tuesdays and Wednesdays)."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day -= timedelta(days=3)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    burst, lone = day + timedelta(hours=10), day - timedelta(days=2, hours=-11)
    rows = [_export("ann", burst + timedelta(minutes=5 * i)) for i in range(6)]
    rows.append(_export("bob", lone))
    rows += [_export("eve", burst + timedelta(minutes=i), org="org_b") for i in range(9)]
    with dashboard_db.writer() as session:
        insert_events(session, rows)
    return dashboard_db, burst.date(), lone.date()


def _param(at, name):
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _audit(db, org):
    with db.org_session(org) as s:
        return s.execute(
            "SELECT event_action, user_id, details FROM org_audit_events"
            " WHERE resource_type = 'search_alert' ORDER BY ingest_seq"
        ).dicts()


def test_an_analyst_makes_an_alert_sees_its_dry_run_and_switches_it_on(exports, sign_in):
    db, burst, _lone = exports
    search = saved_searches.save(db, "org_a", "lee@x.com", "Payment exports", QUERY)
    token = sign_in("lee@x.com", "org_a", "analyst")
    at = page_test("alerts.py", token, search=str(search.search_id)).run()
    assert not at.exception
    assert at.selectbox(key="alerts_new_search").value == search.search_id
    at.radio(key="alerts_new_condition").set_value("per_user")
    at.number_input(key="alerts_new_threshold").set_value(3)
    _button(at, "Create alert").click().run()
    assert not at.exception
    (alert,) = search_alerts.list_alerts(db, "org_a")
    assert (alert.condition, alert.threshold, alert.window_minutes, alert.severity) == (
        "per_user",
        3,
        60,
        "high",
    )
    assert not alert.enabled and _param(at, "alert") == str(alert.alert_id)
    # The dry run: ann's burst alone (bob's lone export is one, not more than three).
    figures = _metrics(at)
    assert (figures["Would have fired"], figures["Users"], figures["Days"]) == ("1 time", "1", "1")
    by_day, by_user, hits = (at.dataframe[i].value for i in (1, 2, 3))
    assert by_day.to_dict("records") == [{"day": burst, "users": 1, "matches": 6}]
    assert by_user.to_dict("records") == [{"user": "ann@x.com", "days": 1, "matches": 6}]
    assert hits["evidence_query"][0].startswith("user:ann " + QUERY)
    expected = search_alerts.dry_run(db, "org_a", alert.alert_id)
    assert [(h.user_id, h.day) for h in expected.hits] == [("ann", burst)]

    at.text_input(key="alerts_switch_reason").input("dry run looked right")
    _button(at, "Switch on").click().run()
    assert not at.exception
    assert search_alerts.list_alerts(db, "org_a")[0].enabled
    assert at.text_input(key="alerts_switch_reason").value == ""
    assert [(e["event_action"], e["user_id"]) for e in _audit(db, "org_a")] == [
        ("create_alert", "lee@x.com"),
        ("enable_alert", "lee@x.com"),
    ]
    assert _audit(db, "org_a")[1]["details"]["reason"] == "dry run looked right"
    assert "Switch off" in [b.label for b in at.button]


def test_an_any_match_dry_run_counts_each_user_and_day(exports, sign_in):
    db, burst, lone = exports
    saved_searches.save(db, "org_a", "lee@x.com", "Payment exports", QUERY)
    alert = search_alerts.create(db, "org_a", "lee@x.com", "Payment exports")
    token = sign_in("lee@x.com", "org_a", "auditor")
    at = page_test("alerts.py", token, alert=str(alert.alert_id)).run()
    assert not at.exception
    figures = _metrics(at)
    assert (figures["Would have fired"], figures["Users"], figures["Days"]) == ("2 times", "2", "2")
    by_day = at.dataframe[1].value.to_dict("records")
    assert by_day == [
        {"day": burst, "users": 1, "matches": 6},
        {"day": lone, "users": 1, "matches": 1},
    ]
    # An auditor reads: no form, no switch.
    labels = [b.label for b in at.button]
    assert "Switch on" not in labels and "Create alert" not in labels
    assert any("reads alerts" in c.value for c in at.caption)


def test_findings_of_the_switched_on_alert_are_listed(exports, sign_in):
    db, burst, _lone = exports
    saved_searches.save(db, "org_a", "lee@x.com", "Payment exports", QUERY)
    alert = search_alerts.create(
        db, "org_a", "lee@x.com", "Payment exports", condition="per_user", threshold=3
    )
    search_alerts.enable(db, "org_a", "lee@x.com", alert.alert_id)
    token = sign_in("lee@x.com", "org_a", "analyst")
    at = page_test("alerts.py", token, alert=str(alert.alert_id)).run()
    assert any(c.value.startswith("None yet") for c in at.caption)
    run_detection(db, "org_a", start=burst, end=burst, actor="test")
    at.run()
    assert not at.exception
    findings = at.dataframe[-1].value
    assert findings["user_email"].tolist() == ["ann@x.com"]
    assert "Saved search: Payment exports" in findings["title"][0]


def test_another_organisation_s_alert_is_not_shown(exports, sign_in):
    db, *_ = exports
    saved_searches.save(db, "org_b", "lee@x.com", "Theirs", QUERY)
    theirs = search_alerts.create(db, "org_b", "lee@x.com", "Theirs")
    token = sign_in("lee@x.com", "org_a", "admin")
    at = page_test("alerts.py", token, alert=str(theirs.alert_id)).run()
    assert not at.exception
    assert len(at.metric) == 0 and _param(at, "alert") is None
    assert at.warning[0].value == f"No alert {theirs.alert_id} in org\\_a."
    assert at.info[0].value.startswith("No alerts yet")


def test_a_hostile_search_name_shows_as_text(exports, sign_in):
    db, *_ = exports
    search = saved_searches.save(db, "org_a", "lee@x.com", HOSTILE, QUERY)
    alert = search_alerts.create(db, "org_a", "lee@x.com", search.search_id)
    token = sign_in("lee@x.com", "org_a", "analyst")
    at = page_test("alerts.py", token, alert=str(alert.alert_id)).run()
    assert not at.exception
    assert md(HOSTILE) in at.subheader[0].value
    # The page's own hint names a command in a code span; every other text is data.
    _assert_inert([t for t in _rendered(at) if not t.startswith("None yet")])
    assert at.dataframe[0].value["search"].tolist() == [HOSTILE]
    assert at.selectbox(key="alerts_pick").options[0].startswith(f"#{alert.alert_id} {HOSTILE}:")


def test_an_alert_link_naming_nothing_is_a_warning(exports, sign_in):
    db, *_ = exports
    saved_searches.save(db, "org_a", "lee@x.com", "Payment exports", QUERY)
    search_alerts.create(db, "org_a", "lee@x.com", "Payment exports")
    token = sign_in("lee@x.com", "org_a", "analyst")
    for value in ("9" * 30, "x" * 5000, "1 OR 1=1", "-1"):
        at = page_test("alerts.py", token, alert=value).run()
        assert not at.exception, value
        assert at.warning[0].value.startswith("No alert ")
        assert _param(at, "alert") is None and len(at.metric) == 0
