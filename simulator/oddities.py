"""Routine work and benign oddities: what a good detector must NOT flag.

Routine (always on): the weekly admin review (every configuration and user-management
action), a monthly retention purge that follows no retention change, the odd manual
deletion of logs that should not have been kept, and compliance's audit-log exports.

Benign oddities (recorded in the labels file under `benign`, never as scenarios): on-call
nights, incident days when many people search at once, quarter-end spikes for compliance
staff, a new hire ramping up, and travel (a new country and IP, but the usual device).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator import network
from simulator.clock import DAY_MS, HOUR_MS
from simulator.labels import Benign
from simulator.people import Person
from simulator.queries import SourceInfo
from simulator.tables import weighted_table
from simulator.wire import resource

if TYPE_CHECKING:
    from simulator.engine import Simulation

ADMIN_REVIEW = (
    "create_alert",
    "update_alert",
    "delete_alert",
    "update_retention_policy",
    "add_source",
    "remove_source",
    "update_pii_masking",
    "update_org_settings",
    "invite_user",
    "change_role",
    "delete_account",
    "create_api_key",
    "revoke_api_key",
)


def plan_routine(sim: Simulation) -> None:
    """Everyday administration that must appear in every simulation."""
    admins = [p for p in sim.roster if p.role.name == "admin"] or sim.roster[:1]
    sres = [p for p in sim.roster if p.role.name == "sre"] or sim.roster[:1]
    compliance = [p for p in sim.roster if p.role.name == "compliance"] or sim.roster[:1]
    act = sim.activity
    review = weighted_table(tuple((k, 1.0) for k in ADMIN_REVIEW))
    admin_sources = sim.source_tables[admins[0].role.name]

    def weekly_review(day: int) -> None:
        p = admins[(day // 7) % len(admins)]
        act.session(
            p,
            sim.local(p, day, 14 + sim.r()),
            len(ADMIN_REVIEW),
            p.usual_ip,
            p.browsers[0],
            review,
            admin_sources,
            country=p.location.country,
            city=p.location.city,
        )

    def monthly_purge(day: int) -> None:
        p = admins[0]
        ms = sim.local(p, day, 7.0 + sim.r())
        sid = act.new_session_id()
        act.emit(
            ms,
            "retention_purge",
            act.ident(p, p.usual_ip, p.browsers[0]),
            act.sources["staging-logs"].res,
            {
                "record_count": 400_000 + int(sim.r() * 900_000),
                "retention_days": 30,
                "trigger": "scheduled",
            },
            act.tail(sid),
        )

    def delete_logs(day: int) -> None:
        p = sres[day % len(sres)]
        if not sim.is_active(p, day):
            return
        ms = sim.local(p, day, 15.0 + sim.r())
        act.emit(
            ms,
            "delete_logs",
            act.ident(p, p.usual_ip, p.browsers[0]),
            act.sources["app-logs"].res,
            {
                "record_count": 20 + int(sim.r() * 500),
                "query": "level:debug AND field:token",
                "reason": "secrets logged by mistake",
            },
            act.tail(act.new_session_id()),
        )

    def audit_export(day: int) -> None:
        p = compliance[day % len(compliance)]
        ms = sim.local(p, day, 11.0 + sim.r() * 4)
        act.emit(
            ms,
            "export_audit_logs",
            act.ident(p, p.usual_ip, p.browsers[0]),
            resource("audit_log", "audit_log"),
            {
                "format": "csv",
                "record_count": 2_000 + int(sim.r() * 6_000),
                "date_range": {
                    "start": sim.clock.iso_minute(max(0, ms - 30 * DAY_MS)),
                    "end": sim.clock.iso_minute(ms),
                },
            },
            act.tail(act.new_session_id()),
        )

    for day in range(sim.days):
        d = sim.clock.date_of(day)
        if d.weekday() == 0 or day == 1:
            sim.on_day(day, weekly_review)
        if d.day <= 3 and d.weekday() < 5 and (d.day == 1 or d.weekday() == 0 or day == 0):
            sim.on_day(day, monthly_purge)
        if day % 11 == 5 and d.weekday() < 5:
            sim.on_day(day, delete_logs)
        if d.weekday() == 2 and day % 14 == 9:
            sim.on_day(day, audit_export)


def plan(sim: Simulation) -> None:
    """Benign oddities, each recorded as `Benign` context."""
    _on_call(sim)
    _incidents(sim)
    _quarter_end(sim)
    _new_hires(sim)
    _travel(sim)


def _covered_session(
    sim: Simulation,
    p: Person,
    note: Benign,
    start: int,
    actions: int,
    kinds: tuple[str, ...],
    sources: tuple[SourceInfo, ...],
    *,
    ip: str | None = None,
) -> None:
    """A session from the person's usual address (or `ip`) and browser, in `note`'s range."""
    end = sim.activity.session(
        p,
        start,
        actions,
        ip or p.usual_ip,
        p.browsers[0],
        kinds,
        sources,
        country=p.location.country,
        city=p.location.city,
    )
    note.cover(start)
    note.cover(end)


def _on_call(sim: Simulation) -> None:
    """The week's on-call SRE is paged some nights: a burst of searches at 1-4 a.m. from home."""
    sres = [p for p in sim.roster if p.role.on_call and p.index not in sim.reserved]
    if not sres:
        return
    act = sim.activity
    prod = act.source_table(("production-api", "infra-logs", "kubernetes-events"))
    kinds = weighted_table(
        (("search", 6), ("view_logs", 3), ("view_entry", 2), ("update_alert", 0.3))
    )
    for day in range(sim.days):
        if sim.plan_rng.random() >= 0.3:
            continue
        p = sres[(day // 7) % len(sres)]
        note = Benign("on_call_night", p.user_id, p.email, "paged at night while on call")
        sim.benign.append(note)

        def page(day: int, p: Person = p, note: Benign = note) -> None:
            if not sim.is_active(p, day):
                return
            start = sim.local(p, day, 25 + sim.r() * 3)  # 1-4 a.m. the next morning
            actions = 6 + int(sim.r() * 12)
            _covered_session(sim, p, note, start, actions, kinds, prod, ip=p.home_ip)

        sim.on_day(day, page)


def _incidents(sim: Simulation) -> None:
    """About one incident every three weeks: engineers and support all search production."""
    days = [d for d in range(2, sim.days - 1) if sim.clock.is_weekday(d)]
    if not days:
        return
    count = max(1, sim.days // 21)
    act = sim.activity
    prod = act.source_table(("production-api", "checkout-service", "app-logs"))
    kinds = weighted_table((("search", 6), ("view_logs", 3), ("view_entry", 2)))
    for day in sorted(sim.plan_rng.sample(days, min(count, len(days)))):
        involved = [p for p in sim.people("sre", "developer", "support")]
        involved = [p for p in involved if p.role.name == "sre" or sim.plan_rng.random() < 0.5]
        notes = []
        for p in involved:
            note = Benign("incident_day", p.user_id, p.email, "production incident, all hands")
            sim.benign.append(note)
            notes.append((p, note))
        utc_start = day * DAY_MS + 13 * HOUR_MS + int(sim.plan_rng.random() * 3 * HOUR_MS)

        def incident(
            day: int, notes: list[tuple[Person, Benign]] = notes, utc_start: int = utc_start
        ) -> None:
            for p, note in notes:
                if not sim.is_active(p, day):
                    continue
                start = utc_start + int(sim.r() * 20 * 60_000)
                _covered_session(sim, p, note, start, 15 + int(sim.r() * 25), kinds, prod)

        sim.on_day(day, incident)


def _quarter_end(sim: Simulation) -> None:
    """The last five working days of a quarter: compliance exports reports (under 10,000
    records each) and reads payment and billing logs far more than usual."""
    staff = sim.people("compliance")
    act = sim.activity
    srcs = act.source_table(("payment-logs", "billing-events", "customer-data"))
    kinds = weighted_table((("search", 5), ("view_logs", 4), ("export", 1), ("download", 1)))
    quarter_days = []
    for day in range(sim.days):
        d = sim.clock.date_of(day)
        if d.month in (3, 6, 9, 12) and sim.clock.is_weekday(day):
            month_end = sum(
                1
                for k in range(day + 1, day + 10)
                if sim.clock.date_of(k).month == d.month and sim.clock.is_weekday(k)
            )
            if month_end < 5:
                quarter_days.append(day)
    if not quarter_days:
        return
    for p in staff:
        note = Benign("quarter_end", p.user_id, p.email, "quarter-end compliance reporting")
        sim.benign.append(note)

        def spike(day: int, p: Person = p, note: Benign = note) -> None:
            if not sim.is_active(p, day):
                return
            for k in range(2):
                start = sim.local(p, day, 10 + 4 * k + sim.r())
                _covered_session(sim, p, note, start, 20 + int(sim.r() * 20), kinds, srcs)

        for day in quarter_days:
            sim.on_day(day, spike)


def _new_hires(sim: Simulation) -> None:
    """One new hire per ~40 people: invited by an admin, then slowly ramping up."""
    if sim.days < 10 or len(sim.roster) < 8:
        return
    admins = [p for p in sim.roster if p.role.name == "admin"]
    candidates = sim.people("developer", "support", "sre")
    count = min(len(candidates) // 3, max(1, len(sim.roster) // 40))
    for p in sim.plan_rng.sample(candidates, count):
        sim.reserved.add(p.index)
        working = sim.working_days(p.location.country, sim.days // 4, sim.days // 2)
        if not working:
            continue
        p.hired_day = sim.plan_rng.choice(working)
        note = Benign("new_hire", p.user_id, p.email, "new hire: first sessions, ramping up")
        sim.benign.append(note)
        note.cover(sim.local(p, p.hired_day, 0))
        note.cover(sim.local(p, min(sim.days - 1, p.hired_day + 14), 23.9))
        inviter = admins[0] if admins else p

        def invite(day: int, p: Person = p, inviter: Person = inviter) -> None:
            act = sim.activity
            ms = sim.local(inviter, day, 8.0) if inviter is not p else sim.local(p, day, 8.0)
            act.emit(
                ms,
                "invite_user",
                act.ident(inviter, inviter.usual_ip, inviter.browsers[0]),
                resource("user", p.user_id),
                {"email": p.email, "role": p.role.platform_role},
                act.tail(act.new_session_id()),
            )

        sim.on_day(p.hired_day, invite)


def _travel(sim: Simulation) -> None:
    """One trip per ~30 people: a few working days abroad, from a hotel network, on the usual
    laptop (a new country and IP but not a new device)."""
    if sim.days < 7 or len(sim.roster) < 10:
        return
    candidates = sim.people("developer", "sre", "security", "compliance", "support")
    count = min(len(candidates) // 3, max(1, len(sim.roster) // 30))
    for p in sim.plan_rng.sample(candidates, count):
        sim.reserved.add(p.index)
        country, city, prefix = sim.plan_rng.choice(network.TRAVEL_NETWORKS)
        ip = network.host(prefix, sim.plan_rng.randrange(60_000))
        first = sim.plan_rng.randrange(sim.days // 3, max(sim.days // 3 + 1, sim.days - 5))
        trip = [d for d in range(first, min(sim.days, first + 6)) if sim.clock.is_weekday(d)][:4]
        if not trip:
            continue
        note = Benign("travel", p.user_id, p.email, f"business trip to {city}, {country}")
        sim.benign.append(note)
        note.cover(sim.local(p, trip[0], 0))
        note.cover(sim.local(p, trip[-1], 23.9))
        for d in trip:
            sim.travel[(p.index, d)] = (country, city, ip)
