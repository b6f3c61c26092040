"""Every rollup table as data: its key, what it counts and how a refresh adds the delta.

A refresh derives the new events into the temp table `rollup_delta` (one row per event, with
the columns of `measures.derived()` and `touched`) and merges it into each table with one
`INSERT ... ON CONFLICT DO UPDATE`, built here from the table's spec. Three shapes:
- COUNTS: aggregates per key (hour, day or month buckets);
- DAY_COUNTS: per key and year, an array of 366 per-day event counts (index = day of year);
- DAY_SET: per key and year, a 366-bit set of the days the key occurred.
"""

from __future__ import annotations

from dataclasses import dataclass

from sql.rollup.gaps import GAPS, RESOURCE_GAPS, USER_GAPS, GapSpec, capture_new_days
from sql.rollup.measures import USER_DAY_MEASURES, Measure, add_up, keep_greatest

COUNTS = "counts"
DAY_COUNTS = "day_counts"
DAY_SET = "day_set"

# The key columns that place a row in time, and how each is computed from a delta row.
TIME_KEYS: dict[str, str] = {
    "bucket": "bucket",
    "day": "day",
    "month": "date_trunc('month', day)::date",
    "year": "extract(year FROM day)::smallint",
}
# A day's bit in a year's 366-bit day set.
DAY_BIT = "set_bit(repeat('0', 366)::bit(366), auditlens_day_of_year(day), 1)"
_EVENTS = Measure("events", "count(*)")
_ACCESSES = Measure("accesses", "count(*)")


@dataclass(frozen=True)
class RollupTable:
    """A rollup table: `keys` identify a row (in the table's column order, `organization_id`
    first), `measures` are its COUNTS columns, `unique` its unique key's column order when
    it differs from `keys`, and only delta rows whose `not_null` columns are set count."""

    name: str
    keys: tuple[str, ...]
    measures: tuple[Measure, ...] = ()
    shape: str = COUNTS
    unique: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    gaps: GapSpec | None = None  # the day gaps fed by the days this table gains

    @property
    def time(self) -> str:
        """The key column placing a row in time: bucket, day, month or year."""
        return next(k for k in self.keys if k in TIME_KEYS)

    def merge_sql(self, *, gaps: bool = True) -> str:
        """The statement adding rollup_delta to this table (recording its new days for the
        day gaps when `gaps`)."""
        render = {COUNTS: _counts, DAY_COUNTS: _day_counts, DAY_SET: _day_set}[self.shape]
        sql = render(self)
        return capture_new_days(self.gaps, sql) if gaps and self.gaps else sql


def _list(columns: tuple[str, ...]) -> str:
    return ", ".join(columns)


def _ordinals(n: int) -> str:
    return ", ".join(str(i) for i in range(1, n + 1))


def _where(table: RollupTable) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in table.not_null)


def _conflict(table: RollupTable, update: str) -> str:
    return f"ON CONFLICT ({_list(table.unique or table.keys)})\nDO UPDATE SET {update}"


def _counts(table: RollupTable) -> str:
    columns = _list((*table.keys, *(m.column for m in table.measures)))
    values = _list((*(TIME_KEYS.get(k, k) for k in table.keys), *(m.value for m in table.measures)))
    where = f" WHERE {_where(table)}" if table.not_null else ""
    # Counters first, then the values kept by comparison.
    ordered = sorted(table.measures, key=lambda m: m.combine != add_up)
    return f"""
INSERT INTO {table.name} AS r ({columns})
SELECT {values}
  FROM rollup_delta{where} GROUP BY {_ordinals(len(table.keys))}
{_conflict(table, ", ".join(m.update() for m in ordered))}"""


def _day_counts(table: RollupTable) -> str:
    owner = _list(tuple(k for k in table.keys if k != "year"))
    where = f" WHERE {_where(table)}" if table.not_null else ""
    n = len(table.keys)
    return f"""
INSERT INTO {table.name} AS r ({_list(table.keys)}, counts)
SELECT {_list(table.keys)},
       (SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY g)
          FROM generate_series(0, 365) AS g
          LEFT JOIN unnest(doys, ns) AS c(doy, n) ON c.doy = g)
  FROM (
    SELECT {owner}, {TIME_KEYS["year"]} AS year,
           array_agg(auditlens_day_of_year(day)) AS doys, array_agg(n) AS ns
      FROM (SELECT {owner}, day, count(*) AS n
              FROM rollup_delta{where} GROUP BY {_ordinals(n)}) d
     GROUP BY {_ordinals(n)}
  ) u
{_conflict(table, "counts = auditlens_add_counts(r.counts, excluded.counts)")}"""


