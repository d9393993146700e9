"""Short accessors for the services attached to the current app (see ``create_app``)."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request


def settings():
    return current_app.extensions["idp.settings"]


def now() -> float:
    return current_app.extensions["idp.clock"].now()


def store():
    return current_app.extensions["idp.store"]


def keystore():
    return current_app.extensions["idp.keystore"]


def database():
    return current_app.extensions["idp.db"]


def hasher():
    return current_app.extensions["idp.passwords"]


def throttle():
    return current_app.extensions["idp.throttle"]


def outbound():
    """The ``OutboundClient`` every fetch of a client's URL goes through (``idp.outbound``)."""
    return current_app.extensions["idp.outbound"]


def request_audit_fields() -> dict:
    """IP, user agent and request id of the current request, for audit events."""
    if not has_request_context():
        return {}
    from .web.http import client_ip

    return {"ip": client_ip(), "user_agent": request.headers.get("User-Agent", "")[:300],
            "request_id": g.get("request_id", "")}
