"""Explore's saved searches: open one from the URL (`?saved=`), save the applied query, and
list, open, rename or delete the searches the viewer can see (their own and shared ones).

The store (`usecases.saved_searches`) checks, scopes and audits every change; the viewer's
sign-in email is the owner, as `auditlens searches --as EMAIL` names them. Typed names and
descriptions show in tables, pickers and escaped Markdown: as the text they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import tables
from dashboard.alert_choices import ALERT_ROLES
from dashboard.context import PageContext
from dashboard.markdown_text import md
from dashboard.saved_search_link import SAVED_PARAM, is_showing, picker_label, saved_ref, view_query
from sql.vocabulary import VIEW_ENTRY
from usecases import saved_searches
from usecases.saved_searches import SavedSearch, SavedSearchError

ALERTS_PAGE = "pages/alerts.py"
# The search whose query was last applied from the URL, as (organisation, id).
_APPLIED_KEY = "explore_saved_applied"
_SAVED_FLAG = "explore_saved_done"
_NAME_KEY = "explore_save_name"
_DESCRIPTION_KEY = "explore_save_description"
_SHARED_KEY = "explore_save_shared"
_PICK_KEY = "explore_saved_pick"
_CONFIRM_KEY = "explore_saved_confirm_delete"


def arrive(ctx: PageContext) -> SavedSearch | None:
    """The search `?saved=` names, its query put into `?q=` the first time (run this before
    Explore reads `?q=`); None, with an error shown, when the viewer cannot see it."""
    raw = st.query_params.get(SAVED_PARAM)
    ref = saved_ref(raw)
    if ref is None:
        st.session_state.pop(_APPLIED_KEY, None)
        return None
    try:
        search = saved_searches.get(ctx.db, ctx.org, ctx.viewer.email, ref)
    except SavedSearchError as exc:
        st.error(md(exc))
        del st.query_params[SAVED_PARAM]
        st.session_state.pop(_APPLIED_KEY, None)
        return None
    if st.session_state.get(_APPLIED_KEY) != (ctx.org, search.search_id):
        st.session_state[_APPLIED_KEY] = (ctx.org, search.search_id)
        query = view_query(search)
        if query:
            st.query_params["q"] = query
        elif "q" in st.query_params:
            del st.query_params["q"]
        ctx.record(
            VIEW_ENTRY,
            {"saved_search": search.search_id, "name": search.name},
            resource_id=f"saved_search/{search.search_id}",
        )
    if raw != str(search.search_id):
        # A link by name becomes the link by id: it survives a rename.
        st.query_params[SAVED_PARAM] = str(search.search_id)
    return search


def follow_view(search: SavedSearch | None, applied_query: str) -> SavedSearch | None:
    """`search` while the view is still its query; once narrowed or changed, the URL stops
    naming it (a shared link then shows what the viewer saw)."""
    if search is None or is_showing(search, applied_query):
        return search
    if SAVED_PARAM in st.query_params:
        del st.query_params[SAVED_PARAM]
    st.session_state.pop(_APPLIED_KEY, None)
    return None


def _open(search_id: int) -> None:
    # A callback: the next run's `arrive` applies the search, even when it is in the URL.
    st.query_params[SAVED_PARAM] = str(search_id)
    st.session_state.pop(_APPLIED_KEY, None)


def render(ctx: PageContext, applied_query: str, showing: SavedSearch | None) -> None:
    """The caption of the search shown, and the "Saved searches" section."""
    # Always a slot, filled or not: what follows keeps its place, so the section stays open
    # across the rerun that saves a search.
    slot = st.container()
    if showing is not None:
        whose = "yours" if showing.owner == ctx.viewer.email else f"by {md(showing.owner)}"
        about = f": {md(showing.description)}" if showing.description else ""
        slot.caption(f"Saved search **{md(showing.name)}** ({whose}, {showing.visibility}){about}")
    with st.expander("Saved searches", expanded=False, key="explore_saved_section"):
        _save_form(ctx, applied_query)
        _saved_list(ctx, showing)


def _save_form(ctx: PageContext, applied_query: str) -> None:
    if st.session_state.pop(_SAVED_FLAG, False):
        # Set before the widgets exist: the next search starts from empty boxes.
        st.session_state[_NAME_KEY] = ""
        st.session_state[_DESCRIPTION_KEY] = ""
        st.session_state[_SHARED_KEY] = False
    with st.form("explore_save_search"):
        st.caption("Save the query this page applies now:")
        # Plain text: st.code would load the syntax highlighter's code (seconds of the
        # browser's time) on every view of Explore, for a line inside a closed expander.
        st.text(applied_query or "(every event)")
        name = st.text_input("Name", key=_NAME_KEY, max_chars=200)
        description = st.text_area("Description", key=_DESCRIPTION_KEY, max_chars=2000)
        shared = st.checkbox(
            "Share with the organisation",
            key=_SHARED_KEY,
            help="Everyone in the organisation can then open, export and alert on it;"
            " only you can change or delete it.",
        )
        submitted = st.form_submit_button("Save search", type="primary")
    if not submitted:
        return
    try:
        search = saved_searches.save(
            ctx.db,
            ctx.org,
            ctx.viewer.email,
            name,
            applied_query,
            description=description,
            shared=shared,
        )
    except SavedSearchError as exc:
        st.error(md(exc))
        return
    st.session_state[_SAVED_FLAG] = True
    st.session_state[_APPLIED_KEY] = (ctx.org, search.search_id)
    st.session_state[_PICK_KEY] = search.search_id
    st.query_params[SAVED_PARAM] = str(search.search_id)
    st.rerun()


def _saved_list(ctx: PageContext, showing: SavedSearch | None) -> None:
    searches = saved_searches.list_searches(ctx.db, ctx.org, ctx.viewer.email)
    st.markdown("**Your searches and the organisation's shared ones**")
    if not searches:
        st.caption("None yet: name the query above and save it.")
        return
    frame = pd.DataFrame(
        [
            {
                "name": s.name,
                "description": s.description,
                "query": s.query,
                "owner": s.owner,
                "visibility": s.visibility,
                "updated_at": s.updated_at,
            }
            for s in searches
        ]
    )
    shown = tables.prepare(frame)
    st.dataframe(
        shown,
        key="explore_saved_table",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(shown), at_most=8),
        column_config=tables.column_config(shown),
    )
    by_id = {s.search_id: s for s in searches}
    if st.session_state.get(_PICK_KEY) not in by_id:
        st.session_state[_PICK_KEY] = showing.search_id if showing is not None else None
    picked = st.selectbox(
        "Saved search",
        list(by_id),
        format_func=lambda search_id: picker_label(by_id[search_id], ctx.viewer.email),
        key=_PICK_KEY,
        placeholder="Pick one to open or change",
    )
    if picked is None:
        return
    search = by_id[picked]
    open_column, alert_column, _ = st.columns([1, 2, 3])
    open_column.button("Open", key="explore_saved_open", on_click=_open, args=(picked,))
    may_alert = ctx.role in ALERT_ROLES and (Path(__file__).resolve().parent / ALERTS_PAGE).exists()
    if may_alert and alert_column.button("Make an alert from it", key="explore_saved_alert"):
        st.switch_page(ALERTS_PAGE, query_params={"search": str(picked), "org": ctx.org})
    if search.owner != ctx.viewer.email:
        st.caption(f"Shared by {md(search.owner)}: only its owner can rename or delete it.")
        return
    _rename(ctx, search)
    _delete(ctx, search, showing)


def _rename(ctx: PageContext, search: SavedSearch) -> None:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    new_name = left.text_input("New name", key=f"explore_saved_rename_{search.search_id}")
    if right.button("Rename", key="explore_saved_rename"):
        try:
            saved_searches.rename(ctx.db, ctx.org, ctx.viewer.email, search.search_id, new_name)
        except SavedSearchError as exc:
            st.error(md(exc))
            return
        st.rerun()


def _delete(ctx: PageContext, search: SavedSearch, showing: SavedSearch | None) -> None:
    if st.session_state.get(_CONFIRM_KEY) != search.search_id:
        if st.button("Delete…", key="explore_saved_delete"):
            st.session_state[_CONFIRM_KEY] = search.search_id
            st.rerun()
        return
    st.warning(f"Delete the saved search {md(search.name)}? Its record stays in the audit trail.")
    yes, no, _ = st.columns([1, 1, 4])
    if no.button("Keep it", key="explore_saved_keep"):
        st.session_state.pop(_CONFIRM_KEY, None)
        st.rerun()
    if yes.button("Yes, delete", key="explore_saved_delete_yes", type="primary"):
        st.session_state.pop(_CONFIRM_KEY, None)
        try:
            saved_searches.delete(ctx.db, ctx.org, ctx.viewer.email, search.search_id)
        except SavedSearchError as exc:
            st.error(md(exc))
            return
        if showing is not None and showing.search_id == search.search_id:
            del st.query_params[SAVED_PARAM]
            st.session_state.pop(_APPLIED_KEY, None)
        st.rerun()
