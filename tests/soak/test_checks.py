"""The soak's export check on its own: an export that handed out bytes and then failed is
accepted when its record was started (outcome unknown), and a problem with no record."""

from __future__ import annotations

import hashlib

from sql.export_log import ExportHeader, finalise, insert_started
from sql.gateway import Database
from tests.soak.checks import check_exports
from tests.soak.ledger import ExportSeen, Ledger
from tests.soak.workload import ORGS

ORG = ORGS[0]
DIGEST = hashlib.sha256(b'{"id":"x"}\n').hexdigest()


def _started(db: Database) -> int:
    header = ExportHeader(ORG, "soak_viewer_1", "events", "ndjson", {"query": ""}, "all")
    with db.writer() as w:
        return insert_started(w, header)


def test_bytes_of_an_export_started_and_never_ended_are_accepted(db: Database):
    ledger = Ledger()
    ledger.export(ExportSeen(ORG, DIGEST, 1, _started(db), "the database went away"))
    assert check_exports(db, ledger)["exports started, never ended"] == 1
    assert ledger.problems == []


def test_bytes_without_any_record_are_a_problem(db: Database):
    ledger = Ledger()
    ledger.export(ExportSeen(ORG, DIGEST, 1, None, "the database went away"))
    check_exports(db, ledger)
    assert len(ledger.problems) == 1 and "is not in audit_exports" in ledger.problems[0]


def test_an_ended_export_must_match_what_was_handed_out(db: Database):
    export_id = _started(db)
    with db.writer() as w:
        finalise(w, ORG, export_id, rows=1, sha256=DIGEST, flagged=False, complete=False)
    ledger = Ledger()
    ledger.export(ExportSeen(ORG, DIGEST, 1, export_id, "the client went away"))
    ledger.export(ExportSeen(ORG, DIGEST, 1, export_id))  # claimed complete: it is not
    assert check_exports(db, ledger)["exports recorded"] == 1
    assert len(ledger.problems) == 1 and "not recorded as it was made" in ledger.problems[0]
