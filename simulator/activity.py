"""Turning habits into events: sessions of several actions, and one handler per action.

Events are kept as small tuples of pre-rendered JSON fragments until they are written, so
the hot path is string formatting, not dict building: `(ms, head, ident, resource,
details, tail, label)`, where `head` is the event type and action, `ident` the user, the
organisation, the IP and the user agent, `resource` the resource type and id, `details` a
JSON object and `tail` the session id. `writer.py` joins them into wire-format lines.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from simulator import network
from simulator.clock import DAY_MS, HOUR_MS, MINUTE_MS, Clock
from simulator.labels import Label
from simulator.people import Person
from simulator.sources import SOURCES, Source

RawEvent = tuple[int, str, str, str, str, str, "Label | None"]
Rendered = tuple[str, str, str]  # head, resource, details

# Every wire action and its family (the request's names; api_call actions are HTTP methods).
FAMILY: dict[str, str] = {
    **dict.fromkeys(("search", "view_logs", "view_entry", "download", "api_access"), "log_access"),
    **dict.fromkeys(
        (
            "create_alert",
            "update_alert",
            "disable_alert",
            "enable_alert",
            "delete_alert",
            "update_retention_policy",
            "add_source",
            "remove_source",
            "update_pii_masking",
            "update_org_settings",
        ),
        "config_change",
    ),
    **dict.fromkeys(
        ("invite_user", "change_role", "delete_account", "create_api_key", "revoke_api_key"),
        "user_management",
    ),
    **dict.fromkeys(
        ("export", "delete_logs", "retention_purge", "export_audit_logs"), "data_modification"
    ),
    **dict.fromkeys(("login", "logout", "login_failed"), "login"),
    **dict.fromkeys(("GET", "POST"), "api_call"),
}
HEAD: dict[str, str] = {
    action: f'"event_type":"{family}","event_action":"{action}",'
    for action, family in FAMILY.items()
}

_H_SEARCH, _H_VIEW, _H_ENTRY = HEAD["search"], HEAD["view_logs"], HEAD["view_entry"]


def resource(resource_type: str | None, resource_id: str | None) -> str:
    """The JSON fragment for a resource (None renders as null)."""
    return (
        f'"resource_type":{orjson.dumps(resource_type).decode()},'
        f'"resource_id":{orjson.dumps(resource_id).decode()},'
    )


AUDIT_LOG = resource("audit_log", "audit_log")

# Queries users type, per source, in a log platform's syntax ({n} numbers, {w} words).
QUERY_TEMPLATES: dict[str, tuple[str, ...]] = {
    "production-api": (
        "level:error AND service:{svc}",
        'status:500 AND path:"/api/v1/{w}"',
        "latency_ms:>2000 AND service:{svc}",
        "trace_id:{hex}",
        "level:warn AND host:api-{n}",
    ),
    "checkout-service": (
        "service:checkout AND level:error",
        "order_id:ord_{n}",
        "status:failed AND step:{w}",
        "level:error AND payment_provider:{w}",
    ),
    "app-logs": (
        "level:error AND service:{svc}",
        "logger:{w}.worker AND level:warn",
        'message:"timeout" AND service:{svc}',
        "request_id:{hex}",
    ),
    "staging-logs": (
        "env:staging AND level:error",
        "deploy_id:{n}",
        "service:{svc} AND level:debug",
    ),
    "infra-logs": (
        "host:web-{n} AND level:warn",
        "kubernetes.namespace:{w} AND level:error",
        "disk_usage:>90 AND host:db-{n}",
    ),
    "kubernetes-events": (
        "reason:OOMKilled",
        "namespace:{w} AND reason:BackOff",
        "pod:{svc}-{hex}",
    ),
    "auth-logs": (
        "event:login_failed AND user:{w}",
        "mfa:false AND event:login",
        "ip:203.0.113.{n}",
        "event:password_reset",
    ),
    "billing-events": (
        "invoice_id:inv_{n}",
        "plan:enterprise AND event:upgrade",
        "event:refund AND amount:>{n}",
    ),
    "payment-logs": (
        "transaction_id:txn_{n}",
        "status:declined AND merchant:{w}",
        "amount:>10000 AND currency:EUR",
        "card_last4:{n}",
    ),
    "customer-data": (
        "customer_id:cus_{n}",
        "ticket:{n} AND customer_id:cus_{n}",
        "account_id:acct_{n} AND event:update",
        "email:{w}.{w}@example.org",
    ),
    "hr-events": ("employee_id:emp_{n}", "event:offboarding", "event:leave_request AND team:{w}"),
}
AUDIT_QUERIES: tuple[str, ...] = (
    "event_type:config_change AND event_action:update_retention_policy",
    "event_action:export AND record_count:>1000",
    "event_type:user_management AND event_action:change_role",
    "event_action:login_failed",
    "resource_id:source_payment_logs",
    "event_action:disable_alert",
)
_SERVICES = ("checkout", "search", "billing", "auth", "gateway", "inventory", "notifications")
_WORDS = (
    "cart",
    "orders",
    "users",
    "payments",
    "stripe",
    "adyen",
    "ingest",
    "sessions",
    "reports",
    "sync",
    "emea",
    "platform",
    "mobile",
    "web",
)
SPANS_MS = (15 * MINUTE_MS, HOUR_MS, 4 * HOUR_MS, DAY_MS, 7 * DAY_MS)
SPANS_MIN = tuple(span // MINUTE_MS for span in SPANS_MS)
ALERT_NAMES = (
    "High Error Rate",
    "Checkout Latency",
    "5xx Spike",
    "Disk Almost Full",
    "Login Failures",
    "Queue Backlog",
    "Payment Declines",
    "Pod Restarts",
)


class SourceInfo:
    """A source with its pre-rendered resource fragment and a pool of realistic queries."""

    __slots__ = ("queries", "res", "rid", "search_pre", "source", "view_pre")

    def __init__(self, source: Source, rng: random.Random) -> None:
        self.source = source
        self.rid = source.resource_id
        self.res = resource("source", self.rid)
        pool = []
        for _ in range(48):
            template = rng.choice(QUERY_TEMPLATES[source.name])
            text = template.format(
                svc=rng.choice(_SERVICES),
                w=rng.choice(_WORDS),
                n=rng.randrange(1, 99_999),
                hex=f"{rng.getrandbits(40):010x}",
            )
            pool.append(orjson.dumps(text).decode())
        self.queries = tuple(pool)
        # 256 pre-rendered beginnings of search and view details (query, result count);
        # the time range is appended per event.
        self.search_pre = tuple(
            f'{{"query":{rng.choice(pool)},"results_count":{int(1 + 400 * rng.random() ** 3)},'
            '"time_range":'
            for _ in range(256)
        )
        self.view_pre = tuple(
            f'{{"results_count":{rng.randrange(20, 200)},"time_range":' for _ in range(256)
        )


KIND_BITS = 12  # action tables have 4,096 entries: drawn with 12 random bits
SOURCE_BITS = 7  # source tables have 128 entries


def weighted_table(
    pairs: tuple[tuple[str, float], ...], size: int = 1 << KIND_BITS
) -> tuple[str, ...]:
    """Exactly `size` entries where a uniform index draws by weight (O(1)); every name gets at
    least one entry."""
    total = sum(w for _, w in pairs)
    counts = [max(1, round(size * w / total)) for _, w in pairs]
    counts[counts.index(max(counts))] += size - sum(counts)
    table: list[str] = []
    for (name, _), n in zip(pairs, counts, strict=True):
        table.extend([name] * n)
    return tuple(table)


class Activity:
    """Emits events into `pending` (the engine's not-yet-written buffer)."""

    def __init__(self, org: str, clock: Clock, rng: random.Random, domain: str) -> None:
        self.org = org
        self.clock = clock
        self.rng = rng
        self.r = rng.random
        self.bits = rng.getrandbits
        self._ranges: dict[int, str] = {}  # (minute, span) -> time range JSON, per day
        self._minutes: dict[int, str] = {}  # minute -> its ISO text
        self.domain = domain
        self.pending: list[RawEvent] = []
        self.sources = {s.name: SourceInfo(s, rng) for s in SOURCES}
        self._sessions = 0
        self._objects = 0
        self.org_json = orjson.dumps(org).decode()
        self.audit_queries = tuple(orjson.dumps(q).decode() for q in AUDIT_QUERIES)
        self.handlers: dict[str, Callable[[Person, int, SourceInfo, str, str], Rendered]] = {
            "search": self._search,
            "view_logs": self._view_logs,
            "view_entry": self._view_entry,
            "download": self._download,
            "api_access": self._api_access,
            "audit_search": self._audit_search,
            "audit_view": self._audit_view,
            "export": self._export,
            "create_alert": self._create_alert,
            "update_alert": self._update_alert,
            "toggle_alert": self._toggle_alert,
            "delete_alert": self._delete_alert,
            "update_retention_policy": self._update_retention,
            "add_source": self._add_source,
            "remove_source": self._remove_source,
            "update_pii_masking": self._update_pii_masking,
            "update_org_settings": self._update_org_settings,
            "invite_user": self._invite_user,
            "change_role": self._change_role,
            "delete_account": self._delete_account,
            "create_api_key": self._create_api_key,
            "revoke_api_key": self._revoke_api_key,
        }
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
        handlers = self.handlers
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
                p, ms, sources[(b >> 12) & smask], ident, tail
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

    # ---------------------------------------------------------------- log access
    def _search(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        b = self.bits(11)
        return (_H_SEARCH, src.res, src.search_pre[b & 255] + self.time_range(ms, b >> 8) + "}")

    def _view_logs(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        b = self.bits(11)
        return (_H_VIEW, src.res, src.view_pre[b & 255] + self.time_range(ms, b >> 8) + "}")

    def _view_entry(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        return (_H_ENTRY, src.res, f'{{"log_id":"log_{self.bits(40):010x}"}}')

    def _download(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        r = self.r
        n = int(10 + 900 * r() * r())
        fmt = "csv" if r() < 0.6 else "json"
        return (
            HEAD["download"],
            src.res,
            f'{{"record_count":{n},"format":"{fmt}","time_range":{self.time_range(ms)}}}',
        )

    def _api_access(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        n = int(1 + 300 * self.r())
        return (
            HEAD["api_access"],
            src.res,
            f'{{"endpoint":"/api/v1/sources/{src.source.name}/logs","results_count":{n}}}',
        )

    def _audit_search(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        r = self.r
        q = self.audit_queries[int(r() * len(self.audit_queries))]
        n = int(1 + 200 * r() * r())
        return (
            HEAD["search"],
            AUDIT_LOG,
            f'{{"query":{q},"results_count":{n},"time_range":{self.time_range(ms)}}}',
        )

    def _audit_view(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        n = int(20 + 80 * self.r())
        return (
            HEAD["view_logs"],
            AUDIT_LOG,
            f'{{"results_count":{n},"time_range":{self.time_range(ms)}}}',
        )

    def _export(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        r = self.r
        n = int(50 + 2_500 * r() * r())
        return (
            HEAD["export"],
            src.res,
            orjson.dumps(
                {
                    "record_count": n,
                    "format": "csv" if r() < 0.7 else "json",
                    "time_range": orjson.loads(self.time_range(ms)),
                    "export_path": f"exports/{src.source.name}/{self.new_object_id('exp')}.csv",
                }
            ).decode(),
        )

    # ---------------------------------------------------------------- configuration
    def change(self, old: dict[str, Any], new: dict[str, Any], **extra: Any) -> str:
        """details with changes (field -> [old, new]), old_values and new_values."""
        changes = {
            k: [old.get(k), new.get(k)]
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        }
        return orjson.dumps(
            {"changes": changes, "old_values": old, "new_values": new, **extra}
        ).decode()

    def _alert_id(self) -> str:
        # Benign activity only touches alerts 1-40; planted scenarios use their own ids.
        return f"alert_{1 + int(self.r() * 40):04d}"

    def _create_alert(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        r = self.r
        new = {
            "name": ALERT_NAMES[int(r() * len(ALERT_NAMES))],
            "source": src.rid,
            "threshold": 50 * (1 + int(r() * 10)),
            "window_minutes": 5,
            "enabled": True,
        }
        return (
            HEAD["create_alert"],
            resource("alert_rule", self.new_object_id("alert_new")),
            self.change({}, new),
        )

    def _update_alert(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        r = self.r
        old_t = 50 * (1 + int(r() * 10))
        new_t = old_t * 2 if r() < 0.6 else max(10, old_t // 2)
        name = ALERT_NAMES[int(r() * len(ALERT_NAMES))]
        return (
            HEAD["update_alert"],
            resource("alert_rule", self._alert_id()),
            self.change({"name": name, "threshold": old_t}, {"name": name, "threshold": new_t}),
        )

    def _toggle_alert(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        """Disable an alert during maintenance and re-enable it within hours (benign)."""
        alert = self._alert_id()
        res = resource("alert_rule", alert)
        later = ms + 10 * MINUTE_MS + int(self.r() * 3 * HOUR_MS)
        self.pending.append(
            (
                later,
                HEAD["enable_alert"],
                ident,
                res,
                self.change({"enabled": False}, {"enabled": True}),
                tail,
                None,
            )
        )
        return (
            HEAD["disable_alert"],
            res,
            self.change({"enabled": True}, {"enabled": False}, reason="maintenance window"),
        )

    def _delete_alert(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        name = ALERT_NAMES[int(self.r() * len(ALERT_NAMES))]
        return (
            HEAD["delete_alert"],
            resource("alert_rule", self.new_object_id("alert_old")),
            self.change({"name": name, "enabled": False}, {}),
        )

    def _update_retention(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        # Benign changes raise retention or lower it modestly, and are not followed by a purge.
        old = (30, 90, 180, 365)[int(self.r() * 4)]
        new = old * 2 if self.r() < 0.7 else max(30, old // 2)
        return (
            HEAD["update_retention_policy"],
            resource("retention_policy", f"retention_{src.rid}"),
            self.change({"retention_days": old}, {"retention_days": new}),
        )

    def _add_source(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        sid = self.new_object_id("source_service")
        return (
            HEAD["add_source"],
            resource("source", sid),
            self.change({}, {"name": sid.removeprefix("source_"), "type": "http"}),
        )

    def _remove_source(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        sid = self.new_object_id("source_legacy")
        return (
            HEAD["remove_source"],
            resource("source", sid),
            self.change({"name": sid.removeprefix("source_"), "type": "syslog"}, {}),
        )

    def _update_pii_masking(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        r = self.r
        field = ("email", "phone", "card_number", "ip_address", "iban")[int(r() * 5)]
        old, new = ("mask", "hash") if r() < 0.5 else ("hash", "mask")
        return (
            HEAD["update_pii_masking"],
            resource("pii_masking_rule", f"pii_rule_{field}"),
            self.change({"field": field, "action": old}, {"field": field, "action": new}),
        )

    def _update_org_settings(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        old = (30, 60, 120)[int(self.r() * 3)]
        return (
            HEAD["update_org_settings"],
            resource("organization", self.org),
            self.change({"session_timeout_minutes": old}, {"session_timeout_minutes": old * 2}),
        )

    # ---------------------------------------------------------------- user management
    def _invite_user(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        uid = self.new_object_id("user_guest")
        email = f"{uid.removeprefix('user_')}@partner.example"
        return (
            HEAD["invite_user"],
            resource("user", uid),
            orjson.dumps({"email": email, "role": "viewer"}).decode(),
        )

    def _change_role(self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str) -> Rendered:
        # Benign: between viewer and member, never to admin (that is privilege escalation).
        target = self.members[int(self.r() * len(self.members))] if self.members else p
        old = target.role.platform_role if target.role.platform_role != "admin" else "member"
        new = "viewer" if old == "member" else "member"
        return (
            HEAD["change_role"],
            resource("user", target.user_id),
            self.change({"role": old}, {"role": new}, target_email=target.email),
        )

    def _delete_account(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        uid = self.new_object_id("user_former")
        return (
            HEAD["delete_account"],
            resource("user", uid),
            orjson.dumps({"email": f"{uid}@{self.domain}", "reason": "offboarding"}).decode(),
        )

    def _create_api_key(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        return (
            HEAD["create_api_key"],
            resource("api_key", self.new_object_id("key")),
            '{"name":"ci-pipeline","scopes":["logs:read"]}',
        )

    def _revoke_api_key(
        self, p: Person, ms: int, src: SourceInfo, ident: str, tail: str
    ) -> Rendered:
        return (
            HEAD["revoke_api_key"],
            resource("api_key", self.new_object_id("key_old")),
            '{"reason":"rotation"}',
        )
