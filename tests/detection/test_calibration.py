"""Calibration to one organisation: prevalence and routine demote, benign verdicts suppress,
the model alerts within its budget. Pure functions over hits and scores, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from detection.calibration import (
    MODEL_ONLY_MAX,
    Calibration,
    Suppression,
    budget_model_part,
    calibrate_hits,
    model_budget,
)
from detection.rules.schema import RuleHit

DAY = date(2025, 1, 15)


def hit(user: str, rule: str = "off-hours-export", severity: str = "high", day: date = DAY):
    start = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
    return RuleHit(rule, severity, user, f"{user}@x.com", day, start, start, "exported", "q")


def test_a_rule_firing_for_a_quarter_of_the_organisation_is_demoted_and_says_so():
    hits = [hit(f"u{i}") for i in range(30)] + [hit("u0", "large-export")]
    out = calibrate_hits(hits, active_users=100, window_days=30)
    spread = [h for h in out if h.rule_id == "off-hours-export"]
    assert {h.severity for h in spread} == {"low"}  # three steps down from high
    assert all("fired for 30% of users over 30 days" in h.reason for h in spread)
    rare = next(h for h in out if h.rule_id == "large-export")
    assert rare.severity == "high" and rare.reason == "exported"


def test_bands_demote_step_by_step_and_small_counts_never():
    cases = [(6, "high", "medium"), (12, "high", "low"), (3, "high", "high")]
    cases += [(12, "critical", "medium"), (25, "critical", "low"), (5, "critical", "high")]
    for users, severity, expected in cases:
        hits = [hit(f"u{i}", severity=severity) for i in range(users)]
        out = calibrate_hits(hits, active_users=100, window_days=30)
        assert {h.severity for h in out} == {expected}, (users, severity)
    # Two users of a 20-person organisation are 10%, but two people are not "many".
    out = calibrate_hits([hit("a"), hit("b")], active_users=20, window_days=30)
    assert {h.severity for h in out} == {"high"}


def test_a_users_routine_is_demoted_for_them_and_does_not_hide_anyone_else():
    routine = [hit(f"fin{i}", day=DAY + timedelta(days=d)) for i in range(6) for d in range(20)]
    campaign = [hit("slow", day=DAY + timedelta(days=d)) for d in range(10)]
    out = calibrate_hits([*routine, *campaign, hit("insider")], active_users=100, window_days=30)
    # Ten days of thirty is a campaign, not a routine.
    assert {h.severity for h in out if h.user_id == "slow"} == {"high"}
    insider = next(h for h in out if h.user_id == "insider")
    assert insider.severity == "high"
    demoted = [h for h in out if h.user_id.startswith("fin")]
    assert {h.severity for h in demoted} == {"low"}
    assert all("routine for this user: fired on 20 of 30 days" in h.reason for h in demoted)


def test_a_benign_verdict_silences_only_that_rule_for_that_user_for_its_time():
    since = datetime(2025, 1, 10, tzinfo=UTC)
    silence = Suppression("u1", "off-hours-export", since, since + timedelta(days=30))
    hits = [
        hit("u1"),
        hit("u1", "large-export"),
        hit("u2"),
        hit("u1", day=date(2025, 3, 1)),  # after the set time
    ]
    out = calibrate_hits(hits, active_users=100, window_days=60, suppressions=[silence])
    kept = {(h.user_id, h.rule_id, h.day) for h in out}
    assert kept == {
        ("u1", "large-export", DAY),
        ("u2", "off-hours-export", DAY),
        ("u1", "off-hours-export", date(2025, 3, 1)),
    }


def test_model_only_findings_stay_within_the_budget_and_at_most_medium():
    rng = np.random.default_rng(3)
    part = rng.uniform(0.5, 0.85, 200)
    has_rules = np.zeros(200, dtype=bool)
    has_rules[:10] = True
    out = budget_model_part(part, has_rules, 4, 0.5)
    alone = out[~has_rules]
    assert (alone >= 0.5).sum() == 4 and alone.max() <= MODEL_ONLY_MAX
    # The four kept are the four most unusual model-only user-days.
    kept = np.flatnonzero((out >= 0.5) & ~has_rules)
    assert set(kept) == set(np.argsort(-np.where(has_rules, -1, part))[:4])
    assert np.array_equal(out[has_rules], part[has_rules])


def test_budget_scales_with_people_and_weeks():
    settings = Calibration(model_alerts_per_100_users_week=2)
    assert model_budget(100, 7, settings) == 2
    assert model_budget(120, 91, settings) == 32
    assert model_budget(0, 30, settings) == 0
    assert model_budget(20, 1, Calibration(model_alerts_per_100_users_week=0)) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_alerts_per_100_users_week": -1}, "model_alerts_per_100_users_week must be"),
        ({"benign_suppression_days": 4000}, "benign_suppression_days must be"),
    ],
)
def test_settings_out_of_range_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Calibration(**kwargs)


def test_no_hits_and_no_users_give_nothing_not_a_traceback():
    assert calibrate_hits([], active_users=0, window_days=1) == []
    assert budget_model_part(np.array([]), np.array([], dtype=bool), 3, 0.5).size == 0
