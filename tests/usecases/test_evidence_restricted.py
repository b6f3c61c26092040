"""An evidence pack's default restricted set is the organisation's catalogue, as detection
reads it: confirmed restricted, or undescribed with a name that suggests restricted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sql.catalogue import checked_entry, set_entries
from sql.event_store import insert_events
from tests.factories import event_row
from usecases.evidence_pack import restricted_resources


def test_the_default_restricted_set_comes_from_the_catalogue(db):
    now = datetime.now(UTC) - timedelta(hours=1)
    with db.writer() as session:
        insert_events(
            session,
            [
                event_row(organization_id=org, resource_id=rid, event_time=now)
                for org in ("org_a", "org_b")
                for rid in ("payment-logs", "hr-events", "build-logs", "vault")
            ],
        )
    set_entries(
        db,
        "org_a",
        [checked_entry("hr-events", "internal"), checked_entry("vault", "restricted")],
        actor="t",
        via="test",
    )
    chosen = restricted_resources(db, "org_a")
    assert chosen.resource_ids == ("payment-logs", "vault")
    assert "resource catalogue" in chosen.source
    # Another organisation's catalogue changes nothing here.
    assert restricted_resources(db, "org_b").resource_ids == ("hr-events", "payment-logs")
