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
# A matrix's margins are set from its labels: Plotly's own margin fitting (axis automargin,
# the colorbar pushing the right margin) draws the whole chart again after each push.
_LABEL_CHAR_PX = 7
_MATRIX_MARGIN_MAX_PX = 360
_COLORBAR_PX = 90


def _label_px(labels: np.ndarray, room: int) -> int:
    """Pixels for the longest of `labels` plus `room` (axis title, ticks), capped."""
    longest = max((len(str(text)) for text in labels), default=0)
    return min(room + _LABEL_CHAR_PX * longest, _MATRIX_MARGIN_MAX_PX)


def _whole_axis(categories: int) -> dict[str, list[float]]:
    """Every category on the axis, not only the span of cells with events (none: Plotly's)."""
    return {"range": [-0.5, categories - 0.5]} if categories else {}


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
    row_keys = [str(r) for r in matrix.index]
    column_keys = [str(c) for c in matrix.columns]
    row_texts = np.array([plot_text(names.get(r, r)) for r in row_keys], dtype=str)
    column_texts = np.array([plot_text(c) for c in column_keys], dtype=str)
    # Row-major, as the rows and columns are ordered: cells with events only.
    row_at, column_at = np.nonzero(matrix.to_numpy())
    counts = matrix.to_numpy()[row_at, column_at].astype("int64")
    data = []
    if len(counts):
        data.append(
            {
                "type": "scatter",
                "x": column_texts[column_at],
                "y": row_texts[row_at],
                "mode": "markers",
                "marker": {
                    "symbol": "square",
                    "size": 16,
                    "color": counts.tolist(),
                    "colorscale": "Blues",
                    "cmin": 0,
                    "cmax": int(counts.max()),
                    "showscale": True,
                    "line": {"width": 0},
                    "colorbar": {"title": {"text": plot_text(unit)}},
                },
                "customdata": np.array(
                    [
                        np.array(row_keys, dtype=str)[row_at],
                        np.array(column_keys, dtype=str)[column_at],
                    ],
                    dtype=str,
                ).T,
                "text": np.array([f"{n:,}" for n in counts], dtype=str),
                "hovertemplate": template_text(y_title)
                + " %{y}, "
                + template_text(x_title)
                + " %{x}: %{text} "
                + template_text(unit)
                + "<extra></extra>",
                "name": plot_text(keys),
            }
        )
    axis = {
        "type": "category",
        "categoryorder": "array",
        "tickmode": "linear",
        "dtick": 1,
        "automargin": False,
    }
    layout = {
        **_LAYOUT,
        "height": max(_HEIGHT, MATRIX_ROW_PX * len(matrix) + 140),
        "margin": {
            "l": _label_px(row_texts, room=50),
            "r": _COLORBAR_PX,
            "t": 40,
            # Column labels may be turned upright when they crowd: room for their length.
            "b": _label_px(column_texts, room=45),
            "autoexpand": False,
        },
        "title": {"text": plot_text(title)},
        "clickmode": "event+select",
        "xaxis": {
            **axis,
            "title": {"text": plot_text(x_title)},
            "categoryarray": column_texts,
            **_whole_axis(len(column_texts)),
        },
        "yaxis": {
            **axis,
            "title": {"text": plot_text(y_title)},
            "categoryarray": row_texts[::-1],
            **_whole_axis(len(row_texts)),
        },
    }
    # One constructor call: Plotly validates the whole figure once, where each update_* call
    # validates again.
    return go.Figure({"data": data, "layout": layout})


def baseline_figure(comparison: pd.DataFrame, day_label: str) -> go.Figure:
    """Grouped bars: a user's baseline mean per feature against one day."""
    data = []
    if not comparison.empty:
        features = comparison["feature"].to_numpy()
        data = [
            {"type": "bar", "x": features, "y": comparison[column].to_numpy(), "name": name}
            for column, name in (
                ("baseline_mean", "baseline (mean)"),
                ("day", plot_text(day_label)),
            )
        ]
    layout = {
        **_LAYOUT,
        "barmode": "group",
        "title": {"text": "Baseline against the day"},
        "xaxis": {"title": {"text": "feature"}},
        "yaxis": {"title": {"text": "count per day (UTC days)"}},
    }
    return go.Figure({"data": data, "layout": layout})
