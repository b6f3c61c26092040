"""One ranking for rules and model: a score in [0, 1] per user-day, and findings from it.

Rules contribute by severity (noisy-OR over the distinct rules that fired); the model
contributes by where its anomaly score falls among the training user-days, steeply, so that
only its top percent matters on its own. Both together rank above either alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from detection.calibration import budget_model_part
from detection.rules.schema import SEVERITY_SCORE, RuleHit

# The model alone reaches 0.5 (a finding) around its 98.7th percentile, 0.7 around the 99.5th.
MODEL_WEIGHT = 0.85
MODEL_SHARPNESS = 40
FINDING_MIN_SCORE = 0.5
MODEL_DETECTOR_MIN = 0.5


@dataclass(frozen=True)
class RankingConfig:
    finding_min_score: float = FINDING_MIN_SCORE
    model_weight: float = MODEL_WEIGHT
    model_sharpness: float = MODEL_SHARPNESS

    def __post_init__(self) -> None:
        if not 0 < self.finding_min_score <= 1:
            raise ValueError(f"finding_min_score must be in (0, 1], got: {self.finding_min_score}")
        if not 0 <= self.model_weight < 1:
            raise ValueError(f"model_weight must be in [0, 1), got: {self.model_weight}")


def model_component(percentile: np.ndarray, config: RankingConfig) -> np.ndarray:
    return config.model_weight * np.power(np.clip(percentile, 0, 1), config.model_sharpness)


def rule_scores(hits: Iterable[RuleHit]) -> pd.DataFrame:
    """Per (day, user_id): noisy-OR of the severities of the distinct rules that fired."""
    best: dict[tuple[object, str], dict[str, float]] = {}
    for hit in hits:
        per_rule = best.setdefault((hit.day, hit.user_id), {})
        per_rule[hit.rule_id] = max(per_rule.get(hit.rule_id, 0.0), SEVERITY_SCORE[hit.severity])
    records = [
        {
            "day": day,
            "user_id": user,
            "rule_score": min(1 - float(np.prod([1 - s for s in scores.values()])), 0.99),
            "rules": sorted(scores),
        }
        for (day, user), scores in best.items()
    ]
    return pd.DataFrame(records, columns=["day", "user_id", "rule_score", "rules"])


def combine(
    scored: pd.DataFrame,
    hits: list[RuleHit],
    config: RankingConfig | None = None,
    *,
    model_budget: int | None = None,
) -> pd.DataFrame:
    """Add rule_score, model_part, combined and detectors to per-user-day model scores.

    `scored` has day, user_id, user_email, model_score and model_percentile; users who only
    appear in rule hits (no user-day row) are added with a model part of 0. With a
    `model_budget`, at most that many user-days become findings on the model alone
    (`detection.calibration.budget_model_part`).
    """
    config = config or RankingConfig()
    rules = rule_scores(hits)
    out = scored.merge(rules, on=["day", "user_id"], how="outer")
    missing_email = out["user_email"].isna()
    if missing_email.any():
        emails = {(h.day, h.user_id): h.user_email for h in hits}
        out.loc[missing_email, "user_email"] = [
            emails.get((d, u), "")
            for d, u in zip(
                out.loc[missing_email, "day"], out.loc[missing_email, "user_id"], strict=True
            )
        ]
    out["rule_score"] = out["rule_score"].fillna(0.0)
    out["model_percentile"] = out["model_percentile"].fillna(0.0)
    empty: list[str] = []
    fired_rules = out["rules"].to_numpy(dtype=object)
    has_rules = out["rules"].notna().to_numpy()
    # A day odd for the whole peer group (quarter end, an incident) weighs less for each.
    collective = out["peers_unusual"].fillna(0.0).to_numpy() if "peers_unusual" in out else 0.0
    model_part = model_component(out["model_percentile"].to_numpy(), config) * (1 - collective)
    if model_budget is not None:
        model_part = budget_model_part(
            model_part, has_rules, model_budget, config.finding_min_score
        )
    out["model_part"] = model_part
    out["combined"] = 1 - (1 - out["rule_score"]) * (1 - out["model_part"])
    # Lists only where something fired (a few rows); the rest share one empty list.
    by_model = out["model_part"].to_numpy() >= MODEL_DETECTOR_MIN
    detectors = np.empty(len(out), dtype=object)
    detectors[:] = [empty] * len(out)
    for index in np.flatnonzero(has_rules | by_model):
        fired: list[str] = fired_rules[index] if has_rules[index] else []
        detectors[index] = [*fired, *(["model"] if by_model[index] else [])]
    out["detectors"] = detectors
    out["rules"] = [r if ok else empty for r, ok in zip(fired_rules, has_rules, strict=True)]
    return out.sort_values(
        ["combined", "day", "user_id"], ascending=[False, True, True], ignore_index=True
    )


def severity_for(score: float) -> str:
    if score >= 0.9:
        return "critical"
    if score >= 0.75:
        return "high"
    if score >= 0.55:
        return "medium"
    return "low"
