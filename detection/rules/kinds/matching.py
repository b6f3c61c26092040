"""What the kinds share: which events a side of a rule means, and the checks on parameters."""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from detection.events import Slice, field_value, records
from detection.evidence import day_bounds
from detection.features import FEATURE_COLUMNS
from detection.rules.schema import RuleContext
from sql.vocabulary import EVENT_COLUMNS

# The event fields a rule may match: every stored text column but the organisation (a rule
# runs within one), the id and the time (rules bound time by window), and the details (read
# through `details.<key>`).
_EVENT_COLUMNS = frozenset(EVENT_COLUMNS) - {"organization_id", "id", "event_time", "details"}
Operator = Literal[">", ">=", "<", "<=", "==", "!="]
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """'7d', '12h', '30m' or '45s' as a timedelta."""
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"must be a duration like 7d, 12h or 30m, got: {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def check_field(path: str) -> str:
    """`path` if a rule may match on it (an event column or details.<key>), else ValueError."""
    if path in _EVENT_COLUMNS or (path.startswith("details.") and len(path) > len("details.")):
        return path
    raise ValueError(f"unknown event field {path!r} (an event column or details.<key>)")


def check_feature(name: str) -> str:
    """`name` if it is a user-day feature column, else ValueError listing the known ones."""
    if name not in FEATURE_COLUMNS:
        raise ValueError(f"unknown feature {name!r}; known: {', '.join(FEATURE_COLUMNS)}")
    return name


def detection_window(ctx: RuleContext) -> tuple[datetime, datetime]:
    """[start, end) of the days being detected."""
    return day_bounds(ctx.start_day)[0], day_bounds(ctx.end_day)[1]


class Strict(BaseModel):
    """A parameter model: unknown parameters are errors and a parsed rule never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(Strict):
    """`left op right` between two event fields (or a field and a number)."""

    left: str
    op: Operator
    right: str | float

    @field_validator("left")
    @classmethod
    def _left(cls, value: str) -> str:
        return check_field(value)

    @field_validator("right")
    @classmethod
    def _right(cls, value: str | float) -> str | float:
        return check_field(value) if isinstance(value, str) else value

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether one event meets it; a missing or non-numeric side never does."""
        left = field_value(record, self.left)
        right = field_value(record, self.right) if isinstance(self.right, str) else self.right
        try:
            return bool(OPERATORS[self.op](float(left), float(right)))
        except (TypeError, ValueError):
            return False


class EventMatch(Strict):
    """Which events a side of an event rule means."""

    family: str
    actions: list[str] = Field(default_factory=list)
    where: dict[str, list[str]] = Field(default_factory=dict)  # field -> glob values (any)
    regex: dict[str, str] = Field(default_factory=dict)  # field -> regular expression (search)
    compare: list[Comparison] = Field(default_factory=list)
    sensitive: bool = False  # only events on sources tagged sensitive
    query_contains: str | None = None  # literal prefilter on details.query, run in SQL

    @field_validator("where", "regex")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            check_field(key)
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{key}: invalid regular expression {pattern!r}: {exc}") from exc
        return value

    def slice(
        self,
        context: RuleContext,
        start: datetime,
        end: datetime,
        *,
        only: Mapping[str, Collection[str]] | None = None,
    ) -> Slice:
        """The events to fetch; `only` narrows `user_id` or `resource_id` to some values
        (a sequence's `then` side to what its `first` events link to)."""
        only = only or {}
        resources: tuple[str, ...] | None = None
        if self.sensitive:
            # Possibly empty: an organisation with nothing sensitive matches nothing here.
            known = context.resources["resource_id"].dropna().unique()
            resources = tuple(sorted(r for r in known if context.sensitivity.is_sensitive(r)))
        if "resource_id" in only:
            wanted = set(only["resource_id"])
            resources = tuple(sorted(wanted if resources is None else wanted & set(resources)))
        users = tuple(sorted(set(only["user_id"]))) if "user_id" in only else None
        return Slice(
            family=self.family,
            start=start,
            end=end,
            actions=tuple(self.actions),
            resource_ids=resources,
            user_ids=users,
            query_contains=self.query_contains,
        )

    def filter(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events of a slice that meet `where`, `regex` and `compare`."""
        if events.empty:
            return events
        keep = np.ones(len(events), dtype=bool)
        rows = records(events)
        for path, globs in self.where.items():
            patterns = [re.compile(fnmatch.translate(g), re.IGNORECASE) for g in globs]
            values = [field_value(r, path) for r in rows]
            keep &= [v is not None and any(p.match(str(v)) for p in patterns) for v in values]
        for path, pattern in self.regex.items():
            compiled = re.compile(pattern)
            values = [field_value(r, path) for r in rows]
            keep &= [v is not None and bool(compiled.search(str(v))) for v in values]
        for comparison in self.compare:
            keep &= [comparison.holds(r) for r in rows]
        return events.loc[keep]

    def events(
        self,
        context: RuleContext,
        start: datetime,
        end: datetime,
        *,
        only: Mapping[str, Collection[str]] | None = None,
    ) -> pd.DataFrame:
        """The matching events in [start, end): the slice fetched, then filtered here."""
        return self.filter(context.events.fetch(self.slice(context, start, end, only=only)))
