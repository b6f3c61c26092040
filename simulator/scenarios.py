"""Planted insider scenarios, each labelled with its user, time range and event ids.

The feature request's five: `bulk_customer_read` (10,000+ customer logs read in a day),
`night_export` (an export at 2 a.m.), `identity_search` (searches for `email:*@company.com`),
`alert_disabled` (an alert disabled and never re-enabled), `large_export` (more than 10,000
records). And: `privilege_escalation` (role raised to admin, then sensitive access),
`new_country_device` (sign-in from a new country on a device never seen),
`dormant_account` (silent for weeks, then wakes up), `low_and_slow` (small exports every
working day for weeks), `api_key_unknown_ip` (a new API key used from an unknown address),
`retention_before_purge` (retention lowered shortly before a purge) and
`peer_unusual_source` (a restricted source none of the user's peers touch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from simulator import network
from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS
from simulator.labels import Label
from simulator.people import Person
from simulator.sources import api_logs_path, retention_policy_id
from simulator.tables import weighted_table
from simulator.wire import resource

if TYPE_CHECKING:
    from simulator.engine import Simulation

# Which roles a scenario's user is drawn from (first choice first).
SCENARIO_ROLES: dict[str, tuple[str, ...]] = {
    "bulk_customer_read": ("support",),
    "night_export": ("support", "developer", "sre"),
    "identity_search": ("support", "developer", "sre"),
    "alert_disabled": ("sre", "developer"),
    "large_export": ("support", "compliance", "developer"),
    "privilege_escalation": ("developer", "support", "contractor"),
    "new_country_device": ("developer", "sre", "support", "compliance"),
    "dormant_account": ("developer", "support", "contractor"),
    "low_and_slow": ("support", "developer"),
    "api_key_unknown_ip": ("developer", "sre"),
    "retention_before_purge": ("admin",),
    "peer_unusual_source": ("developer", "sre", "support", "contractor"),
}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_ROLES)
# The feature request's own five: quality floors are strictest for them.
REQUEST_SCENARIOS: tuple[str, ...] = (
    "bulk_customer_read",
    "night_export",
    "identity_search",
    "alert_disabled",
    "large_export",
)


def resolve_counts(counts: Mapping[str, int] | None) -> dict[str, int]:
    """None means every scenario once; unknown names are refused."""
    if counts is None:
        return dict.fromkeys(SCENARIOS, 1)
    unknown = sorted(set(counts) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    bad = sorted(name for name, n in counts.items() if n < 0)
    if bad:
        raise ValueError(f"scenario {bad[0]!r}: count must be 0 or more")
    return {name: counts[name] for name in SCENARIOS if counts.get(name, 0) > 0}


def parse_counts(text: str) -> dict[str, int]:
    """`name=count,name,...`, `all`, or `none` -> counts (`all` is every scenario once)."""
    text = text.strip()
    if text == "none":
        return {}
    counts: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        try:
            n = int(value) if value else 1
        except ValueError:
            raise ValueError(f"scenario {name!r}: count {value!r} is not a number") from None
        if name == "all":
            counts.update(dict.fromkeys(SCENARIOS, n))
        else:
            counts[name] = n
    resolve_counts(counts)
    return counts


def plan(sim: Simulation, counts: Mapping[str, int]) -> None:
    """Choose each instance's user and day (deterministically) and register its events."""
    for name, count in counts.items():
        for _ in range(count):
            person = _pick(sim, SCENARIO_ROLES[name])
            PLANNERS[name](sim, person)


def _pick(sim: Simulation, roles: tuple[str, ...]) -> Person:
    """A person of the first role that has someone unreserved; else anyone unreserved of
    those roles; else anyone of them; else anyone."""
    for role in roles:
        free = sim.people(role)
        if free:
            break
    else:
        free = sim.people(*roles, free=False) or sim.people() or sim.roster
    p = sim.plan_rng.choice(free)
    sim.reserved.add(p.index)
    return p


