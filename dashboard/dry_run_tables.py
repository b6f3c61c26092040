"""A dry run's hits as the Alerts page tables them: each hit with its matching events, and
the counts per day and per user; no Streamlit here.

A hit is one user on one UTC day; its `matches` are the events of its evidence query (what
"Show in Explore" lists), counted by the caller, None when not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from detection.rules import RuleHit
from sql.user_identity import shown

HIT_COLUMNS = ("day", "user", "matches", "severity", "reason", "evidence_query")


def _user_labels(hits: Sequence[RuleHit]) -> dict[str, str]:
    """Each hit's user as the tables name them: their email, else their id; the id (shown
    apart from its lookalikes) when another user reads the same, so the tables count and
    group people by the one rule of sql.user_identity (a hit's user always has an id)."""
    named = {hit.user_id: hit.user_email or hit.user_id for hit in hits}
    users_of: dict[str, int] = {}
    for label in named.values():
        users_of[label] = users_of.get(label, 0) + 1
    return {u: label if users_of[label] == 1 else shown(u) for u, label in named.items()}


def hits_frame(hits: Sequence[RuleHit], matches: Mapping[str, int]) -> pd.DataFrame:
    """One row per hit, newest day first, then by user."""
    labels = _user_labels(hits)
    rows = [
        {
            "day": hit.day,
            "user": labels[hit.user_id],
            "matches": matches.get(hit.evidence_query),
            "severity": hit.severity,
            "reason": hit.reason,
            "evidence_query": hit.evidence_query,
        }
        for hit in hits
    ]
    frame = pd.DataFrame(rows, columns=list(HIT_COLUMNS))
    frame["matches"] = frame["matches"].astype("Int64")
    return frame.sort_values(["day", "user"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def by_day(hits: pd.DataFrame) -> pd.DataFrame:
    """Per UTC day, newest first: how many users it fired for, and their matching events."""
    return _grouped(hits, "day", "users", ascending=False)


def by_user(hits: pd.DataFrame) -> pd.DataFrame:
    """Per user, most days first: on how many days it fired, and their matching events."""
    frame = _grouped(hits, "user", "days", ascending=True)
    return frame.sort_values(["days", "user"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def _grouped(hits: pd.DataFrame, key: str, counted: str, *, ascending: bool) -> pd.DataFrame:
    if hits.empty:
        return pd.DataFrame(
            {key: pd.Series(dtype="object"), counted: pd.Series(dtype="int64"),
             "matches": pd.Series(dtype="Int64")}
        )  # fmt: skip
    grouped = hits.groupby(key, sort=True)
    # min_count=1: a group with no counted hit shows no total rather than a false 0.
    frame = pd.DataFrame(
        {counted: grouped.size(), "matches": grouped["matches"].sum(min_count=1).astype("Int64")}
    ).reset_index()
    return frame.sort_values(key, ascending=ascending, kind="stable").reset_index(drop=True)
