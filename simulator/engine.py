"""The simulation loop: plan the organisation, then generate one local day at a time for
everybody and stream out every UTC day as soon as no later local day can add to it.

Memory stays bounded by about two days of events however long the simulation runs. Ids are
given in output (time) order, so the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from simulator import network, oddities, scenarios
from simulator.activity import Activity
from simulator.clock import DAY_MS, HMS, HOUR_MS, Clock
from simulator.labels import Benign, Label, labels_document
from simulator.people import Person, build_roster
from simulator.queries import SourceInfo
from simulator.sources import SOURCES
from simulator.tables import SOURCE_BITS, weighted_table

DEFAULT_START = date(2024, 11, 4)
_first = itemgetter(0)
# A pending event: (ms, head, ident, resource, details, tail, label or None), see wire.py.
Pending = tuple[Any, ...]
LabelHit = Callable[[Any, str, int], None]


def _add_to_label(label: Label, event_id: str, ms: int) -> None:
    label.add(event_id, ms)


# "HH:MM:SS." for every second of a day and "mmm" for every millisecond: table lookups
# instead of number formatting for each of millions of timestamps.
TIME_OF_SECOND = [text + "." for text in HMS]
MILLIS = [f"{milli:03d}" for milli in range(1000)]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. `scenarios` maps scenario name -> count (None: each once)."""

    organization_id: str
    users: int
    days: int
    seed: int = 0
    start: date = DEFAULT_START
    scenarios: Mapping[str, int] | None = None
    oddities: bool = True
    domain: str = "company.com"
    # The shape of the organisation (see simulator.worlds); None keeps the default one.
    resource_ids: Mapping[str, str] | None = None  # source name -> the id events carry
    headcount: Mapping[str, float] | None = None  # role name -> relative share
    locations: tuple[str, ...] | None = None  # where everybody works, whatever the role


