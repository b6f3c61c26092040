"""The read API (and streaming) read below the oldest running transaction of AuditLens's own
database: a long transaction in another database of the same server no longer holds every
reader back, while one in this database still does (it could still add events below)."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from ingest.keys import READ, create_key
from sql.event_store import insert_events
from tests.factories import event_row
from tests.streaming.helpers import store


def _ids(client: TestClient, token: str, cursor: str | None = None) -> tuple[list[str], str]:
    params = {"cursor": cursor} if cursor else {}
    r = client.get("/api/v1/events", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    page = r.json()
    return [e["id"] for e in page["events"]], page["next_cursor"]


def test_a_long_transaction_in_another_database_does_not_stall_readers(db, client, pg_server):
    token = create_key(db, "org_a", actor="test", scope=READ).token
    with psycopg.connect(pg_server.admin_url) as elsewhere:  # the maintenance database
        elsewhere.execute("SELECT pg_current_xact_id()")  # holds a transaction id, open
        stored = store(db, 3)
        ids, _ = _ids(client, token)
        assert ids == stored
        elsewhere.rollback()


def test_a_long_transaction_in_this_database_still_bounds_the_read(db, client):
    token = create_key(db, "org_a", actor="test", scope=READ).token
    with db.writer() as writer:
        # A writer that took its transaction id first and stores its event later.
        writer.scalar("SELECT pg_current_xact_id()")
        later = store(db, 2, prefix="late")
        ids, cursor = _ids(client, token)
        assert ids == []  # below the open transaction there is nothing yet
        insert_events(writer, [event_row(organization_id="org_a", id="early")])
    ids, _ = _ids(client, token, cursor)
    assert ids == ["early", *later]  # in ingest order, nothing skipped


def test_the_streaming_batch_reads_past_another_databases_transaction(db, pg_server):
    with psycopg.connect(pg_server.admin_url) as elsewhere:
        elsewhere.execute("SELECT pg_current_xact_id()")
        stored = store(db, 2)
        with db.org_session("org_a") as session:
            batch = session.execute(
                "SELECT id FROM auditlens_events_after(CAST('0' AS xid8), 0, 10)"
                " ORDER BY ingest_xid, ingest_seq"
            ).rows
        assert [r[0] for r in batch] == stored
        elsewhere.rollback()