def _day(sim: Simulation, p: Person, lo: float = 0.45, hi: float = 0.9) -> int:
    """A working day of the person late enough to have a baseline before it."""
    first = int(sim.days * lo)
    last = max(first, min(sim.days - 2, int(sim.days * hi)))
    days = sim.working_days(p.location.country, first, last) or list(range(first, last + 1))
    return sim.plan_rng.choice(days) if days else max(0, sim.days - 1)


def _label(sim: Simulation, name: str, p: Person, description: str) -> Label:
    label = Label(name, p.user_id, p.email, description)
    sim.labels.append(label)
    return label


def _window(sim: Simulation, ms: int, span_ms: int) -> dict[str, str]:
    """A details time range: `span_ms` up to the event's minute."""
    return {"start": sim.clock.iso_minute(ms - span_ms), "end": sim.clock.iso_minute(ms)}


def _export(
    sim: Simulation,
    p: Person,
    ms: int,
    source: str,
    records: int,
    span_ms: int,
    label: Label,
    *,
    ip: str | None = None,
    action: str = "export",
    range_end: int | None = None,
) -> None:
    """An export (with its path) or a download of `records` CSV records, in a session of
    its own; the time range is `span_ms` up to `range_end` (default: the event's time)."""
    act = sim.activity
    details: dict[str, object] = {
        "record_count": records,
        "format": "csv",
        "time_range": _window(sim, ms if range_end is None else range_end, span_ms),
    }
    if action == "export":
        details["export_path"] = f"exports/{source}/{act.new_object_id('exp')}.csv"
    act.emit(
        ms,
        action,
        act.ident(p, ip or p.usual_ip, p.browsers[0]),
        act.sources[source].res,
        details,
        act.tail(act.new_session_id()),
        label,
    )


def _session(
    sim: Simulation,
    p: Person,
    start: int,
    actions: int,
    kinds: tuple[tuple[str, float], ...],
    sources: tuple[str, ...],
    label: Label,
    *,
    ip: str | None = None,
    ua: str | None = None,
    country: str | None = None,
    city: str | None = None,
) -> int:
    act = sim.activity
    return act.session(
        p,
        start,
        actions,
        ip or p.usual_ip,
        ua or p.browsers[0],
        weighted_table(kinds),
        act.source_table(sources),
        country=country or p.location.country,
        city=city or p.location.city,
        label=label,
    )


def _bulk_customer_read(sim: Simulation, p: Person) -> None:
    label = _label(sim, "bulk_customer_read", p, "read over 10,000 customer-data logs in a day")
    day = _day(sim, p)

    def run(day: int) -> None:
        act = sim.activity
        src = act.sources["customer-data"]
        ident = act.ident(p, p.usual_ip, p.browsers[0])
        tail = act.tail(act.new_session_id())
        ms = sim.local(p, day, 9.5)
        total = count = 0
        # Both the rows read (over 10,000) and the number of reads (about four times a
        # normal support day) stand out, whichever a detector counts.
        while total < 12_000 or count < 200:
            ms += 15_000 + int(sim.r() * 45_000)
            n = 40 + int(sim.r() * 120)
            total += n
            count += 1
            if sim.r() < 0.5:
                details = {
                    "query": "customer_id:* AND country:*",
                    "results_count": n,
                    "time_range": _window(sim, ms, 30 * DAY_MS),
                }
                act.emit(ms, "search", ident, src.res, details, tail, label)
            else:
                details = {
                    "results_count": n,
                    "page": 1 + int(sim.r() * 80),
                    "time_range": _window(sim, ms, 30 * DAY_MS),
                }
                act.emit(ms, "view_logs", ident, src.res, details, tail, label)

    sim.on_day(day, run)


