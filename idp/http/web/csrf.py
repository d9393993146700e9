"""CSRF protection for every HTML form: a signed double-submit token.

A random value lives in an HttpOnly cookie; each form carries that value signed and
time-stamped with the server secret (itsdangerous, which Flask ships). Hand-written rather
than Flask-WTF so the sign-in page can tell its users *which* problem they have: a stale
signature means the page sat open too long; no cookie means the browser refuses cookies, or
lost them (cleared while the page was open). The token tells those apart: it records whether
the browser already sent one of the provider's cookies when the form was made (the sign-in
page follows ``/authorize``, which sets the browser-binding cookie: a probe). A browser that
sent one then keeps cookies, so a missing one now was cleared; one that sent none refuses them.
"""

from __future__ import annotations

import secrets

from flask import Response, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from idp.core.tokens import equals
from idp.http.context import ClockSigner, deps

COOKIE = "idp_csrf"


#: The provider's own cookies, any of which proves the browser keeps cookies (the RPs on the same
#: host send theirs too, so "any cookie" would prove nothing).
PROBE_COOKIES = ("idp_browser", "__Host-idp_browser", "idp_session", "__Host-idp_session", COOKIE)


class CSRFError(Exception):
    """The form cannot be trusted; ``reason`` is ``cookies_disabled``, ``cookies_cleared`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(deps().settings.server.secret_key, salt="idp.csrf", signer=ClockSigner)


def csrf_token() -> str:
    """The token to embed in a form (also schedules the cookie if the browser has none)."""
    value = request.cookies.get(COOKIE) or g.get("new_csrf_cookie")
    if not value:
        value = g.new_csrf_cookie = secrets.token_urlsafe(32)
    kept = any(request.cookies.get(name) for name in PROBE_COOKIES)
    return _serializer().dumps({"v": value, "kept": kept})


def validate_csrf() -> None:
    cookie, token = request.cookies.get(COOKIE), request.form.get("csrf_token", "")
    fresh = True
    try:
        data = _serializer().loads(token, max_age=deps().settings.sessions.interaction_seconds)
    except SignatureExpired:
        data, fresh = _serializer().loads(token), False  # genuine, only too old
    except BadSignature:
        data, fresh = None, False
    if not cookie:
        # Cleared while the page was open (the browser kept cookies when it was made), or refused.
        raise CSRFError("cookies_cleared" if isinstance(data, dict) and data.get("kept") else "cookies_disabled")
    value = data.get("v") if isinstance(data, dict) else None
    if not fresh or not isinstance(value, str) or not equals(value, cookie):
        raise CSRFError("expired")


def set_csrf_cookie(response: Response) -> Response:
    value = g.get("new_csrf_cookie")
    if value:
        response.set_cookie(
            COOKIE, value, httponly=True, samesite="Lax", secure=deps().settings.server.secure_cookies, path="/"
        )
    return response
