"""A revoke wins whenever the database can answer: the receiver's cache of confirmed ingest
keys stands in for the database only while it cannot be reached, and what a revoked key sent
meanwhile is refused when the spool is replayed."""

from __future__ import annotations

import dataclasses

import psycopg
from fastapi.testclient import TestClient

from ingest.keys import create_key, revoke_key
from ingest.receiver import Receiver, create_app
from sql.gateway import Database
from tests.ingest.test_receiver import auth, count, ev


def _wait_for_replay(receiver: Receiver, done) -> None:
    for _ in range(1200):
        if not receiver.pending() and done():
            return
        receiver._stop.wait(0.05)


def _rejects(db: Database) -> list[str]:
    with db.org_session("org_a") as s:
        return [str(r[0]) for r in s.execute("SELECT reason FROM org_audit_rejects").rows]


def test_a_key_revoked_before_the_outage_sends_nothing_that_is_kept(db, tmp_path):
    token = create_key(db, "org_a", actor="test").token
    receiver = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    client = TestClient(create_app(receiver))
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    try:
        assert client.post("/v1/events", json=[ev(0)], headers=auth(token)).status_code == 202
        revoke_key(db, token, actor="admin")  # the database is up: the revoke is recorded
        receiver.db = away  # then the receiver loses it, its cache still holding the key
        r = client.post("/v1/events", json=[ev(1), ev(2)], headers=auth(token))
        assert r.status_code == 202 and r.json()["stored"] == "spool", r.text
    finally:
        receiver.close()
        away.close()
    back = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    try:
        _wait_for_replay(back, lambda: len(_rejects(db)) == 2)
    finally:
        back.close()
    assert count(db) == 1  # only what arrived before the revoke
    reasons = _rejects(db)
    assert len(reasons) == 2 and all("was revoked at" in r for r in reasons), reasons


def test_a_key_revoked_after_its_events_arrived_keeps_them(db, tmp_path):
    token = create_key(db, "org_a", actor="test").token
    receiver = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    client = TestClient(create_app(receiver))
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    try:
        assert client.post("/v1/events", json=[ev(0)], headers=auth(token)).status_code == 202
        receiver.db = away
        r = client.post("/v1/events", json=[ev(1), ev(2)], headers=auth(token))
        assert r.status_code == 202 and r.json()["stored"] == "spool", r.text
    finally:
        receiver.close()
        away.close()
    revoke_key(db, token, actor="admin")  # after the events were accepted
    back = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    try:
        _wait_for_replay(back, lambda: count(db) == 3)
    finally:
        back.close()
    assert count(db) == 3 and _rejects(db) == []


def test_a_database_that_answers_slowly_is_not_an_outage(db, tmp_path, fresh_database):
    """A lookup that runs past its time limit is the database answering, not an outage: the
    cache of confirmed keys does not stand in for it, so a revoked key is not accepted."""
    token = create_key(db, "org_a", actor="test").token
    receiver = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    client = TestClient(create_app(receiver))
    slow = Database(db.url, dataclasses.replace(db.settings, statement_timeout_ms=300))
    try:
        assert client.post("/v1/events", json=[ev(0)], headers=auth(token)).status_code == 202
        revoke_key(db, token, actor="admin")
        receiver.db = slow
        with psycopg.connect(fresh_database) as blocker:
            # The key table held by someone else: the lookup waits, then times out.
            blocker.execute("LOCK TABLE ingest_keys IN ACCESS EXCLUSIVE MODE")
            r = client.post("/v1/events", json=[ev(1)], headers=auth(token))
            blocker.rollback()
        assert r.status_code == 503, r.text
    finally:
        receiver.close()
        slow.close()
    assert count(db) == 1
