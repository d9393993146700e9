"""The provider's browser session: which user this browser is signed in as."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from idp import services
from idp.storage.sql.database import get_session
from idp.storage.sql import sessions as session_repo, users as user_repo
from idp.storage.sql.models import BrowserSession, User
from idp.http.context import client_ip


@dataclass
class SignedIn:
    session: BrowserSession
    user: User


def cookie_name() -> str:
    # The __Host- prefix pins the cookie to this host and path "/" over https (RFC 6265bis §4.1.3.2).
    return "__Host-idp_session" if services.settings().secure_cookies else "idp_session"


def current() -> SignedIn | None:
    """The signed-in user of this browser, or None (ended, expired, idle, or user disabled)."""
    if "idp_signed_in" in g:
        return g.idp_signed_in
    result = None
    token = request.cookies.get(cookie_name())
    if token:
        settings, db = services.settings(), get_session()
        row = session_repo.find_active_session(db, token, now=services.now(), idle=settings.session_idle_seconds)
        user = user_repo.get_user(db, row.user_id) if row else None
        if row and user and user.active:
            result = SignedIn(row, user)
            if session_repo.touch(db, row, services.now()):
                db.commit()
    g.idp_signed_in = result
    return result


def sign_in(user: User, amr: list[str]) -> SignedIn:
    """Start a new session (never reusing the pre-login one, ASVS 7.2.4); the caller commits."""
    settings, db, now = services.settings(), get_session(), services.now()
    old = current()
    if old is not None:
        session_repo.end_session(db, old.session.id, now)
    row, token = session_repo.start_session(
        db, user_id=user.id, amr=amr, now=now, idle=settings.session_idle_seconds,
        absolute=settings.session_max_seconds, ip=client_ip(), user_agent=request.headers.get("User-Agent", ""))
    g.idp_signed_in = SignedIn(row, user)
    g.idp_session_cookie = token
    return g.idp_signed_in


def sign_out() -> SignedIn | None:
    """End this browser's session server-side; the caller commits."""
    old = current()
    if old is not None:
        session_repo.end_session(get_session(), old.session.id, services.now())
    g.idp_signed_in = None
    g.idp_session_cookie = ""
    return old


def apply_cookie(response):
    token = g.get("idp_session_cookie")
    if token is None:
        return response
    settings = services.settings()
    if token:
        response.set_cookie(cookie_name(), token, httponly=True, samesite="Lax", secure=settings.secure_cookies,
                            path="/", max_age=settings.session_max_seconds)
    else:
        response.delete_cookie(cookie_name(), path="/", httponly=True, samesite="Lax",
                               secure=settings.secure_cookies)
    return response
