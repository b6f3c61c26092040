"""The drill-down control: a selection's query, and a button that records the drill-down and
opens Explore with the query pre-filled (`?q=`), so the view can also be shared as a link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.context import PageContext
from dashboard.drilldown import EXPLORE_PAGE
from sql.vocabulary import DRILL_DOWN


def offer_drilldown(
    ctx: PageContext,
    query: str | None,
    *,
    source: str,
    details: dict[str, Any] | None = None,
    show_query: bool = True,
) -> None:
    """Show the selection's query and an "Open in Explore" button (key `<source>_drill`);
    `show_query=False` when the page already shows that query (the button alone)."""
    if not query:
        return
    if show_query:
        st.code(query, language=None)
    if not (Path(__file__).resolve().parent / EXPLORE_PAGE).exists():
        # A deployment without the Explore page still shows the exact query to run.
        return
    if st.button("Show these events in Explore", key=f"{source}_drill", icon=":material/search:"):
        ctx.record(DRILL_DOWN, {"source": source, "query": query, **(details or {})})
        st.switch_page(EXPLORE_PAGE, query_params={"q": query, "org": ctx.org})
