"""Calibrated detection on awkward organisations gives a clear result, never a traceback:
an empty window, a one-user organisation, no exports at all, a user with no history."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from detection.events import FrameEvents
from detection.features import Sensitivity, build_features, load_user_days
from detection.pipeline import DetectionResult, hour_profiles, score_window
from detection.rules import load_rules
from tests.detection.frames import FrameReadModel, small_org


def _detect(events: pd.DataFrame, start, end, roster=None) -> DetectionResult:
    read_model = FrameReadModel(events)
    user_days = load_user_days(read_model, "org_a", start, end)
    features = build_features(user_days, peer_groups=roster, sensitivity=Sensitivity())
    return score_window(
        features,
        load_rules(),
        start_day=start,
        end_day=end,
        events=FrameEvents(events),
        sensitivity=Sensitivity(),
        hour_profiles=hour_profiles(read_model, "org_a", user_days.start_day, end),
    )


def test_a_window_without_events_has_no_scores_and_no_findings():
    events, labels, roster = small_org(users=6, days=20)
    end = max(label["day"] for label in labels)
    later = end + timedelta(days=30)
    result = _detect(events, later, later + timedelta(days=2), roster)
    assert result.scores.empty and result.findings == [] and result.hits == []


def test_a_one_user_organisation_is_scored_and_never_demoted_for_prevalence():
    events, labels, _ = small_org(users=6, days=30)
    big = next(label for label in labels if label["scenario"] == "large_export")
    alone = events.loc[events["user_id"] == big["user_id"]]
    result = _detect(alone, big["day"] - timedelta(days=6), big["day"])
    assert set(result.scores["user_id"]) == {big["user_id"]}
    assert any(
        f.user_id == big["user_id"] and "large-export" in f.detectors for f in result.findings
    )
    assert not any("of users over" in h.reason for h in result.hits)


def test_an_organisation_without_exports_and_a_user_without_history():
    events, labels, roster = small_org(users=9, days=25)
    quiet = events.loc[~events["event_action"].isin(["export", "export_audit_logs"])]
    end = max(label["day"] for label in labels)
    newcomer = quiet.loc[quiet["event_time"].dt.date == end].head(5).copy()
    newcomer["user_id"], newcomer["user_email"] = "u_new", "new@company.com"
    result = _detect(pd.concat([quiet, newcomer]), end - timedelta(days=3), end, roster)
    assert "u_new" in set(result.scores["user_id"])
    assert not any(h.rule_id in ("large-export", "off-hours-export") for h in result.hits)
    for finding in result.findings:
        assert finding.severity in ("low", "medium", "high", "critical") and finding.explanation
