"""Explore in AppTest: figures on a known data set, query box / widgets / URL in step, pointed
syntax errors, keyset paging, event detail with its session, exports by role, isolation and
self-auditing."""

from __future__ import annotations

import hashlib

import pytest

from dashboard.markdown_text import md
from tests.dashboard.conftest import download_url, fetch_download, page_test


def _metric(at):
    return at.metric[0].value


def _audit(db, org, action):
    with db.org_session(org) as s:
        return s.execute(
            "SELECT user_email, details FROM org_audit_events"
            " WHERE resource_type = 'audit_log' AND event_action = :a ORDER BY ingest_seq",
            {"a": action},
        ).dicts()


def test_link_with_a_query_shows_exactly_its_events(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="family:config_change user:bob@company.com").run()
    assert not at.exception
    assert _metric(at) == "7"
    assert at.text_input(key="explore_query").value == "family:config_change user:bob@company.com"
    assert at.session_state["explore_users"] == ["bob@company.com"]
    assert at.session_state["explore_families"] == ["config_change"]
    table = at.dataframe[0].value
    assert len(table) == 7 and set(table["user_email"]) == {"bob@company.com"}
    # Arriving by link is a drill-down; the filtered view is a search: both audited.
    (drill,) = _audit(known, "org_a", "drill_down")
    assert drill["details"]["query"] == "user:bob@company.com family:config_change"
    (search,) = _audit(known, "org_a", "search")
    assert search["user_email"] == "ann@company.com" and search["details"]["results_count"] == 7


def test_query_box_drives_widgets_and_url(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token).run()
    with known.org_session("org_a") as s:
        everything = s.scalar("SELECT count(*) FROM org_audit_events")
    # The known 128: the viewer's own audit trail is AuditLens's stream, not the organisation's.
    assert _metric(at) == "128" and everything > 128
    at.text_input(key="explore_query").input('ip:10.0.0.0/8 "calc"').run()
    assert not at.exception
    assert _metric(at) == "1"
    assert at.session_state["explore_ips"] == ["10.0.0.0/8"]
    assert at.text_input(key="explore_text").value == "calc"
    assert at.query_params["q"] in (["ip:10.0.0.0/8 calc"], "ip:10.0.0.0/8 calc")


def test_widgets_drive_the_query_box(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token).run()
    # The families offered are those in the organisation's events, and only those.
    assert set(at.multiselect(key="explore_families").options) == {
        "log_access",
        "config_change",
        "data_modification",
    }
    at.multiselect(key="explore_families").select("config_change").run()
    assert not at.exception
    assert at.text_input(key="explore_query").value == "family:config_change"
    assert _metric(at) == "7"
    at.text_input(key="explore_text").input("threshold").run()
    assert at.text_input(key="explore_query").value == "family:config_change threshold"
    assert _metric(at) == "7"


def test_malformed_query_points_at_the_bad_part_and_keeps_the_view(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="family:config_change").run()
    at.text_input(key="explore_query").input("family:login levle:error").run()
    assert not at.exception
    assert "column 14" in at.error[0].value
    assert md("unknown qualifier 'levle'") in at.error[0].value
    caret = at.code[0].value.splitlines()
    assert caret[1].index("^") == 13
    assert _metric(at) == "7"  # still the last valid query


def test_keyset_paging_walks_the_events_newest_first(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="user:u_ann").run()
    assert _metric(at) == "120"
    first = at.dataframe[0].value
    assert list(first["id"][:2]) == ["a119", "a118"] and len(first) == 50
    at.button(key="explore_older").click().run()
    second = at.dataframe[0].value
    assert list(second["id"][:1]) == ["a069"] and len(second) == 50
    at.button(key="explore_older").click().run()
    third = at.dataframe[0].value
    assert list(third["id"]) == [f"a{i:03d}" for i in range(19, -1, -1)]
    assert at.button(key="explore_older").disabled
    at.button(key="explore_newer").click().run()
    assert list(at.dataframe[0].value["id"][:1]) == ["a069"]


