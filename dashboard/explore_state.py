"""Explore's filter state: one query text kept in step with the widgets and the URL.

The query text (`q`) is the truth. Editing the query box parses it and sets the widgets;
changing a widget rebuilds the filter and rewrites the query box. The page writes `q` to the
URL (`?q=`), so the view can be shared as a link, and reads it from there on arrival.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from sql.event_filter import EventFilter, QuerySyntaxError

QUERY_KEY = "explore_query"
Q_KEY = "explore_q"  # the applied query text
ERROR_KEY = "explore_query_error"
PAGES_KEY = "explore_cursors"
WIDGET_KEYS = {
    "users": "explore_users",
    "families": "explore_families",
    "actions": "explore_actions",
    "resource_types": "explore_resource_types",
    "resources": "explore_resources",
    "ips": "explore_ips",
}
TEXT_KEY = "explore_text"
OWN_KEY = "explore_own_use"  # the "AuditLens activity" toggle: the meta-audit stream
PRESET_KEY = "explore_preset"
# The preset the applied filter was made from: a relative window ("Last 30 days") keeps the
# start it was applied with while other widgets change, until the user picks another period.
APPLIED_PRESET_KEY = "explore_preset_applied"
DATES_KEY = "explore_dates"
PRESETS: dict[str, timedelta | None] = {
    "Any time": None,
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "Custom dates": None,
}


def applied_filter() -> EventFilter:
    """The filter of the applied query text (the empty filter if it no longer parses)."""
    try:
        return EventFilter.parse(st.session_state.get(Q_KEY, ""))
    except QuerySyntaxError:
        return EventFilter()


def init_state(url_query: str) -> None:
    """First run of the page in this session, or a new `?q=` in the URL: apply it."""
    if st.session_state.get("explore_url_q") == url_query and Q_KEY in st.session_state:
        return
    st.session_state["explore_url_q"] = url_query
    st.session_state[QUERY_KEY] = url_query
    _apply_text(url_query)


def on_query_change() -> None:
    """Query box edited: parse it; on success the widgets follow, else the error shows."""
    _apply_text(st.session_state.get(QUERY_KEY, ""))


def _apply_text(text: str) -> None:
    try:
        event_filter = EventFilter.parse(text)
    except QuerySyntaxError as exc:
        st.session_state[ERROR_KEY] = exc
        return
    st.session_state.pop(ERROR_KEY, None)
    _set_applied(event_filter, keep_text=True)


def _set_applied(
    event_filter: EventFilter, *, keep_text: bool = False, preset: str | None = None
) -> None:
    text = event_filter.to_query()
    st.session_state[Q_KEY] = text
    if not keep_text:
        st.session_state[QUERY_KEY] = text
    st.session_state[PAGES_KEY] = []
    for field, key in WIDGET_KEYS.items():
        st.session_state[key] = list(getattr(event_filter, field))
    text_excluded = tuple(p for p in event_filter.excluded if p[0] == "texts")
    st.session_state[TEXT_KEY] = EventFilter(
        texts=event_filter.texts, excluded=text_excluded
    ).to_query()
    st.session_state[OWN_KEY] = event_filter.own_use
    relative = preset is not None and PRESETS.get(preset) is not None
    if relative and event_filter.start is not None and event_filter.end is None:
        st.session_state[PRESET_KEY] = preset
    elif event_filter.start is None and event_filter.end is None:
        st.session_state[PRESET_KEY] = "Any time"
    else:
        st.session_state[PRESET_KEY] = "Custom dates"
        today = datetime.now(UTC).date()
        first = (event_filter.start or event_filter.end or datetime.now(UTC)).date()
        # An open end runs up to now: the picker shows through today, not one day.
        last = (event_filter.end - timedelta(microseconds=1)).date() if event_filter.end else today
        st.session_state[DATES_KEY] = (first, max(first, last))
    st.session_state[APPLIED_PRESET_KEY] = st.session_state[PRESET_KEY]


def on_widget_change() -> None:
    """A widget changed: rebuild the filter from all widgets and rewrite the query box."""
    try:
        event_filter = filter_from_widgets(st.session_state, now=datetime.now(UTC))
    except QuerySyntaxError as exc:
        st.session_state[ERROR_KEY] = exc
        return
    st.session_state.pop(ERROR_KEY, None)
    _set_applied(event_filter, preset=st.session_state.get(PRESET_KEY))


def set_filter(event_filter: EventFilter) -> None:
    """Apply a filter from code (a drill-down from the timeline or the table)."""
    st.session_state.pop(ERROR_KEY, None)
    _set_applied(event_filter)


def filter_from_widgets(state: Any, *, now: datetime) -> EventFilter:
    """The filter the widgets describe (text terms from the text box, quoted like queries)."""
    values = {field: tuple(state.get(key) or ()) for field, key in WIDGET_KEYS.items()}
    text_box = (state.get(TEXT_KEY) or "").strip()
    from_box = EventFilter.parse(_as_text_terms(text_box)) if text_box else EventFilter()
    current = applied_filter()
    start, end = _dates(state, now=now, current=current)
    # `-` terms of the text box come from it; the others only the query box can write.
    excluded = (
        *(p for p in current.excluded if p[0] != "texts"),
        *(p for p in from_box.excluded if p[0] == "texts"),
    )
    return EventFilter(
        **values,
        sessions=current.sessions,
        weekdays=current.weekdays,
        hours=current.hours,
        start=start,
        end=end,
        texts=from_box.texts,
        excluded=excluded,
        own_use=bool(state.get(OWN_KEY)),
        time_zone=current.time_zone,
    )


def _as_text_terms(text: str) -> str:
    # The text box holds words to find (or, after a -, to leave out), not qualifiers: a word
    # with a colon is quoted.
    if '"' in text:
        return text
    words = []
    for word in text.split():
        sign, bare = ("-", word[1:]) if word.startswith("-") and len(word) > 1 else ("", word)
        words.append(f'{sign}"{bare}"' if ":" in bare else word)
    return " ".join(words)


def _dates(
    state: Any, *, now: datetime, current: EventFilter
) -> tuple[datetime | None, datetime | None]:
    preset = state.get(PRESET_KEY) or "Any time"
    span = PRESETS.get(preset)
    if span is not None:
        # The same preset as applied: the window it was applied with holds (typing text must
        # not move or shrink it); picking the preset anew starts it from now.
        if state.get(APPLIED_PRESET_KEY) == preset and current.start and current.end is None:
            return current.start, None
        return now - span, None
    if preset != "Custom dates":
        return None, None
    picked = state.get(DATES_KEY)
    if not picked:
        return current.start, current.end
    if isinstance(picked, date):
        picked = (picked,)
    first = picked[0]
    last = picked[1] if len(picked) > 1 else picked[0]
    start = datetime.combine(first, time(0), UTC)
    end: datetime | None = datetime.combine(last, time(0), UTC) + timedelta(days=1)
    if current.end is None and current.start is not None and last >= now.date():
        end = None  # an open window shown through today stays open
    # Untouched dates keep the exact times a query or drill-down gave.
    if current.start is not None and current.start.date() == first:
        start = current.start
    if current.end is not None and (current.end - timedelta(microseconds=1)).date() == last:
        end = current.end
    return start, end
