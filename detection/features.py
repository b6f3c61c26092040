"""Features per user and day, built only from the read model's user-day rollups.

`load_user_days` reads three rollups (`user_day_features`, `user_day_resources`,
`user_day_ips`) for the detection window plus its history; `build_features` turns them into
one row per (day, user) with counts, the user's own 30-day baselines, the peer group's
baselines, and "first seen" counts (new IPs, devices, sources for the user or the peer group).
Nothing here reads raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from detection.baselines import (
    add_own_baselines,
    add_peer_baselines,
    add_trailing_sums,
    day_numbers,
)
from sql.catalogue import entries
from sql.gateway import Database
from sql.resource_names import suggest_from_name
from sql.vocabulary import RULE_SENSITIVE_LEVELS, USER_DAY_COLUMNS, USER_DAY_COUNTS

# Columns of ReadModel.user_day_features (the shared contract), and the counts among them.
ROLLUP_COLUMNS = list(USER_DAY_COLUMNS)
COUNT_COLUMNS = list(USER_DAY_COUNTS)

# Compared with the user's own trailing days and with the peer group.
BASELINE_COLUMNS = [
    "events",
    "log_access",
    "searches",
    "views",
    "downloads",
    "exports",
    "records_exported",
    "max_results_count",
    "distinct_resources",
    "off_hours_events",
    "config_change",
    "user_management",
    "sensitive_events",
]

# Summed over the trailing 14 days (today included), compared with peers: exfiltration spread
# thin over weeks looks normal on any one day but not over a fortnight.
TRAILING_COLUMNS = ["transfer_days", "records_exported"]
TRAILING_FEATURES = [f"{c}_14d" for c in TRAILING_COLUMNS]

# Every feature a rule may name (baseline columns add _own_/_peer_ median/ratio/z variants).
FEATURE_COLUMNS = [
    *COUNT_COLUMNS,
    "sensitive_events",
    "new_ips",
    "new_user_agents",
    "new_resources",
    "new_sensitive_resources",
    "peer_new_sensitive_resources",
    "off_hours_share",
    "history_days",
    "days_since_previous",
    *TRAILING_FEATURES,
    *(f"{c}_peer_ratio" for c in TRAILING_FEATURES),
]


class ReadModelLike(Protocol):
    """The part of `sql.read_model.ReadModel` detection reads."""

    def user_day_features(
        self, org: str, start_day: date, end_day: date, *, distinct_counts: bool = True
    ) -> pd.DataFrame: ...

    def user_day_resources(self, org: str, start_day: date, end_day: date) -> pd.DataFrame: ...

    def user_day_ips(self, org: str, start_day: date, end_day: date) -> pd.DataFrame: ...


@dataclass
class UserDays:
    """The three user-day rollups of one organisation over [start_day, end_day]."""

    features: pd.DataFrame
    resources: pd.DataFrame
    ips: pd.DataFrame
    start_day: date
    end_day: date


def _named_users(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or not frame["user_id"].isna().any():
        return frame
    return frame.loc[frame["user_id"].notna()].reset_index(drop=True)


def load_user_days(
    read_model: ReadModelLike, org: str, start_day: date, end_day: date, *, history_days: int = 60
) -> UserDays:
    """The rollups for the days to score plus `history_days` before them (for baselines).

    The three reads run at once (the database aggregates one while this process decodes
    another); the distinct counts come from the resources and IPs read here, not a 2nd time.
    """
    first = start_day - timedelta(days=history_days)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="auditlens-read") as pool:
        features = pool.submit(
            read_model.user_day_features, org, first, end_day, distinct_counts=False
        )
        resources = pool.submit(read_model.user_day_resources, org, first, end_day)
        ips = pool.submit(read_model.user_day_ips, org, first, end_day)
        # Events that name no user (a service, a system job) stay in the organisation's
        # counts, but a user-less day is nobody to score, baseline or name in a finding.
        user_days = UserDays(
            features=_named_users(features.result()),
            resources=_named_users(resources.result()),
            ips=_named_users(ips.result()),
            start_day=first,
            end_day=end_day,
        )
    user_days.features = with_distinct_counts(
        user_days.features, user_days.resources, user_days.ips
    )
    return user_days


def with_distinct_counts(
    features: pd.DataFrame, resources: pd.DataFrame, ips: pd.DataFrame
) -> pd.DataFrame:
    """`features` with distinct_resources, distinct_ips and distinct_user_agents per
    (day, user) counted from the user-day resources and IPs (NULLs not counted, as SQL's
    count(DISTINCT ...))."""
    key = ["day", "user_id"]
    counts = [
        resources.loc[resources["resource_id"].notna()]
        .groupby(key, dropna=False)
        .size()
        .rename("distinct_resources"),
        ips.groupby(key, dropna=False)["ip_address"].nunique().rename("distinct_ips"),
        ips.groupby(key, dropna=False)["user_agent"].nunique().rename("distinct_user_agents"),
    ]
    out = features.drop(columns=[c.name for c in counts], errors="ignore")
    for count in counts:
        out = out.merge(count.reset_index(), on=key, how="left")
        out[count.name] = out[count.name].fillna(0).astype("int64")
    return out[features.columns]


@dataclass(frozen=True)
class Sensitivity:
    """Which resources rules treat as sensitive: exact ids (see `catalogue_sensitivity`)."""

    resource_ids: frozenset[str] = frozenset()

    def is_sensitive(self, resource_id: Any) -> bool:
        return isinstance(resource_id, str) and resource_id in self.resource_ids

    def mask(self, resource_ids: pd.Series) -> np.ndarray:
        """Vectorised `is_sensitive` over a column."""
        if not self.resource_ids:
            return np.zeros(len(resource_ids), dtype=bool)
        return resource_ids.isin(self.resource_ids).to_numpy(dtype=bool)


def catalogue_sensitivity(confirmed: Mapping[str, str], resource_ids: Iterable[Any]) -> Sensitivity:
    """The sensitive ones among `confirmed` (resource id -> confirmed level) and
    `resource_ids` (those in the data): a confirmed level decides; an id nobody described
    counts when its name suggests a level in `RULE_SENSITIVE_LEVELS` (`sql.resource_names`).
    How few people touch a resource only ever suggests `confidential`, which rules do not
    count, so it is not read here."""
    sensitive = {rid for rid, level in confirmed.items() if level in RULE_SENSITIVE_LEVELS}
    for rid in set(resource_ids):
        if not isinstance(rid, str) or rid in confirmed:
            continue
        suggested = suggest_from_name(rid)
        if suggested is not None and suggested.level in RULE_SENSITIVE_LEVELS:
            sensitive.add(rid)
    return Sensitivity(resource_ids=frozenset(sensitive))


def organisation_sensitivity(db: Database, org: str, resource_ids: Iterable[Any]) -> Sensitivity:
    """`catalogue_sensitivity` with the organisation's catalogue read from the database."""
    confirmed = {rid: entry.sensitivity for rid, entry in entries(db, org).items()}
    return catalogue_sensitivity(confirmed, resource_ids)


