"""Every page starts with `ctx = page_context("Title")`: sign-in, organisation, audit.

`page_context` stops the page with the sign-in form unless a live session exists, renders the
organisation picker (the viewer's memberships, also read from and written to the URL as
`?org=`), renders the page title, and records the page view as an audit event. Pages then
read through `ctx.db` scoped to `ctx.org`, check `ctx.can_export`, and record what the viewer
does with `ctx.record(action, details)`.

Tests sign a viewer in by putting a session token (from `accounts.open_session`) into
`st.session_state[SESSION_TOKEN_KEY]` before running a page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import session_cookie, viewer_time
from dashboard.markdown_text import md
from dashboard.resources import database
from sql.gateway import Database
from sql.vocabulary import VIEW_LOGS, OwnAction
from usecases import accounts
from usecases.accounts import Viewer
from usecases.self_audit import record_dashboard_event

SIGN_IN_WIDTH = 420  # pixels
SESSION_TOKEN_KEY = "auditlens_session_token"  # noqa: S105 - a state key, not a secret
ORG_KEY = "auditlens_org"
_LAST_RECORDED_KEY = "auditlens_last_recorded"
_CURRENT_PAGE_KEY = "auditlens_current_page"
_COOKIE_TICKET_KEY = "auditlens_cookie_ticket"
_CLEAR_COOKIE_KEY = "auditlens_clear_cookie"
_SIGNED_OUT_COOKIE_KEY = "auditlens_signed_out_token"


@dataclass
class PageContext:
    """What a page needs: the database, who is looking, at which organisation, as what."""

    db: Database
    viewer: Viewer
    org: str
    role: str
    page_title: str = ""

    @property
    def can_export(self) -> bool:
        """Admins and auditors export; analysts only with the export right."""
        membership = self.viewer.memberships.get(self.org)
        return membership is not None and membership.may_export

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def record(
        self,
        action: OwnAction,
        details: Mapping[str, Any] | None = None,
        *,
        resource_id: str | None = None,
        dedupe: bool = True,
    ) -> str | None:
        """Write what the viewer did as an audit event (resource_type `audit_log`).

        Streamlit reruns the page on every interaction: with `dedupe` (the default) an action
        with the same details as its last recording on this visit of the page is not recorded
        again. Returns the event id, or None when deduplicated.
        """
        payload = {"page": self.page_title, **dict(details or {})}
        key = json.dumps([self.org, resource_id, payload], sort_keys=True, default=str)
        last: dict[str, str] = st.session_state.setdefault(_LAST_RECORDED_KEY, {})
        slot = f"{self.page_title}\x00{action}"
        if dedupe and last.get(slot) == key:
            return None
        event_id = record_dashboard_event(
            self.db,
            org=self.org,
            viewer=self.viewer,
            action=action,
            details=payload,
            resource_id=resource_id or _slug(self.page_title),
            ip_address=_client_ip(),
            user_agent=_user_agent(),
        )
        last[slot] = key
        return event_id


def _slug(title: str) -> str:
    return "dashboard/" + "_".join(title.lower().split()) if title else "dashboard"


def _client_ip() -> str | None:
    try:
        ip = st.context.ip_address
    except Exception:  # no request context (tests, scripts)
        return None
    if not ip:
        return None
    # inet rejects anything else; a proxy may hand us a hostname.
    import ipaddress

    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _user_agent() -> str | None:
    try:
        agent = st.context.headers.get("User-Agent")
    except Exception:  # no request context (tests, scripts)
        return None
    return agent[:512] if agent else None


def oidc_configured() -> bool:
    """OIDC sign-in (`st.login`) is on when `.streamlit/secrets.toml` has an [auth] section."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def current_viewer(db: Database) -> Viewer | None:
    """The signed-in viewer of this browser session, or None.

    The session token is looked up in this order: `st.session_state` (this tab, since it
    signed in), the HttpOnly session cookie (a reload or another tab of the same browser),
    then an OIDC identity (`st.user`), which opens a session of its own. Every token is
    checked against `dashboard_sessions` on every run, so a revoked or expired one stops
    working at once.
    """
    token = st.session_state.get(SESSION_TOKEN_KEY)
    if token:
        viewer = accounts.viewer_for_token(db, token)
        if viewer is not None:
            return viewer
        # Expired or ended: forget it so the sign-in form shows.
        del st.session_state[SESSION_TOKEN_KEY]
    cookie = session_cookie.cookie_token()
    if cookie and cookie != st.session_state.get(_SIGNED_OUT_COOKIE_KEY):
        viewer = accounts.viewer_for_token(db, cookie)
        if viewer is not None:
            st.session_state[SESSION_TOKEN_KEY] = cookie
            return viewer
        # Expired or revoked elsewhere: have the browser drop it, once.
        st.session_state[_SIGNED_OUT_COOKIE_KEY] = cookie
        st.session_state[_CLEAR_COOKIE_KEY] = True
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        return _oidc_viewer(db)
    return None


def oidc_email() -> str | None:
    """The email of the OIDC identity, or None when the provider says it is not verified."""
    email = st.user.get("email")
    if not email:
        return None
    # A provider that lets users type any address must not map them onto someone's account.
    # Only an explicit boolean true counts: a missing claim or the string "false" is not.
    if st.user.get("email_verified") is not True:
        return None
    return str(email)


