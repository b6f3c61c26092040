"""The `search` kind: an Explore query (a saved search) and a condition over its matches.

"any" fires on every match; "count" when more than `threshold` matches (of anyone) fall
within `window_minutes`; "per_user" when one user has more than `threshold` within them. A
match's window looks back before the detection window, so whether an event fires does not
depend on where a run starts: a dry run and the live runs over the same days agree. Hits are
per user and UTC day, like every kind's; matches without a user are counted but name no one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from detection.events import TooManyMatches
from detection.rules.kinds.matching import Strict, detection_window
from detection.rules.schema import Rule, RuleContext, RuleError, RuleHit
from sql.event_filter import EventFilter, QuerySyntaxError

# The most matches one alert reads per run: past this, narrow the search.
MAX_MATCHES = 200_000
_SECOND = timedelta(seconds=1)


class SearchParams(Strict):
    query: str
    condition: Literal["any", "count", "per_user"] = "any"
    threshold: int = Field(default=0, ge=0, le=1_000_000)
    window_minutes: int = Field(default=60, ge=1, le=43_200)
    name: str = ""  # the saved search's name, for the reasons

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parsed = EventFilter.parse(value)
        except QuerySyntaxError as exc:
            raise ValueError(str(exc)) from None
        if parsed.own_use:
            # Detection reads the organisation's behaviour; the meta-audit is for admins and
            # auditors, and a finding would show it to every analyst.
            raise ValueError("a rule reads the organisation's events, not stream:auditlens")
        return value

    @model_validator(mode="after")
    def _any_has_no_threshold(self) -> SearchParams:
        if self.condition == "any" and self.threshold != 0:
            raise ValueError("an 'any' search fires on every match: threshold must be 0")
        return self

    @property
    def event_filter(self) -> EventFilter:
        return EventFilter.parse(self.query)

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)


@runtime_checkable
class QueryableEvents(Protocol):
    """An event source that can run Explore's filter (the database's)."""

    def matching(
        self, event_filter: EventFilter, start: datetime, end: datetime, *, cap: int
    ) -> pd.DataFrame: ...


def search(rule: Rule, ctx: RuleContext) -> list[RuleHit]:
    """Hits of a search's condition over the detection window (see the module's docstring)."""
    p: SearchParams = rule.parameters
    if not isinstance(ctx.events, QueryableEvents):
        raise RuleError("the search kind reads its matches from the database", source=rule.source)
    start, end = detection_window(ctx)
    lookback = p.window if p.condition != "any" else timedelta(0)
    try:
        events = ctx.events.matching(p.event_filter, start - lookback, end, cap=MAX_MATCHES)
    except TooManyMatches as exc:
        raise RuleError(f"{exc}: narrow the search", source=rule.source, field="query") from None
    if events.empty:
        return []
    spans, most = _spans(p, events, start)
    hits = []
    for (user, day), span in sorted(spans.items(), key=lambda item: (item[0][1], item[0][0])):
        window = (span.start, span.end + _SECOND)
        hits.append(
            RuleHit(
                rule_id=rule.id,
                severity=rule.severity,
                user_id=user,
                user_email=span.email,
                day=day,
                window_start=window[0],
                window_end=window[1],
                reason=_reason(p, len(span.matches), most.get((user, day), most.get(("", day), 0))),
                evidence_query=_evidence(p, user, *window),
            )
        )
    return hits


@dataclass
class _Span:
    """One user's matches that fired on one UTC day."""

    start: datetime
    end: datetime
    email: str = ""
    matches: set[int] = field(default_factory=set)

    def add(self, index: int, at: datetime, email: str) -> None:
        self.matches.add(index)
        self.start, self.end = min(self.start, at), max(self.end, at)
        self.email = self.email or email


def _spans(
    p: SearchParams, events: pd.DataFrame, start: datetime
) -> tuple[dict[tuple[str, date], _Span], dict[tuple[str, date], int]]:
    """(user, day) -> the user's matches in the windows that fired that day; and the largest
    window count per (user, day) ("per_user") or per ("", day) ("count")."""
    moments = [t.to_pydatetime() for t in events["event_time"]]
    times = events["event_time"].to_numpy(dtype="datetime64[ns]")
    days = [m.date() for m in moments]
    users = ["" if pd.isna(u) else str(u) for u in events["user_id"]]
    emails = ["" if pd.isna(e) else str(e) for e in events["user_email"]]
    inside = (events["event_time"] >= pd.Timestamp(start)).to_numpy()
    if p.condition == "per_user":
        by_user = events.reset_index(drop=True).groupby("user_id", sort=True).indices
        groups = [np.asarray(positions) for positions in by_user.values()]
    else:
        groups = [np.arange(len(events))]
    spans: dict[tuple[str, date], _Span] = {}
    most: dict[tuple[str, date], int] = {}
    for rows in groups:
        if p.condition == "any":
            counts, first = np.ones(len(rows), dtype=int), np.arange(len(rows))
        else:
            counts, first = _window_counts(times[rows], p.window)
        fires = inside[rows] & (counts > p.threshold)
        added: dict[date, int] = {}  # each match joins a day's spans once
        for k in np.flatnonzero(fires):
            day = days[rows[k]]
            owner = users[rows[k]] if p.condition == "per_user" else ""
            most[(owner, day)] = max(most.get((owner, day), 0), int(counts[k]))
            for position in range(max(int(first[k]), added.get(day, -1) + 1), int(k) + 1):
                member = int(rows[position])
                if not users[member]:
                    continue  # counted, but a finding names a user
                span = spans.setdefault(
                    (users[member], day), _Span(moments[member], moments[member])
                )
                span.add(member, moments[member], emails[member])
            added[day] = int(k)
    return spans, most


def _window_counts(times: np.ndarray, window: timedelta) -> tuple[np.ndarray, np.ndarray]:
    """For each event (sorted by time): how many events fall in (t - window, t], and the
    position of the first of them."""
    first = np.searchsorted(times, times - np.timedelta64(window), side="right")
    return np.arange(len(times)) - first + 1, first


def _reason(p: SearchParams, matches: int, most: int) -> str:
    named = f" of saved search {p.name!r}" if p.name else ""
    if p.condition == "any":
        return f"{matches} match(es){named}"
    if p.condition == "per_user":
        return (
            f"{most} matches{named} by this user within {p.window_minutes} minutes"
            f" (more than {p.threshold})"
        )
    return (
        f"{most} matches{named} within {p.window_minutes} minutes across the organisation"
        f" (more than {p.threshold}), {matches} of them this user's"
    )


def _evidence(p: SearchParams, user_id: str, start: datetime, end: datetime) -> str:
    """The user's matches in [start, end): the search narrowed to them and that time."""
    base = p.event_filter
    lower = start if base.start is None else max(base.start, start)
    upper = end if base.end is None else min(base.end, end)
    return base.with_values(users=(user_id,), start=lower, end=upper).to_query()
