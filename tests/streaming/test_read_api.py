"""The read API on the receiver: read keys (and only read keys), the organisation's own rows
only, `q` in the Explore syntax, cursors that never skip or repeat a row while others insert
(the oldest-running-transaction rule), every page audited, and the OpenAPI document."""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest.keys import READ, create_key, revoke_key
from ingest.receiver import Receiver, create_app
from sql.event_store import insert_events
from sql.gateway import Database
from streaming.formats import NATIVE_FIELDS
from streaming.read_api import install_read_api
from tests.factories import event_row
from tests.streaming.helpers import store, store_finding


@pytest.fixture
def read_token(db: Database) -> str:
    return create_key(db, "org_a", actor="test", scope=READ).token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get(client: TestClient, token: str, path: str = "/api/v1/events", **params: Any) -> Any:
    return client.get(path, params=params, headers=auth(token))


def read_all(client: TestClient, token: str, *, limit: int = 10, **params: Any) -> list[str]:
    """Every event id, following next_cursor until the API says it is caught up."""
    ids: list[str] = []
    cursor = None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        r = get(client, token, limit=limit, **params, **extra)
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids


def api_reads(db: Database, org: str = "org_a") -> list[dict[str, Any]]:
    with db.org_session(org) as s:
        return s.execute(
            "SELECT user_id, resource_id, details, own_use FROM org_audit_events"
            " WHERE event_action = 'api_read' ORDER BY ingest_seq"
        ).dicts()


# ---- keys -------------------------------------------------------------------------------


