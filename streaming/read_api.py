"""The read API on the receiver, for tools that pull: an organisation's events and findings.

    GET /api/v1/events     Authorization: Bearer alr_...  (a read key of the organisation)
    GET /api/v1/findings   ?q=<Explore query>&limit=<1..1000>&cursor=<next_cursor>

Pages follow ingest order (`streaming.read_pages`): following `next_cursor` never skips or
repeats a row while others insert. Events are the stored event exactly, as streaming's native
JSON. Every page served is itself an audit event of the key's organisation (`api_read`, in
AuditLens's own stream) with its query, row count and the SHA-256 of the body, written before
the body leaves; if it cannot be written, the page is not served.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from datetime import date, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from ingest.keys import INGEST, READ, ResolvedKey, resolve
from ingest.middleware import Network, client_ip, parse_networks
from ingest.receiver import HTTPProblem
from sql.errors import QueryTimeout, ServerUnavailable
from sql.event_filter import EventFilter, QuerySyntaxError
from sql.event_store import record_event
from sql.filter_text import SEPARATORS
from sql.gateway import Database
from sql.settings import positive_int_env
from sql.vocabulary import API_READ
from streaming.formats import native_event, native_finding
from streaming.read_pages import (
    DEFAULT_LIMIT,
    EVENTS,
    FINDINGS,
    MAX_LIMIT,
    Page,
    ReadError,
    check_finding_filter,
    decode_cursor,
    encode_cursor,
    events_page,
    findings_page,
)

# Pages being read at once; more get 503 + Retry-After. A page holds up to MAX_LIMIT events of
# up to 64 KiB of details each, so this bounds the memory reads can take.
MAX_PAGES_ENV = "AUDITLENS_READ_API_MAX_CONCURRENT_PAGES"
DEFAULT_MAX_PAGES = 4
EVENTS_PATH = "/api/v1/events"
FINDINGS_PATH = "/api/v1/findings"
_MAX_USER_AGENT = 512
_SHOWN_TERM = 60

_bearer = HTTPBearer(
    scheme_name="ReadKey",
    bearerFormat="alr_<key id>_<secret>",
    description="A read key of one organisation (`auditlens keys create --scope read`). "
    "Ingest keys cannot read, read keys cannot send events.",
    auto_error=False,
)


class Problem(BaseModel):
    """Every error: one line saying what is wrong, naming the parameter."""

    error: str


class AuditEvent(BaseModel):
    """One stored event, exactly as stored (streaming's native JSON); times in UTC."""

    organization_id: str
    id: str
    event_time: datetime = Field(description="the event's own time (wire name: timestamp)")
    event_type: str = Field(description="the family: log_access, config_change, ...")
    event_action: str
    user_id: str | None
    user_email: str | None
    ip_address: str | None
    user_agent: str | None
    resource_type: str | None
    resource_id: str | None
    details: dict[str, Any]
    session_id: str | None
    received_at: datetime = Field(description="when AuditLens stored it")
    retention_guaranteed_until: datetime
    ingest_seq: int = Field(description="AuditLens's sequence number (display and sealing)")


class EventPage(BaseModel):
    events: list[AuditEvent] = Field(description="in ingest order, at most `limit`")
    next_cursor: str = Field(description="pass as `cursor` for the next page (opaque)")
    has_more: bool = Field(
        description="true: the next page is already there; false: caught up, poll again later"
    )


class Finding(BaseModel):
    """One stored finding, every column as stored (streaming's native JSON)."""

    kind: Literal["finding"]
    organization_id: str
    finding_id: str
    run_id: int
    created_at: datetime
    user_id: str
    user_email: str | None
    day: date
    window_start: datetime
    window_end: datetime
    score: float
    severity: Literal["low", "medium", "high", "critical"]
    detectors: list[str]
    title: str
    explanation: str
    evidence_query: str = Field(description="the Explore query that shows its events")
    rule_score: float
    model_score: float | None
    model_percentile: float | None
    model_version: str | None


class FindingPage(BaseModel):
    findings: list[Finding] = Field(description="in the order they were stored, at most `limit`")
    next_cursor: str = Field(description="pass as `cursor` for the next page (opaque)")
    has_more: bool = Field(
        description="true: the next page is already there; false: caught up, poll again later"
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "bad q, limit or cursor (the message names it)"},
    401: {"model": Problem, "description": "missing, unknown or revoked read key"},
    403: {"model": Problem, "description": "an ingest key: it can send events, not read them"},
    503: {
        "model": Problem,
        "description": "too many reads at once (Retry-After), the database unavailable, or the"
        " query ran too long",
    },
}

