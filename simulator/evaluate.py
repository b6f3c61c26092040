"""The evaluation harness: simulate, ingest, detect, and compare with the simulator's labels.

Also reads the simulator's roster (roles and departments are the peer groups).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from detection.events import DatabaseEvents
from detection.features import (
    ReadModelLike,
    Sensitivity,
    build_features,
    load_user_days,
    organisation_sensitivity,
)
from detection.metrics import evaluate_scores, instances
from detection.pipeline import DetectionResult, data_days, hour_profiles, org_settings, score_window
from detection.ranking import RankingConfig
from detection.rules import load_rules
from simulator.engine import Simulation, SimulationConfig
from simulator.scenarios import REQUEST_SCENARIOS
from simulator.writer import write_database
from sql.errors import ConfigurationError
from sql.gateway import Database
from sql.read_model import ReadModel


def read_roster(path: Path) -> dict[str, str]:
    """user_id -> peer group (role, else department) from JSON, JSONL or CSV."""
    text = path.read_text(encoding="utf-8")
    entries: list[dict[str, Any]]
    try:
        if path.suffix.lower() == ".csv":
            entries = list(csv.DictReader(text.splitlines()))
        elif path.suffix.lower() in (".jsonl", ".ndjson"):
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("roster", data.get("users", data))
            entries = list(data.values()) if isinstance(data, dict) else list(data)
    except (ValueError, csv.Error) as exc:
        raise ConfigurationError(f"{path}: not a roster file: {exc}") from exc
    roster: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("user_id"):
            raise ConfigurationError(f"{path}: entry {number} has no user_id")
        group = entry.get("role") or entry.get("department")
        if group:
            roster[str(entry["user_id"])] = str(group)
    return roster


EVAL_WARMUP_DAYS = 10  # days of simulated history before the first evaluated day


@dataclass
class Evaluation:
    """Quality of rules, model and both on one labelled organisation."""

    per_scenario: pd.DataFrame  # scenario x variant: recall@topk, recall_flagged, recall@5%fpr
    overall: pd.DataFrame  # variant: auc, recall@5%fpr, benign_flagged, negatives_flagged
    result: DetectionResult
    window: tuple[date, date]
    user_days: int
    seconds: float

    def table(self, k: int = 5) -> pd.DataFrame:
        """Per scenario, one column per variant: recall among the top k users of its days."""
        wide = self.per_scenario.pivot(index="scenario", columns="variant", values=f"recall@top{k}")
        wide["instances"] = self.per_scenario.groupby("scenario")["instances"].first()
        return wide[["instances", "rules", "model", "combined"]]


def label_days(db: Database, org: str, labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each label with `days`: the UTC days of its own events (looked up by id, indexed)."""
    ids = sorted({i for label in labels for i in label.get("event_ids", [])})
    when: dict[str, date] = {}
    with db.org_session(org) as session:
        for chunk in range(0, len(ids), 5_000):
            rows = session.execute(
                "SELECT id, (event_time AT TIME ZONE 'UTC')::date FROM org_audit_events"
                " WHERE id = ANY(:ids)",
                {"ids": ids[chunk : chunk + 5_000]},
                max_rows=10_000,
            ).rows
            when.update({r[0]: r[1] for r in rows})
    out = []
    for label in labels:
        days = sorted({when[i] for i in label.get("event_ids", []) if i in when})
        if days:
            out.append({**label, "days": days})
    return out


def evaluate_database(
    db: Database,
    org: str,
    labels: dict[str, Any],
    *,
    k: int = 5,
    read_model: ReadModelLike | None = None,
    ranking: RankingConfig | None = None,
    sensitivity: Sensitivity | None = None,
    calibrate: bool = True,
) -> Evaluation:
    """Detect over a labelled organisation already in the database and measure quality.

    `sensitivity` is what the organisation declares sensitive (default: the simulator's
    default organisation's restricted sources)."""
    started = time.perf_counter()
    if read_model is None:
        read_model = ReadModel(db)
    span = data_days(db, org)
    if span is None:
        raise ConfigurationError(f"organisation {org} has no events to evaluate")
    start, end = span[0] + timedelta(days=EVAL_WARMUP_DAYS), span[1]
    roster = {
        str(r["user_id"]): str(r.get("role") or r.get("department")) for r in labels["roster"]
    }
    user_days = load_user_days(read_model, org, start, end, history_days=EVAL_WARMUP_DAYS + 50)
    sensitivity = sensitivity or organisation_sensitivity(
        db, org, user_days.resources["resource_id"].unique()
    )
    features = build_features(user_days, peer_groups=roster, sensitivity=sensitivity)
    settings = org_settings(db, org)
    result = score_window(
        features,
        load_rules(),
        start_day=start,
        end_day=end,
        events=DatabaseEvents(db, org),
        sensitivity=sensitivity,
        # The whole simulated span: habits (on-call nights included) need more than 10 days.
        hour_profiles=hour_profiles(read_model, org, user_days.start_day, end),
        org=org,
        time_zone=settings.time_zone,
        work_hours=(settings.work_start_hour, settings.work_end_hour),
        ranking=ranking,
        calibrate=calibrate,
    )
    scenarios = instances(label_days(db, org, labels.get("scenarios", [])))
    benign = instances(labels.get("benign", []), kind_key="kind")
    per_scenario, overall = evaluate_scores(
        result.scores,
        scenarios,
        benign,
        k=k,
        finding_min_score=(ranking or RankingConfig()).finding_min_score,
    )
    return Evaluation(
        per_scenario=per_scenario,
        overall=overall,
        result=result,
        window=(start, end),
        user_days=len(result.scores),
        seconds=time.perf_counter() - started,
    )


def simulate_and_evaluate(
    db: Database,
    *,
    org: str = "org_eval",
    users: int = 60,
    days: int = 60,
    seed: int = 7,
    scenarios: dict[str, int] | None = None,
    labels_path: Path,
    k: int = 5,
) -> Evaluation:
    """Simulate a labelled organisation into the database (once), detect and evaluate."""
    if not labels_path.is_file() or data_days(db, org) is None:
        config = SimulationConfig(org, users=users, days=days, seed=seed, scenarios=scenarios)
        write_database(Simulation(config), db, labels_path)
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    return evaluate_database(db, org, labels, k=k)


__all__ = [
    "EVAL_WARMUP_DAYS",
    "REQUEST_SCENARIOS",
    "Evaluation",
    "evaluate_database",
    "label_days",
    "read_roster",
    "simulate_and_evaluate",
]