def test_missing_malformed_unknown_and_revoked_read_keys_get_401(client, read_token, db):
    store(db, 2)
    assert client.get("/api/v1/events").status_code == 401
    basic = client.get("/api/v1/events", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    forged = get(client, "alr_aaaaaaaaaaaa_" + "x" * 43)
    assert forged.status_code == 401 and forged.json() == {"error": "unknown or revoked read key"}
    # The right key id with another secret is still unknown.
    wrong_secret = read_token[: len("alr_") + 13] + "y" * 43
    assert get(client, wrong_secret).status_code == 401
    assert get(client, read_token).status_code == 200
    revoke_key(db, read_token, actor="test")
    assert get(client, read_token).status_code == 401
    assert get(client, read_token, path="/api/v1/findings").status_code == 401
    assert len(api_reads(db)) == 1  # only the read that was served


def test_a_write_key_cannot_read_and_a_read_key_cannot_write(client, read_token, db):
    ingest_token = create_key(db, "org_a", actor="test").token
    store(db, 3)
    for path in ("/api/v1/events", "/api/v1/findings"):
        refused = get(client, ingest_token, path=path)
        assert refused.status_code == 403, refused.text
        assert "ingest key" in refused.json()["error"]
    event = {
        "timestamp": "2025-01-15T14:32:15Z",
        "event_type": "log_access",
        "event_action": "search",
        "organization_id": "org_a",
    }
    written = client.post("/v1/events", json=[event], headers=auth(read_token))
    assert written.status_code == 403 and "read key" in written.json()["error"]
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events WHERE NOT own_use") == 3
    assert api_reads(db) == []


def test_another_organisation_sees_none_of_the_first_ones_rows(client, read_token, db):
    store(db, 5, org="org_a", prefix="a")
    store(db, 2, org="org_b", prefix="b")
    store_finding(db, "org_a", "fa")
    other = create_key(db, "org_b", actor="test", scope=READ).token
    assert sorted(read_all(client, other)) == ["b000000", "b000001"]
    own = get(client, other, q="stream:auditlens").json()["events"]
    assert own and {e["organization_id"] for e in own} == {"org_b"}
    # A cursor of org_a's pages leads org_b to its own rows only.
    cursor = get(client, read_token, limit=1).json()["next_cursor"]
    page = get(client, other, cursor=cursor).json()
    assert all(e["organization_id"] == "org_b" for e in page["events"])
    findings = get(client, other, path="/api/v1/findings").json()
    assert findings["findings"] == []
    # Each read is audited in the reading key's organisation, never in the other one.
    assert len(api_reads(db, "org_b")) == 4 and len(api_reads(db, "org_a")) == 1


# ---- q, limit, cursor -----------------------------------------------------------------


def test_q_filters_in_the_explore_syntax(client, read_token, db):
    store(db, 3, prefix="s", event_action="search")
    store(db, 2, prefix="x", event_action="export", event_type="data_modification")
    store(db, 1, prefix="m", user_id="mallory", details={"note": "drop table"})
    assert sorted(read_all(client, read_token, q="action:export")) == ["x000000", "x000001"]
    assert read_all(client, read_token, q='user:mallory "drop table"') == ["m000000"]
    assert sorted(read_all(client, read_token, q="-action:search")) == ["x000000", "x000001"]
    assert read_all(client, read_token, q="created:2024-01-01..2024-12-31") == []
    page = get(client, read_token, q="action:export", limit=1).json()
    event = page["events"][0]
    assert list(event) == list(NATIVE_FIELDS)  # the stored event, streaming's native JSON
    assert event["event_time"] == "2025-01-15T14:32:15.000000Z"
    assert event["details"] == {"query": "level:error AND user_id:12345", "results_count": 47}


@pytest.mark.parametrize(
    ("q", "named"),
    [
        ("action:export nosuch:thing", "'nosuch:thing'"),
        ('user:"unclosed', "never closed"),
        ("a\x00b", "U+0000"),
        ("ip:not-an-ip", "'ip:not-an-ip'"),
        ("x" * 50_000, "at most 4,000"),  # near what an HTTP client sends in a URL
        ("created:2025-13-01", "created:"),
    ],
)
def test_a_bad_q_is_a_400_naming_the_term(client, read_token, db, q, named):
    r = get(client, read_token, q=q)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert message.startswith("q: ") and named in message
    assert "\n" not in message and len(message) < 400
    assert api_reads(db) == []


def test_hostile_q_is_text_never_sql(client, read_token, db):
    store(db, 2)
    for q in [
        "'; DROP TABLE audit_events; --",
        '"\') OR 1=1 --"',
        "user:\"x' OR '1'='1\"",
        "%_\\\\%",
        "🦜' UNION SELECT * FROM ingest_keys --",
    ]:
        r = get(client, read_token, q=q)
        assert r.status_code in (200, 400), (q, r.text)
        if r.status_code == 200:
            assert r.json()["events"] == [], q
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events WHERE NOT own_use") == 2


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "not base64 at all",
        _b64("e:-1:0"),
        _b64("e:1:2:3"),
        _b64(f"e:{2**64}:0"),
        _b64(f"e:1:{2**63}"),
        _b64("e:01:1"),
        _b64("x:1:1"),
        _b64("e:1:1") + "=" * 40,
        "A" * 10_000,
        _b64("f:1:1"),  # a findings cursor is not an events cursor
    ],
)
def test_a_malformed_cursor_is_a_400(client, read_token, cursor):
    r = get(client, read_token, cursor=cursor)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("cursor: ")


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "abc", "1e3", ""])
def test_limit_is_bounded(client, read_token, limit):
    r = client.get("/api/v1/events", params={"limit": limit}, headers=auth(read_token))
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("limit: ")


def test_pages_follow_ingest_order_and_a_poll_reads_only_what_is_new(client, read_token, db):
    first = store(db, 25)
    pages = []
    cursor = None
    for _ in range(3):
        page = get(client, read_token, limit=10, **({"cursor": cursor} if cursor else {})).json()
        pages.append([e["id"] for e in page["events"]])
        cursor = page["next_cursor"]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == first  # one transaction: its sequence order
    again = get(client, read_token, cursor=cursor).json()
    assert again["events"] == [] and again["has_more"] is False
    later = store(db, 3, prefix="n")
    polled = get(client, read_token, cursor=again["next_cursor"]).json()["events"]
    assert [e["id"] for e in polled] == later


def test_a_slow_transaction_that_commits_after_a_later_one_is_not_skipped(client, read_token, db):
    """The xmin rule: an event whose transaction is still open holds back every event of
    transactions that began after it, so no cursor moves past it before it commits."""
    store(db, 2, prefix="a")
    with db.writer() as slow:
        insert_events(slow, [event_row(id="slow")])  # takes its transaction id first
        later = store(db, 2, prefix="late")  # a newer transaction, committed at once
        page = get(client, read_token).json()
        assert [e["id"] for e in page["events"]] == ["a000000", "a000001"]
        assert page["has_more"] is False
        cursor = page["next_cursor"]
        assert get(client, read_token, cursor=cursor).json()["events"] == []
    rest = get(client, read_token, cursor=cursor).json()
    assert [e["id"] for e in rest["events"]] == ["slow", *later]