_Q = Query(
    description="a query in the Explore syntax (`user:`, `action:`, `created:`, "
    "`stream:auditlens`, text...); empty: every event of the organisation",
)
_LIMIT = Query(ge=1, le=MAX_LIMIT, description=f"rows per page (1..{MAX_LIMIT})")
_CURSOR = Query(description="`next_cursor` of the previous page; none: from the start")


def _term_at(query: str, position: int | None) -> str:
    """The whitespace-separated term around `position`, quoted and cut short, for messages."""
    if position is None or not query:
        return ""
    position = min(max(position, 0), len(query) - 1)
    start = position
    while start > 0 and query[start - 1] not in SEPARATORS:
        start -= 1
    end = position
    while end < len(query) and query[end] not in SEPARATORS:
        end += 1
    term = query[start:end][:_SHOWN_TERM]
    return f" (term {term!r})" if term else ""


def parse_query(q: str) -> EventFilter:
    """`q` as a filter; a bad one is a ReadError naming the term."""
    try:
        return EventFilter.parse(q)
    except QuerySyntaxError as exc:
        raise ReadError(f"q: {exc}{_term_at(q, exc.position)}") from None


# The parameters a page takes, each at most once: FastAPI would keep one of several values and
# drop the rest unsaid (`q=a&q=b` would read as one of the two queries).
_PARAMETERS = ("q", "limit", "cursor")


def _refuse_repeated(request: Request) -> None:
    for name in _PARAMETERS:
        given = len(request.query_params.getlist(name))
        if given > 1:
            hint = " (repeat a qualifier inside one q to OR its values)" if name == "q" else ""
            raise HTTPProblem(400, f"{name}: give it once, got it {given} times{hint}")


def _client_ip(request: Request, trusted: list[Network]) -> str | None:
    """The reader's address as audited: the peer's, or, when the peer is one of the proxies
    the operator trusts (`trusted`), the address it forwarded. The server itself never
    rewrites the peer from X-Forwarded-For (see `serve-ingest`)."""
    peer = request.client.host if request.client else None
    # Several lines are one list, in order: a proxy may add its own after the client's.
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
    host = client_ip(peer, forwarded, trusted)
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    if not agent:
        return None
    return "".join(c for c in agent if c.isprintable())[:_MAX_USER_AGENT] or None


