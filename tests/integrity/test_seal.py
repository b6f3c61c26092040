"""Sealing: exactly once per event, in-flight transactions wait, silence is sealed too."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrity import keys as keymod
from integrity.seal import seal_all, seal_organization
from integrity.seal_record import ZERO_HASH, Seal
from integrity.seal_schedule import SealScheduler
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
    from integrity.seal_files import write_seal_file

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


def test_scheduler_ticks_on_its_interval_without_a_clock(db, key):
    """The loop runs a tick, then waits `interval`; the injected wait ends it on the 3rd."""
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) == 3

    sealed: list[int] = []
    scheduler = SealScheduler(
        db, key, interval=42.0, wait=wait, on_sealed=lambda s: sealed.append(len(s))
    )
    with db.writer() as w:
        insert_events(w, [event_row()])
    scheduler.run_forever()
    assert waits == [42.0, 42.0, 42.0]
    assert scheduler.runs == 3
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_seals") == 3


def test_a_failed_tick_is_reported_and_the_schedule_goes_on(db, key, monkeypatch):
    errors: list[str] = []
    calls = iter([RuntimeError("database restarting"), None])

    def flaky(*args, **kwargs):
        problem = next(calls)
        if problem:
            raise problem
        return []

    monkeypatch.setattr("integrity.seal_schedule.seal_all", flaky)
    waits: list[float] = []
    scheduler = SealScheduler(
        db,
        key,
        interval=1.0,
        on_error=lambda exc: errors.append(str(exc)),
        wait=lambda s: waits.append(s) or len(waits) == 2,
    )
    scheduler.run_forever()
    assert errors == ["database restarting"]
    assert scheduler.runs == 2


def test_background_sealing_needs_a_key_and_stops_cleanly(db, key, tmp_path, monkeypatch):
    from integrity.keys import write_signing_key
    from integrity.seal_schedule import background_sealing

    monkeypatch.delenv("AUDITLENS_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("AUDITLENS_SIGNING_KEY", raising=False)
    lines: list[str] = []
    with background_sealing(db, lines.append) as none:
        assert none is None
    assert "sealing: off" in lines[0]

    with db.writer() as w:
        insert_events(w, [event_row()])
    path = tmp_path / "seal.key"
    write_signing_key(key, path)
    monkeypatch.setenv("AUDITLENS_SIGNING_KEY_FILE", str(path))
    monkeypatch.setenv("AUDITLENS_SEAL_INTERVAL_SECONDS", "3600")
    with background_sealing(db, lines.append) as scheduler:
        assert scheduler is not None and scheduler.interval == 3600
        assert scheduler.first_run_done.wait(120)  # an event, not a sleep
        assert scheduler.running
    assert not scheduler.running
    assert scheduler.runs == 1
    assert f"sealing every 3600 s with key {key.key_id}" in lines[-1]
    with db.admin() as s:
        assert s.scalar("SELECT count(*) FROM audit_seals WHERE key_id = :k", {"k": key.key_id})


def test_a_configured_key_that_cannot_load_is_an_error(db, tmp_path, monkeypatch):
    from integrity.keys import SigningKeyError
    from integrity.seal_schedule import background_sealing

    bad = tmp_path / "garbage.key"
    bad.write_text("not a key")
    monkeypatch.setenv("AUDITLENS_SIGNING_KEY_FILE", str(bad))
    with pytest.raises(SigningKeyError), background_sealing(db, print):
        pass


@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "0", "soon"])
def test_a_sealing_interval_that_is_no_positive_number_is_refused(monkeypatch, raw):
    from integrity.seal_schedule import interval_from_env
    from sql.errors import ConfigurationError

    monkeypatch.setenv("AUDITLENS_SEAL_INTERVAL_SECONDS", raw)
    with pytest.raises(ConfigurationError, match="AUDITLENS_SEAL_INTERVAL_SECONDS must be"):
        interval_from_env()