def test_paging_under_concurrent_ingest_returns_exactly_the_committed_set(client, read_token, db):
    """Two writer threads store while a reader pages with small pages. The slow one keeps
    each of its transactions open until the reader has served a page, after committing a
    newer transaction meanwhile: the case a cursor on commit order alone would step over."""
    committed: list[str] = []
    lock = threading.Lock()
    page_served = threading.Event()
    errors: list[BaseException] = []

    def commit(rows: list[tuple[Any, ...]]) -> None:
        with db.writer() as session:
            insert_events(session, rows)
        with lock:
            committed.extend(r[1] for r in rows)

    def slow_writer() -> None:
        try:
            for b in range(8):
                rows = [event_row(id=f"slow-{b}-{i}") for i in range(3)]
                with db.writer() as session:
                    insert_events(session, rows)
                    commit([event_row(id=f"newer-{b}-{i}") for i in range(2)])
                    page_served.clear()
                    assert page_served.wait(30), "the reader served no page meanwhile"
                with lock:
                    committed.extend(r[1] for r in rows)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def fast_writer() -> None:
        try:
            for b in range(30):
                commit([event_row(id=f"fast-{b}-{i}") for i in range(5)])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    # The month's partition first: creating it locks the table until its transaction ends.
    commit([event_row(id="first")])
    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for t in threads:
        t.start()
    seen: list[str] = []
    cursor = None
    while True:
        writers_done = not any(t.is_alive() for t in threads)
        r = get(client, read_token, limit=7, **({"cursor": cursor} if cursor else {}))
        page_served.set()
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if writers_done and not page["has_more"]:
            break
    for t in threads:
        t.join()
    assert errors == []
    assert len(seen) == len(set(seen)), "an event was served twice"
    assert len(committed) == 1 + 8 * 5 + 30 * 5
    missing = set(committed) - set(seen)
    assert not missing, f"skipped {len(missing)}: {sorted(missing)[:5]}"
    assert set(seen) == set(committed)


# ---- findings ---------------------------------------------------------------------------


def test_findings_page_in_stored_order_and_q_takes_user_and_created(client, read_token, db):
    for name in ("f1", "f2", "f3"):
        store_finding(db, "org_a", name)
    page = get(client, read_token, path="/api/v1/findings", limit=2).json()
    assert [f["finding_id"] for f in page["findings"]] == ["f1", "f2"] and page["has_more"]
    rest = get(client, read_token, path="/api/v1/findings", cursor=page["next_cursor"]).json()
    assert [f["finding_id"] for f in rest["findings"]] == ["f3"] and not rest["has_more"]
    assert rest["findings"][0]["kind"] == "finding"
    only = get(client, read_token, path="/api/v1/findings", q="user:f2").json()
    assert [f["finding_id"] for f in only["findings"]] == ["f2"]
    outside = get(client, read_token, path="/api/v1/findings", q="created:2024-01-01").json()
    assert outside["findings"] == []
    refused = get(client, read_token, path="/api/v1/findings", q="action:export")
    assert refused.status_code == 400 and "action:" in refused.json()["error"]
    events_cursor = get(client, read_token).json()["next_cursor"]
    wrong = get(client, read_token, path="/api/v1/findings", cursor=events_cursor)
    assert wrong.status_code == 400 and "events" in wrong.json()["error"]


def test_a_finding_whose_window_ends_where_created_starts_is_not_in_it(client, read_token, db):
    # store_finding's window is [2025-01-15, 2025-01-16): it does not overlap the 16th.
    store_finding(db, "org_a", "f1")
    ids = {
        q: [
            f["finding_id"]
            for f in get(client, read_token, path="/api/v1/findings", q=q).json()["findings"]
        ]
        for q in (
            "created:2025-01-15",
            "created:2025-01-16",
            "created:>=2025-01-16",
            "created:<2025-01-15",
        )
    }
    assert ids == {
        "created:2025-01-15": ["f1"],
        "created:2025-01-16": [],
        "created:>=2025-01-16": [],
        "created:<2025-01-15": [],
    }


