"""Plotly figures of the dashboard. Every selectable mark carries, in `customdata`, what a
drill-down needs to build its query, so a selection maps back to events without guessing
from axis labels. Heatmaps are drawn as square markers: Plotly heatmap traces cannot be
box- or click-selected, scatter markers can.

Text drawn from data (legend names, category ticks, hover text) goes through
`dashboard/plot_text.py`: Plotly renders a subset of HTML in it. `customdata` keeps the raw
values, for the drill-down's query.

Arrays go to Plotly as NumPy arrays, not lists: Plotly validates a list element by element
(a list of lists of strings took most of a timeline's half second), an array at once. The
figure's JSON is the same."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.plot_text import plot_text, template_text

FAMILY_COLORS: Mapping[str, str] = {
    "log_access": "#2563eb",
    "config_change": "#d97706",
    "user_management": "#7c3aed",
    "data_modification": "#dc2626",
    "login": "#059669",
    "api_call": "#64748b",
}
_HEIGHT = 320
_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
    "height": _HEIGHT,
    "legend": {"orientation": "h", "y": -0.2},
    "separators": ".,",
}


def timeline_figure(timeline: pd.DataFrame, bucket: str | None = None) -> go.Figure:
    """Events per bucket stacked by family; customdata = (event_type,).

    `bucket` ("hour", "day") names the bin size in the axis titles; buckets are UTC.
    """
    fig = go.Figure()
    if not timeline.empty:
        per_family = pd.DataFrame(
            timeline.groupby(["event_type", "bucket"], as_index=False)["events"].sum()
        ).sort_values(["event_type", "bucket"])
        for family, rows in per_family.groupby("event_type", sort=True):
            fig.add_bar(
                x=rows["bucket"],
                y=rows["events"],
                name=plot_text(family),
                marker_color=FAMILY_COLORS.get(str(family)),
                customdata=np.full((len(rows), 1), str(family)),
                hovertemplate="%{x}<br>" + template_text(family) + ": %{y:,}<extra></extra>",
            )
    fig.update_xaxes(title=f"time (UTC, one bar per {bucket})" if bucket else "time (UTC)")
    fig.update_yaxes(title=f"events per {bucket}" if bucket else "events")
    fig.update_layout(barmode="stack", title="Events over time", **_LAYOUT)
    fig.update_layout(dragmode="select", clickmode="event+select")
    return fig


def ranking_figure(
    frame: pd.DataFrame, label: str, value: str, keys: list[str], title: str
) -> go.Figure:
    """Horizontal bars, largest on top; customdata = the `keys` columns of each row."""
    fig = go.Figure()
    if not frame.empty:
        ordered = frame.iloc[::-1]
        fig.add_bar(
            x=ordered[value],
            y=[plot_text(v) for v in ordered[label]],
            orientation="h",
            customdata=ordered[keys].astype(str).to_numpy(dtype=str),
            marker_color="#2563eb",
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    fig.update_xaxes(title=plot_text(value))
    fig.update_layout(title=plot_text(title), **_LAYOUT)
    fig.update_layout(clickmode="event+select", showlegend=False)
    return fig


MATRIX_ROW_PX = 22


def matrix_figure(
    matrix: pd.DataFrame,
    title: str,
    x_title: str,
    y_title: str,
    keys: str = "cell",
    *,
    row_labels: Mapping[str, str] | None = None,
    unit: str = "events",
) -> go.Figure:
    """A heatmap of square markers, one per cell with events; customdata = (row, column).

    Cells are ordered as in `matrix` (rows top to bottom, columns left to right). Every row
    and column is labelled (`row_labels` names rows, e.g. a user's email for their id), and
    the figure grows with its rows so each stays readable.
    """
    names = dict(row_labels or {})
    fig = go.Figure()
    rows, columns, counts = [], [], []
    for row_label, row in matrix.iterrows():
        for column_label, count in row.items():
            if count:
                rows.append(str(row_label))
                columns.append(str(column_label))
                counts.append(int(count))
    shown_rows = np.array([plot_text(names.get(r, r)) for r in rows], dtype=str)
    shown_columns = np.array([plot_text(c) for c in columns], dtype=str)
    if counts:
        peak = max(counts)
        fig.add_scatter(
            x=shown_columns,
            y=shown_rows,
            mode="markers",
            marker={
                "symbol": "square",
                "size": 16,
                "color": counts,
                "colorscale": "Blues",
                "cmin": 0,
                "cmax": peak,
                "showscale": True,
                "line": {"width": 0},
            },
            customdata=np.array([rows, columns], dtype=str).T,
            text=np.array([f"{n:,}" for n in counts], dtype=str),
            hovertemplate=template_text(y_title)
            + " %{y}, "
            + template_text(x_title)
            + " %{x}: %{text} "
            + template_text(unit)
            + "<extra></extra>",
            name=plot_text(keys),
        )
    fig.update_xaxes(
        title=plot_text(x_title),
        type="category",
        categoryorder="array",
        categoryarray=[plot_text(c) for c in matrix.columns],
        tickmode="linear",
        dtick=1,
    )
    fig.update_yaxes(
        title=plot_text(y_title),
        type="category",
        categoryorder="array",
        categoryarray=[plot_text(names.get(str(r), str(r))) for r in matrix.index][::-1],
        tickmode="linear",
        dtick=1,
        automargin=True,
    )
    if counts:
        fig.update_traces(marker_colorbar_title_text=plot_text(unit))
    layout = {**_LAYOUT, "height": max(_HEIGHT, MATRIX_ROW_PX * len(matrix) + 140)}
    fig.update_layout(title=plot_text(title), clickmode="event+select", **layout)
    return fig


def baseline_figure(comparison: pd.DataFrame, day_label: str) -> go.Figure:
    """Grouped bars: a user's baseline mean per feature against one day."""
    fig = go.Figure()
    if not comparison.empty:
        fig.add_bar(x=comparison["feature"], y=comparison["baseline_mean"], name="baseline (mean)")
        fig.add_bar(x=comparison["feature"], y=comparison["day"], name=plot_text(day_label))
    fig.update_xaxes(title="feature")
    fig.update_yaxes(title="count per day (UTC days)")
    fig.update_layout(barmode="group", title="Baseline against the day", **_LAYOUT)
    return fig
