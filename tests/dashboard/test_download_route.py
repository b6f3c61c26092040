"""Downloads stream from the dashboard's download route: only to the browser of the session
that was offered the link, only while that session lives and may export, exactly the
filtered events of that organisation (escaped), each download recorded with the SHA-256 of
what was sent (one cut off partway as not completed), and nothing prepared, held or left on
disk in advance."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from datetime import UTC, datetime
from functools import partial

import pytest

from dashboard import download_route
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import download_url, fetch_download, page_test
from tests.factories import event_row
from usecases.accounts import end_session
from usecases.exports import REVIEW_THRESHOLD, Exporter, ExportStream


def _records(db, org="org_a"):
    with db.org_session(org) as s:
        return s.execute("SELECT * FROM org_audit_exports ORDER BY export_id").dicts()


def test_the_csv_streams_exactly_the_view_and_is_recorded(known, sign_in, tmp_path):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="user:u_ann").run()
    assert not at.exception
    assert "explore_export_file" not in at.session_state  # nothing prepared in advance
    response = fetch_download(known, download_url(at, "explore_download"), token)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="auditlens-org_a-events.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    with known.org_session("org_a") as s:
        want = [
            r[0]
            for r in s.execute(
                "SELECT id FROM org_audit_events WHERE user_id = 'u_ann'"
                " ORDER BY event_time, ingest_seq"
            ).rows
        ]
    assert [r["id"] for r in rows] == want and len(want) == 120
    (record,) = _records(known)
    assert record["row_count"] == 120 and record["exported_by"] == "ann@company.com"
    assert record["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert record["filter"]["query"] == "user:u_ann" and not record["flagged_for_review"]
    # A second click is a second export, recorded on its own.
    again = fetch_download(known, download_url(at, "explore_download"), token)
    assert again.content == response.content and len(_records(known)) == 2


def test_ndjson_of_the_view(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="user:u_ann").run()
    at.radio(key="explore_export_format").set_value("ndjson").run()
    response = fetch_download(known, download_url(at, "explore_download"), token)
    lines = response.content.decode("utf-8").splitlines()
    assert len(lines) == 120 and {json.loads(x)["user_id"] for x in lines} == {"u_ann"}
    assert _records(known)[0]["export_format"] == "ndjson"


def test_only_the_live_session_that_was_offered_it_downloads(known, sign_in):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="user:u_ann").run()
    url = download_url(at, "explore_download")
    other = sign_in("bob@company.com", "org_a", "auditor")
    assert fetch_download(known, url, None).status_code == 403  # no cookie
    assert fetch_download(known, url, other).status_code == 403  # another session's cookie
    assert fetch_download(known, url + "x", token).status_code == 404  # not a ticket
    end_session(known, token)
    assert fetch_download(known, url, token).status_code == 401  # signed out since
    assert _records(known) == []


def test_a_role_without_exports_gets_neither_link_nor_file(known, sign_in):
    token = sign_in("an@company.com", "org_a", "analyst")
    at = page_test("explore.py", token).run()
    assert not [m for m in at.markdown if "explore_download" in m.value]
    # A link made for the same session (say, before the right was taken away) is refused.
    url = download_route.download_link(token, "org_a", EventFilter(), "csv", file_name="x.csv")
    response = fetch_download(known, url, token)
    assert response.status_code == 403 and "exports" in response.text
    assert _records(known) == []


def test_an_expired_link_says_so(known, sign_in, monkeypatch):
    token = sign_in("ann@company.com", "org_a", "auditor")
    url = download_route.download_link(token, "org_a", EventFilter(), "csv", file_name="x.csv")
    later = time.monotonic() + download_route.TICKET_TTL_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    response = fetch_download(known, url, token)
    assert response.status_code == 404 and "expired" in response.text


def test_unsafe_file_names_are_refused():
    with pytest.raises(ValueError, match="file_name"):
        download_route.download_link("t", "org_a", EventFilter(), "csv", file_name='a"b.csv')


def test_large_downloads_are_flagged_and_cells_escaped(dashboard_db, sign_in):
    rows = [
        event_row(
            event_time=datetime(2025, 1, 1, tzinfo=UTC),
            user_id="u_x",
            user_email="=cmd|' /C calc'!A0" if i == 0 else "x@company.com",
        )
        for i in range(REVIEW_THRESHOLD + 1)
    ]
    with dashboard_db.writer() as s:
        insert_events(s, rows)
    token = sign_in("ann@company.com", "org_a", "auditor")
    url = download_route.download_link(
        token, "org_a", EventFilter.parse("user:u_x"), "csv", file_name="big.csv"
    )
    response = fetch_download(dashboard_db, url, token)
    assert response.status_code == 200
    (record,) = _records(dashboard_db)
    assert record["row_count"] == REVIEW_THRESHOLD + 1 and record["flagged_for_review"]
    assert b"'=cmd|' /C calc'!A0" in response.content


def test_an_export_cut_off_is_recorded_as_not_completed(known):
    stream = ExportStream(
        known, "org_a", EventFilter(), "csv", exporter=Exporter(user_id="u"), batch_size=10
    )
    chunks = iter(stream)
    first = next(chunks)
    chunks.close()  # the browser went away: 10 rows (and the header) had been handed out
    (record,) = _records(known)  # the row written before the first chunk, now ended
    assert not record["completed"] and record["row_count"] == 10
    assert record["export_id"] == stream.export_id and record["ended_at"] is not None
    assert record["sha256"] == hashlib.sha256(first).hexdigest()
    assert stream.result is not None and stream.result.export_id == record["export_id"]
    with known.org_session("org_a") as s:
        (details,) = s.execute(
            "SELECT details FROM org_audit_events WHERE event_action = 'export'"
            " AND resource_type = 'audit_log'"
        ).rows[0]
    assert details["completed"] is False and details["records"] == 10
    chunks.close()  # closing again records nothing more
    assert len(_records(known)) == 1


def test_a_download_whose_client_goes_away_is_recorded(known, sign_in, monkeypatch):
    """Through the route: the connection fails after the first chunk of the body."""
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect

    from dashboard.session_cookie import COOKIE_NAME

    monkeypatch.setattr(download_route, "ExportStream", partial(ExportStream, batch_size=10))
    token = sign_in("ann@company.com", "org_a", "auditor")
    url = download_route.download_link(
        token, "org_a", EventFilter.parse("user:u_ann"), "csv", file_name="x.csv"
    )
    sent: list[bytes] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            if sent:
                raise OSError("connection reset by peer")
            sent.append(message["body"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"cookie", f"{COOKIE_NAME}={token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    app = Starlette(routes=download_route.download_routes(lambda: known))
    # In a thread of its own: an earlier test (Streamlit's AppTest) may leave an event loop
    # set on this one, and anyio.run refuses to nest.
    outcome: list[BaseException] = []

    def serve() -> None:
        try:
            anyio.run(app, scope, receive, send)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], ClientDisconnect), outcome
    (record,) = _records(known)
    assert not record["completed"] and record["exported_by"] == "ann@company.com"
    # The second chunk had been handed to the server when the connection failed: 20 rows at
    # most reached the browser, and the record says so.
    assert record["row_count"] == 20 and record["filter"]["query"] == "user:u_ann"


def test_the_printable_report_carries_no_proofs_and_unknown_formats_are_refused():
    with pytest.raises(ValueError, match="with_proofs"):
        download_route.download_link(
            "t", "org_a", EventFilter(), "html", file_name="a.html", with_proofs=True
        )
    with pytest.raises(ValueError, match="format must be one of csv, ndjson, html"):
        download_route.download_link("t", "org_a", EventFilter(), "pdf", file_name="a.pdf")
