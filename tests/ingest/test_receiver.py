"""The HTTP receiver: keys (missing, revoked, wrong organisation), content types, limits,
per-item rejections, gzip, NDJSON, spooling when the database is away, and hostile bodies."""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.keys import create_key, revoke_key
from ingest.receiver import Receiver, create_app
from sql.gateway import Database
from tests.ingest.hostile import hostile_events, mostly_valid_events


def ev(i: int, org: str = "org_a", **extra):
    return {
        "id": f"h{i}",
        "timestamp": "2025-01-15T14:32:15Z",
        "event_type": "log_access",
        "event_action": "search",
        "organization_id": org,
        **extra,
    }


@pytest.fixture
def receiver(db, tmp_path):
    r = Receiver(db, spool_dir=tmp_path / "spool", max_body=64 * 1024, replay_interval=0.05)
    yield r
    r.close()


@pytest.fixture
def client(receiver):
    return TestClient(create_app(receiver))


@pytest.fixture
def token(db):
    return create_key(db, "org_a", actor="test").token


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def count(db, org="org_a"):
    with db.org_session(org) as s:
        return s.scalar("SELECT count(*) FROM org_audit_events WHERE event_type = 'log_access'")


def test_a_batch_is_stored_with_per_item_rejections(client, token, db):
    body = [ev(1), ev(2, ip_address="1.2.3.999"), ev(3), ev(1)]
    r = client.post("/v1/events", json=body, headers=auth(token))
    assert r.status_code == 202, r.text
    data = r.json()
    assert data["stored"] == "database"
    assert (data["sent"], data["accepted"], data["duplicates"], data["rejected"]) == (4, 2, 1, 1)
    assert data["rejections"] == [
        {"index": 1, "field": "ip_address", "reason": data["rejections"][0]["reason"]}
    ]
    assert count(db) == 2


def test_ndjson_gzip_is_accepted(client, token, db):
    lines = b"\n".join(json.dumps(ev(i)).encode() for i in range(20)) + b"\n{broken\n"
    r = client.post(
        "/v1/events",
        content=gzip.compress(lines),
        headers={
            **auth(token),
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 20 and r.json()["rejections"][0]["index"] == 21
    assert count(db) == 20


def test_missing_unknown_and_revoked_keys_are_refused(client, token, db):
    assert client.post("/v1/events", json=[ev(1)]).status_code == 401
    bad = client.post("/v1/events", json=[ev(1)], headers=auth("alk_aaaaaaaaaaaa_" + "x" * 43))
    assert bad.status_code == 401 and "unknown or revoked" in bad.json()["error"]
    assert (
        client.post("/v1/events", json=[ev(1)], headers={"Authorization": "Basic x"}).status_code
        == 401
    )
    revoke_key(db, token, actor="test")
    revoked = client.post("/v1/events", json=[ev(1)], headers=auth(token))
    assert revoked.status_code == 401
    assert count(db) == 0
    with db.org_session("org_a") as s:  # creating and revoking the key were audited
        audited = s.execute(
            "SELECT event_action FROM org_audit_events WHERE resource_type = 'ingest_key'"
            " ORDER BY ingest_seq"
        ).rows
    assert [a for (a,) in audited] == ["api_key_created", "api_key_revoked"]


def test_a_key_of_another_organisation_is_refused(client, db):
    other = create_key(db, "org_b", actor="test").token
    r = client.post("/v1/events", json=[ev(1, "org_a"), ev(2, "org_a")], headers=auth(other))
    assert r.status_code == 403 and "org_b" in r.json()["error"]
    mixed = client.post("/v1/events", json=[ev(1, "org_b"), ev(2, "org_a")], headers=auth(other))
    assert mixed.status_code == 202
    assert mixed.json()["rejections"][0]["index"] == 1
    assert mixed.json()["rejections"][0]["field"] == "organization_id"
    assert count(db, "org_a") == 0 and count(db, "org_b") == 1
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_rejects") == 0  # filed under org_b


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        (
            {"content": b"[1,", "headers": {"Content-Type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ({"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "Content-Type"),
        ({"content": b"[]", "headers": {"Content-Type": "application/json"}}, 422, "no events"),
        ({"content": b"42", "headers": {"Content-Type": "application/json"}}, 422, "array"),
        (
            {
                "content": b"[]",
                "headers": {"Content-Type": "application/json", "Content-Encoding": "br"},
            },
            415,
            "Content-Encoding",
        ),
        (
            {"content": b"x" * 70_000, "headers": {"Content-Type": "application/json"}},
            413,
            "larger than",
        ),
        (
            {
                "content": gzip.compress(b"[" + b"1," * 60_000 + b"1]"),
                "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            },
            413,
            "uncompressed",
        ),
        (
            {
                "content": b"not gzip",
                "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            },
            400,
            "gzip",
        ),
    ],
)
def test_errors_are_json_that_say_why(client, token, kwargs, status, words):
    headers = {**auth(token), **kwargs.pop("headers")}
    r = client.post("/v1/events", headers=headers, **kwargs)
    assert r.status_code == status
    assert words in r.json()["error"]


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json()["database"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/v1/events" in spec["paths"]


def test_database_away_means_durable_spool_then_replay(db, tmp_path, token):
    receiver = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    client = TestClient(create_app(receiver))
    away = Database("postgresql://nobody@127.0.0.1:1/none", db.settings)
    try:
        assert client.post("/v1/events", json=[ev(0)], headers=auth(token)).status_code == 202
        receiver.db = away  # the database goes away; the key was confirmed a moment ago
        unknown = client.post("/v1/events", json=[ev(9)], headers=auth(token[:-2] + "zz"))
        assert unknown.status_code == 503  # an unconfirmed key cannot be checked: no 202
        r = client.post(
            "/v1/events", json=[ev(1), ev(2), ev(3, timestamp="yesterday")], headers=auth(token)
        )
        assert r.status_code == 202, r.text
        assert r.json()["stored"] == "spool"
        assert (r.json()["accepted"], r.json()["rejected"]) == (2, 1)
    finally:
        receiver.close()
        away.close()
    assert count(db) == 1
    back = Receiver(db, spool_dir=tmp_path, replay_interval=0.05)
    try:
        # The replay thread runs at start; wait on the spool itself, not on a fixed sleep.
        for _ in range(1200):
            if not back.pending() and count(db) == 3:
                break
            back._stop.wait(0.05)
    finally:
        back.close()
    assert count(db) == 3
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_rejects") == 1


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(hostile_events(), mostly_valid_events()), min_size=1, max_size=20))
def test_hostile_batches_never_crash_and_add_up(client, token, events):
    events = [
        e
        if not isinstance(e, dict)
        else {**e, "organization_id": "org_a"}
        if isinstance(e.get("organization_id"), str)
        else e
        for e in events
    ]
    body = json.dumps(events, default=repr).encode("utf-8", "surrogatepass")
    r = client.post(
        "/v1/events", content=body, headers={**auth(token), "Content-Type": "application/json"}
    )
    assert r.status_code in (202, 400, 413, 422), r.text
    if r.status_code == 202:
        d = r.json()
        assert d["accepted"] + d["duplicates"] + d["rejected"] == d["sent"] == len(events)
