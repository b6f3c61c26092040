"""Fixtures for detection over simulated organisations."""

from __future__ import annotations

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS
from tests.detection.frames import small_org

# The indexes over events that serve only the dashboard's and the streams' reads (see each
# one's reason in the events and search migrations): the text search over details, a session's
# other events, Explore's `ip:` and `user:` (e-mail) filters, the compliance report by resource,
# the config-switch history and a destination's cursor. Detection reads none of them.
NOT_READ_BY_DETECTION = (
    "audit_events_details_trgm",
    "audit_events_org_session",
    "audit_events_org_ip_time",
    "audit_events_org_email_fold",
    "audit_events_org_resource_time",
    "audit_events_org_switch_changes",
    "audit_events_org_ingest",
)


@pytest.fixture(scope="module")
def world_db(module_db: Database) -> Database:
    """The module's database, for a simulated organisation that detection reads: without the
    indexes only other readers use. Keeping them current costs the server more per event than
    the rest of the ingest (the text search's about as much as all the others together), and
    no index changes what a query returns; the events, their rollups and the indexes that
    detection and the rollups read are as in production."""
    with module_db.admin() as session:
        for index in NOT_READ_BY_DETECTION:
            session.execute(f"DROP INDEX IF EXISTS {index}")
    return module_db


@pytest.fixture
def seeded(db: Database):
    """A small organisation (`small_org`, 18 users, 40 days) stored as org_a: (db, events,
    labels, roster)."""
    events, labels, roster = small_org(users=18, days=40)
    events = events.assign(organization_id="org_a")
    rows = [tuple(r[c] for c in EVENT_COLUMNS) for r in events.to_dict("records")]
    with db.writer() as session:
        insert_events(session, rows)
    return db, events, labels, roster
