"""The demo organisation `auditlens run` seeds into an empty database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from simulator.engine import Simulation, SimulationConfig
from simulator.writer import ProgressFn, SimulationOutcome, write_database
from sql.gateway import Database

DEMO_ORG = "org_demo"
# Sized to seed in well under a minute on a small machine (see README, "Simulation").
DEMO_USERS = 60
DEMO_DAYS = 60
DEMO_SEED = 2024


def database_is_empty(db: Database) -> bool:
    """True when no organisation has any event yet."""
    with db.admin() as session:
        return not session.scalar("SELECT EXISTS (SELECT 1 FROM audit_events)")


def seed_demo(
    db: Database,
    *,
    org: str = DEMO_ORG,
    users: int = DEMO_USERS,
    days: int = DEMO_DAYS,
    today: date | None = None,
    labels_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> SimulationOutcome | None:
    """Simulate the demo organisation (every scenario once, ending yesterday) into an empty
    database; returns None and changes nothing when the database already has events. The
    labels go to `labels_dir` (default: the data directory) as `ORG.labels.json`."""
    if not database_is_empty(db):
        return None
    today = today or datetime.now(UTC).date()
    config = SimulationConfig(
        org, users=users, days=days, seed=DEMO_SEED, start=today - timedelta(days=days)
    )
    folder = labels_dir or db.settings.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    return write_database(Simulation(config), db, folder / f"{org}.labels.json", progress=progress)
