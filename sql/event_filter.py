"""The event filter and its query syntax (GitHub audit-log style).

One `EventFilter` object produces the SQL (a WHERE fragment over `org_audit_events` with
bound parameters only), the plain-English sentence printed on reports and exports
(`describe()`), and the query text (`to_query()`), which `EventFilter.parse` reads back to an
equal filter.

Syntax: whitespace-separated terms. `key:value` qualifiers -- `user:` (id, or id or email
when the value holds an `@`),
`family:` (event_type), `action:`, `resource:` (resource id), `resource_type:`, `ip:`
(address or CIDR), `session:`, `weekday:` (`mon`..`sun`) and `hour:` (`0`..`23`), read
in the zone `tz:` (an IANA name, UTC unless given, at most once), `created:`
(`2024-10-01..2024-12-31`, `>=2024-10-01`,
`<2025-01-01T08:00Z`, `2024-10-01..*`; ISO dates or datetimes, UTC unless an offset is
given; a range's end is inclusive: a date means through the end of that day). Any other term
is text searched within `details`; quote it with double quotes when it has spaces, a colon or
a quote (`"level:error AND x"`, with `\\"` and `\\\\` inside quotes). Repeating a qualifier ORs
its values; different qualifiers and several text terms AND. `created:` appears at most once.
A leading `-` negates a term, as in GitHub's audit-log search: `-action:search` leaves out
searches, `-"dry run"` events whose details contain it (`created:`, `weekday:`, `hour:` and
`tz:` cannot be negated).
`stream:auditlens` shows AuditLens's own use (the meta-audit) instead of the organisation's
events, which every filter otherwise means.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sql.filter_clauses import folded_emails, match_clause, text_clause
from sql.filter_text import (
    ONE_DAY,
    ONE_MICROSECOND,
    SEPARATORS,
    created_query,
    or_list,
    quote_term,
    words_time,
)
from sql.query_terms import (
    MAX_QUERY_LENGTH,
    MAX_VALUE_LENGTH,
    WEEKDAYS,
    QuerySyntaxError,
    check_value,
    check_zone,
    is_control,
    normalise_hour,
    normalise_ip,
    normalise_weekday,
)

if TYPE_CHECKING:
    from sql.gateway import Database

# Imported from here by pages and commands.
__all__ = ["MAX_QUERY_LENGTH", "MAX_VALUE_LENGTH", "WEEKDAYS", "EventFilter", "QuerySyntaxError"]

MAX_TERMS = 200

# Qualifier -> EventFilter field, in the order to_query() and describe() list them.
QUALIFIERS: dict[str, str] = {
    "user": "users",
    "family": "families",
    "action": "actions",
    "resource_type": "resource_types",
    "resource": "resources",
    "ip": "ips",
    "session": "sessions",
    "weekday": "weekdays",
    "hour": "hours",
}
STREAM_KEY = "stream"
OWN_STREAM = "auditlens"  # `stream:auditlens`: AuditLens's own use
ORG_STREAM = "organization"  # the default: the analysed organisation's events
_WORDS = {
    "users": "user",
    "families": "family",
    "actions": "action",
    "resource_types": "resource type",
    "resources": "resource",
    "ips": "IP address",
    "sessions": "session",
    "weekdays": "weekday",
    "hours": "hour of day",
}
# The local hour an event counts in, the rule of the hourly rollups and the heatmaps: the UTC
# hour it falls in, shifted into the zone (differs from the wall clock only in zones whose
# offset is not whole hours), so a heatmap cell and its query count the same events.
LOCAL_HOUR_SQL = "(date_trunc('hour', event_time, 'UTC') AT TIME ZONE :f_tz)"


# A day inside Python's datetime range on each side, so a range's day arithmetic (an end
# written back as its inclusive last day, a date meaning through that day) cannot overflow.
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)
_RANGE_TEXT = "times must fall between 0001-01-02 and 9999-12-30 (UTC)"


def _check_range(*moments: datetime | None) -> None:
    """OverflowError when a bound lies outside what the filter can compute with."""
    for moment in moments:
        if moment is not None and not _EARLIEST <= moment <= _LATEST:
            raise OverflowError(_RANGE_TEXT)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class EventFilter:
    """Which events of one organisation to show; empty means all of them.

    `start` is inclusive, `end` exclusive (both UTC). Values are validated on construction,
    so a filter built from widgets is as safe as one parsed from text.
    """

    users: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    weekdays: tuple[str, ...] = ()
    hours: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    texts: tuple[str, ...] = field(default=())
    # `-` terms: (field, value) pairs, the field one of QUALIFIERS' fields or "texts".
    excluded: tuple[tuple[str, str], ...] = ()
    # AuditLens's own use instead of the organisation's events (`stream:auditlens`).
    own_use: bool = False
    time_zone: str | None = None

    def __post_init__(self) -> None:
        for name, key in [*((f, k) for k, f in QUALIFIERS.items()), ("texts", "text")]:
            values = getattr(self, name)
            if isinstance(values, str):
                values = (values,)
            cleaned = tuple(dict.fromkeys(check_value(v, f"{key}: value") for v in values))
            if name == "ips":
                cleaned = tuple(dict.fromkeys(normalise_ip(v) for v in cleaned))
            elif name == "weekdays":
                cleaned = tuple(dict.fromkeys(normalise_weekday(v) for v in cleaned))
            elif name == "hours":
                cleaned = tuple(dict.fromkeys(normalise_hour(v) for v in cleaned))
            object.__setattr__(self, name, cleaned)
        for name in ("start", "end"):
            moment = getattr(self, name)
            if moment is not None:
                if not isinstance(moment, datetime):
                    raise QuerySyntaxError(f"created: {name} must be a datetime")
                try:
                    object.__setattr__(self, name, _utc(moment))
                    _check_range(self.start, self.end)
                except OverflowError:
                    raise QuerySyntaxError(
                        f"created: {name} is out of range: {_RANGE_TEXT}"
                    ) from None
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise QuerySyntaxError("created: the range ends before it starts")
        object.__setattr__(self, "excluded", _checked_exclusions(self.excluded))
        if not isinstance(self.own_use, bool):
            raise QuerySyntaxError("stream: own_use must be true or false")
        if self.time_zone is not None:
            object.__setattr__(self, "time_zone", check_zone(self.time_zone))

    # ---- SQL -------------------------------------------------------------------------------

    def sql_for(self, db: Database, *, whole_trail: bool = False) -> tuple[str, dict[str, Any]]:
        """`to_sql` with what `db`'s schema offers: the search migration's indexed text match
        when it is there. What every reader of events calls."""
        return self.to_sql(trigram=db.capabilities.trigram_search, whole_trail=whole_trail)

    def to_sql(
        self, *, trigram: bool = False, whole_trail: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """A WHERE fragment over `org_audit_events` and its bound parameters ("TRUE" if empty).

        The organisation is not part of it: `org_audit_events` already shows only the
        session's organisation. `trigram` (`sql_for` passes the server's capability) matches
        text terms with the search migration's indexed operator instead of ILIKE: the same events.
        `whole_trail` (SIEM streaming) reads AuditLens's own use beside the organisation's
        events unless the filter asks for the own stream alone.
        """
        # Every filter reads one stream: the organisation's events, or AuditLens's own use.
        clauses: list[str] = ["own_use" if self.own_use else "NOT own_use"]
        if whole_trail and not self.own_use:
            clauses = []
        params: dict[str, Any] = {}
        for name in (*QUALIFIERS.values(), "texts"):
            values = getattr(self, name)
            if not values or name in _LOCAL_TIME_FIELDS:
                continue
            if name == "texts":
                for i, text in enumerate(values):
                    clauses.append(text_clause(text, f"f_text{i}", params, trigram=trigram))
            else:
                clauses.append(match_clause(name, values, f"f_{name}", params))
        if self.weekdays or self.hours:
            params["f_tz"] = self.time_zone or "UTC"
            if self.weekdays:
                params["f_weekdays"] = [WEEKDAYS.index(d) + 1 for d in self.weekdays]
                clauses.append(f"extract(isodow FROM {LOCAL_HOUR_SQL})::int = ANY(:f_weekdays)")
            if self.hours:
                params["f_hours"] = [int(h) for h in self.hours]
                clauses.append(f"extract(hour FROM {LOCAL_HOUR_SQL})::int = ANY(:f_hours)")
        if self.start is not None:
            params["f_start"] = self.start
            clauses.append("event_time >= :f_start")
        if self.end is not None:
            params["f_end"] = self.end
            clauses.append("event_time < :f_end")
        for name, values in self.excluded_by_field().items():
            # NULL (no user, no address) matches no value, so a negated term keeps the row.
            if name == "texts":
                alternatives = [
                    text_clause(t, f"fx_text{i}", params, trigram=trigram)
                    for i, t in enumerate(values)
                ]
                clauses.append(f"NOT coalesce(({' OR '.join(alternatives)}), false)")
            else:
                clauses.append(
                    f"NOT coalesce({match_clause(name, values, f'fx_{name}', params)}, false)"
                )
        return (" AND ".join(clauses) or "TRUE"), params

    def excluded_by_field(self) -> dict[str, tuple[str, ...]]:
        """The `-` terms' values by field, in QUALIFIERS' order then texts."""
        out: dict[str, tuple[str, ...]] = {}
        for name in (*QUALIFIERS.values(), "texts"):
            values = tuple(v for f, v in self.excluded if f == name)
            if values:
                out[name] = values
        return out

    # ---- words -----------------------------------------------------------------------------

    def describe(self) -> str:
        """The exact filter in plain English, as printed on reports and exports."""
        parts: list[str] = []
        for name in QUALIFIERS.values():
            values = getattr(self, name)
            if values:
                word = _WORDS[name]
                if name == "users":
                    word = "user (id or email)"
                if name == "ips":
                    word = "IP address in"
                    parts.append(f"{word} {or_list(values)}")
                else:
                    parts.append(f"{word} is {or_list(values)}")
        if self.start is not None and self.end is not None:
            parts.append(
                f"time from {words_time(self.start)} (inclusive) to "
                f"{words_time(self.end)} (exclusive)"
            )
        elif self.start is not None:
            parts.append(f"time at or after {words_time(self.start)}")
        elif self.end is not None:
            parts.append(f"time before {words_time(self.end)}")
        if self.time_zone is not None and (self.weekdays or self.hours):
            parts.append(f"weekday and hour read in {self.time_zone}")
        for text in self.texts:
            parts.append(f"details contain {json.dumps(text, ensure_ascii=False)}")
        for name, values in self.excluded_by_field().items():
            if name == "texts":
                parts.append(f"details contain none of {or_list(values).replace(' or ', ' and ')}")
            elif name == "ips":
                parts.append(f"IP address not in {or_list(values)}")
            else:
                word = "user (id or email)" if name == "users" else _WORDS[name]
                parts.append(f"{word} is not {or_list(values)}")
        scope = "AuditLens's own use (its meta-audit)" if self.own_use else ""
        if not parts:
            return f"all of {scope}" if scope else "all events"
        return (f"{scope}: " if scope else "") + "events where " + "; and ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recorded with every export)."""
        out: dict[str, Any] = {"query": self.to_query()}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and value:
                out[f.name] = list(value)
            elif isinstance(value, datetime):
                out[f.name] = value.isoformat()
        if self.own_use:
            out["own_use"] = True
        return out

    @property
    def emails(self) -> tuple[str, ...]:
        """The `user:` values that can be emails, folded as they are compared with
        auditlens_fold_email(user_email) (legal holds store these too)."""
        return folded_emails(self.users)

    @property
    def is_empty(self) -> bool:
        return self == EventFilter()

    def with_values(self, **changes: Any) -> EventFilter:
        """A copy with some fields replaced (widgets build filters this way)."""
        return replace(self, **changes)

    # ---- query text ------------------------------------------------------------------------

    def to_query(self) -> str:
        """The query text; `EventFilter.parse(f.to_query()) == f` for every valid filter."""
        terms: list[str] = []
        for key, name in QUALIFIERS.items():
            terms.extend(f"{key}:{quote_term(v, qualifier=True)}" for v in getattr(self, name))
        created = created_query(self.start, self.end)
        if created:
            terms.append(f"created:{created}")
        if self.time_zone is not None:
            terms.append(f"tz:{quote_term(self.time_zone, qualifier=True)}")
        terms.extend(quote_term(t, qualifier=False) for t in self.texts)
        for name, value in self.excluded:
            if name == "texts":
                terms.append("-" + quote_term(value, qualifier=False))
            else:
                key = next(k for k, f in QUALIFIERS.items() if f == name)
                terms.append(f"-{key}:{quote_term(value, qualifier=True)}")
        if self.own_use:
            terms.append(f"{STREAM_KEY}:{OWN_STREAM}")
        return " ".join(terms)

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        """Read a query; raises QuerySyntaxError naming and pointing at the bad part."""
        return _Parser(text).parse()