def _night_export(sim: Simulation, p: Person) -> None:
    label = _label(sim, "night_export", p, "signed in from home at 2 a.m. and exported logs")
    day = _day(sim, p)

    def run(day: int) -> None:
        start = sim.local(p, day, 26.0 + sim.r() * 0.5)  # 2:00-2:30 the next morning
        sensitive = "customer-data" if p.role.name == "support" else "production-api"
        ms = _session(
            sim,
            p,
            start,
            3 + int(sim.r() * 3),
            (("search", 2), ("view_logs", 1)),
            (sensitive,),
            label,
            ip=p.home_ip,
        )
        _export(
            sim,
            p,
            ms + 40_000,
            sensitive,
            2_000 + int(sim.r() * 6_000),
            90 * DAY_MS,
            label,
            ip=p.home_ip,
            range_end=ms,
        )

    sim.on_day(day, run)


def _identity_search(sim: Simulation, p: Person) -> None:
    domain = sim.config.domain
    label = _label(sim, "identity_search", p, f"searched for every address email:*@{domain}")
    day = _day(sim, p)
    queries = (
        f"email:*@{domain}",
        f"user_email:*@{domain} AND level:info",
        f"email:*@{domain} AND event:password_reset",
        f"email:*@{domain}",
    )

    def run(day: int) -> None:
        act = sim.activity
        ident = act.ident(p, p.usual_ip, p.browsers[0])
        tail = act.tail(act.new_session_id())
        ms = sim.local(p, day, 15.0 + sim.r())
        for i in range(3 + int(sim.r() * 4)):
            ms += 30_000 + int(sim.r() * 120_000)
            src = act.sources["customer-data" if i % 2 == 0 else "auth-logs"]
            act.emit(
                ms,
                "search",
                ident,
                src.res,
                {
                    "query": queries[i % len(queries)],
                    "results_count": 800 + int(sim.r() * 4000),
                    "time_range": _window(sim, ms, 30 * DAY_MS),
                },
                tail,
                label,
            )

    sim.on_day(day, run)


def _alert_disabled(sim: Simulation, p: Person) -> None:
    label = _label(sim, "alert_disabled", p, "disabled an alert and never re-enabled it")
    day = _day(sim, p, 0.3, 0.7)
    alert = f"alert_{9000 + len(sim.labels):04d}"  # never touched by benign activity

    def run(day: int) -> None:
        act = sim.activity
        ms = sim.local(p, day, 16.0 + sim.r())
        act.emit(
            ms,
            "disable_alert",
            act.ident(p, p.usual_ip, p.browsers[0]),
            resource("alert_rule", alert),
            {
                "changes": {"enabled": [True, False]},
                "old_values": {"name": "Payment Declines", "enabled": True},
                "new_values": {"name": "Payment Declines", "enabled": False},
                "reason": "Testing, will re-enable",
            },
            act.tail(act.new_session_id()),
            label,
        )

    sim.on_day(day, run)


def _large_export(sim: Simulation, p: Person) -> None:
    label = _label(sim, "large_export", p, "exported more than 10,000 records")
    day = _day(sim, p)

    def run(day: int) -> None:
        name = "customer-data" if p.role.name != "compliance" else "payment-logs"
        ms = sim.local(p, day, 13.0 + sim.r() * 3)
        _export(sim, p, ms, name, 15_000 + int(sim.r() * 200_000), 180 * DAY_MS, label)

    sim.on_day(day, run)


