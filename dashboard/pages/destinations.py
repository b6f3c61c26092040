"""Destinations (admins): where the organisation's audit trail streams, how far behind each
destination is, and adding, pausing, resuming, testing, backfilling and removing them."""

from __future__ import annotations

import streamlit as st

from dashboard import tables
from dashboard.context import page_context
from dashboard.markdown_text import md
from streaming import destinations as store
from streaming.destinations import HTTPS_AUTH, HTTPS_STYLES, Changer, DestinationError
from streaming.formats import FORMATS
from usecases.stream_destinations import health_frame, parse_moment, send_test_event

ctx = page_context("Destinations")
if not ctx.is_admin:
    st.error(f"Only admins manage streaming destinations; your role is {md(ctx.role)}.")
    st.stop()
st.caption(
    "The audit trail streams to each active destination in ingest order, at least once; the"
    " cursor moves only after the receiver took a batch. File destinations and private CAs are"
    " set up on the server with auditlens destinations add."
)
how = Changer(email=ctx.viewer.email, via="dashboard")
actor = ctx.viewer.user_id

frame = health_frame(ctx.db, ctx.org)
states = frame["state"].value_counts()
numbers = st.columns(3)
for column, state in zip(numbers, ("active", "failing", "paused"), strict=True):
    column.metric(state.capitalize(), f"{int(states.get(state, 0)):,}")
if (frame["state"] == "failing").any():
    st.warning("A failing destination is retried at its cursor; nothing after it is skipped.")
# A dataframe shows names, filters and the receivers' error texts as text.
st.dataframe(
    frame,
    key="destinations_table",
    hide_index=True,
    width="stretch",
    column_config=tables.column_config(frame),
)


def _done(message: str) -> None:
    st.session_state["destinations_done"] = message
    st.rerun()


done = st.session_state.pop("destinations_done", None)
if done:
    st.success(md(done))

names = list(frame["name"])
if names:
    st.subheader("Manage a destination")
    picked = st.selectbox("Destination", names, key="destinations_pick")
    state = frame.loc[frame["name"] == picked, "state"].iloc[0]
    buttons = st.columns(4)
    try:
        if state == "paused":
            if buttons[0].button("Resume", key="destinations_resume"):
                store.resume(ctx.db, ctx.org, picked, actor=actor, how=how)
                _done(f"{picked}: active")
        elif buttons[0].button("Pause", key="destinations_pause"):
            store.pause(ctx.db, ctx.org, picked, actor=actor, how=how)
            _done(f"{picked}: paused (its cursor stays)")
        if state == "failing" and buttons[1].button("Retry now", key="destinations_retry"):
            store.resume(ctx.db, ctx.org, picked, actor=actor, how=how)
            _done(f"{picked}: retrying at its cursor")
        if buttons[2].button("Send a test event", key="destinations_test"):
            event_id = send_test_event(ctx.db, ctx.org, picked, actor=actor, how=how)
            _done(f"{picked}: the receiver took event {event_id}")
        with st.form("destinations_backfill_form"):
            start = st.text_input(
                "Re-send events from (ISO 8601 with a zone, e.g. 2025-01-01T00:00Z)",
                key="destinations_backfill_from",
            )
            if st.form_submit_button("Backfill"):
                moment = parse_moment(start, "from")
                store.backfill(ctx.db, ctx.org, picked, moment, actor=actor, how=how)
                _done(f"{picked}: re-sending events from {moment.isoformat()}")
        confirm = st.checkbox(
            "Yes, remove it (its cursor and counters go too)", key="destinations_confirm"
        )
        if buttons[3].button("Remove", key="destinations_remove", disabled=not confirm):
            store.remove(ctx.db, ctx.org, picked, actor=actor, how=how)
            _done(f"{picked}: removed")
    except DestinationError as exc:
        st.error(md(exc))

st.subheader("Add a destination")
# The add form's text boxes, emptied once a destination is added.
_ADD_TEXT_KEYS = (
    "destinations_name",
    "destinations_url",
    "destinations_header",
    "destinations_secret",
    "destinations_query",
    "destinations_from",
)
if st.session_state.pop("destinations_added", False):
    # Assigned before the widgets exist, so the browser's boxes are emptied too: dropping the
    # keys only resets the server's copy, and the typed secret stayed in the password field.
    for text_key in _ADD_TEXT_KEYS:
        st.session_state[text_key] = ""
kind = st.radio("Kind", ["https", "syslog"], horizontal=True, key="destinations_kind")
with st.form("destinations_add_form"):
    name = st.text_input("Name (lowercase letters, digits, _ or -)", key="destinations_name")
    payload = st.selectbox("Payload", list(FORMATS), key="destinations_payload")
    settings: dict[str, object] = {}
    secret = None
    if kind == "https":
        settings["url"] = st.text_input("URL (https://...)", key="destinations_url")
        settings["style"] = st.selectbox("Style", HTTPS_STYLES, key="destinations_style")
        settings["auth"] = st.selectbox("Authentication", HTTPS_AUTH, key="destinations_auth")
        header = st.text_input("Header (blank: the style's usual one)", key="destinations_header")
        if header.strip():
            settings["header"] = header.strip()
        secret = st.text_input(
            "Token, API key or HMAC key", type="password", key="destinations_secret"
        )
    else:
        settings["host"] = st.text_input("Host", key="destinations_host").strip()
        settings["port"] = st.number_input(
            "Port", min_value=1, max_value=65535, value=6514, key="destinations_port"
        )
        settings["tls"] = st.checkbox("TLS (RFC 5425)", value=True, key="destinations_tls")
    query = st.text_input("Only events matching (Explore syntax)", key="destinations_query")
    start_text = st.text_input("Also send events from (optional)", key="destinations_from")
    findings = st.checkbox("Send findings too", value=True, key="destinations_findings")
    add = st.form_submit_button("Add", type="primary")
if add:
    try:
        added = store.add(
            ctx.db,
            ctx.org,
            name.strip(),
            kind=kind,
            payload=payload,
            settings=settings,
            secret=secret or None,
            query=query,
            start=parse_moment(start_text, "from") if start_text.strip() else None,
            findings=findings,
            actor=actor,
            how=how,
        )
    except DestinationError as exc:
        st.error(md(exc))
    else:
        st.session_state["destinations_added"] = True
        _done(f"added {added.describe()}")
