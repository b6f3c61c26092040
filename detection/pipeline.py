"""Detection end to end: features -> rules and model -> one ranking -> findings.

`score_window` is pure (frames in, frames out) so tests, the evaluation harness and the
benchmark run it without a database; `run_detection` wires it to the read model, raw-event
slices and the findings store.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from detection.calibration import (
    Calibration,
    Suppression,
    active_users,
    calibrate_hits,
    model_budget,
)
from detection.events import DatabaseEvents, EventSource, records, tuples
from detection.evidence import day_bounds, evidence_query
from detection.explain import explain_model
from detection.features import (
    FeatureSet,
    ReadModelLike,
    Sensitivity,
    UserDays,
    build_features,
    load_user_days,
    organisation_sensitivity,
)
from detection.findings import DetectionRun, Finding, last_detected_day, save_findings
from detection.model import IsolationForestDetector, ModelStore, library_versions, model_matrix
from detection.ranking import FINDING_MIN_SCORE, RankingConfig, combine, severity_for
from detection.rules import (
    KINDS,
    Rule,
    RuleContext,
    RuleError,
    RuleHit,
    evaluate_rule,
    load_rules,
    uncalibrated_rules,
)
from detection.rules.stored import organisation_rules
from detection.settings import benign_suppressions, load_calibration
from detection.stages import Stages
from sql.errors import AuditLensError
from sql.gateway import Database
from sql.read_model import ReadModel

_log = logging.getLogger(__name__)

HISTORY_DAYS = 60  # loaded before the window: 30-day baselines plus dormancy and first-seen
WARMUP_DAYS = 14  # first loaded days only feed baselines; the model does not train on them
# Detection reads a whole organisation's user-days over 74 days in a few statements (millions
# of rows at 6,000 users): more than an interactive read's time limit on a busy server.
READ_TIMEOUT_MS = 600_000


class DetectionError(AuditLensError):
    """Detection cannot run for the window asked."""


@dataclass
class DetectionResult:
    scores: pd.DataFrame  # one row per user-day of the window, ranked
    hits: list[RuleHit]
    findings: list[Finding]
    model: IsolationForestDetector | None
    rule_errors: dict[str, str] = field(default_factory=dict)
    stages: Stages = field(default_factory=Stages)


# What evaluating one rule gave: its hits, or the error that kept it from running.
RuleOutcome = list[RuleHit] | RuleError


def evaluate_rules(
    rules: Sequence[Rule], context: RuleContext, stages: Stages
) -> list[RuleOutcome]:
    """Each rule's outcome in `context`, in the order given, each timed as a stage."""
    outcomes: list[RuleOutcome] = []
    for rule in rules:
        with stages.stage(f"rule {rule.id}"):
            try:
                outcomes.append(evaluate_rule(rule, context))
            except RuleError as exc:
                # One organisation's alert that cannot run (too many matches) must not stop
                # every other rule; the run reports it.
                outcomes.append(exc)
    return outcomes


