"""Explore: the filter bar (widgets, query box and URL in step), a zoomable timeline, the raw
events a page at a time, one event's detail with its session, and the export."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import explore_queries as q
from dashboard import explore_state as state
from dashboard import saved_search_view, tables
from dashboard.context import page_context
from dashboard.download_widget import offer_download
from dashboard.explore_chart import explore_timeline_figure
from dashboard.explore_suggestions import suggestions
from dashboard.markdown_text import md
from dashboard.resource_labels import resource_label
from sql.event_filter import EventFilter, QuerySyntaxError
from sql.vocabulary import DRILL_DOWN, OWN_USE_ROLES, SEARCH, VIEW_ENTRY
from usecases.exports import FORMATS


def _selected(widget_state: Any, kind: str) -> list[Any]:
    """Selected points/rows of a chart or table (empty when nothing is selected)."""
    try:
        return list(widget_state["selection"][kind])
    except (KeyError, TypeError):
        return []


def _drill(target: EventFilter, source: str) -> None:
    """A drill-down (runs as a callback, before the widgets it rewrites exist)."""
    ctx.record(DRILL_DOWN, {"from": source, "query": target.to_query()}, dedupe=False)
    state.set_filter(target)
    st.session_state["explore_event_id"] = ""


ctx = page_context("Explore")
may_see_own_use = ctx.role in OWN_USE_ROLES
# A saved search in the URL (`?saved=`) puts its query into `?q=` before it is read.
saved_search = saved_search_view.arrive(ctx)
state.init_state(st.query_params.get("q", ""))
arrived_by_link = st.query_params.get("q") and st.session_state.get("explore_recorded_link") != (
    ctx.org,
    st.query_params.get("q"),
)

# ---- filter bar -------------------------------------------------------------------------------
st.text_input(
    "Query",
    key=state.QUERY_KEY,
    on_change=state.on_query_change,
    placeholder="user:john@company.com action:export resource:payment-logs "
    "created:2024-10-01..2024-12-31",
    help="Qualifiers: user: family: action: resource: resource_type: ip: session: created: "
    "stream:auditlens — repeat one to OR its values; a leading - leaves a term out"
    " (-action:search); anything else is text searched within details "
    '(quote it when it has spaces: "level:error AND x").',
)
error = st.session_state.get(state.ERROR_KEY)
if isinstance(error, QuerySyntaxError):
    st.error(f"{md(error)}. The view still shows the last valid query.")
    st.code(error.caret(), language=None)

with st.expander("Filters", expanded=False):
    # Offered values are those present in the organisation's events (or AuditLens's own use
    # when that is shown); what is selected stays offered; anything else can be typed.
    offered = suggestions(ctx.db, ctx.org, own_use=state.applied_filter().own_use)
    left, middle, right = st.columns(3)
    for column, field, label in (
        (left, "users", "Users (id or email)"),
        (left, "families", "Families"),
        (left, "actions", "Actions"),
        (middle, "resource_types", "Resource types"),
        (middle, "resources", "Resource ids"),
        (middle, "ips", "IP addresses or CIDR ranges"),
    ):
        chosen = st.session_state.get(state.WIDGET_KEYS[field], [])
        column.multiselect(
            label,
            list(dict.fromkeys([*chosen, *offered[field]])),
            key=state.WIDGET_KEYS[field],
            accept_new_options=True,
            on_change=state.on_widget_change,
            format_func=resource_label(ctx.db, ctx.org) if field == "resources" else str,
        )
    right.selectbox(
        "Time", list(state.PRESETS), key=state.PRESET_KEY, on_change=state.on_widget_change
    )
    if st.session_state.get(state.PRESET_KEY) == "Custom dates":
        right.date_input(
            "From – to (UTC days)", key=state.DATES_KEY, on_change=state.on_widget_change
        )
    right.text_input(
        "Text within details",
        key=state.TEXT_KEY,
        on_change=state.on_widget_change,
        help="Words to find; -word leaves out events whose details contain it.",
    )
    if may_see_own_use:
        right.toggle(
            "AuditLens activity",
            key=state.OWN_KEY,
            on_change=state.on_widget_change,
            help="This dashboard's own use (searches, views, exports, triage): the meta-audit,"
            " kept apart from the organisation's events.",
        )

event_filter = state.applied_filter()
if event_filter.own_use and not may_see_own_use:
    st.error(
        "AuditLens's own use (stream:auditlens) is shown to admins and auditors only;"
        " showing the organisation's events."
    )
    event_filter = event_filter.with_values(own_use=False)
applied_text = event_filter.to_query()
# The URL carries the view, so it can be shared as a link.
if applied_text:
    if st.query_params.get("q") != applied_text:
        st.query_params["q"] = applied_text
        st.session_state["explore_url_q"] = applied_text
elif "q" in st.query_params:
    del st.query_params["q"]
    st.session_state["explore_url_q"] = ""
saved_search = saved_search_view.follow_view(saved_search, applied_text)
saved_search_view.render(ctx, applied_text, saved_search)
st.caption(f"Showing {md(event_filter.describe())}.")

# ---- figures ----------------------------------------------------------------------------------
if st.session_state.get("explore_paged_view") != (ctx.org, applied_text):
    st.session_state["explore_paged_view"] = (ctx.org, applied_text)
    st.session_state[state.PAGES_KEY] = []
cursors: list[q.Cursor] = st.session_state.setdefault(state.PAGES_KEY, [])
# The count and the table from one snapshot, read before this view's search is recorded.
with st.spinner("Counting events…"):
    snapshot = q.count_and_page(
        ctx.db, ctx.org, event_filter, after=cursors[-1] if cursors else None
    )
count, capped, many = snapshot.count, snapshot.capped, snapshot.many
if arrived_by_link:
    st.session_state["explore_recorded_link"] = (ctx.org, st.query_params.get("q"))
    ctx.record(DRILL_DOWN, {"query": applied_text, "filter": event_filter.describe()})
if not event_filter.is_empty:
    ctx.record(
        SEARCH,
        {"query": applied_text, "filter": event_filter.describe(), "results_count": count},
    )
st.metric("Matching events", f"more than {count:,}" if capped else f"{count:,}")


def _timeline(event_filter: EventFilter, applied_text: str, many: bool) -> None:
    """The zoomable timeline; a box or click selection offers to narrow the time. Over a broad
    filter the read model cannot answer, drawn only when asked (see timeline_is_cheap)."""
    if not q.timeline_is_cheap(event_filter, many):
        asked = st.session_state.get("explore_timeline_asked") == (ctx.org, applied_text)
        if not asked:
            st.info(
                f"More than {q.COUNT_CAP:,} events match: drawing their timeline counts every"
                " one of them, which can take a while. Narrow the period or the filter, or draw"
                " it anyway."
            )
            if st.button("Draw the timeline", key="explore_draw_timeline"):
                st.session_state["explore_timeline_asked"] = (ctx.org, applied_text)
                st.rerun()
            return
    span = q.data_span(ctx.db, ctx.org, event_filter)
    if span is None:
        return
    bins = q.bins_for(*span)
    with st.spinner("Drawing the timeline…"):
        frame = q.timeline(ctx.db, ctx.org, event_filter, bins)
    selection = st.plotly_chart(
        explore_timeline_figure(frame, bins),
        key="explore_timeline",
        on_select="rerun",
        selection_mode=("box", "points"),
    )
    points = _selected(selection, "points")
    times = [pd.Timestamp(p["x"]) for p in points if p.get("x") is not None]
    if times:
        width = pd.Timedelta(bins.width)
        first, last = (t if t.tzinfo else t.tz_localize("UTC") for t in (min(times), max(times)))
        zoomed = event_filter.with_values(
            start=first.to_pydatetime(), end=(last + width).to_pydatetime()
        )
        st.button(
            "Show only the selected time",
            key="explore_zoom",
            on_click=_drill,
            args=(zoomed, "timeline"),
        )


def _events_table(page: pd.DataFrame, cursors: list[q.Cursor]) -> pd.DataFrame:
    """One page of raw events (keyset paging: never the whole table) with Newer/Older."""
    page_no = len(cursors)
    first_row = page_no * q.PAGE_SIZE + 1
    st.caption(f"Events {first_row:,}–{first_row + len(page) - 1:,}, newest first.")
    shown = page.drop(columns=["ingest_seq"])
    table = st.dataframe(
        shown,
        key="explore_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config=tables.column_config(
            shown, event_time=st.column_config.DatetimeColumn("time (UTC)")
        ),
    )
    selected_rows = _selected(table, "rows")
    if selected_rows:
        st.session_state["explore_event_id"] = str(page.iloc[selected_rows[0]]["id"])
    newer, older, _ = st.columns([1, 1, 6])
    # Callbacks move the cursor before the click's run, so that run reads the new page (a
    # cursor moved in the script would need a second run).
    newer.button("← Newer", key="explore_newer", disabled=page_no == 0, on_click=_newer)
    older.button(
        "Older →",
        key="explore_older",
        disabled=len(page) < q.PAGE_SIZE,
        on_click=_older,
        args=(q.last_cursor(page),),
    )
    return page


def _newer() -> None:
    st.session_state[state.PAGES_KEY] = st.session_state.get(state.PAGES_KEY, [])[:-1]


def _older(cursor: q.Cursor | None) -> None:
    if cursor is not None:
        st.session_state[state.PAGES_KEY] = [*st.session_state.get(state.PAGES_KEY, []), cursor]


if count == 0:
    st.info(
        "No event matches this filter. Widen the time range or remove a qualifier."
        if not event_filter.is_empty
        else "No audit events in this organisation yet."
    )
    page = pd.DataFrame(columns=list(q.TABLE_COLUMNS))
else:
    _timeline(event_filter, applied_text, many)
    page = _events_table(snapshot.page, cursors)

# ---- one event and its session -----------------------------------------------------------------
event_id = st.text_input("Event id", key="explore_event_id", help="or select a row above")
if event_id:
    detail = q.event_detail(ctx.db, ctx.org, event_id.strip(), own_use=event_filter.own_use)
    if detail is None:
        st.warning(f"No event {md(repr(event_id))} in {md(ctx.org)}.")
    else:
        ctx.record(VIEW_ENTRY, {"event_id": detail["id"]}, resource_id=f"event/{detail['id']}")
        st.subheader(f"{md(detail['event_type'])} · {md(detail['event_action'])}")
        info, raw = st.columns([1, 1])
        info.json(
            {k: str(v) if v is not None else None for k, v in detail.items() if k != "details"}
        )
        raw.json(
            detail["details"]
            if isinstance(detail["details"], dict)
            else json.loads(detail["details"])
        )
        if detail["session_id"]:
            others = q.session_events(
                ctx.db, ctx.org, detail["session_id"], own_use=event_filter.own_use
            )
            # No code span: a backtick in the id would end it, and escapes do not apply inside.
            st.markdown(f"**Session {md(detail['session_id'])}: {len(others):,} event(s)**")
            st.dataframe(
                others.drop(columns=["ingest_seq"]), hide_index=True, key="explore_session"
            )
            st.button(
                "Explore this session",
                key="explore_session_drill",
                on_click=_drill,
                args=(
                    EventFilter(sessions=(detail["session_id"],), own_use=event_filter.own_use),
                    "session",
                ),
            )

# ---- export ----------------------------------------------------------------------------------
st.divider()
if not ctx.can_export:
    st.caption("Your role in this organisation does not include exports.")
else:
    file_format = st.radio("Export format", FORMATS, horizontal=True, key="explore_export_format")
    with_proofs = st.checkbox(
        "Attach each row's Merkle proof and signed seal",
        key="explore_export_proofs",
        help="Anyone with the public key can then check the file offline:"
        " `auditlens verify-export FILE --public-key seal.pub`. Rows not sealed yet have no proof.",
    )
    if with_proofs:
        sealing = q.seal_state(ctx.db, ctx.org, event_filter)
        if sealing.unsealed:
            pending = (
                f"more than {sealing.unsealed:,}" if sealing.capped else f"{sealing.unsealed:,}"
            )
            st.warning(
                (
                    "Nothing in this organisation is sealed yet, so no row can carry a proof:"
                    if not sealing.any_seal
                    else f"{pending} of these events arrived after the last seal and will"
                    " have an empty proof:"
                )
                + " a seal signs what has arrived so far. To seal, an admin creates a signing"
                " key once (`auditlens signing-key create --out seal.pem`, then"
                " AUDITLENS_SIGNING_KEY_FILE=seal.pem) and runs `auditlens seal`; the"
                " Integrity page shows the state."
            )
    offer_download(
        ctx,
        event_filter,
        file_format,
        with_proofs=with_proofs,
        label=f"Download {count:,} event(s) as {file_format.upper()}",
        file_name=f"auditlens-{ctx.org}-events.{file_format}",
        key="explore_download",
    )
    st.caption(
        "The file streams from the database as it downloads. Each download is recorded"
        " (who, filter, rows, SHA-256); over 10,000 rows it is flagged for review."
    )
