"""Randomised events and the same aggregations computed straight from them in Python, so the
read model (rollups + raw past the watermark) can be compared with an independent answer."""

from __future__ import annotations

import ipaddress
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from sql.rollup.measures import (
    FAMILIES,
    RECORD_KEYS,
    RESULT_KEYS,
    SEARCH_ACTIONS,
    TOUCHED_KEYS,
    VIEW_ACTIONS,
)
from sql.user_identity import has_user_id, identity_key
from tests.factories import event_row

# (organisation, time zone, work start, work end): a wrapping night shift among them.
ORGS = [
    ("org_utc", "UTC", 8, 19),
    ("org_ny", "America/New_York", 9, 17),
    ("org_kolkata", "Asia/Kolkata", 22, 6),
    ("org_bad_tz", "Not/AZone", 7, 20),
]
FAMILY_ACTIONS = {
    "login": ["login", "logout", "login_failed"],
    "log_access": ["search", "view_logs", "view_entry", "download", "export", "api_access"],
    "config_change": ["update_alert", "disable_alert", "update_retention_policy"],
    "user_management": ["invite_user", "create_api_key", "delete_account"],
    "data_modification": ["delete_logs", "manual_purge", "export_data"],
    "api_call": ["GET", "POST"],
    "custom_family": ["whatever"],
}
# (user_id, user_email) shapes that test the person rule (sql.user_identity): ids that are
# empty or whitespace (Python's notion, an ideographic space too), people known by email
# only, an id that reads like someone's email, an id with a trailing space, a blank email.
ODD_PEOPLE: list[tuple[str | None, str | None]] = [
    ("", None),
    (" ", "solo@a.com"),
    (None, "solo@a.com"),
    ("\u3000\t", None),
    (None, " "),
    ("lookalike@a.com", None),
    (None, "lookalike@a.com"),
    ("", "other@b.com"),
    ("user_1 ", "user_1@a.com"),
]
# The same two rules over raw event rows in SQL, for tests that count with a query: the user
# id as per-user reads group it, and the person distinct users count.
USER_ID_SQL = "CASE WHEN auditlens_has_text(user_id) THEN user_id END"
PERSON_SQL = (
    "CASE WHEN auditlens_has_text(user_id) THEN 'u:' || user_id"
    " WHEN auditlens_has_text(user_email) THEN 'e:' || user_email ELSE 'n' END"
)
START = datetime(2025, 3, 1, tzinfo=UTC)  # includes the US daylight-saving switch (Mar 9)
DAYS = 14


def org_settings() -> dict[str, tuple[str, int, int]]:
    """Each organisation's (time zone, work start, work end), as the reference takes them."""
    return {org: (tz, ws, we) for org, tz, ws, we in ORGS}


ORG_IDS = [o for o, *_ in ORGS] + ["org_no_settings", "org_empty"]
# Aligned and unaligned ranges, inside and beyond the data, one shorter than an hour.
RANGES = [
    (START - timedelta(days=1), START + timedelta(days=DAYS + 1)),
    (START + timedelta(days=2, hours=5, minutes=17), START + timedelta(days=9, minutes=3)),
    (START + timedelta(days=3), START + timedelta(days=4)),
    (START + timedelta(days=5, minutes=10), START + timedelta(days=5, minutes=50)),
    (
        START + timedelta(days=6, hours=23, minutes=59),
        START + timedelta(days=8, hours=0, seconds=1),
    ),
]


