"""Short accessors for the services attached to the current app (see ``create_app``)."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request


def settings():
    return current_app.extensions["idp.core.settings"]


def now() -> float:
    return current_app.extensions["idp.core.clock"].now()


def store():
    return current_app.extensions["idp.storage.store.memory"]


def keystore():
    return current_app.extensions["idp.domain.keys.keystore"]


def database():
    return current_app.extensions["idp.storage.sql.database"]


def hasher():
    return current_app.extensions["idp.passwords"]


def throttle():
    return current_app.extensions["idp.throttle"]


def outbound():
    """The ``OutboundClient`` every fetch of a client's URL goes through (``idp.core.outbound``)."""
    return current_app.extensions["idp.core.outbound"]


def request_audit_fields() -> dict:
    """IP, user agent and request id of the current request, for audit events."""
    if not has_request_context():
        return {}
    from idp.http.context import client_ip

    return {"ip": client_ip(), "user_agent": request.headers.get("User-Agent", "")[:300],
            "request_id": g.get("request_id", "")}
