"""Counts in tables carry thousands separators (1,247): every numeric column of a dashboard
table gets the localized number format unless the page sets its own."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import tables
from tests.dashboard.conftest import page_test, run_compliance_report
from tests.dashboard.known_data import seed


def test_numeric_columns_are_formatted_and_overrides_win():
    frame = pd.DataFrame(
        {"user": ["a"], "events": [1247], "ratio": [1.5], "flag": [True], "score": [0.5]}
    )
    config = tables.column_config(frame, score=st.column_config.NumberColumn(format="%.2f"))
    assert set(config) == {"user", "events", "ratio", "flag", "score"}
    assert "type_config" not in config["user"] and "type_config" not in config["flag"]
    assert config["events"]["type_config"]["format"] == "localized"
    assert config["ratio"]["type_config"]["format"] == "localized"
    assert config["score"]["type_config"]["format"] == "%.2f"


def test_compliance_tables_show_counts_with_separators(dashboard_db, sign_in):
    seed(dashboard_db)
    at = run_compliance_report(
        page_test("compliance.py", sign_in("aud@company.com", "org_a", "auditor")).run()
    )
    assert not at.exception
    by_user = json.loads(at.dataframe[0].proto.columns)
    numeric = [
        c
        for c in at.dataframe[0].value.columns
        if "format" in by_user.get(c, {}).get("type_config", {})
    ]
    assert {"accesses", "active_days"} <= set(numeric)
    assert all(by_user[c]["type_config"]["format"] == "localized" for c in numeric)


def test_headings_are_words_times_state_their_zone_and_nothing_reads_none():
    frame = pd.DataFrame(
        {
            "user_email": [None, "ann@x.com"],
            "records_exported": [0, 3],
            "event_time": pd.to_datetime(["2025-01-15T02:13:00Z", "2025-01-15T03:00:00Z"]),
        }
    )
    config = tables.column_config(frame)
    assert config["user_email"]["label"] == "User"
    assert config["records_exported"]["label"] == "Records exported"
    assert config["event_time"]["label"] == "Time (UTC)"
    shown = tables.prepare(frame)
    assert list(shown["user_email"]) == ["—", "ann@x.com"]
    berlin = frame.assign(event_time=frame["event_time"].dt.tz_convert("Europe/Berlin"))
    assert tables.column_config(berlin)["event_time"]["label"] == "Time (Europe/Berlin)"
    assert "None" not in shown.astype(str).to_string()
    assert (
        tables.plural(1, "change") == "1 change" and tables.plural(1247, "event") == "1,247 events"
    )
    assert tables.height_for(3) > tables.height_for(1)