def test_a_page_turn_reads_its_page_once(known, sign_in, monkeypatch):
    # The click's own run shows the new page: no second run (st.rerun) to read it again.
    from dashboard import explore_queries

    reads: list[object] = []
    real = explore_queries.count_and_page

    def counted(*args: object, **kwargs: object) -> explore_queries.Snapshot:
        reads.append(kwargs.get("after"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(explore_queries, "count_and_page", counted)
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="user:u_ann").run()
    reads.clear()
    at.button(key="explore_older").click().run()
    assert list(at.dataframe[0].value["id"][:1]) == ["a069"]
    assert len(reads) == 1 and reads[0] is not None
    reads.clear()
    at.button(key="explore_newer").click().run()
    assert list(at.dataframe[0].value["id"][:1]) == ["a119"]
    assert reads == [None]


def test_event_detail_shows_json_and_the_sessions_other_events(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="family:config_change").run()
    at.text_input(key="explore_event_id").input("c3").run()
    assert not at.exception
    assert any('"threshold": 200' in j.value or "200" in j.value for j in at.json)
    session_table = at.dataframe[1].value
    assert set(session_table["id"]) == {f"c{i}" for i in range(7)}
    (viewed,) = _audit(known, "org_a", "view_entry")
    assert viewed["details"]["event_id"] == "c3"
    # The session's events become a filter with one click.
    at.button(key="explore_session_drill").click().run()
    assert at.text_input(key="explore_query").value == "session:s_bob"


@pytest.mark.parametrize(
    ("role", "can_export", "has_button"),
    [
        ("analyst", False, False),
        ("analyst", True, True),
        ("auditor", False, True),
        ("admin", False, True),
    ],
)
def test_export_button_follows_the_role(known, sign_in, role, can_export, has_button):
    token = sign_in("ann@company.com", "org_a", role, can_export=can_export)
    at = page_test("explore.py", token).run()
    assert not at.exception
    links = [m.value for m in at.markdown if 'id="explore_download"' in m.value]
    assert bool(links) is has_button


def test_export_from_explore_is_escaped_recorded_and_isolated(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="resource:payment-logs").run()
    assert _metric(at) == "1"  # org_b's payment-logs events are not org_a's
    assert not at.exception
    response = fetch_download(known, download_url(at, "explore_download"), token)
    assert response.status_code == 200
    with known.org_session("org_a") as s:
        record = s.execute("SELECT * FROM org_audit_exports").dicts()[0]
    assert record["row_count"] == 1 and record["exported_by"] == "ann@company.com"
    assert record["filter"]["query"] == "resource:payment-logs"
    assert record["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert response.content.count(b"\r\n") == 2  # header and org_a's one event


def test_another_organisation_is_invisible(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "admin")
    at = page_test("explore.py", token, q="user:u_mal", org="org_b").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="auditlens_org").value == "org_a"
    assert _metric(at) == "0"
    at.text_input(key="explore_event_id").input("b1").run()
    assert md("No event 'b1' in org_a") in at.warning[0].value


def test_a_broad_raw_timeline_is_drawn_on_request(known, sign_in, monkeypatch):
    """Over COUNT_CAP matches that the read model cannot chart, the page does not count them
    all on every view: it says so and draws the timeline when asked."""
    from dashboard import explore_queries

    monkeypatch.setattr(explore_queries, "COUNT_CAP", 50)
    token = sign_in("ann@company.com", "org_a", "analyst")
    at = page_test("explore.py", token, q="user:u_ann").run()  # 120 events: capped
    assert not at.exception
    assert _metric(at) == "more than 50"
    assert not at.get("plotly_chart")
    assert any("More than 50 events match" in i.value for i in at.info)
    assert len(at.dataframe[0].value) > 0  # the events are listed all the same
    at.button(key="explore_draw_timeline").click().run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    # A filter the read model answers is counted exactly and charted at once, however many
    # events match.
    at = page_test("explore.py", token, q="family:log_access").run()
    assert int(_metric(at).replace(",", "")) > 50 and len(at.get("plotly_chart")) == 1
