"""Alerts: saved searches as rules of detection's engine. Make one from a saved search (any
match, more than N in T, more than N by one user in T; a severity), see its dry run over the
last 30 days, switch it on or off, and see the findings it produced. The chosen alert is in
the URL (`?alert=`); `?search=` picks the search of a new one (Explore's "Make an alert")."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import alert_queries, tables, viewer_time
from dashboard.alert_choices import (
    ALERT_ROLES,
    CONDITION_LABELS,
    DEFAULT_SEVERITY,
    DEFAULT_WINDOW,
    WINDOWS,
    alert_label,
    condition_text,
    spec_from_form,
    window_label,
)
from dashboard.context import PageContext, page_context
from dashboard.drilldown import EXPLORE_PAGE
from dashboard.dry_run_tables import by_day, by_user, hits_frame
from dashboard.markdown_text import md
from dashboard.saved_search_link import SAVED_PARAM, picker_label, saved_ref
from sql.search_alerts import CONDITIONS, SEVERITIES
from sql.vocabulary import SEARCH
from usecases import saved_searches, search_alerts
from usecases.search_alerts import AlertError, DryRun, SearchAlert

ALERT_PARAM = "alert"
SEARCH_PARAM = "search"
DRY_RUN_DAYS = 30
_PICK_KEY = "alerts_pick"
_DRY_RUN_KEY = "alerts_dry_run"
_REASON_KEY = "alerts_switch_reason"
_SWITCHED_KEY = "alerts_switched"


def _dry_run(ctx: PageContext, alert: SearchAlert) -> tuple[DryRun, dict[str, int]]:
    """The alert's dry run and its hits' event counts, kept for this session while the alert,
    its search and the day are the same (one run scores 30 days)."""
    today = datetime.now(UTC).date()
    key = (ctx.org, alert.alert_id, alert.query, alert.spec, today)
    kept = st.session_state.get(_DRY_RUN_KEY)
    if kept is not None and kept[0] == key:
        return kept[1], kept[2]
    with st.spinner(f"Replaying the last {DRY_RUN_DAYS} days…"):
        run = search_alerts.dry_run(ctx.db, ctx.org, alert.alert_id, days=DRY_RUN_DAYS, today=today)
        counts = (
            alert_queries.evidence_counts(ctx.db, ctx.org, [h.evidence_query for h in run.hits])
            if len(run.hits) <= alert_queries.MAX_COUNTED_HITS
            else {}
        )
    ctx.record(
        SEARCH,
        {
            "query": alert.query,
            "dry_run_of": alert.rule_id,
            "days": DRY_RUN_DAYS,
            "results_count": len(run.hits),
        },
    )
    st.session_state[_DRY_RUN_KEY] = (key, run, counts)
    return run, counts


def _new_alert_form(ctx: PageContext) -> None:
    st.subheader("New alert")
    searches = saved_searches.list_searches(ctx.db, ctx.org, ctx.viewer.email)
    if not searches:
        st.caption("Save a search on Explore first: an alert watches a saved search.")
        return
    by_id = {s.search_id: s for s in searches}
    wanted = saved_ref(st.query_params.get(SEARCH_PARAM))
    ids = list(by_id)
    preselected = next((i for i, s in enumerate(searches) if wanted in (s.search_id, s.name)), None)
    with st.form("alerts_new"):
        search_id = st.selectbox(
            "Saved search",
            ids,
            index=preselected,
            format_func=lambda i: picker_label(by_id[i], ctx.viewer.email),
            key="alerts_new_search",
            placeholder="Pick the search to watch",
        )
        condition = st.radio(
            "Fires on",
            CONDITIONS,
            format_func=CONDITION_LABELS.__getitem__,
            key="alerts_new_condition",
            horizontal=True,
        )
        left, middle, right = st.columns(3)
        threshold = left.number_input("N", min_value=0, value=0, step=1, key="alerts_new_threshold")
        window = middle.selectbox(
            "T",
            WINDOWS,
            index=WINDOWS.index(DEFAULT_WINDOW),
            format_func=window_label,
            key="alerts_new_window",
        )
        severity = right.selectbox(
            "Severity",
            SEVERITIES,
            index=SEVERITIES.index(DEFAULT_SEVERITY),
            key="alerts_new_severity",
        )
        st.caption(
            'N and T apply to the "more than N" conditions. An alert starts switched off:'
            " look at its dry run, then switch it on."
        )
        submitted = st.form_submit_button("Create alert", type="primary")
    if not submitted:
        return
    if search_id is None:
        st.error("Saved search: pick the search the alert watches.")
        return
    try:
        spec = spec_from_form(condition, int(threshold), int(window), severity)
        alert = search_alerts.create(
            ctx.db,
            ctx.org,
            ctx.viewer.email,
            search_id,
            condition=spec.condition,
            threshold=spec.threshold,
            window_minutes=spec.window_minutes,
            severity=spec.severity,
        )
    except (AlertError, saved_searches.SavedSearchError) as exc:
        st.error(md(exc))
        return
    st.session_state[_PICK_KEY] = alert.alert_id
    st.query_params[ALERT_PARAM] = str(alert.alert_id)
    if SEARCH_PARAM in st.query_params:
        del st.query_params[SEARCH_PARAM]
    st.rerun()


def _show_dry_run(ctx: PageContext, alert: SearchAlert) -> None:
    st.subheader(f"Dry run: the last {DRY_RUN_DAYS} days")
    if alert.search_deleted:
        st.caption("Its saved search was deleted: there is nothing to replay.")
        return
    try:
        run, counts = _dry_run(ctx, alert)
    except AlertError as exc:
        st.error(md(exc))
        return
    hits = hits_frame(run.hits, counts)
    days = hits["day"].nunique()
    users = hits["user"].nunique()
    figures = st.columns(4)
    figures[0].metric("Would have fired", tables.plural(len(hits), "time"))
    figures[1].metric("Users", f"{users:,}")
    figures[2].metric("Days", f"{days:,}")
    figures[3].metric("Findings", f"{len(run.findings):,}")
    st.caption(
        f"UTC days {run.start_day} to {run.end_day}, scored as detection scores them: each time"
        " is one user on one day. Matching events are those its evidence query finds."
    )
    if hits.empty:
        st.info("It would not have fired on any day of this period.")
        return
    if not counts:
        st.caption(
            f"More than {alert_queries.MAX_COUNTED_HITS:,} times: their events are not counted."
        )
    per_day, per_user = st.columns(2)
    for column, frame, key in (
        (per_day, by_day(hits), "alerts_dry_by_day"),
        (per_user, by_user(hits), "alerts_dry_by_user"),
    ):
        column.dataframe(
            frame,
            key=key,
            hide_index=True,
            width="stretch",
            height=tables.height_for(len(frame), at_most=8),
            column_config=tables.column_config(frame),
        )
    st.dataframe(
        hits,
        key="alerts_dry_hits",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(hits), at_most=10),
        column_config=tables.column_config(hits),
    )


def _switch(ctx: PageContext, alert: SearchAlert) -> None:
    if ctx.role not in ALERT_ROLES:
        st.caption(f"Your role ({md(ctx.role)}) reads alerts; analysts and admins switch them.")
        return
    if alert.search_deleted and not alert.enabled:
        return
    if st.session_state.pop(_SWITCHED_KEY, False):
        st.session_state[_REASON_KEY] = ""
    reason = st.text_input("Reason (recorded with the switch)", key=_REASON_KEY, max_chars=4000)
    label = "Switch off" if alert.enabled else "Switch on"
    if st.button(label, key="alerts_switch", type="secondary" if alert.enabled else "primary"):
        try:
            if alert.enabled:
                search_alerts.disable(ctx.db, ctx.org, ctx.viewer.email, alert.alert_id, reason)
            else:
                search_alerts.enable(ctx.db, ctx.org, ctx.viewer.email, alert.alert_id, reason)
        except AlertError as exc:
            st.error(md(exc))
            return
        st.session_state[_SWITCHED_KEY] = True
        st.rerun()


def _findings(ctx: PageContext, alert: SearchAlert) -> None:
    st.subheader("Findings from this alert")
    found = alert_queries.alert_findings(ctx.db, ctx.org, alert.rule_id)
    if found.empty:
        st.caption(
            "None yet. Detection evaluates switched-on alerts every few minutes"
            " (`auditlens detect` runs it now)."
        )
        return
    st.caption(
        f"{tables.plural(len(found), 'finding')}, newest activity first; Anomalies ranks and"
        " triages them with every other finding."
    )
    shown = tables.prepare(found.drop(columns=["finding_id"]))
    st.dataframe(
        shown,
        key="alerts_findings",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(shown), at_most=10),
        column_config=tables.column_config(
            shown, score=st.column_config.NumberColumn("Score", format="%.2f")
        ),
    )


def _chosen(alerts: list[SearchAlert]) -> SearchAlert | None:
    by_id = {a.alert_id: a for a in alerts}
    wanted = saved_ref(st.query_params.get(ALERT_PARAM))
    if isinstance(wanted, int) and wanted in by_id and st.session_state.get(_PICK_KEY) != wanted:
        st.session_state[_PICK_KEY] = wanted
    if st.session_state.get(_PICK_KEY) not in by_id:
        st.session_state[_PICK_KEY] = None
    picked = st.selectbox(
        "Alert",
        list(by_id),
        format_func=lambda i: alert_label(by_id[i]),
        key=_PICK_KEY,
        placeholder="Pick an alert to see its dry run and findings",
    )
    if picked is None:
        if ALERT_PARAM in st.query_params:
            del st.query_params[ALERT_PARAM]
        return None
    if st.query_params.get(ALERT_PARAM) != str(picked):
        st.query_params[ALERT_PARAM] = str(picked)
    return by_id[picked]


ctx = page_context("Alerts")
st.caption(
    "An alert watches a saved search and fires as a rule of detection: its findings rank,"
    " triage, notify and stream like every other."
)
alerts = search_alerts.list_alerts(ctx.db, ctx.org)
asked = saved_ref(st.query_params.get(ALERT_PARAM))
if asked is not None and asked not in {a.alert_id for a in alerts}:
    # Another organisation's alert is as unknown here as one that does not exist.
    st.warning(f"No alert {md(asked)} in {md(ctx.org)}.")
    del st.query_params[ALERT_PARAM]
if not alerts:
    st.info("No alerts yet." + (" Make one below." if ctx.role in ALERT_ROLES else ""))
else:
    listed = tables.prepare(
        pd.DataFrame(
            [
                {
                    "alert": a.alert_id,
                    "search": a.search_name + (" (deleted)" if a.search_deleted else ""),
                    "condition": condition_text(a),
                    "severity": a.severity,
                    "state": "on" if a.enabled else "off",
                    "switched_by": a.switched_by,
                    "switched_at": a.switched_at,
                    "created_by": a.created_by,
                }
                for a in alerts
            ]
        )
    )
    st.dataframe(
        listed,
        key="alerts_table",
        hide_index=True,
        width="stretch",
        height=tables.height_for(len(listed), at_most=8),
        column_config=tables.column_config(
            listed, alert=st.column_config.NumberColumn("Alert", format="%d")
        ),
    )
    alert = _chosen(alerts)
    if alert is not None:
        st.subheader(f"Alert {alert.alert_id}: {md(alert.search_name)}")
        state = "on" if alert.enabled else "off"
        since = (
            f", since {viewer_time.moment_text(alert.switched_at)} by {md(alert.switched_by)}"
            if alert.switched_at is not None
            else ""
        )
        st.markdown(
            f"Fires on **{md(condition_text(alert))}**, severity **{alert.severity}**;"
            f" switched **{state}**{since}. Its findings name the rule {md(alert.rule_id)}."
        )
        st.code(alert.query or "(every event)", language=None)
        if not alert.search_deleted and st.button(
            "Open the search in Explore", key="alerts_open_search"
        ):
            st.switch_page(
                EXPLORE_PAGE, query_params={SAVED_PARAM: str(alert.search_id), "org": ctx.org}
            )
        _show_dry_run(ctx, alert)
        _switch(ctx, alert)
        _findings(ctx, alert)
if ctx.role in ALERT_ROLES:
    _new_alert_form(ctx)