def install_read_api(
    app: FastAPI,
    db: Database,
    *,
    max_pages: int | None = None,
    trusted_proxies: list[Network] | None = None,
) -> None:
    """Add the read API's routes to the receiver's app `app`, reading from `db`, at most
    `max_pages` pages at once (else AUDITLENS_READ_API_MAX_CONCURRENT_PAGES).

    Readers' addresses are believed from X-Forwarded-For only when the peer is one of
    `trusted_proxies` (else AUDITLENS_TRUSTED_PROXIES, read now: a malformed value raises
    TrustedProxiesError here, not on each request)."""
    trusted = parse_networks(None) if trusted_proxies is None else trusted_proxies
    pages = threading.BoundedSemaphore(
        max_pages or positive_int_env(MAX_PAGES_ENV, DEFAULT_MAX_PAGES)
    )

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI documents a 422 for every route with parameters; bad_parameter answers 400.
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = default_openapi()  # cached by FastAPI as app.openapi_schema
        for path in (EVENTS_PATH, FINDINGS_PATH):
            doc["paths"][path]["get"]["responses"].pop("422", None)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        name = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"error": f"{name}: {first.get('msg', 'invalid')}"}, status_code=400)

    def read_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ResolvedKey:
        if credentials is None:
            raise HTTPProblem(401, "Authorization must be Bearer <read key>")
        token = credentials.credentials.strip()
        try:
            key = resolve(db, token, READ)
            if key is None and resolve(db, token, INGEST) is not None:
                raise HTTPProblem(
                    403, "this is an ingest key: it can send events, not read them (use a read key)"
                )
        except (OperationalError, ServerUnavailable):
            raise HTTPProblem(503, "cannot check the read key: database unavailable") from None
        if key is None:
            raise HTTPProblem(401, "unknown or revoked read key")
        return key

    def serve(
        request: Request,
        key: ResolvedKey,
        *,
        kind: str,
        q: str,
        limit: int,
        cursor: str | None,
    ) -> Response:
        _refuse_repeated(request)
        if not pages.acquire(blocking=False):
            raise HTTPProblem(503, "too many pages being read at once: retry shortly")
        try:
            return serve_page(request, key, kind=kind, q=q, limit=limit, cursor=cursor)
        finally:
            pages.release()

    def serve_page(
        request: Request,
        key: ResolvedKey,
        *,
        kind: str,
        q: str,
        limit: int,
        cursor: str | None,
    ) -> Response:
        try:
            start = decode_cursor(kind, cursor)
            event_filter = parse_query(q)
            if kind == FINDINGS:
                check_finding_filter(event_filter)
            read = events_page if kind == EVENTS else findings_page
            page = read(db, key.organization_id, event_filter, start, limit)
        except ReadError as exc:
            raise HTTPProblem(400, str(exc)) from None
        except QueryTimeout:
            raise HTTPProblem(
                503, "q: the query ran past its time limit; narrow it (for example created:)"
            ) from None
        except (OperationalError, ServerUnavailable):
            raise HTTPProblem(503, "database unavailable") from None
        next_cursor = encode_cursor(kind, page.next_position)
        body = _body(kind, page, next_cursor)
        try:
            _record(
                db,
                key,
                request,
                trusted,
                kind,
                event_filter,
                limit,
                cursor,
                page,
                next_cursor,
                body,
            )
        except (OperationalError, ServerUnavailable):
            raise HTTPProblem(503, "database unavailable: the read could not be audited") from None
        return Response(body, media_type="application/json")

    @app.get(
        EVENTS_PATH,
        response_model=EventPage,
        responses=_ERRORS,
        tags=["read API"],
        summary="Read the organisation's events, in ingest order",
    )
    def get_events(
        request: Request,
        key: ResolvedKey = Depends(read_key),  # noqa: B008 - a local function
        q: Annotated[str, _Q] = "",
        limit: Annotated[int, _LIMIT] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, _CURSOR] = None,
    ) -> Response:
        """The organisation's events matching `q`, oldest ingested first. Follow
        `next_cursor`: no event is skipped or repeated, even while events are being stored.
        Each page is recorded as an `api_read` audit event (`stream:auditlens`)."""
        return serve(request, key, kind=EVENTS, q=q, limit=limit, cursor=cursor)

    @app.get(
        FINDINGS_PATH,
        response_model=FindingPage,
        responses=_ERRORS,
        tags=["read API"],
        summary="Read the organisation's findings, in the order they were stored",
    )
    def get_findings(
        request: Request,
        key: ResolvedKey = Depends(read_key),  # noqa: B008 - a local function
        q: Annotated[str, _Q] = "",
        limit: Annotated[int, _LIMIT] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, _CURSOR] = None,
    ) -> Response:
        """The organisation's findings, oldest stored first; `q` takes `user:` and `created:`
        (findings whose window overlaps it). Follow `next_cursor` as for events. Each page is
        recorded as an `api_read` audit event."""
        return serve(request, key, kind=FINDINGS, q=q, limit=limit, cursor=cursor)


def _body(kind: str, page: Page, next_cursor: str) -> bytes:
    if kind == EVENTS:
        rows = [orjson.Fragment(native_event(row)) for row in page.rows]
        return orjson.dumps({"events": rows, "next_cursor": next_cursor, "has_more": page.has_more})
    found = [orjson.Fragment(native_finding(row)) for row in page.rows]
    return orjson.dumps({"findings": found, "next_cursor": next_cursor, "has_more": page.has_more})


def _record(
    db: Database,
    key: ResolvedKey,
    request: Request,
    trusted: list[Network],
    kind: str,
    event_filter: EventFilter,
    limit: int,
    cursor: str | None,
    page: Page,
    next_cursor: str,
    body: bytes,
) -> None:
    """The page as an audit event of the key's organisation, before the body leaves."""
    path = EVENTS_PATH if kind == EVENTS else FINDINGS_PATH
    with db.writer() as session:
        record_event(
            session,
            organization_id=key.organization_id,
            action=API_READ,
            user_id=f"read_key:{key.key_id}",
            resource_type="audit_log",
            resource_id=path,
            details={
                "key_id": key.key_id,
                "query": event_filter.to_query(),
                "filter": event_filter.describe(),
                "limit": limit,
                "cursor": cursor or "",
                "next_cursor": next_cursor,
                "rows": len(page.rows),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            ip_address=_client_ip(request, trusted),
            user_agent=_user_agent(request),
        )
