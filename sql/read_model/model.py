"""`ReadModel`: every read, and the refresh that keeps the rollups behind them current."""

from __future__ import annotations

from sql.read_model.activity import ActivityReads
from sql.read_model.first_seen import FirstSeenReads
from sql.read_model.ranking import RankingReads
from sql.read_model.resources import ResourceReads
from sql.read_model.user_days import UserDayReads
from sql.rollup import refresh as rollup_refresh
from sql.rollup.refresh import RefreshStats


class ReadModel(ActivityReads, RankingReads, UserDayReads, ResourceReads, FirstSeenReads):
    """Per-organisation counts from rollups plus the raw events past the watermark."""

    def watermark(self) -> str:
        """The current watermark (an xid8, as text)."""
        return rollup_refresh.watermark(self.db)

    def refresh(self, *, wait: bool = True, rebuild: bool = False) -> RefreshStats:
        """Roll up every event whose transaction ended since the last refresh (see
        `sql.rollup.refresh.refresh`; `wait=False` returns at once, `skipped`, when another
        refresh runs)."""
        return rollup_refresh.refresh(self.db, wait=wait, rebuild=rebuild)
