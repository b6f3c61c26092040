"""Findings: what detection tells an analyst, stored append-only per organisation.

The shared contract: `list_findings`, `get_finding`, `triage`. A finding never changes; its
status is its newest `finding_triage` row ('new' when it has none), and every triage is
itself written as an audit event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from sql.errors import AuditLensError
from sql.event_store import new_event_id, record_event
from sql.finding_windows import overlap_clauses
from sql.gateway import Database, check_org_id
from sql.vocabulary import TRIAGE_FINDING

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("new", "investigating", "benign", "confirmed")
LIST_COLUMNS = [
    "finding_id",
    "created_at",
    "user_id",
    "user_email",
    "window_start",
    "window_end",
    "score",
    "severity",
    "detectors",
    "title",
    "explanation",
    "evidence_query",
    "status",
    "status_comment",
]


class FindingError(AuditLensError):
    """A finding request that cannot be served (unknown id, bad status or severity)."""


@dataclass(frozen=True)
class Finding:
    """One user and time range worth an analyst's look, with why and how to see the evidence."""

    user_id: str
    user_email: str
    day: date
    window_start: datetime
    window_end: datetime
    score: float
    severity: str
    detectors: list[str]
    title: str
    explanation: str
    evidence_query: str
    rule_score: float = 0.0
    model_score: float | None = None
    model_percentile: float | None = None
    model_version: str | None = None
    finding_id: str = field(default_factory=new_event_id)

    def __str__(self) -> str:
        # Parseable: severity, score, user, day, detectors, then the explanation.
        return (
            f"[{self.severity}] {self.score:.2f} {self.user_id} {self.day.isoformat()} "
            f"{','.join(self.detectors)}: {self.explanation}"
        )


@dataclass(frozen=True)
class DetectionRun:
    """What one `detect` run covered and which model and rules scored it."""

    start_day: date
    end_day: date
    actor: str
    rules: list[str]
    model_version: str | None
    model_params: dict[str, Any]
    libraries: dict[str, str]
    user_days: int
    # The last day was still being written: it is re-scored later, and the next run over
    # whole days still includes it.
    partial: bool = False


# Every finding of a run in one statement (arrays, one element per finding, in order), so a
# run's findings cost one round trip however many there are.
_FINDING_ARRAYS = {
    "finding_id": "text",
    "user_id": "text",
    "user_email": "text",
    "day": "date",
    "window_start": "timestamptz",
    "window_end": "timestamptz",
    "score": "float8",
    "severity": "text",
    "detectors": "jsonb",  # a list each: as JSON, since SQL arrays cannot be ragged
    "title": "text",
    "explanation": "text",
    "evidence_query": "text",
    "rule_score": "float8",
    "model_score": "float8",
    "model_percentile": "float8",
    "model_version": "text",
}
_INSERT_FINDINGS = f"""
WITH added AS (
  INSERT INTO findings (organization_id, run_id, {", ".join(_FINDING_ARRAYS)})
  SELECT :org, :run_id, {
    ", ".join(
        "ARRAY(SELECT jsonb_array_elements_text(f.detectors))" if c == "detectors" else f"f.{c}"
        for c in _FINDING_ARRAYS
    )
}
    FROM unnest({", ".join(f"CAST(:{c} AS {t}[])" for c, t in _FINDING_ARRAYS.items())})
         WITH ORDINALITY AS f({", ".join(_FINDING_ARRAYS)}, n)
   ORDER BY f.n
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*) FROM added
"""  # noqa: S608


def save_findings(
    db: Database, org: str, run: DetectionRun, findings: Sequence[Finding]
) -> tuple[int, int]:
    """Record the run and append its findings; returns (run_id, findings inserted).

    A user-day that already has a finding keeps it (re-running a window adds nothing).
    """
    check_org_id(org)
    with db.writer() as session:
        run_id = session.scalar(
            "INSERT INTO detection_runs (organization_id, start_day, end_day, actor, rules,"
            " model_version, model_params, libraries, user_days, findings)"
            " VALUES (:org, :start, :end, :actor, :rules, :version, CAST(:params AS jsonb),"
            " CAST(:libs AS jsonb), :user_days, :n) RETURNING run_id",
            {
                "org": org,
                "start": run.start_day,
                "end": run.end_day,
                "actor": run.actor,
                "rules": list(run.rules),
                "version": run.model_version,
                "params": json.dumps(run.model_params),
                "libs": json.dumps(run.libraries),
                "user_days": run.user_days,
                "n": len(findings),
            },
        )
        rows = [asdict(finding) for finding in findings]
        arrays: dict[str, Any] = {c: [row[c] for row in rows] for c in _FINDING_ARRAYS}
        arrays["detectors"] = [json.dumps(list(d)) for d in arrays["detectors"]]
        inserted = session.scalar(_INSERT_FINDINGS, {"org": org, "run_id": run_id, **arrays})
        session.execute(
            _RECORD_SCHEDULE,
            {
                "org": org,
                "complete": None if run.partial else run.end_day,
                "current": run.end_day if run.partial else None,
                "run": run_id,
            },
        )
    return int(run_id), int(inserted)


