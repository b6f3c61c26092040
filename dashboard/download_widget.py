"""The download link of an export: the file streams from the server's download route
(`dashboard/download_route.py`) as the browser saves it, so nothing is prepared in advance,
held in the session or left on disk. One link per view, renewed before it expires."""

from __future__ import annotations

import html
import json
import time

import streamlit as st

from dashboard import download_route
from dashboard.context import SESSION_TOKEN_KEY, PageContext
from dashboard.session_cookie import base_path
from sql.event_filter import EventFilter

_LINKS_KEY = "auditlens_download_links"
# A link is renewed this long before its ticket expires, so a click never races expiry.
_RENEW_MARGIN_SECONDS = 5 * 60
_STYLE = (
    "display:inline-block;padding:0.4rem 0.9rem;border:1px solid rgba(49,51,63,0.2);"
    "border-radius:0.5rem;text-decoration:none;font-weight:500"
)


def offer_download(
    ctx: PageContext,
    event_filter: EventFilter,
    file_format: str,
    *,
    label: str,
    file_name: str,
    key: str,
    with_proofs: bool = False,
) -> str | None:
    """Render the link (an `<a download>` with id `key`); returns its URL path."""
    token = st.session_state.get(SESSION_TOKEN_KEY)
    if not token:
        st.caption("Sign in again to download.")
        return None
    links: dict[str, tuple[str, float]] = st.session_state.setdefault(_LINKS_KEY, {})
    view = json.dumps([ctx.org, event_filter.to_query(), file_format, with_proofs, file_name])
    url, renew_at = links.get(view, ("", 0.0))
    if time.monotonic() >= renew_at:
        url = download_route.download_link(
            token,
            ctx.org,
            event_filter,
            file_format,
            with_proofs=with_proofs,
            file_name=file_name,
            base_path=base_path(),
        )
        renew_at = time.monotonic() + download_route.TICKET_TTL_SECONDS - _RENEW_MARGIN_SECONDS
        links[view] = (url, renew_at)
    st.markdown(
        f'<a id="{html.escape(key)}" href="{html.escape(url)}"'
        f' download="{html.escape(file_name)}" style="{_STYLE}">'
        f"⬇ {html.escape(label)}</a>",
        unsafe_allow_html=True,
    )
    return url
