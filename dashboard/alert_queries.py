"""Read-side queries of the Alerts page: the events behind a dry run's hits and the findings
an alert produced, read fresh (a switch or a detection run shows at once), scoped to one
organisation with bound values."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from dashboard.explore_queries import count_events
from sql.event_filter import EventFilter
from sql.gateway import Database

# A dry run's hits whose events are counted; past this the page shows hits without counts
# (every count is one query).
MAX_COUNTED_HITS = 200
FINDING_COLUMNS = (
    "finding_id",
    "status",
    "severity",
    "score",
    "user_email",
    "user_id",
    "window_start",
    "window_end",
    "title",
    "explanation",
    "created_at",
)
_FINDINGS = """
SELECT f.finding_id, coalesce(t.status, 'new') AS status, f.severity, f.score, f.user_email,
       f.user_id, f.window_start, f.window_end, f.title, f.explanation, f.created_at
  FROM org_findings f
  LEFT JOIN LATERAL (
    SELECT status FROM org_finding_triage t
     WHERE t.finding_id = f.finding_id ORDER BY t.triage_id DESC LIMIT 1
  ) t ON true
 WHERE CAST(:rule AS text) = ANY(f.detectors)
 ORDER BY f.window_start DESC, f.finding_id
 LIMIT :limit
"""


def evidence_counts(db: Database, org: str, queries: Iterable[str]) -> dict[str, int]:
    """Matching events per evidence query, counted as Explore counts them (exactly, or up to
    its cap when the read model cannot answer the query)."""
    return {
        query: count_events(db, org, EventFilter.parse(query))[0]
        for query in dict.fromkeys(queries)
    }


def alert_findings(db: Database, org: str, rule_id: str, *, limit: int = 200) -> pd.DataFrame:
    """The findings naming `rule_id` among their detectors, newest activity first."""
    with db.org_session(org) as session:
        rows = session.execute(_FINDINGS, {"rule": rule_id, "limit": limit}, max_rows=limit).rows
    frame = pd.DataFrame.from_records(rows, columns=list(FINDING_COLUMNS))
    for column in ("window_start", "window_end", "created_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["score"] = frame["score"].astype(float)
    return frame
