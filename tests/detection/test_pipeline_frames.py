"""Rules, model and ranking on a small organisation built in memory (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from detection.events import FrameEvents
from detection.evidence import evidence_query
from detection.features import Sensitivity, build_features, load_user_days
from detection.findings import SEVERITIES
from detection.pipeline import hour_profiles, score_window
from detection.rules import load_rules
from sql.event_filter import EventFilter
from tests.detection.frames import FrameReadModel, small_org


@pytest.fixture(scope="module")
def detected():
    events, labels, roster = small_org()
    read_model = FrameReadModel(events)
    end = max(label["day"] for label in labels)
    start = end - timedelta(days=6)
    user_days = load_user_days(read_model, "org_a", start, end)
    features = build_features(user_days, peer_groups=roster, sensitivity=Sensitivity())
    result = score_window(
        features,
        load_rules(),
        start_day=start,
        end_day=end,
        events=FrameEvents(events),
        sensitivity=Sensitivity(),
        hour_profiles=hour_profiles(
            read_model, "org_a", user_days.start_day, start - timedelta(days=1)
        ),
    )
    return result, labels


def test_each_planted_anomaly_is_a_finding_explained_in_words(detected):
    result, labels = detected
    by_user = {f.user_id: f for f in result.findings}
    expected_rule = {
        "volume": "volume-5x-own-baseline",
        "night_export": "off-hours-export",
        "wildcard_search": "identity-wildcard-search",
        "large_export": "large-export",
    }
    for label in labels:
        finding = by_user[label["user_id"]]
        assert finding.day == label["day"]
        assert expected_rule[label["scenario"]] in finding.detectors
    assert "25x above own 30-day median" in by_user["u001"].explanation
    assert "email:*@company.com" in by_user["u004"].explanation
    assert "02:13" in by_user["u002"].explanation


def test_planted_users_rank_above_everyone_else(detected):
    result, labels = detected
    planted = {(label["day"], label["user_id"]) for label in labels}
    top = list(zip(result.scores["day"], result.scores["user_id"], strict=True))[: len(planted)]
    assert set(top) == planted
    assert len(result.findings) <= len(planted) + 3  # few false alarms among ~170 user-days


def test_findings_carry_a_reproducing_evidence_query(detected):
    result, _ = detected
    for finding in result.findings:
        parsed = EventFilter.parse(finding.evidence_query)
        assert parsed.users == (finding.user_id,)
        assert parsed.start <= finding.window_start and finding.window_end <= parsed.end
        assert finding.window_start < finding.window_end
        assert str(finding).startswith(f"[{finding.severity}]")
        assert finding.model_version and finding.model_version.startswith("isolation-forest-")


def test_a_finding_shows_the_evidence_its_title_names_not_the_whole_day(detected):
    result, _ = detected
    with_model = 0
    for finding in result.findings:
        hits = [h for h in result.hits if (h.user_id, h.day) == (finding.user_id, finding.day)]
        if not hits:
            continue
        # The title names the most severe rule (ties by rule id).
        named = sorted(hits, key=lambda h: (-SEVERITIES.index(h.severity), h.rule_id))
        # The rule's own narrowed filter and window, even when the model agreed.
        assert finding.evidence_query == named[0].evidence_query
        assert (finding.window_start, finding.window_end) == (
            named[0].window_start,
            named[0].window_end,
        )
        with_model += "model" in finding.detectors
    assert with_model >= 1


def test_rules_alone_and_model_alone_can_be_compared():
    events, labels, roster = small_org(users=12, days=40)
    read_model = FrameReadModel(events)
    end = max(label["day"] for label in labels)
    user_days = load_user_days(read_model, "org_a", end, end)
    features = build_features(user_days, peer_groups=roster, sensitivity=Sensitivity())
    common = dict(start_day=end, end_day=end, events=FrameEvents(events), sensitivity=Sensitivity())
    rules_only = score_window(features, load_rules(), use_model=False, **common)
    model_only = score_window(features, load_rules(), use_rules=False, **common)
    assert rules_only.model is None and rules_only.scores["model_part"].eq(0).all()
    assert not model_only.hits and model_only.scores["rule_score"].eq(0).all()
    assert all(f.detectors == ["model"] for f in model_only.findings)


def test_evidence_query_quotes_values_the_syntax_needs_quoted():
    start = datetime(2025, 1, 10, tzinfo=UTC)
    query = evidence_query("john smith", start, start + timedelta(days=1), families=["log_access"])
    assert query == 'user:"john smith" family:log_access created:2025-01-10..2025-01-10'
    assert (
        EventFilter.parse(query).describe().startswith('events where user (id or email) is "john')
    )


def test_user_days_without_activity_do_not_appear(detected):
    result, _ = detected
    assert not result.scores.duplicated(["day", "user_id"]).any()
    assert pd.Series([d.weekday() for d in result.scores["day"]]).lt(5).all()


def test_off_hours_export_reads_only_the_exporters_hourly_profiles():
    events, _labels, roster = small_org()
    asked: list[object] = []

    class Recording(FrameReadModel):
        def user_hours(self, org, start, end, *, user_ids=None):
            asked.append(None if user_ids is None else sorted(user_ids))
            return super().user_hours(org, start, end, user_ids=user_ids)

    read_model = Recording(events)
    end = events["event_time"].max().date()
    start = end - timedelta(days=6)
    user_days = load_user_days(read_model, "org_a", start, end)
    features = build_features(user_days, peer_groups=roster, sensitivity=Sensitivity())
    rule = next(r for r in load_rules() if r.id == "off-hours-export")
    result = score_window(
        features,
        [rule],
        start_day=start,
        end_day=end,
        events=FrameEvents(events),
        sensitivity=Sensitivity(),
        hour_profiles=hour_profiles(
            read_model, "org_a", user_days.start_day, start - timedelta(days=1)
        ),
        use_model=False,
    )
    window = events.loc[events["event_time"].dt.date.between(start, end)]
    exporters = sorted(set(window.loc[window["event_action"] == "export", "user_id"]))
    assert 0 < len(exporters) < events["user_id"].nunique()
    assert asked == [exporters]
    assert {h.user_id for h in result.hits} == {"u002"}
