"""What people type into the log platform: query templates per source and for the audit
log, and each source's pre-rendered resource fragment and pool of queries (`SourceInfo`)."""

from __future__ import annotations

import random

import orjson

from simulator.sources import Source
from simulator.wire import resource

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


class SourceInfo:
    """A source with its pre-rendered resource fragment and a pool of realistic queries."""

    __slots__ = ("queries", "res", "rid", "search_pre", "source", "view_pre")

    def __init__(self, source: Source, rng: random.Random, rid: str | None = None) -> None:
        self.source = source
        self.rid = rid or source.resource_id
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
