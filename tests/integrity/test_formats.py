"""Stores sealed before v2 stay verifiable: v1 seals verify, name tampering, prove exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from integrity import keys as keymod
from integrity.leaf_index import order_entries
from integrity.proof import check_export
from integrity.seal import seal_organization
from integrity.seal_formats import SEAL_FORMAT, SEAL_FORMAT_V1, SEAL_FORMAT_V2
from integrity.verify import verify_organization
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
def trusted(key) -> keymod.PublicKeys:
    return keymod.PublicKeys({key.key_id: key.public})


def _insert(db: Database, n: int) -> list[str]:
    rows = [event_row(event_time=RECENT, details={"price": "1.50", "n": i}) for i in range(n)]
    with db.writer() as w:
        insert_events(w, rows)
    return [r[1] for r in rows]


@pytest.fixture
def mixed(db: Database, key) -> list[str]:
    """Two v1 seals (as an older AuditLens wrote them), then the current format."""
    ids = _insert(db, 3)
    assert seal_organization(db, ORG, key, fmt=SEAL_FORMAT_V1).format == SEAL_FORMAT_V1
    ids += _insert(db, 2)
    seal_organization(db, ORG, key, fmt=SEAL_FORMAT_V1)
    ids += _insert(db, 4)
    assert seal_organization(db, ORG, key).format == SEAL_FORMAT == SEAL_FORMAT_V2
    return ids


def test_a_store_with_v1_and_v2_seals_verifies_clean(db, mixed, trusted):
    report = verify_organization(db, ORG, trusted)
    assert report.clean, report.problems
    assert report.seals_checked == 3
    assert report.events_checked == 9


@pytest.mark.parametrize("victim", [0, 4, 8])  # in the first v1, the second v1, the v2 seal
def test_an_edit_is_named_in_either_format(db, mixed, trusted, victim):
    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text("UPDATE audit_events SET user_id = 'mallory' WHERE id = :id"),
            {"id": mixed[victim]},
        )
        conn.commit()
    report = verify_organization(db, ORG, trusted)
    assert [(p.kind, p.event_id) for p in report.problems] == [("event_modified", mixed[victim])]
    assert report.problems[0].seal_seq == {0: 1, 4: 2, 8: 3}[victim]


def test_a_purge_is_told_from_a_deletion_in_v1_seals(db, key, trusted):
    """v1 entries keep the guarantee as µs since 1970, v2 since 2000: both must read back."""
    with db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT)])
    seal_organization(db, ORG, key, fmt=SEAL_FORMAT_V1)
    with db.engine.connect() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        # A purge record dated before the guarantee ran out does not excuse the deletion.
        conn.execute(
            text(
                "INSERT INTO audit_purged_events (organization_id, ingest_seq, purged_at)"
                " SELECT organization_id, ingest_seq, now() FROM audit_events"
            )
        )
        conn.execute(text("DELETE FROM audit_events"))
        conn.commit()
    report = verify_organization(db, ORG, trusted)
    assert [p.kind for p in report.problems] == ["event_deleted"]
    assert "guaranteed until" in report.problems[0].detail


def test_exports_prove_rows_of_both_formats(db, mixed, key, tmp_path: Path):
    out = tmp_path / "export.ndjson"
    written, proven, _ = export_with_proofs(db, ORG, out, "ndjson", "test")
    assert written == proven == 9
    check = check_export(out, keymod.PublicKeys({key.key_id: key.public}))
    assert check.clean, check.problems
    assert len(check.seals) == 3


def test_entries_arriving_out_of_order_are_put_in_ingest_order():
    def entry(seq: int) -> bytes:
        return seq.to_bytes(8, "big") + bytes(8) + bytes([seq]) * 32

    entries = entry(5) + entry(2) + entry(9)
    ordered, ids = order_entries(entries, b"five\x00two\x00nine\x00")
    assert ordered == entry(2) + entry(5) + entry(9)
    assert ids == b"two\x00five\x00nine\x00"
    assert order_entries(ordered, ids) == (ordered, ids)
