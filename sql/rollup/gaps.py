"""The day gaps: per organisation, how many users (resources) have an active day with a given
previous active day, so a read counts the distinct users of whole days from a few rows.

A merge records the user-days and resource-days it inserted (`new` temp tables); the gaps of
their keys are then recomputed: their gaps now minus their gaps without the inserted days.
"""

from __future__ import annotations

from dataclasses import dataclass

from sql.gateway import ScopedSession


@dataclass(frozen=True)
class GapSpec:
    """A day table whose keys' active days feed a gaps table."""

    days: str  # the day table
    gaps: str  # its gaps table
    count: str  # the gaps table's count column
    keys: tuple[str, ...]  # the key columns
    match: str  # a key of `k` matches a day-table row `u`
    counted: str  # the condition on a day-table row for its key to count ("": every row)
    new: str  # the temp table of days a merge inserted

    @property
    def key_list(self) -> str:
        return ", ".join(self.keys)

    @property
    def where(self) -> str:
        """`counted` over a day-table row `u`."""
        return f"u.{self.counted}" if self.counted else "true"


# Every person (sql.user_identity) counts, the unknown one too; a key matches by its id, or
# (no id) by its email or the lack of one.
USER_GAPS = GapSpec(
    "rollup_user_days",
    "rollup_user_day_gaps",
    "users",
    ("user_id", "idless_email"),
    "(k.user_id = u.user_id OR (k.user_id IS NULL AND u.user_id IS NULL"
    " AND k.idless_email IS NOT DISTINCT FROM u.idless_email))",
    "",
    "rollup_new_user_days",
)
RESOURCE_GAPS = GapSpec(
    "rollup_resource_days",
    "rollup_resource_day_gaps",
    "resources",
    ("resource_type", "resource_id"),
    "k.resource_id = u.resource_id AND k.resource_type IS NOT DISTINCT FROM u.resource_type",
    "",
    "rollup_new_resource_days",
)
GAPS = (USER_GAPS, RESOURCE_GAPS)


def capture_new_days(spec: GapSpec, insert: str) -> str:
    """`insert` (into `spec.days`) also recording the days it created in `spec.new`: a row
    inserted rather than updated has xmax = 0."""
    counted = f" AND {spec.counted}" if spec.counted else ""
    return (
        f"WITH ins AS ({insert}\n RETURNING organization_id, {spec.key_list}, day,"
        " xmax = 0 AS inserted)"
        f" INSERT INTO {spec.new} SELECT organization_id, {spec.key_list}, day FROM ins"
        f" WHERE inserted{counted}"
    )


def create_new_days(session: ScopedSession) -> None:
    for spec in GAPS:
        columns = ", ".join(f"{k} text" for k in spec.keys)
        session.execute(
            f"CREATE TEMP TABLE {spec.new} (organization_id text, {columns}, day date)"
            " ON COMMIT DROP"
        )


def gap_rows(spec: GapSpec, keys: str, sign: int, extra: str = "") -> str:
    """The gaps contributed by the keys in the table `keys`: one per active day and its
    previous active day (NULL: none), each counted `sign`; `extra` narrows the days."""
    return f"""
  SELECT organization_id, day,
         lag(day) OVER (PARTITION BY organization_id, {spec.key_list} ORDER BY day) AS prev_day,
         {sign} AS n
    FROM {spec.days} u
   WHERE {spec.where} AND EXISTS (SELECT 1 FROM {keys} k
                                    WHERE k.organization_id = u.organization_id
                                      AND {spec.match}){extra}"""


def add_gaps(session: ScopedSession, spec: GapSpec, rows: str) -> None:
    session.execute(
        f"""
INSERT INTO {spec.gaps} AS g (organization_id, day, prev_day, {spec.count})
SELECT organization_id, day, prev_day, sum(n) FROM ({rows}) c
 GROUP BY 1, 2, 3 HAVING sum(n) <> 0
ON CONFLICT (organization_id, day, prev_day)
DO UPDATE SET {spec.count} = g.{spec.count} + excluded.{spec.count}"""
    )
    session.execute(f"DELETE FROM {spec.gaps} WHERE {spec.count} = 0")


def shift_gaps(session: ScopedSession, spec: GapSpec) -> None:
    """After a merge inserted the days in `spec.new`: the gaps of their keys now minus before
    (their rows without the inserted days)."""
    session.execute(
        f"CREATE TEMP TABLE rollup_gap_keys ON COMMIT DROP AS"
        f" SELECT DISTINCT organization_id, {spec.key_list} FROM {spec.new}"
    )
    session.execute("ANALYZE rollup_gap_keys")
    session.execute(f"ANALYZE {spec.new}")
    before = (
        f"\n     AND NOT EXISTS (SELECT 1 FROM {spec.new} k"
        " WHERE k.organization_id = u.organization_id AND k.day = u.day"
        f" AND {spec.match})"
    )
    rows = (
        gap_rows(spec, "rollup_gap_keys", 1)
        + "\n  UNION ALL"
        + gap_rows(spec, "rollup_gap_keys", -1, before)
    )
    add_gaps(session, spec, rows)
    session.execute("DROP TABLE rollup_gap_keys")
