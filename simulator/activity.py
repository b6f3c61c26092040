"""Turning habits into events: sessions of several actions, scripts with an API key, and the
building blocks planners use to emit their own events (ids, ident and time-range fragments).

What each action renders is in `actions.py`; the event tuples are described in `wire.py`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import orjson

from simulator import network
from simulator.actions import HANDLERS
from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS, Clock
from simulator.labels import Label
from simulator.people import Person
from simulator.queries import SourceInfo
from simulator.sources import SOURCES
from simulator.tables import SOURCE_BITS, weighted_table
from simulator.wire import HEAD, RawEvent

# The time ranges a UI offers, picked for search and view details (see `time_range`).
SPANS_MS = (15 * MINUTE_MS, HOUR_MS, 4 * HOUR_MS, DAY_MS, 7 * DAY_MS)
SPANS_MIN = tuple(span // MINUTE_MS for span in SPANS_MS)


class Activity:
    """Emits events into `pending` (the engine's not-yet-written buffer)."""

    def __init__(
        self,
        org: str,
        clock: Clock,
        rng: random.Random,
        domain: str,
        resource_ids: Mapping[str, str] | None = None,
    ) -> None:
        self.org = org
        self.clock = clock
        self.rng = rng
        self.r = rng.random
        self.bits = rng.getrandbits
        self._ranges: dict[int, str] = {}  # (minute, span) -> time range JSON, per day
        self._minutes: dict[int, str] = {}  # minute -> its ISO text
        self.domain = domain
        self.pending: list[RawEvent] = []
        # Source name -> the id events carry (the organisation's own naming convention).
        ids = resource_ids or {}
        self.sources = {s.name: SourceInfo(s, rng, ids.get(s.name)) for s in SOURCES}
        self._sessions = 0
        self._objects = 0
        self.org_json = orjson.dumps(org).decode()
        self.members: list[Person] = []  # set by the engine: targets of benign role changes

    # ---------------------------------------------------------------- building blocks
    def source_table(self, names: tuple[str, ...]) -> tuple[SourceInfo, ...]:
        """A 128-entry table drawing the named sources uniformly (for `session`)."""
        table = weighted_table(tuple((n, 1.0) for n in names), 1 << SOURCE_BITS)
        return tuple(self.sources[n] for n in table)

    def new_session_id(self) -> str:
        self._sessions += 1
        return f"sess_{self._sessions:08x}"

    def new_object_id(self, prefix: str) -> str:
        self._objects += 1
        return f"{prefix}_{self._objects:06x}"

    def ident(self, p: Person, ip: str, ua: str) -> str:
        """The user/organisation/IP/user-agent fragment, cached per person and pair."""
        key = (ip, ua)
        text = p.idents.get(key)
        if text is None:
            text = p.idents[key] = (
                f'"user_id":"{p.user_id}","user_email":"{p.email}",'
                f'"organization_id":{self.org_json},"ip_address":"{ip}",'
                f'"user_agent":{orjson.dumps(ua).decode()},'
            )
        return text

    @staticmethod
    def tail(session_id: str | None) -> str:
        return f'"session_id":"{session_id}"}}' if session_id else '"session_id":null}'

    def time_range(self, ms: int, pick: int | None = None) -> str:
        """A UI-style time range ending at the event's minute (15 min .. 7 days)."""
        span = (self.bits(3) if pick is None else pick) % 5
        minute = ms // MINUTE_MS
        key = minute * 8 + span
        text = self._ranges.get(key)
        if text is None:
            # Most events fall in a minute no earlier event used with the same span, so the
            # ISO text of each minute is what is worth caching (both ends come from it).
            texts = self._minutes
            end = texts.get(minute) or self._minute_text(minute)
            first = minute - SPANS_MIN[span]
            start = texts.get(first) or self._minute_text(first)
            text = self._ranges[key] = f'{{"start":"{start}","end":"{end}"}}'
        return text

    def _minute_text(self, minute: int) -> str:
        text = self._minutes[minute] = self.clock.iso_minute(minute * MINUTE_MS)
        return text

    def forget_ranges(self) -> None:
        """Keep the caches bounded (called once per simulated day)."""
        if len(self._ranges) > 200_000:
            self._ranges.clear()
        if len(self._minutes) > 40_000:  # about 4 weeks of minutes: a 7-day span fits
            self._minutes.clear()

    def emit(
        self,
        ms: int,
        action: str,
        ident: str,
        res: str,
        details: dict[str, Any],
        tail: str,
        label: Label | None = None,
    ) -> None:
        """The slow path for rare events: details from a dict."""
        self.pending.append(
            (ms, HEAD[action], ident, res, orjson.dumps(details).decode(), tail, label)
        )

    def login_details(self, country: str, city: str, method: str = "sso") -> str:
        return orjson.dumps(
            {"method": method, "mfa": True, "geo": {"country": country, "city": city}}
        ).decode()

    # ---------------------------------------------------------------- sessions
    def session(
        self,
        p: Person,
        start_ms: int,
        actions: int,
        ip: str,
        ua: str,
        kinds: tuple[str, ...],
        sources: tuple[SourceInfo, ...],
        *,
        country: str,
        city: str,
        label: Label | None = None,
        login: bool = True,
    ) -> int:
        """One sign-in, `actions` actions drawn from the tables, maybe a sign-out; returns
        the time of the last event."""
        r = self.r
        sid = self.new_session_id()
        ident = self.ident(p, ip, ua)
        tail = f'"session_id":"{sid}"}}'
        app = self.pending.append
        handlers = HANDLERS
        ms = start_ms
        if login:
            user_res = f'"resource_type":"user","resource_id":"{p.user_id}",'
            details = self.login_details(country, city)
            if r() < 0.03:
                app(
                    (
                        ms,
                        HEAD["login_failed"],
                        ident,
                        user_res,
                        '{"reason":"invalid_password","method":"password"}',
                        tail,
                        label,
                    )
                )
                ms += 9_000 + int(r() * 30_000)
            app((ms, HEAD["login"], ident, user_res, details, tail, label))
        bits = self.bits
        kmask, smask = len(kinds) - 1, len(sources) - 1
        # The masks below need power-of-two tables (see weighted_table / source_table).
        if (kmask + 1) & kmask or (smask + 1) & smask:
            raise ValueError(f"tables of {kmask + 1} and {smask + 1} entries: need powers of 2")
        for _ in range(actions):
            # One 32-bit draw: 12 bits pick the action, 7 the source, 13 the pause (3 s to
            # ~4.5 min, most of them short).
            b = bits(32)
            ms += 3_000 + ((b >> 19) & 127) * ((b >> 26) & 63) * 32
            head, res, det = handlers[kinds[b & kmask]](
                self, p, ms, sources[(b >> 12) & smask], ident, tail
            )
            app((ms, head, ident, res, det, tail, label))
        if login and r() < 0.7:
            ms += 5_000 + int(r() * 60_000)
            app(
                (
                    ms,
                    HEAD["logout"],
                    ident,
                    f'"resource_type":"user","resource_id":"{p.user_id}",',
                    "{}",
                    tail,
                    label,
                )
            )
        return ms

    def automation(self, p: Person, start_ms: int, calls: int, label: Label | None = None) -> None:
        """A script with the person's API key on a CI runner: api_call events, no session."""
        r = self.r
        ua = network.API_AGENTS[p.index % len(network.API_AGENTS)]
        ident = self.ident(p, p.ci_ip, ua)
        tail = '"session_id":null}'
        app = self.pending.append
        ms = start_ms
        for _ in range(calls):
            ms += 20_000 + int(r() * 600_000)
            path = "/api/v1/logs/search" if r() < 0.7 else "/api/v1/alerts"
            method = "POST" if path.endswith("search") else "GET"
            app(
                (
                    ms,
                    HEAD[method],
                    ident,
                    f'"resource_type":"api_endpoint","resource_id":"{path}",',
                    f'{{"method":"{method}","path":"{path}","query":{{}},"status_code":200,'
                    f'"api_key_id":"{p.api_key_id}"}}',
                    tail,
                    label,
                )
            )
