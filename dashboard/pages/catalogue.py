"""Resources (admins): the organisation's resource catalogue; review the suggested levels,
confirm them, describe any resource."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import resource_labels, tables
from dashboard.context import page_context
from dashboard.markdown_text import md
from sql.catalogue import CatalogueError, Entry, checked_entry, set_entries
from sql.gateway import Database
from sql.vocabulary import SENSITIVITY_LEVELS
from usecases.resource_catalogue import catalogue_frame, label

ctx = page_context("Resources")
if not ctx.is_admin:
    st.error(f"Only admins manage the resource catalogue; your role is {md(ctx.role)}.")
    st.stop()
st.caption(
    "What each resource is. Resources nobody has described get a suggested level from their"
    " names and from how few people touch them; detection counts restricted resources as"
    " sensitive, confirmed ones first."
)


@st.cache_data(ttl=30, show_spinner=False)
def _catalogue(db_key: str, org: str, *, _db: Database) -> pd.DataFrame:
    return catalogue_frame(_db, org)


def _changed() -> None:
    _catalogue.clear()
    resource_labels.forget()


frame = _catalogue(ctx.db.url, ctx.org, _db=ctx.db)
counts = frame["status"].value_counts()
numbers = st.columns(3)
for column, status in zip(numbers, ("confirmed", "suggested", "undescribed"), strict=True):
    column.metric(status.capitalize(), f"{int(counts.get(status, 0)):,}")

show = st.radio(
    "Show", ["suggested", "all", "confirmed", "undescribed"], horizontal=True, key="catalogue_show"
)
shown = frame if show == "all" else frame.loc[frame["status"] == show]
view = shown.assign(
    resource=[label(r, n) for r, n in zip(shown["resource_id"], shown["display_name"], strict=True)]
)[["resource", "sensitivity", "status", "tags", "owner_team", "users", "events", "reason"]]
st.dataframe(
    view,
    key="catalogue_table",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(
        view,
        owner_team=st.column_config.TextColumn("owner"),
        reason=st.column_config.TextColumn("why"),
    ),
)

suggested = frame.loc[frame["status"] == "suggested"]
if len(suggested) and st.button(
    f"Confirm the {len(suggested):,} suggested level(s) as they are",
    key="catalogue_confirm_all",
):
    confirmed = [
        checked_entry(
            r.resource_id,
            r.sensitivity,
            resource_type=r.resource_type if isinstance(r.resource_type, str) else None,
            tags=r.tags,
        )
        for r in suggested.itertuples(index=False)
    ]
    set_entries(
        ctx.db,
        ctx.org,
        confirmed,
        actor=ctx.viewer.user_id,
        via="dashboard",
        actor_email=ctx.viewer.email,
    )
    _changed()
    st.rerun()

st.subheader("Describe a resource")
rows = {str(r["resource_id"]): r for r in frame.to_dict("records")}
picked = st.selectbox(
    "Resource",
    list(rows),
    index=None,
    format_func=lambda rid: label(rid, rows[rid]["display_name"]),
    key="catalogue_pick",
    placeholder="Pick a resource",
)
typed = st.text_input("…or a resource id not in the list", key="catalogue_new_id")
resource_id = typed.strip() or picked
if resource_id:
    row = rows.get(resource_id, {})

    def _value(name: str) -> str:
        value = row.get(name)
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)

    level = _value("sensitivity") or "internal"
    with st.form(f"catalogue_form_{resource_id}"):
        st.caption(f"{md(resource_id)} ({md(row.get('status', 'not seen in the data yet'))})")
        name = st.text_input("Display name", value=_value("display_name"), key="catalogue_name")
        rtype = st.text_input("Type", value=_value("resource_type"), key="catalogue_type")
        new_level = st.selectbox(
            "Sensitivity",
            SENSITIVITY_LEVELS,
            index=SENSITIVITY_LEVELS.index(level),
            key="catalogue_level",
        )
        tags = st.text_input("Tags (comma-separated)", value=_value("tags"), key="catalogue_tags")
        owner = st.text_input("Owner team", value=_value("owner_team"), key="catalogue_owner")
        save = st.form_submit_button("Confirm", type="primary")
    if save:
        try:
            entry: Entry = checked_entry(
                resource_id,
                new_level,
                display_name=name,
                resource_type=rtype,
                tags=tags,
                owner_team=owner,
            )
        except CatalogueError as exc:
            st.error(md(exc))
            st.stop()
        done = set_entries(
            ctx.db,
            ctx.org,
            [entry],
            actor=ctx.viewer.user_id,
            via="dashboard",
            actor_email=ctx.viewer.email,
        )
        _changed()
        what = "unchanged" if done.unchanged else "saved"
        st.success(f"{md(label(entry.resource_id, entry.display_name))}: {what}.")
