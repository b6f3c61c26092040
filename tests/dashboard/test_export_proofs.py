"""Explore's export with proofs: the downloaded file verifies offline with only the public key
(`auditlens verify-export`), and an edited row, an unsealed row or another key fails."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from integrity import keys as keymod
from integrity.proof import check_export
from integrity.seal import seal_organization
from sql.event_filter import EventFilter
from sql.event_store import insert_events
from tests.dashboard.conftest import download_url, fetch_download, page_test
from tests.factories import event_row
from usecases.exports import Exporter, export_events

ANN = Exporter(user_id="u_ann", email="ann@example.com", session_id="dash_1")
RECENT = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def public(key, tmp_path: Path) -> Path:
    path = tmp_path / "seal.pub"
    path.write_text(keymod.public_pem(key.public))
    return path


@pytest.fixture
def sealed(db, key):
    rows = [
        event_row(id="e1", event_time=RECENT, user_id="=HYPERLINK(1)", details={"n": "1.50"}),
        event_row(id="e2", event_time=RECENT, user_id="bob", resource_id="payment-logs"),
        event_row(id="e3", event_time=RECENT, user_email=None, ip_address="2001:db8::1"),
        event_row(id="b1", organization_id="org_b", event_time=RECENT, user_id="bob"),
    ]
    with db.writer() as w:
        insert_events(w, rows)
    seal_organization(db, "org_a", key)
    seal_organization(db, "org_b", key)
    return db


def _export(db, tmp_path: Path, fmt: str, query: str = "") -> Path:
    out = io.BytesIO()
    result = export_events(
        db, "org_a", EventFilter.parse(query), fmt, out, exporter=ANN, with_proofs=True
    )
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(out.getvalue())
    assert result.rows == len(path.read_text().strip().splitlines()) - (fmt == "csv")
    return path


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_dashboard_export_verifies_offline_and_an_edit_fails(sealed, key, public, tmp_path, fmt):
    path = _export(sealed, tmp_path, fmt)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify-export", str(path), "--public-key", str(public)])
    assert ok.exit_code == 0, ok.output
    assert "3 of 3 row(s) verified against 1 seal(s)" in ok.output

    path.write_text(path.read_text().replace("bob", "eve", 1))
    bad = runner.invoke(app, ["verify-export", str(path), "--public-key", str(public)])
    assert bad.exit_code == 1
    assert "event e2: the row does not match its sealed leaf" in bad.output
    assert "2 of 3 row(s) verified" in bad.output


def test_the_filter_applies_and_other_organisations_stay_out(sealed, key, tmp_path):
    path = _export(sealed, tmp_path, "csv", "resource:payment-logs")
    with path.open(newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["e2"]
    report = check_export(path, keymod.PublicKeys({key.key_id: key.public}))
    assert report.clean and report.rows == 1


def test_rows_not_sealed_yet_carry_no_proof_and_fail(sealed, key, tmp_path):
    with sealed.writer() as w:
        insert_events(w, [event_row(id="late", event_time=RECENT)])
    report = check_export(
        _export(sealed, tmp_path, "ndjson"), keymod.PublicKeys({key.key_id: key.public})
    )
    assert report.verified == 3 and report.rows == 4
    assert report.problems == ["line 4: event late: no proof (not sealed yet?)"]


def test_another_key_does_not_verify_it(sealed, tmp_path):
    stranger = keymod.generate()
    report = check_export(
        _export(sealed, tmp_path, "csv"), keymod.PublicKeys({stranger.key_id: stranger.public})
    )
    assert report.verified == 0
    assert "not among the trusted public keys" in report.problems[0]


def test_the_export_is_recorded_as_one_with_proofs(sealed, tmp_path):
    _export(sealed, tmp_path, "csv")
    with sealed.org_session("org_a") as s:
        (record,) = s.execute("SELECT * FROM org_audit_exports").dicts()
    assert record["export_kind"] == "events_with_proofs" and record["row_count"] == 3
    assert record["exported_by"] == "ann@example.com"


def test_explore_offers_proofs_to_exporters(sealed, sign_in):
    token = sign_in("ann@company.com", "org_a", "auditor")
    at = page_test("explore.py", token).run()
    assert not at.exception
    at.checkbox(key="explore_export_proofs").check().run()
    assert not at.exception
    response = fetch_download(sealed, download_url(at, "explore_download"), token)
    assert response.status_code == 200 and b"proof" in response.content.split(b"\n", 1)[0]
    with sealed.org_session("org_a") as s:
        (record,) = s.execute("SELECT * FROM org_audit_exports").dicts()
    assert record["export_kind"] == "events_with_proofs"
    assert record["exported_by"] == "ann@company.com"
