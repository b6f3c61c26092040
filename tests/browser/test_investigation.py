"""THE real-browser test: an investigator signs in, filters through the query box, opens an
anomaly, drills down to its raw events and downloads them as CSV; the file's rows are exactly
the database's events for the evidence filter."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from playwright.sync_api import expect

from sql.event_filter import EventFilter
from tests.dashboard.known_data import seed_findings
from usecases.accounts import add_user

EVIDENCE = "user:u_john action:export created:2025-01-15..2025-01-15"


def _sign_in(page, url, email, password, heading="Overview"):
    """Sign in at `url` (the dashboard, or a link to one of its pages) and return once the
    page with `heading` shows and the browser holds the session cookie. The page posts its
    one-time ticket for the cookie after the sign-in run (dashboard/session_cookie.py): a
    test that navigates as soon as its page shows can leave before the cookie is set, and
    its next page is the sign-in form (seen in CI, on a loaded machine).

    A journey about another page signs in at that page's link, as a link from a ticket or a
    chat would: signing in at the Overview first would draw its three charts only to leave
    them, work that no assertion of such a test reads."""
    page.goto(url)
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(password)
    with page.expect_response(
        lambda r: r.url.endswith("/_auditlens/session") and r.request.method == "POST"
    ) as traded:
        page.get_by_role("button", name="Sign in").click()
    assert traded.value.status == 204, f"the session cookie was refused: {traded.value.status}"
    page.get_by_role("heading", name=heading).wait_for()


def _expect_metric(page, label, value):
    """The metric shows `value`, waiting for it: Streamlit redraws a page element by element,
    so the filter's caption can be new while the metric still shows the previous run's
    figure (seen on a loaded machine)."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text(value, timeout=30_000)


def _select_first_row(page, table):
    """Tick the row marker of the first data row (dataframes are drawn on a canvas)."""
    table.wait_for()
    box = table.bounding_box()
    assert box is not None
    table.hover()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)


def _expected_ids(db, org, query):
    where, params = EventFilter.parse(query).to_sql()
    with db.org_session(org) as s:
        rows = s.execute(
            f"SELECT id FROM org_audit_events WHERE {where} ORDER BY event_time, ingest_seq",
            params,
        ).rows
    return [r[0] for r in rows]


@pytest.mark.browser
def test_from_query_to_anomaly_to_evidence_csv(dashboard, page):
    seed_findings(dashboard.db)
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    _sign_in(page, dashboard.url, "ivy@company.com", str(added.password))

    # A filter through the query box.
    page.get_by_role("link", name="Explore").click()
    query_box = page.get_by_role("textbox", name="Query")
    query_box.fill("user:u_john family:log_access")
    query_box.press("Enter")
    page.get_by_text('Showing events where user (id or email) is "u_john"').wait_for()
    _expect_metric(page, "Matching events", "5")

    # Open the top anomaly and drill down to its raw evidence.
    page.get_by_role("link", name="Anomalies").click()
    page.get_by_role("heading", name="Anomalies").wait_for()
    _select_first_row(page, page.locator('[data-testid="stDataFrame"]').first)
    page.get_by_role("heading", name="Export at 2 a.m.").wait_for()
    page.get_by_role("button", name="Show these events in Explore").click()
    page.get_by_role("heading", name="Explore").wait_for()
    page.wait_for_url(lambda url: "q=" in url)
    # The URL changes before the rerun has drawn the box: wait for its value, not a snapshot.
    expect(page.get_by_role("textbox", name="Query")).to_have_value(EVIDENCE)
    page.get_by_text("Matching events").wait_for()
    _expect_metric(page, "Matching events", "2")

    # Download the evidence as CSV (streamed by the server's download route, which wants the
    # session cookie) and check it against the database and the export's record.
    download_link = page.get_by_role("link", name="Download 2 event(s) as CSV")
    with page.expect_download() as pending:
        download_link.click()
    raw = pending.value.path().read_bytes()
    data = raw.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(data)))
    expected = _expected_ids(dashboard.db, "org_a", EVIDENCE)
    assert len(expected) == 2
    assert [r["id"] for r in rows] == expected
    assert {r["event_action"] for r in rows} == {"export"}
    assert {r["user_email"] for r in rows} == {"john@company.com"}
    with dashboard.db.org_session("org_a") as session:
        (record,) = session.execute(
            "SELECT row_count, sha256, exported_by FROM org_audit_exports"
        ).dicts()
    assert record["row_count"] == 2 and record["exported_by"] == "ivy@company.com"
    assert record["sha256"] == hashlib.sha256(raw).hexdigest()


def _session_cookie(page):
    cookies = [c for c in page.context.cookies() if c["name"] == "auditlens_session"]
    return cookies[0] if cookies else None


@pytest.mark.browser
def test_a_reload_keeps_the_session_and_sign_out_ends_it(dashboard, page):
    added = add_user(dashboard.db, email="ivy@company.com", org="org_a", role="admin", actor="t")
    page.goto(dashboard.url)
    page.get_by_role("textbox", name="Email").fill("ivy@company.com")
    page.get_by_role("textbox", name="Password").fill(str(added.password))
    with page.expect_response(lambda r: r.url.endswith("/_auditlens/session")) as set_cookie:
        page.get_by_role("button", name="Sign in").click()
    assert set_cookie.value.status == 204
    page.get_by_role("heading", name="Overview").wait_for()

    # The browser holds an HttpOnly cookie with an opaque token whose hash is the session's.
    cookie = _session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    digest = hashlib.sha256(cookie["value"].encode()).hexdigest()
    with dashboard.db.admin() as s:
        stored = s.execute(
            "SELECT user_id FROM dashboard_sessions WHERE token_hash = :h AND ended_at IS NULL",
            {"h": digest},
        ).rows
    assert stored == [("ivy@company.com",)]
    assert cookie["value"] not in page.url
    assert "auditlens_session" not in page.evaluate("document.cookie")

    # A reload, and a new tab of the same browser, stay signed in.
    page.reload()
    page.get_by_role("heading", name="Overview").wait_for()
    other = page.context.new_page()
    other.goto(dashboard.url + "/explore")
    other.get_by_role("heading", name="Explore").wait_for()
    other.close()

    # Sign out: the session is revoked, the cookie dropped, and a reload shows sign-in.
    with page.expect_response(lambda r: r.url.endswith("/_auditlens/session/end")) as ended:
        page.get_by_role("button", name="Sign out").click()
    assert ended.value.status == 204
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    assert _session_cookie(page) is None
    with dashboard.db.admin() as s:
        revoked = s.scalar(
            "SELECT ended_at IS NOT NULL FROM dashboard_sessions WHERE token_hash = :h",
            {"h": digest},
        )
    assert revoked is True
    page.reload()
    page.get_by_role("heading", name="Sign in to AuditLens").wait_for()
    page.get_by_role("textbox", name="Email").wait_for()
    assert _session_cookie(page) is None
