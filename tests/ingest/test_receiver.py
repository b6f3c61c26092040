"""The HTTP receiver: keys (missing, revoked, wrong organisation), content types, limits,
per-item rejections, gzip, NDJSON, spooling when the database is away, and hostile bodies."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.keys import create_key, revoke_key
from ingest.receiver import Receiver, create_app
from sql.gateway import Database
from tests.event_loops import run_in_own_thread
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


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("POST", "/v1/events/<script>", 404),
        ("GET", "/v1/events", 405),
        ("DELETE", "/healthz", 405),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_error_shape(client, method, path, status):
    r = client.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error"}
    if status == 405:
        assert r.headers["allow"]


def test_an_unexpected_failure_answers_in_the_error_shape_without_its_cause(receiver):
    def broken(header):
        raise RuntimeError("the cause, with internals")

    receiver.authenticate = broken
    r = TestClient(create_app(receiver), raise_server_exceptions=False).post("/v1/events")
    assert (r.status_code, r.json()) == (500, {"error": "internal error"})


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


def _gzip_post(client, token, content):
    return client.post(
        "/v1/events",
        content=content,
        headers={**auth(token), "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )


def test_every_gzip_member_is_read(client, token, db):
    first = gzip.compress(json.dumps(ev(1)).encode() + b"\n")
    second = gzip.compress(json.dumps(ev(2)).encode() + b"\n")
    r = _gzip_post(client, token, first + second)
    assert r.status_code == 202, r.text
    assert (r.json()["sent"], r.json()["accepted"]) == (2, 2)
    assert count(db) == 2


def test_data_after_the_gzip_body_is_refused_not_dropped(client, token, db):
    body = gzip.compress(json.dumps(ev(1)).encode() + b"\n")
    for trailer in (b"garbage", b"\x00" * 8, gzip.compress(b"{}")[:12]):
        r = _gzip_post(client, token, body + trailer)
        assert r.status_code == 400, (trailer, r.text)
    assert count(db) == 0


def test_the_uncompressed_cap_counts_every_member(client, token, receiver):
    member = gzip.compress(b" " * (receiver.max_body // 2 + 1))
    r = _gzip_post(client, token, member + member)
    assert r.status_code == 413
    assert "uncompressed body is larger" in r.json()["error"]


class _Upload:
    """One POST driven through the ASGI interface: sends `head`, then waits for `release`."""

    def __init__(self, token: str, head: bytes, tail: bytes, release: asyncio.Event) -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/events",
            "raw_path": b"/v1/events",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"authorization", f"Bearer {token}".encode()),
                (b"content-type", b"application/json"),
            ],
            "client": ("203.0.113.7", 4000),
            "server": ("testserver", 80),
        }
        self.parts = [head, tail]
        self.release = release
        self.reading = asyncio.Event()
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}
        self.body = b""

    async def receive(self) -> dict:
        if len(self.parts) == 2:
            self.reading.set()
            return {"type": "http.request", "body": self.parts.pop(0), "more_body": True}
        await self.release.wait()
        return {"type": "http.request", "body": self.parts.pop(0), "more_body": False}

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = dict(message["headers"])
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    async def run(self, app) -> _Upload:
        await app(self.scope, self.receive, self.send)
        return self


def _split_body(i: int) -> tuple[bytes, bytes]:
    body = json.dumps([ev(i)]).encode()
    return body[:10], body[10:]


def test_a_body_that_stalls_is_cut_off(db, tmp_path, token):
    r = Receiver(db, spool_dir=tmp_path / "spool", body_timeout=0.2, replay_interval=0.05)
    try:
        upload = _Upload(token, *_split_body(1), release=asyncio.Event())  # never released
        run_in_own_thread(lambda: upload.run(create_app(r)))
    finally:
        r.close()
    assert upload.status == 408
    assert "did not arrive within 0.2 seconds" in json.loads(upload.body)["error"]
    assert count(db) == 0


def test_bodies_read_at_once_are_bounded(db, tmp_path, token):
    r = Receiver(db, spool_dir=tmp_path / "spool", max_bodies=2, replay_interval=0.05)
    app = create_app(r)

    async def scenario() -> tuple[list[_Upload], _Upload, _Upload]:
        release = asyncio.Event()
        held = [_Upload(token, *_split_body(i), release=release) for i in (1, 2)]
        tasks = [asyncio.create_task(u.run(app)) for u in held]
        for upload in held:
            await upload.reading.wait()
        refused = await _Upload(token, *_split_body(3), release=release).run(app)
        release.set()
        await asyncio.gather(*tasks)
        after = await _Upload(token, *_split_body(4), release=release).run(app)
        return held, refused, after

    try:
        held, refused, after = run_in_own_thread(scenario)
    finally:
        r.close()
    assert refused.status == 503 and refused.headers[b"retry-after"] == b"1"
    assert "too many request bodies" in json.loads(refused.body)["error"]
    assert [u.status for u in held] == [202, 202] and after.status == 202
    assert count(db) == 3


@pytest.mark.parametrize("ndjson", [False, True])
def test_an_integer_too_long_to_convert_is_one_reject_naming_its_field(client, token, db, ndjson):
    huge = "9" * 5000
    events = [
        json.dumps(ev(1)),
        json.dumps(ev(2, details={"n": 0})).replace('"n": 0', f'"n": {huge}'),
        json.dumps(ev(3)).replace('"org_a"', '"org_a", "user_id": -' + huge),
    ]
    body = "\n".join(events) if ndjson else "[" + ",".join(events) + "]"
    kind = "application/x-ndjson" if ndjson else "application/json"
    r = client.post(
        "/v1/events", content=body.encode(), headers={**auth(token), "Content-Type": kind}
    )
    assert r.status_code == 202, r.text[:300]
    data = r.json()
    assert (data["sent"], data["accepted"], data["rejected"]) == (3, 1, 2)
    first = 1 if ndjson else 0
    assert [(x["index"], x["field"]) for x in data["rejections"]] == [
        (first + 1, "details"),
        (first + 2, "user_id"),
    ]
    assert "a number has 5000 digits" in data["rejections"][0]["reason"]
    assert "a number of 5000 digits" in data["rejections"][1]["reason"]
    with db.org_session("org_a") as s:
        rows = s.execute("SELECT line_no, field FROM org_audit_rejects ORDER BY line_no").rows
    assert [tuple(row) for row in rows] == [(first + 1, "details"), (first + 2, "user_id")]
