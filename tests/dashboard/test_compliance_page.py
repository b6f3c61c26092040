"""The Compliance page and the shared access report: the known figures, the per-user table,
CSV and HTML that state the exact filter and who made them, every download recorded, role
rules for downloads, escaping of hostile cells, and organisation isolation."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, timedelta

from sql.event_store import insert_events
from tests.dashboard.conftest import (
    download_url,
    fetch_download,
    page_test,
    run_compliance_report,
)
from tests.dashboard.known_data import FIRST_DAY, LAST_DAY, seed
from tests.factories import event_row
from usecases import access_report
from usecases.exports import Exporter


def test_report_shows_who_accessed_the_resource(dashboard_db, sign_in):
    seed(dashboard_db)
    token = sign_in("aud@company.com", "org_a", "auditor")
    at = run_compliance_report(page_test("compliance.py", token).run())
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Accesses": "7",
        "Users": "1",
        "First access": "2025-01-15 02:00 UTC",  # the first export
        "Last access": "2025-01-15 14:04 UTC",  # the fifth search
    }
    by_user = at.dataframe[0].value
    assert list(by_user["user_email"]) == ["john@company.com"]
    assert list(by_user["accesses"]) == [7] and list(by_user["active_days"]) == [1]
    assert list(by_user["first_day"]) == list(by_user["last_day"]) == [date(2025, 1, 15)]
    events = at.dataframe[1].value
    assert len(events) == 7 and events["event_time"].is_monotonic_increasing
    assert 'resource is "payment-logs"' in at.markdown[0].value
    # The query is stated once (at the top), and the events still open in Explore.
    assert [c.value for c in at.code].count(
        "resource_type:source resource:payment-logs created:2025-01-13..2025-01-16"
    ) == 1
    assert at.button(key="compliance_events_drill").label == "Show these events in Explore"
    assert [b.key for b in at.get("download_button")] == ["compliance_html"]
    response = fetch_download(dashboard_db, download_url(at, "compliance_csv"), token)
    assert response.status_code == 200 and response.content.count(b"\r\n") == 8  # header + 7
    with dashboard_db.org_session("org_a") as s:
        reports = s.execute(
            "SELECT details FROM org_audit_events WHERE event_action = 'generate_report'"
        ).rows
    assert len(reports) == 1
    assert (
        reports[0][0]["query"]
        == "resource_type:source resource:payment-logs created:2025-01-13..2025-01-16"
    )


def test_analyst_without_export_right_gets_no_download(dashboard_db, sign_in):
    seed(dashboard_db)
    at = run_compliance_report(
        page_test("compliance.py", sign_in("an@company.com", "org_a", "analyst")).run()
    )
    assert not at.exception
    assert not at.get("download_button")
    assert not [m for m in at.markdown if "compliance_csv" in m.value]
    assert any("not download" in c.value for c in at.caption)
    allowed = sign_in("ex@company.com", "org_a", "analyst", can_export=True)
    at = run_compliance_report(page_test("compliance.py", allowed).run())
    assert len(at.get("download_button")) == 1
    assert download_url(at, "compliance_csv").startswith("/_auditlens/export/")


def test_other_organisation_sees_no_access_to_our_resource(dashboard_db, sign_in):
    seed(dashboard_db)
    at = run_compliance_report(
        page_test("compliance.py", sign_in("eve@org-b.com", "org_b", "admin")).run()
    )
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Accesses"] == "0"
    assert any("Nobody accessed" in i.value for i in at.info)


def test_bad_input_names_the_field(dashboard_db, sign_in):
    at = run_compliance_report(
        page_test("compliance.py", sign_in("aud@company.com", "org_a", "auditor")).run(),
        resource=" ",
    )
    assert not at.exception
    assert at.error[0].value.startswith("resource:")


def _exporter():
    return Exporter(user_id="u_aud", email="aud@company.com")


def test_csv_and_html_state_the_filter_escape_cells_and_are_recorded(dashboard_db):
    seed(dashboard_db)
    hostile = event_row(
        event_time=datetime(2025, 1, 16, 9, tzinfo=UTC),
        user_id="u_eve",
        user_email='=HYPERLINK("http://evil")',
        resource_type="source",
        resource_id="payment-logs",
        details={"query": "<script>alert(1)</script>"},
    )
    with dashboard_db.writer() as s:
        insert_events(s, [hostile])
    query = access_report.access_query("payment-logs", "source", FIRST_DAY, LAST_DAY)
    report = access_report.build_access_report(
        dashboard_db,
        "org_a",
        query,
        generated_by="aud@company.com",
        now=datetime(2025, 2, 1, 12, tzinfo=UTC),
    )
    assert report.summary["accesses"] == 8 and report.summary["users"] == 2

    out = io.BytesIO()
    result = access_report.write_csv(dashboard_db, "org_a", report, out, exporter=_exporter())
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    with dashboard_db.org_session("org_a") as s:
        expected = [
            r[0]
            for r in s.execute(
                "SELECT id FROM org_audit_events WHERE resource_id = 'payment-logs'"
                " ORDER BY event_time, ingest_seq"
            ).rows
        ]
    assert [r["id"] for r in rows] == expected and result.rows == 8
    assert '\'=HYPERLINK("http://evil")' in {r["user_email"] for r in rows}

    page = io.BytesIO()
    html_result = access_report.write_html(
        dashboard_db, "org_a", report, page, exporter=_exporter()
    )
    text = page.getvalue().decode("utf-8")
    assert report.description in text.replace("&quot;", '"')
    assert "Generated by</dt><dd>aud@company.com" in text
    assert "2025-02-01 12:00:00 UTC" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    # The printable report's additions, counted from every event when it is made.
    assert "Log records touched</dt><dd>2,729</dd>" in text  # 5 x 47 results + 2 x 1,247
    assert "IP addresses</dt><dd>2</dd>" in text and "<td>export, search</td>" in text
    assert html_result.sha256 == hashlib.sha256(page.getvalue()).hexdigest()
    with dashboard_db.org_session("org_a") as s:
        recorded = s.execute(
            "SELECT export_kind, export_format, row_count, sha256, filter_text"
            " FROM org_audit_exports ORDER BY exported_at, export_kind"
        ).dicts()
    kinds = {(r["export_kind"], r["export_format"]): r for r in recorded}
    assert kinds[("access_report", "html")]["sha256"] == html_result.sha256
    assert kinds[("events", "csv")]["row_count"] == 8
    assert kinds[("access_report", "html")]["filter_text"] == report.description


def test_report_counts_equal_raw_events_rolled_up_or_not(dashboard_db):
    """The read model's per-user table (rolled-up days plus events past the watermark) equals
    grouping the raw events; a resource id under two types gets a row per user and type."""
    from sql.read_model import ReadModel

    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    rows = [
        event_row(
            event_time=t0 + timedelta(hours=7 * i),
            user_id=f"u_{i % 4}",
            user_email=f"user{i % 4}@company.com",
            resource_type="source" if i % 5 else "dashboard",
            resource_id="hr-events",
            event_action=("search", "view_logs", "export")[i % 3],
            ip_address=(None, "10.0.0.1", "10.0.0.2", "2001:db8::1")[i % 4 if i % 7 else 0],
            details=({"results_count": i}, {"recordCount": 1_000 + i}, {"note": 1})[i % 3],
        )
        for i in range(60)
    ]
    with dashboard_db.writer() as s:
        insert_events(s, rows[:30])
    ReadModel(dashboard_db).refresh()
    with dashboard_db.writer() as s:
        insert_events(s, rows[30:])  # past the watermark
    first, last = date(2025, 3, 2), date(2025, 3, 12)
    query = access_report.access_query("hr-events", None, first, last)
    report = access_report.build_access_report(dashboard_db, "org_a", query, generated_by="t")
    with dashboard_db.org_session("org_a") as s:
        want = s.execute(
            "SELECT user_id, max(user_email), count(*), min(event_time AT TIME ZONE 'UTC')::date,"
            " max(event_time AT TIME ZONE 'UTC')::date,"
            " count(DISTINCT (event_time AT TIME ZONE 'UTC')::date), resource_type"
            " FROM org_audit_events WHERE resource_id = 'hr-events'"
            " AND event_time >= '2025-03-02' AND event_time < '2025-03-13'"
            " GROUP BY user_id, resource_type ORDER BY 3 DESC, 1, 7"
        ).rows
    got = report.by_user.sort_values(
        ["accesses", "user_id", "resource_type"], ascending=[False, True, True]
    )
    assert [tuple(r) for r in got.itertuples(index=False)] == [tuple(r) for r in want]
    assert report.summary["accesses"] == sum(r[2] for r in want) > 30
    assert report.summary["users"] == 4 and set(report.resource_types) == {"source", "dashboard"}

    # The printable report's additions (read model) equal the raw aggregation, in the HTML.
    details = access_report.access_details(dashboard_db, "org_a", report)
    where = "resource_id = 'hr-events' AND event_time >= '2025-03-02' AND event_time < '2025-03-13'"
    with dashboard_db.org_session("org_a") as s:
        by_action = s.execute(
            f"SELECT event_type, event_action, count(*) FROM org_audit_events WHERE {where}"
            " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
        ).rows
        per_user = s.execute(
            "SELECT user_id, string_agg(DISTINCT event_action, ', ' ORDER BY event_action),"
            " coalesce(sum(auditlens_records_touched(details)), 0),"
            " string_agg(DISTINCT host(ip_address), ', ')"
            f" FROM org_audit_events WHERE {where} GROUP BY 1 ORDER BY 1"
        ).rows
        records, ips = s.execute(
            "SELECT sum(auditlens_records_touched(details)), count(DISTINCT ip_address)"
            f" FROM org_audit_events WHERE {where}"
        ).rows[0]
    assert [tuple(r) for r in details.by_action.itertuples(index=False)] == by_action
    got_users = details.by_user.sort_values("user_id")
    per_user = [(u, a, int(n), h) for u, a, n, h in per_user]
    got_rows = [(u, a, n, h if isinstance(h, str) else None) for u, a, n, h in got_users.values]
    assert got_rows == per_user
    assert (details.records, details.ip_addresses) == (records, ips) and ips == 3
    assert records > 10_000  # exports' recordCount and searches' results_count, not notes
    text = access_report.report_html(report, details)
    assert f"Log records touched</dt><dd>{records:,}</dd>" in text
    assert "IP addresses</dt><dd>3</dd>" in text
    for user_id, actions, user_records, hosts in per_user:
        # Each user's row (one per type) carries its figures over every type.
        cells = f"<td>{actions}</td><td class='n'>{user_records:,}</td><td>{hosts}</td>"
        assert text.count(cells if hosts else cells[: -len("<td>None</td>")]) == 2, user_id
    for event_type, action, n in by_action:
        assert f"<td>{event_type}</td><td>{action}</td><td class='n'>{n}</td>" in text