def score_window(
    features: FeatureSet,
    rules: list[Rule],
    *,
    start_day: date,
    end_day: date,
    events: EventSource,
    sensitivity: Sensitivity,
    hour_profiles: Callable[[Collection[str]], Mapping[str, np.ndarray]] = lambda _users: {},
    org: str = "",
    time_zone: str = "UTC",
    work_hours: tuple[int, int] = (8, 19),
    model: IsolationForestDetector | None = None,
    ranking: RankingConfig | None = None,
    use_rules: bool = True,
    use_model: bool = True,
    stages: Stages | None = None,
    calibration: Calibration | None = None,
    suppressions: Sequence[Suppression] = (),
    calibrate: bool = True,
    rule_outcomes: Callable[[RuleContext], Sequence[RuleOutcome]] | None = None,
) -> DetectionResult:
    """Rules, model and ranking over the days [start_day, end_day] of a feature set,
    calibrated to the organisation (`detection.calibration`; default settings if None;
    `calibrate=False` measures what calibration changes). `rule_outcomes`: the rules'
    outcomes, in their order, given the context built here (default: `evaluate_rules`),
    for a caller that evaluates some of them elsewhere."""
    ranking = ranking or RankingConfig()
    stages = stages or Stages()
    rows = features.rows
    window = rows.loc[(rows["day"] >= start_day) & (rows["day"] <= end_day)].reset_index(drop=True)
    scored = window[["day", "user_id", "user_email"]].copy()
    # The model first: it needs no hit, and rules evaluated elsewhere get the longest to
    # finish (score_days runs the event rules while features are built and the model fitted).
    # Nothing to learn "usual" from in a single user-day (a new organisation's first): rules only.
    modelled = use_model and len(window) > 0 and (model is not None or len(rows) >= 2)
    if modelled:
        if model is None:
            with stages.stage("model fit"):
                model = fit_model(rows)
        with stages.stage("model scoring"):
            matrix = model_matrix(window)
            scored["model_score"] = model.decision_function(matrix)
            scored["model_percentile"] = model.percentile(scored["model_score"].to_numpy())
            scored["peers_unusual"] = peers_unusual(
                scored["model_percentile"], window["day"], window["peer_group"]
            )
    else:
        model = None
        scored["model_score"] = np.nan
        scored["model_percentile"] = 0.0
        scored["peers_unusual"] = 0.0
    hits: list[RuleHit] = []
    rule_errors: dict[str, str] = {}
    if use_rules:
        context = RuleContext(
            org=org,
            features=rows,
            start_day=start_day,
            end_day=end_day,
            events=events,
            sensitivity=sensitivity,
            ips=features.ips,
            resources=features.resources,
            hour_profiles=hour_profiles,
            time_zone=time_zone,
            work_start_hour=work_hours[0],
            work_end_hour=work_hours[1],
        )
        outcomes = (
            evaluate_rules(rules, context, stages)
            if rule_outcomes is None
            else rule_outcomes(context)
        )
        for rule, outcome in zip(rules, outcomes, strict=True):
            if isinstance(outcome, RuleError):
                rule_errors[rule.id] = str(outcome)
            else:
                hits.extend(outcome)
    # Calibration: how surprising each hit is in this organisation, and the model's budget.
    calibration = calibration or Calibration()
    window_days = (end_day - start_day).days + 1
    users = active_users(window)
    budget: int | None = None
    if calibrate:
        with stages.stage("calibration"):
            hits = calibrate_hits(
                hits,
                active_users=users,
                window_days=window_days,
                suppressions=suppressions,
                as_authored=uncalibrated_rules(rules),
            )
            budget = model_budget(users, window_days, calibration)
    with stages.stage("ranking and findings"):
        ranked = combine(scored, hits, ranking, model_budget=budget)
        titles = {r.id: r.title for r in rules}
        findings = build_findings(ranked, window, hits, model, ranking, titles)
    return DetectionResult(
        scores=ranked,
        hits=hits,
        findings=findings,
        model=model,
        rule_errors=rule_errors,
        stages=stages,
    )


def peers_unusual(
    percentile: pd.Series, day: pd.Series, group: pd.Series, *, unusual: float = 0.97
) -> np.ndarray:
    """Share of the user's other peers whose day is also unusual to the model.

    Quarter-end for compliance staff or an incident for the SREs is odd for the whole group
    at once; one person's odd day is not. Groups of fewer than three others count as 0.
    """
    high = (percentile.to_numpy() >= unusual).astype(float)
    frame = pd.DataFrame({"day": day.to_numpy(), "group": group.to_numpy(), "high": high})
    grouped = frame.groupby(["day", "group"], observed=True)["high"]
    total = grouped.transform("sum").to_numpy()
    count = grouped.transform("size").to_numpy()
    others = count - 1
    share = np.divide(total - high, others, out=np.zeros_like(high), where=others > 0)
    return np.where(others >= 3, share, 0.0)


def fit_model(rows: pd.DataFrame, **params: Any) -> IsolationForestDetector:
    """Fit the forest on the loaded days past the warm-up (all days when history is short)."""
    first = rows["day"].min()
    train = rows.loc[rows["day"] >= first + timedelta(days=WARMUP_DAYS)]
    if len(train) < 50:
        train = rows
    return IsolationForestDetector(**params).fit(model_matrix(train))


