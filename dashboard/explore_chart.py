"""Explore's timeline figure: bars as wide as the data needs, an x-axis that spans the data
(never into the future), and axis titles that give the unit, the bar width and the zone."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import timeline_figure
from dashboard.explore_queries import Bins


def explore_timeline_figure(frame: pd.DataFrame, bins: Bins) -> go.Figure:
    """`timeline_figure` with bars `bins.width` wide over exactly [bins.start, bins.end)."""
    fig = timeline_figure(frame)
    width_ms = bins.width.total_seconds() * 1000
    # Each bar starts at its bin and covers it (offset 0): a selected point is a bin start.
    fig.update_traces(width=width_ms, offset=0, selector={"type": "bar"})
    fig.update_layout(
        title=f"Events per {bins.label}",
        xaxis={
            "title": {"text": f"Time (UTC), bars of {bins.label}"},
            "range": [bins.start, bins.end],
            "type": "date",
        },
        yaxis={"title": {"text": f"Events per {bins.label}"}, "rangemode": "tozero"},
        bargap=0.05,
    )
    return fig