# Only forward: a run over older days (an explicit window) never moves complete_through back.
_RECORD_SCHEDULE = """
INSERT INTO detection_schedule AS s (organization_id, complete_through, current_day,
  current_scored_at, last_run_id)
VALUES (:org, :complete, :current, CASE WHEN CAST(:current AS date) IS NULL THEN NULL
  ELSE now() END, :run)
ON CONFLICT (organization_id) DO UPDATE SET
  complete_through = greatest(s.complete_through, EXCLUDED.complete_through),
  current_day = coalesce(EXCLUDED.current_day, s.current_day),
  current_scored_at = coalesce(EXCLUDED.current_scored_at, s.current_scored_at),
  last_run_id = EXCLUDED.last_run_id
"""


# One filter for the page and its count, so "showing N of M" counts what the page shows.
# Fixed text: overlap_clauses adds only parameter names, and every value is bound.
_WINDOW = overlap_clauses("since", "until")
_FILTERED = f"""
  FROM org_findings f
  LEFT JOIN LATERAL (
    SELECT status, comment FROM org_finding_triage t
     WHERE t.finding_id = f.finding_id ORDER BY t.triage_id DESC LIMIT 1
  ) t ON true
 WHERE {_WINDOW}
   AND (CAST(:status AS text) IS NULL OR coalesce(t.status, 'new') = CAST(:status AS text))
   AND f.severity = ANY(CAST(:severities AS text[]))
"""  # noqa: S608
_LIST = (
    """
SELECT f.finding_id, f.created_at, f.user_id, f.user_email, f.window_start, f.window_end,
       f.score, f.severity, f.detectors, f.title, f.explanation, f.evidence_query,
       coalesce(t.status, 'new') AS status, coalesce(t.comment, '') AS status_comment"""
    + _FILTERED
    + """ ORDER BY f.score DESC, f.window_start DESC, f.finding_id
 LIMIT :limit
"""
)
_COUNT = "SELECT count(*)" + _FILTERED


def _filter_params(
    since: datetime | date | None,
    until: datetime | date | None,
    status: str | None,
    min_severity: str | None,
) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise FindingError(f"status must be one of {', '.join(STATUSES)}, got: {status!r}")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise FindingError(
            f"min_severity must be one of {', '.join(SEVERITIES)}, got: {min_severity!r}"
        )
    floor = SEVERITIES.index(min_severity) if min_severity else 0
    return {
        "since": since,
        "until": until,
        "status": status,
        "severities": list(SEVERITIES[floor:]),
    }


