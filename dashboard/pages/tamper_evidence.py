"""Integrity: the last seal, the last verification and what it found (tamper evidence)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import tables
from dashboard.context import page_context
from dashboard.markdown_text import md
from integrity.status import integrity_status
from sql.errors import StandbyUnavailable
from sql.settings import READ_DATABASE_URL_ENV
from sql.standby import standby_lag
from usecases.legal_holds import holds_table


def _count(n: int, noun: str) -> str:
    """`1 problem`, `1,247 problems`: counts with thousands separators (STYLE.md)."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


ctx = page_context("Integrity")
status = integrity_status(ctx.db, ctx.org)

seal_col, verify_col, pending_col = st.columns(3)
if status.last_seal is None:
    seal_col.metric("Last seal", "none yet")
else:
    seal_col.metric(
        "Last seal",
        f"#{status.last_seal['seal_seq']}",
        help=f"sealed at {status.last_seal['sealed_at']:%Y-%m-%d %H:%M:%S} UTC",
    )
    seal_col.caption(
        f"{status.last_seal['sealed_at']:%Y-%m-%d %H:%M:%S} UTC ·"
        f" {_count(status.seal_count, 'seal')} over {_count(status.sealed_events, 'event')} ·"
        f" key {md(status.last_seal['key_id'])}"
    )
pending_col.metric(
    "Not sealed yet",
    f"over {status.unsealed_events:,}"
    if status.unsealed_over_cap
    else f"{status.unsealed_events:,}",
)

if status.unsealed_events:
    waiting = f"over {status.unsealed_events:,}" if status.unsealed_over_cap else None
    st.warning(
        f"{waiting or _count(status.unsealed_events, 'event')} "
        f"{'is' if status.unsealed_events == 1 and not waiting else 'are'} not sealed yet: "
        "a change to them would go unnoticed until a seal covers them."
    )
    # In the order they depend on each other: `auditlens seal` refuses without a key.
    st.markdown(
        "To seal them:\n"
        "1. Create the signing key once (keep the private file away from database admins): "
        "`auditlens signing-key create --out seal.key --public-out seal.pub`\n"
        "2. Configure it: `export AUDITLENS_SIGNING_KEY_FILE=seal.key`\n"
        f"3. Seal: `auditlens seal --org {ctx.org}` (`auditlens run` and "
        "`auditlens serve-ingest` then also seal every 5 minutes)\n"
        f"4. Verify: `auditlens verify --org {ctx.org} --public-key seal.pub`; "
        "the result appears here."
    )

verification = status.last_verification
if verification is None:
    verify_col.metric("Last verification", "never")
    st.info(
        "No verification has run for this organisation yet. An operator runs"
        " `auditlens verify --org ORG --public-key seal.pub`; the result appears here."
    )
else:
    verify_col.metric(
        "Last verification",
        "clean" if verification["clean"] else _count(verification["problem_count"], "problem"),
    )
    verify_col.caption(
        f"{verification['finished_at']:%Y-%m-%d %H:%M:%S} UTC by {md(verification['actor'])} ·"
        f" {_count(verification['seals_checked'], 'seal')},"
        f" {_count(verification['events_checked'], 'event')}"
    )
    if verification["clean"]:
        st.success(
            f"Verification #{verification['verification_id']} found the audit trail exactly"
            " as sealed: no event modified, deleted or inserted, no seal missing or altered."
        )
    else:
        st.error(
            f"Verification #{verification['verification_id']} found"
            f" {_count(verification['problem_count'], 'problem')}. Each names the seal and, where"
            " known, the event."
        )
        st.dataframe(
            status.findings,
            key="integrity_findings",
            hide_index=True,
            width="stretch",
            column_config=tables.column_config(
                status.findings,
                kind="problem",
                seal_seq=st.column_config.NumberColumn(
                    "seal", format="%d"
                ),  # a number, not a count
                event_id="event",
            ),
        )
        if verification["problem_count"] > len(status.findings):
            st.caption(f"The first {_count(len(status.findings), 'problem')} are shown.")

st.subheader("Recent seals")
if status.recent_seals.empty:
    st.caption("Run `auditlens seal` (or keep `auditlens seal --forever` running) to seal.")
else:
    st.dataframe(
        status.recent_seals,
        key="integrity_seals",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(
            status.recent_seals,
            seal_seq=st.column_config.NumberColumn("seal", format="%d"),  # a number, not a count
            sealed_at=st.column_config.DatetimeColumn("sealed at (UTC)"),
            event_count=st.column_config.NumberColumn("events", format=tables.COUNT_FORMAT),
        ),
    )

st.subheader("Legal holds")
# Shown in a dataframe, never as Markdown: reasons and references are typed by people.
holds = pd.DataFrame(holds_table(ctx.db, ctx.org))
if holds.empty:
    st.caption("No legal hold has been placed: `auditlens holds place --org ORG ...` places one.")
else:
    holds = tables.prepare(
        holds[
            [
                "hold",
                "status",
                "reference",
                "reason",
                "covers",
                "placed_by",
                "placed_at",
                "lifted_by",
                "lifted_at",
                "lift_reason",
                "events_held",
            ]
        ]
    )
    st.dataframe(
        holds,
        key="integrity_holds",
        hide_index=True,
        width="stretch",
        column_config=tables.column_config(
            holds,
            hold=st.column_config.NumberColumn("hold", format="%d"),  # a number, not a count
            covers="query (in words)",
        ),
    )

if ctx.is_admin:
    # Server-wide, not the organisation's: where the dashboard's figures are read from.
    st.subheader("Read replica")
    try:
        lag = standby_lag(ctx.db)
    except StandbyUnavailable as exc:
        st.error(md(str(exc)))
    else:
        if lag is None:
            st.caption(
                f"No standby configured ({READ_DATABASE_URL_ENV} is unset): every read runs on"
                " the primary."
            )
        else:
            st.caption(md(lag.sentence()))
            st.caption(
                "Overview, Explore, Users and detection read from the standby; findings and"
                " their triage, settings, seals, holds, exports and the records of the"
                " dashboard's own use stay on the primary."
            )
