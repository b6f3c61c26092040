"""The compliance report: "who accessed RESOURCE between FROM and TO".

One code path for the Compliance page and `auditlens report access`: the same filter (the
shared search syntax, so the report states it exactly via `EventFilter.describe()`), the
same summary and per-user table, the same printable HTML. Reads raw events of one
organisation only, aggregated in SQL; the event list in the HTML is capped, the CSV is not.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

import pandas as pd

from dashboard.drilldown import created_days, join, quote
from dashboard.exports import Exporter, ExportResult, export_events, record_export
from sql.event_filter import EventFilter
from sql.gateway import Database

# details keys producers use for "how many log records this touched" (request: results_count,
# recordCount); fixed names, so the SQL built from them holds no input.
_RECORD_KEYS = ("results_count", "resultsCount", "record_count", "recordCount", "records_count")
RECORDS_SQL = (
    "coalesce("
    + ", ".join(
        f"CASE WHEN jsonb_typeof(details->'{k}') = 'number' THEN (details->>'{k}')::numeric END"
        for k in _RECORD_KEYS
    )
    + ")"
)
REPORT_EVENT_LIMIT = 5_000
EVENT_COLUMNS = (
    "event_time",
    "user_email",
    "user_id",
    "event_type",
    "event_action",
    "resource_type",
    "resource_id",
    "query",
    "records",
    "ip_address",
    "session_id",
    "id",
)
USER_COLUMNS = (
    "user_id",
    "user_email",
    "accesses",
    "actions",
    "records",
    "first_access",
    "last_access",
    "ip_addresses",
)


def access_query(resource_id: str, resource_type: str | None, first: date, last: date) -> str:
    """The search-syntax query of the report: one resource, whole UTC days, both inclusive."""
    if not resource_id.strip():
        raise ValueError("resource: give the id of the resource (for example payment-logs)")
    if last < first:
        raise ValueError(f"to: the period ends ({last}) before it starts ({first})")
    return join(
        f"resource_type:{quote(resource_type)}" if resource_type else None,
        f"resource:{quote(resource_id.strip())}",
        created_days(first, last),
    )


@dataclass
class AccessReport:
    """Everything the report shows, computed once and rendered as page, CSV or HTML."""

    organization: str
    query: str
    description: str
    generated_at: datetime
    generated_by: str
    summary: dict[str, Any]
    by_action: pd.DataFrame
    by_user: pd.DataFrame
    events: pd.DataFrame
    events_truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def build_access_report(
    db: Database,
    org: str,
    query: str,
    *,
    generated_by: str,
    now: datetime | None = None,
    event_limit: int = REPORT_EVENT_LIMIT,
) -> AccessReport:
    """Run the report's queries in one read transaction scoped to `org`."""
    flt = EventFilter.parse(query)
    where, params = flt.to_sql()
    with db.org_session(org) as session:
        summary_row = session.execute(
            _sql(
                "count(*) AS accesses, count(DISTINCT coalesce(user_id, user_email)) AS users,"
                " min(event_time) AS first_access, max(event_time) AS last_access,"
                f" sum({RECORDS_SQL}) AS records, count(DISTINCT ip_address) AS ip_addresses",
                where,
            ),
            params,
        ).dicts()[0]
        by_action = session.frame(
            _sql(
                "event_type, event_action, count(*) AS events",
                where,
                "GROUP BY event_type, event_action ORDER BY events DESC, event_type, event_action",
            ),
            params,
        )
        by_user = session.frame(
            _sql(
                "user_id, max(user_email) AS user_email, count(*) AS accesses,"
                " string_agg(DISTINCT event_action, ', ' ORDER BY event_action) AS actions,"
                f" sum({RECORDS_SQL}) AS records,"
                " min(event_time) AS first_access, max(event_time) AS last_access,"
                " string_agg(DISTINCT host(ip_address), ', ') AS ip_addresses",
                where,
                "GROUP BY user_id ORDER BY accesses DESC, user_id",
            ),
            params,
        )
        listed = session.execute(
            _sql(
                "event_time, user_email, user_id, event_type, event_action, resource_type,"
                f" resource_id, details->>'query' AS query, {RECORDS_SQL} AS records,"
                " host(ip_address) AS ip_address, session_id, id",
                where,
                "ORDER BY event_time, id LIMIT :report_limit",
            ),
            {**params, "report_limit": event_limit + 1},
            max_rows=event_limit + 1,
        )
    summary = {
        "accesses": int(summary_row["accesses"]),
        "users": int(summary_row["users"]),
        "first_access": summary_row["first_access"],
        "last_access": summary_row["last_access"],
        "records": int(summary_row["records"] or 0),
        "ip_addresses": int(summary_row["ip_addresses"]),
    }
    events = pd.DataFrame.from_records(listed.rows[:event_limit], columns=list(EVENT_COLUMNS))
    if by_user.empty:
        by_user = pd.DataFrame(columns=list(USER_COLUMNS))
    by_user["records"] = by_user["records"].fillna(0).astype("int64")
    return AccessReport(
        organization=org,
        query=flt.to_query(),
        description=flt.describe(),
        generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        generated_by=generated_by,
        summary=summary,
        by_action=by_action,
        by_user=by_user,
        events=events,
        events_truncated=len(listed.rows) > event_limit,
    )


