"""The provider session on the browser: its cookie, and which user this request is signed in as
(the session itself is ``idp.domain.sessions``)."""

from __future__ import annotations

from flask import Response, g, request

from idp.domain import sessions
from idp.domain.sessions import SignedIn
from idp.http import uow
from idp.http.context import deps, request_info
from idp.storage.sql.models import User

__all__ = ["SignedIn", "apply_cookie", "cookie_name", "current", "sign_in", "sign_out"]


def cookie_name() -> str:
    # The __Host- prefix pins the cookie to this host and path "/" over https (RFC 6265bis §4.1.3.2).
    return "__Host-idp_session" if deps().settings.server.secure_cookies else "idp_session"


def current() -> SignedIn | None:
    """The signed-in user of this browser, or None (ended, expired, idle, or user disabled)."""
    if "idp_signed_in" in g:
        return g.idp_signed_in
    token = request.cookies.get(cookie_name())
    result = None
    if token:
        result = sessions.find(uow.session(), token, now=deps().now(), idle=deps().settings.sessions.idle_seconds)
    g.idp_signed_in = result
    return result


def sign_in(user: User, amr: list[str]) -> SignedIn:
    """Start a new session for this browser, ending the one it had (ASVS 7.2.4)."""
    settings, db, now = deps().settings, uow.session(), deps().now()
    old = current()
    if old is not None:
        sessions.end(db, old.session.id, now)
    signed_in, token = sessions.start(
        db,
        user,
        amr,
        now=now,
        idle=settings.sessions.idle_seconds,
        absolute=settings.sessions.max_seconds,
        info=request_info(),
    )
    g.idp_signed_in = signed_in
    g.idp_session_cookie = token
    return signed_in


def sign_out() -> SignedIn | None:
    """End this browser's session server-side (and queue its back-channel logouts)."""
    old = current()
    if old is not None:
        sessions.end(uow.session(), old.session.id, deps().now())
    g.idp_signed_in = None
    g.idp_session_cookie = ""
    return old


def apply_cookie(response: Response) -> Response:
    token = g.get("idp_session_cookie")
    if token is None:
        return response
    settings = deps().settings
    if token:
        response.set_cookie(
            cookie_name(),
            token,
            httponly=True,
            samesite="Lax",
            secure=settings.server.secure_cookies,
            path="/",
            max_age=settings.sessions.max_seconds,
        )
    else:
        response.delete_cookie(
            cookie_name(), path="/", httponly=True, samesite="Lax", secure=settings.server.secure_cookies
        )
    return response
