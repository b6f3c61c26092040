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
from sql import resource_names
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


# Ids that hold a pattern word only inside another word, in odd cases, or glued to digits.
TRICKY_IDS = [
    "chrome-logs",
    "discard-queue",
    "PIIExport",
    "PIIs",
    "SSNRecords",
    "payroll2024",
    "hr2023",
    "customerData",
    "ApiKeys",
    "api_keyring",
    "ssh-key",
    "signingKeys",
    "authz",
    "oauth-tokens",
    "Kelvin\u212aey",
    "\u0130nvoice",
    "SALARIES",
    "salary_bands",
    "x-hr-y",
    "shrink",
    "billing.EU",
    "tokenizer",
    "alert_new_00050e",
    "key_0008c2",
    "user_9a89196f",
    "",
]


def _suggestion_by_words(resource_id: str) -> str | None:
    """The suggested level computed from the id's words alone (no shortcut)."""
    words = resource_names.name_words(resource_id)
    for run, level, _ in resource_names.NAME_PATTERNS:
        if any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1)):
            return level
    return None


def test_the_quick_refusal_of_most_names_suggests_what_their_words_do():
    for resource_id in TRICKY_IDS:
        suggestion = resource_names.suggest_from_name(resource_id)
        level = suggestion.level if suggestion is not None else None
        assert level == _suggestion_by_words(resource_id), resource_id


def test_ids_without_any_pattern_word_are_not_split_into_words(monkeypatch):
    # Detection asks about every resource of an organisation (tens of thousands of alert
    # rules, keys and users at 6,000 users): most hold no pattern word at all.
    calls = []
    split = resource_names.name_words
    monkeypatch.setattr(resource_names, "name_words", lambda rid: calls.append(rid) or split(rid))
    ids = [f"alert_new_{n:06x}" for n in range(500)] + ["customer-data"]
    assert catalogue_sensitivity({}, ids).resource_ids == {"customer-data"}
    assert calls == ["customer-data"]


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
