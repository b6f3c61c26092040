"""Detection features and scoring for 5,000 users x 60 days (300,000 user-days).

    python bench/detection.py                      # 5,000 users x 60 days
    python bench/detection.py --users 1000 --days 30

Goal: features (own and peer baselines, first-seen counts, trailing sums) plus scoring (the
feature-level rules, fitting the IsolationForest and scoring every user-day, the combined
ranking and the findings' explanations) in at most 30 s and 2 GB peak memory on this machine.

Input: user-day rollups shaped like `ReadModel.user_day_features`, `user_day_resources` and
`user_day_ips`, generated here and handed to detection as the read model's first-day reads
would (the read model's own speed is `bench/queries.py`'s business). Baseline, measured in
the same run: the own 30-day baselines computed the straightforward way (pandas groupby +
rolling median, on a sample of users, scaled up), to show what the dense-grid version saves.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detection.events import FrameEvents
from detection.features import (
    BASELINE_COLUMNS,
    ROLLUP_COLUMNS,
    UserDays,
    build_features,
    catalogue_sensitivity,
)
from detection.pipeline import score_window
from detection.rules import load_rules

GOAL_SECONDS = 30.0
GOAL_PEAK_GB = 2.0
ROLES = ("sre", "developer", "support", "security", "compliance", "admin", "contractor")
SOURCE_NAMES = "app_logs staging_logs production_api infra_logs auth_logs billing_events"
SOURCES = [f"source_{n}" for n in (*SOURCE_NAMES.split(), "payment_logs", "customer_data")]


def rollups(users: int, days: int, seed: int = 1) -> tuple[UserDays, dict[str, str]]:
    """User-day rollups of a synthetic organisation: every user active every day."""
    rng = np.random.default_rng(seed)
    start = date(2025, 1, 1)
    n = users * days
    user_ids = np.array([f"user_{i:05d}" for i in range(users)])
    day_list = np.array([start + timedelta(days=d) for d in range(days)], dtype=object)
    user_col = np.repeat(user_ids, days)
    day_col = np.tile(day_list, users)
    scale = rng.gamma(2.0, 10.0, size=users).repeat(days)
    events = rng.poisson(scale) + 1
    frame = pd.DataFrame({"day": day_col, "user_id": user_col})
    frame["user_email"] = frame["user_id"] + "@company.com"
    frame["events"] = events
    frame["log_access"] = (events * 0.8).astype(int)
    frame["searches"] = (events * 0.45).astype(int)
    frame["views"] = (events * 0.3).astype(int)
    frame["downloads"] = rng.binomial(1, 0.1, n)
    frame["exports"] = rng.binomial(1, 0.03, n)
    frame["records_exported"] = frame["exports"] * rng.integers(10, 3000, n)
    frame["max_results_count"] = rng.integers(1, 400, n)
    for column in ("login", "config_change", "user_management", "data_modification",
                   "api_call", "deletions"):  # fmt: skip
        frame[column] = rng.binomial(2, 0.05, n)
    frame["distinct_resources"] = rng.integers(1, 5, n)
    frame["distinct_ips"] = rng.integers(1, 3, n)
    frame["distinct_user_agents"] = 1
    frame["off_hours_events"] = rng.binomial(events, 0.05)
    base = pd.Timestamp(start, tz="UTC")
    frame["first_event"] = base + pd.to_timedelta(np.arange(n) % days, unit="D")
    frame["last_event"] = frame["first_event"] + pd.Timedelta(hours=8)
    # A few planted anomalies so the explanations have something to say.
    odd = rng.choice(n, size=max(users // 100, 1), replace=False)
    frame.loc[odd, "log_access"] *= 20
    frame.loc[odd, "records_exported"] += 50_000
    features = frame[ROLLUP_COLUMNS]

    per_user_sources = rng.integers(0, len(SOURCES), size=(users, 3))
    res_rows = np.repeat(np.arange(n), 3)
    res_users = res_rows // days
    resources = pd.DataFrame(
        {
            "day": day_col[res_rows],
            "user_id": user_col[res_rows],
            "resource_type": "source",
            "resource_id": np.array(SOURCES)[
                per_user_sources[res_users, np.arange(len(res_rows)) % 3]
            ],
            "events": rng.integers(1, 30, len(res_rows)),
        }
    ).drop_duplicates(["day", "user_id", "resource_type", "resource_id"])
    ips = pd.DataFrame(
        {
            "day": day_col,
            "user_id": user_col,
            "ip_address": np.char.add("10.1.", (np.arange(n) // days % 250).astype(str)),
            "user_agent": "Mozilla/5.0",
            "events": events,
        }
    )
    roster = {u: ROLES[i % len(ROLES)] for i, u in enumerate(user_ids)}
    # What the read model hands detection: first days per user and resource or address, and
    # the events on chosen resources per user-day.
    firsts = resources.groupby(["user_id", "resource_type", "resource_id"])
    resource_firsts = firsts.agg(first_day=("day", "min"), events=("events", "sum"))
    address_firsts = ips.groupby(["user_id", "ip_address", "user_agent"])["day"].min()

    def resource_events(ids: Collection[str]) -> pd.DataFrame:
        chosen = resources.loc[resources["resource_id"].isin(list(ids))]
        return chosen.groupby(["day", "user_id"])["events"].sum().reset_index()

    user_days = UserDays(
        features,
        resource_firsts.reset_index(),
        address_firsts.rename("first_day").reset_index(),
        start,
        start + timedelta(days=days - 1),
        resource_events,
    )
    return user_days, roster


def naive_own_baselines(frame: pd.DataFrame, columns: list[str]) -> None:
    """The obvious way: per user, a 30-row rolling median of the previous days."""
    ordered = frame.sort_values(["user_id", "day"])
    grouped = ordered.groupby("user_id")
    for column in columns:
        grouped[column].transform(lambda s: s.shift(1).rolling(30, min_periods=5).median())


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()

    t = time.perf_counter()
    user_days, roster = rollups(args.users, args.days)
    generated = time.perf_counter() - t
    sizes = (len(user_days.features), len(user_days.resources), len(user_days.ips))
    print("input: {:,} user-days, {:,} user-sources, {:,} user-addresses".format(*sizes)
          + f" (generated in {generated:.1f} s)")  # fmt: skip

    rules = [r for r in load_rules() if r.kind in ("threshold", "ratio_to_baseline", "first_seen")]
    t, c = time.perf_counter(), time.process_time()
    # No catalogue: what the names suggest (payment, customer), as for any new organisation.
    sensitivity = catalogue_sensitivity({}, SOURCES)
    features = build_features(user_days, peer_groups=roster, sensitivity=sensitivity)
    t_features, c_features = time.perf_counter() - t, time.process_time() - c

    t, c = time.perf_counter(), time.process_time()
    start = user_days.start_day + timedelta(days=14)
    empty = pd.DataFrame(columns=["event_time", "event_type", "event_action", "resource_id"])
    result = score_window(
        features,
        rules,
        start_day=start,
        end_day=user_days.end_day,
        events=FrameEvents(empty),
        sensitivity=sensitivity,
    )
    t_scoring, c_scoring = time.perf_counter() - t, time.process_time() - c
    total = t_features + t_scoring
    cpu = c_features + c_scoring
    peak = peak_gb()

    sample_users = sorted(roster)[: max(args.users // 20, 1)]
    sample = features.rows.loc[features.rows["user_id"].isin(sample_users)]
    t = time.perf_counter()
    naive_own_baselines(sample, BASELINE_COLUMNS)
    t_naive = (time.perf_counter() - t) * len(roster) / len(sample_users)

    print(f"features: {t_features:6.1f} s wall, {c_features:5.1f} s CPU "
          f"({len(features.rows.columns)} columns)")  # fmt: skip
    print(f"scoring:  {t_scoring:6.1f} s wall, {c_scoring:5.1f} s CPU "
          f"({len(result.scores):,} user-days scored, "
          f"{len(result.hits):,} rule hits, {len(result.findings):,} findings)")  # fmt: skip
    print(f"total:    {total:6.1f} s wall, {cpu:5.1f} s CPU   goal <= {GOAL_SECONDS:.0f} s   "
          f"{'OK' if total <= GOAL_SECONDS else 'MISSED'} (wall; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    print(f"peak RSS: {peak:6.2f} GB  goal <= {GOAL_PEAK_GB:.0f} GB  "
          f"{'OK' if peak <= GOAL_PEAK_GB else 'MISSED'}")  # fmt: skip
    print(f"baseline: groupby-rolling own baselines alone ~{t_naive:.1f} s "
          f"(scaled from {len(sample_users)} users); whole features step is "
          f"{t_naive / max(t_features, 1e-9):.1f}x faster")  # fmt: skip
    top = result.findings[:3]
    for finding in top:
        print(f"  e.g. {finding}")


if __name__ == "__main__":
    main()
