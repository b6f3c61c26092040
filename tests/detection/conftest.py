"""Fixtures for detection over simulated organisations."""

from __future__ import annotations

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS
from tests.detection.frames import small_org

# The search migration's index over each event's details text (see the search migration).
TEXT_SEARCH_INDEX = "audit_events_details_trgm"


@pytest.fixture(scope="module")
def world_db(module_db: Database) -> Database:
    """The module's database, for a simulated organisation that detection reads: without the
    text-search index. Nothing detection runs searches text, and keeping that index current
    costs the server about as much per event as all the other indexes together; the events,
    their rollups and every other index are as in production."""
    with module_db.admin() as session:
        session.execute(f"DROP INDEX IF EXISTS {TEXT_SEARCH_INDEX}")
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
