"""Middleware for ASGI and WSGI applications that records each API call (family `api_call`),
like the request's Express middleware, through an `AuditLogger`:

    app = AuditASGIMiddleware(app, logger, organization="org_123",
                              user=lambda scope: scope.get("user_id"))
    wsgi_app = AuditWSGIMiddleware(wsgi_app, logger, organization="org_123")

Each call becomes one event: action = the HTTP method, resource `api_endpoint` = the path,
details = method, path, status and duration; the client IP is the peer address, or, when the
peer is a trusted proxy (`trusted_proxies=` or AUDITLENS_TRUSTED_PROXIES, comma-separated
addresses or CIDRs), the right-most X-Forwarded-For address that is not itself a trusted
proxy. Recording costs one `log_event` (microseconds, never raises) after the response is
sent; any error in the callbacks is swallowed, so the middleware never breaks the request.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ingest.sdk import AuditLogger
from sql.errors import ConfigurationError

TRUSTED_PROXIES_ENV = "AUDITLENS_TRUSTED_PROXIES"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxiesError(ConfigurationError, ValueError):
    """A trusted proxy is not an address or CIDR; the message names where it was given."""


def parse_networks(spec: str | Iterable[str] | None) -> list[Network]:
    """Addresses or CIDRs (comma-separated text or a list; None: AUDITLENS_TRUSTED_PROXIES).

    Parse once, when the server or middleware starts: a bad entry raises TrustedProxiesError
    naming the variable (or `trusted_proxies`) and the entry."""
    source = "trusted_proxies"
    if spec is None:
        spec, source = os.environ.get(TRUSTED_PROXIES_ENV, ""), TRUSTED_PROXIES_ENV
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    networks = []
    for part in parts:
        part = part.strip() if isinstance(part, str) else part
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except (TypeError, ValueError):
                raise TrustedProxiesError(
                    f"{source}: not an address or CIDR: {part!r}"
                    " (give addresses or CIDRs separated by commas, such as 10.0.0.0/8,::1)"
                ) from None
    return networks


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d: one host, two spellings,
    # and a proxy listed in either must match both.
    spellings: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        spellings.append(ip.ipv4_mapped)
    elif isinstance(ip, ipaddress.IPv4Address):
        spellings.append(ipaddress.IPv6Address(f"::ffff:{ip}"))
    return any(one in net for one in spellings for net in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: list[Network]) -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then walk
    X-Forwarded-For from the right past trusted proxies (left entries are client-controlled)."""
    peer = _address(peer)
    if peer is None or not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            # A forged or garbled hop: fall back to what we saw.
            return _address(hop) or peer
    return peer


def _address(value: str | None) -> str | None:
    """A valid IP address or None (a test client or a Unix socket has no address)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _call(callback: Callable[..., Any] | None, arg: Any) -> Any:
    if callback is None:
        return None
    try:
        return callback(arg)
    except Exception:
        return None


class _Recorder:
    def __init__(
        self,
        logger: AuditLogger,
        organization: str | Callable[[Any], str | None] | None,
        user: Callable[[Any], Any] | None,
        session: Callable[[Any], str | None] | None,
        trusted_proxies: str | Iterable[str] | None,
    ) -> None:
        self.logger = logger
        self.organization = organization
        self.user = user
        self.session = session
        self.trusted = parse_networks(trusted_proxies)

    def record(
        self,
        context: Any,
        *,
        method: str,
        path: str,
        status: int,
        started: float,
        peer: str | None,
        forwarded_for: str | None,
        user_agent: str | None,
    ) -> None:
        try:
            org = self.organization
            org_id = _call(org, context) if callable(org) else org
            who = _call(self.user, context)
            user_id = user_email = None
            if isinstance(who, tuple):
                user_id, user_email = (*who, None, None)[:2]
            elif who is not None:
                user_id = str(who)
            self.logger.log_event(
                event_type="api_call",
                event_action=method[:50],
                organization_id=org_id or self.logger.organization_id,
                user_id=user_id,
                user_email=user_email,
                ip_address=client_ip(peer, forwarded_for, self.trusted),
                user_agent=user_agent[:1024] if user_agent else None,
                session_id=_call(self.session, context),
                resource_type="api_endpoint",
                resource_id=path[:512],
                details={
                    "method": method,
                    "path": path[:2048],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        except Exception:  # noqa: S110 - observing a request must never break it
            pass


class AuditASGIMiddleware:
    """Records every HTTP request of an ASGI app; callbacks receive the ASGI scope."""

    def __init__(
        self,
        app: Any,
        logger: AuditLogger,
        *,
        organization: str | Callable[[Any], str | None] | None = None,
        user: Callable[[Any], Any] | None = None,
        session: Callable[[Any], str | None] | None = None,
        trusted_proxies: str | Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.recorder = _Recorder(logger, organization, user, session, trusted_proxies)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def watch(message: Any) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            headers: dict[str, str] = {}
            # Garbled headers are recorded as absent.
            with contextlib.suppress(Exception):
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in scope.get("headers", [])
                }
            client = scope.get("client")
            self.recorder.record(
                scope,
                method=str(scope.get("method", "")),
                path=str(scope.get("path", "")),
                status=status[0],
                started=started,
                peer=client[0] if client else None,
                forwarded_for=headers.get("x-forwarded-for"),
                user_agent=headers.get("user-agent"),
            )


class AuditWSGIMiddleware:
    """Records every request of a WSGI app; callbacks receive the WSGI environ."""

    def __init__(
        self,
        app: Any,
        logger: AuditLogger,
        *,
        organization: str | Callable[[Any], str | None] | None = None,
        user: Callable[[Any], Any] | None = None,
        session: Callable[[Any], str | None] | None = None,
        trusted_proxies: str | Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.recorder = _Recorder(logger, organization, user, session, trusted_proxies)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        status = [500]

        def watch(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line.split(" ", 1)[0])
            except (ValueError, AttributeError):
                status[0] = 500
            return start_response(status_line, headers, exc_info)

        def done() -> None:
            self.recorder.record(
                environ,
                method=str(environ.get("REQUEST_METHOD", "")),
                path=str(environ.get("PATH_INFO", "")),
                status=status[0],
                started=started,
                peer=environ.get("REMOTE_ADDR"),
                forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
                user_agent=environ.get("HTTP_USER_AGENT"),
            )

        try:
            body = self.app(environ, watch)
        except BaseException:
            done()
            raise
        return _Closing(body, done)


class _Closing:
    """The response body, recording the call when the server closes it (after sending)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self.body = body
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.on_close()
