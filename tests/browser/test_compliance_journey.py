"""The compliance officer's journey in a real browser: "who accessed payment logs last
quarter?" answered by typing a name into the Compliance page's resource picker, then the CSV
and the printable report downloaded through the page's links. Both files hold the page's
figures (accesses, users, each user's accesses) and each download is recorded as an export."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser

import pytest
from playwright.sync_api import expect

from sql.catalogue import Entry, set_entries
from sql.event_store import insert_events
from tests.browser.script_state import wait_idle
from tests.browser.test_investigation import _expect_metric, _sign_in
from tests.factories import event_row
from usecases.accounts import add_user

PAYMENT = "source_payment_logs"
PAYMENT_LABEL = "Payment logs — source_payment_logs"
# Accesses to payment logs inside last quarter, per user.
IN_QUARTER = {"u_alice": 3, "u_bob": 2, "u_carol": 1}
# Waits on a loaded machine (CI runs several browsers at once); not what the test asserts.
LOADED = 30_000


def last_quarter(today: date) -> tuple[date, date]:
    """The calendar quarter before the one `today` is in: its first and last day."""
    this_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_day = this_start - timedelta(days=1)
    return date(last_day.year, 3 * ((last_day.month - 1) // 3) + 1, 1), last_day


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def _seed(db, first: date, last: date) -> None:
    """Payment logs read by three users in the quarter, and what must not count: the same
    resource the day before and the day after the quarter, a look-alike resource, and another
    organisation's payment logs."""
    set_entries(
        db,
        "org_a",
        [
            Entry(PAYMENT, "restricted", display_name="Payment logs", resource_type="source"),
            Entry("payment_archive", "confidential", display_name="Payment archive"),
            Entry("source_production_api", "internal", display_name="Production API"),
        ],
        actor="t",
        via="cli",
    )
    rows = []
    for n, (user, count) in enumerate(IN_QUARTER.items()):
        for i in range(count):
            rows.append(
                event_row(
                    user_id=user,
                    user_email=f"{user[2:]}@company.com",
                    resource_id=PAYMENT,
                    event_action="search" if i % 2 == 0 else "view",
                    event_time=_at(first + timedelta(days=10 * n + i), 9 + i),
                )
            )
    outside = [
        (_at(first - timedelta(days=1), 12), PAYMENT, "org_a"),
        (_at(last + timedelta(days=1), 0), PAYMENT, "org_a"),
        (_at(first + timedelta(days=5), 12), "payment_archive", "org_a"),
        (_at(first + timedelta(days=5), 12), PAYMENT, "org_b"),
    ]
    for when, resource, org in outside:
        rows.append(
            event_row(
                organization_id=org,
                user_id="u_dave",
                user_email="dave@company.com",
                resource_id=resource,
                event_time=when,
            )
        )
    with db.writer() as session:
        insert_events(session, rows)


def _set_day(page, label: str, day: date) -> None:
    """Type a day into a date field, segment by segment (year, month, day), as a user would."""
    page.get_by_role("spinbutton", name=f"year, {label}").click()
    page.keyboard.type(f"{day:%Y%m%d}")
    page.keyboard.press("Tab")
    hidden = page.get_by_test_id("stDateInput").filter(has_text=label).locator("input")
    expect(hidden).to_have_value(day.isoformat(), timeout=LOADED)


def _grid_rows(table) -> list[list[str]]:
    """The visible cells of a dataframe, row by row (its accessible grid, header first)."""
    table.wait_for()
    rows = table.locator('[role="row"]')
    return [
        [
            cell.strip()
            for cell in row.locator('[role="gridcell"], [role="columnheader"]').all_inner_texts()
        ]
        for row in rows.all()
    ]


