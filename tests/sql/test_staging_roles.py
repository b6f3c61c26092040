"""A pooled connection serves the login role and the writer in turn: writing events must work
whichever role wrote through that connection before."""

from __future__ import annotations

from sql.event_store import insert_events
from tests.factories import event_row


def test_writer_can_insert_after_admin_inserted_on_the_same_connection(db):
    db.engine.pool.dispose()
    with db.admin() as s:
        insert_events(s, [event_row()])
    with db.writer() as s:
        outcome = insert_events(s, [event_row(), event_row()])
    with db.admin() as s:
        insert_events(s, [event_row()])
    assert outcome.inserted == 2
    with db.org_session("org_a") as s:
        assert s.scalar("SELECT count(*) FROM org_audit_events") == 4
