"""Sealing: exactly once per event, in-flight transactions wait, silence is sealed too."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.integrity import keys as keymod
from ingest.integrity.seal import (
    ZERO_HASH,
    Seal,
    SealScheduler,
    seal_all,
    seal_organization,
)
from sql.event_store import insert_events
from tests.factories import event_row

RECENT = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def key() -> keymod.SigningKey:
    return keymod.generate()


def test_seals_chain_and_cover_each_event_once(db, key):
    with db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT) for _ in range(4)])
    first = seal_organization(db, "org_a", key)
    second = seal_organization(db, "org_a", key)
    assert (first.seal_seq, first.event_count, first.prev_seal_hash) == (1, 4, ZERO_HASH)
    assert (second.seal_seq, second.event_count) == (2, 0)  # silence is sealed too
    assert second.prev_seal_hash == first.seal_hash == first.computed_hash()
    assert second.xid_from == first.xid_to
    assert first.canonical().decode().splitlines()[0] == "auditlens-seal-v2"
    assert key.public.verify(first.signature, first.canonical()) is None


def test_a_transaction_still_in_flight_is_sealed_later_not_skipped(db, key):
    with db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT, id="early")])
        # This transaction has not ended while the seal runs: its event must wait.
        during = seal_organization(db, "org_a", key)
    after = seal_organization(db, "org_a", key)
    assert during.event_count == 0
    assert after.event_count == 1


def test_every_organisation_is_sealed_separately(db, key):
    with db.writer() as w:
        insert_events(
            w,
            [
                event_row(organization_id="org_a", event_time=RECENT),
                event_row(organization_id="org_b", event_time=RECENT),
                event_row(organization_id="org_b", event_time=RECENT),
            ],
        )
    seals = {s.organization_id: s.event_count for s in seal_all(db, key)}
    assert seals == {"org_a": 1, "org_b": 2}


def test_seal_files_round_trip_and_are_never_overwritten(db, key, tmp_path: Path):
    seal = seal_organization(db, "org_a", key, seal_dir=tmp_path)
    path = tmp_path / "org_a" / "000000000001.json"
    again = Seal.from_json(json.loads(path.read_text()))
    assert again == seal
    from ingest.integrity.seal import write_seal_file

    with pytest.raises(FileExistsError):
        write_seal_file(seal, tmp_path)


def test_scheduler_seals_in_the_background_until_stopped(db, key):
    sealed = threading.Event()
    runs: list[int] = []

    def on_sealed(seals: list[Seal]) -> None:
        runs.append(len(seals))
        sealed.set()

    with db.writer() as w:
        insert_events(w, [event_row(event_time=RECENT)])
    scheduler = SealScheduler(db, key, interval=3600, on_sealed=on_sealed).start()
    try:
        assert sealed.wait(timeout=60)
    finally:
        scheduler.stop(timeout=60)
    assert runs == [1]
    assert scheduler._thread is not None and not scheduler._thread.is_alive()