class _ReportParser(HTMLParser):
    """The printable report's summary (<dt>/<dd>) and tables (section title -> rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._section = ""
        self._tag = ""
        self._text = ""
        self._term = ""
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in {"h2", "dt", "dd", "td", "th"}:
            self._tag, self._text = tag, ""
        elif tag == "tr":
            self._row = []

    def handle_data(self, data):
        if self._tag:
            self._text += data

    def handle_endtag(self, tag):
        if tag != self._tag and tag != "tr":
            return
        text = self._text.strip()
        if tag == "h2":
            self._section = text
        elif tag == "dt":
            self._term = text
        elif tag == "dd" and self._section == "Summary":
            self.summary[self._term] = text
        elif tag in {"td", "th"} and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None
        if tag != "tr":
            self._tag = ""


def _download(page, link_id: str) -> bytes:
    with page.expect_download() as pending:
        page.locator(f"a#{link_id}").click()
    return pending.value.path().read_bytes()


@pytest.mark.browser
def test_who_accessed_payment_logs_last_quarter_by_name_with_both_files(dashboard, page):
    first, last = last_quarter(datetime.now(UTC).date())
    _seed(dashboard.db, first, last)
    added = add_user(dashboard.db, email="cora@company.com", org="org_a", role="auditor", actor="t")
    _sign_in(
        page, f"{dashboard.url}/compliance", "cora@company.com", str(added.password), "Compliance"
    )
    wait_idle(page)

    # Typing a word of the name offers the resources with that name, by name and id.
    picker = page.get_by_role("combobox", name="Resource")
    picker.click()
    page.keyboard.type("payment")
    options = page.get_by_role("option")
    expect(options).to_have_count(2, timeout=LOADED)
    assert sorted(options.all_inner_texts()) == ["Payment archive — payment_archive", PAYMENT_LABEL]
    page.get_by_role("option", name=PAYMENT_LABEL).click()
    _set_day(page, "From", first)
    _set_day(page, "To", last)
    page.get_by_role("button", name="Run report").click()

    # The page's answer: 6 accesses by 3 users, each user's count in the table.
    _expect_metric(page, "Accesses", "6")
    _expect_metric(page, "Users", "3")
    expect(page.get_by_text(f"Resource: {PAYMENT_LABEL}")).to_be_visible(timeout=LOADED)
    by_user = page.locator('[data-testid="stDataFrame"]').first
    expect(by_user).to_contain_text("alice@company.com", timeout=LOADED)
    grid = _grid_rows(by_user)
    header = grid[0]
    on_page = {row[header.index("User id")]: int(row[header.index("Accesses")]) for row in grid[1:]}
    assert on_page == IN_QUARTER

    # The CSV: one row per access, per user as on the page.
    raw_csv = _download(page, "compliance_csv")
    events = list(csv.DictReader(io.StringIO(raw_csv.decode("utf-8"))))
    assert len(events) == 6
    assert {e["resource_id"] for e in events} == {PAYMENT}
    assert Counter(e["user_id"] for e in events) == Counter(on_page)

    # The printable report: the same summary and per-user accesses.
    raw_html = _download(page, "compliance_html")
    report = _ReportParser()
    report.feed(raw_html.decode("utf-8"))
    assert (report.summary["Accesses"], report.summary["Users"]) == ("6", "3")
    who = report.tables["Who accessed it"]
    columns = who[0]
    in_report = {
        row[columns.index("user id")]: int(row[columns.index("accesses")]) for row in who[1:]
    }
    assert in_report == on_page
    assert re.search(rf"created:{first}\.\.{last}", raw_html.decode("utf-8"))

    # Each download is recorded: by whom, what, how many rows, the file's SHA-256.
    with dashboard.db.org_session("org_a") as session:
        exports = session.execute(
            "SELECT export_format, export_kind, row_count, sha256, exported_by"
            " FROM org_audit_exports ORDER BY export_id"
        ).rows
        recorded = session.execute(
            "SELECT details->>'format', details->>'sha256' FROM org_audit_events"
            " WHERE event_action = 'export' AND user_email = 'cora@company.com'"
            " ORDER BY event_time, ingest_seq"
        ).rows
    csv_sha, html_sha = hashlib.sha256(raw_csv).hexdigest(), hashlib.sha256(raw_html).hexdigest()
    assert exports == [
        ("csv", "events", 6, csv_sha, "cora@company.com"),
        ("html", "access_report", 6, html_sha, "cora@company.com"),
    ]
    assert recorded == [("csv", csv_sha), ("html", html_sha)]
