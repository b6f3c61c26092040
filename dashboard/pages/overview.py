"""Overview: how much of each family happened in the chosen organisation."""

from __future__ import annotations

import streamlit as st

from dashboard import queries
from dashboard.context import page_context

ctx = page_context("Overview")
counts = queries.family_counts(ctx.db, ctx.org)
if not counts:
    st.info("No audit events yet. Send some with the SDK, `POST /v1/events` or `auditlens import`.")
    st.stop()
columns = st.columns(max(len(counts), 1))
for column, (family, count) in zip(columns, counts.items(), strict=False):
    column.metric(family.replace("_", " "), f"{count:,}")
