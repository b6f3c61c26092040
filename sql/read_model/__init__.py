"""The read model: every count the dashboard and detection show, per organisation, without
scanning raw events.

Reads union the rollups (`sql.rollup`) with the raw events they do not hold yet (`raw_part`),
in one snapshot, so every answer equals the aggregation over raw events and an event counts
as soon as its transaction commits. Reads run in `db.org_session(org)` through the
`org_rollup_*` and `org_audit_events` security-barrier views. Ranges are half-open
(`start <= event_time < end`, UTC); `*_day` methods take inclusive UTC days. What is counted
is defined in `sql.rollup.measures`.
"""

from sql.read_model.frames import MAX_READ_ROWS, ReadModelError
from sql.read_model.model import ReadModel
from sql.read_model.ranges import check_time_zone
from sql.read_model.resource_details import ResourceDetails
from sql.read_model.user_days import MAX_EMAIL_USERS, MAX_FEATURE_USERS
from sql.rollup.measures import FEATURE_COLUMNS
from sql.rollup.refresh import RefreshStats

__all__ = [
    "FEATURE_COLUMNS",
    "MAX_EMAIL_USERS",
    "MAX_FEATURE_USERS",
    "MAX_READ_ROWS",
    "ReadModel",
    "ReadModelError",
    "RefreshStats",
    "ResourceDetails",
    "check_time_zone",
]
