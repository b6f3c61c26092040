"""The Config changes page's "still switched off now" list, cached: it judges the whole config
history whatever the period, so picking another period reuses it instead of judging every
switch again. The cache is keyed on the switch changes the store holds
(`config_changes.switch_changes_held`), so a change that arrives, even late with an old time,
is judged at once rather than after the cache expires. The page says when it was judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import config_changes
from sql.gateway import Database

TTL_SECONDS = 60
# Changes stamped up to this far ahead of the server's clock (a producer's skew) still count.
_CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True)
class StillOff:
    """`still_switched_off`'s answer (`changes`, `cut`) and the moment it was judged at."""

    changes: pd.DataFrame
    cut: bool
    judged_at: datetime


def still_off_now(db: Database, org: str) -> StillOff:
    """What `org` switched off and never switched back on, judged again whenever a switch
    change has arrived since the last judgement."""
    held = config_changes.switch_changes_held(db, org)
    return _still_off_now(db.cache_key, org, held, _db=db)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _still_off_now(
    db_key: str, org: str, held: tuple[int, datetime | None], *, _db: Database
) -> StillOff:
    now = datetime.now(UTC)
    changes, cut = config_changes.still_switched_off(_db, org, now + _CLOCK_SKEW)
    return StillOff(changes, cut, now)
