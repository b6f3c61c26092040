"""What a resource's id says about it: the name patterns behind suggested sensitivity levels.

An id is split into words at every non-letter-or-digit, at lower-to-upper case changes, at the
end of an acronym and between letters and digits (`source_payment_logs`, `payment-logs`,
`HR-Events`, `customerData`, `SSNRecords`, `payroll2024` all give their words), and a
pattern matches whole words only, so `hr` finds `hr-events` but not `chrome-logs`, and
`card` finds `card-tokens` but not `discard-queue`. A trailing `s` is ignored (`payments`,
`secrets`). This is the only place that reads meaning into names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (words that must follow each other in the id, level, tags). Most sensitive first: the first
# pattern that matches sets the level; the tags of every matching pattern are kept.
NAME_PATTERNS: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = (
    (("payment",), "restricted", ("pci", "financial")),
    (("card",), "restricted", ("pci", "financial")),
    (("cardholder",), "restricted", ("pci", "financial")),
    (("pci",), "restricted", ("pci",)),
    (("customer",), "restricted", ("pii", "customer")),
    (("pii",), "restricted", ("pii",)),
    (("ssn",), "restricted", ("pii",)),
    (("hr",), "restricted", ("hr", "pii")),
    (("salary",), "restricted", ("hr", "financial")),
    (("salarie",), "restricted", ("hr", "financial")),
    (("payroll",), "restricted", ("hr", "financial")),
    (("employee",), "restricted", ("hr", "pii")),
    (("secret",), "restricted", ("credentials",)),
    (("credential",), "restricted", ("credentials",)),
    (("password",), "restricted", ("credentials",)),
    (("token",), "restricted", ("credentials",)),
    (("api", "key"), "restricted", ("credentials",)),
    (("private", "key"), "restricted", ("credentials",)),
    (("ssh", "key"), "restricted", ("credentials",)),
    (("signing", "key"), "restricted", ("credentials",)),
    (("billing",), "confidential", ("financial",)),
    (("invoice",), "confidential", ("financial",)),
    (("finance",), "confidential", ("financial",)),
    (("financial",), "confidential", ("financial",)),
    (("auth",), "confidential", ("security",)),
    (("security",), "confidential", ("security",)),
)

# Word breaks inside a run of letters and digits: lower to upper case (`customerData`), the end
# of an acronym (`SSNRecords`, `PIIExport`; `PIIs` stays one word), and letters to digits or
# back (`payroll2024`, `hr2023`): ids glue years and acronyms to the words that matter.
_CASE_CHANGE = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])"
)
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")
# Each pattern word is, lower-cased, a substring of every id it matches (splitting and the
# dropped trailing `s` only cut an id), so an id holding none of them suggests nothing: one
# search decides that for most ids (detection asks about every resource, tens of thousands).
_ANY_PATTERN_WORD = re.compile(
    "|".join(sorted({re.escape(w) for r, _, _ in NAME_PATTERNS for w in r}))
)


def name_words(resource_id: str) -> tuple[str, ...]:
    """The lower-case words of an id, a trailing `s` dropped (`HR-Events` -> ('hr', 'event'))."""
    words = _NOT_WORD.split(_CASE_CHANGE.sub(" ", resource_id))
    return tuple(_singular(w.lower()) for w in words if w)


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _contains(words: tuple[str, ...], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(words[i : i + n] == run for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class NameSuggestion:
    """The level and tags an id's words suggest, and the words that said so."""

    level: str
    tags: tuple[str, ...]
    matched: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "its name contains " + ", ".join(f'"{w}"' for w in self.matched)


def suggest_from_name(resource_id: str) -> NameSuggestion | None:
    """The level and tags `resource_id`'s words suggest, or None when they suggest nothing."""
    if not isinstance(resource_id, str) or not _ANY_PATTERN_WORD.search(resource_id.lower()):
        return None
    words = name_words(resource_id)
    level: str | None = None
    tags: list[str] = []
    matched: list[str] = []
    for run, run_level, run_tags in NAME_PATTERNS:
        if _contains(words, run):
            level = level or run_level
            tags.extend(t for t in run_tags if t not in tags)
            matched.append(" ".join(run))
    if level is None:
        return None
    return NameSuggestion(level, tuple(tags), tuple(matched))
