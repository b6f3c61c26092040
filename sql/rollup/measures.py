"""What the rollups and the raw part of every read count, defined once for both.

- Time buckets and days are UTC: `bucket` = the hour (tz-aware UTC), `day` = the UTC date.
- Family counts (`login`, `log_access`, `config_change`, `user_management`,
  `data_modification`, `api_call`) count `event_type` equal to that name.
- Action counts, by `event_action`: `searches` in SEARCH_ACTIONS; `views` in VIEW_ACTIONS;
  `downloads` starts with `download`; `exports` starts with `export`; `deletions` is a
  `data_modification` event whose action starts with `delete` or contains `purge`.
- `records_exported`: sum, over download and export events, of the first of RECORD_KEYS in
  `details` that holds a JSON number in [0, 10^15] (truncated); other values are ignored.
- `max_results_count`: largest such number under RESULT_KEYS on any event (0 when none).
- `off_hours_events`: events outside `organizations.work_start_hour`..`work_end_hour`
  (end exclusive) in `organizations.time_zone`, and every event on a Saturday or Sunday there.
  Start >= end means working hours that wrap midnight. An unknown time zone counts as UTC;
  an organisation without a row uses UTC and 8..19. The rollup stores off-hours as computed
  at refresh time: after changing an organisation's hours or zone, run
  `auditlens refresh --rebuild` to recompute.
- "Log records touched" (the compliance report's measure, not `records_exported`): per event,
  the first of TOUCHED_KEYS in `details` that holds a JSON number in [0, 10^15] (truncated),
  SQL function `auditlens_records_touched`; on every event of a resource, summed as numeric.
- A resource is `(resource_type, resource_id)` with `resource_id` not NULL; distinct IPs/user
  agents ignore NULLs.
- A person follows sql.user_identity: `user_id` when it has text, else `user_email` when it
  has text, else the one unknown person. Rows carry a missing or blank id as NULL `user_id`
  (one group of its own in per-user reads) and, where distinct people are counted, the
  email of an event without an id as `idless_email`; distinct users count people, the
  unknown one included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sql.vocabulary import FAMILIES, USER_DAY_COLUMNS

SEARCH_ACTIONS: tuple[str, ...] = ("search", "search_logs")
VIEW_ACTIONS: tuple[str, ...] = (
    "view",
    "view_logs",
    "view_log",
    "view_entry",
    "view_log_entry",
    "view_source",
)
RECORD_KEYS: tuple[str, ...] = (
    "records",
    "record_count",
    "records_count",
    "recordCount",
    "records_exported",
    "row_count",
)
RESULT_KEYS: tuple[str, ...] = ("results_count", "resultsCount", "result_count")
# The details keys of "log records touched", in order (SQL function auditlens_records_touched
# spells them).
TOUCHED_KEYS: tuple[str, ...] = (
    "results_count",
    "resultsCount",
    "record_count",
    "recordCount",
    "records_count",
)
# Appended to a derived event row (`e` is the event): its log records touched, or NULL.
TOUCHED = "auditlens_records_touched(e.details) AS touched"


# How a rolled-up value (`r`) and one being added (`excluded`) combine, for a column.
def add_up(c: str) -> str:
    return f"r.{c} + excluded.{c}"


def keep_greatest(c: str) -> str:
    return f"greatest(r.{c}, excluded.{c})"


def keep_least(c: str) -> str:
    return f"least(r.{c}, excluded.{c})"


@dataclass(frozen=True)
class Measure:
    """A rollup column: its aggregate over derived event rows, and how two values combine."""

    column: str
    value: str
    combine: Callable[[str], str] = add_up

    def update(self) -> str:
        """The ON CONFLICT assignment merging an inserted value into the stored one."""
        return f"{self.column} = {self.combine(self.column)}"


def _quote_list(values: Sequence[str]) -> str:
    for value in values:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"not a plain SQL constant: {value!r}")
    return ", ".join(f"'{v}'" for v in values)


def _detail_count(keys: Sequence[str]) -> str:
    parts = ", ".join(f"auditlens_detail_count(e.details, '{k}')" for k in keys)
    _quote_list(keys)
    return f"coalesce({parts})"


# Detection's per-(day, user) measures, in the rollup_user_days column order.
USER_DAY_MEASURES: tuple[Measure, ...] = (
    Measure("user_email", "max(user_email)", keep_greatest),
    Measure("events", "count(*)"),
    *(Measure(f, f"count(*) FILTER (WHERE event_type = {_quote_list([f])})") for f in FAMILIES),
    Measure("searches", f"count(*) FILTER (WHERE event_action IN ({_quote_list(SEARCH_ACTIONS)}))"),
    Measure("views", f"count(*) FILTER (WHERE event_action IN ({_quote_list(VIEW_ACTIONS)}))"),
    Measure("downloads", "count(*) FILTER (WHERE event_action LIKE 'download%')"),
    Measure("exports", "count(*) FILTER (WHERE event_action LIKE 'export%')"),
    Measure(
        "deletions",
        "count(*) FILTER (WHERE event_type = 'data_modification'"
        " AND (event_action LIKE 'delete%' OR event_action LIKE '%purge%'))",
    ),
    Measure("off_hours_events", "count(*) FILTER (WHERE off_hours)"),
    Measure("records_exported", "coalesce(sum(records), 0)::bigint"),
    Measure("max_results_count", "max(results)", keep_greatest),
    Measure("first_event", "min(event_time)", keep_least),
    Measure("last_event", "max(event_time)", keep_greatest),
)
# The measures a day's rows sum.
ADDITIVE: tuple[str, ...] = tuple(m.column for m in USER_DAY_MEASURES if m.combine == add_up)
# The user-day measures as a select list over derived rows.
USER_DAY_AGG = ",\n  ".join(f"{m.value} AS {m.column}" for m in USER_DAY_MEASURES)

# The read model's user-day frame: the vocabulary's columns, in its order.
FEATURE_COLUMNS: tuple[str, ...] = USER_DAY_COLUMNS

_IS_EXPORT = "(e.event_action LIKE 'export%' OR e.event_action LIKE 'download%')"

# An event's own columns and its time buckets; `e` is an event row. Its person as the rollups
# key it (sql.user_identity's rule): `user_id` NULL when missing or only whitespace, and
# `idless_email` the email naming a person without an id.
_EVENT_COLUMNS = """
  e.organization_id, e.event_time, e.event_type, e.event_action,
  CASE WHEN auditlens_has_text(e.user_id) THEN e.user_id END AS user_id,
  CASE WHEN NOT auditlens_has_text(e.user_id) AND auditlens_has_text(e.user_email)
       THEN e.user_email END AS idless_email,
  e.user_email, e.ip_address, e.user_agent, e.resource_type, e.resource_id,
  date_trunc('hour', e.event_time, 'UTC') AS bucket,
  (e.event_time AT TIME ZONE 'UTC')::date AS day,"""


def derived(tz: str = "o.tz", ws: str = "o.ws", we: str = "o.we") -> str:
    """One event's derived fields: its columns plus the per-event measures, given the
    organisation's time zone and working hours as expressions (default: `o`'s)."""
    return f"""{_EVENT_COLUMNS}
  auditlens_is_off_hours(e.event_time AT TIME ZONE {tz}, {ws}, {we}) AS off_hours,
  CASE WHEN {_IS_EXPORT} THEN {_detail_count(RECORD_KEYS)} END AS records,
  {_detail_count(RESULT_KEYS)} AS results
"""


# The same columns for reads that count events and distinct keys only: the per-event measures
# (off-hours, records, results: nine JSON look-ups an event) only user_day_features sums.
DERIVED_LEAN = f"""{_EVENT_COLUMNS}
  NULL::boolean AS off_hours, NULL::bigint AS records, NULL::bigint AS results
"""


def valid_time_zone(tz: str) -> str:
    """The time zone expression `tz` if PostgreSQL knows it, else NULL."""
    return f"auditlens_valid_time_zone({tz})"
