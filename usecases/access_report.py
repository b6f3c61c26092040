"""The compliance report: "who accessed RESOURCE between FROM and TO".

One code path for the Compliance page and `auditlens report access`: the same filter (the
shared search syntax, so the report states it exactly via `EventFilter.describe()`), the
same summary and per-user table, the same printable HTML. The page's figures and the printable
report's additions (accesses by action, log records touched, IP addresses, each user's
actions) come from the read model (`ReadModel.resource_users`, `resource_details`), so a
source read millions of times answers as fast as a rare one; raw events are read only for the
first events in time order (index-ordered, limited: 100 on the page, 5,000 in the printable
report) and by the streamed CSV. One organisation only; the event list in the HTML is capped,
the CSV is not.

"Log records touched" (a search's results, an export's records): per event the first of
`sql.rollup.measures.TOUCHED_KEYS` in `details` holding a JSON number in [0, 10^15]
(truncated; SQL `auditlens_records_touched`), the same in the summary, per user and in the
listed events' `records` column. Not the read model's `records_exported` (RECORD_KEYS, on
exports and downloads only).
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

import pandas as pd

from sql.event_filter import EventFilter
from sql.gateway import Database
from sql.ordered_reads import first_by_time
from sql.query_text import created_days, join, quote
from sql.read_model import ReadModel
from sql.user_identity import has_user_id, identity_key, identity_label
from usecases.exports import Exporter, ExportResult, export_events, record_export

# An event's log records touched (auditlens_records_touched): the same measure as the read model's
# (numeric, so a column with NULLs stays whole numbers instead of becoming floats in pandas).
RECORDS_SQL = "CAST(auditlens_records_touched(details) AS numeric)"
# Events listed on the page (in time order; Explore pages on through all of them) and in
# the printable report; the CSV holds every event.
PAGE_EVENT_LIMIT = 100
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
# "person" names them by the one rule of sql.user_identity (id, else email, else unknown);
# user_id and user_email are what their events carry.
USER_COLUMNS = (
    "person",
    "user_id",
    "user_email",
    "accesses",
    "first_day",
    "last_day",
    "active_days",
)
# The printable report adds these per user (from the read model, over every event).
DETAIL_USER_COLUMNS = ("actions", "records", "ip_addresses")
_QUALIFIERS_OF_A_REPORT = {"resources", "resource_types"}


def access_query(resource_id: str, resource_type: str | None, first: date, last: date) -> str:
    """The search-syntax query of the report: one resource, whole UTC days, both inclusive."""
    if not resource_id.strip():
        raise ValueError("resource: give the id of a resource")
    if last < first:
        raise ValueError(f"to: the period ends ({last}) before it starts ({first})")
    return join(
        f"resource_type:{quote(resource_type)}" if resource_type else None,
        f"resource:{quote(resource_id.strip())}",
        created_days(first, last),
    )


@dataclass(frozen=True)
class _Subject:
    """What an access query asks: one resource (any type when None) on whole UTC days."""

    resource_id: str
    resource_type: str | None
    first: date
    last: date


def _subject(flt: EventFilter) -> _Subject:
    """The report's question, read back from its query (as `access_query` writes it)."""
    others = [
        name
        for name in ("users", "families", "actions", "ips", "sessions", "texts")
        if getattr(flt, name)
    ]
    midnight = time(0)
    if (
        others
        or flt.excluded
        or flt.own_use
        or len(flt.resources) != 1
        or len(flt.resource_types) > 1
        or flt.start is None
        or flt.end is None
        or flt.start.timetz().replace(tzinfo=None) != midnight
        or flt.end.timetz().replace(tzinfo=None) != midnight
    ):
        raise ValueError(
            "query: an access report is one resource (and optionally its type) over whole"
            " days, as access_query writes it"
        )
    return _Subject(
        resource_id=flt.resources[0],
        resource_type=flt.resource_types[0] if flt.resource_types else None,
        first=flt.start.date(),
        last=(flt.end - timedelta(days=1)).date(),
    )


