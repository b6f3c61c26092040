"""The rollups: counts per hour, day, month and year per organisation, kept current by
refreshes over ingest order and exact after a retention purge.

`measures` defines what is counted (shared with the read model's raw part), `tables` every
rollup table as data, `refresh` the incremental writer, `gaps` the day gaps behind distinct
counts, `recompute` the purge's re-roll of some days. (`refresh.refresh` is the writer's
entry point; it is not re-exported here, where its name would hide its module.)
"""

from sql.rollup.recompute import recompute_days
from sql.rollup.refresh import REFRESH_LOCK, RefreshStats
from sql.rollup.tables import ROLLUP_TABLES

__all__ = [
    "REFRESH_LOCK",
    "ROLLUP_TABLES",
    "RefreshStats",
    "recompute_days",
]
