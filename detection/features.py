"""Features per user and day, built only from the read model's user-day rollups.

`load_user_days` reads, for the detection window plus its history, the user-day features
with their distinct counts, and each user's first day of every resource and every address
(`user_resource_first_days`, `user_address_first_days`); `build_features` turns them into one
row per (day, user) with counts, the user's own 30-day baselines, the peer group's baselines,
and "first seen" counts (new IPs, devices, sources for the user or the peer group). The
database aggregates the (day, user, resource) rows; nothing here reads raw events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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

    def user_day_distinct_counts(
        self, org: str, start_day: date, end_day: date
    ) -> pd.DataFrame: ...

    def user_resource_first_days(
        self, org: str, start_day: date, end_day: date
    ) -> pd.DataFrame: ...

    def user_address_first_days(self, org: str, start_day: date, end_day: date) -> pd.DataFrame: ...

    def user_day_events_on(
        self, org: str, start_day: date, end_day: date, resource_ids: Collection[str]
    ) -> pd.DataFrame: ...


# Events per (day, user_id) on the resources given (only user-days with some): the one
# per-day resource measure features need, read once the sensitive resources are known.
ResourceEvents = Callable[[Collection[str]], pd.DataFrame]


def _no_resource_events(_resource_ids: Collection[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in ["day", "user_id", "events"]})


@dataclass
class UserDays:
    """One organisation's user-days over [start_day, end_day], as features need them.

    `features`: one row per (day, user), distinct counts included. `resources`: one row per
    (user, resource_type, resource_id) with its `first_day` in the range and its `events`.
    `ips`: one row per (user, ip_address, user_agent) with its `first_day`.
    `resource_events`: see `ResourceEvents`. `sensitivity`: what the loader's
    `sensitivity_of` said of the resources read (None when it was not given). Users are
    never NULL."""

    features: pd.DataFrame
    resources: pd.DataFrame
    ips: pd.DataFrame
    start_day: date
    end_day: date
    resource_events: ResourceEvents = _no_resource_events
    sensitivity: Sensitivity | None = None


def _named_users(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or not frame["user_id"].isna().any():
        return frame
    return frame.loc[frame["user_id"].notna()].reset_index(drop=True)


def load_user_days(
    read_model: ReadModelLike,
    org: str,
    start_day: date,
    end_day: date,
    *,
    history_days: int = 60,
    sensitivity_of: Callable[[Iterable[Any]], Sensitivity] | None = None,
) -> UserDays:
    """The user-days to score plus `history_days` before them (for baselines).

    The four reads run at once (the database aggregates one while this process decodes
    another); per-day resource rows never leave the database. With `sensitivity_of`
    (resource ids -> `Sensitivity`), the events on the sensitive resources are read as soon
    as the resources are known, alongside the reads still running, and `resource_events`
    answers the features' ask for them from that read.
    """
    first = start_day - timedelta(days=history_days)
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="auditlens-read") as pool:
        resources_read = pool.submit(read_model.user_resource_first_days, org, first, end_day)
        counts = pool.submit(read_model.user_day_distinct_counts, org, first, end_day)
        features = pool.submit(
            read_model.user_day_features, org, first, end_day, distinct_counts=False
        )
        ips = pool.submit(read_model.user_address_first_days, org, first, end_day)
        # Events that name no user (a service, a system job) stay in the organisation's
        # counts, but a user-less day is nobody to score, baseline or name in a finding.
        resources = _named_users(resources_read.result())
        sensitivity = None
        early: dict[tuple[str, ...], Future[pd.DataFrame]] = {}
        if sensitivity_of is not None:
            sensitivity = sensitivity_of(resources["resource_id"].unique())
            ids = tuple(sensitive_resource_ids(resources, sensitivity))
            if ids:
                early[ids] = pool.submit(read_model.user_day_events_on, org, first, end_day, ids)

        def resource_events(ids: Collection[str]) -> pd.DataFrame:
            asked = tuple(sorted({str(i) for i in ids}))
            read = early.get(asked)
            events = (
                read.result()
                if read is not None
                else read_model.user_day_events_on(org, first, end_day, asked)
            )
            return _named_users(events)

        named = _named_users(features.result())
        user_days = UserDays(
            features=with_distinct_counts(named, _named_users(counts.result())),
            resources=resources,
            ips=_named_users(ips.result()),
            start_day=first,
            end_day=end_day,
            resource_events=resource_events,
            sensitivity=sensitivity,
        )
    return user_days


DISTINCT_COLUMNS = ["distinct_resources", "distinct_ips", "distinct_user_agents"]


def with_distinct_counts(features: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """`features` with distinct_resources, distinct_ips and distinct_user_agents per
    (day, user) from `counts` (`user_day_distinct_counts`; 0 for a user-day it lacks)."""
    key = ["day", "user_id"]
    out = features.drop(columns=DISTINCT_COLUMNS, errors="ignore")
    out = out.merge(counts[[*key, *DISTINCT_COLUMNS]], on=key, how="left")
    for column in DISTINCT_COLUMNS:
        out[column] = out[column].fillna(0).astype("int64")
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


def sensitive_resource_ids(resources: pd.DataFrame, sensitivity: Sensitivity) -> list[str]:
    """The resource ids of a `UserDays.resources` frame that `sensitivity` counts, sorted:
    the resources whose events per user-day the features read."""
    return sorted(resources.loc[sensitivity.mask(resources["resource_id"]), "resource_id"].unique())


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


def _by_day(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """How many rows of `frame` each (first_day, user_id) has, as (day, user_id, name)."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ["day", "user_id", name]})
    counts = frame.groupby(["first_day", "user_id"], observed=True).size()
    return counts.rename(name).reset_index().rename(columns={"first_day": "day"})


