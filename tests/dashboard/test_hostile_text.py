"""Attacker-controlled text (a shared ?q= link, an ingested email, user or session id, a
finding's explanation) is shown as text: no link, image, code-span break-out or heading in
Streamlit's Markdown, no link in a Plotly label, on every page that shows it."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from dashboard.charts import matrix_figure, ranking_figure, timeline_figure
from dashboard.markdown_text import md
from dashboard.plot_text import plot_text, template_text
from detection.findings import DetectionRun, Finding, save_findings
from sql.event_store import insert_events
from tests.dashboard.conftest import page_test
from tests.factories import event_row

PHISH = "![x](http://host/i.png) [Session expired](http://host/phish)"
# Markup that would be live: an image or link opener, an autolink, raw HTML, a code span end.
_LIVE = re.compile(r"(?<!\\)(!\[|\]\(|<|`|\$|https?:)")
_DAY = datetime(2025, 1, 15, 9, tzinfo=UTC)


def _rendered(at) -> list[str]:
    """Every Markdown text the page rendered from its data-bearing elements."""
    texts = []
    for kind in ("markdown", "caption", "title", "header", "subheader"):
        texts += [e.value for e in at.get(kind)]
    for kind in ("error", "warning", "info", "success"):
        texts += [e.value for e in at.get(kind)]
    texts += [m.label for m in at.metric]
    # The download links are the widget's own escaped HTML, not data in Markdown.
    return [t for t in texts if not t.startswith("<a id=")]


def _assert_inert(texts: list[str]) -> None:
    for text in texts:
        assert _LIVE.search(text) is None, text


def test_markdown_escaper_leaves_nothing_active():
    escaped = md(PHISH + " `x` <b> *a* _b_ ~c~ $d$ :smile: :red[e] # h & &amp; \\ | @ www.x.io")
    assert "\n" not in md("a\n# heading\r\n- item")
    for active in ("![", "](", "`", "<", "*", "_", "~", "$", "#", "&", "|", "@", "[", ".", "\\"):
        # Each active character comes only after a backslash.
        assert all(escaped[i - 1] == "\\" for i in _positions(escaped, active[0])), active
    # An emoji or icon shortcode no longer reads as one (a word joiner follows each colon).
    assert ":smile:" not in escaped and ":red[" not in escaped
    assert md("plain words 123") == "plain words 123"


def _positions(text: str, char: str) -> list[int]:
    positions = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2  # an escape and what it escapes
            continue
        if text[i] == char:
            positions.append(i)
        i += 1
    return positions


def test_plot_text_escapes_plotlys_html():
    assert (
        plot_text('<a href="http://x">u</a> & b') == '&lt;a href="http://x"&gt;u&lt;/a&gt; &amp; b'
    )
    assert template_text("%{customdata} <br>") == "&#37;{customdata} &lt;br&gt;"


def test_chart_labels_from_data_are_text():
    hostile = '<a href="http://host/phish">u</a>'
    matrix = pd.DataFrame({"2025-01-15": [3]}, index=[hostile])
    spec = json.loads(matrix_figure(matrix, "t", "day", "user").to_json())
    assert spec["data"][0]["y"] == [plot_text(hostile)]
    assert spec["layout"]["yaxis"]["categoryarray"] == [plot_text(hostile)]
    assert spec["data"][0]["customdata"] == [[hostile, "2025-01-15"]]  # the drill-down's key
    ranking = ranking_figure(
        pd.DataFrame({"label": [hostile], "events": [2], "user_id": [hostile]}),
        "label",
        "events",
        ["user_id"],
        "Top users",
    )
    assert list(ranking.data[0].y) == [plot_text(hostile)]
    timeline = timeline_figure(
        pd.DataFrame(
            {
                "bucket": [pd.Timestamp(_DAY)],
                "event_type": ["<b>%{x}</b>"],
                "event_action": ["search"],
                "events": [1],
            }
        )
    )
    assert timeline.data[0].name == "&lt;b&gt;%{x}&lt;/b&gt;"
    assert "<b>" not in timeline.data[0].hovertemplate.replace("<br>", "")
    assert "&#37;{x}" in timeline.data[0].hovertemplate


def test_a_shared_explore_link_cannot_render_a_link_or_fetch_an_image(dashboard_db, sign_in):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q=f'"{PHISH}"').run()
    assert not at.exception
    texts = _rendered(at)
    _assert_inert(texts)
    showing = next(t for t in texts if t.startswith("Showing"))
    assert md("[Session expired](http://host/phish)") in showing


def test_session_id_and_actions_stay_text_in_the_event_detail(dashboard_db, sign_in):
    hostile_session = "s`](http://host/x) **b** `<img src=http://host/i.png>"
    with dashboard_db.writer() as s:
        insert_events(
            s,
            [
                event_row(
                    id="evt_hostile",
                    event_time=_DAY,
                    session_id=hostile_session,
                    event_action="[click](http://host/phish)",
                )
            ],
        )
    at = page_test("explore.py", sign_in("ann@company.com", "org_a", "auditor")).run()
    at.text_input(key="explore_event_id").input("evt_hostile").run()
    assert not at.exception
    _assert_inert(_rendered(at))
    assert any(md(hostile_session) in m.value for m in at.markdown)
    assert at.subheader[-1].value == f"log\\_access · {md('[click](http://host/phish)')}"


def test_an_email_with_markdown_is_text_in_the_users_headings_and_chart(dashboard_db, sign_in):
    email = "[Session expired](http://host/phish) **boss** $x$"
    user_id = '<a href="http://host/phish">u</a>'
    with dashboard_db.writer() as s:
        insert_events(s, [event_row(event_time=_DAY, user_id=user_id, user_email=email)])
    at = page_test("users.py", sign_in("lead@company.com", "org_a", "analyst")).run()
    at.selectbox(key="users_period_preset").set_value("Custom days").run()
    at.date_input(key="users_period_days").set_value((date(2025, 1, 14), date(2025, 1, 15))).run()
    assert not at.exception
    _assert_inert(_rendered(at))
    assert at.subheader[0].value == f"When {md(email)} works (UTC)"
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        shown = json.dumps(
            [
                spec["layout"],
                [{k: v for k, v in t.items() if k != "customdata"} for t in spec["data"]],
            ]
        )
        assert "<a " not in shown, spec["layout"]["title"]


def test_a_findings_explanation_is_text_on_anomalies(dashboard_db, sign_in):
    run = DetectionRun(_DAY.date(), _DAY.date(), "test", ["rule"], None, {}, {}, 1)
    save_findings(
        dashboard_db,
        "org_a",
        run,
        [
            Finding(
                user_id="u_x",
                user_email="**x**@company.com",
                day=_DAY.date(),
                window_start=_DAY,
                window_end=_DAY + timedelta(days=1),
                score=0.9,
                severity="high",
                detectors=["rule"],
                title="# Searched [Session expired](http://host/phish)",
                explanation=f"searched for {PHISH}",
                evidence_query="user:u_x",
            )
        ],
    )
    at = page_test("anomalies.py", sign_in("ann@company.com", "org_a", "analyst")).run()
    at.session_state["anomalies_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    _assert_inert(_rendered(at))
    assert any(m.value == md(f"searched for {PHISH}") for m in at.markdown)
    assert at.subheader[0].value == md("# Searched [Session expired](http://host/phish)")
    assert any(md("**x**@company.com") in m.value for m in at.markdown)
