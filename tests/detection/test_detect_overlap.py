"""Detection overlaps its database reads with its own work: the events on sensitive
resources are read alongside the other user-day reads, and the rules over raw events run
while the features are built and the model fitted. Same answers as one step after another."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection, Iterable
from datetime import date, timedelta
from typing import Any

import pandas as pd

import detection.pipeline as pipeline
from detection.events import DatabaseEvents
from detection.features import (
    Sensitivity,
    build_features,
    catalogue_sensitivity,
    load_user_days,
    organisation_sensitivity,
)
from detection.pipeline import (
    HISTORY_DAYS,
    READ_TIMEOUT_MS,
    hour_profiles,
    load_calibration,
    org_settings,
    score_days,
    score_window,
)
from detection.rules import KINDS, load_rules
from detection.settings import benign_suppressions
from sql.read_model import ReadModel
from tests.detection.frames import FrameReadModel, small_org


class CountingReadModel(FrameReadModel):
    """Records each ask for events on chosen resources: the ids and the thread it ran on."""

    def __init__(self, events: pd.DataFrame) -> None:
        super().__init__(events)
        self.asks: list[tuple[tuple[str, ...], str]] = []

    def user_day_events_on(
        self, org: str, start_day: date, end_day: date, resource_ids: Collection[str]
    ) -> pd.DataFrame:
        self.asks.append((tuple(resource_ids), threading.current_thread().name))
        return super().user_day_events_on(org, start_day, end_day, resource_ids)


def test_sensitive_events_are_read_once_alongside_the_other_reads():
    events, labels, roster = small_org()
    end = max(label["day"] for label in labels)
    start = end - timedelta(days=6)
    answers: list[Sensitivity] = []

    def sensitivity_of(known: Iterable[Any]) -> Sensitivity:
        answers.append(catalogue_sensitivity({}, known))
        return answers[-1]

    early = CountingReadModel(events)
    loaded = load_user_days(early, "org_a", start, end, sensitivity_of=sensitivity_of)
    assert loaded.sensitivity is answers[0] and len(answers) == 1
    sensitive = sorted(answers[0].resource_ids)
    assert sensitive == ["source_customer_data"]  # the name says so; nobody described it
    features = build_features(loaded, peer_groups=roster, sensitivity=answers[0])
    # One read, made by the loader's pool while the other reads ran; the features took it.
    assert early.asks == [(("source_customer_data",), early.asks[0][1])]
    assert early.asks[0][1].startswith("auditlens-read")

    late = CountingReadModel(events)
    plain = load_user_days(late, "org_a", start, end)
    assert plain.sensitivity is None and late.asks == []
    expected = build_features(plain, peer_groups=roster, sensitivity=answers[0])
    assert late.asks == [(("source_customer_data",), threading.current_thread().name)]
    pd.testing.assert_frame_equal(features.rows, expected.rows, check_exact=True)
    assert expected.rows["sensitive_events"].sum() > 0


def test_other_resources_asked_for_are_read_then(seeded):
    db, _events, labels, _roster = seeded
    end = max(label["day"] for label in labels)
    model = ReadModel(db)
    loaded = load_user_days(
        model, "org_a", end - timedelta(days=3), end, sensitivity_of=lambda _: Sensitivity()
    )
    # Nothing sensitive: nothing read early, and an ask still gets its answer.
    asked = loaded.resource_events(["source_app_logs"])
    expected = model.user_day_events_on("org_a", loaded.start_day, end, ["source_app_logs"])
    key = ["day", "user_id"]
    pd.testing.assert_frame_equal(
        asked.sort_values(key, ignore_index=True), expected.sort_values(key, ignore_index=True)
    )
    assert len(asked) > 0


def _without_ids(findings: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in dataclasses.asdict(f).items() if k != "finding_id"} for f in findings]


def test_event_rules_run_while_features_are_built_with_the_same_outcome(
    seeded,
    monkeypatch,
):
    db, _events, labels, roster = seeded
    end = max(label["day"] for label in labels)
    start = end - timedelta(days=4)
    rules = load_rules()
    threads: dict[str, str] = {}
    evaluate = pipeline.evaluate_rule

    def recording(rule: Any, context: Any) -> Any:
        threads[rule.id] = threading.current_thread().name
        return evaluate(rule, context)

    monkeypatch.setattr("detection.pipeline.evaluate_rule", recording)
    read_model = ReadModel(db, timeout_ms=READ_TIMEOUT_MS)
    scored = score_days(db, "org_a", start, end, rules, read_model=read_model, peer_groups=roster)
    assert scored is not None
    result, _ = scored
    reads_events = {rule.id for rule in rules if KINDS[rule.kind].reads_events}
    assert reads_events and set(threads) == {rule.id for rule in rules}
    for rule_id, name in threads.items():
        if rule_id in reads_events:
            assert name.startswith("auditlens-rules"), rule_id
        else:
            assert name == threading.current_thread().name, rule_id

    # The same steps one after another, every rule in score_window.
    user_days = load_user_days(read_model, "org_a", start, end, history_days=HISTORY_DAYS)
    sensitivity = organisation_sensitivity(db, "org_a", user_days.resources["resource_id"].unique())
    assert sensitivity.resource_ids  # the rules over sensitive sources have something to read
    features = build_features(user_days, peer_groups=roster, sensitivity=sensitivity)
    settings = org_settings(db, "org_a")
    calibration = load_calibration(db, "org_a")
    expected = score_window(
        features,
        rules,
        start_day=start,
        end_day=end,
        events=DatabaseEvents(db, "org_a", timeout_ms=READ_TIMEOUT_MS),
        sensitivity=sensitivity,
        hour_profiles=hour_profiles(
            read_model, "org_a", user_days.start_day, start - timedelta(days=1)
        ),
        org="org_a",
        time_zone=settings.time_zone,
        work_hours=(settings.work_start_hour, settings.work_end_hour),
        calibration=calibration,
        suppressions=benign_suppressions(db, "org_a", calibration.benign_suppression_days),
    )
    pd.testing.assert_frame_equal(result.scores, expected.scores, check_exact=True)
    assert result.hits == expected.hits and result.rule_errors == expected.rule_errors
    assert _without_ids(result.findings) == _without_ids(expected.findings)
    planted = {label["user_id"] for label in labels}
    assert planted <= {f.user_id for f in result.findings}
