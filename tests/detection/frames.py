"""Test doubles for detection: a read model computed in pandas from an events frame (the
shared contract's columns, exactly), and a small organisation with planted anomalies."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from detection.features import ROLLUP_COLUMNS

ACTION_COLUMNS = {
    "searches": {"search"},
    "views": {"view_logs", "view_entry"},
    "downloads": {"download"},
    "exports": {"export", "export_audit_logs"},
    "deletions": {"delete_logs"},
}


def _resources(events: pd.DataFrame) -> list[tuple[str | None, str] | None]:
    """Each event's resource as the read model counts it (sql.rollup.measures): the pair
    (resource_type, resource_id), a missing type a value of its own; None without an id."""
    return [
        None if pd.isna(rid) else (None if pd.isna(rtype) else str(rtype), str(rid))
        for rtype, rid in zip(events["resource_type"], events["resource_id"], strict=True)
    ]


class FrameReadModel:
    """`sql.read_model.ReadModel`'s user-day reads, computed from an events frame."""

    def __init__(self, events: pd.DataFrame, *, work_hours: tuple[int, int] = (8, 19)) -> None:
        frame = events.copy()
        frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
        frame["day"] = frame["event_time"].dt.date
        self.events = frame
        self.work_hours = work_hours

    def _slice(self, start_day: date, end_day: date) -> pd.DataFrame:
        e = self.events
        return e.loc[(e["day"] >= start_day) & (e["day"] <= end_day) & e["user_id"].notna()]

    def user_day_features(
        self, org: str, start_day: date, end_day: date, *, distinct_counts: bool = True
    ) -> pd.DataFrame:
        e = self._slice(start_day, end_day).copy()
        if e.empty:
            return pd.DataFrame(columns=ROLLUP_COLUMNS)
        for family in ("login", "log_access", "config_change", "user_management",
                       "data_modification"):  # fmt: skip
            e[family] = (e["event_type"] == family).astype(int)
        e["api_call"] = (e["event_action"] == "api_access").astype(int)
        for column, actions in ACTION_COLUMNS.items():
            e[column] = e["event_action"].isin(actions).astype(int)
        hour = e["event_time"].dt.hour
        e["off_hours_events"] = ((hour < self.work_hours[0]) | (hour >= self.work_hours[1])).astype(
            int
        )
        e["records_exported"] = [
            float((d or {}).get("record_count", 0)) if a in ACTION_COLUMNS["exports"] else 0.0
            for d, a in zip(e["details"], e["event_action"], strict=True)
        ]
        e["results"] = [float((d or {}).get("results_count", 0)) for d in e["details"]]
        e["events"] = 1
        e["_resource"] = _resources(e)
        g = e.groupby(["day", "user_id"])
        out = g[["events", "login", "log_access", "config_change", "user_management",
                 "data_modification", "api_call", *ACTION_COLUMNS, "off_hours_events",
                 "records_exported"]].sum()  # fmt: skip
        out["user_email"] = g["user_email"].first()
        out["distinct_resources"] = g["_resource"].nunique()
        out["distinct_ips"] = g["ip_address"].nunique()
        out["distinct_user_agents"] = g["user_agent"].nunique()
        out["max_results_count"] = g["results"].max()
        out["first_event"] = g["event_time"].min()
        out["last_event"] = g["event_time"].max()
        return out.reset_index()[ROLLUP_COLUMNS]

    def user_day_distinct_counts(self, org: str, start_day: date, end_day: date) -> pd.DataFrame:
        e = self._slice(start_day, end_day)
        g = e.assign(_resource=_resources(e)).groupby(["day", "user_id"])
        out = pd.DataFrame(
            {
                "distinct_resources": g["_resource"].nunique(),
                "distinct_ips": g["ip_address"].nunique(),
                "distinct_user_agents": g["user_agent"].nunique(),
            }
        )
        return out.reset_index()

    def user_resource_first_days(self, org: str, start_day: date, end_day: date) -> pd.DataFrame:
        e = self._slice(start_day, end_day)
        e = e.loc[e["resource_id"].notna()]
        g = e.groupby(["user_id", "resource_type", "resource_id"], dropna=False)
        out = pd.DataFrame({"first_day": g["day"].min(), "events": g.size()})
        return out.reset_index()

    def user_address_first_days(self, org: str, start_day: date, end_day: date) -> pd.DataFrame:
        e = self._slice(start_day, end_day)
        g = e.groupby(["user_id", "ip_address", "user_agent"], dropna=False)
        return g["day"].min().rename("first_day").reset_index()

    def user_day_events_on(
        self, org: str, start_day: date, end_day: date, resource_ids: Collection[str]
    ) -> pd.DataFrame:
        e = self._slice(start_day, end_day)
        e = e.loc[e["resource_id"].isin(list(resource_ids))]
        return e.groupby(["day", "user_id"]).size().rename("events").reset_index()

    def user_hours(
        self, org: str, start: datetime, end: datetime, *, user_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        e = self.events
        e = e.loc[(e["event_time"] >= start) & (e["event_time"] < end) & e["user_id"].notna()]
        if user_ids is not None:
            e = e.loc[e["user_id"].isin(list(user_ids))]
        out = e.groupby([e["user_id"], e["event_time"].dt.hour.rename("hour")]).size()
        return out.rename("events").reset_index()


START = date(2025, 1, 1)
ROLES = {
    "sre": ("source_infra_logs", "source_production_api"),
    "developer": ("source_app_logs", "source_staging_logs"),
    "support": ("source_customer_data", "source_app_logs"),
}


def _event(
    n: int, when: datetime, user: dict[str, Any], action: str, **extra: Any
) -> dict[str, Any]:
    family = {
        "export": "data_modification",
        "export_audit_logs": "data_modification",
        "purge": "data_modification",
        "update_retention_policy": "config_change",
        "toggle_alert": "config_change",
        "change_role": "user_management",
        "create_api_key": "user_management",
    }.get(action, "log_access")
    row = {
        "id": f"evt_{n:07d}",
        "event_time": when,
        "event_type": family,
        "event_action": action,
        "user_id": user["user_id"],
        "user_email": user["user_email"],
        "ip_address": user["ip"],
        "user_agent": user["agent"],
        "resource_type": "source",
        "resource_id": user["sources"][n % len(user["sources"])],
        "details": {"query": "level:error AND service:checkout", "results_count": 40},
        "session_id": f"sess_{user['user_id']}_{when:%Y%m%d}",
    }
    row.update(extra)
    return row


def small_org(
    users: int = 24, days: int = 45, seed: int = 7
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, str]]:
    """Events of a small organisation with planted anomalies on the last days.

    Returns (events, labels, roster) where labels are dicts with scenario, user_id, day.
    """
    rng = random.Random(seed)
    people = []
    for i in range(users):
        role = list(ROLES)[i % len(ROLES)]
        people.append(
            {
                "user_id": f"u{i:03d}",
                "user_email": f"user{i}@company.com",
                "role": role,
                "sources": ROLES[role],
                "ip": f"10.0.{i}.{rng.randint(2, 250)}",
                "agent": f"Mozilla/5.0 (user {i})",
                "start_hour": 8 + rng.random() * 2,
            }
        )
    rows: list[dict[str, Any]] = []
    n = 0
    for d in range(days):
        day = START + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for person in people:
            for _ in range(rng.randint(15, 30)):
                when = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
                    hours=person["start_hour"] + rng.random() * 8
                )
                action = rng.choice(["search", "search", "view_logs", "view_entry"])
                rows.append(_event(n, when, person, action))
                n += 1
    labels = []
    last = START + timedelta(days=days - 1)
    while last.weekday() >= 5:
        last -= timedelta(days=1)
    at = datetime.combine(last, datetime.min.time(), tzinfo=UTC)

    def plant(scenario: str, person: dict[str, Any], events: list[dict[str, Any]]) -> None:
        nonlocal n
        labels.append({"scenario": scenario, "user_id": person["user_id"], "day": last})
        for event in events:
            rows.append(event)
            n += 1

    volume, night, wildcard, big = people[1], people[2], people[4], people[5]
    many = [
        _event(n + k, at + timedelta(hours=10, seconds=k), volume, "view_entry") for k in range(600)
    ]
    plant("volume", volume, many)
    export = {"record_count": 800, "format": "csv"}
    plant("night_export", night, [_event(n, at + timedelta(hours=2, minutes=13), night, "export",
                                         details=export)])  # fmt: skip
    query = {"query": "email:*@company.com", "results_count": 3000}
    plant("wildcard_search", wildcard, [_event(n, at + timedelta(hours=11), wildcard, "search",
                                              details=query)])  # fmt: skip
    large = {"record_count": 25_000, "format": "csv"}
    plant("large_export", big, [_event(n, at + timedelta(hours=12), big, "export",
                                       details=large)])  # fmt: skip
    frame = pd.DataFrame(rows)
    roster = {p["user_id"]: p["role"] for p in people}
    return frame, labels, roster


def as_numpy(values: Any) -> np.ndarray:
    return np.asarray(values)
