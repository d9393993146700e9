"""The known-device cookie on the response (see ``idp.security.devices`` for what it is)."""

from __future__ import annotations

from flask import g, request

from .. import services
from ..security import devices


def read() -> str | None:
    return request.cookies.get(devices.cookie_name())


def remember(user_id: int, device_id: str | None) -> None:
    """After a successful sign-in: (re)issue this browser's device cookie for ``user_id``."""
    g.idp_device_cookie, _ = devices.issue(user_id, device_id)


def apply_cookie(response):
    value = g.get("idp_device_cookie")
    if value:
        settings = services.settings()
        response.set_cookie(devices.cookie_name(), value, httponly=True, samesite="Lax", path="/",
                            secure=settings.secure_cookies, max_age=settings.device_cookie_days * 86400)
    return response