@dataclass
class AccessReport:
    """What the page shows, computed once: the summary and per-user table from the read
    model, and the first and last events (index-ordered raw reads)."""

    organization: str
    query: str
    description: str
    generated_at: datetime
    generated_by: str
    summary: dict[str, Any]
    by_user: pd.DataFrame
    events: pd.DataFrame
    events_truncated: bool = False
    resource_types: tuple[str | None, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AccessDetails:
    """The printable report's additions over every event of the report (from the read model)
    and its first events in time order."""

    by_action: pd.DataFrame
    by_user: pd.DataFrame  # user_id, user_email (set when no id), DETAIL_USER_COLUMNS
    records: int
    ip_addresses: int
    events: pd.DataFrame
    events_truncated: bool


def build_access_report(
    db: Database,
    org: str,
    query: str,
    *,
    generated_by: str,
    now: datetime | None = None,
    event_limit: int = PAGE_EVENT_LIMIT,
) -> AccessReport:
    """The report of `org` for an access query: counts from the read model (rollups plus the
    events past their watermark, so they equal counting raw events), and the first
    `event_limit` events in time order."""
    flt = EventFilter.parse(query)
    subject = _subject(flt)
    model = ReadModel(db)
    first, last, rid = subject.first, subject.last, subject.resource_id
    if subject.resource_type is not None:
        types: tuple[str | None, ...] = (subject.resource_type,)
    else:
        # Any type: the types this id has in the period (usually one; a row per user and
        # type when several).
        per_day = model.resource_day_access(org, first, last, resource_id=rid)
        types = tuple(dict.fromkeys(_none(t) for t in per_day["resource_type"]))
    per_type = [
        model.resource_users(org, first, last, t, rid).assign(resource_type=t) for t in types
    ]
    by_user = (
        pd.concat(per_type, ignore_index=True)
        if per_type
        else pd.DataFrame(columns=["user_id", "events", "first_day", "last_day", "active_days"])
    )
    by_user = by_user.rename(columns={"events": "accesses"})
    # Per user id, the events without one (missing, empty or blank) are the NULL user's row,
    # told apart by their emails from the raw events.
    with_id = by_user["user_id"].map(has_user_id).astype(bool)
    anonymous = not by_user.loc[~with_id & (by_user["accesses"] > 0)].empty
    by_user = by_user[with_id].reset_index(drop=True)
    named = by_user
    # Each user's last day (over types when several): a plain loop, as pandas' groupby max
    # over date objects falls back to a Python call per user (~0.35 s for 5,000 users).
    last_days: dict[str, Any] = {}
    for user, day in zip(named["user_id"], named["last_day"], strict=True):
        if str(user) not in last_days or day > last_days[str(user)]:
            last_days[str(user)] = day
    emails = model.user_emails(org, last_days).set_index("user_id")["user_email"]
    by_user["user_email"] = [emails.get(u) for u in by_user["user_id"]]
    if anonymous:
        unnamed = _anonymous_users(db, org, flt, types)
        by_user = pd.concat([by_user, unnamed], ignore_index=True) if len(by_user) else unnamed
    by_user["person"] = [
        identity_label(u, e) for u, e in zip(by_user["user_id"], by_user["user_email"], strict=True)
    ]
    keys = _keys(by_user)
    columns = list(USER_COLUMNS) + (["resource_type"] if len(types) > 1 else [])
    by_user = by_user.reindex(columns=columns).assign(_key=keys)
    by_user = by_user[by_user["accesses"] > 0]
    by_user = (
        by_user.sort_values(["accesses", "_key"], ascending=[False, True], kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )

    events, truncated, last_access = _first_events(db, org, flt, types, event_limit)
    summary = {
        "accesses": int(by_user["accesses"].sum()),
        "users": len(set(_keys(by_user))),
        "first_access": events["event_time"].iloc[0] if len(events) else None,
        "last_access": last_access,
    }
    return AccessReport(
        organization=org,
        query=flt.to_query(),
        description=flt.describe(),
        generated_at=(now or datetime.now(UTC)).astimezone(UTC),
        generated_by=generated_by,
        summary=summary,
        by_user=by_user,
        events=events,
        events_truncated=truncated,
        resource_types=types,
    )


def _keys(frame: pd.DataFrame) -> list[str]:
    """Each row's person (sql.user_identity.identity_key)."""
    return [identity_key(u, e) for u, e in zip(frame["user_id"], frame["user_email"], strict=True)]


def _anonymous_where(
    db: Database, flt: EventFilter, types: tuple[str | None, ...]
) -> tuple[str, dict[str, Any]]:
    """The report's events that name no user id (none, empty or only whitespace: the SQL
    twin of sql.user_identity.has_user_id), with bound values."""
    where, params = _narrowed(db, flt, types)
    return f"({where}) AND NOT auditlens_has_text(user_id)", params


# Rows of the raw reads of events without a user id: at most one per email, day and type.
_ANONYMOUS_MAX_ROWS = 1_000_000


def _anonymous_users(
    db: Database,
    org: str,
    flt: EventFilter,
    types: tuple[str | None, ...],
) -> pd.DataFrame:
    """USER_COLUMNS' figures (and resource_type) of the report's events without a user id, one
    row per person they name by email (or one unknown person), from the raw events."""
    where, params = _anonymous_where(db, flt, types)
    sql = _sql(
        "resource_type, user_email, (event_time AT TIME ZONE 'UTC')::date AS day, count(*)",
        where,
        "GROUP BY 1, 2, 3",
    )
    with db.org_session(org) as session:
        rows = session.execute(sql, params, max_rows=_ANONYMOUS_MAX_ROWS).rows
    people: dict[tuple[str, str | None], dict[str, Any]] = {}
    for rtype, email, day, n in rows:
        key = identity_key(None, email)
        person = people.setdefault(
            (key, rtype),
            {"user_email": None if key == "n" else email, "accesses": 0, "days": set()},
        )
        person["accesses"] += int(n)
        person["days"].add(day)
    return pd.DataFrame(
        [
            {
                "user_id": None,
                "user_email": p["user_email"],
                "accesses": p["accesses"],
                "first_day": min(p["days"]),
                "last_day": max(p["days"]),
                "active_days": len(p["days"]),
                "resource_type": rtype,
            }
            for (_, rtype), p in people.items()
        ],
        columns=["user_id", "user_email", *USER_COLUMNS[3:], "resource_type"],
    )


def _none(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _narrowed(
    db: Database, flt: EventFilter, types: tuple[str | None, ...]
) -> tuple[str, dict[str, Any]]:
    """The report's WHERE fragment, with the resource type the read model found when the query
    leaves it open and there is one: equality on the (organisation, type, resource, time)
    index's leading columns lets ordered reads stop after their LIMIT."""
    where, params = flt.sql_for(db)
    if flt.resource_types or len(types) != 1:
        return where, params
    if types[0] is None:
        return f"{where} AND resource_type IS NULL", params
    return f"{where} AND resource_type = :report_type", {**params, "report_type": types[0]}


def _first_events(
    db: Database, org: str, flt: EventFilter, types: tuple[str | None, ...], limit: int
) -> tuple[pd.DataFrame, bool, Any]:
    """The first `limit` events in time order, whether there are more, and the last access."""
    where, params = _narrowed(db, flt, types)
    start, end = flt.start, flt.end
    if start is None or end is None:  # _subject refuses such a report first
        raise ValueError("query: an access report is over whole days, from and to")
    with db.org_session(org, snapshot=True) as session:
        listed = first_by_time(
            session, db, _EVENT_SELECT, where, params, start=start, end=end, limit=limit + 1
        )
        last = first_by_time(
            session,
            db,
            "event_time",
            where,
            params,
            start=start,
            end=end,
            limit=1,
            newest_first=True,
        )
        last_access = last.rows[0][0] if last.rows else None
    events = pd.DataFrame.from_records(listed.rows[:limit], columns=list(EVENT_COLUMNS))
    return events, len(listed.rows) > limit, last_access


_EVENT_SELECT = (
    "event_time, user_email, user_id, event_type, event_action, resource_type,"
    f" resource_id, details->>'query' AS query, {RECORDS_SQL} AS records,"
    " host(ip_address) AS ip_address, session_id, id"
)


def access_details(
    db: Database, org: str, report: AccessReport, *, event_limit: int = REPORT_EVENT_LIMIT
) -> AccessDetails:
    """Accesses by action, log records touched, IP addresses (overall and per user) and each
    user's actions from the read model (one statement: rollups plus the raw events they do not
    hold yet), and the first `event_limit` events (an index-ordered raw read)."""
    flt = EventFilter.parse(report.query)
    subject = _subject(flt)
    details = ReadModel(db).resource_details(
        org,
        subject.first,
        subject.last,
        subject.resource_id,
        subject.resource_type,
        # No type asked: every type of the id, as the query's events are.
        any_type=subject.resource_type is None,
    )
    events, truncated, _ = _first_events(db, org, flt, report.resource_types, event_limit)
    by_user = details.by_user.assign(user_email=None)
    with_id = by_user["user_id"].map(has_user_id).astype(bool)
    if not with_id.all():
        unnamed = _anonymous_details(db, org, flt, report.resource_types)
        by_user = pd.concat([by_user[with_id], unnamed], ignore_index=True)
    return AccessDetails(
        by_action=details.by_action,
        by_user=by_user.reindex(columns=["user_id", "user_email", *DETAIL_USER_COLUMNS]),
        records=details.records,
        ip_addresses=details.ip_addresses,
        events=events,
        events_truncated=truncated,
    )


def _anonymous_details(
    db: Database,
    org: str,
    flt: EventFilter,
    types: tuple[str | None, ...],
) -> pd.DataFrame:
    """DETAIL_USER_COLUMNS of the report's events without a user id, one row per person they
    name by email (or one unknown person), from the raw events."""
    where, params = _anonymous_where(db, flt, types)
    sql = _sql(
        f"user_email, event_action, host(ip_address), coalesce(sum({RECORDS_SQL}), 0)",
        where,
        "GROUP BY 1, 2, 3",
    )
    with db.org_session(org) as session:
        rows = session.execute(sql, params, max_rows=_ANONYMOUS_MAX_ROWS).rows
    people: dict[str, dict[str, Any]] = {}
    for email, action, ip, touched in rows:
        key = identity_key(None, email)
        person = people.setdefault(
            key,
            {"email": None if key == "n" else email, "actions": set(), "ips": set(), "n": 0},
        )
        person["actions"].add(action)
        if ip is not None:
            person["ips"].add(ip)
        person["n"] += int(touched)
    return pd.DataFrame(
        [
            {
                "user_id": None,
                "user_email": p["email"],
                "actions": ", ".join(sorted(p["actions"])),
                "records": p["n"],
                "ip_addresses": ", ".join(sorted(p["ips"])) or None,
            }
            for p in people.values()
        ],
        columns=["user_id", "user_email", *DETAIL_USER_COLUMNS],
    )


def write_csv(
    db: Database, org: str, report: AccessReport, out: IO[bytes], *, exporter: Exporter
) -> ExportResult:
    """Every event of the report as CSV (escaped, streamed), recorded as an export."""
    return export_events(db, org, EventFilter.parse(report.query), "csv", out, exporter=exporter)


def write_html(
    db: Database, org: str, report: AccessReport, out: IO[bytes], *, exporter: Exporter
) -> ExportResult:
    """The printable HTML report, recorded as an `access_report` export with its SHA-256;
    with the additions of `access_details`, read from every event now."""
    body = report_html(report, access_details(db, org, report)).encode("utf-8")
    # Recorded before a byte is written: the report never leaves unaudited.
    result = record_export(
        db,
        org,
        EventFilter.parse(report.query),
        "html",
        rows=int(report.summary["accesses"]),
        sha256=hashlib.sha256(body).hexdigest(),
        exporter=exporter,
        kind="access_report",
    )
    out.write(body)
    return result


def _sql(select: str, where: str, tail: str = "") -> str:
    """A statement over the organisation's events; `where` is EventFilter's fragment, whose
    values are bound parameters, and `select`/`tail` are constants of this module."""
    return f"SELECT {select} FROM org_audit_events WHERE {where} {tail}"  # noqa: S608


def report_html(report: AccessReport, details: AccessDetails) -> str:
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
        ("Log records touched", f"{details.records:,}"),
        ("IP addresses", f"{details.ip_addresses:,}"),
        ("First access", _cell(s["first_access"])),
        ("Last access", _cell(s["last_access"])),
    ]
    events_note = (
        f"<p class='note'>The first {len(details.events):,} of {s['accesses']:,} events are"
        " listed; the CSV export holds them all.</p>"
        if details.events_truncated
        else ""
    )
    # Merged on the person (sql.user_identity): rows without a user id are told apart by
    # email, and pandas would match every missing id with every other.
    detail_columns = details.by_user[list(DETAIL_USER_COLUMNS)].assign(_key=_keys(details.by_user))
    by_user = report.by_user.assign(_key=_keys(report.by_user)).merge(
        detail_columns, on="_key", how="left"
    )
    by_user["records"] = by_user["records"].fillna(0).astype("int64")
    user_columns: tuple[str, ...] = (*USER_COLUMNS, *DETAIL_USER_COLUMNS)
    if "resource_type" in by_user.columns:
        user_columns = (*user_columns, "resource_type")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e('Access report: ' + report.query)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Access report</h1>",
        _definition_list(facts, times={"Generated"}),
        "<h2>Summary</h2>",
        _definition_list(numbers, times={"First access", "Last access"}),
        "<h2>Accesses by action</h2>",
        _table(details.by_action, ("event_type", "event_action", "events")),
        "<h2>Who accessed it</h2>",
        _table(by_user, user_columns),
        "<h2>Events</h2>",
        events_note,
        _table(details.events, EVENT_COLUMNS),
        "<p class='note'>Times and days are UTC. Produced by AuditLens from the append-only"
        " audit log.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


# Times and days keep to one line (class `t`): a narrow printed column would otherwise break
# a time between its date and its clock.
_TIME_CLASS = " class='t'"
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em} dt{font-weight:600}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f5f9} td.n{text-align:right} .note{color:#555;font-size:12px}
.t{white-space:nowrap}
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


def _is_time(value: Any) -> bool:
    return isinstance(value, pd.Timestamp | datetime | date)


def _definition_list(items: list[tuple[str, str]], *, times: set[str] | None = None) -> str:
    return (
        "<dl>"
        + "".join(
            f"<dt>{_e(k)}</dt><dd{_TIME_CLASS if k in (times or set()) else ''}>{_e(v)}</dd>"
            for k, v in items
        )
        + "</dl>"
    )


def _table(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    if frame.empty:
        return "<p class='note'>None.</p>"
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in frame[list(columns)].itertuples(index=False):
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = " class='n'" if numeric else _TIME_CLASS if _is_time(value) else ""
            cells.append(f"<td{cls}>{_e(_cell(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
