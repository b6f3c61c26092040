"""The Compliance page's downloads: CSV and HTML built when the button is clicked (Streamlit's
deferred download data), so each download is recorded as an export at the moment it happens."""

from __future__ import annotations

import io
import re

import streamlit as st

from dashboard import access_report, export_files
from dashboard.access_report import AccessReport
from dashboard.context import PageContext
from dashboard.exports import Exporter

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

    def csv_bytes() -> bytes:
        return export_files.through_file(
            "csv",
            lambda out: access_report.write_csv(ctx.db, ctx.org, report, out, exporter=exporter),
        )

    def html_bytes() -> bytes:
        buffer = io.BytesIO()
        access_report.write_html(ctx.db, ctx.org, report, buffer, exporter=exporter)
        return buffer.getvalue()

    stem = file_stem(report)
    left, right = st.columns(2)
    left.download_button(
        "Download CSV (all events)",
        data=csv_bytes,
        file_name=f"{stem}.csv",
        mime="text/csv",
        key="compliance_csv",
        icon=":material/download:",
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
