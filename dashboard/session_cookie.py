"""The signed-in session survives reloads and new tabs: an HttpOnly cookie holds the session's
opaque token (only its SHA-256 is in `dashboard_sessions`).

Streamlit scripts talk to the browser over a websocket and cannot set a cookie themselves, so
the dashboard runs as an `st.App` (`dashboard/server.py`) with two small HTTP routes:

- `POST /_auditlens/session` with a one-time ticket answers with `Set-Cookie` (HttpOnly,
  SameSite=Strict, Secure on https). After a sign-in, the script issues the ticket (random,
  single use, 60 s) and renders a few lines of JavaScript that post it. The token itself never
  reaches the page, JavaScript or a URL: the ticket maps to it inside this process.
- `POST /_auditlens/session/end` expires the cookie (after sign-out; the session row is
  already revoked, so a cookie that outlives this is useless anyway).

Both routes want the header `X-AuditLens-Request` and, when the browser sends `Origin`, the
dashboard's own origin: a cross-site form or fetch cannot use them. On each new page load the
script reads the cookie from `st.context.cookies` (sent with the websocket handshake).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dashboard.tickets import TicketStore

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

COOKIE_NAME = "auditlens_session"
SESSION_PATH = "/_auditlens/session"
END_PATH = "/_auditlens/session/end"
REQUEST_HEADER = "X-AuditLens-Request"
TICKET_TTL_SECONDS = 60.0
_MAX_BODY = 1024
_MAX_PENDING = 10_000


# Sign-ins are throttled; the bound only limits memory if something loops.
_pending: TicketStore[tuple[str, int]] = TicketStore(TICKET_TTL_SECONDS, _MAX_PENDING)


def issue_ticket(token: str, max_age_seconds: int) -> str:
    """A one-time ticket the browser trades for the session cookie within TICKET_TTL_SECONDS."""
    return _pending.issue((token, max(1, int(max_age_seconds))))


def redeem_ticket(ticket: str) -> tuple[str, int] | None:
    """The (token, max age) of a live ticket, which is used up; None when unknown or stale."""
    return _pending.take(ticket)


def ticket_pending(ticket: str) -> bool:
    """True while the browser has not traded the ticket yet (and it has not expired)."""
    return _pending.get(ticket) is not None


def cookie_token() -> str | None:
    """The session token the browser sent with this page load, if any."""
    import streamlit as st

    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no request context (scripts)
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def base_path() -> str:
    """Streamlit's server.baseUrlPath as a URL path prefix ("" or "/prefix")."""
    import streamlit as st

    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def _post_script(path: str, body: dict[str, str]) -> str:
    # json.dumps of our own constants and a urlsafe ticket: nothing a viewer typed.
    return (
        "<script>fetch("
        + json.dumps(base_path() + path)
        + ", {method: 'POST', credentials: 'same-origin', headers: {'Content-Type':"
        " 'application/json', "
        + json.dumps(REQUEST_HEADER)
        + ": '1'}, body: "
        + json.dumps(json.dumps(body))
        + "});</script>"
    )


def render_cookie_writer(ticket: str) -> None:
    """Have the browser trade `ticket` for the session cookie (runs once, invisibly)."""
    import streamlit as st

    st.html(_post_script(SESSION_PATH, {"ticket": ticket}), unsafe_allow_javascript=True)


def render_cookie_clear() -> None:
    """Have the browser drop the session cookie (after sign-out)."""
    import streamlit as st

    st.html(_post_script(END_PATH, {}), unsafe_allow_javascript=True)


def _same_origin(request: Request) -> bool:
    if request.headers.get(REQUEST_HEADER) != "1":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def _is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


async def _read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > _MAX_BODY:
        return {}
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _cookie_path() -> str:
    return base_path() + "/"


async def set_session_cookie(request: Request) -> Response:
    """POST /_auditlens/session: trade a one-time ticket for the HttpOnly session cookie."""
    from starlette.responses import Response

    if not _same_origin(request):
        return Response("forbidden", status_code=403)
    data = await _read_json(request)
    redeemed = redeem_ticket(str(data.get("ticket") or ""))
    if redeemed is None:
        return Response("unknown or expired ticket", status_code=400)
    token, max_age = redeemed
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age,
        path=_cookie_path(),
        httponly=True,
        secure=_is_https(request),
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def end_session_cookie(request: Request) -> Response:
    """POST /_auditlens/session/end: expire the session cookie."""
    from starlette.responses import Response

    if not _same_origin(request):
        return Response("forbidden", status_code=403)
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE_NAME,
        path=_cookie_path(),
        httponly=True,
        secure=_is_https(request),
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def cookie_routes() -> list[BaseRoute]:
    """The two HTTP routes `dashboard/server.py` adds to the Streamlit server."""
    from starlette.routing import Route

    base = base_path()
    return [
        Route(base + SESSION_PATH, set_session_cookie, methods=["POST"]),
        Route(base + END_PATH, end_session_cookie, methods=["POST"]),
    ]