def build_findings(
    ranked: pd.DataFrame,
    window: pd.DataFrame,
    hits: list[RuleHit],
    model: IsolationForestDetector | None,
    ranking: RankingConfig,
    titles: Mapping[str, str],
) -> list[Finding]:
    """A finding for each user-day whose combined score reaches the threshold."""
    chosen = ranked.loc[ranked["combined"] >= ranking.finding_min_score]
    if chosen.empty:
        return []
    by_user_day: dict[tuple[Any, str], list[RuleHit]] = {}
    for hit in hits:
        by_user_day.setdefault((hit.day, hit.user_id), []).append(hit)
    # The chosen user-days' feature rows, in one merge rather than a lookup per finding.
    chosen_rows = chosen[["day", "user_id"]].merge(window, on=["day", "user_id"], how="inner")
    lookup = {(r["day"], r["user_id"]): r for r in records(chosen_rows)}
    deviations: dict[tuple[Any, str], np.ndarray] = {}
    if model is not None and len(chosen_rows):
        matrix = model.deviations(model_matrix(chosen_rows))
        keys = list(zip(chosen_rows["day"], chosen_rows["user_id"], strict=True))
        deviations = dict(zip(keys, matrix, strict=True))
    findings = []
    for row in tuples(chosen):
        key = (row.day, row.user_id)
        day_hits = sorted(by_user_day.get(key, []), key=lambda h: (-_rank(h.severity), h.rule_id))
        clauses = [h.reason for h in day_hits]
        if model is not None and "model" in row.detectors and key in deviations:
            features_row = lookup[key]
            model_clauses = explain_model(
                features_row, deviations[key], model.feature_names_, already_said="; ".join(clauses)
            )
            clauses += [c for c in model_clauses if c not in clauses]
        if not clauses:
            clauses = [f"unusual day for this user (model percentile {row.model_percentile:.3f})"]
        if day_hits:
            # The evidence the title names: the first (most severe) rule's own window and
            # filter (the wildcard searches, the one export), not the user's whole day.
            start, end = day_hits[0].window_start, day_hits[0].window_end
            query = day_hits[0].evidence_query
        else:
            start, end = day_bounds(row.day)
            query = evidence_query(row.user_id, start, end)
        title = _title(day_hits, titles) if day_hits else "Unusual activity for this user (model)"
        model_score = None if np.isnan(row.model_score) else float(row.model_score)
        findings.append(
            Finding(
                user_id=row.user_id,
                user_email=row.user_email or "",
                day=row.day,
                window_start=start,
                window_end=end,
                score=round(float(row.combined), 4),
                severity=severity_for(float(row.combined)),
                detectors=list(row.detectors),
                title=title,
                explanation="; ".join(clauses),
                evidence_query=query,
                rule_score=float(row.rule_score),
                model_score=model_score,
                model_percentile=float(row.model_percentile) if model is not None else None,
                model_version=model.version if model is not None else None,
            )
        )
    return findings


_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _rank(severity: str) -> int:
    return _SEVERITY_RANK[severity]


def _title(day_hits: list[RuleHit], titles: Mapping[str, str]) -> str:
    first = titles.get(day_hits[0].rule_id, day_hits[0].rule_id)
    others = len({h.rule_id for h in day_hits}) - 1
    return first if others == 0 else f"{first} (+{others} more)"


# ---------------------------------------------------------------- against the database


@dataclass(frozen=True)
class OrgSettings:
    time_zone: str = "UTC"
    work_start_hour: int = 8
    work_end_hour: int = 19


def org_settings(db: Database, org: str) -> OrgSettings:
    with db.org_session(org) as session:
        rows = session.execute(
            "SELECT time_zone, work_start_hour, work_end_hour FROM org_organizations", max_rows=1
        ).rows
    if not rows:
        return OrgSettings()
    tz, start, end = rows[0]
    return OrgSettings(tz or "UTC", int(start), int(end))


def data_days(db: Database, org: str) -> tuple[date, date] | None:
    """The first and last UTC day with events (two index probes, no scan)."""
    with db.org_session(org, may_lag=True) as session:
        first = session.scalar(
            "SELECT event_time FROM org_audit_events WHERE NOT own_use ORDER BY event_time LIMIT 1"
        )
        last = session.scalar(
            "SELECT event_time FROM org_audit_events WHERE NOT own_use"
            " ORDER BY event_time DESC LIMIT 1"
        )
    if first is None or last is None:
        return None
    return first.astimezone(UTC).date(), last.astimezone(UTC).date()


