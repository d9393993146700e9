"""CSRF tokens for the relying parties' own forms (sign-out): a random value in the server-side
session compared in constant time. The session is server-side, so a synchronizer token suffices."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(expected, request.form.get("csrf_token", "")):
        abort(400, "This form has expired. Go back, reload the page and try again.")
