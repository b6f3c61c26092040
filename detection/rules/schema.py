"""What a rule is, what it produces, and how a broken rule file is reported."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sql.errors import AuditLensError

if TYPE_CHECKING:
    from detection.events import EventSource
    from detection.features import Sensitivity

SEVERITIES = ("low", "medium", "high", "critical")
# How much one rule firing weighs in the combined ranking.
SEVERITY_SCORE = {"low": 0.35, "medium": 0.55, "high": 0.75, "critical": 0.9}


class RuleError(AuditLensError):
    """One problem in one rule file: the file, the field, and what is wrong (pySigma style)."""

    def __init__(self, message: str, *, source: Path | str, field: str | None = None) -> None:
        self.message = message
        self.source = str(source)
        self.field = field
        where = f"{self.source}: {field}" if field else self.source
        super().__init__(f"{where}: {message}")


class RuleLoadError(AuditLensError):
    """Every broken rule of a load, collected in one pass."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        lines = "; ".join(str(e) for e in errors)
        super().__init__(f"{len(errors)} broken rule(s): {lines}")


@dataclass(frozen=True)
class RuleHit:
    """One rule firing for one user over one time range."""

    rule_id: str
    severity: str
    user_id: str
    user_email: str
    day: date  # the UTC day the hit is ranked on
    window_start: datetime
    window_end: datetime
    reason: str  # a plain-words clause for the explanation
    evidence_query: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule_id} {self.user_id} {self.day}: {self.reason}"


@dataclass
class RuleContext:
    """Everything a rule may read: user-day features and narrow raw-event slices."""

    org: str
    features: pd.DataFrame  # build_features output over history + window
    start_day: date  # first day to report on
    end_day: date  # last day to report on (inclusive)
    events: EventSource
    sensitivity: Sensitivity
    # First days over the same days as `features`: per (user, IP, agent), and per (user,
    # resource) with events, peer_group and sensitive (`detection.features.UserDays`).
    ips: pd.DataFrame
    resources: pd.DataFrame
    # Users -> share of each one's past activity per UTC hour of day (24 values), for
    # "unusual hour"; a user without history is left out.
    hour_profiles: Callable[[Collection[str]], Mapping[str, np.ndarray]] = field(
        default=lambda _users: {}
    )
    time_zone: str = "UTC"
    work_start_hour: int = 8
    work_end_hour: int = 19

    def window_rows(self) -> pd.DataFrame:
        days = self.features["day"]
        return self.features.loc[(days >= self.start_day) & (days <= self.end_day)]


@dataclass(frozen=True)
class Rule:
    """A rule file parsed: metadata plus the kind's validated parameters."""

    id: str
    title: str
    severity: str
    description: str
    kind: str
    parameters: Any  # the kind's parameter model
    source: str
    enabled: bool = True