def frame_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A read model frame as the reference's rows: Python datetimes, None for NaN/NaT."""
    out = []
    for row in frame.itertuples(index=False):
        values = []
        for v in row:
            if isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            elif (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
                v = None
            values.append(v)
        out.append(tuple(values))
    return out


@dataclass
class Event:
    org: str
    id: str
    time: datetime
    type: str
    action: str
    user_id: str | None
    user_email: str | None
    ip: str | None
    agent: str | None
    rtype: str | None
    rid: str | None
    details: dict[str, Any]

    def row(self) -> tuple[Any, ...]:
        return event_row(
            organization_id=self.org,
            id=self.id,
            event_time=self.time,
            event_type=self.type,
            event_action=self.action,
            user_id=self.user_id,
            user_email=self.user_email,
            ip_address=self.ip,
            user_agent=self.agent,
            resource_type=self.rtype,
            resource_id=self.rid,
            details=self.details,
            session_id=None,
        )

    @property
    def bucket(self) -> datetime:
        return self.time.replace(minute=0, second=0, microsecond=0)

    @property
    def day(self) -> date:
        return self.time.date()


@dataclass
class Generator:
    seed: int
    rng: random.Random = field(init=False)
    count: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def details(self) -> dict[str, Any]:
        r = self.rng
        d: dict[str, Any] = {}
        for key in (*RECORD_KEYS[:3], RESULT_KEYS[0], RESULT_KEYS[1]):
            roll = r.random()
            if roll < 0.15:
                d[key] = r.randint(0, 20_000)
            elif roll < 0.2:
                d[key] = r.choice(["12", -5, 3.7, 1e20, True, None, {"n": 1}])
        return d

    def event(self, org: str, *, day_from: int = 0, day_to: int = DAYS) -> Event:
        r = self.rng
        self.count += 1
        family = r.choice(list(FAMILY_ACTIONS))
        user_n = r.randint(0, 5)
        user = None if user_n == 0 else f"user_{user_n}"
        email = None if user is None or r.random() < 0.1 else f"{user}@{r.choice('ab')}.com"
        if r.random() < 0.15:
            user, email = r.choice(ODD_PEOPLE)
        when = START + timedelta(
            days=r.randint(day_from, day_to - 1),
            hours=r.randint(0, 23),
            minutes=r.randint(0, 59),
            seconds=r.randint(0, 59),
            microseconds=r.choice([0, 123456]),
        )
        has_resource = r.random() < 0.8
        return Event(
            org=org,
            id=f"e{self.seed}_{self.count}",
            time=when,
            type=family,
            action=r.choice(FAMILY_ACTIONS[family]),
            user_id=user,
            user_email=email,
            ip=r.choice([None, "10.0.0.1", "10.0.0.2", "192.168.1.100", "2001:db8::1"]),
            agent=r.choice([None, "Mozilla/5.0", "curl/8.0", "python-requests/2.31"]),
            rtype=r.choice([None, "source", "source", "alert_rule"]) if has_resource else None,
            rid=r.choice(["payment-logs", "auth-logs", "customer-data"]) if has_resource else None,
            details=self.details(),
        )


# -- reference aggregations -------------------------------------------------------------------


def uid(e: Event) -> str | None:
    """The event's user id as per-user reads group it: None when missing or blank."""
    return e.user_id if has_user_id(e.user_id) else None


def person(e: Event) -> str:
    """The event's person (sql.user_identity): what distinct users count."""
    return identity_key(e.user_id, e.user_email)


def _num(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= 1e15:
        return None
    return math.trunc(value)


def _first(details: dict[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        n = _num(details.get(key))
        if n is not None:
            return n
    return None


def off_hours(e: Event, settings: dict[str, tuple[str, int, int]]) -> bool:
    tz, ws, we = settings.get(e.org, ("UTC", 8, 19))
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = e.time.astimezone(zone)
    if local.isoweekday() >= 6:
        return True
    if ws < we:
        return local.hour < ws or local.hour >= we
    return local.hour < ws and local.hour >= we


def _in(e: Event, org: str, t0: datetime, t1: datetime) -> bool:
    return e.org == org and t0 <= e.time < t1


def _max(values: Iterable[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def timeline(events, org, t0, t1, bucket, families=None):
    groups: dict[tuple[Any, ...], int] = defaultdict(int)
    for e in events:
        if _in(e, org, t0, t1) and (families is None or e.type in families):
            b = e.bucket if bucket == "hour" else e.bucket.replace(hour=0)
            groups[(b, e.type, e.action)] += 1
    return sorted((*k, n) for k, n in groups.items())


def user_activity(events, org, t0, t1, user_id=None):
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        if _in(e, org, t0, t1) and (user_id is None or uid(e) == user_id):
            groups[(e.bucket, uid(e), e.type)].append(e)
    return sorted(
        ((b, u, _max(x.user_email for x in es), t, len(es)) for (b, u, t), es in groups.items()),
        key=repr,
    )


def user_hours(events, org, t0, t1):
    """(user, UTC hour of day, events) for the users with events."""
    groups: dict[tuple[str, int], int] = defaultdict(int)
    for e in events:
        if _in(e, org, t0, t1) and uid(e) is not None:
            groups[(uid(e), e.time.astimezone(UTC).hour)] += 1
    return sorted((*k, n) for k, n in groups.items())


def user_heatmap(events, org, t0, t1, user_id, time_zone):
    """(ISO weekday, hour, events) in `time_zone`: the UTC hour bucket shifted into the zone."""
    zone = ZoneInfo(time_zone)
    groups: dict[tuple[int, int], int] = defaultdict(int)
    for e in events:
        if _in(e, org, t0, t1) and uid(e) == user_id:
            local = e.bucket.astimezone(zone)
            groups[(local.isoweekday(), local.hour)] += 1
    return sorted((*k, n) for k, n in groups.items())


def totals(events, org, t0, t1):
    sel = [e for e in events if _in(e, org, t0, t1)]
    by_family: dict[str, int] = defaultdict(int)
    for e in sel:
        by_family[e.type] += 1
    return {
        "events": len(sel),
        "users": len({person(e) for e in sel}),
        "resources": len({(e.rtype, e.rid) for e in sel if e.rid is not None}),
        "by_family": dict(by_family),
    }


def _user_order(item):
    user_id, _email, n = item
    return (-n, user_id is None, user_id or "")


def top_users(events, org, t0, t1, n, family=None):
    groups: dict[str | None, list[Event]] = defaultdict(list)
    for e in events:
        if _in(e, org, t0, t1) and (family is None or e.type == family):
            groups[uid(e)].append(e)
    rows = [(u, _max(x.user_email for x in es), len(es)) for u, es in groups.items()]
    return sorted(rows, key=_user_order)[:n]


def top_resources(events, org, t0, t1, n):
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        if _in(e, org, t0, t1) and e.rid is not None:
            groups[(e.rtype, e.rid)].append(e)
    rows = [(rt, rid, len(es), len({person(x) for x in es})) for (rt, rid), es in groups.items()]
    rows.sort(key=lambda r: (-r[2], r[0] is not None, r[0] or "", r[1]))
    return rows[:n]


def _day_range(d0: date, d1: date) -> tuple[datetime, datetime]:
    t0 = datetime(d0.year, d0.month, d0.day, tzinfo=UTC)
    t1 = datetime(d1.year, d1.month, d1.day, tzinfo=UTC) + timedelta(days=1)
    return t0, t1


def user_day_features(events, org, d0, d1, settings):
    t0, t1 = _day_range(d0, d1)
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        if _in(e, org, t0, t1):
            groups[(e.day, uid(e))].append(e)
    out = []
    for (day, user), es in groups.items():
        records = [
            _first(x.details, RECORD_KEYS)
            for x in es
            if x.action.startswith("export") or x.action.startswith("download")
        ]
        results = [_first(x.details, RESULT_KEYS) for x in es]
        out.append(
            (
                day,
                user,
                _max(x.user_email for x in es),
                len(es),
                *(sum(x.type == f for x in es) for f in FAMILIES),
                sum(x.action in SEARCH_ACTIONS for x in es),
                sum(x.action in VIEW_ACTIONS for x in es),
                sum(x.action.startswith("download") for x in es),
                sum(x.action.startswith("export") for x in es),
                sum(
                    x.type == "data_modification"
                    and (x.action.startswith("delete") or "purge" in x.action)
                    for x in es
                ),
                len({(x.rtype, x.rid) for x in es if x.rid is not None}),
                len({x.ip for x in es if x.ip is not None}),
                len({x.agent for x in es if x.agent is not None}),
                sum(off_hours(x, settings) for x in es),
                sum(r for r in records if r is not None),
                max([r for r in results if r is not None], default=0),
                min(x.time for x in es),
                max(x.time for x in es),
            )
        )
    return sorted(out, key=repr)


def resource_day_access(events, org, d0, d1, rtype=None, rid=None):
    t0, t1 = _day_range(d0, d1)
    groups: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for e in events:
        if not _in(e, org, t0, t1) or e.rid is None:
            continue
        if (rtype is not None and e.rtype != rtype) or (rid is not None and e.rid != rid):
            continue
        groups[(e.day, e.rtype, e.rid)].append(e)
    return sorted(
        ((d, rt, ri, len(es), len({person(x) for x in es})) for (d, rt, ri), es in groups.items()),
        key=repr,
    )


def user_day_resources(events, org, d0, d1):
    t0, t1 = _day_range(d0, d1)
    groups: dict[tuple[Any, ...], int] = defaultdict(int)
    for e in events:
        if _in(e, org, t0, t1) and e.rid is not None:
            groups[(e.day, uid(e), e.rtype, e.rid)] += 1
    return sorted(((*k, n) for k, n in groups.items()), key=repr)


def user_day_ips(events, org, d0, d1):
    t0, t1 = _day_range(d0, d1)
    groups: dict[tuple[Any, ...], int] = defaultdict(int)
    for e in events:
        if _in(e, org, t0, t1):
            groups[(e.day, uid(e), e.ip, e.agent)] += 1
    return sorted(((*k, n) for k, n in groups.items()), key=repr)


def resource_users(events, org, d0, d1, rtype, rid):
    t0, t1 = _day_range(d0, d1)
    groups: dict[str | None, list[Event]] = defaultdict(list)
    for e in events:
        if _in(e, org, t0, t1) and e.rid == rid and e.rtype == rtype:
            groups[uid(e)].append(e)
    rows = [
        (u, len(es), min(x.day for x in es), max(x.day for x in es), len({x.day for x in es}))
        for u, es in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0] is None, r[0] or ""))


def records_touched(e: Event) -> int | None:
    """The compliance report's "log records touched" of one event (TOUCHED_KEYS)."""
    return _first(e.details, TOUCHED_KEYS)


def _host(ip: str) -> str:
    return str(ipaddress.ip_address(ip))


def resource_details(events, org, d0, d1, rtype, rid, *, any_type=False):
    """(by_action, by_user, records, ip_addresses) as ReadModel.resource_details: by_action
    (type, action, events) most first; by_user (user, actions, records, ips) by user."""
    t0, t1 = _day_range(d0, d1)
    sel = [
        e for e in events if _in(e, org, t0, t1) and e.rid == rid and (any_type or e.rtype == rtype)
    ]
    actions: dict[tuple[str, str], int] = defaultdict(int)
    users: dict[str | None, list[Event]] = defaultdict(list)
    for e in sel:
        actions[(e.type, e.action)] += 1
        users[uid(e)].append(e)
    by_action = sorted(
        ((t, a, n) for (t, a), n in actions.items()), key=lambda r: (-r[2], r[0], r[1])
    )
    by_user = []
    for user, es in users.items():
        hosts = sorted({_host(x.ip) for x in es if x.ip is not None})
        by_user.append(
            (
                user,
                ", ".join(sorted({x.action for x in es})),
                sum(records_touched(x) or 0 for x in es),
                ", ".join(hosts) if hosts else None,
            )
        )
    by_user.sort(key=lambda r: (r[0] is None, r[0] or ""))
    records = sum(r[2] for r in by_user)
    ips = len({x.ip for x in sel if x.ip is not None})
    return by_action, by_user, records, ips
