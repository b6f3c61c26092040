"""Exports streamed straight from the database to the browser: an HTTP route of the
dashboard's server (`dashboard/server.py`, beside the session-cookie routes), so a
million-row CSV never sits in the server's memory or on its disk.

The page asks for a download link (`download_link`): a random ticket that names the export
(organisation, filter, format, proofs) and the session that asked, valid for
TICKET_TTL_SECONDS. `GET /_auditlens/export/<ticket>` answers only to the browser holding
that session's HttpOnly cookie, checks on every request that the session is live and that
the viewer may still export from that organisation, then streams the file as
`exports.ExportStream` produces it (read in one snapshot, escaped, hashed). Every download
is recorded in `audit_exports` before its first byte, then finalised with its SHA-256 and an
audit event, flagged for review over 10,000 rows; one cut off before its end (the browser
closed, the network dropped) is finalised as not completed, with the rows and the hash of
what was sent, since those rows left all the same.

The printable access report (REPORT_FORMAT) leaves the same way, never as a file of
Streamlit's media store (which serves anyone holding its URL): built when fetched, from the
ticket's query, and recorded as an `access_report` export.
"""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboard.session_cookie import COOKIE_NAME
from dashboard.tickets import TicketStore, digest
from sql.event_filter import EventFilter
from sql.gateway import Database
from sql.vocabulary import OWN_USE_ROLES
from usecases import access_report, accounts
from usecases.exports import FORMATS, Exporter, ExportStream

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

DOWNLOAD_PATH = "/_auditlens/export"
TICKET_TTL_SECONDS = 30 * 60
_MAX_TICKETS = 10_000
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # also safe in a header
# The printable access report of the ticket's query (usecases/access_report.py).
REPORT_FORMAT = "html"
_MIME = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson; charset=utf-8",
    REPORT_FORMAT: "text/html; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Opened in a tab, a report runs nothing and fetches nothing (its CSS is inline).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


@dataclass(frozen=True)
class _Ticket:
    session_digest: str  # SHA-256 of the session token that asked: only its cookie downloads
    org: str
    query: str  # EventFilter.to_query(): parsed back to an equal filter
    file_format: str
    with_proofs: bool
    file_name: str


# Bounds memory only: a page issues one link per view it shows. Tickets live in this server
# process, as Streamlit's sessions do: several dashboard servers behind one address need
# sticky sessions for Streamlit's websocket already, and the same browser then fetches its
# download from the server that issued the link.
_tickets: TicketStore[_Ticket] = TicketStore(TICKET_TTL_SECONDS, _MAX_TICKETS)


def download_link(
    session_token: str,
    org: str,
    event_filter: EventFilter,
    file_format: str,
    *,
    with_proofs: bool = False,
    file_name: str,
    base_path: str = "",
) -> str:
    """The URL path of a new download of the filtered events, or of the access report of the
    filter's query (REPORT_FORMAT); valid TICKET_TTL_SECONDS."""
    if file_format not in (*FORMATS, REPORT_FORMAT):
        raise ValueError(
            f"format must be one of {', '.join((*FORMATS, REPORT_FORMAT))}, got: {file_format!r}"
        )
    if file_format == REPORT_FORMAT and with_proofs:
        raise ValueError("with_proofs: the printable report carries no proofs")
    if not _SAFE_NAME.match(file_name):
        raise ValueError(f"file_name: letters, digits, '.', '_' and '-' only, got: {file_name!r}")
    ticket = _tickets.issue(
        _Ticket(
            digest(session_token),
            org,
            event_filter.to_query(),
            file_format,
            with_proofs,
            file_name,
        )
    )
    return f"{base_path}{DOWNLOAD_PATH}/{ticket}"


def _client_ip(request: Request) -> str | None:
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def _report_html(db: Database, org: str, query: str, exporter: Exporter) -> bytes:
    """The printable access report of `query`, built now and recorded as an export."""
    report = access_report.build_access_report(
        db, org, query, generated_by=exporter.email or exporter.user_id
    )
    out = io.BytesIO()
    access_report.write_html(db, org, report, out, exporter=exporter)
    return out.getvalue()


def _plain(status: int, message: str) -> Response:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(message, status_code=status, headers={"Cache-Control": "no-store"})


def download_routes(database: Callable[[], Database], base_path: str = "") -> list[BaseRoute]:
    """The export download route under `base_path` (Streamlit's server.baseUrlPath);
    `database` gives the dashboard's connection pool."""
    import anyio
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    class ExportResponse(StreamingResponse):
        """Streams an export and, however the response ends, closes it: a client gone partway
        ends the read transaction and gets what was sent recorded (closing the stream's
        iterator, a no-op once it has ended)."""

        def __init__(self, export: ExportStream, **kwargs: object) -> None:
            self.chunks = iter(export)
            super().__init__(self.chunks, **kwargs)  # type: ignore[arg-type]

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await super().__call__(scope, receive, send)
            finally:
                # Shielded: on a disconnect this runs while the response is being cancelled.
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(self.chunks.close)

    async def download(request: Request) -> Response:
        entry = _tickets.get(str(request.path_params.get("ticket", "")))
        if entry is None:
            return _plain(404, "This download link has expired: reload the page for a new one.")
        cookie = request.cookies.get(COOKIE_NAME)
        if not cookie or digest(cookie) != entry.session_digest:
            return _plain(403, "This download belongs to another session: sign in again.")
        db = database()
        viewer = await run_in_threadpool(accounts.viewer_for_token, db, cookie)
        if viewer is None:
            return _plain(401, "Your session has ended: sign in again.")
        membership = viewer.memberships.get(entry.org)
        if membership is None or not membership.may_export:
            return _plain(403, "Your role in this organisation does not include exports.")
        if EventFilter.parse(entry.query).own_use and membership.role not in OWN_USE_ROLES:
            return _plain(403, "AuditLens's own use is exported by admins and auditors only.")
        agent = request.headers.get("user-agent")
        exporter = Exporter(
            user_id=viewer.user_id,
            email=viewer.email,
            session_id=viewer.session_id,
            ip_address=_client_ip(request),
            user_agent=agent[:512] if agent else None,
        )
        headers = {"Content-Disposition": f'attachment; filename="{entry.file_name}"', **_HEADERS}
        if entry.file_format == REPORT_FORMAT:
            body = await run_in_threadpool(_report_html, db, entry.org, entry.query, exporter)
            return Response(body, media_type=_MIME[REPORT_FORMAT], headers=headers)
        stream = ExportStream(
            db,
            entry.org,
            EventFilter.parse(entry.query),
            entry.file_format,
            exporter=exporter,
            with_proofs=entry.with_proofs,
        )
        return ExportResponse(
            stream,  # a plain iterator: Starlette runs each step in its thread pool
            media_type=_MIME[entry.file_format],
            headers=headers,
        )

    return [Route(base_path + DOWNLOAD_PATH + "/{ticket}", download, methods=["GET"])]
