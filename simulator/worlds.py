"""Differently shaped organisations for evaluating detection: naming conventions for
resources, sizes, time-zone spreads (never declared to AuditLens), shift and on-call
workers, service accounts and teams that export every day as their job.

Each world declares which of its resources hold sensitive data (`sensitive_resource_ids`),
as an organisation would in its resource catalogue. The world named `holdout` is evaluated
only after tuning, never while rules or thresholds are chosen: keep it that way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from simulator.engine import SimulationConfig
from simulator.scenarios import REQUEST_SCENARIOS, SCENARIOS
from simulator.sources import SOURCES


def _kebab(name: str) -> str:
    return name  # payment-logs


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))  # PaymentLogs


def _coded(name: str) -> str:
    number = [s.name for s in SOURCES].index(name) + 1
    return f"src_{name[:3]}_{number:02d}"  # src_pay_09


def _dotted(name: str) -> str:
    return "logs." + ".".join(reversed(name.split("-")))  # logs.logs.payment


ID_CONVENTIONS: dict[str, Callable[[str], str]] = {
    "kebab": _kebab,
    "pascal": _pascal,
    "coded": _coded,
    "dotted": _dotted,
}

_DEFAULT_HEADCOUNT = {
    "sre": 14,
    "developer": 34,
    "support": 20,
    "security": 6,
    "compliance": 6,
    "admin": 4,
    "contractor": 8,
}
_GLOBAL = (
    "london",
    "new-york",
    "berlin",
    "bangalore",
    "san-francisco",
    "sydney",
    "tokyo",
    "mexico-city",
    "remote-cape-town",
    "remote-honolulu",
    "remote-manila",
)


@dataclass(frozen=True)
class World:
    """One organisation's shape; `config()` gives the simulation of it."""

    name: str
    users: int
    days: int
    seed: int
    ids: str  # a key of ID_CONVENTIONS
    headcount: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_HEADCOUNT))
    locations: tuple[str, ...] | None = None  # None: each role's own offices
    scenarios: Mapping[str, int] = field(default_factory=dict)
    start: date = date(2024, 10, 7)

    @property
    def org(self) -> str:
        return "org_" + re.sub(r"[^a-z0-9_]", "_", self.name)

    def resource_ids(self) -> dict[str, str]:
        convention = ID_CONVENTIONS[self.ids]
        return {s.name: convention(s.name) for s in SOURCES}

    @property
    def sensitive_resource_ids(self) -> frozenset[str]:
        """What the organisation declares sensitive: its restricted sources."""
        ids = self.resource_ids()
        return frozenset(ids[s.name] for s in SOURCES if s.sensitivity == "restricted")

    def config(self, *, users: int | None = None, org: str | None = None) -> SimulationConfig:
        return SimulationConfig(
            org or self.org,
            users=users or self.users,
            days=self.days,
            seed=self.seed,
            start=self.start,
            scenarios=dict(self.scenarios),
            resource_ids=self.resource_ids(),
            headcount=dict(self.headcount),
            locations=self.locations,
        )


def _counts(request: int, others: int) -> dict[str, int]:
    return {
        name: request if name in REQUEST_SCENARIOS else others
        for name in SCENARIOS
        if (request if name in REQUEST_SCENARIOS else others) > 0
    }


WORLDS: dict[str, World] = {
    w.name: w
    for w in (
        # The organisation: kebab-case ids, 120 people, a quarter, a finance team
        # exporting daily, a night shift in support, a few service accounts.
        World(
            "payments",
            users=120,
            days=90,
            seed=11,
            ids="kebab",
            headcount={
                **_DEFAULT_HEADCOUNT,
                "finance_ops": 6,
                "night_support": 6,
                "service": 3,
            },
            scenarios=_counts(2, 1),
        ),
        # A 20-person start-up spread over the world's time zones, PascalCase ids.
        World(
            "startup",
            users=20,
            days=75,
            seed=23,
            ids="pascal",
            headcount={"sre": 4, "developer": 10, "support": 4, "admin": 1, "service": 1},
            locations=_GLOBAL,
            scenarios={**_counts(1, 0), "dormant_account": 1},
        ),
        # A larger, global organisation with coded ids and many shift and service workers.
        World(
            "enterprise",
            users=400,
            days=45,
            seed=37,
            ids="coded",
            headcount={
                **_DEFAULT_HEADCOUNT,
                "finance_ops": 8,
                "night_support": 10,
                "service": 6,
            },
            locations=_GLOBAL,
            scenarios=_counts(2, 1),
        ),
        # Held out: never run while tuning (see the module docstring).
        World(
            "holdout",
            users=200,
            days=70,
            seed=90_417,
            ids="dotted",
            headcount={
                "sre": 10,
                "developer": 25,
                "support": 18,
                "security": 5,
                "compliance": 8,
                "admin": 3,
                "contractor": 12,
                "finance_ops": 10,
                "night_support": 8,
                "service": 5,
            },
            locations=_GLOBAL[2:],
            scenarios=_counts(2, 1),
            start=date(2025, 1, 6),
        ),
    )
}
TUNING_WORLDS: tuple[str, ...] = ("payments", "startup", "enterprise")
