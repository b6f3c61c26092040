from __future__ import annotations

import numpy as np
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


def test_a_matrix_sets_its_own_margins_and_shows_every_row_and_column():
    # Margins Plotly fits itself (automargin, a colorbar's push) redraw the chart after each
    # push in the browser: the figure brings margins that hold its labels, and Plotly may not
    # grow them.
    matrix = pd.DataFrame(
        [[0, 3, 0, 0], [5, 0, 0, 0]],
        index=["u1", "u2"],
        columns=["2025-01-13", "2025-01-14", "2025-01-15", "2025-01-16"],
    )
    short = matrix_figure(matrix, "t", "day", "user", row_labels={"u1": "a@x", "u2": "b@x"})
    long = matrix_figure(
        matrix, "t", "day", "user", row_labels={"u1": "someone.long@company.com", "u2": "b@x"}
    )
    hostile = matrix_figure(matrix, "t", "day", "user", row_labels={"u1": "x" * 500, "u2": "b"})
    for fig in (short, long, hostile):
        assert fig.layout.margin.autoexpand is False
        assert not fig.layout.xaxis.automargin and not fig.layout.yaxis.automargin
        assert fig.layout.margin.r >= 80  # the colorbar's room
        # Every column and row, also the last two days, which have no events.
        assert tuple(fig.layout.xaxis.range) == (-0.5, 3.5)
        assert tuple(fig.layout.yaxis.range) == (-0.5, 1.5)
    # Longer labels get a wider margin, and one absurd label cannot take the chart's width.
    assert short.layout.margin.l < long.layout.margin.l <= hostile.layout.margin.l <= 400
    assert long.layout.margin.b >= 7 * len("2025-01-13")
    # Nobody active: an empty chart, not an axis range of no width.
    empty = matrix_figure(pd.DataFrame(dtype="int64"), "t", "day", "user")
    assert empty.data == () and empty.layout.xaxis.range is None


def test_per_point_arrays_reach_plotly_as_arrays():
    # Plotly checks a list element by element (half a second for a 30-day hourly timeline),
    # an array at once: every per-point array a chart builds is one.
    t = pd.Timestamp("2025-01-15 14:00", tz="UTC")
    frame = pd.DataFrame({"bucket": [t, t], "event_type": ["login", "search"], "events": [1, 2]})
    matrix = pd.DataFrame([[0, 3], [5, 0]], index=["alice", "bob"], columns=["d1", "d2"])
    top = pd.DataFrame({"user_id": ["u1", "u2"], "user_email": ["a@x", "b@x"], "events": [9, 4]})
    traces = [
        *timeline_figure(frame).data,
        *matrix_figure(matrix, "t", "day", "user").data,
        *ranking_figure(top, "user_email", "events", ["user_id"], "Top users").data,
    ]
    for trace in traces:
        assert isinstance(trace.customdata, np.ndarray), trace.name
    assert isinstance(traces[2].x, np.ndarray) and isinstance(traces[2].text, np.ndarray)


def test_every_chart_names_its_axes_units_bin_size_and_zone():
    import pandas as pd

    from dashboard import charts

    timeline = pd.DataFrame(
        {
            "event_type": ["log_access"],
            "bucket": [pd.Timestamp("2025-01-15", tz="UTC")],
            "events": [3],
        }
    )
    fig = charts.timeline_figure(timeline, "hour")
    assert fig.layout.xaxis.title.text == "time (UTC, one bar per hour)"
    assert fig.layout.yaxis.title.text == "events per hour"
    ranking = charts.ranking_figure(
        pd.DataFrame({"label": ["a"], "events": [2], "user_id": ["u"]}),
        "label",
        "events",
        ["user_id"],
        "Top users",
    )
    assert ranking.layout.xaxis.title.text == "events"
    baseline = charts.baseline_figure(
        pd.DataFrame({"feature": ["events"], "baseline_mean": [1.0], "day": [2.0]}), "2025-01-15"
    )
    assert baseline.layout.xaxis.title.text and "per day" in baseline.layout.yaxis.title.text
    matrix = charts.matrix_figure(
        pd.DataFrame([[1, 0], [0, 2]], index=["u1", "u2"], columns=["2025-01-14", "2025-01-15"]),
        "Events per user and day (UTC)",
        "day (UTC)",
        "user",
        row_labels={"u1": "ann@x.com"},
    )
    assert matrix.layout.xaxis.title.text == "day (UTC)"
    assert list(matrix.layout.yaxis.categoryarray) == ["u2", "ann@x.com"]
    assert matrix.layout.yaxis.dtick == 1 and matrix.data[0].marker.colorbar.title.text == "events"