def _privilege_escalation(sim: Simulation, p: Person) -> None:
    label = _label(
        sim,
        "privilege_escalation",
        p,
        "role raised to admin, then read payment, HR and customer data",
    )
    day = _day(sim, p)
    admins = [a for a in sim.roster if a.role.name == "admin" and a is not p]
    actor = admins[0] if admins else p

    def run(day: int) -> None:
        act = sim.activity
        ms = sim.local(p, day, 11.0 + sim.r() * 3)
        old = p.role.platform_role
        act.emit(
            ms,
            "change_role",
            act.ident(actor, actor.usual_ip, actor.browsers[0]),
            resource("user", p.user_id),
            {
                "changes": {"role": [old, "admin"]},
                "old_values": {"role": old},
                "new_values": {"role": "admin"},
                "target_email": p.email,
            },
            act.tail(act.new_session_id()),
            label,
        )
        _session(
            sim,
            p,
            ms + HOUR_MS + int(sim.r() * 2 * HOUR_MS),
            12 + int(sim.r() * 12),
            (("search", 4), ("view_logs", 3), ("view_entry", 3), ("download", 1)),
            ("payment-logs", "hr-events", "customer-data"),
            label,
        )

    sim.on_day(day, run)


def _new_country_device(sim: Simulation, p: Person) -> None:
    country, city, prefix = sim.plan_rng.choice(network.UNKNOWN_NETWORKS)
    ip = network.host(prefix, sim.plan_rng.randrange(60_000))
    ua = sim.plan_rng.choice(network.UNKNOWN_DEVICES)
    label = _label(
        sim, "new_country_device", p, f"signed in from {city}, {country} on a new device"
    )
    day = _day(sim, p)
    sources = tuple(name for name, _ in p.role.sources)

    def run(day: int) -> None:
        _session(
            sim,
            p,
            sim.local(p, day, 21.0 + sim.r() * 2),
            10 + int(sim.r() * 15),
            (("search", 4), ("view_logs", 3), ("view_entry", 2), ("download", 1)),
            sources,
            label,
            ip=ip,
            ua=ua,
            country=country,
            city=city,
        )

    sim.on_day(day, run)


