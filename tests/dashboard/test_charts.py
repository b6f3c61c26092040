from __future__ import annotations

import pandas as pd

from dashboard.charts import matrix_figure, ranking_figure, timeline_figure


def test_timeline_stacks_one_trace_per_family_with_the_family_in_customdata():
    t = pd.Timestamp("2025-01-15 14:00", tz="UTC")
    frame = pd.DataFrame(
        {
            "bucket": [t, t, t, t + pd.Timedelta(hours=1)],
            "event_type": ["log_access", "log_access", "config_change", "log_access"],
            "event_action": ["search", "view_logs", "update_alert", "search"],
            "events": [3, 4, 1, 2],
        }
    )
    fig = timeline_figure(frame)
    traces = {trace.name: trace for trace in fig.data}
    assert set(traces) == {"config_change", "log_access"}
    assert list(traces["log_access"].y) == [7, 2]
    assert traces["config_change"].customdata[0][0] == "config_change"
    assert fig.layout.barmode == "stack"


def test_matrix_and_ranking_carry_their_keys():
    matrix = pd.DataFrame([[0, 3], [5, 0]], index=["alice", "bob"], columns=["d1", "d2"])
    fig = matrix_figure(matrix, "t", "day", "user")
    assert [list(c) for c in fig.data[0].customdata] == [["alice", "d2"], ["bob", "d1"]]
    assert list(fig.data[0].marker.color) == [3, 5]
    top = pd.DataFrame({"user_id": ["u1", "u2"], "user_email": ["a@x", "b@x"], "events": [9, 4]})
    fig = ranking_figure(top, "user_email", "events", ["user_id"], "Top users")
    assert list(fig.data[0].y) == ["b@x", "a@x"]  # largest on top
    assert [list(c) for c in fig.data[0].customdata] == [["u2"], ["u1"]]