def _day_set(table: RollupTable) -> str:
    values = _list(tuple(TIME_KEYS["year"] if k == "year" else k for k in table.keys))
    distinct = _list(tuple("day" if k == "year" else k for k in table.keys))
    return f"""
INSERT INTO {table.name} AS r
  ({_list(table.keys)}, days)
SELECT {values},
       bit_or({DAY_BIT})
  FROM (SELECT DISTINCT {distinct}
          FROM rollup_delta WHERE {_where(table)}) d
 GROUP BY {_ordinals(len(table.keys))}
{_conflict(table, "days = r.days | excluded.days")}"""


_RESOURCE = ("resource_type", "resource_id")
# The unique keys of the per-resource tables lead with resource_id (their indexes' order).
_RESOURCE_FIRST = ("organization_id", "resource_id", "resource_type")

# In merge order.
TABLES: tuple[RollupTable, ...] = (
    RollupTable(
        "rollup_hour_actions",
        ("organization_id", "bucket", "event_type", "event_action"),
        (_EVENTS,),
    ),
    RollupTable(
        "rollup_day_actions",
        ("organization_id", "day", "event_type", "event_action"),
        (_EVENTS,),
    ),
    RollupTable(
        "rollup_hour_users",
        ("organization_id", "user_id", "bucket", "event_type"),
        (Measure("user_email", "max(user_email)", keep_greatest), _EVENTS),
    ),
    RollupTable(
        "rollup_user_days",
        ("organization_id", "day", "user_id", "idless_email"),
        USER_DAY_MEASURES,
        gaps=USER_GAPS,
    ),
    RollupTable(
        "rollup_user_day_resources",
        ("organization_id", "day", "user_id", "idless_email", *_RESOURCE),
        (_EVENTS, Measure("touched", "coalesce(sum(touched), 0)")),
        not_null=("resource_id",),
    ),
    # The compliance report's details of one resource: accesses by action, and which days a
    # user did an action / used an address on it.
    RollupTable(
        "rollup_resource_day_actions",
        ("organization_id", *_RESOURCE, "day", "event_type", "event_action"),
        (_EVENTS,),
        unique=(*_RESOURCE_FIRST, "day", "event_type", "event_action"),
        not_null=("resource_id",),
    ),
    *(
        RollupTable(
            f"rollup_resource_user_{kind}_years",
            ("organization_id", *_RESOURCE, "user_id", "year", column),
            shape=DAY_SET,
            unique=(*_RESOURCE_FIRST, "year", "user_id", column),
            not_null=("resource_id", column),
        )
        for kind, column in (("action", "event_action"), ("ip", "ip_address"))
    ),
    RollupTable(
        "rollup_user_day_ips",
        ("organization_id", "day", "user_id", "ip_address", "user_agent"),
        (_EVENTS,),
    ),
    RollupTable(
        "rollup_user_years",
        ("organization_id", "user_id", "year"),
        shape=DAY_COUNTS,
        unique=("organization_id", "year", "user_id"),
    ),
    RollupTable(
        "rollup_resource_years",
        ("organization_id", *_RESOURCE, "year"),
        shape=DAY_COUNTS,
        unique=("organization_id", "year", *_RESOURCE),
        not_null=("resource_id",),
    ),
    RollupTable(
        "rollup_resource_user_years",
        ("organization_id", *_RESOURCE, "user_id", "idless_email", "year"),
        shape=DAY_SET,
        unique=(*_RESOURCE_FIRST, "year", "user_id", "idless_email"),
        not_null=("resource_id",),
    ),
    RollupTable(
        "rollup_resource_days",
        ("organization_id", "day", *_RESOURCE),
        (_ACCESSES,),
        not_null=("resource_id",),
        gaps=RESOURCE_GAPS,
    ),
    RollupTable(
        "rollup_hour_families",
        ("organization_id", "bucket", "event_type"),
        (_EVENTS,),
    ),
    RollupTable(
        "rollup_user_months",
        ("organization_id", "month", "user_id"),
        (_EVENTS,),
    ),
    RollupTable(
        "rollup_resource_months",
        ("organization_id", "month", *_RESOURCE),
        (_ACCESSES,),
        not_null=("resource_id",),
    ),
)

ROLLUP_TABLES: tuple[str, ...] = (*(t.name for t in TABLES), *(g.gaps for g in GAPS))