def peer_groups_from_usage(resources: pd.DataFrame, *, users_per_group: int = 25) -> pd.Series:
    """Peer groups for organisations without a roster: users with similar source usage.

    KMeans over each user's share of events per source; a deterministic seed so the same data
    always gives the same groups.
    """
    from scipy.sparse import csr_matrix, diags
    from sklearn.cluster import KMeans

    known = resources.loc[resources["user_id"].notna() & resources["resource_id"].notna()]
    if known.empty:
        return pd.Series(dtype=object)
    # Sparse: thousands of users by thousands of sources, each user touching a handful.
    users, user_index = pd.factorize(known["user_id"], sort=True)
    sources, source_index = pd.factorize(known["resource_id"], sort=True)
    events = known["events"].to_numpy(dtype=float)
    usage = csr_matrix((events, (users, sources)), shape=(len(user_index), len(source_index)))
    totals = np.asarray(usage.sum(axis=1)).ravel()
    shares = diags(1.0 / np.where(totals == 0, 1.0, totals)) @ usage
    k = int(min(max(len(user_index) // users_per_group, 1), 50))
    if k == 1:
        return pd.Series("usage-0", index=user_index)
    labels = KMeans(n_clusters=k, n_init=3, random_state=0).fit_predict(shares.tocsr())
    return pd.Series([f"usage-{label}" for label in labels], index=user_index)


def _first_seen_counts(
    frame: pd.DataFrame, key: str, columns: list[str], name: str
) -> pd.DataFrame:
    """Per (day, key), how many values of `columns` appear for the first time in the history."""
    if frame.empty:
        return pd.DataFrame(columns=["day", key, name])
    # Integer day numbers: pandas' min over date objects falls back to a Python loop.
    number = day_numbers(frame["day"])
    first = (
        frame.assign(_n=number).groupby([key, *columns], observed=True, dropna=False)["_n"]
    ).transform("min")
    new = frame.loc[number == first.to_numpy(), ["day", key, *columns]].drop_duplicates()
    return new.groupby(["day", key], observed=True).size().rename(name).reset_index()


@dataclass
class FeatureSet:
    """Features per (day, user), plus the per-source and per-IP rollups they came from."""

    rows: pd.DataFrame
    resources: pd.DataFrame  # user_day_resources with `peer_group` and `sensitive`
    ips: pd.DataFrame


def build_features(
    user_days: UserDays,
    *,
    peer_groups: Mapping[str, str] | pd.Series | None = None,
    sensitivity: Sensitivity | None = None,
    window: int = 30,
) -> FeatureSet:
    """One row per (day, user) with counts, own and peer baselines and first-seen counts.

    Rows of the first `window` loaded days have thin baselines; `history_days` says how many
    active days a row's baseline rests on. Without `sensitivity` nothing is sensitive.
    """
    sensitivity = sensitivity or Sensitivity()
    frame = user_days.features.copy()
    for column in COUNT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(np.float32)
    frame["user_email"] = frame["user_email"].fillna("")

    resources = user_days.resources.copy()
    resources["sensitive"] = sensitivity.mask(resources["resource_id"])
    sensitive = (
        resources.loc[resources["sensitive"]]
        .groupby(["day", "user_id"], observed=True)["events"]
        .sum()
        .rename("sensitive_events")
        .reset_index()
    )
    frame = frame.merge(sensitive, on=["day", "user_id"], how="left")

    groups = (
        pd.Series(peer_groups, dtype=object)
        if peer_groups is not None
        else peer_groups_from_usage(resources)
    )
    frame["peer_group"] = frame["user_id"].map(groups).fillna("ungrouped").astype(str)
    resources["peer_group"] = resources["user_id"].map(groups).fillna("ungrouped").astype(str)

    ips = user_days.ips
    counts = [
        _first_seen_counts(ips, "user_id", ["ip_address"], "new_ips"),
        _first_seen_counts(ips, "user_id", ["user_agent"], "new_user_agents"),
        _first_seen_counts(resources, "user_id", ["resource_type", "resource_id"], "new_resources"),
        _first_seen_counts(
            resources.loc[resources["sensitive"]],
            "user_id",
            ["resource_type", "resource_id"],
            "new_sensitive_resources",
        ),
    ]
    # Peer-new: no one in the user's peer group touched this source before in the history.
    resource_day = day_numbers(resources["day"])
    peer_first = (
        resources.assign(_n=resource_day)
        .groupby(["peer_group", "resource_type", "resource_id"], observed=True)["_n"]
        .transform("min")
        .to_numpy()
    )
    peer_new = resources.loc[(resource_day == peer_first) & resources["sensitive"].to_numpy()]
    counts.append(
        peer_new.groupby(["day", "user_id"], observed=True)
        .size()
        .rename("peer_new_sensitive_resources")
        .reset_index()
    )
    for extra in counts:
        frame = frame.merge(extra, on=["day", "user_id"], how="left")
    derived = [
        "sensitive_events",
        "new_ips",
        "new_user_agents",
        "new_resources",
        "new_sensitive_resources",
        "peer_new_sensitive_resources",
    ]
    for column in derived:
        frame[column] = frame[column].fillna(0).astype(np.float32)
    frame["transfer_days"] = ((frame["downloads"] + frame["exports"]) > 0).astype(np.float32)
    frame["off_hours_share"] = (frame["off_hours_events"] / frame["events"].clip(lower=1)).astype(
        np.float32
    )
    frame = add_trailing_sums(frame, TRAILING_COLUMNS, days=14)
    frame = add_own_baselines(frame, BASELINE_COLUMNS, window=window)
    frame = add_peer_baselines(frame, [*BASELINE_COLUMNS, *TRAILING_FEATURES])
    rows = frame.sort_values(["day", "user_id"], ignore_index=True)
    return FeatureSet(rows=rows, resources=resources, ips=ips)
