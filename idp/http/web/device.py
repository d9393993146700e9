"""The known-device cookie on the response (see ``idp.domain.devices`` for what it is)."""

from __future__ import annotations

from flask import Response, g, request

from idp.domain.devices import Devices
from idp.http.context import deps


def devices() -> Devices:
    return Devices.from_settings(deps().settings, deps().clock)


def cookie_name() -> str:
    return "__Host-idp_device" if deps().settings.server.secure_cookies else "idp_device"


def read() -> str | None:
    return request.cookies.get(cookie_name())


def remember(user_id: int, device_id: str | None) -> None:
    """After a successful sign-in: (re)issue this browser's device cookie for ``user_id``."""
    g.idp_device_cookie, _ = devices().issue(user_id, device_id)


def is_new_device(user_id: int) -> bool:
    """True unless this browser already is a known device of ``user_id``."""
    return devices().device_for(read(), user_id) is None


def approve(user_id: int) -> None:
    """After a device-approval link: make this browser a known device of ``user_id``, exactly as a
    sign-in would. A browser that already is one keeps its device id (and so its own counters:
    a link is no way to reset them)."""
    remember(user_id, devices().device_for(read(), user_id))


def approved_user() -> int | None:
    """The account this browser's device cookie names, if the cookie is genuine and unexpired."""
    found = devices().read(read())
    return found[0] if found is not None else None


def apply_cookie(response: Response) -> Response:
    value = g.get("idp_device_cookie")
    if value:
        settings = deps().settings
        response.set_cookie(
            cookie_name(),
            value,
            httponly=True,
            samesite="Lax",
            path="/",
            secure=settings.server.secure_cookies,
            max_age=settings.throttle.device_cookie_days * 86400,
        )
    return response