def test_an_address_reads_as_streaming_writes_it(client, read_token, db):
    # Python writes an IPv4-mapped IPv6 address as ::ffff:102:304, PostgreSQL (and so
    # streaming's native JSON) as ::ffff:1.2.3.4: the read API must give the stored text.
    (event_id,) = store(db, 1, ip_address="::ffff:1.2.3.4")
    with db.org_session("org_a") as session:
        # By id: the read key's own audit event is in org_audit_events too, and which row
        # comes first without an ORDER BY is the server's choice (a chunk, not a month).
        stored = session.scalar(
            "SELECT host(ip_address) FROM org_audit_events WHERE id = :id", {"id": event_id}
        )
    (event,) = get(client, read_token).json()["events"]
    assert event["ip_address"] == stored == "::ffff:1.2.3.4"


# ---- audit and documentation ------------------------------------------------------------


def test_every_page_served_is_audited_with_its_query_and_digest(client, read_token, db):
    store(db, 3)
    key_id = read_token.split("_")[1]
    r1 = client.get(
        "/api/v1/events",
        params={"q": "action:search", "limit": 2},
        headers={**auth(read_token), "User-Agent": "siem-puller/1.0\x7f"},
    )
    r2 = get(client, read_token, cursor=r1.json()["next_cursor"])
    r3 = get(client, read_token, path="/api/v1/findings")
    reads = api_reads(db)
    assert len(reads) == 3
    for read, response, rows in zip(reads, (r1, r2, r3), (2, 1, 0), strict=True):
        assert read["own_use"] is True and read["user_id"] == f"read_key:{key_id}"
        assert read["details"]["sha256"] == hashlib.sha256(response.content).hexdigest()
        assert read["details"]["rows"] == rows
        assert read["details"]["next_cursor"] == response.json()["next_cursor"]
    assert reads[0]["details"]["query"] == "action:search"
    assert reads[0]["details"]["filter"].startswith("events where action is")
    assert [r["resource_id"] for r in reads] == [
        "/api/v1/events",
        "/api/v1/events",
        "/api/v1/findings",
    ]
    # The reads are the meta-audit: readable with stream:auditlens, not in the default view.
    own = get(client, read_token, q="stream:auditlens action:api_read").json()["events"]
    assert len(own) == 3 and own[0]["user_agent"] == "siem-puller/1.0"
    assert "api_read" not in {e["event_action"] for e in get(client, read_token).json()["events"]}


def test_the_openapi_document_lists_both_paths_with_the_bearer_scheme(client):
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["ReadKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path, model in (("/api/v1/events", "EventPage"), ("/api/v1/findings", "FindingPage")):
        operation = doc["paths"][path]["get"]
        assert operation["security"] == [{"ReadKey": []}]
        assert {p["name"] for p in operation["parameters"]} == {"q", "limit", "cursor"}
        assert set(operation["responses"]) >= {"200", "400", "401", "403"}
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(model) and operation["description"]
    event = doc["components"]["schemas"]["AuditEvent"]["properties"]
    assert list(event) == list(NATIVE_FIELDS)


def test_the_openapi_document_lists_the_status_a_bad_parameter_gets(client, read_token):
    # A bad parameter is a 400 Problem, never FastAPI's 422: a client generated from the
    # document must not expect an answer the server never gives.
    bad = get(client, read_token, limit=0)
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
    doc = client.get("/openapi.json").json()
    for path in ("/api/v1/events", "/api/v1/findings"):
        responses = doc["paths"][path]["get"]["responses"]
        assert "422" not in responses
        assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("Problem")


def test_reads_beyond_the_concurrency_bound_get_503_with_retry_after(
    db, fresh_database, tmp_path, read_token
):
    store(db, 1)
    receiver = Receiver(db, spool_dir=tmp_path / "spool2", replay_interval=0.05)
    app = create_app(receiver)
    install_read_api(app, db, max_pages=1)
    client = TestClient(app)
    answers: list[int] = []

    def first_read() -> None:
        answers.append(get(client, read_token).status_code)

    try:
        with db.admin() as blocker, psycopg.connect(fresh_database, autocommit=True) as watcher:
            # Holds every reader of the events until this transaction ends.
            blocker.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            first = threading.Thread(target=first_read)
            first.start()
            for _ in range(3_000):  # until the first read waits for the lock, inside its page
                waiting = watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if waiting.fetchone() != (0,):
                    break
                first.join(0.01)
            second = get(client, read_token)
            assert second.status_code == 503 and second.headers["Retry-After"] == "1"
            assert "too many" in second.json()["error"]
        first.join(30)
        assert answers == [200]
        assert get(client, read_token).status_code == 200
    finally:
        receiver.close()
