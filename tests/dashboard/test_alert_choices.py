"""The Alerts page's choices and the alert a form describes, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.alert_choices import (
    CONDITION_LABELS,
    WINDOWS,
    alert_label,
    condition_text,
    spec_from_form,
    window_label,
)
from sql.search_alerts import CONDITIONS
from usecases.search_alerts import AlertError, AlertSpec, SearchAlert

_T = datetime(2026, 1, 1, tzinfo=UTC)


def _alert(condition="any", threshold=0, window=60, *, enabled=False, deleted=False):
    return SearchAlert(
        3, "org_a", 7, "Payment exports", "action:export", deleted, condition, threshold,
        window, "high", enabled, "lee@x.com", _T, None, None,
    )  # fmt: skip


def test_every_condition_the_store_knows_has_words():
    assert tuple(CONDITION_LABELS) == CONDITIONS


def test_windows_read_as_a_person_says_them():
    assert [window_label(m) for m in WINDOWS] == [
        "5 minutes", "15 minutes", "30 minutes", "1 hour", "4 hours", "1 day", "7 days",
    ]  # fmt: skip
    assert (window_label(1), window_label(90), window_label(2_880)) == (
        "1 minute",
        "90 minutes",
        "2 days",
    )


def test_any_match_leaves_n_and_t_out():
    assert spec_from_form("any", 7, 5, "low") == AlertSpec("any", 0, 60, "low")
    assert spec_from_form("per_user", 3, 15, "critical") == AlertSpec("per_user", 3, 15, "critical")


def test_a_bad_form_is_the_store_s_one_line_error():
    with pytest.raises(AlertError, match="severity must be one of"):
        spec_from_form("count", 3, 60, "urgent")
    with pytest.raises(AlertError, match=r"threshold must be a whole number in \[0,"):
        spec_from_form("count", -1, 60, "high")


def test_the_condition_and_the_picker_line():
    assert condition_text(_alert()) == "any match"
    assert condition_text(_alert("count", 1500, 1_440)) == "more than 1,500 matches in 1 day"
    per_user = _alert("per_user", 3, 60, enabled=True)
    assert condition_text(per_user) == "more than 3 matches by one user in 1 hour"
    assert alert_label(per_user) == (
        "#3 Payment exports: more than 3 matches by one user in 1 hour, high, on"
    )
    assert alert_label(_alert(deleted=True)) == (
        "#3 Payment exports (search deleted): any match, high, off"
    )