def _oidc_viewer(db: Database) -> Viewer | None:
    """Map the OIDC identity (email) to its built-in account and open an audited session."""
    email = oidc_email()
    if email is None:
        return None
    viewer = accounts.viewer_for_email(db, email)
    if viewer is None or not viewer.memberships:
        return viewer
    token, viewer = accounts.open_session(
        db, viewer.user_id, method="oidc", ip_address=_client_ip(), user_agent=_user_agent()
    )
    _remember_session(token)
    return viewer


def _remember_session(token: str) -> None:
    """Keep the token for this tab and have the browser store it as the session cookie."""
    st.session_state[SESSION_TOKEN_KEY] = token
    st.session_state[_COOKIE_TICKET_KEY] = session_cookie.issue_ticket(
        token, int(accounts.SESSION_TTL.total_seconds())
    )
    st.session_state.pop(_SIGNED_OUT_COOKIE_KEY, None)


def render_session_cookie() -> None:
    """Render the browser side of the session cookie: set it after a sign-in until the
    browser has traded its ticket, clear it after a sign-out. Call once per run."""
    ticket = st.session_state.get(_COOKIE_TICKET_KEY)
    if ticket:
        if session_cookie.ticket_pending(ticket):
            session_cookie.render_cookie_writer(ticket)
        else:
            del st.session_state[_COOKIE_TICKET_KEY]
    if st.session_state.pop(_CLEAR_COOKIE_KEY, False):
        session_cookie.render_cookie_clear()


def render_sign_in(db: Database) -> None:
    """The sign-in page: OIDC button when configured, else the built-in account form."""
    st.title("Sign in to AuditLens")
    if oidc_configured():
        if getattr(st.user, "is_logged_in", False):
            if st.user.get("email") and oidc_email() is None:
                st.error(
                    f"Your identity provider has not verified {md(st.user.get('email'))}: "
                    "AuditLens maps only verified addresses to accounts."
                )
            else:
                st.error(
                    f"{md(st.user.get('email'))} has no AuditLens account or organisation: "
                    "ask an admin to run `auditlens users add`."
                )
            if st.button("Sign out", key="signin_oidc_logout"):
                st.logout()
            return
        st.button("Sign in with single sign-on", key="signin_oidc", on_click=st.login)
        st.divider()
    # A form of normal width, not the wide layout's full page.
    with st.container(width=SIGN_IN_WIDTH), st.form("signin_form"):
        email = st.text_input("Email", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            token, _viewer = accounts.authenticate(
                db, email, password, ip_address=_client_ip(), user_agent=_user_agent()
            )
        except accounts.SignInRefused as exc:
            st.error(md(exc))
            return
        _remember_session(token)
        st.rerun()


def sign_out(db: Database) -> None:
    """End the session (revoked in the database), drop the cookie, and leave OIDC too."""
    token = st.session_state.pop(SESSION_TOKEN_KEY, None)
    st.session_state.pop(_LAST_RECORDED_KEY, None)
    st.session_state.pop(_COOKIE_TICKET_KEY, None)
    if token:
        accounts.end_session(db, token)
        # This tab's handshake still carries the old cookie: never take it back.
        st.session_state[_SIGNED_OUT_COOKIE_KEY] = token
    st.session_state[_CLEAR_COOKIE_KEY] = True
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def _pick_org(viewer: Viewer) -> str:
    orgs = viewer.organizations
    wanted = st.query_params.get("org")
    if wanted in orgs and st.session_state.get(ORG_KEY) not in orgs:
        st.session_state[ORG_KEY] = wanted
    if st.session_state.get(ORG_KEY) not in orgs:
        st.session_state[ORG_KEY] = wanted if wanted in orgs else orgs[0]
    org = st.sidebar.selectbox("Organisation", orgs, key=ORG_KEY)
    if st.query_params.get("org") != org:
        st.query_params["org"] = org
    return str(org)


def page_context(page_title: str) -> PageContext:
    """Sign-in gate, organisation picker, title and page-view audit for one page.

    Stops the script (shows the sign-in form) when nobody is signed in, and stops with a
    message when the viewer belongs to no organisation.
    """
    db = database()
    viewer = current_viewer(db)
    if viewer is None:
        render_sign_in(db)
        st.stop()
    if not viewer.memberships:
        st.warning("Your account belongs to no organisation yet: ask an admin for access.")
        st.stop()
    org = _pick_org(viewer)
    role = viewer.memberships[org].role
    with st.sidebar:
        st.caption(f"Signed in as **{md(viewer.email)}** · {md(role)}")
        viewer_time.render_switch()
        if st.button("Sign out", key="auditlens_sign_out"):
            sign_out(db)
            st.rerun()
    ctx = PageContext(db=db, viewer=viewer, org=org, role=role, page_title=page_title)
    if st.session_state.get(_CURRENT_PAGE_KEY) != page_title:
        # A new visit of this page: its actions count afresh.
        st.session_state[_CURRENT_PAGE_KEY] = page_title
        st.session_state[_LAST_RECORDED_KEY] = {}
    st.title(md(page_title))
    ctx.record(VIEW_LOGS, {"org": org})
    return ctx