def write_csv(
    db: Database, org: str, report: AccessReport, out: IO[bytes], *, exporter: Exporter
) -> ExportResult:
    """Every event of the report as CSV (escaped, streamed), recorded as an export."""
    return export_events(db, org, EventFilter.parse(report.query), "csv", out, exporter=exporter)


def write_html(
    db: Database, org: str, report: AccessReport, out: IO[bytes], *, exporter: Exporter
) -> ExportResult:
    """The printable HTML report, recorded as an `access_report` export with its SHA-256."""
    body = report_html(report).encode("utf-8")
    out.write(body)
    return record_export(
        db,
        org,
        EventFilter.parse(report.query),
        "html",
        rows=int(report.summary["accesses"]),
        sha256=hashlib.sha256(body).hexdigest(),
        exporter=exporter,
        kind="access_report",
    )


def _sql(select: str, where: str, tail: str = "") -> str:
    """A statement over the organisation's events; `where` is EventFilter's fragment, whose
    values are bound parameters, and `select`/`tail` are constants of this module."""
    return f"SELECT {select} FROM org_audit_events WHERE {where} {tail}"  # noqa: S608


def report_html(report: AccessReport) -> str:
    """A self-contained, printable HTML report; every value is escaped."""
    s = report.summary
    facts = [
        ("Organisation", report.organization),
        ("Filter", report.description),
        ("Query", report.query),
        ("Generated", f"{report.generated_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Generated by", report.generated_by),
    ]
    numbers = [
        ("Accesses", f"{s['accesses']:,}"),
        ("Users", f"{s['users']:,}"),
        ("Log records touched", f"{s['records']:,}"),
        ("IP addresses", f"{s['ip_addresses']:,}"),
        ("First access", _cell(s["first_access"])),
        ("Last access", _cell(s["last_access"])),
    ]
    events_note = (
        f"<p class='note'>The first {len(report.events):,} of {s['accesses']:,} events are"
        " listed; the CSV export holds them all.</p>"
        if report.events_truncated
        else ""
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e('Access report: ' + report.query)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Access report</h1>",
        _definition_list(facts),
        "<h2>Summary</h2>",
        _definition_list(numbers),
        "<h2>Accesses by action</h2>",
        _table(report.by_action, ("event_type", "event_action", "events")),
        "<h2>Who accessed it</h2>",
        _table(report.by_user, USER_COLUMNS),
        "<h2>Events</h2>",
        events_note,
        _table(report.events, EVENT_COLUMNS),
        "<p class='note'>Times are UTC. Produced by AuditLens from the append-only audit log.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em} dt{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f5f9} td.n{text-align:right} .note{color:#555;font-size:12px}
@media print{body{margin:0} tr{page-break-inside:avoid} th{background:#eee}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp | datetime):
        return f"{pd.Timestamp(value).tz_convert('UTC'):%Y-%m-%d %H:%M:%S}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _definition_list(items: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _table(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    if frame.empty:
        return "<p class='note'>None.</p>"
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in frame[list(columns)].itertuples(index=False):
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = " class='n'" if numeric else ""
            cells.append(f"<td{cls}>{_e(_cell(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
