"""Overview: how much of each family happened in the chosen organisation."""

from __future__ import annotations

import streamlit as st

from dashboard import queries
from dashboard.resources import database

st.title("Overview")
db = database()
organizations = queries.organization_ids(db)
if not organizations:
    st.info("No audit events yet. Send some with the SDK, `POST /v1/events` or `auditlens import`.")
    st.stop()
org = st.selectbox("Organisation", organizations, key="org")
counts = queries.family_counts(db, org)
columns = st.columns(max(len(counts), 1))
for column, (family, count) in zip(columns, counts.items(), strict=False):
    column.metric(family.replace("_", " "), f"{count:,}")
