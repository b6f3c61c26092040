"""The registry of rule kinds: a rule file names its kind by key, as pySigma looks up its
transformations by name. The kinds never import the registry; the registry looks them up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from detection.rules.kinds.events import OffHoursParams, PatternParams, off_hours, pattern
from detection.rules.kinds.features import (
    FirstSeenParams,
    RatioParams,
    ThresholdParams,
    first_seen,
    ratio_to_baseline,
    threshold,
)
from detection.rules.kinds.search import SearchParams, search
from detection.rules.kinds.sequences import AbsenceParams, SequenceParams, absence, sequence
from detection.rules.schema import Rule, RuleContext, RuleHit


@dataclass(frozen=True)
class Kind:
    """A rule kind: how its parameters are validated and how it is evaluated."""

    parameters: type[BaseModel]
    evaluate: Callable[[Rule, RuleContext], list[RuleHit]]
    reads_events: bool
    # False: its hits keep the severity a person chose (benign verdicts still suppress them);
    # the organisation's prevalence and routine do not demote them.
    calibrated: bool = True


class KindRegistry(Mapping[str, Kind]):
    """Kind name -> kind; a name registered twice is an error, never a silent replacement."""

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}

    def register(self, name: str, kind: Kind) -> None:
        if name in self._kinds:
            raise ValueError(f"rule kind {name!r} is already registered")
        self._kinds[name] = kind

    def __getitem__(self, name: str) -> Kind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)


KINDS = KindRegistry()
KINDS.register("threshold", Kind(ThresholdParams, threshold, reads_events=False))
KINDS.register("ratio_to_baseline", Kind(RatioParams, ratio_to_baseline, reads_events=False))
KINDS.register("first_seen", Kind(FirstSeenParams, first_seen, reads_events=False))
KINDS.register("off_hours", Kind(OffHoursParams, off_hours, reads_events=True))
KINDS.register("pattern", Kind(PatternParams, pattern, reads_events=True))
KINDS.register("sequence", Kind(SequenceParams, sequence, reads_events=True))
KINDS.register("absence", Kind(AbsenceParams, absence, reads_events=True))
# Saved searches' alerts (stored per organisation, `detection.rules.stored`); a rule file may
# use it too.
KINDS.register("search", Kind(SearchParams, search, reads_events=True, calibrated=False))


def uncalibrated_rules(rules: Iterable[Rule]) -> frozenset[str]:
    """The ids of `rules` whose kind's hits keep their severity (see `Kind.calibrated`)."""
    return frozenset(rule.id for rule in rules if not KINDS[rule.kind].calibrated)


def evaluate_rule(rule: Rule, context: RuleContext) -> list[RuleHit]:
    """The hits of `rule` in `context`, by its kind (the registry looks the rule up, so the
    rule model never imports what processes it)."""
    return KINDS[rule.kind].evaluate(rule, context)
