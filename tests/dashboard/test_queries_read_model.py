"""The overview's family counts come from the read model and equal a raw count."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.queries import family_counts
from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.factories import event_row


def test_family_counts_include_rolled_up_and_new_events(db: Database):
    with db.writer() as w:
        insert_events(w, [event_row(event_type="login", event_action="login") for _ in range(3)])
        insert_events(w, [event_row(event_time=datetime(1999, 1, 1, tzinfo=UTC))])
        insert_events(w, [event_row(organization_id="org_b")])
    ReadModel(db).refresh()
    with db.writer() as w:
        insert_events(w, [event_row(event_type="config_change", event_action="update_alert")])
    assert family_counts(db, "org_a") == {"login": 3, "log_access": 1, "config_change": 1}
    assert list(family_counts(db, "org_a")) == ["login", "config_change", "log_access"]
    with db.admin() as session:
        raw = session.execute(
            "SELECT event_type, count(*) FROM audit_events WHERE organization_id = 'org_a'"
            " GROUP BY 1"
        )
    assert dict(raw.rows) == family_counts(db, "org_a")
