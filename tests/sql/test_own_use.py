"""AuditLens's own use (the meta-audit) is its own stream: marked by the server only for what
record_event writes, never forgeable through the wire format, and left out of the analysed
organisation's rollups, read model, filters and detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detection.events import DatabaseEvents, Slice
from ingest.model import EventRejected, validate_event
from sql.event_filter import EventFilter
from sql.event_store import insert_events, record_event
from sql.read_model import ReadModel
from sql.rollup.refresh import refresh
from sql.vocabulary import SEARCH
from tests.factories import event_row

T0 = datetime(2025, 2, 3, 10, 0, tzinfo=UTC)


def _own(db, org="org_a", when_ids=3):
    with db.writer() as session:
        return [
            record_event(
                session,
                organization_id=org,
                action=SEARCH,
                user_id="u_viewer",
                user_email="viewer@company.com",
                resource_type="audit_log",
                resource_id="dashboard/explore",
                details={"query": "customer"},
            )
            for _ in range(when_ids)
        ]


def _marks(db, org="org_a"):
    with db.org_session(org) as s:
        return dict(s.execute("SELECT id, own_use FROM org_audit_events").rows)


def test_only_record_event_marks_own_use(db):
    own = _own(db)
    with db.writer() as session:
        insert_events(session, [event_row(id="p1", resource_type="audit_log")])
        # The same transaction goes on writing producers' events after an own one.
        record_event(session, organization_id="org_a", action=SEARCH, user_id="u_viewer")
        insert_events(session, [event_row(id="p2")])
    marks = _marks(db)
    assert all(marks[i] for i in own)
    assert marks["p1"] is False and marks["p2"] is False
    assert sum(marks.values()) == 4


def test_a_producer_cannot_forge_the_marker_through_the_wire_format(db):
    wire = {
        "id": "forged",
        "timestamp": T0.isoformat(),
        "event_type": "log_access",
        "event_action": "search",
        "user_id": "mallory",
        "organization_id": "org_a",
        "resource_type": "audit_log",
        "resource_id": "dashboard/explore",
        "details": {"own_use": True},
    }
    with pytest.raises((EventRejected, ValueError), match="own_use"):
        validate_event({**wire, "own_use": True})
    with db.writer() as session:
        insert_events(session, [validate_event(wire).to_row()])
    assert _marks(db)["forged"] is False
    # Even a writer's own SQL cannot set it: the server's trigger decides.
    with db.writer() as session:
        session.execute(
            "INSERT INTO audit_events (organization_id, id, event_time, event_type,"
            " event_action, own_use) VALUES ('org_a', 'sql', :t, 'login', 'login', true)",
            {"t": T0},
        )
    assert _marks(db)["sql"] is False


def test_rollups_read_model_filters_and_detection_leave_own_use_out(db):
    with db.writer() as session:
        insert_events(
            session, [event_row(id=f"e{i}", event_time=T0 + timedelta(minutes=i)) for i in range(5)]
        )
    _own(db, when_ids=4)
    _own(db, org="org_b", when_ids=2)
    end = datetime.now(UTC) + timedelta(days=1)
    model = ReadModel(db)
    # Past the watermark (raw part) and after a refresh (rollups): the same figures.
    for _ in range(2):
        totals = model.totals("org_a", T0 - timedelta(days=1), end)
        assert totals["events"] == 5, totals
        resources = model.top_resources("org_a", T0 - timedelta(days=1), end)
        assert "dashboard/explore" not in set(resources["resource_id"])
        refresh(db)
    where, params = EventFilter().to_sql()
    with db.org_session("org_a") as s:
        assert s.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params) == 5
    where, params = EventFilter(own_use=True).to_sql()
    with db.org_session("org_a") as s:
        assert s.scalar(f"SELECT count(*) FROM org_audit_events WHERE {where}", params) == 4
    fetched = DatabaseEvents(db, "org_a").fetch(
        Slice("log_access", T0 - timedelta(days=1), end, actions=("search",))
    )
    assert len(fetched) == 5
