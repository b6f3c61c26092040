"""Fixtures of the read model tests: the randomised events loaded through the real writer
and refreshes, for comparing the read model with `read_model_reference`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sql.event_store import insert_events
from sql.gateway import Database
from sql.read_model import ReadModel
from tests.sql.read_model_reference import ORGS, Event, Generator


def _set_org_hours(db: Database) -> None:
    with db.admin() as session:
        for org, tz, ws, we in ORGS:
            session.execute(
                "INSERT INTO organizations (organization_id, time_zone, work_start_hour,"
                " work_end_hour) VALUES (:o, :tz, :ws, :we)",
                {"o": org, "tz": tz, "ws": ws, "we": we},
            )


def _insert(db: Database, events: list[Event]) -> None:
    with db.writer() as w:
        insert_events(w, [e.row() for e in events])


def load_events(db: Database) -> list[Event]:
    """Three batches: rolled up; late events and re-sent duplicates, rolled up; then a batch
    that stays past the watermark. The org without a row of its own uses the defaults."""
    _set_org_hours(db)
    gen = Generator(seed=7)
    orgs = [o for o, *_ in ORGS] + ["org_no_settings"]
    model = ReadModel(db)
    first = [gen.event(random.Random(i).choice(orgs), day_from=7) for i in range(700)]
    _insert(db, first)
    model.refresh()
    late = [gen.event(random.Random(i).choice(orgs), day_to=7) for i in range(400)]
    # Duplicates land in the same batch and in a later one: stored once, counted once.
    _insert(db, late + first[:50] + late[:20])
    model.refresh()
    recent = [gen.event(random.Random(i).choice(orgs)) for i in range(300)]
    _insert(db, recent + first[50:80])
    return first + late + recent


@pytest.fixture
def loaded(db: Database) -> tuple[Database, list[Event]]:
    """The test's own database with `load_events`: for tests that refresh or rebuild."""
    return db, load_events(db)


def _state(db: Database) -> tuple[object, ...]:
    with db.admin() as session:
        row = session.execute(
            "SELECT (SELECT count(*) FROM audit_events),"
            " (SELECT watermark::text FROM rollup_state WHERE name = 'events')"
        ).rows[0]
    return tuple(row)


@contextmanager
def kept_unchanged(db: Database) -> Iterator[None]:
    """For a database tests share: fails when one of them added events or refreshed it."""
    before = _state(db)
    yield
    assert _state(db) == before, "a test changed the database its module shares"


@pytest.fixture(scope="module")
def loaded_shared(module_db: Database) -> Iterator[tuple[Database, list[Event]]]:
    """`loaded`'s data in one database the module's read-only tests share."""
    events = load_events(module_db)
    with kept_unchanged(module_db):
        yield module_db, events