def _first_seen_counts(frame: pd.DataFrame, columns: list[str], name: str) -> pd.DataFrame:
    """Per (day, user_id), how many values of `columns` (NULL a value of its own) the user
    has for the first time in the history, from first days per finer key (`first_day`)."""
    if frame.empty:
        return _by_day(frame, name)
    # Integer day numbers: pandas' min over date objects falls back to a Python loop.
    number = day_numbers(frame["first_day"])
    first = (
        frame.assign(_n=number).groupby(["user_id", *columns], observed=True, dropna=False)["_n"]
    ).transform("min")
    new = frame.loc[number == first.to_numpy(), ["first_day", "user_id", *columns]]
    return _by_day(new.drop_duplicates(), name)


@dataclass
class FeatureSet:
    """Features per (day, user), plus the first days per source and per address behind them."""

    rows: pd.DataFrame
    resources: pd.DataFrame  # UserDays.resources with `peer_group` and `sensitive`
    ips: pd.DataFrame  # UserDays.ips


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
    touched = sensitive_resource_ids(resources, sensitivity)
    sensitive = user_days.resource_events(touched) if touched else _no_resource_events(())
    sensitive = sensitive[["day", "user_id", "events"]].rename(
        columns={"events": "sensitive_events"}
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
        _first_seen_counts(ips, ["ip_address"], "new_ips"),
        _first_seen_counts(ips, ["user_agent"], "new_user_agents"),
        _first_seen_counts(resources, ["resource_type", "resource_id"], "new_resources"),
        _first_seen_counts(
            resources.loc[resources["sensitive"]],
            ["resource_type", "resource_id"],
            "new_sensitive_resources",
        ),
    ]
    # Peer-new: no one in the user's peer group touched this source before in the history
    # (a source of no type is never peer-new: groupby leaves its NULL key out).
    resource_day = day_numbers(resources["first_day"])
    peer_first = (
        resources.assign(_n=resource_day)
        .groupby(["peer_group", "resource_type", "resource_id"], observed=True)["_n"]
        .transform("min")
        .to_numpy()
    )
    peer_new = resources.loc[(resource_day == peer_first) & resources["sensitive"].to_numpy()]
    counts.append(_by_day(peer_new, "peer_new_sensitive_resources"))
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