def list_findings(
    db: Database,
    org: str,
    *,
    since: datetime | date | None = None,
    until: datetime | None = None,
    status: str | None = None,
    min_severity: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Findings of one organisation, highest score first, with their current status.

    `since` and `until` keep the findings whose activity window overlaps [since, until).
    """
    params = _filter_params(since, until, status, min_severity)
    if not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise FindingError(f"limit must be between 1 and 100000, got: {limit!r}")
    with db.org_session(org) as session:
        result = session.execute(_LIST, {**params, "limit": limit}, max_rows=limit)
    frame = pd.DataFrame.from_records(result.rows, columns=LIST_COLUMNS)
    for column in ("created_at", "window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["score"] = frame["score"].astype(float)
    frame["detectors"] = [list(d) for d in frame["detectors"]]
    return frame


def count_findings(
    db: Database,
    org: str,
    *,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    status: str | None = None,
    min_severity: str | None = None,
) -> int:
    """How many findings `list_findings` would return with no limit."""
    params = _filter_params(since, until, status, min_severity)
    with db.org_session(org) as session:
        return int(session.scalar(_COUNT, params))


def get_finding(db: Database, org: str, finding_id: str) -> dict[str, Any] | None:
    """One finding with every stored field and its triage history (oldest first), or None."""
    with db.org_session(org) as session:
        found = session.execute(
            "SELECT * FROM org_findings WHERE finding_id = :id", {"id": finding_id}, max_rows=1
        ).dicts()
        if not found:
            return None
        history = session.execute(
            "SELECT status, comment, actor, created_at FROM org_finding_triage"
            " WHERE finding_id = :id ORDER BY triage_id",
            {"id": finding_id},
            max_rows=10_000,
        ).dicts()
        run = session.execute(
            "SELECT model_params, libraries, rules FROM org_detection_runs WHERE run_id = :run",
            {"run": found[0]["run_id"]},
            max_rows=1,
        ).dicts()
    finding = found[0]
    finding["detectors"] = list(finding["detectors"])
    finding["triage"] = history
    finding["status"] = history[-1]["status"] if history else "new"
    finding["status_comment"] = history[-1]["comment"] if history else ""
    finding["run"] = run[0] if run else {}
    return finding


def triage(
    db: Database, org: str, finding_id: str, status: str, comment: str, actor: str
) -> dict[str, Any]:
    """Record a new status for a finding (a new row) and audit it; returns the triage row."""
    if status not in STATUSES:
        raise FindingError(f"status must be one of {', '.join(STATUSES)}, got: {status!r}")
    if not isinstance(comment, str) or len(comment) > 4000:
        raise FindingError("comment must be text of at most 4000 characters")
    if not actor or not isinstance(actor, str):
        raise FindingError("actor is required: who triaged the finding")
    current = get_finding(db, org, finding_id)
    if current is None:
        raise FindingError(f"no finding {finding_id!r} in organisation {org}")
    with db.writer() as session:
        session.execute(
            "INSERT INTO finding_triage (organization_id, finding_id, status, comment, actor)"
            " VALUES (:org, :id, :status, :comment, :actor)",
            {"org": org, "id": finding_id, "status": status, "comment": comment, "actor": actor},
        )
        record_event(
            session,
            organization_id=org,
            action=TRIAGE_FINDING,
            user_id=actor,
            # Who triaged, as every other event names its user (the dashboard passes an email).
            user_email=actor if "@" in actor else None,
            resource_type="finding",
            resource_id=finding_id,
            details={
                "status": {"old": current["status"], "new": status},
                "comment": comment,
                "finding_user": current["user_id"],
            },
        )
    return {"finding_id": finding_id, "status": status, "comment": comment, "actor": actor}


def last_detected_day(db: Database, org: str) -> date | None:
    """The last whole day an earlier `detect` run covered (incremental runs start after it)."""
    with db.org_session(org) as session:
        value = session.scalar("SELECT max(complete_through) FROM org_detection_schedule")
    return value


@dataclass(frozen=True)
class ScheduleState:
    """Where scheduled detection left off for an organisation: the whole days scored and the
    day still being written (when it last ran is `detection_coverage`'s, from the runs)."""

    complete_through: date | None
    current_day: date | None
    current_scored_at: datetime | None


def schedule_state(db: Database, org: str) -> ScheduleState | None:
    """The organisation's detection bookkeeping, or None before its first run."""
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT complete_through, current_day, current_scored_at FROM org_detection_schedule",
            max_rows=1,
        ).rows
    return ScheduleState(*rows[0]) if rows else None


NOT_RUN_YET = "Detection has not run yet: `auditlens detect` scores the days so far."


@dataclass(frozen=True)
class DetectionCoverage:
    """Which UTC days detection has scored for an organisation, and when it last ran: read
    from the append-only runs, the one record of either (the Anomalies page and `auditlens
    findings` both say it with `sentence`)."""

    first_day: date
    last_day: date
    last_run_at: datetime
    runs: int

    def sentence(self, last_ran: str) -> str:
        """What the two faces print; `last_ran` is `last_run_at` in the reader's words."""
        runs = f"{self.runs:,} run" + ("" if self.runs == 1 else "s")
        return (
            f"Detection covered the UTC days {self.first_day} to {self.last_day}; "
            f"it last ran {last_ran} ({runs} so far)."
        )


def detection_coverage(db: Database, org: str) -> DetectionCoverage | None:
    """The days every `detect` run of `org` covered together, and the newest run; None before
    the first run."""
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT min(start_day), max(end_day), max(started_at), count(*)"
            " FROM org_detection_runs",
            {},
            max_rows=1,
        ).rows
    first, last, ran, runs = rows[0]
    if not runs:
        return None
    return DetectionCoverage(first_day=first, last_day=last, last_run_at=ran, runs=int(runs))