# ---- checks -------------------------------------------------------------------------------


# Matched in the zone `tz:` names, not by a column's value (see to_sql).
_LOCAL_TIME_FIELDS = ("weekdays", "hours")


def _checked_exclusions(pairs: Any) -> tuple[tuple[str, str], ...]:
    known = tuple(f for f in (*QUALIFIERS.values(), "texts") if f not in _LOCAL_TIME_FIELDS)
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and pair[0] in known):
            raise QuerySyntaxError(f"excluded: terms must be (field, value) pairs, got: {pair!r}")
        name, value = pair
        key = next((k for k, f in QUALIFIERS.items() if f == name), "text")
        value = check_value(value, f"-{key}: value")
        if name == "ips":
            value = normalise_ip(value)
        out.append((name, value))
    return tuple(dict.fromkeys(out))


@dataclass
class _Term:
    key: str | None  # None: free text
    value: str
    position: int  # where the term starts
    value_position: int  # where its value starts
    negated: bool = False  # a leading `-`


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise QuerySyntaxError("the query must be text")
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, query=self.text, position=position)

    def parse(self) -> EventFilter:
        text = self.text
        if len(text) > MAX_QUERY_LENGTH:
            raise self.error(
                f"the query is {len(text):,} characters long (at most {MAX_QUERY_LENGTH:,})",
                MAX_QUERY_LENGTH,
            )
        for i, c in enumerate(text):
            if is_control(c) and c not in SEPARATORS:
                raise self.error(f"control character U+{ord(c):04X} is not allowed", i)
        values: dict[str, list[str]] = {name: [] for name in (*QUALIFIERS.values(), "texts")}
        excluded: list[tuple[str, str]] = []
        created: _Term | None = None
        stream: _Term | None = None
        zone: _Term | None = None
        for count, term in enumerate(self.terms(), start=1):
            if count > MAX_TERMS:
                raise self.error(f"the query has more than {MAX_TERMS} terms", term.position)
            # A zone and local days/hours are positive choices: list the ones wanted.
            if term.negated and term.key in ("created", STREAM_KEY, "tz", "weekday", "hour"):
                raise self.error(f"{term.key}: cannot be negated", term.position)
            if term.key == STREAM_KEY:
                if stream is not None:
                    raise self.error(f"{STREAM_KEY}: may appear only once", term.position)
                if term.value.lower() not in (OWN_STREAM, ORG_STREAM):
                    raise self.error(
                        f"{STREAM_KEY}: is {OWN_STREAM} or {ORG_STREAM}, got: {term.value!r}",
                        term.value_position,
                    )
                stream = term
                continue
            if term.negated:
                excluded.append((QUALIFIERS[term.key] if term.key else "texts", term.value))
            elif term.key is None:
                values["texts"].append(term.value)
            elif term.key == "created":
                if created is not None:
                    raise self.error("created: may appear only once", term.position)
                created = term
            elif term.key == "tz":
                if zone is not None:
                    raise self.error("tz: may appear only once", term.position)
                zone = term
            else:
                values[QUALIFIERS[term.key]].append(term.value)
            self.check_term(term)
        start, end = self.created(created) if created else (None, None)
        try:
            return EventFilter(
                **{name: tuple(v) for name, v in values.items()},
                start=start,
                end=end,
                excluded=tuple(excluded),
                own_use=stream is not None and stream.value.lower() == OWN_STREAM,
                time_zone=zone.value if zone else None,
            )
        except QuerySyntaxError as exc:  # pragma: no cover - check_term catches these first
            raise self.error(exc.message, 0) from None

    def check_term(self, term: _Term) -> None:
        what = f"{term.key}: value" if term.key else "search text"
        try:
            check_value(term.value, what)
            if term.key == "ip":
                normalise_ip(term.value)
            elif term.key == "weekday":
                normalise_weekday(term.value)
            elif term.key == "hour":
                normalise_hour(term.value)
            elif term.key == "tz":
                check_zone(term.value)
        except QuerySyntaxError as exc:
            raise self.error(exc.message, term.value_position) from None

    def terms(self) -> Iterable[_Term]:
        text = self.text
        n = len(text)
        while True:
            while self.pos < n and text[self.pos] in SEPARATORS:
                self.pos += 1
            if self.pos >= n:
                return
            term_start = start = self.pos
            # `-term` leaves the term out; a lone `-` or a run of them is plain text.
            negated = (
                text[start] == "-"
                and start + 1 < n
                and text[start + 1] not in SEPARATORS
                and text[start + 1] != "-"
            )
            if negated:
                start = self.pos = start + 1
            if text[start] == '"':
                value = self.quoted()
                yield _Term(None, value, term_start, start, negated)
                continue
            # A bare word up to the next separator, or a key: followed by a value.
            end = start
            while end < n and text[end] not in SEPARATORS and text[end] not in ':"':
                end += 1
            if end < n and text[end] == ":":
                key = text[start:end].lower()
                if key not in QUALIFIERS and key not in ("created", "tz", STREAM_KEY):
                    known = ", ".join([*QUALIFIERS, "tz", "created", STREAM_KEY])
                    raise self.error(
                        f"unknown qualifier {text[start:end]!r}: use one of {known}, "
                        "or put the text in double quotes to search for it",
                        start,
                    )
                self.pos = end + 1
                value_start = self.pos
                quoted = self.pos < n and text[self.pos] == '"'
                value = self.quoted() if quoted else self.bare()
                if value == "":
                    raise self.error(f"{key}: needs a value", value_start)
                yield _Term(key, value, term_start, value_start, negated)
                continue
            if end < n and text[end] == '"':
                raise self.error("a quote may only start a term or a value", end)
            self.pos = end
            yield _Term(None, text[start:end], term_start, start, negated)

    def bare(self) -> str:
        text = self.text
        start = self.pos
        while self.pos < len(text) and text[self.pos] not in SEPARATORS:
            if text[self.pos] == '"':
                raise self.error("a quote may only start a term or a value", self.pos)
            self.pos += 1
        return text[start : self.pos]

    def quoted(self) -> str:
        text = self.text
        opening = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\":
                if self.pos + 1 >= len(text) or text[self.pos + 1] not in '"\\':
                    raise self.error('inside quotes a backslash must be \\" or \\\\', self.pos)
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if c == '"':
                self.pos += 1
                if self.pos < len(text) and text[self.pos] not in SEPARATORS:
                    raise self.error("a closing quote must end the term", self.pos)
                return "".join(out)
            out.append(c)
            self.pos += 1
        raise self.error("this quote is never closed", opening)

    def created(self, term: _Term) -> tuple[datetime | None, datetime | None]:
        try:
            start, end = self._created(term)
            _check_range(start, end)
        except OverflowError:
            raise self.error(
                f"created: {term.value!r} is out of range: {_RANGE_TEXT}", term.value_position
            ) from None
        return start, end

    def _created(self, term: _Term) -> tuple[datetime | None, datetime | None]:
        value, at = term.value, term.value_position
        for op in (">=", "<=", ">", "<"):
            if value.startswith(op):
                moment, is_date = self.moment(value[len(op) :], at + len(op))
                step = ONE_DAY if is_date else ONE_MICROSECOND
                if op == ">=":
                    return moment, None
                if op == ">":
                    return moment + step, None
                if op == "<":
                    return None, moment
                return None, moment + step
        if ".." in value:
            left, right = value.split("..", 1)
            start = None
            end = None
            if left != "*":
                start, _ = self.moment(left, at)
            if right != "*":
                last, is_date = self.moment(right, at + len(left) + 2)
                end = last + (ONE_DAY if is_date else ONE_MICROSECOND)
            if start is not None and end is not None and end <= start:
                raise self.error("created: the range ends before it starts", at)
            return start, end
        moment, is_date = self.moment(value, at)
        # A single date or datetime means that day, or that instant.
        return moment, moment + (ONE_DAY if is_date else ONE_MICROSECOND)

    def moment(self, value: str, at: int) -> tuple[datetime, bool]:
        """A UTC datetime and whether it was a bare date."""
        hint = "created: needs a date like 2024-10-01 or a datetime like 2024-10-01T14:30Z"
        if not value or len(value) < 10 or not value[:4].isdigit():
            raise self.error(f"{hint}, got: {value!r}", at)
        try:
            if len(value) == 10:
                return datetime.combine(date.fromisoformat(value), time(0), UTC), True
            if value[10] not in "Tt":
                raise ValueError
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            raise self.error(f"{hint}, got: {value!r}", at) from None
        return _utc(parsed), False
