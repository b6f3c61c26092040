"""Detection quality in one simulated world, measured as an analyst meets it: which planted
scenarios reach high or critical, how many ordinary people get a high or critical finding,
and who tops the ranking. See `simulator.worlds` for the worlds."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from detection.metrics import instances
from detection.pipeline import data_days
from simulator.engine import Simulation
from simulator.evaluate import Evaluation, evaluate_database, label_days
from simulator.scenarios import REQUEST_SCENARIOS
from simulator.worlds import World
from simulator.writer import write_database
from sql.errors import ConfigurationError
from sql.gateway import Database

ALERTING = ("high", "critical")
TOP_USERS = 8


@dataclass
class WorldReport:
    """One world's quality figures (see `table` and `summary`)."""

    world: str
    org: str
    users: int
    planted_users: int
    recall: pd.DataFrame  # scenario, instances, found (at high or critical), recall
    ordinary_alerted: int  # ordinary users with a high or critical finding in the window
    ordinary_users: int
    planted_in_top: int  # planted users among the TOP_USERS highest-scored users
    noise: pd.DataFrame  # detector, ordinary users it gave a high or critical finding
    evaluation: Evaluation
    seconds: float

    @property
    def ordinary_alerted_share(self) -> float:
        return self.ordinary_alerted / self.ordinary_users if self.ordinary_users else 0.0

    def summary(self) -> str:
        start, end = self.evaluation.window
        return (
            f"{self.world} ({self.org}): {self.users} users, {self.planted_users} planted,"
            f" {start}..{end}; ordinary users with a high/critical finding:"
            f" {self.ordinary_alerted}/{self.ordinary_users} ({self.ordinary_alerted_share:.1%});"
            f" planted users in the top {TOP_USERS}: {self.planted_in_top}"
        )


def measure(
    scores: pd.DataFrame,
    findings: list[Any],
    roster: list[str],
    scenarios: list[dict[str, Any]],
) -> tuple[pd.DataFrame, int, int, int]:
    """(recall per scenario at high/critical, ordinary alerted, ordinary users, planted in
    the top users) from a detection result and the labels (scenarios with `days`)."""
    alerting = {(f.user_id, f.day) for f in findings if f.severity in ALERTING}
    rows = []
    found_instances = instances(scenarios)
    for name in sorted({i.scenario for i in found_instances}):
        group = [i for i in found_instances if i.scenario == name]
        found = sum(any((i.user_id, d) in alerting for d in i.days) for i in group)
        rows.append(
            {
                "scenario": name,
                "request": name in REQUEST_SCENARIOS,
                "instances": len(group),
                "found": found,
                "recall": found / len(group),
            }
        )
    recall = pd.DataFrame(rows, columns=["scenario", "request", "instances", "found", "recall"])
    planted = {s["user_id"] for s in scenarios}
    ordinary = [u for u in roster if u not in planted]
    alerted_users = {user for user, _ in alerting}
    ordinary_alerted = sum(1 for u in ordinary if u in alerted_users)
    if scores.empty:
        top: list[str] = []
    else:
        best = scores.groupby("user_id")["combined"].max().sort_values(ascending=False)
        top = list(best.index[:TOP_USERS])
    return recall, ordinary_alerted, len(ordinary), sum(1 for u in top if u in planted)


def noise(findings: list[Any], planted: set[str]) -> pd.DataFrame:
    """Per detector, how many ordinary users it gave a high or critical finding."""
    users: dict[str, set[str]] = {}
    for f in findings:
        if f.severity in ALERTING and f.user_id not in planted:
            for detector in f.detectors or ["(none)"]:
                users.setdefault(detector, set()).add(f.user_id)
    rows = sorted(((d, len(u)) for d, u in users.items()), key=lambda r: (-r[1], r[0]))
    return pd.DataFrame(rows, columns=["detector", "ordinary_users"])


def evaluate_world(
    db: Database,
    world: World,
    *,
    labels_dir: Path,
    users: int | None = None,
    calibrate: bool = True,
) -> WorldReport:
    """Simulate the world into the database (once per labels file), detect, and measure."""
    started = time.perf_counter()
    config = world.config(users=users)
    org = config.organization_id
    labels_path = labels_dir / f"{org}-{config.users}x{config.days}-seed{config.seed}.labels.json"
    has_data = data_days(db, org) is not None
    if has_data and not labels_path.is_file():
        raise ConfigurationError(
            f"organisation {org} already has events that are not this world's"
            f" ({labels_path.name} is missing); evaluate in a fresh database"
        )
    if not has_data:
        write_database(Simulation(config), db, labels_path)
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    # Sensitivity comes from the catalogue the simulation described, as for any organisation.
    evaluation = evaluate_database(db, config.organization_id, labels, calibrate=calibrate)
    result = evaluation.result
    scenarios = label_days(db, config.organization_id, labels.get("scenarios", []))
    roster = [str(r["user_id"]) for r in labels["roster"]]
    recall, alerted, ordinary, top = measure(result.scores, result.findings, roster, scenarios)
    planted = {s["user_id"] for s in scenarios}
    return WorldReport(
        world=world.name,
        org=config.organization_id,
        users=config.users,
        planted_users=len(planted),
        recall=recall,
        ordinary_alerted=alerted,
        ordinary_users=ordinary,
        planted_in_top=top,
        noise=noise(result.findings, planted),
        evaluation=evaluation,
        seconds=time.perf_counter() - started,
    )