class Simulation:
    """A planned organisation; iterate `chunks()` once to get its events in time order."""

    def __init__(self, config: SimulationConfig) -> None:
        if config.users < 1:
            raise ValueError("users must be at least 1")
        if config.days < 1:
            raise ValueError("days must be at least 1")
        self.config = config
        self.org = config.organization_id
        self.clock = Clock(config.start, config.days)
        self.days = config.days
        self.plan_rng = random.Random(config.seed)
        self.roster: list[Person] = build_roster(
            self.plan_rng,
            config.users,
            config.domain,
            headcount=config.headcount,
            locations=config.locations,
        )
        self.activity = Activity(
            self.org,
            self.clock,
            random.Random(config.seed * 7919 + 1),
            config.domain,
            config.resource_ids,
        )
        self.r = self.activity.r
        self.activity.members = [p for p in self.roster if p.role.platform_role != "admin"]
        self.kinds: dict[str, tuple[str, ...]] = {}
        self.source_tables: dict[str, tuple[SourceInfo, ...]] = {}
        for p in self.roster:
            role = p.role
            if role.name not in self.kinds:
                self.kinds[role.name] = weighted_table(role.actions)
                names = weighted_table(role.sources, 1 << SOURCE_BITS)
                self.source_tables[role.name] = tuple(self.activity.sources[n] for n in names)
        self.labels: list[Label] = []
        self.benign: list[Benign] = []
        self.hooks: dict[int, list[Callable[[int], None]]] = {}
        # (person index, day) -> (country, city, ip) while travelling.
        self.travel: dict[tuple[int, int], tuple[str, str, str]] = {}
        self.reserved: set[int] = set()  # people already given an oddity or a scenario
        digest = hashlib.blake2b(f"{self.org}:{config.seed}".encode(), digest_size=4).hexdigest()
        self.id_prefix = f"audit_{digest}_"
        self.events = 0
        self._held: list[Pending] = []  # simulated, not yet rendered (take_ready)
        oddities.plan_routine(self)
        # Scenarios first: the oddities then keep away from the people they reserved, so a
        # benign context never overlaps a planted one.
        scenarios.plan(self, scenarios.resolve_counts(config.scenarios))
        if config.oddities:
            oddities.plan(self)

    # ---------------------------------------------------------------- helpers for planners
    def on_day(self, day: int, hook: Callable[[int], None]) -> None:
        """Run `hook(day)` after everybody's ordinary activity of that local day."""
        if 0 <= day < self.days:
            self.hooks.setdefault(day, []).append(hook)

    @staticmethod
    def is_active(p: Person, day: int) -> bool:
        """False before a new hire's first day and outside a dormant account's active days."""
        if p.hired_day is not None and day < p.hired_day:
            return False
        return p.active_days is None or day in p.active_days

    def local(self, p: Person, day: int, hour: float) -> int:
        """Simulation ms of `hour` (local, may exceed 24) on a local day of the person."""
        offset = self.clock.utc_offset_ms(p.location.time_zone, day)
        return day * DAY_MS - offset + int(hour * HOUR_MS)

    def working_days(self, country: str, first: int = 0, last: int | None = None) -> list[int]:
        last = self.days - 1 if last is None else last
        return [d for d in range(max(0, first), last + 1) if not self.clock.is_day_off(country, d)]

    def people(self, *roles: str, free: bool = True) -> list[Person]:
        return [
            p
            for p in self.roster
            if (not roles or p.role.name in roles) and (not free or p.index not in self.reserved)
        ]

    # ---------------------------------------------------------------- ordinary days
    def user_day(self, p: Person, day: int) -> None:
        """A person's ordinary activity on one of their local days."""
        if not self.is_active(p, day):
            return
        r = self.r
        role = p.role
        loc = p.location
        country, city = loc.country, loc.city
        trip = self.travel.get((p.index, day))
        act = self.activity
        kinds = self.kinds[role.name]
        sources = self.source_tables[role.name]
        if self.clock.is_day_off(country, day) and trip is None:
            if r() < role.weekend_work:
                # Day workers drop in during the day; a night shift keeps its nights.
                hour = 10 + r() * 10 if role.start_hour < 20 else role.start_hour + r() * 4
                start = self.local(p, day, hour)
                act.session(
                    p,
                    start,
                    2 + int(r() * 6),
                    p.home_ip,
                    p.browsers[0],
                    kinds,
                    sources,
                    country=country,
                    city=city,
                )
            return
        if r() < 0.04:  # sick day or leave
            return
        ramp = 1.0 if p.hired_day is None else min(1.0, 0.25 + 0.075 * (day - p.hired_day))
        if trip is not None:
            country, city, ip = trip
        elif p.office_ip is None or r() < role.remote:
            ip = p.home_ip if r() < 0.7 else network.VPN_IPS[p.index % len(network.VPN_IPS)]
        else:
            ip = p.office_ip
        lo, hi = role.sessions
        n_sessions = lo + int(r() * (hi - lo + 1))
        day_start = self.local(p, day, role.start_hour + (r() - 0.5) * 1.5)
        slot = role.day_hours * HOUR_MS / n_sessions
        a_lo, a_hi = role.actions_per_session
        for i in range(n_sessions):
            ua = p.browsers[0] if len(p.browsers) == 1 or r() < 0.8 else p.browsers[1]
            if p.uses_cli and r() < 0.25:
                ua = network.CLI_AGENTS[p.index % 2]
            start = day_start + int(i * slot + r() * slot * 0.4)
            n = max(1, int((a_lo + int(r() * (a_hi - a_lo + 1))) * ramp))
            act.session(p, start, n, ip, ua, kinds, sources, country=country, city=city)
        if p.api_key_id is not None:
            act.automation(p, day_start + HOUR_MS, 6 + int(r() * 20))

    # ---------------------------------------------------------------- the stream
    def chunks(self) -> Iterator[list[str]]:
        """Wire-format JSON lines (each ending in a newline), one list per UTC day."""
        for ready in self.ready_batches():
            yield self.render(ready, _add_to_label)

    def day_batches(self) -> Iterator[tuple[int | None, list[Pending]]]:
        """Simulate one local day at a time: (upto, that day's new events, unsorted). Every
        event still to come is at or after `upto` (None at the end: nothing is to come)."""
        act = self.activity
        for day in range(self.days):
            for p in self.roster:
                self.user_day(p, day)
            for hook in self.hooks.get(day, ()):
                hook(day)
            act.forget_ranges()
            new, act.pending = act.pending, []
            # Local day `day` starts at the earliest at UTC day-1 10:00 (UTC+14), so every
            # later local day only adds events from UTC day `day` on: day-1 is complete.
            yield (day * DAY_MS - 14 * HOUR_MS if day else 0), new
        yield None, []

    def ready_batches(self) -> Iterator[list[Pending]]:
        """The events in time order, in batches that no later event can precede: `render`
        gives them their ids and text. Simulating (`day_batches`) and ordering plus
        rendering (`take_ready`, `render`) are separate so that a second process can do the
        latter while this one simulates the next day (see `writer.write_jsonl`)."""
        for upto, new in self.day_batches():
            ready = self.take_ready(new, upto)
            if ready:
                yield ready

    def take_ready(self, new: list[Pending], upto: int | None) -> list[Pending]:
        """Add `new` to the held events, sort them and take those before `upto` (None:
        all)."""
        held = self._held
        held.extend(new)
        held.sort(key=_first)
        if upto is None:
            ready, self._held = held, []
        else:
            cut = bisect_left(held, upto, key=_first)
            ready, self._held = held[:cut], held[cut:]
        # Drop what falls outside the simulated window (time zones spill over its edges):
        # `ready` is sorted, so both ends are one bisection each.
        return ready[
            bisect_left(ready, 0, key=_first) : bisect_left(ready, self.days * DAY_MS, key=_first)
        ]

    def render(self, ready: list[Pending], on_label: LabelHit) -> list[str]:
        """Give `ready` (sorted, from `ready_batches`) the next ids and render it as lines;
        `on_label(label, id, ms)` is called for every labelled event."""
        prefix = self.id_prefix
        n = self.events
        out: list[str] = []
        append = out.append
        i, total = 0, len(ready)
        while i < total:
            # One UTC day at a time, so the date text is looked up once per day.
            day = ready[i][0] // DAY_MS
            day_start = day * DAY_MS
            j = bisect_left(ready, day_start + DAY_MS, lo=i, key=_first)
            stamp = '","timestamp":"' + self.clock.prefix(day)
            for ms, head, ident, res, details, tail, label in ready[i:j]:
                n += 1
                second, milli = divmod(ms - day_start, 1000)
                append(
                    f'{{"id":"{prefix}{n:010d}{stamp}{TIME_OF_SECOND[second]}{MILLIS[milli]}Z",'
                    f'{head}{ident}{res}"details":{details},{tail}\n'
                )
                if label is not None:
                    on_label(label, f"{prefix}{n:010d}", ms)
            i = j
        self.events = n
        return out

    # ---------------------------------------------------------------- ground truth
    def labels_document(self) -> dict[str, Any]:
        """The labels file's content; complete once `chunks()` has been consumed."""
        end = self.days * DAY_MS - 1

        def iso(ms: int | None) -> str | None:
            return None if ms is None else self.clock.iso(min(max(ms, 0), end))

        hired = {
            p.index: self.clock.date_of(p.hired_day).isoformat()
            for p in self.roster
            if p.hired_day is not None
        }
        return labels_document(
            organization_id=self.org,
            seed=self.config.seed,
            start=self.config.start.isoformat(),
            days=self.days,
            events=self.events,
            roster=[p.roster_entry(hired.get(p.index)) for p in self.roster],
            sources=[
                {
                    "name": s.name,
                    "resource_id": self.activity.sources[s.name].rid,
                    "sensitivity": s.sensitivity,
                    "tags": list(s.tags),
                }
                for s in SOURCES
            ],
            labels=self.labels,
            benign=self.benign,
            iso=iso,
        )
