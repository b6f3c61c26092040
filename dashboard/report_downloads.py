"""The Compliance page's downloads, both from the session-bound download route
(`dashboard/download_widget.py`) and each recorded as an export at the moment it happens: the
CSV of every event, streamed, and the printable HTML (at most REPORT_EVENT_LIMIT events),
built when fetched."""

from __future__ import annotations

import re

import streamlit as st

from dashboard.context import PageContext
from dashboard.download_route import REPORT_FORMAT
from dashboard.download_widget import offer_download
from sql.event_filter import EventFilter
from usecases.access_report import AccessReport

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_stem(report: AccessReport) -> str:
    """`access-payment-logs-2024-10-01_2024-12-31`-like, safe as a file name."""
    stem = _UNSAFE.sub("-", report.query.replace("created:", "").replace("..", "_"))
    return ("access-" + stem.strip("-"))[:120]


def offer_report_downloads(ctx: PageContext, report: AccessReport) -> None:
    """Download buttons (keys `compliance_csv`, `compliance_html`) for a viewer who may export."""
    stem = file_stem(report)
    query = EventFilter.parse(report.query)
    left, right = st.columns(2)
    with left:
        offer_download(
            ctx,
            query,
            "csv",
            label="Download CSV (all events)",
            file_name=f"{stem}.csv",
            key="compliance_csv",
        )
    with right:
        offer_download(
            ctx,
            query,
            REPORT_FORMAT,
            label="Download printable report (HTML)",
            file_name=f"{stem}.html",
            key="compliance_html",
        )
    if report.summary["accesses"] > 10_000:
        st.caption("Exports over 10,000 rows are flagged for review.")
