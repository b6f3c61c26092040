"""Config changes: what is still switched off now shows whatever the period, and a selected
change shows its whole before/after diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row

LONG_TEXT = "x" * 300  # longer than any one-line summary keeps


def _change(org, when, action, rid, details, who="sarah"):
    return event_row(
        organization_id=org,
        event_type="config_change",
        event_action=action,
        event_time=when,
        user_id=who,
        user_email=f"{who}@company.com",
        resource_type="alert_rule",
        resource_id=rid,
        details=details,
    )


def _seed(db, now):
    rows = [
        _change("org_a", now - timedelta(days=40), "disable_alert", "payments-spike", {}),
        _change("org_a", now - timedelta(days=45), "disable_alert", "came-back", {}),
        _change("org_a", now - timedelta(days=44), "enable_alert", "came-back", {}),
        _change(
            "org_a",
            now - timedelta(days=2),
            "update_alert",
            "latency",
            {
                "changes": {
                    "threshold": {"old": 100, "new": 200},
                    "query": {"old": LONG_TEXT, "new": {"filter": LONG_TEXT}},
                }
            },
            who="ann",
        ),
        _change("org_b", now - timedelta(days=40), "disable_alert", "org-b-alert", {}),
    ]
    with db.writer() as session:
        insert_events(session, rows)


def test_an_alert_disabled_40_days_ago_and_still_off_shows_under_30_days(dashboard_db, sign_in):
    _seed(dashboard_db, datetime.now(UTC))
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = page_test("config_changes.py", token).run()
    assert not at.exception
    assert at.selectbox(key="config_period_preset").value == "Last 30 days"
    never = at.dataframe[0].value
    assert list(never["target"]) == ["alert_rule:payments-spike"]
    assert "still off now (0 of them in this period)" in at.warning[0].value


def test_selecting_a_change_shows_its_whole_diff(dashboard_db, sign_in):
    _seed(dashboard_db, datetime.now(UTC))
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = page_test("config_changes.py", token).run()
    history = at.dataframe[1]
    assert list(history.value["action"]) == ["update_alert"]
    at.session_state["config_history"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    diff = at.dataframe[2].value
    rows = {r["field"]: (r["before"], r["after"]) for r in diff.to_dict("records")}
    assert rows["Threshold"] == ("100", "200")
    assert rows["Query"] == (LONG_TEXT, '{"filter": "' + LONG_TEXT + '"}')


def test_another_organisation_sees_only_its_own_still_off(dashboard_db, sign_in):
    _seed(dashboard_db, datetime.now(UTC))
    token = sign_in("eve@company.com", "org_b", "admin")
    at = page_test("config_changes.py", token).run()
    never = at.dataframe[0].value
    assert list(never["target"]) == ["alert_rule:org-b-alert"]


def test_picking_another_period_reuses_the_judged_state_and_says_when(
    dashboard_db, sign_in, monkeypatch
):
    """The still-off list does not depend on the period: switching to "All time" reuses it
    (one judgement of the history, not one per period), and the page gives its time."""
    from dashboard import config_changes

    _seed(dashboard_db, datetime.now(UTC))
    calls = []
    judge = config_changes.still_switched_off

    def counted(db, org, end, *args, **kwargs):
        calls.append(org)
        return judge(db, org, end, *args, **kwargs)

    monkeypatch.setattr(config_changes, "still_switched_off", counted)
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = page_test("config_changes.py", token).run()
    at.selectbox(key="config_period_preset").set_value("All time").run()
    assert not at.exception
    assert list(at.dataframe[0].value["target"]) == ["alert_rule:payments-spike"]
    assert "still off now (1 of them in this period)" in at.warning[0].value
    assert calls == ["org_a"]
    assert any(
        c.value.startswith("State as of ") and " UTC, whatever the period" in c.value
        for c in at.caption
    )
    # Another organisation's viewer is judged on its own, never given org_a's list.
    other = page_test("config_changes.py", sign_in("eve@company.com", "org_b", "admin")).run()
    assert list(other.dataframe[0].value["target"]) == ["alert_rule:org-b-alert"]
    assert calls == ["org_a", "org_b"]


def test_a_switch_turned_back_on_leaves_the_list_at_the_next_run(dashboard_db, sign_in):
    """The judged state is reused only while no switch change has arrived: an alert enabled
    again (even reported late, with an older time than the newest change) leaves the list on
    the next run, not a minute later."""
    now = datetime.now(UTC)
    _seed(dashboard_db, now)
    token = sign_in("lead@company.com", "org_a", "auditor")
    at = page_test("config_changes.py", token).run()
    assert list(at.dataframe[0].value["target"]) == ["alert_rule:payments-spike"]
    late = _change("org_a", now - timedelta(days=39), "enable_alert", "payments-spike", {})
    with dashboard_db.writer() as session:
        insert_events(session, [late])
    at = page_test("config_changes.py", token).run()
    assert not at.exception
    assert "Nothing that was switched off is still off now." in [s.value for s in at.success]