def detection_window(
    db: Database, org: str, start: date | None, end: date | None, *, today: date | None = None
) -> tuple[date, date] | None:
    """The days to detect: explicit, else the complete days after the last run.

    The first run starts after a warm-up of the data's first days (baselines need history).
    Returns None when there is nothing new to detect.
    """
    span = data_days(db, org)
    if span is None:
        return None
    first_day, last_day = span
    today = today or datetime.now(UTC).date()
    if end is None:
        # Today is still being written: leave it for the next run, unless the data ends earlier.
        end = min(last_day, today - timedelta(days=1)) if last_day >= today else last_day
    if start is None:
        previous = last_detected_day(db, org)
        start = (
            previous + timedelta(days=1)
            if previous is not None
            else max(first_day + timedelta(days=WARMUP_DAYS), end - timedelta(days=29))
        )
    if start > end:
        return None
    return start, end


def hour_profiles(
    read_model: Any, org: str, start_day: date, end_day: date
) -> Callable[[Collection[str]], Mapping[str, np.ndarray]]:
    """Share of each user's activity per UTC hour over the history, for the users a rule asks
    about (those it has events of): one read per ask, of only the users not read before."""
    profiles: dict[str, np.ndarray] = {}
    read: set[str] = set()

    def lookup(user_ids: Collection[str]) -> Mapping[str, np.ndarray]:
        wanted = {str(u) for u in user_ids}
        missing = wanted - read
        if missing:
            start, _ = day_bounds(start_day)
            _, end = day_bounds(end_day)
            hours = read_model.user_hours(org, start, end, user_ids=sorted(missing))
            profiles.update(_hour_shares(hours))
            read.update(missing)
        return {u: profiles[u] for u in wanted if u in profiles}

    return lookup


def _hour_shares(hours: pd.DataFrame) -> dict[str, np.ndarray]:
    """user_id -> its 24 hourly shares, from `user_hours` rows (users with no events left out)."""
    if hours.empty:
        return {}
    codes, users = pd.factorize(hours["user_id"])
    counts = np.zeros((len(users), 24))
    np.add.at(counts, (codes, hours["hour"].to_numpy(dtype=int)), hours["events"].to_numpy(float))
    totals = counts.sum(axis=1)
    return {str(u): counts[i] / totals[i] for i, u in enumerate(users) if totals[i] > 0}


