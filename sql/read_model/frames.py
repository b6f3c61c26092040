"""How a read runs and what it returns: one snapshot, two statements, a frame of exactly the
contracted columns and types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from sql.errors import AuditLensError
from sql.gateway import Database, ScopedSession, check_org_id
from sql.read_model.raw_part import ORG_SETTINGS, prune_raw
from sql.rollup.measures import ADDITIVE

# Reads that feed detection return many rows; past this they fail rather than truncate.
MAX_READ_ROWS = 5_000_000


class ReadModelError(AuditLensError):
    """A read-model call got bad arguments or would return more rows than it may."""


class Reads:
    """What every group of reads shares: the database and the one way a read runs."""

    def __init__(
        self,
        db: Database,
        *,
        max_rows: int = MAX_READ_ROWS,
        may_lag: bool = False,
        timeout_ms: int | None = None,
    ) -> None:
        """`may_lag=True`: reads may run on the read replica (`Database.org_session`);
        `timeout_ms`: each read's statement timeout (None: the configured one)."""
        self.db = db
        self.max_rows = max_rows
        self.may_lag = may_lag
        self.timeout_ms = timeout_ms

    def _frame(
        self,
        org: str,
        sql: str,
        params: Mapping[str, Any],
        *,
        session: ScopedSession | None = None,
    ) -> pd.DataFrame:
        """Run a read in a snapshot of its own, or in the caller's `session` (opened with
        `snapshot=True` for `org`), so that it agrees with the caller's other statements."""
        check_org_id(org)
        if session is not None:
            if session.org_id != org:
                raise ReadModelError(
                    f"the session reads {session.org_id!r}, not the organisation asked: {org!r}"
                )
            return self._frame_in(session, sql, params)
        # One snapshot for both statements: the second relies on what the first found.
        with self.db.org_session(
            org,
            max_rows=self.max_rows,
            snapshot=True,
            may_lag=self.may_lag,
            timeout_ms=self.timeout_ms,
        ) as own:
            return self._frame_in(own, sql, params)

    def _frame_in(
        self, session: ScopedSession, sql: str, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        # One round trip for the session settings and the organisation's: jit off (the
        # planner cannot know how few events are past the watermark and prices the raw
        # part high enough to JIT-compile: ~0.7 s of a ~10 ms read); work_mem so distinct
        # counts over ~10^5 rollup rows hash in memory instead of sorting.
        tz, ws, we, wm, first, last, *_ = session.execute(ORG_SETTINGS).rows[0]
        # wm_hint: the watermark as a constant, so the planner sees how few events are
        # past it. The statement still reads the watermark itself (one snapshot with the
        # rollups); committed watermarks only grow, so the hint never hides an event.
        bound = {**params, "org_tz": tz, "org_ws": ws, "org_we": we, "wm_hint": wm}
        sql = prune_raw(sql, bound, first, last)
        result = session.execute(sql, bound, max_rows=self.max_rows)
        if result.truncated:
            raise ReadModelError(
                f"the answer has more than {self.max_rows:,} rows: narrow the time range"
            )
        return result.frame()


def limit(n: int) -> int:
    """A top-N read's `n`, checked."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000:
        raise ReadModelError(f"n must be a whole number from 1 to 10000, got: {n!r}")
    return n


def epoch_us(expression: str) -> str:
    """A timestamptz expression as integer microseconds since the Unix epoch (exact)."""
    return f"(extract(epoch FROM {expression}) * 1000000)::bigint"


_INT_COLUMNS = frozenset(
    {
        "weekday",
        "hour",
        "events",
        "accesses",
        "distinct_users",
        "distinct_resources",
        "distinct_ips",
        "distinct_user_agents",
        "max_results_count",
        *ADDITIVE,
    }
)


def shape(
    frame: pd.DataFrame,
    columns: list[str],
    *,
    times: Sequence[str] = (),
    days: Sequence[str] = (),
) -> pd.DataFrame:
    """Exactly the contracted columns and types, also when there are no rows."""
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame = frame[columns].copy()
    for column in times:
        # Times travel as integer microseconds since the epoch (`epoch_us`): exact, and far
        # cheaper than one tz-aware datetime object per row through the driver and pandas.
        values = frame[column]
        if pd.api.types.is_integer_dtype(values):
            frame[column] = pd.to_datetime(values, unit="us", utc=True)
        else:
            frame[column] = pd.to_datetime(values, utc=True)
    for column in columns:
        if column in times or column in days:
            continue
        if column in _INT_COLUMNS:
            frame[column] = frame[column].astype("int64")
    return frame.reset_index(drop=True)
