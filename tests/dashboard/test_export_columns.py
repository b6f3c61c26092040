"""One column set for every export, with or without proofs; a proof export over events no
seal covers says why they will have no proof, and how to seal."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from dashboard.download_route import download_link
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import fetch_download, page_test
from tests.factories import event_row

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
COLUMNS = [
    "id", "event_time", "event_type", "event_action", "user_id", "user_email", "ip_address",
    "user_agent", "resource_type", "resource_id", "details", "session_id", "ingest_seq",
]  # fmt: skip


def _seed(db):
    rows = [event_row(id=f"e{i}", event_time=T0 + timedelta(minutes=i)) for i in range(2)]
    with db.writer() as session:
        insert_events(session, rows)


def test_exports_with_and_without_proofs_share_their_columns(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "auditor")
    every = EventFilter()
    plain = fetch_download(
        dashboard_db, download_link(token, "org_a", every, "csv", file_name="a.csv"), token
    )
    proven = fetch_download(
        dashboard_db,
        download_link(token, "org_a", every, "csv", with_proofs=True, file_name="b.csv"),
        token,
    )
    plain_rows = list(csv.reader(io.StringIO(plain.text)))
    proven_rows = list(csv.reader(io.StringIO(proven.text)))
    assert plain_rows[0] == COLUMNS
    assert proven_rows[0] == [*COLUMNS, "proof"]
    assert [r[0] for r in proven_rows[1:]] == [r[0] for r in plain_rows[1:]] == ["e0", "e1"]
    assert [r[-2] for r in proven_rows[1:]] == [r[-1] for r in plain_rows[1:]]  # ingest_seq
    ndjson = fetch_download(
        dashboard_db,
        download_link(token, "org_a", every, "ndjson", with_proofs=True, file_name="c.ndjson"),
        token,
    )
    first = json.loads(ndjson.text.splitlines()[0])
    assert list(first) == [*COLUMNS, "proof"]


def test_asking_for_proofs_when_nothing_is_sealed_says_why_and_how(dashboard_db, sign_in):
    _seed(dashboard_db)
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token, q="family:log_access").run()
    assert not at.warning
    at.checkbox(key="explore_export_proofs").check().run()
    assert not at.exception
    (warning,) = at.warning
    assert "Nothing in this organisation is sealed yet" in warning.value
    assert "`auditlens seal`" in warning.value
    assert "`auditlens signing-key create --out seal.pem`" in warning.value
