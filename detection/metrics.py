"""Quality measures of a ranking against labelled scenarios, for rules, model and both.

A labelled scenario instance is (scenario, user, time range); its user-days are positives.
- recall@k: share of instances whose user ranks in the top k of some labelled day;
- AUC over all user-days; recall at 5% false positives (threshold from the negatives);
- flag rate on benign oddities: share of their user-days that become findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from detection.ranking import FINDING_MIN_SCORE

VARIANTS = {"rules": "rule_score", "model": "model_part", "combined": "combined"}


@dataclass(frozen=True)
class Instance:
    """One labelled scenario (or benign oddity) occurrence: a user over UTC days."""

    scenario: str
    user_id: str
    days: tuple[date, ...]


def _as_day(value: Any) -> date:
    if isinstance(value, datetime):
        return (
            value.date() if value.tzinfo is None else pd.Timestamp(value).tz_convert("UTC").date()
        )
    if isinstance(value, date):
        return value
    return (
        pd.Timestamp(value).tz_convert("UTC").date()
        if pd.Timestamp(value).tzinfo
        else pd.Timestamp(value).date()
    )


def instances(labels: Iterable[Mapping[str, Any]], *, kind_key: str = "scenario") -> list[Instance]:
    """Labels with `start`/`end` (times or days) or `day`, as instances over UTC days."""
    out = []
    for label in labels:
        if "days" in label:  # the days of the label's own events
            out.append(
                Instance(
                    str(label[kind_key]),
                    str(label["user_id"]),
                    tuple(sorted({_as_day(d) for d in label["days"]})),
                )
            )
            continue
        if "day" in label:
            first = last = _as_day(label["day"])
        else:
            first, last = _as_day(label["start"]), _as_day(label["end"])
        days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
        out.append(Instance(str(label[kind_key]), str(label["user_id"]), days))
    return out


def _positives(scores: pd.DataFrame, found: list[Instance]) -> np.ndarray:
    keys = {(d, i.user_id) for i in found for d in i.days}
    return np.array([(d, u) in keys for d, u in zip(scores["day"], scores["user_id"], strict=True)])


def _topk_hit(scores: pd.DataFrame, column: str, inst: Instance, k: int) -> bool:
    for day in inst.days:
        today = scores.loc[scores["day"] == day]
        if today.empty:
            continue
        mine = today.loc[today["user_id"] == inst.user_id, column]
        if mine.empty or mine.max() <= 0:
            continue
        # Rank = 1 + users strictly above; ties do not push a user out of the top k.
        if int((today[column] > mine.max()).sum()) < k:
            return True
    return False


def _flagged(scores: pd.DataFrame, column: str, inst: Instance, threshold: float) -> bool:
    rows = scores.loc[scores["user_id"] == inst.user_id]
    rows = rows.loc[rows["day"].isin(inst.days)]
    return bool((rows[column] >= threshold).any())


def evaluate_scores(
    scores: pd.DataFrame,
    scenarios: list[Instance],
    benign: list[Instance],
    *,
    k: int = 5,
    max_fpr: float = 0.05,
    finding_min_score: float = FINDING_MIN_SCORE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-scenario table, overall table) for each of rules, model and combined."""
    labels = _positives(scores, scenarios)
    benign_days = _positives(scores, benign) & ~labels
    per_scenario = []
    overall = []
    for variant, column in VARIANTS.items():
        values = scores[column].to_numpy(dtype=float)
        negatives = values[~labels]
        threshold = float(np.quantile(negatives, 1 - max_fpr)) if len(negatives) else 0.0
        auc = roc_auc_score(labels, values) if 0 < labels.sum() < len(labels) else float("nan")
        flagged = values >= finding_min_score
        overall.append(
            {
                "variant": variant,
                "auc": auc,
                f"recall@{max_fpr:.0%}fpr": float((values[labels] > threshold).mean())
                if labels.any()
                else float("nan"),
                "benign_flagged": float(flagged[benign_days].mean()) if benign_days.any() else 0.0,
                "negatives_flagged": float(flagged[~labels].mean()) if (~labels).any() else 0.0,
            }
        )
        names = sorted({i.scenario for i in scenarios})
        for name in names:
            group = [i for i in scenarios if i.scenario == name]
            per_scenario.append(
                {
                    "scenario": name,
                    "variant": variant,
                    "instances": len(group),
                    f"recall@top{k}": float(
                        np.mean([_topk_hit(scores, column, i, k) for i in group])
                    ),
                    "recall_flagged": float(
                        np.mean([_flagged(scores, column, i, finding_min_score) for i in group])
                    ),
                    f"recall@{max_fpr:.0%}fpr": float(
                        np.mean([_flagged(scores, column, i, max(threshold, 1e-9)) for i in group])
                    ),
                }
            )
    return pd.DataFrame(per_scenario), pd.DataFrame(overall)
