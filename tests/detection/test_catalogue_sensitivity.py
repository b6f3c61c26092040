"""Detection's idea of "sensitive" comes from the organisation's catalogue: confirmed levels
win; an undescribed resource counts when its name suggests a restricted level. An
organisation whose ids the simulator never makes (`payment-logs`, `customer-data`) is judged
by its own names and catalogue."""

from __future__ import annotations

from datetime import timedelta

import pytest

import detection.pipeline
from detection.features import Sensitivity, catalogue_sensitivity
from detection.pipeline import run_detection
from sql.catalogue import checked_entry, set_entries
from sql.event_store import insert_events
from sql.gateway import Database
from sql.vocabulary import EVENT_COLUMNS
from tests.detection.frames import small_org

# The in-memory organisation's sources, renamed the way a real organisation names things.
RENAMED = {
    "source_customer_data": "customer-data",
    "source_infra_logs": "build-logs",
    "source_production_api": "production-api",
    "source_app_logs": "app-logs",
    "source_staging_logs": "staging-logs",
}


def test_names_a_real_organisation_uses_are_judged_by_their_words():
    ids = [
        "payment-logs",
        "customer-data",
        "hr-events",
        "HR-Events",
        "customer_data",
        "source_payment_logs",
        "build-logs",
        "chrome-logs",
        "discard-queue",
        None,
    ]
    sensitive = catalogue_sensitivity({}, ids)
    assert sensitive.resource_ids == {
        "payment-logs",
        "customer-data",
        "hr-events",
        "HR-Events",
        "customer_data",
        "source_payment_logs",
    }


def test_a_confirmed_level_always_wins():
    confirmed = {"payment-logs": "internal", "build-logs": "restricted", "ops": "confidential"}
    sensitive = catalogue_sensitivity(confirmed, ["payment-logs", "build-logs", "hr-events"])
    # Confirmed confidential is shown on pages but is not what the rules count.
    assert sensitive.resource_ids == {"build-logs", "hr-events"}


@pytest.fixture
def renamed_org(db: Database):
    events, labels, roster = small_org(users=18, days=40)
    events = events.assign(
        organization_id="org_real", resource_id=events["resource_id"].replace(RENAMED)
    )
    rows = [tuple(r[c] for c in EVENT_COLUMNS) for r in events.to_dict("records")]
    with db.writer() as session:
        insert_events(session, rows)
    return db, labels, roster


def test_detection_on_an_organisation_the_simulator_did_not_make_reads_its_catalogue(
    renamed_org, monkeypatch
):
    db, labels, roster = renamed_org
    seen: list[Sensitivity] = []
    build = detection.pipeline.build_features

    def spy(user_days, **kwargs):
        seen.append(kwargs["sensitivity"])
        return build(user_days, **kwargs)

    monkeypatch.setattr(detection.pipeline, "build_features", spy)
    end = max(label["day"] for label in labels)
    window = {"start": end - timedelta(days=2), "end": end, "peer_groups": roster}
    result, _, _ = run_detection(db, "org_real", actor="test", **window)
    assert result is not None
    assert seen[-1].resource_ids == {"customer-data"}
    # The organisation says what its resources are: detection follows at the next run.
    set_entries(
        db,
        "org_real",
        [checked_entry("build-logs", "restricted"), checked_entry("customer-data", "internal")],
        actor="admin@real.com",
        via="test",
    )
    run_detection(db, "org_real", actor="test", **window)
    assert seen[-1].resource_ids == {"build-logs"}