def _dormant_account(sim: Simulation, p: Person) -> None:
    label = _label(sim, "dormant_account", p, "inactive for weeks, then active again")
    early = max(1, min(10, sim.days // 6))
    wake = _day(sim, p, 0.75, 0.95)
    if wake <= early:
        wake = min(sim.days - 1, early + 1)
    # Ordinary activity only in the first days; on the wake day only the planted session.
    p.active_days = frozenset(range(early))

    def run(day: int) -> None:
        _session(
            sim,
            p,
            sim.local(p, day, 10.0 + sim.r() * 6),
            15 + int(sim.r() * 15),
            (("search", 4), ("view_logs", 3), ("view_entry", 2), ("download", 2)),
            ("customer-data", "payment-logs", "production-api"),
            label,
            ip=p.home_ip,
        )

    sim.on_day(wake, run)


def _low_and_slow(sim: Simulation, p: Person) -> None:
    label = _label(
        sim, "low_and_slow", p, "small customer-data exports almost every working day for weeks"
    )
    first = int(sim.days * 0.35)
    days = sim.working_days(p.location.country, first, min(sim.days - 1, first + 34))

    def run(day: int) -> None:
        if sim.r() >= 0.8:
            return
        ms = sim.local(p, day, 11.0 + sim.r() * 5)
        action = "export" if sim.r() < 0.5 else "download"
        records = 300 + int(sim.r() * 600)
        _export(sim, p, ms, "customer-data", records, DAY_MS, label, action=action)

    for day in days:
        sim.on_day(day, run)


def _api_key_unknown_ip(sim: Simulation, p: Person) -> None:
    country, _city, prefix = sim.plan_rng.choice(network.UNKNOWN_NETWORKS)
    ip = network.host(prefix, sim.plan_rng.randrange(60_000))
    label = _label(
        sim, "api_key_unknown_ip", p, f"created an API key, then it was used from {ip} ({country})"
    )
    day = _day(sim, p, 0.45, 0.85)
    key = f"key_scn{len(sim.labels):04d}"

    def run(day: int) -> None:
        act = sim.activity
        ms = sim.local(p, day, 15.0 + sim.r() * 2)
        act.emit(
            ms,
            "create_api_key",
            act.ident(p, p.usual_ip, p.browsers[0]),
            resource("api_key", key),
            {"name": "local-testing", "scopes": ["logs:read", "logs:export"]},
            act.tail(act.new_session_id()),
            label,
        )
        ident = act.ident(p, ip, "curl/8.5.0")
        ms += DAY_MS // 2 + int(sim.r() * DAY_MS)
        for i in range(25 + int(sim.r() * 30)):
            ms += 15_000 + int(sim.r() * 60_000)
            name = ("customer-data", "payment-logs", "auth-logs")[i % 3]
            path = api_logs_path(name)
            act.emit(
                ms,
                "GET",
                ident,
                resource("api_endpoint", path),
                {
                    "method": "GET",
                    "path": path,
                    "query": {"limit": 1000},
                    "status_code": 200,
                    "api_key_id": key,
                },
                '"session_id":null}',
                label,
            )
            if i % 5 == 0:
                act.emit(
                    ms + 200,
                    "api_access",
                    ident,
                    act.sources[name].res,
                    {"endpoint": path, "results_count": 1000, "api_key_id": key},
                    '"session_id":null}',
                    label,
                )

    sim.on_day(day, run)


def _retention_before_purge(sim: Simulation, p: Person) -> None:
    label = _label(
        sim, "retention_before_purge", p, "lowered retention to 1 day, purged, then restored it"
    )
    day = _day(sim, p)

    def run(day: int) -> None:
        act = sim.activity
        ident = act.ident(p, p.usual_ip, p.browsers[0])
        tail = act.tail(act.new_session_id())
        res = resource("retention_policy", retention_policy_id(act.sources["auth-logs"].rid))
        ms = sim.local(p, day, 18.0 + sim.r())
        act.emit(
            ms,
            "update_retention_policy",
            ident,
            res,
            {
                "changes": {"retention_days": [365, 1]},
                "old_values": {"retention_days": 365},
                "new_values": {"retention_days": 1},
            },
            tail,
            label,
        )
        ms += 10 * MINUTE_MS + int(sim.r() * 40 * MINUTE_MS)
        act.emit(
            ms,
            "retention_purge",
            ident,
            act.sources["auth-logs"].res,
            {
                "record_count": 2_000_000 + int(sim.r() * 3_000_000),
                "retention_days": 1,
                "trigger": "manual",
            },
            tail,
            label,
        )
        ms += 20 * MINUTE_MS + int(sim.r() * 60 * MINUTE_MS)
        act.emit(
            ms,
            "update_retention_policy",
            ident,
            res,
            {
                "changes": {"retention_days": [1, 365]},
                "old_values": {"retention_days": 1},
                "new_values": {"retention_days": 365},
            },
            tail,
            label,
        )

    sim.on_day(day, run)


def _peer_unusual_source(sim: Simulation, p: Person) -> None:
    used = {name for name, _ in p.role.sources}
    target = next(n for n in ("hr-events", "payment-logs", "customer-data") if n not in used)
    label = _label(sim, "peer_unusual_source", p, f"read {target}, which no peer ever reads")
    day = _day(sim, p)

    def run(day: int) -> None:
        _session(
            sim,
            p,
            sim.local(p, day, 14.0 + sim.r() * 2),
            5 + int(sim.r() * 10),
            (("search", 3), ("view_logs", 2), ("view_entry", 2)),
            (target,),
            label,
        )

    sim.on_day(day, run)


PLANNERS: dict[str, Callable[[Simulation, Person], None]] = {
    "bulk_customer_read": _bulk_customer_read,
    "night_export": _night_export,
    "identity_search": _identity_search,
    "alert_disabled": _alert_disabled,
    "large_export": _large_export,
    "privilege_escalation": _privilege_escalation,
    "new_country_device": _new_country_device,
    "dormant_account": _dormant_account,
    "low_and_slow": _low_and_slow,
    "api_key_unknown_ip": _api_key_unknown_ip,
    "retention_before_purge": _retention_before_purge,
    "peer_unusual_source": _peer_unusual_source,
}