def score_days(
    db: Database,
    org: str,
    start_day: date,
    end_day: date,
    rules: list[Rule],
    *,
    read_model: ReadModelLike,
    peer_groups: Mapping[str, str] | None = None,
    ranking: RankingConfig | None = None,
    stages: Stages | None = None,
    use_model: bool = True,
) -> tuple[DetectionResult, UserDays] | None:
    """`score_window` over the days [start_day, end_day] of `org` as stored, with the
    organisation's sensitivity, hours, calibration and benign verdicts; nothing is saved.
    What `run_detection` scores and an alert's dry run replays. None without user-days."""
    stages = stages or Stages()
    with stages.stage("read user-days"):
        user_days = load_user_days(
            read_model,
            org,
            start_day,
            end_day,
            history_days=HISTORY_DAYS,
            sensitivity_of=lambda known: organisation_sensitivity(db, org, known),
        )
    if user_days.features.empty:
        return None
    sensitivity = user_days.sensitivity or organisation_sensitivity(db, org, ())
    settings = org_settings(db, org)
    calibration = load_calibration(db, org)
    events = DatabaseEvents(db, org, timeout_ms=READ_TIMEOUT_MS)
    profiles = hour_profiles(read_model, org, user_days.start_day, start_day - timedelta(days=1))
    # Rules over raw events need no feature: they run (mostly waiting on the database) while
    # this thread builds the features and fits the model.
    early = [rule for rule in rules if KINDS[rule.kind].reads_events]
    early_context = RuleContext(
        org=org,
        features=pd.DataFrame(),  # not theirs to read
        start_day=start_day,
        end_day=end_day,
        events=events,
        sensitivity=sensitivity,
        ips=user_days.ips,
        resources=user_days.resources,
        hour_profiles=profiles,
        time_zone=settings.time_zone,
        work_start_hour=settings.work_start_hour,
        work_end_hour=settings.work_end_hour,
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditlens-rules") as pool:
        early_outcomes = pool.submit(evaluate_rules, early, early_context, stages)

        def outcomes(context: RuleContext) -> list[RuleOutcome]:
            late = [rule for rule in rules if not KINDS[rule.kind].reads_events]
            late_done = iter(evaluate_rules(late, context, stages))
            with stages.stage("waiting for the event rules"):
                early_done = iter(early_outcomes.result())
            return [
                next(early_done) if KINDS[rule.kind].reads_events else next(late_done)
                for rule in rules
            ]

        with stages.stage("features"):
            features = build_features(user_days, peer_groups=peer_groups, sensitivity=sensitivity)
        result = score_window(
            features,
            rules,
            start_day=start_day,
            end_day=end_day,
            events=events,
            sensitivity=sensitivity,
            hour_profiles=profiles,
            org=org,
            time_zone=settings.time_zone,
            work_hours=(settings.work_start_hour, settings.work_end_hour),
            ranking=ranking,
            stages=stages,
            calibration=calibration,
            suppressions=benign_suppressions(db, org, calibration.benign_suppression_days),
            use_model=use_model,
            rule_outcomes=outcomes,
        )
    return result, user_days


def run_detection(
    db: Database,
    org: str,
    *,
    start: date | None = None,
    end: date | None = None,
    read_model: ReadModelLike | None = None,
    rules: list[Rule] | None = None,
    peer_groups: Mapping[str, str] | None = None,
    store: ModelStore | None = None,
    actor: str | None = None,
    ranking: RankingConfig | None = None,
    stages: Stages | None = None,
    today: date | None = None,
    partial_min_severity: str = "high",
) -> tuple[DetectionResult | None, tuple[date, date] | None, int]:
    """Detect over a window (default: new complete days), store the findings.

    Today (UTC) is still being written: a finding on it is stored only at
    `partial_min_severity` or above (one finding per user-day, so a weak early one would
    stand in for the day's final one), and the run does not count today as done.
    Returns the result, the window, and how many findings were new.
    """
    if read_model is None:
        read_model = ReadModel(db, may_lag=True, timeout_ms=READ_TIMEOUT_MS)
    stages = stages or Stages()
    today = today or datetime.now(UTC).date()
    with stages.stage("window"):
        window = detection_window(db, org, start, end, today=today)
    if window is None:
        return None, None, 0
    start_day, end_day = window
    if rules is None:
        # The shipped rule files and the organisation's own alerts (saved searches), one engine.
        rules = [*load_rules(), *organisation_rules(db, org)]
    scored = score_days(
        db,
        org,
        start_day,
        end_day,
        rules,
        read_model=read_model,
        peer_groups=peer_groups,
        ranking=ranking,
        stages=stages,
    )
    if scored is None:
        return None, window, 0
    result, user_days = scored
    for rule_id, error in result.rule_errors.items():
        _log.warning("detection of %s: rule %s did not run: %s", org, rule_id, error)
    model = result.model
    if store is not None and model is not None:
        store.save(
            org, model, trained_on={"start_day": str(user_days.start_day), "end_day": str(end_day)}
        )
    run = DetectionRun(
        start_day=start_day,
        end_day=end_day,
        actor=actor or f"cli:{getpass.getuser()}",
        rules=[r.id for r in rules],
        model_version=model.version if model else None,
        model_params=model.get_params() if model else {},
        libraries=library_versions(),
        user_days=int((result.scores["model_score"].notna()).sum()),
        partial=end_day >= today,
    )
    floor = _rank(partial_min_severity)
    result.findings = [f for f in result.findings if f.day < today or _rank(f.severity) >= floor]
    with stages.stage("save findings"):
        _, inserted = save_findings(db, org, run, result.findings)
    return result, window, inserted


__all__ = [
    "FINDING_MIN_SCORE",
    "DetectionError",
    "DetectionResult",
    "detection_window",
    "fit_model",
    "run_detection",
    "score_window",
]
