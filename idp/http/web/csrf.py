"""CSRF protection for every HTML form: a signed double-submit token.

A random value lives in an HttpOnly cookie; each form carries that value signed and
time-stamped with the server secret (itsdangerous, which Flask ships). Hand-written rather
than Flask-WTF so the sign-in page can tell its users *which* problem they have: no cookie
at all means the browser refuses cookies; a stale signature means the page sat open too long.
"""

from __future__ import annotations

import secrets

from flask import Response, g, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from idp.core.tokens import equals
from idp.http.context import deps

COOKIE = "idp_csrf"


class CSRFError(Exception):
    """The form cannot be trusted; ``reason`` is ``cookies_disabled`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClockSigner(TimestampSigner):
    """Ages tokens by the clock service, so tests can expire a form without sleeping."""

    def get_timestamp(self) -> int:
        return int(deps().now())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(deps().settings.server.secret_key, salt="idp.csrf", signer=ClockSigner)


def csrf_token() -> str:
    """The token to embed in a form (also schedules the cookie if the browser has none)."""
    value = request.cookies.get(COOKIE) or g.get("new_csrf_cookie")
    if not value:
        value = g.new_csrf_cookie = secrets.token_urlsafe(32)
    return _serializer().dumps(value)


def validate_csrf() -> None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise CSRFError("cookies_disabled")
    try:
        value = _serializer().loads(
            request.form.get("csrf_token", ""), max_age=deps().settings.sessions.interaction_seconds
        )
    except SignatureExpired:
        raise CSRFError("expired") from None
    except BadSignature:
        raise CSRFError("expired") from None
    if not isinstance(value, str) or not equals(value, cookie):
        raise CSRFError("expired")


def set_csrf_cookie(response: Response) -> Response:
    value = g.get("new_csrf_cookie")
    if value:
        response.set_cookie(
            COOKIE, value, httponly=True, samesite="Lax", secure=deps().settings.server.secure_cookies, path="/"
        )
    return response
