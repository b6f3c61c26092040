"""`auditlens detect` end to end over 14 days of the benchmark organisation, against the
features-only step on the same data, measured in the same run.

    export AUDITLENS_DATABASE_URL=postgresql://auditlens@127.0.0.1:55433/postgres
    PYTHONPATH=. .venv/bin/python bench/detect.py --users 6242          # ~10M events
    PYTHONPATH=. .venv/bin/python bench/detect.py --users 624 --load-only

The organisation is `bench/queries.py`'s (the same simulator, 90 days of Q1 2025, every
insider scenario once, oddities on; about 17.8 events per user and day, so 6,242 users make
10M events). It is loaded once into the kept database `bench.queries.kept_database` names on
the server of AUDITLENS_DATABASE_URL (the one `bench/queries.py --keep` uses for the same
simulation) and later runs reuse it.

Each run: the command itself (`python -m cli detect --org ... --from ... --to ...`) in a
child process, so start-up, read-model reads, features, rules, model and the findings write
are all inside the wall time and the child's peak RSS; its stage timings (stderr) are
printed too. Then, in this process, the features-only step (`build_features` over the same
user-days, read once beforehand) and the ratio. Goal: at most 30 s and 2 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.queries import ORG, START, bulk_load, ensure_database, kept_database, simulation
from detection.features import build_features, load_user_days, organisation_sensitivity
from detection.pipeline import HISTORY_DAYS, READ_TIMEOUT_MS
from sql.gateway import Database
from sql.migrate import migrate
from sql.read_model import ReadModel
from sql.settings import DATABASE_URL_ENV, Settings

GOAL_SECONDS = 30.0
GOAL_PEAK_GB = 2.0
DAYS = 90
DETECT_DAYS = 14


def _load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def prepare(url: str, users: int, seed: int) -> Database:
    """The benchmark database, migrated, loaded (once) and rolled up."""
    db = Database(url, Settings(database_url=url, data_dir=Path(tempfile.gettempdir())))
    applied = migrate(db)
    if applied:
        print(f"migrations applied: {', '.join(applied)}")
    with db.admin() as session:
        loaded = session.scalar("SELECT EXISTS (SELECT 1 FROM audit_events)")
    if not loaded:
        print(f"loading {users:,} users x {DAYS} days from {START} ...", flush=True)
        began = time.perf_counter()
        inserted = bulk_load(db, simulation(users, DAYS, seed, START, scenarios=True))
        print(f"load: {inserted:,} events in {time.perf_counter() - began:.0f} s", flush=True)
        with db.admin() as session:
            session.execute("ANALYZE audit_events")
    began = time.perf_counter()
    stats = ReadModel(db).refresh()
    print(f"rollup refresh: {stats.events:,} events in {time.perf_counter() - began:.1f} s")
    with db.admin() as session:
        session.execute("ANALYZE")
        events = session.scalar(
            "SELECT sum(events) FROM rollup_user_days WHERE organization_id = :org", {"org": ORG}
        )
    print(f"organisation {ORG}: {int(events or 0):,} events in the rollups")
    return db


def detect_command(url: str, first: date, last: date) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, the child's peak RSS (GB) and its output for one
    `auditlens detect` (CPU: this machine is shared, so wall time depends on its load)."""
    env = dict(os.environ, **{DATABASE_URL_ENV: url})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    command = [sys.executable, "-m", "cli", "detect", "--org", ORG]
    command += ["--from", first.isoformat(), "--to", last.isoformat()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"detect failed ({done.returncode}):\n{done.stderr}")
    peak = after.ru_maxrss / 1024 / 1024
    return wall, cpu, peak, done.stdout + done.stderr


def features_only(db: Database, first: date, last: date) -> tuple[float, float, int]:
    """Seconds to read the user-days and seconds to build the features, and how many rows."""
    began = time.perf_counter()
    read_model = ReadModel(db, timeout_ms=READ_TIMEOUT_MS)
    user_days = load_user_days(read_model, ORG, first, last, history_days=HISTORY_DAYS)
    read = time.perf_counter() - began
    began = time.perf_counter()
    known = user_days.resources["resource_id"].unique()
    sensitivity = organisation_sensitivity(db, ORG, known)
    features = build_features(user_days, sensitivity=sensitivity)
    return read, time.perf_counter() - began, len(features.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6_242, help="6,242 make ~10M events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load-only", action="store_true", help="load and roll up, no detect")
    parser.add_argument("--repeat", type=int, default=1, help="detect runs (the best is kept)")
    parser.add_argument(
        "--database", help="measure this database (a copy of the kept one) instead of the kept one"
    )
    args = parser.parse_args()
    server = os.environ.get(DATABASE_URL_ENV)
    if not server:
        parser.error(f"set {DATABASE_URL_ENV} to the server that keeps the benchmark database")
    name = args.database or kept_database(args.users, DAYS, args.seed)
    url = ensure_database(server, name).replace("postgresql+psycopg://", "postgresql://", 1)
    print(f"database {name}")
    db = prepare(url, args.users, args.seed)
    try:
        if args.load_only:
            return
        last = START + timedelta(days=DAYS - 1)
        first = last - timedelta(days=DETECT_DAYS - 1)
        print(f"detect {first}..{last} ({DETECT_DAYS} days, {HISTORY_DAYS} days of history)")
        print(f"load average before: {_load_average()} on {os.cpu_count()} cores")
        runs = [detect_command(url, first, last) for _ in range(max(args.repeat, 1))]
        wall, cpu, peak, output = min(runs, key=lambda r: r[0])
        began_cpu = time.process_time()
        read, build, rows = features_only(db, first, last)
        features_cpu = time.process_time() - began_cpu
        print(output.rstrip())
        print(f"end to end: {wall:6.1f} s wall   goal <= {GOAL_SECONDS:.0f} s   "
              f"{'OK' if wall <= GOAL_SECONDS else 'MISSED'}; {cpu:.1f} s CPU in the command"
              " (the database server's not counted)")  # fmt: skip
        print(f"peak RSS:   {peak:6.2f} GB       goal <= {GOAL_PEAK_GB:.0f} GB  "
              f"{'OK' if peak <= GOAL_PEAK_GB else 'MISSED'}")  # fmt: skip
        print(f"features only (same data, this process): read {read:.1f} s + build {build:.1f} s"
              f" over {rows:,} user-days; end to end is {wall / max(build, 1e-9):.1f}x the build"
              f" and {wall / max(read + build, 1e-9):.1f}x read + build; {features_cpu:.1f} s CPU,"
              f" so the command's CPU is {cpu / max(features_cpu, 1e-9):.1f}x it")  # fmt: skip
        print(f"load average after: {_load_average()}")
    finally:
        db.close()


if __name__ == "__main__":
    main()
