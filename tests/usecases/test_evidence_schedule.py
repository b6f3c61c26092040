"""Scheduled evidence packs: one per finished period, each filed once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from integrity import keys as keymod
from sql.gateway import Database
from usecases import evidence
from usecases.evidence import EvidencePackError
from usecases.evidence_schedule import file_due_packs, finished_periods
from usecases.evidence_signature import signature_path, verify


def test_finished_periods_are_whole_and_over():
    monthly = finished_periods("monthly", date(2024, 10, 15), date(2025, 1, 1))
    assert [(p.label, p.start, p.end) for p in monthly] == [
        ("2024-10", date(2024, 10, 1), date(2024, 11, 1)),
        ("2024-11", date(2024, 11, 1), date(2024, 12, 1)),
        ("2024-12", date(2024, 12, 1), date(2025, 1, 1)),
    ]
    quarterly = finished_periods("quarterly", date(2024, 2, 1), date(2024, 12, 31))
    assert [p.label for p in quarterly] == ["2024-Q1", "2024-Q2", "2024-Q3"]
    assert finished_periods("quarterly", date(2024, 10, 1), date(2024, 12, 31)) == []
    with pytest.raises(EvidencePackError, match="--every must be one of"):
        finished_periods("weekly", date(2024, 1, 1), date(2025, 1, 1))


def test_each_period_is_filed_once(db: Database, tmp_path: Path):
    key = keymod.generate()
    args = {"cadence": "monthly", "folder": tmp_path, "since": date(2024, 11, 1), "key": key,
            "author": "t:cron", "file_format": "html", "today": date(2025, 1, 3)}  # fmt: skip
    made = file_due_packs(db, "org_a", **args)
    assert sorted(p.path.name for p in made) == [
        "org_a-evidence-2024-11.html",
        "org_a-evidence-2024-12.html",
    ]
    assert file_due_packs(db, "org_a", **args) == []
    assert sorted(f.name for f in tmp_path.iterdir()) == [
        "org_a-evidence-2024-11.html",
        "org_a-evidence-2024-11.html.sig",
        "org_a-evidence-2024-12.html",
        "org_a-evidence-2024-12.html.sig",
    ]


def test_a_pack_whose_signing_failed_is_made_again_on_the_next_run(
    db: Database, tmp_path: Path, monkeypatch
):
    # A run that dies between writing the pack and its signature (disk full, a key that
    # cannot sign) must not leave an unsigned pack that later runs take as filed.
    key = keymod.generate()
    args = {"cadence": "monthly", "folder": tmp_path, "since": date(2024, 11, 1), "key": key,
            "author": "t:cron", "file_format": "html", "today": date(2024, 12, 3)}  # fmt: skip

    def no_space(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evidence, "sign", no_space)
    with pytest.raises(OSError):
        file_due_packs(db, "org_a", **args)
    monkeypatch.undo()
    made = file_due_packs(db, "org_a", **args)
    assert [p.path.name for p in made] == ["org_a-evidence-2024-11.html"]
    pack = made[0].path
    trusted = keymod.PublicKeys({key.key_id: key.public})
    verdict = verify(pack.read_bytes(), signature_path(pack).read_text(), trusted)
    assert verdict.ok, verdict.reason
