"""An exported row proves itself offline with only the public key, and stops when edited."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrity import keys as keymod
from integrity.proof import check_export, proofs_for
from integrity.seal import seal_organization
from sql.event_store import insert_events
from sql.gateway import Database
from tests.factories import event_row
from tests.integrity.proof_export import export_with_proofs

ORG = "org_a"
RECENT = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


@pytest.fixture
def public(key, tmp_path: Path) -> Path:
    path = tmp_path / "seal.pub"
    path.write_text(keymod.public_pem(key.public))
    return path


@pytest.fixture
def trusted(key) -> keymod.PublicKeys:
    return keymod.PublicKeys({key.key_id: key.public})


@pytest.fixture
def stored(db: Database, key) -> list[str]:
    rows = [
        event_row(event_time=RECENT, details={"results_count": 47, "query": "=cmd|' /C calc'"}),
        event_row(event_time=RECENT, user_agent=None, user_email="", ip_address="2001:db8::1"),
        event_row(event_time=RECENT, resource_id="-1+1", details='{"price": 1.50, "n": 1e3}'),
    ]
    with db.writer() as w:
        insert_events(w, rows[:2])
    seal_organization(db, ORG, key)
    with db.writer() as w:
        insert_events(w, rows[2:])
    seal_organization(db, ORG, key)
    return [r[1] for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_verifies_offline_and_an_edit_fails(db, stored, trusted, tmp_path, fmt):
    out = tmp_path / f"events.{fmt}"
    written, proven, _ = export_with_proofs(db, ORG, out, fmt, "tester")
    assert (written, proven) == (3, 3)
    report = check_export(out, trusted)
    assert report.clean, report.problems
    assert report.verified == 3 and len(report.seals) == 2

    edited = tmp_path / f"edited.{fmt}"
    edited.write_text(out.read_text().replace("john@company.com", "jane@company.com", 1))
    report = check_export(edited, trusted)
    assert not report.clean
    assert len(report.problems) == 1
    assert "edited after sealing" in report.problems[0]
    assert stored[0] in report.problems[0]


def test_csv_cells_are_formula_safe_and_null_differs_from_empty(db, stored, trusted, tmp_path):
    out = tmp_path / "events.csv"
    export_with_proofs(db, ORG, out, "csv", "tester")
    rows = list(csv.DictReader(out.open()))
    assert rows[2]["resource_id"] == "'-1+1"
    second = rows[1]
    assert second["user_agent"] == "" and second["user_email"] == ""
    assert json.loads(second["proof"])["nulls"] == ["user_agent"]
    # Turning NULL into "" (or back) is an edit too.
    text = out.read_text()
    nulls_dropped = text.replace('""nulls"":[""user_agent""]', '""nulls"":[]')
    assert nulls_dropped != text
    edited = tmp_path / "edited.csv"
    edited.write_text(nulls_dropped)
    assert check_export(edited, trusted).verified == 2


def test_another_key_does_not_verify(db, stored, tmp_path):
    out = tmp_path / "events.ndjson"
    export_with_proofs(db, ORG, out, "ndjson", "tester")
    stranger = keymod.generate()
    report = check_export(out, keymod.PublicKeys({stranger.key_id: stranger.public}))
    assert report.verified == 0
    assert "not among the trusted public keys" in report.problems[0]


def test_unsealed_rows_have_no_proof_and_fail_verification(db, stored, trusted, tmp_path):
    with db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT, id="late_1")])
    out = tmp_path / "events.ndjson"
    written, proven, _ = export_with_proofs(db, ORG, out, "ndjson", "tester")
    assert (written, proven) == (4, 3)
    report = check_export(out, trusted)
    assert not report.clean
    assert report.problems == ["line 4: event late_1: no proof (not sealed yet?)"] or any(
        "late_1: no proof" in p for p in report.problems
    )


def test_proofs_for_is_scoped_to_the_organisation(db, stored, key):
    with db.writer() as w:
        insert_events(w, [event_row(organization_id="org_b", id="b_1", event_time=RECENT)])
    seal_organization(db, "org_b", key)
    assert set(proofs_for(db, ORG, [*stored, "b_1"])) == set(stored)
    assert set(proofs_for(db, "org_b", [*stored, "b_1"])) == {"b_1"}


def test_the_export_is_recorded_and_audited(db, stored, tmp_path):
    export_with_proofs(db, ORG, tmp_path / "e.csv", "csv", "cli:tester")
    with db.org_session(ORG) as s:
        assert s.scalar("SELECT row_count FROM org_audit_exports") == 3
        assert (
            s.scalar(
                "SELECT count(*) FROM org_audit_events WHERE event_action = 'export'"
                " AND event_type = 'data_modification' AND user_id = 'cli:tester'"
            )
            == 1
        )
        details = s.scalar("SELECT details FROM org_audit_events WHERE event_action = 'export'")
    # Every export's details (the read model counts `records`), plus its proven rows.
    assert details["records"] == 3 and "records_exported" not in details
    assert {"kind", "format", "sha256", "query", "filter", "flagged_for_review"} <= set(details)
    assert (details["kind"], details["with_proofs"], details["completed"]) == (
        "events_with_proofs", 3, True,
    )  # fmt: skip


def _recorded(db: Database) -> list[tuple]:
    with db.org_session(ORG) as s:
        return s.execute(
            "SELECT row_count, completed, ended_at IS NOT NULL FROM org_audit_exports"
        ).rows


def test_the_export_is_on_record_before_its_first_byte(db, stored, tmp_path, monkeypatch):
    import usecases.exports as proof

    seen: list[list[tuple]] = []
    real = proof.write_export

    def spying(rows, proofs, out, fmt):  # type: ignore[no-untyped-def]
        seen.append(_recorded(db))  # what the database says as the first bytes are written
        return real(rows, proofs, out, fmt)

    monkeypatch.setattr(proof, "write_export", spying)
    export_with_proofs(db, ORG, tmp_path / "e.csv", "csv", "cli:tester")
    assert seen[0] == [(0, False, False)]  # started, not ended
    assert _recorded(db) == [(3, True, True)]  # the same row, finalised


def test_an_export_with_proofs_failing_partway_is_finalised_as_not_completed(
    db, stored, tmp_path, monkeypatch
):
    import usecases.exports as proof

    def failing(rows, proofs, out, fmt):  # type: ignore[no-untyped-def]
        out.write("partial\n")
        raise OSError("disk full")

    monkeypatch.setattr(proof, "write_export", failing)
    with pytest.raises(OSError, match="disk full"):
        export_with_proofs(db, ORG, tmp_path / "e.csv", "csv", "cli:tester")
    assert _recorded(db) == [(0, False, True)]


def test_an_existing_file_is_refused_before_anything_is_recorded(db, stored, tmp_path):
    out = tmp_path / "e.csv"
    out.write_text("someone else's\n")
    with pytest.raises(ValueError, match="exists; refusing to overwrite it"):
        export_with_proofs(db, ORG, out, "csv", "cli:tester")
    assert out.read_text() == "someone else's\n"
    assert _recorded(db) == []
