"""Explore's filter widgets offer what the organisation's events hold, not a fixed list, and
a leading - in the query box leaves a term out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _seed(db):
    rows = [
        event_row(
            id=f"e{i}",
            event_time=T0 + timedelta(minutes=i),
            event_action=action,
            user_email=email,
            resource_id=resource,
            ip_address=ip,
        )
        for i, (action, email, resource, ip) in enumerate(
            [
                ("search", "ann@company.com", "source_payment_logs", "10.0.0.1"),
                ("search", "ann@company.com", "source_payment_logs", "10.0.0.1"),
                ("tail_logs", "bob@company.com", "source_api", "192.168.1.9"),
            ]
        )
    ]
    rows.append(
        event_row(
            organization_id="org_b",
            event_action="org_b_secret_action",
            user_email="mallory@org-b.com",
            resource_id="org-b-resource",
            ip_address="203.0.113.5",
        )
    )
    with db.writer() as session:
        insert_events(session, rows)


def test_widgets_offer_what_the_organisation_holds(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token).run()
    assert not at.exception

    def offered(key):
        return at.multiselect(key=key).options

    assert offered("explore_actions") == ["search", "tail_logs"]  # most frequent first
    assert "delete_logs" not in offered("explore_actions")
    assert offered("explore_families") == ["log_access"]
    assert offered("explore_users") == ["ann@company.com", "bob@company.com"]
    assert offered("explore_resources") == ["source_payment_logs", "source_api"]
    assert offered("explore_ips") == ["10.0.0.1", "192.168.1.9"]
    shown = {
        v
        for k in ("explore_actions", "explore_users", "explore_resources", "explore_ips")
        for v in offered(k)
    }
    assert not {"org_b_secret_action", "mallory@org-b.com", "org-b-resource"} & shown


def test_a_leading_dash_leaves_a_term_out(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="-action:search").run()
    assert not at.exception
    assert at.metric[0].value == "1"
    assert list(at.dataframe[0].value["id"]) == ["e2"]
    # A widget change keeps the negation the widgets cannot show.
    at.multiselect(key="explore_families").select("log_access").run()
    assert at.text_input(key="explore_query").value == "family:log_access -action:search"
    assert at.metric[0].value == "1"
    # The text box takes -word too.
    at.text_input(key="explore_text").input("-zzz").run()
    assert at.text_input(key="explore_query").value == "family:log_access -action:search -zzz"
    assert at.metric[0].value == "1"
