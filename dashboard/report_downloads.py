"""The Compliance page's downloads, each recorded as an export at the moment it happens: the
CSV of every event streams from the download route (`dashboard/download_widget.py`); the
printable HTML (at most REPORT_EVENT_LIMIT events) is built when its button is clicked
(Streamlit's deferred download data)."""

from __future__ import annotations

import io
import re

import streamlit as st

from dashboard.context import PageContext
from dashboard.download_widget import offer_download
from sql.event_filter import EventFilter
from usecases import access_report
from usecases.access_report import AccessReport
from usecases.exports import Exporter

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_stem(report: AccessReport) -> str:
    """`access-payment-logs-2024-10-01_2024-12-31`-like, safe as a file name."""
    stem = _UNSAFE.sub("-", report.query.replace("created:", "").replace("..", "_"))
    return ("access-" + stem.strip("-"))[:120]


def offer_report_downloads(ctx: PageContext, report: AccessReport) -> None:
    """Download buttons (keys `compliance_csv`, `compliance_html`) for a viewer who may export."""
    exporter = Exporter(
        user_id=ctx.viewer.user_id, email=ctx.viewer.email, session_id=ctx.viewer.session_id
    )

    def html_bytes() -> bytes:
        buffer = io.BytesIO()
        access_report.write_html(ctx.db, ctx.org, report, buffer, exporter=exporter)
        return buffer.getvalue()

    stem = file_stem(report)
    left, right = st.columns(2)
    with left:
        offer_download(
            ctx,
            EventFilter.parse(report.query),
            "csv",
            label="Download CSV (all events)",
            file_name=f"{stem}.csv",
            key="compliance_csv",
        )
    right.download_button(
        "Download printable report (HTML)",
        data=html_bytes,
        file_name=f"{stem}.html",
        mime="text/html",
        key="compliance_html",
        icon=":material/print:",
    )
    if report.summary["accesses"] > 10_000:
        st.caption("Exports over 10,000 rows are flagged for review.")
